"""What the lab costs this machine in memory, per host: `lab up` reports it beside its timings.

Two figures, because neither alone is the truth. The processes' proportional set size (PSS: shared
pages divided among their users) counts what the hosts' sshd and anchors hold, and nothing of the
kernel. The drop in MemAvailable across the hosts' build counts the kernel's side too (namespaces,
veths, tmpfs mounts, page cache of the node directories) but also whatever else this shared machine
did meanwhile. Both are divided by the host count.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

NETNS_DIR = Path("/run/netns")


def mem_available_kib() -> int:
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def _netns_inodes(names: Iterable[str]) -> set[int]:
    inodes = set()
    for name in names:
        try:
            inodes.add(os.stat(NETNS_DIR / name).st_ino)
        except OSError:
            continue
    return inodes


def _pss_kib(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_in_netns_kib(names: Iterable[str]) -> tuple[int, int]:
    """(total PSS in KiB, process count) of every process living in one of the named namespaces.

    One pass over /proc (a process's network namespace is the inode behind /proc/<pid>/ns/net), so it
    costs the same for 18 hosts as for 1,000.
    """
    wanted = _netns_inodes(names)
    total = count = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            inode = os.stat(f"/proc/{pid}/ns/net").st_ino
        except OSError:
            continue
        if inode in wanted:
            total += _pss_kib(pid)
            count += 1
    return total, count


def per_host_figures(netns_names: list[str], available_before_kib: int) -> dict[str, float]:
    """The two per-host figures (MiB), for `lab up`'s timings.json."""
    hosts = max(1, len(netns_names))
    pss, processes = pss_in_netns_kib(netns_names)
    dropped = max(0, available_before_kib - mem_available_kib())
    return {
        "memory_per_host_mib": round(pss / hosts / 1024, 2),
        "memory_available_drop_per_host_mib": round(dropped / hosts / 1024, 2),
        "processes_per_host": round(processes / hosts, 2),
    }
