"""How each API call stops a guest: gracefully (a clean shutdown) or forced (silent, the plug pulled).

The guest driver turns `forced` into what peers see (tests/lab/guests proves that on real namespaces);
here the simulator's side: which call asks for which, and that a driver without `forced` still works.
"""

from __future__ import annotations

from pathlib import Path

from cs import CloudStack
from cs_lab_helpers import CREDENTIALS, Ids, Lab, deploy, vm, wait_until

from cloudgate_lab.cloudstack import GuestSpec, NullGuestDriver, start_in_thread
from cloudgate_lab.cloudstack.driver import stop_guest
from cloudgate_lab.topology import LabTopology


def _last_stop(lab: Lab, vm_id: str) -> bool:
    return [forced for v, forced in lab.driver.stops if v == vm_id][-1]


def test_stop_is_graceful_unless_forced(admin: CloudStack, ids: Ids, lab: Lab) -> None:
    machine = deploy(admin, ids)
    admin.stopVirtualMachine(id=machine["id"], fetch_result=True)
    assert _last_stop(lab, machine["id"]) is False
    admin.startVirtualMachine(id=machine["id"], fetch_result=True)
    admin.stopVirtualMachine(id=machine["id"], forced=True, fetch_result=True)
    assert _last_stop(lab, machine["id"]) is True
    assert vm(admin, machine["id"])["state"] == "Stopped"


def test_reboot_is_graceful_unless_forced(admin: CloudStack, ids: Ids, lab: Lab) -> None:
    machine = deploy(admin, ids)
    admin.rebootVirtualMachine(id=machine["id"], fetch_result=True)
    assert _last_stop(lab, machine["id"]) is False
    admin.rebootVirtualMachine(id=machine["id"], forced="true", fetch_result=True)
    assert _last_stop(lab, machine["id"]) is True


def test_destroy_expunge_and_a_dead_host_pull_the_plug(admin: CloudStack, ids: Ids, lab: Lab) -> None:
    doomed = deploy(admin, ids)
    admin.destroyVirtualMachine(id=doomed["id"], expunge=True, fetch_result=True)
    assert [forced for v, forced in lab.driver.stops if v == doomed["id"]] == [True, True]  # destroy, expunge
    victim = ids.hosts[0]
    on_victim = deploy(admin, ids, hostid=victim["id"])
    lab.driver.set_host_status(victim["name"], "Down")
    wait_until(lambda: vm(admin, on_victim["id"])["state"] == "Stopped")
    assert _last_stop(lab, on_victim["id"]) is True
    lab.driver.set_host_status(victim["name"], "Up")


def test_migration_stops_the_guest_cleanly(admin: CloudStack, ids: Ids, lab: Lab) -> None:
    machine = deploy(admin, ids)
    admin.migrateVirtualMachine(virtualmachineid=machine["id"], hostid=ids.hosts[1]["id"], fetch_result=True)
    assert _last_stop(lab, machine["id"]) is False


class _OldDriver(NullGuestDriver):
    """A driver written before `forced` existed: stop_guest(vm_id) only."""

    def stop_guest(self, vm_id: str) -> None:  # type: ignore[override]
        super().stop_guest(vm_id)


def test_a_driver_without_forced_still_works(tmp_path: Path, topology: LabTopology) -> None:
    old = _OldDriver()
    stop_guest(old, "x", forced=True)
    assert old.calls == [("stop", "x")]
    handle = start_in_thread(tmp_path / "cs", topology, 0, CREDENTIALS, old)
    try:
        client = CloudStack(endpoint=handle.endpoint, key=CREDENTIALS["api_key"], secret=CREDENTIALS["secret_key"],
                            poll_interval=0.05, job_timeout=20)
        zone = client.listZones(name="lab-dc1")["zone"][0]
        small = next(o["id"] for o in client.listServiceOfferings()["serviceoffering"] if o["name"] == "Small Instance")
        template = next(t["id"] for t in client.listTemplates(templatefilter="featured", zoneid=zone["id"])["template"]
                        if t["templatetag"] == "guest")
        machine = client.deployVirtualMachine(zoneid=zone["id"], serviceofferingid=small, templateid=template,
                                              fetch_result=True)["virtualmachine"]
        assert isinstance(old.running[machine["id"]], GuestSpec)
        client.stopVirtualMachine(id=machine["id"], forced=True, fetch_result=True)
        assert machine["id"] not in old.running
        assert [c for c in old.calls if c[0] == "stop"] == [("stop", "x"), ("stop", machine["id"])]
    finally:
        handle.stop()
