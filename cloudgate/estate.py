"""One model of the estate per run: datacenter > rack > host > VM > Cassandra node.

Read once per run (cloudgate.snapshot) through the CloudStack API and cassandra-driver, shared by
every xdist worker, written to the run's reports as estate.json; every check and the placement
engine read this snapshot instead of each calling the API their own way.

Each part says where it came from (`Source`): read live, or taken from the target's last good
snapshot (with its age and why the live read failed). That is what lets a smoke test after an
incident check the hypervisors and Cassandra nodes while the CloudStack management server is down.

CPU is counted in MHz (cores x clock), as CloudStack's allocators count it, so a plan the engine
makes from this model is one CloudStack's own capacity checks accept. CloudStack knows nothing of
flash, so flash is not modelled from the API.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from cloudgate.placement.model import Estate as PlacementEstate
from cloudgate.placement.model import ExistingVM
from cloudgate.placement.model import Host as PlacementHost

ESTATE_FILE = "estate.json"
SCHEMA_VERSION = 1
MAINTENANCE_STATES = ("PrepareForMaintenance", "Maintenance", "ErrorInMaintenance", "ErrorInPrepareForMaintenance")
ACTIVE_VM_STATES = ("Running", "Starting", "Migrating", "Stopping")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Source(_Record):
    """Where one part of the snapshot came from."""

    live: bool
    taken_at: str  # ISO 8601 UTC, when this part was read from the cloud
    snapshot_file: str | None = None  # the last good snapshot it was taken from, when not live
    problem: str | None = None  # why it is not live (or why it is empty), one line

    def age_seconds(self, now: datetime | None = None) -> float:
        taken = datetime.strptime(self.taken_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return ((now or datetime.now(UTC)) - taken).total_seconds()

    def describe(self, what: str) -> str:
        if self.live:
            return f"{what} read live at {self.taken_at}"
        if self.snapshot_file:
            return (f"{what} from the last good snapshot {self.snapshot_file}, taken {self.taken_at} "
                    f"({_age(self.age_seconds())} old), because {self.problem}")
        return f"{what} unknown: {self.problem}"


def _age(seconds: float) -> str:
    minutes = int(max(seconds, 0) // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours < 48 else f"{hours // 24} days"


class Zone(_Record):
    id: str
    name: str
    datacenter: str
    allocationstate: str = ""


class Pod(_Record):
    id: str
    name: str
    zone: str
    allocationstate: str = ""


class Cluster(_Record):
    id: str
    name: str
    zone: str
    pod: str = ""
    allocationstate: str = ""


class HostRecord(_Record):
    """A physical hypervisor host as CloudStack knows it, plus where it sits."""

    id: str
    name: str
    ip: str
    zone: str
    datacenter: str
    pod: str = ""
    rack: str
    cluster: str = ""
    state: str
    resourcestate: str
    tags: tuple[str, ...] = ()
    cpu_mhz: int = 0
    memory_mib: int = 0
    #: What the allocator may hand out (listHosts cpuwithoverprovisioning / memorywithoverprovisioning);
    #: 0 when the API did not say (older snapshots), then the physical figures above are used.
    cpu_allocatable_mhz: int = 0
    memory_allocatable_mib: int = 0

    @property
    def enabled(self) -> bool:
        return self.state == "Up" and self.resourcestate == "Enabled"

    @property
    def in_maintenance(self) -> bool:
        return self.resourcestate in MAINTENANCE_STATES

    def __str__(self) -> str:
        return f"{self.name} ({self.ip})"


class VmRecord(_Record):
    """A user VM: where it runs, its addresses and the host anti-affinity groups it belongs to."""

    id: str
    name: str
    state: str
    zone: str = ""
    host_id: str | None = None
    host_name: str | None = None
    ips: tuple[str, ...] = ()
    affinity_groups: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # CloudStack resource tags, "key=value" (how a front tier may find its VMs)
    cpu_mhz: int = 0
    memory_mib: int = 0
    offering: str = ""
    created: str | None = None

    @property
    def group(self) -> str | None:
        """The first host anti-affinity group: the unit of "copies of the same data"."""
        return self.affinity_groups[0] if self.affinity_groups else None


class CassandraNode(_Record):
    """A node of the ring (as the driver sees it) mapped to its VM and physical host."""

    address: str
    datacenter: str  # Cassandra's datacenter name
    rack: str  # Cassandra's rack name
    vm: str | None = None  # the CloudStack VM holding this address, when CloudStack knows it
    vm_id: str | None = None
    host: str | None = None  # physical host name
    host_id: str | None = None
    host_rack: str | None = None
    host_dc: str | None = None

    @property
    def label(self) -> str:
        return self.vm or self.address

    def __str__(self) -> str:
        vm = f"{self.vm} " if self.vm else ""
        return f"Cassandra node {vm}({self.address}, {self.datacenter}/{self.rack})"


class TokenRange(_Record):
    start: int | str
    end: int | str
    replicas: tuple[str, ...]  # node addresses, in the driver's replica order

    def __str__(self) -> str:
        return f"({self.start}, {self.end}]"


class Ring(_Record):
    """The probe keyspace's replication and every token range with its replicas."""

    keyspace: str
    replication: dict[str, int]
    ranges: tuple[TokenRange, ...]


