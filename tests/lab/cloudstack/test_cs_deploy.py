"""Deploys, placement and VM lifecycle behave like CloudStack's: async phases, FirstFit, anti-affinity, 533."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from cs import CloudStack, CloudStackApiException
from cs_lab_helpers import Ids, Lab, deploy, vm, wait_until


def test_deploy_answers_id_and_jobid_at_once_then_the_job_reaches_running_on_a_host(
        admin: CloudStack, ids: Ids, lab: Lab) -> None:
    started = deploy(admin, ids, wait=False, name="web-1")
    assert set(started) == {"id", "jobid"}
    result = admin.queryAsyncJobResult(jobid=started["jobid"])
    assert result["jobinstancetype"] == "VirtualMachine" and result["jobinstanceid"] == started["id"]
    done = wait_until(lambda: (r := admin.queryAsyncJobResult(jobid=started["jobid"]))["jobstatus"] != 0 and r)
    assert (done["jobstatus"], done["jobresultcode"]) == (1, 0)
    machine = done["jobresult"]["virtualmachine"]
    assert machine["state"] == "Running" and machine["hostid"] == ids.hosts[0]["id"]
    assert machine["nic"][0]["ipaddress"] == "198.18.1.100"
    assert lab.driver.running[started["id"]].host_name == ids.hosts[0]["name"]
    assert lab.driver.running[started["id"]].template == "guest"
    assert any(j["jobid"] == started["jobid"] for j in admin.listAsyncJobs()["asyncjobs"])


def test_deploy_phases_honour_the_boot_delay(admin: CloudStack, ids: Ids) -> None:
    admin.updateConfiguration(name="lab.boot.delay.seconds", value="1.0")
    t0 = time.monotonic()
    started = deploy(admin, ids, wait=False)
    assert time.monotonic() - t0 < 0.5  # the API call itself does not wait for the boot
    starting = wait_until(lambda: (v := vm(admin, started["id"]))["state"] == "Starting" and v)
    assert starting["hostid"] and starting["jobid"] == started["jobid"] and starting["jobstatus"] == 0
    wait_until(lambda: admin.queryAsyncJobResult(jobid=started["jobid"])["jobstatus"] == 1, timeout=5)
    assert time.monotonic() - t0 >= 1.0
    assert "jobid" not in vm(admin, started["id"])


def test_firstfit_puts_two_ungrouped_vms_on_the_same_first_host(admin: CloudStack, ids: Ids) -> None:
    a, b = deploy(admin, ids), deploy(admin, ids)
    assert a["hostid"] == b["hostid"] == ids.hosts[0]["id"]
    host = admin.listHosts(id=ids.hosts[0]["id"])["host"][0]
    assert host["cpuallocatedvalue"] == 4000 and host["memoryallocated"] == 2 * 1024**3


def test_a_host_anti_affinity_group_of_three_deployed_in_parallel_lands_on_three_hosts(
        admin: CloudStack, ids: Ids) -> None:
    group = admin.createAffinityGroup(name="ring", type="host anti-affinity", fetch_result=True)["affinitygroup"]
    assert group["type"] == "host anti-affinity"
    assert admin.listAffinityGroupTypes()["affinityGroupType"] == [{"type": "host anti-affinity"}]
    with ThreadPoolExecutor(3) as pool:
        vms = list(pool.map(lambda i: deploy(admin, ids, name=f"cass-{i}", affinitygroupnames="ring"), range(3)))
    assert len({v["hostid"] for v in vms}) == 3
    assert all(v["affinitygroup"][0]["name"] == "ring" for v in vms)
    listed = admin.listAffinityGroups(name="ring")["affinitygroup"][0]
    assert sorted(listed["virtualmachineIds"]) == sorted(v["id"] for v in vms)


def test_an_anti_affinity_group_bigger_than_the_zone_fails_with_533_and_the_affinity_hint(
        admin: CloudStack, ids: Ids) -> None:
    group = admin.createAffinityGroup(name="wide", type="host anti-affinity", fetch_result=True)["affinitygroup"]
    for _ in range(4):
        deploy(admin, ids, affinitygroupids=group["id"])
    with pytest.raises(CloudStackApiException) as exc:
        deploy(admin, ids, affinitygroupids=group["id"])
    assert exc.value.error["errorcode"] == 533
    assert exc.value.error["errortext"].startswith("Unable to create a deployment for VM instance")
    assert "Please check the affinity groups provided" in exc.value.error["errortext"]


def test_no_capacity_fails_the_job_with_533_and_leaves_the_vm_in_error(admin: CloudStack, ids: Ids) -> None:
    for _ in range(4):  # one 8-core Cassandra VM fills an 8-core host
        deploy(admin, ids, offering=ids.cassandra)
    started = deploy(admin, ids, wait=False, offering=ids.cassandra, name="one-too-many")
    result = wait_until(lambda: (r := admin.queryAsyncJobResult(jobid=started["jobid"]))["jobstatus"] != 0 and r)
    assert (result["jobstatus"], result["jobresultcode"]) == (2, 533)
    assert result["jobresult"]["errorcode"] == 533
    assert "Please check the affinity groups" not in result["jobresult"]["errortext"]
    assert vm(admin, started["id"])["state"] == "Error"
    capacity = {c["type"]: c for c in admin.listCapacity(zoneid=ids.zone["id"])["capacity"]}
    assert capacity[90]["capacityused"] == 32 and capacity[90]["capacitytotal"] == 32


def test_a_root_admin_can_force_the_host_but_not_beyond_its_capacity(admin: CloudStack, ids: Ids, lab: Lab) -> None:
    target = ids.hosts[2]
    placed = deploy(admin, ids, offering=ids.cassandra, hostid=target["id"])
    assert placed["hostid"] == target["id"]
    with pytest.raises(CloudStackApiException) as exc:
        deploy(admin, ids, offering=ids.cassandra, hostid=target["id"])
    assert exc.value.error["errorcode"] == 533
    user = lab.client(user=True)
    with pytest.raises(CloudStackApiException) as exc:
        user.deployVirtualMachine(zoneid=ids.zone["id"], serviceofferingid=ids.small, templateid=ids.guest_template,
                                  hostid=target["id"])
    assert exc.value.error["errorcode"] == 531


def test_a_plain_user_deploys_but_does_not_see_the_host(lab: Lab, admin: CloudStack, ids: Ids) -> None:
    user = lab.client(user=True)
    machine = deploy(user, ids, name="mine")
    assert machine["state"] == "Running" and "hostid" not in machine
    assert admin.listVirtualMachines() == {}  # the admin's own VMs only, without listall
    assert admin.listVirtualMachines(listall=True)["virtualmachine"][0]["hostid"] == ids.hosts[0]["id"]


def test_requested_ip_addresses_come_from_200_to_250_and_stay_unique(admin: CloudStack, ids: Ids) -> None:
    assert deploy(admin, ids, ipaddress="198.18.1.201")["nic"][0]["ipaddress"] == "198.18.1.201"
    with pytest.raises(CloudStackApiException) as exc:
        deploy(admin, ids, wait=False, ipaddress="198.18.1.201")
    assert exc.value.error["errorcode"] == 533
    with pytest.raises(CloudStackApiException) as exc:
        deploy(admin, ids, wait=False, ipaddress="198.18.1.150")
    assert exc.value.error["errorcode"] == 431
    assert deploy(admin, ids)["nic"][0]["ipaddress"] == "198.18.1.100"


def test_stop_start_destroy_and_expunge_drive_the_guest(admin: CloudStack, ids: Ids, lab: Lab) -> None:
    machine = deploy(admin, ids, name="cycle")
    stopped = admin.stopVirtualMachine(id=machine["id"], fetch_result=True)["virtualmachine"]
    assert stopped["state"] == "Stopped" and "hostid" not in stopped
    assert machine["id"] not in lab.driver.running
    started = admin.startVirtualMachine(id=machine["id"], fetch_result=True)["virtualmachine"]
    assert started["state"] == "Running" and started["hostid"] == machine["hostid"]  # last host first
    destroyed = admin.destroyVirtualMachine(id=machine["id"], fetch_result=True)["virtualmachine"]
    assert destroyed["state"] == "Destroyed"
    assert vm(admin, machine["id"])["state"] == "Destroyed"
    admin.expungeVirtualMachine(id=machine["id"], fetch_result=True)
    assert admin.listVirtualMachines(listall=True) == {}
    other = deploy(admin, ids, name="gone")
    admin.destroyVirtualMachine(id=other["id"], expunge=True, fetch_result=True)
    assert admin.listVirtualMachines(listall=True) == {}
    assert lab.driver.running == {}


def test_migrate_moves_a_running_vm_to_the_requested_host(admin: CloudStack, ids: Ids, lab: Lab) -> None:
    machine = deploy(admin, ids)
    moved = admin.migrateVirtualMachine(virtualmachineid=machine["id"], hostid=ids.hosts[3]["id"],
                                        fetch_result=True)["virtualmachine"]
    assert moved["hostid"] == ids.hosts[3]["id"] and moved["state"] == "Running"
    assert lab.driver.running[machine["id"]].host_name == ids.hosts[3]["name"]
    assert moved["nic"][0]["ipaddress"] == machine["nic"][0]["ipaddress"]


def test_maintenance_migrates_vms_off_the_host_and_cancel_reenables_it(admin: CloudStack, ids: Ids) -> None:
    group = admin.createAffinityGroup(name="pair", type="host anti-affinity", fetch_result=True)["affinitygroup"]
    a = deploy(admin, ids, affinitygroupids=group["id"])
    b = deploy(admin, ids, affinitygroupids=group["id"])
    loose = deploy(admin, ids)
    first = ids.hosts[0]["id"]
    assert a["hostid"] == first and loose["hostid"] == first and b["hostid"] != first
    host = admin.prepareHostForMaintenance(id=first, fetch_result=True)["host"]
    assert host["resourcestate"] == "Maintenance"
    after = {m["id"]: m["hostid"] for m in admin.listVirtualMachines(listall=True)["virtualmachine"]}
    assert first not in after.values()
    assert after[a["id"]] != after[b["id"]]  # anti-affinity still honoured by the evacuation
    assert deploy(admin, ids)["hostid"] != first
    assert admin.cancelHostMaintenance(id=first, fetch_result=True)["host"]["resourcestate"] == "Enabled"
    assert deploy(admin, ids)["hostid"] == first


def test_a_disabled_pod_is_skipped_by_the_allocator(admin: CloudStack, ids: Ids) -> None:
    pod = admin.listPods(name="dc1-r1")["pod"][0]
    assert admin.updatePod(id=pod["id"], allocationstate="Disabled")["pod"]["allocationstate"] == "Disabled"
    assert deploy(admin, ids)["hostid"] == ids.hosts[2]["id"]


def test_userdispersing_spreads_an_accounts_vms(admin: CloudStack, ids: Ids) -> None:
    admin.updateConfiguration(name="vm.allocation.algorithm", value="userdispersing")
    hosts = {deploy(admin, ids)["hostid"] for _ in range(4)}
    assert len(hosts) == 4
    with pytest.raises(CloudStackApiException) as exc:
        admin.updateConfiguration(name="vm.allocation.algorithm", value="smart")
    assert exc.value.error["errorcode"] == 431


def test_tags_are_created_listed_on_the_vm_and_deleted(admin: CloudStack, ids: Ids) -> None:
    machine = deploy(admin, ids)
    admin.createTags(resourceids=machine["id"], resourcetype="UserVm",
                     tags=[{"key": "cloudgate-run", "value": "r42"}], fetch_result=True)
    tags = admin.listTags(resourcetype="UserVm")["tag"]
    assert [(t["key"], t["value"], t["resourceid"]) for t in tags] == [("cloudgate-run", "r42", machine["id"])]
    assert vm(admin, machine["id"])["tags"][0]["key"] == "cloudgate-run"
    found = admin.listVirtualMachines(tags=[{"key": "cloudgate-run", "value": "r42"}])["virtualmachine"]
    assert [m["id"] for m in found] == [machine["id"]]
    admin.deleteTags(resourceids=machine["id"], resourcetype="UserVm", tags=[{"key": "cloudgate-run"}],
                     fetch_result=True)
    assert admin.listTags() == {}


def test_reboot_keeps_the_vm_running_on_its_host_and_reboots_the_guest(admin: CloudStack, ids: Ids, lab: Lab) -> None:
    machine = deploy(admin, ids)
    rebooted = admin.rebootVirtualMachine(id=machine["id"], fetch_result=True)["virtualmachine"]
    assert rebooted["state"] == "Running" and rebooted["hostid"] == machine["hostid"]
    assert lab.driver.calls[-2:] == [("stop", machine["id"]), ("start", machine["id"])]


def test_a_stopped_vm_joins_an_anti_affinity_group_and_restarts_away_from_its_peer(admin: CloudStack,
                                                                                  ids: Ids) -> None:
    group = admin.createAffinityGroup(name="late", type="host anti-affinity", fetch_result=True)["affinitygroup"]
    peer = deploy(admin, ids, affinitygroupids=group["id"])
    loner = deploy(admin, ids)
    assert loner["hostid"] == peer["hostid"]
    admin.stopVirtualMachine(id=loner["id"], fetch_result=True)
    updated = admin.updateVMAffinityGroup(id=loner["id"], affinitygroupnames="late", fetch_result=True)
    assert updated["virtualmachine"]["affinitygroup"][0]["id"] == group["id"]
    restarted = admin.startVirtualMachine(id=loner["id"], fetch_result=True)["virtualmachine"]
    assert restarted["hostid"] != peer["hostid"]
    admin.deleteAffinityGroup(id=group["id"], fetch_result=True)
    assert admin.listAffinityGroups() == {}


def test_a_vm_the_database_lost_disappears_from_listings_while_its_guest_keeps_running(
        admin: CloudStack, ids: Ids, lab: Lab) -> None:
    kept, lost = deploy(admin, ids, name="cass-a"), deploy(admin, ids, name="cass-b")
    admin.updateConfiguration(name="lab.orphaned.vms", value="cass-b")
    listed = {v["name"] for v in admin.listVirtualMachines(listall=True, fetch_list=True)}
    assert "cass-a" in listed and "cass-b" not in listed
    assert lost["id"] in lab.driver.running and kept["id"] in lab.driver.running
    admin.updateConfiguration(name="lab.orphaned.vms", value="")
    assert "cass-b" in {v["name"] for v in admin.listVirtualMachines(listall=True, fetch_list=True)}
