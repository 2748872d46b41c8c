"""Data model of the placement engine: the estate (physical hosts and what runs on them) and a
request (new VMs, grouped, counted per datacenter).

Sizes are integers in the units CloudStack offerings use (cores, MiB, GiB) so that capacity
arithmetic never drifts. Overprovisioning factors may be fractional (CloudStack's
``cpu.overprovisioning.factor`` / ``mem.overprovisioning.factor``); the effective capacity of a host is
``floor(physical * factor)`` computed exactly with fractions. Flash is never overprovisioned.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

#: The resources every host offers and every VM consumes, in this order everywhere (arrays, tables).
RESOURCES: tuple[str, str, str] = ("cpu", "memory_mib", "flash_gib")

HostState = Literal["enabled", "maintenance", "down"]
NonNegInt = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Size(_Strict):
    """Resources one VM needs: cores, MiB of memory, GiB of flash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu: NonNegInt
    memory_mib: NonNegInt
    flash_gib: NonNegInt = 0

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.cpu, self.memory_mib, self.flash_gib)


class ExistingVM(_Strict):
    """A VM already running on a host. ``group`` is its anti-affinity group (e.g. a Cassandra ring)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(min_length=1, validation_alias=AliasChoices("id", "name"))
    cpu: NonNegInt
    memory_mib: NonNegInt
    flash_gib: NonNegInt = 0
    group: str | None = None

    def size(self) -> tuple[int, int, int]:
        return (self.cpu, self.memory_mib, self.flash_gib)


class Host(_Strict):
    """A physical hypervisor host as CloudStack reports it (``id`` is the hostid used to deploy)."""

    id: str = Field(min_length=1)
    datacenter: str = Field(min_length=1)
    rack: str = Field(min_length=1)
    cpu: NonNegInt
    memory_mib: NonNegInt
    flash_gib: NonNegInt = 0
    state: HostState = "enabled"
    vms: list[ExistingVM] = Field(default_factory=list)


class Overprovisioning(_Strict):
    """CloudStack-style overprovisioning factors (1.0 = none). Flash has no factor on purpose."""

    cpu: float = Field(default=1.0, gt=0)
    memory: float = Field(default=1.0, gt=0)


class Estate(_Strict):
    """Every host of the cloud (both datacenters) with its current VMs."""

    hosts: list[Host]
    overprovisioning: Overprovisioning = Field(default_factory=Overprovisioning)
    #: What the ``cpu`` figures count: cores in hand-written estates, MHz in one read from
    #: CloudStack (its allocator checks cores x clock). Only messages use it; the rules do not care.
    cpu_unit: Literal["cores", "MHz"] = "cores"

    @model_validator(mode="after")
    def _unique_ids(self) -> Estate:
        seen_hosts: dict[str, int] = {}
        seen_vms: dict[str, str] = {}
        for i, host in enumerate(self.hosts):
            if host.id in seen_hosts:
                raise ValueError(
                    f"hosts[{i}].id: duplicate host id {host.id!r} (also hosts[{seen_hosts[host.id]}])"
                )
            seen_hosts[host.id] = i
            for vm in host.vms:
                if vm.id in seen_vms:
                    raise ValueError(
                        f"hosts[{i}].vms: duplicate VM id {vm.id!r} (also on host {seen_vms[vm.id]!r})"
                    )
                seen_vms[vm.id] = host.id
        return self

    def effective_capacity(self, host: Host) -> tuple[int, int, int]:
        """Capacity after overprovisioning, rounded down exactly (no float drift)."""
        return effective_capacity(host, *self.factors())

    def factors(self) -> tuple[Fraction, Fraction]:
        """The CPU and memory overprovisioning factors as exact fractions (of their decimal text)."""
        return Fraction(str(self.overprovisioning.cpu)), Fraction(str(self.overprovisioning.memory))

    def host(self, host_id: str) -> Host:
        for host in self.hosts:
            if host.id == host_id:
                return host
        raise KeyError(host_id)

    def datacenters(self) -> list[str]:
        return sorted({h.datacenter for h in self.hosts})


def effective_capacity(host: Host, cpu_factor: Fraction, memory_factor: Fraction) -> tuple[int, int, int]:
    """A host's capacity after overprovisioning, rounded down exactly; flash has no factor."""
    return (math.floor(cpu_factor * host.cpu), math.floor(memory_factor * host.memory_mib), host.flash_gib)


class GroupRequest(_Strict):
    """New VMs of one anti-affinity group, all of one size, counted per datacenter.

    A Cassandra ring with RF 3 in two DCs is ``per_dc: {dc1: 3, dc2: 3}``. A group of size one is a
    plain VM with no anti-affinity partner.
    """

    group: str = Field(min_length=1)
    size: Size
    per_dc: dict[str, NonNegInt]
    name_prefix: str | None = Field(default=None, min_length=1)

    def total(self) -> int:
        return sum(self.per_dc.values())


class Request(_Strict):
    """A batch of groups to place in one go (placing them together lets the engine look ahead)."""

    groups: list[GroupRequest]
    #: Hosts the operator does not want used for this request (e.g. suspected hardware), by host id.
    avoid_hosts: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_groups(self) -> Request:
        seen: dict[str, int] = {}
        for i, g in enumerate(self.groups):
            if g.group in seen:
                raise ValueError(
                    f"groups[{i}].group: group {g.group!r} appears twice (also groups[{seen[g.group]}])"
                )
            seen[g.group] = i
        return self


class VMSpec(BaseModel):
    """One VM to place: its name, group (None = no anti-affinity), datacenter and size."""

    model_config = ConfigDict(frozen=True)

    name: str
    group: str | None
    datacenter: str
    cpu: int
    memory_mib: int
    flash_gib: int

    def size(self) -> tuple[int, int, int]:
        return (self.cpu, self.memory_mib, self.flash_gib)


class SpreadNote(BaseModel):
    """A group left more unevenly spread than one member per rack, and why that is the best there is.

    Only written when no placement reaches an imbalance of at most 1 (rules.py): the plan says so
    instead of refusing, and says whether the imbalance is proven minimal.
    """

    model_config = ConfigDict(frozen=True)

    group: str
    datacenter: str
    imbalance: int
    per_rack: dict[str, int]
    open_racks: list[str]
    proven_minimal: bool
    message: str


class PlacementResult(BaseModel):
    """Outcome of a placement or evacuation.

    ``assignments`` maps each VM name to a host id, in the order the VMs were requested. When
    ``feasible`` is False nothing should be deployed and ``reason`` names the binding constraint.
    """

    feasible: bool
    assignments: dict[str, str] = Field(default_factory=dict)
    reason: str | None = None
    vms: list[VMSpec] = Field(default_factory=list)
    method: str = ""
    evacuated_host: str | None = None
    spread: list[SpreadNote] = Field(default_factory=list)

    def unplaced(self) -> list[str]:
        return [vm.name for vm in self.vms if vm.name not in self.assignments]