class CassandraPart(_Record):
    source: Source
    nodes: tuple[CassandraNode, ...] = ()
    ring: Ring | None = None
    ring_problem: str | None = None  # why there is no ring (e.g. a keyspace not using NTS)


class EstateSnapshot(_Record):
    """The whole estate of one target at one moment, as every check of a run sees it."""

    schema_version: int = SCHEMA_VERSION
    target: str
    taken_at: str
    cloudstack: Source
    cloudstack_version: str | None = None  # listCapabilities' cloudstackversion (the upgrade gate compares it)
    zones: tuple[Zone, ...] = ()
    pods: tuple[Pod, ...] = ()
    clusters: tuple[Cluster, ...] = ()
    hosts: tuple[HostRecord, ...] = ()  # Routing hosts of the target's zones, sorted by name
    vms: tuple[VmRecord, ...] = ()
    cassandra: CassandraPart | None = None  # None: the target has no cassandra section
    read_seconds: float = Field(default=0.0, description="wall time of the live reads")

    # -- views -------------------------------------------------------------------------------
    @property
    def complete_and_live(self) -> bool:
        """Every part read live, without a problem, and not empty: good enough to be the last good snapshot.

        Not empty: a live answer with no host (agents reconnecting, a database restored) or no
        ring must not replace the snapshot an incident will need."""
        cass = self.cassandra
        return (self.cloudstack.live and self.cloudstack.problem is None and bool(self.hosts) and bool(self.zones)
                and (cass is None or (cass.source.live and cass.source.problem is None
                                      and bool(cass.nodes) and cass.ring is not None)))

    def host_by_id(self) -> dict[str, HostRecord]:
        return {h.id: h for h in self.hosts}

    def vm_by_ip(self) -> dict[str, VmRecord]:
        return {ip: vm for vm in self.vms for ip in vm.ips}

    def racks_per_dc(self) -> dict[str, int]:
        """Racks holding at least one enabled hypervisor, per datacenter."""
        racks: dict[str, set[str]] = {}
        for h in self.hosts:
            if h.enabled:
                racks.setdefault(h.datacenter, set()).add(h.rack)
        return {dc: len(r) for dc, r in racks.items()}

    def placement_estate(
        self,
        flash_gib: dict[str, int] | None = None,
        offering_flash_gib: dict[str, int] | None = None,
    ) -> PlacementEstate:
        """The placement engine's view: every host with what already runs on it.

        CPU is in MHz, what CloudStack's allocator counts (cores x clock), and capacities are what
        it may hand out (with overprovisioning) when listHosts says so. CloudStack knows nothing of
        the flash cards: ``flash_gib`` gives each host's usable flash by host id (read over SSH,
        cloudgate.allocate.flash), and ``offering_flash_gib`` what one VM of an offering occupies.
        """
        per_offering = offering_flash_gib or {}
        by_host: dict[str, list[ExistingVM]] = {}
        for vm in self.vms:
            if vm.host_id and vm.state in ACTIVE_VM_STATES:
                by_host.setdefault(vm.host_id, []).append(
                    ExistingVM(id=vm.name, cpu=vm.cpu_mhz, memory_mib=vm.memory_mib,
                               flash_gib=per_offering.get(vm.offering, 0), group=vm.group)
                )
        hosts = [
            PlacementHost(
                id=h.id, datacenter=h.datacenter, rack=h.rack, cpu=h.cpu_allocatable_mhz or h.cpu_mhz,
                memory_mib=h.memory_allocatable_mib or h.memory_mib, flash_gib=(flash_gib or {}).get(h.id, 0),
                state="maintenance" if h.in_maintenance else "enabled" if h.enabled else "down",
                vms=by_host.get(h.id, []),
            )
            for h in self.hosts
        ]
        return PlacementEstate(hosts=sorted(hosts, key=lambda h: h.id), cpu_unit="MHz")

    # -- provenance, for every report ---------------------------------------------------------
    def provenance(self) -> dict[str, object]:
        """Where the hosts and nodes came from, for summary.json, metrics.json and junit."""
        out: dict[str, object] = {
            "taken_at": self.taken_at, "hosts": len(self.hosts), "vms": len(self.vms),
            "cloudstack": {**self.cloudstack.model_dump(exclude_none=True),
                           "age_seconds": round(self.cloudstack.age_seconds(), 1)},
        }
        if self.cassandra is not None:
            out["cassandra_nodes"] = len(self.cassandra.nodes)
            out["cassandra"] = {**self.cassandra.source.model_dump(exclude_none=True),
                                "age_seconds": round(self.cassandra.source.age_seconds(), 1)}
        return out

    def provenance_lines(self) -> list[str]:
        lines = [self.cloudstack.describe(f"{len(self.hosts)} hosts and {len(self.vms)} VMs")]
        if self.cassandra is not None:
            lines.append(self.cassandra.source.describe(f"{len(self.cassandra.nodes)} Cassandra nodes"))
        return lines
