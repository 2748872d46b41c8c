"""Reading the ring for dispersion: which physical hosts, racks and datacenters hold a range's replicas.

Pure functions over the estate snapshot (cloudgate.estate), shared by the dispersion checks so
each check asserts one promise and the arithmetic lives in one place.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from cloudgate.estate import CassandraNode, EstateSnapshot, TokenRange


@dataclass(frozen=True)
class RingView:
    """What the dispersion checks read: ranges, their replicas, and where each node runs."""

    replication: dict[str, int]
    ranges: tuple[TokenRange, ...]
    placements: dict[str, CassandraNode]  # node address -> node with its VM and host
    racks_per_dc: dict[str, int]  # racks with an enabled hypervisor, per datacenter

    @classmethod
    def of(cls, estate: EstateSnapshot) -> RingView | str:
        """The view, or the one-line reason there is none (no Cassandra part, no ring)."""
        cass = estate.cassandra
        if cass is None:
            return f"{estate.target}: the target file has no cassandra section"
        if cass.ring is None:
            return cass.ring_problem or f"{estate.target}: no ring was read"
        return cls(dict(cass.ring.replication), cass.ring.ranges, {n.address: n for n in cass.nodes},
                   estate.racks_per_dc())


def unplaced_replica_holders(ring: RingView) -> list[str]:
    """Nodes holding replicas whose physical host is unknown: with them, "no two replicas share a
    host" would pass on no evidence at all (a node with no host shares nothing)."""
    holders = {a for rng in ring.ranges for a in rng.replicas}
    return sorted(a for a in holders if a not in ring.placements or not ring.placements[a].host)


def unplaced_problem(ring: RingView, target_name: str) -> str | None:
    """One line naming the nodes whose host is unknown (a host-level check cannot be verified), or None."""
    unknown = unplaced_replica_holders(ring)
    if not unknown:
        return None
    return (f"{target_name}: physical host unknown for Cassandra node(s) {unknown} (no VM NIC in CloudStack "
            "matches their address): where their replicas sit cannot be verified")


def quorum(rf: int) -> int:
    return rf // 2 + 1


def describe_replicas(rng: TokenRange, placements: dict[str, CassandraNode]) -> str:
    parts = []
    for address in rng.replicas:
        p = placements.get(address)
        parts.append(f"{address}={p.vm}@{p.host}" if p else address)
    return f"range {rng}: {', '.join(parts)}"


def shared_hosts(rng: TokenRange, placements: dict[str, CassandraNode]) -> dict[str, list[str]]:
    """Physical hosts holding more than one replica of the range → the VMs there."""
    by_host: dict[str, list[str]] = {}
    for address in rng.replicas:
        p = placements.get(address)
        if p and p.host:
            by_host.setdefault(p.host, []).append(p.vm or address)
    return {h: vms for h, vms in by_host.items() if len(vms) > 1}


def replicas_per_dc(rng: TokenRange, placements: dict[str, CassandraNode]) -> Counter[str]:
    return Counter(placements[a].datacenter for a in rng.replicas if a in placements)


def ranges_without_quorum(ring: RingView, lost: set[str]) -> list[tuple[TokenRange, str, int, int]]:
    """Ranges that lose LOCAL_QUORUM in some DC when the nodes at `lost` addresses go:
    (range, dc, replicas left, replicas needed). What a host-loss drill's failure must name."""
    out = []
    for rng in ring.ranges:
        per_dc: dict[str, list[str]] = {}
        for address in rng.replicas:
            node = ring.placements.get(address)
            if node is not None:
                per_dc.setdefault(node.datacenter, []).append(address)
        for dc, holders in sorted(per_dc.items()):
            left = sum(1 for a in holders if a not in lost)
            needed = quorum(ring.replication.get(dc, len(holders)))
            if left < needed:
                out.append((rng, dc, left, needed))
    return out
