"""The simulator's placement faults: the anti-affinity race and a rebalance onto a sibling's host.

The lab's cloud faults `anti-affinity-race` and `rebalance-onto-sibling` (cloudgate_lab/control.py)
stand on two behaviours of the simulator tested here without the whole lab: under the switch
`lab.antiaffinity.race.seconds` members of one host anti-affinity group deployed in parallel share a
host (and only then: one at a time they do not, and the healthy allocator never lets them), and
migrateVirtualMachine with an explicit host checks state and capacity only, as CloudStack's does, so
a rebalancer can put a VM next to its sibling.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cs import CloudStack, CloudStackApiException
from cs_lab_helpers import Ids, Lab, deploy

RACE = "lab.antiaffinity.race.seconds"
WINDOW = "0.3"  # seconds between a racing plan and its reservation: parallel calls here start within ms
# one of each way to order hosts (the userconcentratedpod_* variants order as firstfit and random do)
ORDERS = ("firstfit", "random", "userdispersing", "firstfitleastconsumed")


def group(admin: CloudStack, name: str) -> dict[str, Any]:
    return admin.createAffinityGroup(name=name, type="host anti-affinity", fetch_result=True)["affinitygroup"]


def deploy_in_parallel(admin: CloudStack, ids: Ids, group_id: str, count: int = 3) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda i: deploy(admin, ids, name=f"ring-{i}", affinitygroupids=group_id), range(count)))


@pytest.mark.parametrize("algorithm", ["firstfit", "random"])
def test_parallel_deploys_of_one_anti_affinity_group_land_on_distinct_hosts(
        admin: CloudStack, ids: Ids, algorithm: str) -> None:
    admin.updateConfiguration(name="vm.allocation.algorithm", value=algorithm)
    assert admin.listConfigurations(name=RACE)["configuration"][0]["value"] == "0"  # off unless a fault sets it
    vms = deploy_in_parallel(admin, ids, group(admin, "ring")["id"])
    assert len({v["hostid"] for v in vms}) == 3


@pytest.mark.parametrize("algorithm", ORDERS)
def test_under_the_race_parallel_deploys_of_one_group_share_a_host_whatever_the_algorithm(
        admin: CloudStack, ids: Ids, algorithm: str) -> None:
    """Every member plans on the same stale view within the window, so all of them pick one host
    (a random order is seeded by the group: the collision must not depend on luck)."""
    admin.updateConfiguration(name="vm.allocation.algorithm", value=algorithm)
    admin.updateConfiguration(name=RACE, value=WINDOW)
    vms = deploy_in_parallel(admin, ids, group(admin, "ring")["id"])
    assert all(v["state"] == "Running" for v in vms)
    assert len({v["hostid"] for v in vms}) == 1, [(v["name"], v["hostname"]) for v in vms]


def test_under_the_race_deploys_one_at_a_time_still_honour_the_group(admin: CloudStack, ids: Ids) -> None:
    """The race needs concurrency: a deploy that starts after its sibling reserved sees it."""
    admin.updateConfiguration(name=RACE, value=WINDOW)
    ring = group(admin, "ring")["id"]
    first = deploy(admin, ids, affinitygroupids=ring)
    second = deploy(admin, ids, affinitygroupids=ring)
    assert first["hostid"] != second["hostid"]


def test_the_race_does_not_delay_a_vm_outside_any_anti_affinity_group(admin: CloudStack, ids: Ids) -> None:
    admin.updateConfiguration(name=RACE, value="3")
    started = time.monotonic()
    deploy(admin, ids, name="loose")
    assert time.monotonic() - started < 2.5


def test_migrate_onto_a_host_running_a_sibling_is_accepted_as_it_checks_only_state_and_capacity(
        admin: CloudStack, ids: Ids, lab: Lab) -> None:
    ring = group(admin, "ring")["id"]
    a = deploy(admin, ids, name="cass-a", affinitygroupids=ring)
    b = deploy(admin, ids, name="cass-b", affinitygroupids=ring)
    assert a["hostid"] != b["hostid"]
    moved = admin.migrateVirtualMachine(virtualmachineid=b["id"], hostid=a["hostid"],
                                        fetch_result=True)["virtualmachine"]
    assert moved["state"] == "Running" and moved["hostid"] == a["hostid"]
    assert moved["nic"][0]["ipaddress"] == b["nic"][0]["ipaddress"]  # the guest keeps its address
    assert lab.driver.running[b["id"]].host_name == a["hostname"]
    assert [g["id"] for g in moved["affinitygroup"]] == [ring]  # still in the group it now violates
    back = admin.migrateVirtualMachine(virtualmachineid=b["id"], hostid=b["hostid"],
                                       fetch_result=True)["virtualmachine"]
    assert back["hostid"] == b["hostid"]


def test_migrate_without_a_host_asks_the_planner_which_keeps_the_group_apart(admin: CloudStack, ids: Ids) -> None:
    ring = group(admin, "ring")["id"]
    a = deploy(admin, ids, affinitygroupids=ring)
    b = deploy(admin, ids, affinitygroupids=ring)
    moved = admin.migrateVirtualMachine(virtualmachineid=b["id"], fetch_result=True)["virtualmachine"]
    assert moved["hostid"] not in (a["hostid"], b["hostid"])


def test_migrate_onto_a_sibling_without_room_is_refused_for_capacity(admin: CloudStack, ids: Ids) -> None:
    ring = group(admin, "ring")["id"]  # a Cassandra VM fills an 8-core host of this small lab
    a = deploy(admin, ids, offering=ids.cassandra, affinitygroupids=ring)
    b = deploy(admin, ids, offering=ids.cassandra, affinitygroupids=ring)
    with pytest.raises(CloudStackApiException) as exc:
        admin.migrateVirtualMachine(virtualmachineid=b["id"], hostid=a["hostid"], fetch_result=True)
    assert "not enough capacity" in exc.value.error["errortext"]
