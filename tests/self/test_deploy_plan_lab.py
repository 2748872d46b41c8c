"""The allocator on the lab as on a real cloud: `place --target` plans onto the live estate, `deploy-plan`
carries the plan out with hostid and an anti-affinity group, refuses a plan the estate outgrew, and
rolls back a deploy that fails half way.

Each test leaves the lab as it found it (the session's other self-tests share it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from selfcheck import LAB_TARGET, REPO

from cloudgate.ledger import pending, read

REQUEST = REPO / "fixtures" / "placement" / "request-lab-ring.yaml"
GROUP = "cass-orders"


def _cloudgate(lab: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cloudgate.cli", *args], cwd=REPO, env={**os.environ, **lab["env"]},
                          capture_output=True, text=True, timeout=300, check=False)


def _client():  # noqa: ANN202 - the lab's cs client
    from cloudgate_lab import control

    return control.lab_client()


def _vms_of_group() -> dict[str, dict]:
    vms = _client().listVirtualMachines(listall=True, fetch_list=True)
    return {v["name"]: v for v in vms if any(g.get("name") == GROUP for g in v.get("affinitygroup") or [])}


def _remove_group_and_its_vms() -> None:
    client = _client()
    for vm in _vms_of_group().values():
        client.destroyVirtualMachine(id=vm["id"], expunge=True, fetch_result=True)
    for g in client.listAffinityGroups(name=GROUP, fetch_list=True):
        client.deleteAffinityGroup(id=g["id"], fetch_result=True)


def _make_plan(lab: dict, tmp_path: Path, per_dc: str | None) -> Path:
    request = REQUEST
    if per_dc is not None:  # a smaller ring where the test is about the deploy, not the spread (time)
        request = tmp_path / "request.yaml"
        request.write_text(REQUEST.read_text().replace("per_dc: {dc1: 3, dc2: 3}", f"per_dc: {per_dc}"))
    plan = tmp_path / "plan.json"
    made = _cloudgate(lab, "place", "--target", str(LAB_TARGET), "--request", str(request), "--out", str(plan))
    assert made.returncode == 0, made.stdout + made.stderr
    return plan


@pytest.fixture
def planned(lab, tmp_path) -> Iterator[Path]:
    """A plan for a second ring (3 + 3 Cassandra VMs) made on the live lab; the ring is removed afterwards."""
    try:
        yield _make_plan(lab, tmp_path, None)
    finally:
        _remove_group_and_its_vms()


@pytest.fixture
def planned_small(lab, tmp_path) -> Iterator[Path]:
    """The same ring with 3 VMs in dc1 only: one concurrent deploy round."""
    try:
        yield _make_plan(lab, tmp_path, "{dc1: 3}")
    finally:
        _remove_group_and_its_vms()


def test_a_plan_made_on_the_live_estate_says_host_rack_and_why_and_deploys_onto_those_hosts(lab, tmp_path, planned):
    doc = json.loads(planned.read_text())
    assert len(doc["vms"]) == 6 and len({v["host_id"] for v in doc["vms"]}) == 6
    for dc in ("dc1", "dc2"):
        assert len({v["rack"] for v in doc["vms"] if v["datacenter"] == dc}) == 3  # one replica per rack
    assert all("rack spread of cass-orders" in v["why"] and "MHz" in v["why"] for v in doc["vms"])

    reports = tmp_path / "reports"
    done = _cloudgate(lab, "deploy-plan", str(planned), "--target", str(LAB_TARGET), "--reports-dir", str(reports))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dispersion as planned" in done.stdout
    running = _vms_of_group()
    assert {name: vm["hostid"] for name, vm in running.items()} == {v["name"]: v["host_id"] for v in doc["vms"]}
    tags = _client().listTags(resourcetype="UserVm", key="cloudgate-plan", fetch_list=True)
    assert {t["resourceid"] for t in tags} >= {vm["id"] for vm in running.values()}
    ledger = reports / "deploy-plan-lab" / "ledger.jsonl"
    entries = read(ledger)
    assert len(entries) == 7 and pending(entries) == []  # 6 VMs + the group, all kept: the janitor leaves them

    again = _cloudgate(lab, "deploy-plan", str(planned), "--target", str(LAB_TARGET), "--reports-dir", str(reports))
    assert again.returncode == 3 and "already exists" in again.stderr, again.stderr


def test_a_plan_applied_to_an_estate_that_changed_is_refused_in_one_line_naming_the_host(lab, tmp_path, planned_small):
    doc = json.loads(planned_small.read_text())
    victim = doc["vms"][0]
    client = _client()
    # Meanwhile someone deployed a node of that ring by hand onto one of the planned hosts.
    group = client.createAffinityGroup(name=GROUP, type="host anti-affinity", fetch_result=True)["affinitygroup"]
    small = client.listServiceOfferings(name="Small Instance", fetch_list=True)[0]
    zone = client.listZones(name=victim["zone"], fetch_list=True)[0]
    template = [t for t in client.listTemplates(templatefilter="executable", fetch_list=True)
                if t["zoneid"] == zone["id"]][0]
    client.deployVirtualMachine(zoneid=zone["id"], serviceofferingid=small["id"], templateid=template["id"],
                                name="by-hand-1", hostid=victim["host_id"], affinitygroupids=group["id"],
                                fetch_result=True)

    refused = _cloudgate(lab, "deploy-plan", str(planned_small), "--target", str(LAB_TARGET),
                         "--reports-dir", str(tmp_path / "reports"))
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert f"host {victim['host_name']} now runs VM by-hand-1 of group {GROUP}" in refused.stderr
    assert "nothing deployed" in refused.stderr
    assert set(_vms_of_group()) == {"by-hand-1"}


def test_a_deploy_that_fails_half_way_is_rolled_back_leaving_nothing(lab, tmp_path, planned_small):
    from cloudgate_lab import control

    reports = tmp_path / "reports"
    control.cloud_fault("api-error", {"command": "createTags", "code": "530"})
    try:
        failed = _cloudgate(lab, "deploy-plan", str(planned_small), "--target", str(LAB_TARGET), "--reports-dir", str(reports))
    finally:
        control.cloud_fault("api-error", {"command": "createTags"}, clear=True)
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert failed.stderr.count("\n") == 1 and "everything it created was removed" in failed.stderr, failed.stderr
    assert _vms_of_group() == {}
    assert _client().listAffinityGroups(name=GROUP, fetch_list=True) == []
    assert pending(read(reports / "deploy-plan-lab" / "ledger.jsonl")) == []


def test_a_host_whose_flash_cannot_be_read_is_left_out_and_named_and_an_impossible_request_names_why(lab, tmp_path):
    from cloudgate_lab import hostfaults

    hostfaults.apply_fault(None, "dc1-r2-h1", "ssh-hang")
    hostfaults.apply_fault(None, "dc1-r3-h1", "fio-degraded")
    try:
        plan = tmp_path / "plan.json"
        made = _cloudgate(lab, "place", "--target", str(LAB_TARGET), "--request", str(REQUEST), "--out", str(plan))
        assert made.returncode == 0, made.stdout + made.stderr
        doc = json.loads(plan.read_text())
        assert {"dc1-r2-h1", "dc1-r3-h1"}.isdisjoint(v["host_name"] for v in doc["vms"])
        assert any(n.startswith("flash not read, host not used: dc1-r2-h1 198.18.1.21:22") for n in doc["notes"])
        assert any(n.startswith("no flash offered: dc1-r3-h1: no usable card") for n in doc["notes"])

        huge = tmp_path / "huge.yaml"
        huge.write_text(REQUEST.read_text().replace("per_dc: {dc1: 3, dc2: 3}", "per_dc: {dc1: 9, dc2: 3}"))
        refused = _cloudgate(lab, "place", "--target", str(LAB_TARGET), "--request", str(huge))
        assert refused.returncode == 1, refused.stdout + refused.stderr
        first = refused.stdout.splitlines()[0]
        assert first.startswith("NO PLACEMENT: group cass-orders needs 9 distinct hosts"), refused.stdout
        assert "in dc1" in first and "Traceback" not in refused.stdout + refused.stderr
    finally:
        hostfaults.clear_all(None, "dc1-r2-h1")
        hostfaults.clear_all(None, "dc1-r3-h1")


def test_after_kill_9_in_the_middle_of_a_deploy_the_janitor_removes_what_the_plan_created(lab, tmp_path, planned_small):
    import signal
    import time

    reports = tmp_path / "reports"
    ledger = reports / "deploy-plan-lab" / "ledger.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "cloudgate.cli", "deploy-plan", str(planned_small), "--target",
                             str(LAB_TARGET), "--reports-dir", str(reports)], cwd=REPO,
                            env={**os.environ, **lab["env"]}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if ledger.exists() and sum(1 for e in read(ledger) if e.kind == "vm" and e.id) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "deploy-plan ended before it could be killed mid-deploy"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert _vms_of_group(), "nothing was deployed before the kill"
    time.sleep(0.5)  # a deploy call in flight at the kill lands meanwhile
    swept = subprocess.run([sys.executable, "-m", "cloudgate.cli", "janitor", "--target", str(LAB_TARGET),
                            f"--reports-dir={reports}"], cwd=REPO, env={**os.environ, **lab["env"]},
                           capture_output=True, text=True, timeout=180, check=False)
    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert _vms_of_group() == {}, swept.stdout
    assert _client().listAffinityGroups(name=GROUP, fetch_list=True) == []
    assert pending(read(ledger)) == []
