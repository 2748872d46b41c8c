"""check(estate): every breach of the placement rules in an estate, each with an actionable message.

This is the judge for everything else: the engine verifies its own output against the same rule
functions, the tests assert on it, the benchmark counts baseline violations with it, and the suite's
dispersion checks run it on the estate read from CloudStack.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
from pydantic import BaseModel, Field

from .model import Estate
from .problem import DCProblem, build_problems
from .rules import ANTI_AFFINITY, CAPACITY, HOST_STATE, RACK_SPREAD, open_hosts, spread_breach
from .units import RESOURCE_LABELS, fmt_amount, fmt_size


class Violation(BaseModel):
    """One breach of one rule. ``rule`` is a stable id (see rules.py) suitable for waivers/reports."""

    rule: str
    message: str
    datacenter: str | None = None
    group: str | None = None
    hosts: list[str] = Field(default_factory=list)
    vms: list[str] = Field(default_factory=list)


def check(estate: Estate, before: Estate | None = None) -> list[Violation]:
    """All violations of the hard rules and the rack-spread rule, in a stable order.

    ``before`` is the estate a placement started from: rack openness is judged on it (rules.py).
    Without it the estate is judged as it stands, which is what a check of a live cloud does.
    Order: per datacenter (sorted), host-level violations by host id (capacity, host state,
    anti-affinity), then rack-spread violations by group name.
    """
    out: list[Violation] = []
    by_id = {h.id: h for h in estate.hosts}
    earlier = build_problems(before, []) if before is not None else None
    for dc, p in build_problems(estate, []).items():
        for pos, hid in enumerate(p.host_ids):
            host = by_id[hid]
            where = f"host {hid} ({dc}/{host.rack})"
            over = [d for d in range(3) if p.res[pos, d] < 0]
            for d in over:
                used = int(p.cap[pos, d] - p.res[pos, d])
                out.append(
                    Violation(
                        rule=CAPACITY,
                        datacenter=dc,
                        hosts=[hid],
                        vms=[vm.id for vm in host.vms],
                        message=(
                            f"{where} is over its {RESOURCE_LABELS[d]} capacity: VMs use "
                            f"{fmt_amount(d, used, p.cpu_unit)} of {fmt_amount(d, int(p.cap[pos, d]), p.cpu_unit)} "
                            f"(after overprovisioning); migrate a VM off it"
                        ),
                    )
                )
            if host.state != "enabled" and host.vms:
                names = [vm.id for vm in host.vms]
                out.append(
                    Violation(
                        rule=HOST_STATE,
                        datacenter=dc,
                        hosts=[hid],
                        vms=names,
                        message=(
                            f"{where} is {host.state} but still holds {len(names)} VM(s) "
                            f"({', '.join(names)}); evacuate it"
                        ),
                    )
                )
            groups = Counter(vm.group for vm in host.vms if vm.group is not None)
            for group in sorted(g for g, n in groups.items() if n > 1):
                names = [vm.id for vm in host.vms if vm.group == group]
                out.append(
                    Violation(
                        rule=ANTI_AFFINITY,
                        datacenter=dc,
                        group=group,
                        hosts=[hid],
                        vms=names,
                        message=(
                            f"{where} runs {len(names)} VMs of group {group} ({', '.join(names)}); "
                            f"losing this host loses {len(names)} replicas - move all but one elsewhere"
                        ),
                    )
                )

        paired = _paired(earlier.get(dc) if earlier is not None else None, p)
        vms_of: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for pos, hid in enumerate(p.host_ids):
            for vm in by_id[hid].vms:
                if vm.group is not None:
                    vms_of[vm.group].append((vm.id, pos))
        for group in sorted(p.member_hosts):
            members = p.member_hosts[group]
            probe = p.probe(group)
            counts = p.existing_rack_counts(group)
            mask = _open_hosts_before(p, paired, group, members, probe)
            open_ = np.zeros(len(p.racks), dtype=bool)
            open_[p.rack_of[mask]] = True
            breach = spread_breach(counts, open_)
            if breach is None:
                continue
            heavy, light = breach
            room = [p.host_ids[i] for i in np.flatnonzero(mask & (p.rack_of == light))]
            movable = [name for name, pos in vms_of[group] if p.rack_of[pos] == heavy]
            per_rack = ", ".join(f"{r}={int(c)}" for r, c in zip(p.racks, counts, strict=True))
            out.append(
                Violation(
                    rule=RACK_SPREAD,
                    datacenter=dc,
                    group=group,
                    hosts=room[:3],
                    vms=movable,
                    message=(
                        f"group {group} is unevenly spread over the racks of {dc} ({per_rack}): rack "
                        f"{p.racks[heavy]} holds {int(counts[heavy])} members while rack {p.racks[light]} "
                        f"holds {int(counts[light])} and {'still has' if earlier is None else 'had'} room for "
                        f"one ({fmt_size(probe, p.cpu_unit)}) on host {room[0]}; move one of "
                        f"{', '.join(movable)} there"
                    ),
                )
            )
    return out


def _open_hosts_before(
    p: DCProblem, before: tuple[DCProblem, np.ndarray] | None, group: str, members: list[int],
    probe: tuple[int, int, int],
) -> np.ndarray:
    """Hosts of ``p`` (by position) that could take a member of ``group`` in the estate before.

    Without a before estate, ``p`` is its own before. ``before`` carries the before DC and, for each
    host of ``p``, its position there (-1 if absent: a before estate may list hosts in another order
    or lack some).
    """
    if before is None:
        return open_hosts(p, p.res, members, probe)
    earlier, where = before
    known = where >= 0
    mask = np.zeros(p.n_hosts, dtype=bool)
    mask[known] = open_hosts(earlier, earlier.res, earlier.member_hosts.get(group, []), probe)[where[known]]
    return mask


def _paired(earlier: DCProblem | None, p: DCProblem) -> tuple[DCProblem, np.ndarray] | None:
    """The before DC with each host of ``p``'s position in it, or None without a before estate."""
    if earlier is None:
        return None
    index = {hid: i for i, hid in enumerate(earlier.host_ids)}
    return earlier, np.asarray([index.get(hid, -1) for hid in p.host_ids], dtype=np.int64)
