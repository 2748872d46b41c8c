"""The estate snapshot: one read per run, and the last good one when the CloudStack API is down.

No lab here: the endpoint is loopback port 9, which refuses, as a stopped management server does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from selfcheck import write_target

from cloudgate import snapshot
from cloudgate.estate import CassandraNode, EstateSnapshot, HostRecord, Source, TokenRange, VmRecord, Zone
from cloudgate.report.rundir import iso
from cloudgate.target import load_target

pytestmark = pytest.mark.usefixtures("secrets_set")


def _host(name: str, rack: str = "r1", state: str = "Up", resourcestate: str = "Enabled") -> HostRecord:
    return HostRecord(id=f"id-{name}", name=name, ip="198.18.1.10", zone="zone-1", datacenter="dc1", rack=rack,
                      state=state, resourcestate=resourcestate, cpu_mhz=64000, memory_mib=131072)


def _good(hours_old: float) -> EstateSnapshot:
    taken = iso(datetime.now(UTC) - timedelta(hours=hours_old))
    return EstateSnapshot(
        target="selftest", taken_at=taken, cloudstack=Source(live=True, taken_at=taken),
        hosts=(_host("h1"), _host("h2", rack="r2")),
        vms=(VmRecord(id="v1", name="cass-1", state="Running", host_id="id-h1", ips=("198.18.1.201",),
                      affinity_groups=("ring",), cpu_mhz=8000, memory_mib=16384),),
    )


def test_with_the_api_down_the_hosts_come_from_the_last_good_snapshot_which_says_how_old(tmp_path):
    loaded = load_target(write_target(tmp_path / "t.yaml"))
    last_good = snapshot.last_good_path(tmp_path / "reports", "selftest")
    snapshot.save_snapshot(_good(hours_old=3), last_good)
    taken = snapshot.take_snapshot(loaded, last_good)
    assert [h.name for h in taken.hosts] == ["h1", "h2"]
    assert not taken.cloudstack.live
    assert "CloudStack API unreachable at http://127.0.0.1:9" in (taken.cloudstack.problem or "")
    line = taken.provenance_lines()[0]
    assert str(last_good) in line and "(3 h 00 min old)" in line and "unreachable" in line
    assert json.loads(last_good.read_text())["cloudstack"]["live"] is True, "a fallback must not replace the last good one"


def test_with_the_api_down_and_no_earlier_snapshot_the_problem_says_both(tmp_path):
    loaded = load_target(write_target(tmp_path / "t.yaml"))
    taken = snapshot.take_snapshot(loaded, snapshot.last_good_path(tmp_path / "reports", "selftest"))
    assert taken.hosts == ()
    assert "unreachable" in taken.cloudstack.problem and "no earlier snapshot of selftest" in taken.cloudstack.problem


def test_a_corrupt_last_good_snapshot_counts_as_none_is_moved_aside_and_is_named_unreadable(tmp_path):
    path = snapshot.last_good_path(tmp_path / "reports", "selftest")
    path.parent.mkdir(parents=True)
    path.write_text('{"target": "selftest", "hosts": [')
    assert snapshot.load_last_good(path) is None
    assert not path.exists() and [p.name for p in path.parent.glob("selftest.json.corrupt-*")]
    path.write_text('{"target": "selftest", "hosts": [')
    loaded = load_target(write_target(tmp_path / "t.yaml"))
    taken = snapshot.take_snapshot(loaded, path)  # the API (loopback port 9) does not answer either
    assert f"the last good snapshot {path} is unreadable" in taken.cloudstack.problem
    assert "no earlier snapshot" not in taken.cloudstack.problem


def test_only_a_snapshot_read_wholly_live_becomes_the_last_good_one(tmp_path, monkeypatch):
    loaded = load_target(write_target(tmp_path / "t.yaml"))
    good = _good(hours_old=0)
    zones = (Zone(id="z1", name="zone-1", datacenter="dc1", allocationstate="Enabled"),)
    monkeypatch.setattr(snapshot, "read_cloudstack",
                        lambda client, target: {"zones": zones, "hosts": good.hosts, "vms": good.vms})
    last_good = snapshot.last_good_path(tmp_path / "reports", "selftest")
    taken = snapshot.take_snapshot(loaded, last_good)
    assert taken.cloudstack.live and taken.complete_and_live
    assert EstateSnapshot.model_validate_json(last_good.read_text()).hosts == good.hosts

    # the API answers but lists no host (agents reconnecting, a restored database): keep the good one
    monkeypatch.setattr(snapshot, "read_cloudstack", lambda client, target: {"zones": zones, "hosts": (), "vms": ()})
    empty = snapshot.take_snapshot(loaded, last_good)
    assert empty.cloudstack.live and not empty.complete_and_live
    assert EstateSnapshot.model_validate_json(last_good.read_text()).hosts == good.hosts


def test_the_placement_engine_sees_running_vms_on_their_hosts_and_hosts_in_maintenance():
    estate = _good(hours_old=0).model_copy(update={"hosts": (_host("h1"), _host("h2", resourcestate="Maintenance"))})
    placement = estate.placement_estate()
    by_id = {h.id: h for h in placement.hosts}
    assert [vm.group for vm in by_id["id-h1"].vms] == ["ring"]
    assert by_id["id-h2"].state == "maintenance"


def test_rack_rules_read_pod_tag_or_name():
    from cloudgate.target import RackRule

    record = {"podname": "dc1-r2", "hosttags": "fio, rack:B7", "name": "xen-b7-04"}
    assert snapshot.rack_of(record, RackRule(source="pod")) == "dc1-r2"
    assert snapshot.rack_of(record, RackRule(source="host_tag", tag_prefix="rack:")) == "B7"
    assert snapshot.rack_of(record, RackRule(source="name_pattern", pattern=r"xen-(?P<rack>[a-z]\d+)-")) == "b7"


def test_cloudgate_place_plans_onto_a_runs_estate_json_one_vm_per_host(tmp_path):
    import subprocess
    import sys

    hosts = tuple(_host(f"h{i}", rack=f"r{i % 3}") for i in range(4))
    path = tmp_path / "estate.json"
    path.write_text(_good(hours_old=0).model_copy(update={"hosts": hosts}).model_dump_json())
    request = tmp_path / "request.yaml"
    request.write_text("groups:\n  - group: ring2\n    size: {cpu: 8000, memory_mib: 16384}\n    per_dc: {dc1: 3}\n")
    out = subprocess.run([sys.executable, "-m", "cloudgate.cli", "place", "--estate", str(path), "--request", str(request),
                          "--format", "json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert plan["feasible"] and plan["summary"] == {"vms": 3, "placed": 3, "hosts": 3}, plan
    assert {d["hostid"] for d in plan["deploy"]} <= {h.id for h in hosts}


def test_dispersion_cannot_pass_when_a_replica_holders_host_is_unknown():
    from cloudgate.cassandra.ring import RingView, shared_hosts, unplaced_problem

    nodes = {"198.18.1.201": CassandraNode(address="198.18.1.201", datacenter="dc1", rack="r1", vm="cass-1", host="h1"),
             "198.18.1.202": CassandraNode(address="198.18.1.202", datacenter="dc1", rack="r2")}  # its VM is unknown
    ring = RingView({"dc1": 2}, (TokenRange(start=0, end=10, replicas=tuple(nodes)),), nodes, {"dc1": 2})
    assert shared_hosts(ring.ranges[0], ring.placements) == {}, "on its own, an unknown host shares nothing"
    problem = unplaced_problem(ring, "selftest")
    assert problem and "198.18.1.202" in problem and "cannot be verified" in problem
