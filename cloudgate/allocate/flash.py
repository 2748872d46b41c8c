"""Each hypervisor's usable flash, from `fio-status -a` over SSH: CloudStack does not know the card.

A host that cannot be read is not guessed at: it is left out of the plan (its VMs still count
where they are) and named in the plan's notes. A card that is not healthy and attached offers no
flash; its host may still take VMs that need none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cloudgate.errors import HostUnreachable
from cloudgate.estate import HostRecord
from cloudgate.hypervisor.fusionio import parse_fio_status
from cloudgate.ssh.hosts import HostPool, SshSettings

GIB = 2**30


@dataclass(frozen=True)
class FlashReading:
    """One host's flash as read: usable GiB (None when the host could not be read) and why not."""

    host_id: str
    host_name: str
    usable_gib: int | None
    problem: str | None = None


def usable_gib(fio_status_output: str, reserve_gib: int = 0) -> tuple[int, str | None]:
    """GiB a plan may use on a host (healthy attached cards, minus the reserve), and what is wrong if 0."""
    cards = parse_fio_status(fio_status_output)
    if not cards:
        return 0, "fio-status lists no ioMemory device"
    good = [c for c in cards if c.healthy and c.attached and c.capacity_gb]
    bad = [f"{c.device}: {c.media_status or c.status}" for c in cards if c not in good]
    total = sum(math.floor((c.capacity_gb or 0) * 1e9 / GIB) for c in good)
    usable = max(0, total - reserve_gib)
    return usable, (f"no usable card ({'; '.join(bad)})" if not good else None)


def _read_one(pool: HostPool, host: HostRecord, reserve_gib: int) -> FlashReading:
    try:
        out = pool.get(host.ip, host.name).run("fio-status -a")
    except HostUnreachable as exc:
        return FlashReading(host.id, host.name, None, str(exc))
    if out.rc != 0 and not out.stdout:
        return FlashReading(host.id, host.name, None, f"{host.name}: fio-status failed (rc {out.rc}): "
                                                        f"{out.stderr.strip()[:120]}")
    gib, problem = usable_gib(out.stdout, reserve_gib)
    return FlashReading(host.id, host.name, gib, f"{host.name}: {problem}" if problem else None)


def read_flash(hosts: Sequence[HostRecord], settings: SshSettings, *, workers: int = 16,
               reserve_gib: int = 0) -> dict[str, FlashReading]:
    """Read every enabled host's flash, ``workers`` at a time; by host id."""
    wanted = [h for h in hosts if h.enabled]
    pool = HostPool(settings)
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(wanted) or 1)),
                                thread_name_prefix="cloudgate-flash") as ex:
            readings = list(ex.map(lambda h: _read_one(pool, h, reserve_gib), wanted))
    finally:
        pool.close()
    return {r.host_id: r for r in readings}
