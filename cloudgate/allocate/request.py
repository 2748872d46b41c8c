"""A request against the live cloud: groups name a CloudStack service offering, not a hand-made size.

On the real cloud the size of a VM *is* its offering: CPU (cores x MHz, what the allocator counts)
and memory come from listServiceOfferings, so the plan and deployVirtualMachine agree by
construction. Flash is the one figure CloudStack does not hold, so the request states it::

    groups:
      - group: cass-prod                # the host anti-affinity group (created if missing)
        offering: Cassandra             # service offering name
        flash_gib: 200                  # local flash one VM needs (0 for none)
        template: Cassandra 4.1 node    # optional; default: the target's deploy.template
        per_dc: {dc1: 3, dc2: 3}
    avoid_hosts: [dc1-r2-h1]            # host names (or ids) not to use

Every problem is one line naming the file, as for hand-written requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cloudgate.placement.errors import PlacementInputError
from cloudgate.placement.loading import parse, read_document
from cloudgate.placement.model import Estate, GroupRequest, Request, Size


class LiveGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    offering: str = Field(min_length=1)
    flash_gib: int = Field(0, ge=0)
    template: str | None = Field(None, min_length=1)
    per_dc: dict[str, int]
    name_prefix: str | None = Field(None, pattern=r"^[a-z][a-z0-9-]{0,40}$")


class LiveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    groups: list[LiveGroup] = Field(min_length=1)
    avoid_hosts: list[str] = Field(default_factory=list)


class Offering(BaseModel):
    """The part of a service offering the plan needs."""

    id: str
    name: str
    cpu_mhz: int
    memory_mib: int


def offering_of(record: dict[str, Any]) -> Offering:
    return Offering(id=str(record.get("id")), name=str(record.get("name")),
                    cpu_mhz=int(record.get("cpunumber", 0)) * int(record.get("cpuspeed", 0)),
                    memory_mib=int(record.get("memory", 0)))


def load_live_request(path: str | Path) -> LiveRequest:
    data = read_document(path)
    if isinstance(data, dict):
        for i, g in enumerate(data.get("groups") or []):
            if isinstance(g, dict) and "size" in g and "offering" not in g:
                raise PlacementInputError(str(path), f"groups[{i}]: with --target, name the service offering "
                                                     "(offering: NAME); the size comes from CloudStack")
    return parse(LiveRequest, data, str(path))


def to_request(live: LiveRequest, offerings: dict[str, Offering], estate: Estate,
               host_ids_by_name: dict[str, str], source: str) -> Request:
    """The engine's request: sizes from the offerings, avoided hosts by id (one line on a bad name)."""
    groups = []
    for i, g in enumerate(live.groups):
        off = offerings.get(g.offering)
        if off is None:
            known = ", ".join(sorted(offerings)) or "none"
            raise PlacementInputError(source, f"groups[{i}].offering: no service offering {g.offering!r} "
                                              f"in CloudStack (it has: {known})")
        groups.append(GroupRequest(group=g.group, name_prefix=g.name_prefix, per_dc=g.per_dc,
                                   size=Size(cpu=off.cpu_mhz, memory_mib=off.memory_mib, flash_gib=g.flash_gib)))
    known_ids = {h.id for h in estate.hosts}
    avoid = []
    for i, name in enumerate(live.avoid_hosts):
        hid = host_ids_by_name.get(name, name if name in known_ids else None)
        if hid is None:
            raise PlacementInputError(source, f"avoid_hosts[{i}]: no host {name!r} in the estate")
        avoid.append(hid)
    return Request(groups=groups, avoid_hosts=avoid)
