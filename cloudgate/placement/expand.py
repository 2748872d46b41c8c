"""Turn a request (groups counted per datacenter) into the flat list of VMs the solvers place.

Kept apart from the solvers so that the engine, the baselines and the exact solver all see exactly
the same VMs with the same names, in the same order.
"""

from __future__ import annotations

from .errors import PlacementInputError
from .model import Estate, Request, VMSpec


def validate_request(estate: Estate, request: Request, source: str = "request") -> None:
    """Reject references the estate cannot satisfy by construction (unknown DC or host)."""
    dcs = set(estate.datacenters())
    host_ids = {h.id for h in estate.hosts}
    for i, g in enumerate(request.groups):
        for dc in g.per_dc:
            if dc not in dcs:
                known = ", ".join(sorted(dcs)) or "none"
                raise PlacementInputError(
                    source, f"groups[{i}].per_dc.{dc}: unknown datacenter {dc!r} (the estate has {known})"
                )
    for i, hid in enumerate(request.avoid_hosts):
        if hid not in host_ids:
            raise PlacementInputError(source, f"avoid_hosts[{i}]: unknown host {hid!r}")


def expand_request(estate: Estate, request: Request) -> list[VMSpec]:
    """One VMSpec per new VM, named ``<prefix>-<dc>-<n>`` (n from 1, skipping names already in use)."""
    taken = {vm.id for h in estate.hosts for vm in h.vms}
    out: list[VMSpec] = []
    for g in request.groups:
        prefix = g.name_prefix or g.group
        for dc in sorted(g.per_dc):
            n = 0
            for _ in range(g.per_dc[dc]):
                n += 1
                while f"{prefix}-{dc}-{n}" in taken:
                    n += 1
                name = f"{prefix}-{dc}-{n}"
                taken.add(name)
                out.append(
                    VMSpec(
                        name=name,
                        group=g.group,
                        datacenter=dc,
                        cpu=g.size.cpu,
                        memory_mib=g.size.memory_mib,
                        flash_gib=g.size.flash_gib,
                    )
                )
    return out
