"""The lab's shape: datacenters > racks (CloudStack pods) > hypervisor hosts, with fixed addresses.

Addressing (all inside 198.18.0.0/15, the range reserved for benchmarking, never routed):
  datacenter n uses 198.18.n.0/24 on bridge `cgdc<n>`;
  .1 is the inter-datacenter router namespace `cg-wan`, .254 the root namespace (the suite's side);
  host h of rack r is .<10*r + h> (dc1-r1-h1 = 198.18.1.11);
  guests get .100-.199 from the simulator, .200-.250 when deployVirtualMachine names an ipaddress.
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
    dcs: list[LabDatacenter] = []
    hosts: list[LabHost] = []
    for i, dc in enumerate(target.datacenters, start=1):
        racks = [f"{dc.name}-r{r}" for r in range(1, section.racks_per_dc + 1)]
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
                        ip=f"198.18.{i}.{10 * r + h}",
                        netns=f"{NETNS_PREFIX}{name}",
                        cpu_cores=section.host_cpu_cores,
                        cpu_mhz=2400,
                        memory_mib=section.host_memory_mib,
                        flash_gib=section.host_flash_gib,
                    )
                )
    return LabTopology(dcs, hosts, section.api_port, section.boot_delay_seconds)
