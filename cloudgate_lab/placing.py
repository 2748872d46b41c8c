"""Where the lab puts the VMs it deploys for itself: the placement engine's plan, over what CloudStack reports.

Why a module of its own: the Cassandra ring and the front tier are both deployed the way the
operators should deploy them (the engine's hosts, then a host anti-affinity group so later
migrations keep the rule), and neither deployment may import the other (the lab's layers).
"""

from __future__ import annotations

from typing import Any

from cloudgate.placement import place
from cloudgate.placement.model import GroupRequest, Request, Size
from cloudgate.target import Target


class PlacementError(Exception):
    """One line for the operator: the engine found no placement."""


def plan_hosts(client: Any, target: Target, groups: dict[str, dict[str, list[str]]],
               offering: dict[str, Any]) -> dict[str, str]:
    """VM name -> host id for each group (group -> datacenter -> VM names), all of `offering`'s size."""
    from cloudgate.estate import EstateSnapshot, Source
    from cloudgate.snapshot import read_cloudstack

    parts = read_cloudstack(client, target)
    estate = EstateSnapshot(target=target.name, taken_at="", cloudstack=Source(live=True, taken_at=""),
                            hosts=parts["hosts"], vms=parts["vms"]).placement_estate()
    size = Size(cpu=int(offering["cpunumber"]) * int(offering["cpuspeed"]), memory_mib=int(offering["memory"]))
    request = Request(groups=[
        GroupRequest(group=group, size=size, per_dc={dc: len(vms) for dc, vms in names.items()})
        for group, names in groups.items()
    ])
    result = place(estate, request)
    if not result.feasible:
        raise PlacementError(f"placement engine found no placement for {', '.join(groups)}: {result.reason}")
    by_group_dc: dict[tuple[str, str], list[str]] = {}
    for vm in result.vms:
        by_group_dc.setdefault((vm.group, vm.datacenter), []).append(result.assignments[vm.name])
    return {name: by_group_dc[(group, dc)][i]
            for group, names in groups.items() for dc, vms in names.items() for i, name in enumerate(vms)}
