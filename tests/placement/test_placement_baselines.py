"""Why the engine exists: the allocators operators have today fall short in known ways."""

from __future__ import annotations

from cloudgate.placement.baselines import first_fit, first_fit_anti_affinity, random_fit, user_dispersing
from cloudgate.placement.check import check
from cloudgate.placement.engine import place
from cloudgate.placement.exact import solve_exact
from cloudgate.placement.generator import gadgets
from cloudgate.placement.plan import apply_result
from cloudgate.placement.rules import ANTI_AFFINITY, RACK_SPREAD

GADGETS = {g.name: g for g in gadgets()}


def test_firstfit_puts_two_replicas_of_a_ring_on_one_host():
    g = GADGETS["firstfit-doubles-replicas"]
    result = first_fit(g.estate, g.request)
    assert result.feasible  # CloudStack would happily deploy it...
    doubled = [v for v in check(apply_result(g.estate, result)) if v.rule == ANTI_AFFINITY]
    assert doubled and doubled[0].hosts == ["big-1"]  # ...with the whole ring on one host
    assert check(apply_result(g.estate, place(g.estate, g.request))) == []


def test_firstfit_with_host_anti_affinity_fails_where_a_placement_exists():
    for name in ("g1-singleton-steals-a-host", "g2-small-group-first"):
        g = GADGETS[name]
        assert not first_fit_anti_affinity(g.estate, g.request).feasible, name
        assert solve_exact(g.estate, g.request).feasible, name
        assert place(g.estate, g.request).feasible, name


def test_host_anti_affinity_alone_ignores_racks():
    g = GADGETS["rack-blind-anti-affinity"]
    result = first_fit_anti_affinity(g.estate, g.request)
    assert result.feasible
    assert [v.rule for v in check(apply_result(g.estate, result))] == [RACK_SPREAD]


def test_userdispersing_prefers_hosts_without_group_members_but_does_not_enforce_it():
    g = GADGETS["g2-small-group-first"]
    result = user_dispersing(g.estate, g.request)
    assert result.feasible
    assert any(v.rule == ANTI_AFFINITY for v in check(apply_result(g.estate, result)))


def test_random_allocator_is_reproducible_with_a_seed():
    g = GADGETS["rack-blind-anti-affinity"]
    assert random_fit(g.estate, g.request, seed=7) == random_fit(g.estate, g.request, seed=7)


def test_a_baseline_that_cannot_place_reports_which_vm_failed():
    g = GADGETS["g1-singleton-steals-a-host"]
    result = first_fit_anti_affinity(g.estate, g.request)
    assert result.reason.startswith("firstfit+anti-affinity: no suitable host for ring-dc1-3")
    assert result.unplaced() == ["ring-dc1-3"]
