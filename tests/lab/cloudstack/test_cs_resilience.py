"""The lab as a target for drills: hosts failing, the simulator restarting, injected API faults."""

from __future__ import annotations

import time

import pytest
from cs import CloudStack, CloudStackApiException
from cs_lab_helpers import Ids, Lab, deploy, vm, wait_until


def test_a_host_reported_down_by_its_agent_goes_down_and_its_vms_stop(admin: CloudStack, ids: Ids, lab: Lab) -> None:
    victim = ids.hosts[0]
    on_victim = deploy(admin, ids)
    elsewhere = deploy(admin, ids, hostid=ids.hosts[1]["id"])
    lab.driver.set_host_status(victim["name"], "Down")
    host = wait_until(lambda: (h := admin.listHosts(id=victim["id"])["host"][0])["state"] == "Down" and h)
    assert "disconnected" in host
    stopped = vm(admin, on_victim["id"])
    assert stopped["state"] == "Stopped" and "hostid" not in stopped
    assert on_victim["id"] not in lab.driver.running
    assert vm(admin, elsewhere["id"])["state"] == "Running"
    assert deploy(admin, ids)["hostid"] != victim["id"]
    lab.driver.set_host_status(victim["name"], "Up")
    wait_until(lambda: admin.listHosts(id=victim["id"])["host"][0]["state"] == "Up")


def test_an_alerting_host_keeps_its_vms_but_takes_no_new_ones(admin: CloudStack, ids: Ids, lab: Lab) -> None:
    victim = ids.hosts[0]
    machine = deploy(admin, ids)
    lab.driver.set_host_status(victim["name"], "Alert")
    wait_until(lambda: admin.listHosts(id=victim["id"])["host"][0]["state"] == "Alert")
    assert vm(admin, machine["id"])["state"] == "Running"
    assert deploy(admin, ids)["hostid"] == ids.hosts[1]["id"]


def test_restarting_on_the_same_state_dir_keeps_vms_jobs_groups_tags_config_and_host_states(
        admin: CloudStack, ids: Ids, lab: Lab) -> None:
    group = admin.createAffinityGroup(name="keep", type="host anti-affinity", fetch_result=True)["affinitygroup"]
    machine = deploy(admin, ids, affinitygroupids=group["id"], name="survivor")
    job = admin.stopVirtualMachine(id=deploy(admin, ids, name="stopped-one")["id"])["jobid"]
    wait_until(lambda: admin.queryAsyncJobResult(jobid=job)["jobstatus"] == 1)
    admin.createTags(resourceids=machine["id"], resourcetype="UserVm", tags=[{"key": "k", "value": "v"}],
                     fetch_result=True)
    admin.updateConfiguration(name="vm.allocation.algorithm", value="random")
    admin.prepareHostForMaintenance(id=ids.hosts[3]["id"], fetch_result=True)
    before = admin.listVirtualMachines(listall=True)["virtualmachine"]

    lab.restart()
    again = lab.client()
    after = again.listVirtualMachines(listall=True)["virtualmachine"]
    assert [(v["id"], v["state"], v.get("hostid")) for v in after] == [
        (v["id"], v["state"], v.get("hostid")) for v in before]
    assert again.queryAsyncJobResult(jobid=job)["jobstatus"] == 1
    assert again.listAffinityGroups(id=group["id"])["affinitygroup"][0]["virtualmachineIds"] == [machine["id"]]
    assert again.listTags()["tag"][0]["value"] == "v"
    assert again.listConfigurations(name="vm.allocation.algorithm")["configuration"][0]["value"] == "random"
    assert again.listHosts(id=ids.hosts[3]["id"])["host"][0]["resourcestate"] == "Maintenance"
    assert deploy(again, ids, name="after-restart")["nic"][0]["ipaddress"] == "198.18.1.102"


