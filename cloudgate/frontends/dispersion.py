"""Is a datacenter's front tier spread so that one physical host's loss keeps the promised capacity?

The operators' lesson from Cassandra, applied to the front ends: VMs placed by hand end up stacked.
Pure judge over where the members run (CloudStack's view) and the datacenter's usable hosts.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

from cloudgate.frontends.members import FrontMember


def dispersion_problems(dc: str, service: str, running: Sequence[FrontMember], rack_of: Mapping[str, str],
                        usable_hosts: int, min_servers: int) -> list[str]:
    """One line per broken rule, naming the hosts that hold too much.

    Rules: at least 2 hosts and 2 racks when there are 2 members or more; at most ceil(n/h) members on
    one host (h = the datacenter's usable hosts); after losing the busiest host, at least `min_servers`.
    """
    placed = [m for m in running if m.host_id]
    if not placed:
        return [f"{service} in {dc}: no running front VM found in CloudStack"]
    per_host = Counter(m.host_id for m in placed)
    names = {m.host_id: m.host_name or m.host_id for m in placed}
    members_on = {h: sorted(m.name for m in placed if m.host_id == h) for h in per_host}
    problems = []
    n = len(placed)
    racks = {rack_of.get(h or "", "?") for h in per_host}
    if n >= 2 and len(per_host) < 2:
        only = next(iter(per_host))
        problems.append(f"{service} in {dc}: all {n} front VMs on one host {names[only]} ({', '.join(members_on[only])})")
    elif n >= 2 and len(racks) < 2:
        problems.append(f"{service} in {dc}: all {n} front VMs in one rack {next(iter(racks))}")
    ceiling = math.ceil(n / max(1, usable_hosts))
    for host, count in sorted(per_host.items(), key=lambda kv: (-kv[1], names[kv[0]])):
        if count > ceiling and len(per_host) >= 2:
            problems.append(f"{service} in {dc}: host {names[host]} runs {count} front VMs "
                            f"({', '.join(members_on[host])}); at most {ceiling} with {usable_hosts} usable hosts")
    busiest, most = per_host.most_common(1)[0]
    if n - most < min_servers:
        problems.append(f"{service} in {dc}: losing host {names[busiest]} leaves {n - most} of {n} front servers, "
                        f"below the promised {min_servers}")
    return problems


def pair_on_distinct_hosts(dc: str, host_by_node: Mapping[str, str | None]) -> list[str]:
    """The haproxy nodes of a datacenter must not share a host (one power-off would take the front door)."""
    seen: dict[str, str] = {}
    problems = []
    for node, host in sorted(host_by_node.items()):
        if host is None:
            problems.append(f"haproxy node {node} ({dc}): not found among CloudStack's VMs")
            continue
        if host in seen:
            problems.append(f"haproxy nodes {seen[host]} and {node} ({dc}) run on the same host {host}")
        else:
            seen[host] = node
    return problems
