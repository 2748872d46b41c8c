"""Hypothesis strategies for estates and requests, for the placement tests and the suite.

Instances are deliberately small and tight (hosts of 0-10 cores, VMs of 1-3) so that capacity,
anti-affinity and rack spread all bite and CP-SAT can decide every one of them in milliseconds.
Generated estates obey the hard rules (no host over capacity, no two members of a group on one
host); they may hold VMs on hosts that are down, and groups that are unevenly spread, because real
estates do.
"""

from __future__ import annotations

from hypothesis import strategies as st

from .check import Violation, check
from .model import Estate, ExistingVM, GroupRequest, Host, Overprovisioning, PlacementResult, Request, Size
from .rules import RACK_SPREAD

GROUP_POOL = ("cass-a", "cass-b", "web")


@st.composite
def estates(
    draw: st.DrawFn, max_hosts: int = 12, max_dcs: int = 2, max_racks: int = 3, max_vms_per_host: int = 2
) -> Estate:
    n_dcs = draw(st.integers(1, max_dcs))
    n_hosts = draw(st.integers(n_dcs, max_hosts))
    cpu_factor = draw(st.sampled_from([1.0, 1.0, 1.5, 2.0]))
    mem_factor = draw(st.sampled_from([1.0, 1.0, 1.25]))
    hosts: list[Host] = []
    vm_no = 0
    for i in range(n_hosts):
        dc = f"dc{i % n_dcs + 1}"
        rack = f"{dc}-r{draw(st.integers(1, max_racks))}"
        cpu = draw(st.integers(0, 10))
        mem_gib = draw(st.integers(0, 10))
        flash = draw(st.sampled_from([0, 200, 400]))
        state = draw(st.sampled_from(["enabled"] * 8 + ["maintenance", "down"]))
        host = Host(
            id=f"h{i:02d}",
            datacenter=dc,
            rack=rack,
            cpu=cpu,
            memory_mib=mem_gib * 1024,
            flash_gib=flash,
            state=state,
        )
        free = list(
            Estate(
                hosts=[host], overprovisioning=Overprovisioning(cpu=cpu_factor, memory=mem_factor)
            ).effective_capacity(host)
        )
        groups_here: set[str] = set()
        for _ in range(draw(st.integers(0, max_vms_per_host))):
            c = draw(st.integers(0, max(0, min(3, free[0]))))
            m = draw(st.integers(0, max(0, min(3, free[1] // 1024)))) * 1024
            f = draw(st.sampled_from([0, 100])) if free[2] >= 100 else 0
            if c > free[0] or m > free[1] or f > free[2]:
                continue
            group = draw(st.sampled_from([None, None, *GROUP_POOL]))
            if group in groups_here:
                group = None
            if group is not None:
                groups_here.add(group)
            vm_no += 1
            host.vms.append(ExistingVM(id=f"old-{vm_no}", cpu=c, memory_mib=m, flash_gib=f, group=group))
            free = [free[0] - c, free[1] - m, free[2] - f]
        hosts.append(host)
    order = draw(st.permutations(range(n_hosts)))
    return Estate(
        hosts=[hosts[i] for i in order], overprovisioning=Overprovisioning(cpu=cpu_factor, memory=mem_factor)
    )


@st.composite
def requests(
    draw: st.DrawFn, estate: Estate, max_groups: int = 3, max_vms: int = 16, max_per_dc: int = 3
) -> Request:
    dcs = estate.datacenters()
    names = draw(
        st.lists(
            st.sampled_from([*GROUP_POOL, "new-1", "new-2"]), min_size=1, max_size=max_groups, unique=True
        )
    )
    budget = max_vms
    groups = []
    for gi, name in enumerate(names):
        per_dc = {}
        for di, dc in enumerate(dcs):
            lowest = 1 if gi == 0 and di == 0 else 0  # never an empty request
            n = draw(st.integers(lowest, max(lowest, min(max_per_dc, budget))))
            budget -= n
            per_dc[dc] = n
        size = Size(
            cpu=draw(st.integers(1, 3)),
            memory_mib=draw(st.integers(0, 3)) * 1024,
            flash_gib=draw(st.sampled_from([0, 0, 100])),
        )
        groups.append(GroupRequest(group=name, size=size, per_dc=per_dc))
    return Request(groups=groups)


@st.composite
def estates_and_requests(draw: st.DrawFn, max_hosts: int = 12, max_vms: int = 16) -> tuple[Estate, Request]:
    estate = draw(estates(max_hosts=max_hosts))
    return estate, draw(requests(estate, max_vms=max_vms))


def violation_key(v: Violation) -> tuple[str, str | None, str | None, tuple[str, ...]]:
    """Identity of a violation across two estates (a spread breach is one per group and DC)."""
    return (v.rule, v.datacenter, v.group, () if v.rule == RACK_SPREAD else tuple(v.hosts))


def introduced_violations(
    before: Estate,
    after: Estate,
    touched: set[tuple[str | None, str]],
    excused: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
) -> list[Violation]:
    """Violations a placement is responsible for, rack openness judged on ``before`` (rules.py).

    Anything in ``after`` that was not already in ``before``, plus any rack-spread breach of a
    (group, DC) pair that received VMs (the engine must leave those balanced even if they were not),
    except the pairs in ``excused``: those the plan itself reports as unavoidably uneven.
    """
    old = {violation_key(v) for v in check(before)}
    return [
        v
        for v in check(after, before=before)
        if (violation_key(v) not in old or (v.rule == RACK_SPREAD and (v.group, v.datacenter or "") in touched))
        and not (v.rule == RACK_SPREAD and (v.group or "", v.datacenter or "") in excused)
    ]


def excused_pairs(result: PlacementResult) -> set[tuple[str, str]]:
    """(group, DC) pairs the plan reports unevenly spread with a proof that nothing does better."""
    return {(n.group, n.datacenter) for n in result.spread if n.proven_minimal}


def touched_pairs(result: PlacementResult) -> set[tuple[str | None, str]]:
    return {(vm.group, vm.datacenter) for vm in result.vms if vm.group is not None}
