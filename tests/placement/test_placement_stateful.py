"""A day in the life of the estate: place, lose hosts, evacuate, delete clusters, bring hosts back.

Whatever the sequence, no host ever runs two VMs of a group, no host is over capacity, and every
group the engine just placed or moved is spread over its racks.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cloudgate.placement.check import check
from cloudgate.placement.engine import evacuate, place
from cloudgate.placement.exact import solve_exact
from cloudgate.placement.model import Estate
from cloudgate.placement.plan import apply_result
from cloudgate.placement.rules import ANTI_AFFINITY, CAPACITY
from cloudgate.placement.testing import estates, excused_pairs, introduced_violations, requests, touched_pairs


def _with_host(estate: Estate, host_id: str, **update) -> Estate:
    hosts = [h.model_copy(update=update) if h.id == host_id else h for h in estate.hosts]
    return estate.model_copy(update={"hosts": hosts})


class EstateLifecycle(RuleBasedStateMachine):
    estate: Estate

    @initialize(estate=estates(max_hosts=10))
    def start(self, estate: Estate) -> None:
        self.estate = estate

    @rule(data=st.data())
    def place_a_request(self, data: st.DataObject) -> None:
        request = data.draw(requests(self.estate, max_vms=8))
        result = place(self.estate, request)
        if not result.feasible:
            assert solve_exact(self.estate, request).status == "infeasible", result.reason
            return
        after = apply_result(self.estate, result)
        assert introduced_violations(self.estate, after, touched_pairs(result), excused_pairs(result)) == []
        self.estate = after

    @precondition(lambda self: any(h.state == "enabled" for h in self.estate.hosts))
    @rule(data=st.data())
    def a_host_fails(self, data: st.DataObject) -> None:
        hid = data.draw(st.sampled_from(sorted(h.id for h in self.estate.hosts if h.state == "enabled")))
        self.estate = _with_host(self.estate, hid, state="down")

    @precondition(lambda self: any(h.state != "enabled" and h.vms for h in self.estate.hosts))
    @rule(data=st.data())
    def evacuate_a_failed_host(self, data: st.DataObject) -> None:
        hid = data.draw(
            st.sampled_from(sorted(h.id for h in self.estate.hosts if h.state != "enabled" and h.vms))
        )
        result = evacuate(self.estate, hid)
        if result.feasible:
            after = apply_result(self.estate, result)
            assert not after.host(hid).vms
            assert introduced_violations(self.estate, after, touched_pairs(result), excused_pairs(result)) == []
            self.estate = after

    @precondition(lambda self: any(vm.group for h in self.estate.hosts for vm in h.vms))
    @rule(data=st.data())
    def a_cluster_is_deleted(self, data: st.DataObject) -> None:
        groups = sorted({vm.group for h in self.estate.hosts for vm in h.vms if vm.group})
        gone = data.draw(st.sampled_from(groups))
        hosts = [
            h.model_copy(update={"vms": [vm for vm in h.vms if vm.group != gone]}) for h in self.estate.hosts
        ]
        self.estate = self.estate.model_copy(update={"hosts": hosts})

    @precondition(lambda self: any(h.state != "enabled" and not h.vms for h in self.estate.hosts))
    @rule(data=st.data())
    def a_repaired_host_comes_back(self, data: st.DataObject) -> None:
        hid = data.draw(
            st.sampled_from(sorted(h.id for h in self.estate.hosts if h.state != "enabled" and not h.vms))
        )
        self.estate = _with_host(self.estate, hid, state="enabled")

    @invariant()
    def replicas_never_share_a_host_and_no_host_is_overfull(self) -> None:
        bad = [v for v in check(self.estate) if v.rule in (ANTI_AFFINITY, CAPACITY)]
        assert bad == []


TestEstateLifecycle = EstateLifecycle.TestCase
