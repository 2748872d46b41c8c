"""A CloudStack upgrade of the lab, clean or with the regressions real upgrades have shipped.

The upgrade gate (after Grenade) checks that what existed before an upgrade still exists and works
after it; these tests prove the lab can give it both answers. Each upgrade is what `cloudgate lab
upgrade` does, on an in-process simulator (`Lab.upgrade`: stop, `apply_upgrade` on the state dir,
start on the same state and port); the guest driver carries over, so guests keep running throughout.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from cs import CloudStack, CloudStackApiException
from cs_lab_helpers import Ids, Lab, deploy, vm

from cloudgate.cli import build_parser
from cloudgate_lab import commands
from cloudgate_lab.cloudstack.inventory import CLOUDSTACK_VERSION
from cloudgate_lab.cloudstack.upgrade import (
    REGRESSIONS,
    SLOW_DEPLOY_MAX_EXTRA_SECONDS,
    UpgradeError,
    apply_upgrade,
    current_release,
    deploy_drag,
)

NEW = "4.20.0.0"
LATER = "4.20.1.0"


def _versions(client: CloudStack) -> set[str]:
    """Every version the API reports: capabilities, management server, hosts, system VMs."""
    found = {client.listCapabilities()["capability"]["cloudstackversion"]}
    found |= {m["version"] for m in client.listManagementServers()["managementserver"]}
    found |= {h["version"] for h in client.listHosts()["host"]}
    found |= {s["version"] for s in client.listSystemVms()["systemvm"]}
    return found


def _tag(client: CloudStack, vm_id: str, key: str, value: str) -> None:
    client.createTags(resourceids=vm_id, resourcetype="UserVm", tags=[{"key": key, "value": value}],
                      fetch_result=True)


def _anti_affinity_group(client: CloudStack, name: str) -> str:
    return client.createAffinityGroup(name=name, type="host anti-affinity", fetch_result=True)["affinitygroup"]["id"]


def _stopped(client: CloudStack, ids: Ids, name: str) -> dict[str, Any]:
    machine = deploy(client, ids, name=name)
    client.stopVirtualMachine(id=machine["id"], fetch_result=True)
    return machine


def _placements(client: CloudStack) -> list[tuple[str, str, str | None]]:
    return [(v["id"], v["state"], v.get("hostid")) for v in client.listVirtualMachines(listall=True)["virtualmachine"]]


def _timed_deploy(client: CloudStack, ids: Ids) -> float:
    t0 = time.monotonic()
    deploy(client, ids)
    return time.monotonic() - t0


# -- a clean upgrade ----------------------------------------------------------------------------------
def test_a_clean_upgrade_reports_the_new_version_and_keeps_every_vm_and_tag(
        admin: CloudStack, ids: Ids, lab: Lab) -> None:
    assert _versions(admin) == {CLOUDSTACK_VERSION}  # a new lab starts at the base version, no regression
    assert current_release(lab.state_dir).regressions == ()
    group = _anti_affinity_group(admin, "ring")
    members = [deploy(admin, ids, name=f"cass-{i}", affinitygroupids=group) for i in range(2)]
    _tag(admin, members[0]["id"], "cloudgate-run", "r1")
    _stopped(admin, ids, "parked")
    before, hosts_before = _placements(admin), admin.listHosts()["count"]
    guests_before, stops_before = dict(lab.driver.running), len(lab.driver.stops)

    report = lab.upgrade(NEW)

    assert report.effects == [] and report.summary() == f"CloudStack upgraded {CLOUDSTACK_VERSION} -> {NEW} (clean)"
    assert _versions(admin) == {NEW}
    assert current_release(lab.state_dir).describe() == f"{NEW} (upgraded from {CLOUDSTACK_VERSION}), regressions: none"
    assert _placements(admin) == before
    assert lab.driver.running == guests_before and len(lab.driver.stops) == stops_before  # no guest was touched
    assert [(t["resourceid"], t["key"], t["value"]) for t in admin.listTags(listall=True)["tag"]] == [
        (members[0]["id"], "cloudgate-run", "r1")]
    assert admin.listHosts()["count"] == hosts_before == 8
    third = deploy(admin, ids, affinitygroupids=group)  # the group is still honoured
    assert third["hostid"] not in {m["hostid"] for m in members}


# -- one test per regression --------------------------------------------------------------------------
def test_anti_affinity_ignored_puts_two_members_of_one_group_on_the_same_host(
        admin: CloudStack, ids: Ids, lab: Lab) -> None:
    old_group = _anti_affinity_group(admin, "before")
    spread = [deploy(admin, ids, affinitygroupids=old_group) for _ in range(2)]
    assert spread[0]["hostid"] != spread[1]["hostid"]

    lab.upgrade(NEW, "anti-affinity-ignored")

    group = _anti_affinity_group(admin, "after")
    packed = [deploy(admin, ids, name=f"packed-{i}", affinitygroupids=group) for i in range(2)]
    assert packed[0]["hostid"] == packed[1]["hostid"] == ids.hosts[0]["id"]  # FirstFit, as if no group existed
    assert all(v["affinitygroup"][0]["name"] == "after" for v in packed)  # the group itself is still there
    assert sorted(admin.listAffinityGroups(id=group)["affinitygroup"][0]["virtualmachineIds"]) == sorted(
        v["id"] for v in packed)
    assert [vm(admin, v["id"])["hostid"] for v in spread] == [v["hostid"] for v in spread]


def test_slow_deploy_makes_deploys_five_times_as_long_but_never_more_than_30_s_longer(
        admin: CloudStack, ids: Ids, lab: Lab) -> None:
    admin.updateConfiguration(name="lab.boot.delay.seconds", value="0.4")
    normal = _timed_deploy(admin, ids)

    lab.upgrade(NEW, "slow-deploy")

    slow = _timed_deploy(admin, ids)
    assert slow >= 5 * 0.4 and slow >= 3 * normal, (normal, slow)
    parked = _stopped(admin, ids, "parked")
    t0 = time.monotonic()
    admin.startVirtualMachine(id=parked["id"], fetch_result=True)
    assert time.monotonic() - t0 < 5 * 0.4  # only deploys are slow, a start is not
    assert deploy_drag(0.4) == pytest.approx(1.6)
    assert deploy_drag(600.0) == SLOW_DEPLOY_MAX_EXTRA_SECONDS == 30.0


def test_stopped_vms_expunged_makes_the_vms_stopped_at_upgrade_time_disappear(
        admin: CloudStack, ids: Ids, lab: Lab) -> None:
    running = deploy(admin, ids, name="running")
    parked = _stopped(admin, ids, "parked")
    _tag(admin, parked["id"], "owner", "ops")

    report = lab.upgrade(NEW, "stopped-vms-expunged")

    assert report.effects == ["stopped-vms-expunged: expunged 1 stopped VM(s): parked"]
    assert [v["name"] for v in admin.listVirtualMachines(listall=True)["virtualmachine"]] == ["running"]
    assert admin.listVirtualMachines(listall=True, state="Stopped") == {}
    with pytest.raises(CloudStackApiException) as exc:
        admin.listVirtualMachines(id=parked["id"])
    assert exc.value.error["errorcode"] == 431
    assert admin.listTags(listall=True) == {}  # its tags went with it
    assert vm(admin, running["id"])["state"] == "Running"
    admin.stopVirtualMachine(id=running["id"], fetch_result=True)  # a one-time migration: later stops are kept
    assert vm(admin, running["id"])["state"] == "Stopped"


def test_host_list_truncated_drops_the_last_host_of_every_cluster_while_the_hosts_keep_working(
        admin: CloudStack, ids: Ids, lab: Lab) -> None:
    last_of_rack1 = ids.hosts[1]  # lab-dc1: rack 1 = hosts 0, 1; rack 2 = hosts 2, 3
    on_it = deploy(admin, ids, hostid=last_of_rack1["id"])

    lab.upgrade(NEW, "host-list-truncated")

    listed = admin.listHosts()
    assert listed["count"] == len(listed["host"]) == 4  # 8 hosts in 4 clusters, each cluster's last one gone
    dc1 = admin.listHosts(zoneid=ids.zone["id"])["host"]
    assert [h["id"] for h in dc1] == [ids.hosts[0]["id"], ids.hosts[2]["id"]]
    assert admin.listHosts(id=last_of_rack1["id"])["host"][0]["state"] == "Up"
    assert vm(admin, on_it["id"])["state"] == "Running" and vm(admin, on_it["id"])["hostid"] == last_of_rack1["id"]
    assert deploy(admin, ids, hostid=last_of_rack1["id"])["hostid"] == last_of_rack1["id"]


def test_tags_lost_empties_list_tags_and_the_tags_of_every_vm(admin: CloudStack, ids: Ids, lab: Lab) -> None:
    machines = [deploy(admin, ids, name=f"tagged-{i}") for i in range(2)]
    for m in machines:
        _tag(admin, m["id"], "cloudgate-run", "r1")

    report = lab.upgrade(NEW, "tags-lost")

    assert report.effects == ["tags-lost: dropped 2 resource tag(s)"]
    assert admin.listTags(listall=True) == {}
    assert [vm(admin, m["id"])["tags"] for m in machines] == [[], []]
    assert admin.listVirtualMachines(listall=True, tags=[{"key": "cloudgate-run", "value": "r1"}]) == {}
    _tag(admin, machines[0]["id"], "cloudgate-run", "r2")  # the migration lost them; tagging works again
    assert vm(admin, machines[0]["id"])["tags"][0]["value"] == "r2"


# -- rolling forward, refusals ------------------------------------------------------------------------
def test_rolling_forward_to_a_clean_version_replaces_the_active_regressions(
        admin: CloudStack, ids: Ids, lab: Lab) -> None:
    lab.upgrade(NEW, "anti-affinity-ignored", "host-list-truncated")
    assert admin.listHosts()["count"] == 4

    report = lab.upgrade(LATER)

    assert report.previous.regressions == ("anti-affinity-ignored", "host-list-truncated")
    assert current_release(lab.state_dir).describe() == f"{LATER} (upgraded from {NEW}), regressions: none"
    assert _versions(admin) == {LATER}
    assert admin.listHosts()["count"] == 8
    group = _anti_affinity_group(admin, "fixed")
    assert len({deploy(admin, ids, affinitygroupids=group)["hostid"] for _ in range(2)}) == 2


@pytest.mark.parametrize(("version", "regressions", "words"), [
    ("4.20", ["no-such-bug"], "unknown regression no-such-bug; known: anti-affinity-ignored"),
    ("4.20.x", [], "malformed CloudStack version '4.20.x'"),
    ("v4.20", [], "malformed CloudStack version"),
    ("4.18.0.0", [], f"cannot downgrade CloudStack from {CLOUDSTACK_VERSION} to 4.18.0.0"),
])
def test_an_upgrade_refuses_a_bad_request_and_changes_nothing(
        lab: Lab, version: str, regressions: list[str], words: str) -> None:
    lab.handle.stop()
    try:
        with pytest.raises(UpgradeError, match=re.escape(words)):
            apply_upgrade(lab.state_dir, version, regressions)
        assert current_release(lab.state_dir).version == CLOUDSTACK_VERSION
    finally:
        lab.restart()


def test_an_upgrade_without_a_simulator_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UpgradeError, match="no CloudStack simulator database"):
        apply_upgrade(tmp_path / "nothing-here", NEW)
    assert current_release(tmp_path / "nothing-here") is None


def _lab_command(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(["lab", "upgrade", *argv])


@pytest.mark.parametrize(("argv", "words"), [
    (["--to", NEW, "--regression", "no-such-bug"], "unknown regression no-such-bug"),
    (["--to", "latest"], "malformed CloudStack version 'latest'"),
    (["--to", NEW, "--regression", "tags-lost"], "the lab is not up"),
    ([], "to which version?"),
])
def test_cloudgate_lab_upgrade_refuses_in_one_line_with_exit_status_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str], words: str) -> None:
    monkeypatch.setenv("CLOUDGATE_LAB_DIR", str(tmp_path / "no-lab"))  # never the machine's real lab
    if words == "the lab is not up" and os.geteuid() != 0:
        words = "the lab needs root"  # checked first, as for `cloudgate lab cloudstack stop`
    assert commands.main(_lab_command(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cloudgate lab: error: ") and words in err


def test_cloudgate_lab_upgrade_list_names_every_regression_and_what_it_does(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert commands.main(_lab_command(["--list"])) == 0
    out = capsys.readouterr().out
    for name, regression in REGRESSIONS.items():
        assert f"  {name}" in out and regression.summary in out
