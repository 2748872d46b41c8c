"""Why a placement is impossible, said the way an operator can act on it.

Two layers. Cheap necessary conditions come first (a group needs k distinct hosts with room and
fewer exist; a DC lacks total free capacity): they answer most real cases instantly, even on
3,000 hosts. When those pass and CP-SAT still proves infeasibility, the rules are relaxed one at a
time (anti-affinity, then capacity) to find the one that binds, and the group that makes it bind.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .exact import solve_dc
from .model import VMSpec
from .problem import DCProblem
from .units import RESOURCE_LABELS, fmt_amount, fmt_size


def _groups(p: DCProblem) -> dict[str, list[VMSpec]]:
    out: dict[str, list[VMSpec]] = defaultdict(list)
    for vm in p.vms:
        if vm.group is not None:
            out[vm.group].append(vm)
    return out


def distinct_hosts_reason(p: DCProblem, group: str, members: list[VMSpec]) -> str | None:
    """'group g needs k distinct hosts with >= X free memory in dc; m exist' when that is the case."""
    k = len(members)
    size = tuple(min(v.size()[i] for v in members) for i in range(3))
    base = p.avail.copy()
    taken = sorted(set(p.member_hosts.get(group, [])))
    if taken:
        base[taken] = False
    fits = [base & (p.res[:, d] >= size[d]) for d in range(3)]
    eligible = int((fits[0] & fits[1] & fits[2]).sum())
    if eligible >= k:
        return None
    busy = int(p.avail[taken].sum()) if taken else 0
    note = f" (not counting {busy} enabled host(s) already running a member of {group})" if busy else ""
    counts = [(int(fits[d].sum()), d) for d in range(3) if size[d] > 0]
    if counts:
        worst, d = min(counts)
        if worst < k:
            need = (
                f"{size[0]} free {p.cpu_unit}" if d == 0 else f"{fmt_amount(d, size[d])} free {RESOURCE_LABELS[d]}"
            )
            return f"group {group} needs {k} distinct hosts with >= {need} in {p.datacenter}; {worst} exist{note}"
    return (
        f"group {group} needs {k} distinct hosts with room for {fmt_size(size, p.cpu_unit)} in {p.datacenter}; "
        f"{eligible} exist{note}"
    )


def quick_reason(p: DCProblem) -> str | None:
    """First necessary condition that fails, or None. Never claims infeasibility wrongly."""
    for vm in p.vms:
        if vm.group is None:
            ok = p.avail & np.all(p.res >= np.asarray(vm.size(), dtype=np.int64), axis=1)
            if not ok.any():
                return f"VM {vm.name} ({fmt_size(vm.size(), p.cpu_unit)}) fits on no enabled host in {p.datacenter}"
    groups = _groups(p)
    for group in sorted(groups, key=lambda g: (-len(groups[g]), g)):
        reason = distinct_hosts_reason(p, group, groups[group])
        if reason:
            return reason
    if p.vms:
        demand = np.asarray([vm.size() for vm in p.vms], dtype=np.int64).sum(axis=0)
        free = np.maximum(p.res[p.avail], 0).sum(axis=0) if p.avail.any() else np.zeros(3, dtype=np.int64)
        for d in range(3):
            if demand[d] > free[d]:
                return (
                    f"{p.datacenter} needs {fmt_amount(d, int(demand[d]), p.cpu_unit)} of free {RESOURCE_LABELS[d]} for "
                    f"this request; only {fmt_amount(d, int(free[d]), p.cpu_unit)} are free on its enabled hosts"
                )
    return None


def diagnose(p: DCProblem, time_limit_s: float = 5.0) -> str:
    """Name the binding rule once CP-SAT has proven that no placement exists.

    Rack spread never binds: when it cannot be met the engine minimises the imbalance instead of
    refusing (rules.py), so only anti-affinity and capacity are relaxed here.
    """
    groups = _groups(p)
    names = sorted(groups)
    no_spread = solve_dc(p, spread_groups=set(), time_limit_s=time_limit_s)
    if no_spread.status == "infeasible":
        free_all = solve_dc(p, spread_groups=set(), aa_groups=set(), time_limit_s=time_limit_s)
        if free_all.status == "feasible":
            for g in sorted(names, key=lambda g: (-len(groups[g]), g)):
                r = solve_dc(p, spread_groups=set(), aa_groups={g}, time_limit_s=time_limit_s)
                if r.status == "infeasible":
                    size = fmt_size(groups[g][0].size(), p.cpu_unit)
                    return (
                        f"anti-affinity is binding for group {g} in {p.datacenter}: its {len(groups[g])} "
                        f"new VM(s) ({size}) need distinct hosts, and once the rest of the request is placed "
                        f"too few hosts keep that much room; the request only fits if members share hosts"
                    )
            return (
                f"anti-affinity is binding in {p.datacenter}: groups {', '.join(names)} together need more "
                f"distinct hosts with room than exist"
            )
        if free_all.status == "infeasible":
            demand = np.asarray([vm.size() for vm in p.vms], dtype=np.int64).sum(axis=0)
            return (
                f"capacity is binding in {p.datacenter}: its {len(p.vms)} new VM(s) ({fmt_size(demand, p.cpu_unit)} in "
                f"total) do not fit into the holes of its enabled hosts even with anti-affinity and rack "
                f"spread ignored (the free space is too fragmented)"
            )
    return f"no placement exists in {p.datacenter} (CP-SAT proof); the binding rule could not be isolated in time"
