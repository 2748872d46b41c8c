"""The allocator's own logic, without a cloud: reading flash, requests in offering terms, stale plans.

The lab test (tests/self/test_deploy_plan_lab.py) runs the same path against the lab end to end.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from cloudgate.allocate.flash import usable_gib
from cloudgate.allocate.live import LiveEstate
from cloudgate.allocate.planfile import PlanDoc, PlannedGroup, PlannedVM, read_plan, write_plan
from cloudgate.allocate.request import Offering, load_live_request, to_request
from cloudgate.allocate.stale import why_plan_no_longer_fits
from cloudgate.estate import EstateSnapshot, HostRecord, Source, VmRecord
from cloudgate.placement.errors import PlacementInputError

SAMPLES = Path(__file__).resolve().parents[2] / "lab" / "hosts" / "samples"
CASSANDRA = Offering(id="off-1", name="Cassandra", cpu_mhz=16000, memory_mib=16384)


def _host(name: str, rack: str, **kw) -> HostRecord:
    return HostRecord(id=f"id-{name}", name=name, ip="198.18.1.10", zone="lab-dc1", datacenter="dc1", rack=rack,
                      state=kw.pop("state", "Up"), resourcestate=kw.pop("resourcestate", "Enabled"),
                      cpu_mhz=64000, memory_mib=65536, **kw)


def _live(vms: tuple[VmRecord, ...] = (), **host_kw) -> LiveEstate:
    snap = EstateSnapshot(target="lab", taken_at="now", cloudstack=Source(live=True, taken_at="now"),
                          hosts=(_host("h1", "r1", **host_kw), _host("h2", "r2")), vms=vms)
    estate = snap.placement_estate(flash_gib={"id-h1": 1000, "id-h2": 1000}, offering_flash_gib={"Cassandra": 400})
    return LiveEstate(snap, estate)


def _plan(*hosts: str) -> PlanDoc:
    group = PlannedGroup(group="ring", offering="Cassandra", offering_id="off-1", template="t", flash_gib=400,
                         cpu_mhz=16000, memory_mib=16384)
    vms = [PlannedVM(name=f"ring-dc1-{i}", group="ring", datacenter="dc1", zone="lab-dc1", host_id=f"id-{h}",
                     host_name=h, rack="r1", why="-") for i, h in enumerate(hosts, start=1)]
    return PlanDoc(target="lab", made_at="2026-12-02T06:00:00Z", method="greedy", groups=[group], vms=vms)


def test_usable_flash_is_the_healthy_cards_formatted_capacity_in_gib_minus_the_reserve():
    healthy = (SAMPLES / "fio-status-a-healthy.txt").read_text()
    assert usable_gib(healthy) == (1117, None)  # 1200 GB formatted = 1117 GiB
    assert usable_gib(healthy, reserve_gib=100) == (1017, None)
    gib, problem = usable_gib((SAMPLES / "fio-status-a-degraded.txt").read_text())
    assert gib == 0 and problem and "no usable card" in problem


def test_a_plan_still_fitting_the_estate_is_accepted():
    assert why_plan_no_longer_fits(_plan("h1", "h2"), _live()) is None


def test_a_plan_onto_a_host_gone_into_maintenance_is_refused_naming_the_host():
    problem = why_plan_no_longer_fits(_plan("h1", "h2"), _live(resourcestate="Maintenance"))
    assert problem == "host h1 is now Up/Maintenance, no longer Up and Enabled"


def test_a_plan_onto_a_host_that_filled_up_is_refused_naming_the_host_and_what_is_short():
    big = VmRecord(id="x", name="batch-1", state="Running", host_id="id-h1", cpu_mhz=8000, memory_mib=60000,
                   offering="Large")
    problem = why_plan_no_longer_fits(_plan("h1", "h2"), _live(vms=(big,)))
    assert problem == ("host h1 no longer fits ring-dc1-1: 5536 MiB of memory free now, the plan needs 16 GiB")


def test_a_plan_onto_a_host_now_running_a_member_of_the_group_is_refused():
    sibling = VmRecord(id="x", name="ring-old", state="Running", host_id="id-h2", affinity_groups=("ring",),
                       cpu_mhz=16000, memory_mib=16384, offering="Cassandra")
    problem = why_plan_no_longer_fits(_plan("h1", "h2"), _live(vms=(sibling,)))
    assert problem == "host h2 now runs VM ring-old of group ring: ring-dc1-2 would share the host with it"


def test_flash_of_existing_vms_counts_through_their_offering():
    three = tuple(VmRecord(id=f"c{i}", name=f"c{i}", state="Running", host_id="id-h1", cpu_mhz=1, memory_mib=1,
                           offering="Cassandra") for i in range(2))
    problem = why_plan_no_longer_fits(_plan("h1"), _live(vms=three))
    assert problem == "host h1 no longer fits ring-dc1-1: 200 GiB of flash free now, the plan needs 400 GiB"


def test_a_request_on_the_live_cloud_names_an_offering_and_gets_its_size_from_it(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("groups:\n  - {group: ring, offering: Cassandra, flash_gib: 400, per_dc: {dc1: 2}}\n"
                    "avoid_hosts: [h2]\n")
    live = _live()
    request = to_request(load_live_request(path), {"Cassandra": CASSANDRA}, live.estate,
                         {"h1": "id-h1", "h2": "id-h2"}, str(path))
    size = request.groups[0].size
    assert (size.cpu, size.memory_mib, size.flash_gib) == (16000, 16384, 400)
    assert request.avoid_hosts == ["id-h2"]


@pytest.mark.parametrize(("text", "words"), [
    ("groups:\n  - {group: ring, size: {cpu: 8, memory_mib: 1024}, per_dc: {dc1: 2}}\n",
     "groups[0]: with --target, name the service offering (offering: NAME); the size comes from CloudStack"),
    ("groups:\n  - {group: ring, offering: Huge, per_dc: {dc1: 2}}\n",
     "groups[0].offering: no service offering 'Huge' in CloudStack (it has: Cassandra)"),
    ("groups:\n  - {group: ring, offering: Cassandra, per_dc: {dc1: 2}}\navoid_hosts: [h9]\n",
     "avoid_hosts[0]: no host 'h9' in the estate"),
])
def test_a_bad_live_request_is_one_line_naming_the_field(tmp_path, text, words):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(PlacementInputError) as err:
        to_request(load_live_request(path), {"Cassandra": CASSANDRA}, _live().estate, {"h1": "id-h1"}, str(path))
    assert str(err.value) == f"{path}: {words}"


def test_a_plan_file_round_trips_and_a_damaged_one_is_one_line(tmp_path):
    path = tmp_path / "plan.json"
    write_plan(_plan("h1"), path)
    assert read_plan(path) == _plan("h1")
    doc = json.loads(path.read_text())
    doc["vms"][0].pop("host_id")
    path.write_text(json.dumps(doc))
    with pytest.raises(PlacementInputError, match=r"plan.json: vms\[0\].host_id: required field is missing"):
        read_plan(path)
    doc["version"] = 7
    path.write_text(json.dumps(doc))
    with pytest.raises(PlacementInputError, match="plan version 7; this cloudgate reads version 1"):
        read_plan(path)


def test_deploy_plan_is_refused_on_a_production_target_before_anything_is_read(tmp_path):
    from cloudgate.allocate.commands import run_deploy_plan

    target = tmp_path / "prod.yaml"
    target.write_text("name: prod\nenvironment: production\ncloudstack:\n  endpoint: http://127.0.0.1:9/client/api\n"
                      "  api_key_env: CG_NO_KEY\n  secret_key_env: CG_NO_SECRET\nssh:\n  identity_file: /dev/null\n"
                      "  known_hosts: /dev/null\ndatacenters:\n  - {name: dc1, zone: zone-1}\n")
    plan = tmp_path / "plan.json"
    write_plan(_plan("h1"), plan)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = run_deploy_plan(str(plan), str(target), str(tmp_path / "reports"))
    assert code == 3
    assert err.getvalue() == ("cloudgate deploy-plan: prod: deploy-plan creates VMs; refused on an environment: "
                              "production target (use a preproduction or lab target)\n")
    assert not (tmp_path / "reports").exists()
