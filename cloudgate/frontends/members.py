"""Which VMs make up a front service in each datacenter, as CloudStack lists them.

The target file says how the operators find them (a host anti-affinity group per datacenter, a name
pattern, or a resource tag): the suite never guesses. The VM's zone gives its datacenter. Pure: a
function of the estate snapshot's VMs, so the checks that compare haproxy with CloudStack, or judge
dispersion, read the same membership.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cloudgate.estate import VmRecord
from cloudgate.target import Datacenter, FrontService, FrontVmSelector


@dataclass(frozen=True)
class FrontMember:
    """One VM of a service: its name, address, the physical host it runs on and its state."""

    name: str
    ip: str
    host_id: str | None
    host_name: str | None
    state: str


def _matches(selector: FrontVmSelector, vm: VmRecord, dc: str) -> bool:
    group = selector.group_for(dc)
    if group is not None:
        return group in vm.affinity_groups
    if selector.name_pattern is not None:
        return re.fullmatch(selector.name_pattern, vm.name) is not None
    return selector.tag is not None and selector.tag in vm.tags


def members(service: FrontService, dc: Datacenter, vms: Iterable[VmRecord]) -> list[FrontMember]:
    """The service's VMs in datacenter `dc` (its zone), sorted by name; a VM without an address is kept
    with ip "" so that its absence from haproxy is still named."""
    found = [
        FrontMember(vm.name, vm.ips[0] if vm.ips else "", vm.host_id, vm.host_name, vm.state)
        for vm in vms
        if vm.zone == dc.zone and _matches(service.vms, vm, dc.name)
    ]
    return sorted(found, key=lambda m: m.name)


def vm_with_address(vms: Sequence[VmRecord], address: str) -> VmRecord | None:
    """The VM holding `address` on one of its NICs (a haproxy node is named by its address)."""
    return next((vm for vm in vms if address in vm.ips), None)
