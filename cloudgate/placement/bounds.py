"""Lower bounds on how many empty hosts a placement must open (placement.md section 2).

They score every solver in the benchmark (hosts in use vs. a bound nobody can beat), give the
exact solver a floor so it can stop as soon as it reaches it, and let the engine skip CP-SAT when
its plan already meets them. The volume bound is L1 adapted to this problem: busy hosts are
pre-filled bins whose holes only count as far as the request's VMs can use them (usable_room, then
a max-flow over VM sizes, absorbable), and the empty hosts are heterogeneous, so the remainder
needs the fewest hosts when the largest open (_hosts_needed). On the tight benchmark estates that
took the bound at 1,000 hosts from 6 to 9 empty hosts, which the engine's plan meets (proven
optimal). Martello-Toth's L2 adds nothing there (no VM is over half the smallest host) and is not
implemented.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .model import Estate, VMSpec
from .problem import DCProblem, build_problems


def usable_room(p: DCProblem, room: np.ndarray) -> np.ndarray:
    """Per host and resource, how much of ``room`` (free space per host) the new VMs could use.

    A host can take at most one member of each group, and only VMs that fit it alone (and whose
    group has no member there yet), so its usable room is capped by the sum, over groups, of the
    largest member that fits, plus every ungrouped VM that fits. Holes too small for any new VM
    count for nothing: that is what makes the volume bound bite on estates full of small holes.
    """
    n = len(room)
    room = np.maximum(room, 0)
    total = np.zeros((n, 3), dtype=np.int64)
    by_group: dict[str | None, list[VMSpec]] = defaultdict(list)
    for vm in p.vms:
        by_group[vm.group].append(vm)
    for group, members in by_group.items():
        sizes = np.asarray(sorted({vm.size() for vm in members}), dtype=np.int64)
        taken = np.zeros(n, dtype=bool)
        if group is not None and p.member_hosts.get(group):
            taken[p.member_hosts[group]] = True
        if group is None:
            per = np.asarray([vm.size() for vm in members], dtype=np.int64)
            for size in per:
                total += np.where(_fits(room, size)[:, None], size[None, :], 0)
            continue
        best = np.zeros((n, 3), dtype=np.int64)
        for size in sizes:
            ok = _fits(room, size) & ~taken
            best = np.maximum(best, np.where(ok[:, None], size[None, :], 0))
        total += best
    return np.minimum(room, total)


def _fits(room: np.ndarray, size: np.ndarray) -> np.ndarray:
    return (room[:, 0] >= size[0]) & (room[:, 1] >= size[1]) & (room[:, 2] >= size[2])


def _hosts_needed(capacities: np.ndarray, need: int) -> int:
    """Fewest hosts whose capacities (one resource) can add up to ``need``: the largest first.

    With a heterogeneous pool of empty hosts this is what dividing by the biggest host becomes.
    Returns len(capacities) + 1 when even all of them fall short (the volume bound then says
    "more than every empty host", which the engine's necessary conditions report as infeasible).
    """
    if need <= 0:
        return 0
    ordered = np.sort(capacities)[::-1]
    reach = np.cumsum(ordered)
    k = int(np.searchsorted(reach, need, side="left"))
    return k + 1 if k < len(ordered) else len(ordered) + 1


def absorbable(sizes: np.ndarray, rooms: np.ndarray) -> int:
    """Most of one resource the VMs (``sizes``) could put into hosts with these ``rooms``.

    A max flow from VMs to the hosts each fits (split VMs allowed, which only raises it). Fitting
    is nested in one resource (a VM fits every host with at least its size of room), so the
    minimum cut has a closed form: for a threshold t, cut the VMs smaller than t from the source
    and the hosts with at least t of room from the sink. The bound is the least such cut; it is
    what stops holes that only small VMs fit from counting in full when few small VMs exist.
    """
    if not len(sizes):
        return 0
    s = np.sort(sizes)
    r = np.sort(rooms)
    small = np.concatenate(([0], np.cumsum(s)))  # small[i]: total of the i smallest VMs
    big_rooms = np.concatenate((np.cumsum(r[::-1])[::-1], [0]))  # big_rooms[j]: rooms r[j:]
    best = int(s.sum())  # threshold above every VM: nothing is cut from the source side
    for t in np.unique(s):
        below = int(small[np.searchsorted(s, t, side="left")])
        rooms_at_least = int(big_rooms[np.searchsorted(r, t, side="left")])
        best = min(best, below + rooms_at_least)
    return best


def volume_bound(p: DCProblem) -> int:
    """L1 for variable-size, pre-filled bins (placement.md section 2), per resource, the max.

    The empty hosts must take whatever the hosts already in use cannot: at least the demand minus
    what busy hosts can absorb (their usable_room, through absorbable), and at least the demand of
    the VMs that fit no busy host at all. That volume needs the fewest empty hosts when the largest
    are opened (_hosts_needed).
    """
    if not p.vms:
        return 0
    in_use = p.avail & p.used
    empty = p.avail & ~p.used
    if not empty.any():
        return 0
    sizes = np.asarray([vm.size() for vm in p.vms], dtype=np.int64)
    busy_room = usable_room(p, np.where(in_use[:, None], p.res, 0))
    empty_room = usable_room(p, np.where(empty[:, None], p.cap, 0))[empty]
    homeless = np.zeros(len(p.vms), dtype=bool)  # fit no busy host alone (anti-affinity counted)
    seen: dict[tuple[str | None, tuple[int, int, int]], bool] = {}
    for i, vm in enumerate(p.vms):
        key = (vm.group, vm.size())
        if key not in seen:
            ok = in_use & _fits(p.res, sizes[i])
            if vm.group is not None and p.member_hosts.get(vm.group):
                ok[p.member_hosts[vm.group]] = False
            seen[key] = not ok.any()
        homeless[i] = seen[key]
    best = 0
    for d in range(3):
        demand = int(sizes[:, d].sum())
        forced = int(sizes[homeless, d].sum())
        absorbed = absorbable(sizes[:, d], busy_room[:, d])
        need = max(demand - absorbed, forced)
        best = max(best, _hosts_needed(empty_room[:, d], need))
    return best


def clique_bound(p: DCProblem) -> int:
    """Per group: members that cannot each find a distinct in-use host must open empty ones."""
    groups: dict[str, list[VMSpec]] = defaultdict(list)
    for vm in p.vms:
        if vm.group is not None:
            groups[vm.group].append(vm)
    best = 0
    for group, members in groups.items():
        smallest = np.asarray([min(v.size()[i] for v in members) for i in range(3)], dtype=np.int64)
        ok = p.avail & p.used & np.all(p.res >= smallest, axis=1)
        taken = p.member_hosts.get(group, [])
        if taken:
            ok[taken] = False
        best = max(best, len(members) - int(ok.sum()))
    return best


def lower_bound_opened(p: DCProblem) -> int:
    """Empty hosts that any valid placement of ``p.vms`` must open."""
    return max(volume_bound(p), clique_bound(p), 0)


def hosts_in_use(estate: Estate) -> int:
    return sum(1 for h in estate.hosts if h.vms)


def lower_bound_hosts_in_use(
    estate: Estate,
    vms: list[VMSpec],
    avoid: frozenset[str] | set[str] = frozenset(),
    disabled: frozenset[str] | set[str] = frozenset(),
) -> int:
    """Hosts in use now plus the empty hosts any placement must open, summed over DCs."""
    problems = build_problems(estate, vms, avoid, disabled)
    return hosts_in_use(estate) + sum(lower_bound_opened(p) for p in problems.values() if p.vms)
