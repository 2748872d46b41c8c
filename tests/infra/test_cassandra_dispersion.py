"""Replica dispersion: copies of the same data never share a physical host, and survive one host.

The ring and each range's replicas come from cassandra-driver (the probe keyspace's replication);
each node is mapped to its VM and physical host through CloudStack. Read-only: in the smoke profile.
A failure groups the offending ranges by cause and quotes one range of each, so the operator sees
which VMs to move and off which host.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from cloudgate.cassandra.ring import (
    RingView,
    describe_replicas,
    quorum,
    replicas_per_dc,
    shared_hosts,
    unplaced_problem,
)
from cloudgate.estate import TokenRange

pytestmark = pytest.mark.smoke


def fail_grouped(target_name: str, what: str, found: dict[str, list[TokenRange]], ring: RingView, total: int) -> None:
    """One line: each cause with how many ranges it hits and one example range."""
    if not found:
        return
    hit = len({id(r) for ranges in found.values() for r in ranges})
    causes = "; ".join(
        f"{cause} in {len(ranges)} range(s), e.g. {describe_replicas(ranges[0], ring.placements)}"
        for cause, ranges in sorted(found.items(), key=lambda kv: -len(kv[1]))
    )
    pytest.fail(f"{target_name}: {what} — {hit} of {total} token ranges: {causes}", pytrace=False)


@pytest.mark.check(id="CG-CASS-001", severity="critical", tier="cassandra", plane="data")
def test_every_cassandra_node_runs_on_a_vm_known_to_cloudstack(cassandra_ring, target):
    unknown = sorted(p.address for p in cassandra_ring.placements.values() if p.host is None)
    assert not unknown, f"{target.name}: Cassandra node(s) {unknown} match no VM NIC in CloudStack: dispersion cannot be verified"


@pytest.mark.check(id="CG-CASS-002", severity="critical", tier="cassandra", plane="data")
def test_no_two_replicas_of_a_token_range_share_a_physical_host(cassandra_ring, target):
    assert not (problem := unplaced_problem(cassandra_ring, target.name)), problem
    found: dict[str, list[TokenRange]] = defaultdict(list)
    for rng in cassandra_ring.ranges:
        for host, vms in shared_hosts(rng, cassandra_ring.placements).items():
            found[f"host {host} holds replicas {'+'.join(sorted(vms))}"].append(rng)
    fail_grouped(target.name, "replicas of the same data share a physical host", found, cassandra_ring, len(cassandra_ring.ranges))


@pytest.mark.check(id="CG-CASS-003", severity="major", tier="cassandra", plane="data")
def test_replicas_of_a_range_sit_on_distinct_racks_where_a_dc_has_enough_racks(cassandra_ring, target):
    ring = cassandra_ring
    assert not (problem := unplaced_problem(ring, target.name)), problem
    unknown = sorted({p.host for p in ring.placements.values() if p.host and p.host_rack in (None, "?")})
    assert not unknown, (
        f"{target.name}: rack unknown for host(s) {unknown}: fix the target's racks rule (source/tag_prefix/pattern)"
    )
    found: dict[str, list[TokenRange]] = defaultdict(list)
    for rng in ring.ranges:
        for dc, rf in ring.replication.items():
            if ring.racks_per_dc.get(dc, 0) < rf:
                continue  # fewer racks than replicas: sharing a rack is unavoidable there
            racks = Counter(ring.placements[a].host_rack for a in rng.replicas if ring.placements[a].datacenter == dc)
            for rack, n in racks.items():
                if n > 1:
                    found[f"rack {rack} ({dc}, {ring.racks_per_dc[dc]} racks) holds {n} replicas"].append(rng)
    fail_grouped(target.name, "replicas share a rack", found, ring, len(ring.ranges))


@pytest.mark.check(id="CG-CASS-004", severity="critical", tier="cassandra", plane="data")
def test_each_datacenter_holds_its_replication_factor(cassandra_ring, target):
    ring = cassandra_ring
    found: dict[str, list[TokenRange]] = defaultdict(list)
    for rng in ring.ranges:
        counts = replicas_per_dc(rng, ring.placements)
        for dc, rf in ring.replication.items():
            if counts.get(dc, 0) < rf:
                found[f"{dc} has {counts.get(dc, 0)} of {rf} replicas"].append(rng)
    fail_grouped(target.name, "under-replicated datacenters", found, ring, len(ring.ranges))


@pytest.mark.check(id="CG-CASS-005", severity="critical", tier="cassandra", plane="data")
def test_losing_any_single_physical_host_keeps_every_range_at_local_quorum(cassandra_ring, target):
    ring = cassandra_ring
    assert not (problem := unplaced_problem(ring, target.name)), problem
    found: dict[str, list[TokenRange]] = defaultdict(list)
    for host in sorted({p.host for p in ring.placements.values() if p.host}):
        for rng in ring.ranges:
            survivors = Counter(ring.placements[a].datacenter for a in rng.replicas if ring.placements[a].host != host)
            for dc, rf in ring.replication.items():
                if rf and survivors.get(dc, 0) < quorum(rf):
                    found[f"losing host {host} leaves {dc} {survivors.get(dc, 0)}/{rf} replicas (< LOCAL_QUORUM)"].append(rng)
    fail_grouped(target.name, "one host failure breaks LOCAL_QUORUM", found, ring, len(ring.ranges))
