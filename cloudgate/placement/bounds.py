"""Lower bounds on how many empty hosts a placement must open (placement.md section 2).

They score every solver in the benchmark (hosts in use vs. a bound nobody can beat) and give the
exact solver a floor so it can stop as soon as it reaches it.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from .model import Estate, VMSpec
from .problem import DCProblem, build_problems


def volume_bound(p: DCProblem) -> int:
    """L1: demand beyond the free space of hosts already in use, over the biggest empty host."""
    if not p.vms:
        return 0
    demand = np.asarray([vm.size() for vm in p.vms], dtype=np.int64).sum(axis=0)
    in_use = p.avail & p.used
    empty = p.avail & ~p.used
    free = np.maximum(p.res[in_use], 0).sum(axis=0) if in_use.any() else np.zeros(3, dtype=np.int64)
    best = 0
    for d in range(3):
        need = int(demand[d] - free[d])
        if need <= 0 or not empty.any():
            continue
        biggest = int(p.cap[empty, d].max())
        if biggest > 0:
            best = max(best, math.ceil(need / biggest))
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
