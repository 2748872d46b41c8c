"""The lab's shape: datacenters > racks (CloudStack pods) > hypervisor hosts, with fixed addresses.

Addressing (all inside 198.18.0.0/15, the range reserved for benchmarking, never routed):
  datacenter n uses 198.18.n.0/24 on bridge `cgdc<n>`;
  .1 is the inter-datacenter router namespace `cg-wan`, .254 the root namespace (the suite's side);
  host h of rack r is .<10*r + h> (dc1-r1-h1 = 198.18.1.11);
  guests get .100-.199 from the simulator, .200-.250 when deployVirtualMachine names an ipaddress.
A lab larger than that plan holds (more than 8 racks per DC or 9 hosts per rack: the fleet-size labs
of `cloudgate bench hosts`) keeps the per-DC /24 for the gateway, the root namespace and the guests,
and puts its hosts in 198.19.0.0/16, on the same bridge: datacenter n owns 198.19.<64(n-1)>.0/18,
whose .1 is cg-wan and .254 the root namespace, and host h of rack r is 198.19.<64(n-1) + r>.<h>.
Network namespaces are named `cg-<host>` for hosts and `cg-vm-<n>` for guests, so `lab down` can find
every one it made by prefix.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cloudgate.target import LabSection, Target

NETNS_PREFIX = "cg-"
WAN_NETNS = "cg-wan"
SMALL_RACKS, SMALL_HOSTS_PER_RACK = 8, 9  # the /24 plan's room: hosts .11-.89
FLEET_DATACENTERS, FLEET_RACKS, FLEET_HOSTS_PER_RACK = 4, 63, 250  # 198.19.0.0/16 in four /18s


@dataclass(frozen=True)
class LabHost:
    name: str  # dc1-r1-h1
    dc: str  # dc1
    dc_index: int  # 1
    zone: str  # lab-dc1
    rack: str  # dc1-r1 (also the CloudStack pod name)
    cluster: str  # dc1-r1-pool (one XenServer pool per pod)
    ip: str  # 198.18.1.11
    netns: str  # cg-dc1-r1-h1
    cpu_cores: int
    cpu_mhz: int
    memory_mib: int
    flash_gib: int


@dataclass(frozen=True)
class LabDatacenter:
    name: str
    index: int
    zone: str
    subnet: str  # 198.18.1.0/24
    bridge: str  # cgdc1
    gateway: str  # 198.18.1.1 (router namespace)
    root_ip: str  # 198.18.1.254 (root namespace: where the suite runs)
    racks: list[str] = field(default_factory=list)
    # Where the hosts live: the DC's /24 above, or in a fleet-size lab its /18 of 198.19.0.0/16.
    host_prefix: int = 24
    host_gateway: str = ""  # "" = gateway
    host_root_ip: str = ""  # "" = root_ip

    @property
    def hosts_gateway(self) -> str:
        return self.host_gateway or self.gateway

    @property
    def hosts_root_ip(self) -> str:
        return self.host_root_ip or self.root_ip

    @property
    def fleet_addressing(self) -> bool:
        return bool(self.host_gateway)


@dataclass(frozen=True)
class LabTopology:
    datacenters: list[LabDatacenter]
    hosts: list[LabHost]
    api_port: int
    boot_delay_seconds: float

    def host(self, name: str) -> LabHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(f"no lab host named {name!r} (known: {', '.join(h.name for h in self.hosts)})")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> LabTopology:
        raw = json.loads(text)
        return cls(
            datacenters=[LabDatacenter(**d) for d in raw["datacenters"]],
            hosts=[LabHost(**h) for h in raw["hosts"]],
            api_port=raw["api_port"],
            boot_delay_seconds=raw["boot_delay_seconds"],
        )

    @classmethod
    def load(cls, path: Path) -> LabTopology:
        return cls.from_json(path.read_text())


def build_topology(target: Target) -> LabTopology:
    """Derive the lab's hosts and addresses from a lab target file (its datacenters and lab section)."""
    section = target.lab or LabSection()
    fleet = is_fleet_size(section.racks_per_dc, section.hosts_per_rack + (1 if section.extra_hosts_first_racks else 0))
    if fleet and len(target.datacenters) > FLEET_DATACENTERS:
        raise ValueError(f"a lab this large holds at most {FLEET_DATACENTERS} datacenters")
    dcs: list[LabDatacenter] = []
    hosts: list[LabHost] = []
    for i, dc in enumerate(target.datacenters, start=1):
        racks = [f"{dc.name}-r{r}" for r in range(1, section.racks_per_dc + 1)]
        base = fleet_base(i)
        dcs.append(
            LabDatacenter(
                name=dc.name,
                index=i,
                zone=dc.zone,
                subnet=f"198.18.{i}.0/24",
                bridge=f"cgdc{i}",
                gateway=f"198.18.{i}.1",
                root_ip=f"198.18.{i}.254",
                racks=racks,
                host_prefix=18 if fleet else 24,
                host_gateway=f"198.19.{base}.1" if fleet else "",
                host_root_ip=f"198.19.{base}.254" if fleet else "",
            )
        )
        for r, rack in enumerate(racks, start=1):
            count = section.hosts_per_rack + (1 if r <= section.extra_hosts_first_racks else 0)
            for h in range(1, count + 1):
                name = f"{rack}-h{h}"
                hosts.append(
                    LabHost(
                        name=name,
                        dc=dc.name,
                        dc_index=i,
                        zone=dc.zone,
                        rack=rack,
                        cluster=f"{rack}-pool",
                        ip=f"198.19.{fleet_base(i) + r}.{h}" if fleet else f"198.18.{i}.{10 * r + h}",
                        netns=f"{NETNS_PREFIX}{name}",
                        cpu_cores=section.host_cpu_cores,
                        cpu_mhz=2400,
                        memory_mib=section.host_memory_mib,
                        flash_gib=section.host_flash_gib,
                    )
                )
    return LabTopology(dcs, hosts, section.api_port, section.boot_delay_seconds)


def is_fleet_size(racks_per_dc: int, hosts_per_rack: int) -> bool:
    """True when the /24 plan cannot hold the hosts (then they live in 198.19.0.0/16)."""
    return racks_per_dc > SMALL_RACKS or hosts_per_rack > SMALL_HOSTS_PER_RACK


def fleet_base(dc_index: int) -> int:
    """Third octet of datacenter `dc_index`'s /18 in 198.19.0.0/16 (0, 64, 128, 192)."""
    return 64 * (dc_index - 1)


def pod_ip_range(dc: LabDatacenter, rack_number: int) -> tuple[str, str]:
    """The addresses CloudStack's pod (rack) `rack_number` of `dc` gives its hosts."""
    if dc.fleet_addressing:
        third = fleet_base(dc.index) + rack_number
        return f"198.19.{third}.1", f"198.19.{third}.{FLEET_HOSTS_PER_RACK}"
    return f"198.18.{dc.index}.{10 * rack_number + 1}", f"198.18.{dc.index}.{10 * rack_number + 9}"
