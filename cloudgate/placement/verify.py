"""Safety net: re-check a candidate assignment of one DC against the rules before it is returned.

Every solver path (greedy, retries, CP-SAT) goes through here, so a bug in a heuristic or a model
shows up as "try the next method", never as a plan that puts two replicas on one host.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .problem import DCProblem
from .rules import open_racks_before, spread_breach, spread_gap


def apply_dc(p: DCProblem, assign: dict[str, int]) -> tuple[np.ndarray, dict[str, list[int]]]:
    """Residual capacity and group member positions after the assignment."""
    res = p.res.copy()
    members = {g: list(v) for g, v in p.member_hosts.items()}
    for vm in p.vms:
        pos = assign[vm.name]
        res[pos] -= np.asarray(vm.size(), dtype=np.int64)
        if vm.group is not None:
            members.setdefault(vm.group, []).append(pos)
    return res, members


def rack_counts(p: DCProblem, members: list[int]) -> np.ndarray:
    counts = np.zeros(len(p.racks), dtype=np.int64)
    for pos in members:
        counts[p.rack_of[pos]] += 1
    return counts


def spread_gaps(p: DCProblem, assign: dict[str, int]) -> dict[str, int]:
    """Imbalance (rules.py) of every group receiving new VMs, once ``assign`` is carried out."""
    _, members = apply_dc(p, assign)
    return {
        group: spread_gap(rack_counts(p, members[group]), open_racks_before(p, group))
        for group in p.groups_of_new_vms()
    }


def verify_dc(p: DCProblem, assign: dict[str, int], allowed: dict[str, int] | None = None) -> str | None:
    """None when the assignment obeys every rule for the VMs it places, else what is wrong.

    ``allowed`` raises the permitted imbalance of some groups above 1: the engine passes the
    minimum the exact solver proved, for a request no placement spreads within one member.
    """
    for vm in p.vms:
        pos = assign.get(vm.name)
        if pos is None:
            return f"{vm.name} is not placed"
        if not p.avail[pos]:
            return f"{vm.name} is on unavailable host {p.host_ids[pos]}"
    res, members = apply_dc(p, assign)
    touched_hosts = sorted({assign[vm.name] for vm in p.vms})
    for pos in touched_hosts:
        if (res[pos] < 0).any():
            return f"host {p.host_ids[pos]} over capacity"
    for group in p.groups_of_new_vms():
        seen = Counter(members[group])
        dup = [assign[vm.name] for vm in p.vms if vm.group == group and seen[assign[vm.name]] > 1]
        if dup:
            return f"group {group} twice on host {p.host_ids[dup[0]]}"
        limit = max(1, (allowed or {}).get(group, 1))
        if spread_breach(rack_counts(p, members[group]), open_racks_before(p, group), limit) is not None:
            return f"group {group} breaks rack spread"
    return None
