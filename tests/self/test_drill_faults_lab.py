"""The nemesis' CloudStack faults on the lab, injected and healed through the ledger (no load).

The drills exercise stop, power-off, partition and the management server; host maintenance is a
nemesis fault no drill uses yet, so it is proven here: injected, seen by CloudStack (the host in
Maintenance, its Cassandra VM moved off it), healed by the same undo the janitor uses.
"""

from __future__ import annotations

from selfcheck import LAB_TARGET

from cloudgate.cloudstack.client import CloudStackClient
from cloudgate.drills import nemesis
from cloudgate.ledger import Ledger, pending, read
from cloudgate.snapshot import take_snapshot
from cloudgate.target import load_target
from cloudgate.undo import Undoer


def test_host_maintenance_moves_the_vms_off_the_host_and_its_heal_ends_the_maintenance(lab, tmp_path, monkeypatch):
    for name, value in lab["env"].items():
        monkeypatch.setenv(name, value)
    loaded = load_target(LAB_TARGET)
    client = CloudStackClient.for_target(loaded, allow_mutations=True)
    estate = take_snapshot(loaded, tmp_path / "last-good.json")
    ledger = Ledger(tmp_path / "ledger.jsonl", run="selftest", target="lab")
    ctx = nemesis.FaultContext(client, loaded.target, ledger, Undoer(client, loaded.target), scope="selftest")
    fault = nemesis.host_maintenance(estate)
    on_host = [v["id"] for v in client.list("listVirtualMachines", listall=True) if v.get("hostid") == fault.host_id]
    assert on_host, f"{fault.host_name} was chosen for holding replicas but runs no VM"
    try:
        fault.inject(ctx)
        (host,) = client.list("listHosts", id=fault.host_id)
        assert host["resourcestate"] == "Maintenance"
        still = [v["name"] for v in client.list("listVirtualMachines", listall=True) if v.get("hostid") == fault.host_id]
        assert still == [], f"VMs left on {fault.host_name} in maintenance: {still}"
    finally:
        problems = fault.heal(ctx)
        for vm_id in on_host:  # back where they were: the other self-tests expect the lab's placement
            client.call("migrateVirtualMachine", virtualmachineid=vm_id, hostid=fault.host_id, fetch_result=True)
    assert problems == []
    (host,) = client.list("listHosts", id=fault.host_id)
    assert host["resourcestate"] == "Enabled"
    assert pending(read(ledger.path)) == []
