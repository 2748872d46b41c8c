"""Properties that must hold for every estate and request, checked on generated instances.

Instances have up to 12 hosts and 16 VMs so CP-SAT decides each one; the adversarial gadgets of
placement.md section 4 are pinned as explicit examples.
"""

from __future__ import annotations

import itertools

from hypothesis import example, given
from hypothesis import strategies as st

from cloudgate.placement.bounds import lower_bound_opened
from cloudgate.placement.engine import evacuate, place
from cloudgate.placement.exact import solve_exact, solve_exact_vms
from cloudgate.placement.expand import expand_request
from cloudgate.placement.generator import gadgets
from cloudgate.placement.model import PlacementResult
from cloudgate.placement.plan import apply_result
from cloudgate.placement.problem import build_problems
from cloudgate.placement.rules import ANTI_AFFINITY, CAPACITY, RACK_SPREAD
from cloudgate.placement.testing import (
    estates,
    estates_and_requests,
    excused_pairs,
    introduced_violations,
    requests,
    touched_pairs,
)

GADGETS = [(g.estate, g.request) for g in gadgets()]


def with_gadgets(test):
    for instance in GADGETS:
        test = example(instance)(test)
    return test


def _introduced(estate, request, rule=None):
    result = place(estate, request)
    if not result.feasible:
        return result, []
    found = introduced_violations(estate, apply_result(estate, result), touched_pairs(result), excused_pairs(result))
    return result, [v for v in found if rule is None or v.rule == rule]


@with_gadgets
@given(estates_and_requests())
def test_no_two_replicas_of_a_group_share_a_physical_host(instance):
    _, found = _introduced(*instance, ANTI_AFFINITY)
    assert found == []


@given(estates_and_requests())
def test_no_host_capacity_is_exceeded(instance):
    _, found = _introduced(*instance, CAPACITY)
    assert found == []


@given(estates_and_requests())
def test_every_placed_group_is_spread_evenly_over_racks(instance):
    _, found = _introduced(*instance, RACK_SPREAD)
    assert found == []


@with_gadgets
@given(estates_and_requests())
def test_a_group_is_left_unevenly_spread_only_when_no_placement_spreads_it_within_one(instance):
    estate, request = instance
    result = place(estate, request)
    if not result.feasible or not result.spread:
        return
    assert all(note.proven_minimal and note.imbalance >= 2 for note in result.spread)
    assert all(note.group in note.message and note.datacenter in note.message for note in result.spread)
    assert solve_exact(estate, request, spread="strict", time_limit_s=30.0).status == "infeasible"


@given(estates_and_requests())
def test_every_vm_is_placed_or_a_clear_reason_is_given(instance):
    estate, request = instance
    result = place(estate, request)
    names = [vm.name for vm in expand_request(estate, request)]
    if result.feasible:
        assert list(result.assignments) == names
        assert result.reason is None
        enabled = {h.id for h in estate.hosts if h.state == "enabled"}
        assert set(result.assignments.values()) <= enabled
    else:
        assert result.assignments == {}
        assert isinstance(result.reason, str) and len(result.reason) > 20 and "\n" not in result.reason


@with_gadgets
@given(estates_and_requests())
def test_engine_says_infeasible_only_when_cp_sat_agrees(instance):
    estate, request = instance
    result = place(estate, request)
    oracle = solve_exact(estate, request, time_limit_s=30.0)
    assert oracle.status != "unknown"
    assert result.feasible == oracle.feasible, result.reason


@given(estates_and_requests(), st.randoms(use_true_random=False))
def test_same_input_gives_the_same_plan_whatever_the_host_order(instance, rnd):
    estate, request = instance
    first = place(estate, request)
    assert place(estate, request) == first
    shuffled = list(estate.hosts)
    rnd.shuffle(shuffled)
    assert place(estate.model_copy(update={"hosts": shuffled}), request) == first


@given(estates(), st.data())
def test_evacuation_keeps_every_invariant(estate, data):
    candidates = sorted(h.id for h in estate.hosts if h.vms)
    if not candidates:
        return
    victim = data.draw(st.sampled_from(candidates))
    result = evacuate(estate, victim)
    if result.feasible:
        after = apply_result(estate, result)
        assert not after.host(victim).vms
        assert introduced_violations(estate, after, touched_pairs(result), excused_pairs(result)) == []
        untouched = {h.id: {vm.id for vm in h.vms} for h in estate.hosts if h.id != victim}
        for hid, vms in untouched.items():
            assert vms <= {vm.id for vm in after.host(hid).vms}
    else:
        emptied = estate.model_copy(
            update={
                "hosts": [h.model_copy(update={"vms": []}) if h.id == victim else h for h in estate.hosts]
            }
        )
        oracle = solve_exact_vms(emptied, result.vms, disabled={victim})
        assert oracle.status == "infeasible", result.reason


@given(estates_and_requests())
def test_lower_bound_never_exceeds_the_cp_sat_optimum(instance):
    estate, request = instance
    optimum = solve_exact(estate, request, minimize_hosts=True, time_limit_s=30.0)
    if optimum.status != "optimal":
        return
    vms = expand_request(estate, request)
    bound = sum(lower_bound_opened(p) for p in build_problems(estate, vms).values() if p.vms)
    assert bound <= optimum.opened_hosts


@with_gadgets
@given(estates_and_requests())
def test_the_engine_never_opens_fewer_hosts_than_the_lower_bound(instance):
    # a valid bound holds for every valid plan, so the engine's checks it without CP-SAT
    estate, request = instance
    result = place(estate, request)
    if not result.feasible:
        return
    vms = expand_request(estate, request)
    after = apply_result(estate, result)
    for dc, p in build_problems(estate, vms).items():
        if not p.vms:
            continue
        opened = sum(1 for h in after.hosts if h.datacenter == dc and h.vms and not estate.host(h.id).vms)
        assert lower_bound_opened(p) <= opened, dc


def _brute_force_feasible(estate, request) -> bool:
    """Try every assignment and let check() judge: an oracle that shares no code with CP-SAT."""
    vms = expand_request(estate, request)
    touched = {(vm.group, vm.datacenter) for vm in vms}
    choices = [
        [h.id for h in estate.hosts if h.datacenter == vm.datacenter and h.state == "enabled"] for vm in vms
    ]
    for combo in itertools.product(*choices):
        plan = PlacementResult(
            feasible=True, assignments=dict(zip([v.name for v in vms], combo, strict=True)), vms=vms
        )
        if not introduced_violations(estate, apply_result(estate, plan), touched):
            return True
    return False


@given(st.data())
def test_cp_sat_and_check_agree_on_what_a_valid_placement_is(data):
    estate = data.draw(estates(max_hosts=5, max_dcs=1))
    request = data.draw(requests(estate, max_groups=2, max_vms=3))
    assert _brute_force_feasible(estate, request) == solve_exact(estate, request, spread="strict").feasible
