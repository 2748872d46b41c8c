"""The CP-SAT reference solver: decides, proves, and minimises hosts in use on small estates."""

from __future__ import annotations

from cloudgate.placement.exact import solve_exact
from cloudgate.placement.generator import gadgets
from cloudgate.placement.model import Estate, ExistingVM, GroupRequest, Host, Request, Size

GADGETS = {g.name: g for g in gadgets()}


def _host(hid: str, cpu: int, vms=()) -> Host:
    return Host(id=hid, datacenter="dc1", rack="r1", cpu=cpu, memory_mib=65536, vms=list(vms))


def test_cp_sat_fills_a_hole_instead_of_opening_empty_hosts():
    estate = Estate(
        hosts=[
            _host("empty-1", 16),
            _host("busy", 16, [ExistingVM(id="x", cpu=8, memory_mib=1024)]),
            _host("empty-2", 16),
        ]
    )
    request = Request(
        groups=[
            GroupRequest(group=f"s{i}", size=Size(cpu=4, memory_mib=1024), per_dc={"dc1": 1})
            for i in range(2)
        ]
    )
    result = solve_exact(estate, request, minimize_hosts=True)
    assert result.status == "optimal"
    assert result.opened_hosts == 0 and result.hosts_in_use == 1
    assert set(result.assignments.values()) == {"busy"}


def test_cp_sat_proves_a_group_cannot_fit_although_capacity_is_plentiful():
    g = GADGETS["infeasible-despite-capacity"]
    assert solve_exact(g.estate, g.request).status == "infeasible"


def test_cp_sat_solves_the_packing_trap_that_defeats_first_and_best_fit():
    g = GADGETS["g3-ffd-bfd-pack-badly"]
    result = solve_exact(g.estate, g.request, minimize_hosts=True)
    assert result.feasible
    loads = {"a": 0, "b": 0}
    sizes = {vm.group: vm.size.cpu for vm in g.request.groups}
    for name, hid in result.assignments.items():
        loads[hid] += sizes[name.split("-dc1-")[0]]
    assert loads == {"a": 7, "b": 7}


def test_cp_sat_is_reproducible_in_deterministic_mode():
    g = GADGETS["g4-groups-and-holes"]
    first = solve_exact(g.estate, g.request, minimize_hosts=True)
    again = solve_exact(g.estate, g.request, minimize_hosts=True)
    assert first.assignments == again.assignments
