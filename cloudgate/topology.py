"""One model of the estate, read from CloudStack: datacenter > rack > host > VM.

Checks and the placement engine consume this model rather than each calling the API their own way.
CPU is counted in MHz (cores x clock), as CloudStack's allocators count it, so a plan the engine
makes from this model is one CloudStack's own capacity checks accept. CloudStack knows nothing of
flash, so flash is not modelled from the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudgate.cloud import CloudStackClient
from cloudgate.hosts import rack_of
from cloudgate.placement.model import Estate, ExistingVM, Host
from cloudgate.target import Target

MIB = 1024 * 1024


@dataclass(frozen=True)
class VmRef:
    """A user VM as the checks need it: where it runs and what it holds."""

    id: str
    name: str
    state: str
    host_id: str | None
    host_name: str | None
    ip: str | None
    group: str | None  # first host anti-affinity group, the unit of "copies of the same data"
    cpu_mhz: int
    memory_mib: int


def host_state(record: dict) -> str:
    """CloudStack's (state, resourcestate) folded into the engine's enabled | maintenance | down."""
    if record.get("resourcestate") in ("Maintenance", "PrepareForMaintenance", "ErrorInMaintenance",
                                       "ErrorInPrepareForMaintenance"):
        return "maintenance"
    if record.get("state") == "Up" and record.get("resourcestate") == "Enabled":
        return "enabled"
    return "down"


def read_vms(client: CloudStackClient) -> list[VmRef]:
    vms = []
    for vm in client.list("listVirtualMachines", listall=True):
        groups = [g.get("name") for g in vm.get("affinitygroup") or [] if g.get("type", "host anti-affinity") == "host anti-affinity"]
        nics = vm.get("nic") or []
        vms.append(
            VmRef(
                id=str(vm.get("id")),
                name=str(vm.get("name")),
                state=str(vm.get("state")),
                host_id=vm.get("hostid"),
                host_name=vm.get("hostname"),
                ip=nics[0].get("ipaddress") if nics else None,
                group=groups[0] if groups else None,
                cpu_mhz=int(vm.get("cpunumber", 0)) * int(vm.get("cpuspeed", 0)),
                memory_mib=int(vm.get("memory", 0)),
            )
        )
    return vms


def read_estate(client: CloudStackClient, target: Target) -> Estate:
    """The placement engine's view of the target: its hosts with what already runs on them."""
    zones = {dc.zone: dc.name for dc in target.datacenters}
    by_host: dict[str, list[ExistingVM]] = {}
    for vm in read_vms(client):
        if vm.host_id and vm.state in ("Running", "Starting", "Migrating", "Stopping"):
            by_host.setdefault(vm.host_id, []).append(
                ExistingVM(id=vm.name, cpu=vm.cpu_mhz, memory_mib=vm.memory_mib, group=vm.group)
            )
    hosts = []
    for record in client.list("listHosts", type="Routing"):
        if record.get("zonename") not in zones:
            continue
        hosts.append(
            Host(
                id=str(record["id"]),
                datacenter=zones[record["zonename"]],
                rack=rack_of(record, target.racks),
                cpu=int(record.get("cpunumber", 0)) * int(record.get("cpuspeed", 0)),
                memory_mib=int(record.get("memorytotal", 0)) // MIB,
                state=host_state(record),
                vms=by_host.get(str(record["id"]), []),
            )
        )
    return Estate(hosts=sorted(hosts, key=lambda h: h.id))