def test_a_deploy_in_flight_at_restart_resumes_and_completes(admin: CloudStack, ids: Ids, lab: Lab) -> None:
    admin.updateConfiguration(name="lab.boot.delay.seconds", value="0.8")
    started = deploy(admin, ids, wait=False)
    wait_until(lambda: vm(admin, started["id"])["state"] == "Starting")
    lab.restart()
    again = lab.client()
    assert again.queryAsyncJobResult(jobid=started["jobid"])["jobstatus"] in (0, 1)
    result = wait_until(lambda: (r := again.queryAsyncJobResult(jobid=started["jobid"]))["jobstatus"] != 0 and r)
    assert result["jobstatus"] == 1
    assert result["jobresult"]["virtualmachine"]["state"] == "Running"


def test_lab_fail_listhosts_530_makes_listhosts_fail_until_cleared(admin: CloudStack) -> None:
    admin.updateConfiguration(name="lab.fail.listHosts", value="530")
    with pytest.raises(CloudStackApiException) as exc:
        admin.listHosts()
    assert exc.value.response.status_code == 530
    assert exc.value.error["errorcode"] == 530 and exc.value.error["cserrorcode"] == 4250
    assert admin.listZones()["count"] == 2
    admin.updateConfiguration(name="lab.fail.listHosts", value="431")
    with pytest.raises(CloudStackApiException) as exc:
        admin.listHosts()
    assert exc.value.error["errorcode"] == 431
    admin.updateConfiguration(name="lab.fail.listHosts", value="")
    assert admin.listHosts()["count"] == 8


def test_lab_knobs_are_validated_and_listed(admin: CloudStack) -> None:
    for name, value in [("lab.fail.listFlyingSaucers", "530"), ("lab.fail.listHosts", "oops"),
                        ("no.such.setting", "1"), ("lab.managementserver.state", "Sideways")]:
        with pytest.raises(CloudStackApiException) as exc:
            admin.updateConfiguration(name=name, value=value)
        assert exc.value.error["errorcode"] == 431
    names = {c["name"] for c in admin.listConfigurations(category="Lab")["configuration"]}
    assert {"lab.boot.delay.seconds", "lab.managementserver.state"} <= names


def test_the_management_server_can_be_shown_down(admin: CloudStack) -> None:
    admin.updateConfiguration(name="lab.managementserver.state", value="Down")
    assert admin.listManagementServers()["managementserver"][0]["state"] == "Down"


def test_system_vms_stop_and_start_and_zones_can_be_disabled(admin: CloudStack, lab: Lab) -> None:
    svm = admin.listSystemVms(systemvmtype="consoleproxy")["systemvm"][0]
    assert admin.stopSystemVm(id=svm["id"], fetch_result=True)["systemvm"]["state"] == "Stopped"
    assert admin.startSystemVm(id=svm["id"], fetch_result=True)["systemvm"]["state"] == "Running"
    zone = admin.listZones(name="lab-dc2")["zone"][0]
    assert admin.updateZone(id=zone["id"], allocationstate="Disabled")["zone"]["allocationstate"] == "Disabled"
    assert [z["name"] for z in lab.client(user=True).listZones()["zone"]] == ["lab-dc1"]
    cluster = admin.listClusters(name="dc2-r1-pool")["cluster"][0]
    assert admin.updateCluster(id=cluster["id"], allocationstate="Disabled")["cluster"]["allocationstate"] == "Disabled"


def test_destroyed_vms_are_expunged_after_the_expunge_delay(admin: CloudStack, ids: Ids) -> None:
    admin.updateConfiguration(name="expunge.delay", value="0")
    admin.updateConfiguration(name="expunge.interval", value="0")
    machine = deploy(admin, ids)
    admin.destroyVirtualMachine(id=machine["id"], fetch_result=True)
    t0 = time.monotonic()
    wait_until(lambda: admin.listVirtualMachines(listall=True) == {})
    assert time.monotonic() - t0 < 5
