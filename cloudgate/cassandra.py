"""Cassandra from the suite's side: sessions, ring → replica sets → VM → physical host, latency load.

Everything goes through the real `cassandra-driver` (token-aware, DC-aware, as the applications
use it) and the CloudStack API: the replicas of a token range are the driver's own computation
from the ring and the keyspace's replication, and a node's physical host is what CloudStack says
runs its VM. No knowledge of the lab is used.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.metadata import NetworkTopologyStrategy
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

from cloudgate.cloud import CloudStackClient
from cloudgate.cqlguard import ReadOnlyCluster, ReadOnlySession
from cloudgate.hosts import discover_hypervisors
from cloudgate.target import Target, require_env
from cloudgate.topology import read_vms


class CassandraError(Exception):
    """A Cassandra step failed; str() is one line naming the target and the cause."""


def _quiet_driver() -> None:
    # the driver logs reconnection tracebacks at WARNING/ERROR; the checks report the cause themselves
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)


@contextmanager
def session(target: Target, keyspace: str | None = None, *, writes: bool = False) -> Iterator[tuple[Cluster, Session]]:
    """A connected session with the applications' routing (token-aware over DC-aware, local DC).

    Read-only unless ``writes`` (see cloudgate.cqlguard): only destructive checks ask for writes."""
    cfg = target.cassandra
    if cfg is None:
        raise CassandraError(f"{target.name}: the target file has no cassandra section")
    _quiet_driver()
    contact = [a for dc in (cfg.local_dc, *cfg.contact_points) for a in cfg.contact_points.get(dc, [])]
    contact = list(dict.fromkeys(contact))
    auth = None
    if cfg.username_env and cfg.password_env:
        from cassandra.auth import PlainTextAuthProvider

        auth = PlainTextAuthProvider(require_env(cfg.username_env, target.name), require_env(cfg.password_env, target.name))
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=cfg.local_dc)),
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        request_timeout=10,
    )
    cluster = Cluster(
        contact, port=cfg.port, protocol_version=4, auth_provider=auth,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile}, connect_timeout=cfg.connect_timeout_seconds,
        control_connection_timeout=cfg.connect_timeout_seconds,
    )
    try:
        problem = None
        try:
            sess = cluster.connect(keyspace)
        except NoHostAvailable as exc:
            errors = sorted(exc.errors.items()) if isinstance(exc.errors, dict) else []
            causes = "; ".join(f"{addr}: {_short(err)}" for addr, err in errors[:6]) or _short(exc)
            causes += f"; +{len(errors) - 6} more" if len(errors) > 6 else ""
            problem = f"{target.name}: no Cassandra contact point answered ({causes})"
        # checked even when connect failed: a wrong local DC leaves the driver no host to query
        dcs = sorted({h.datacenter for h in cluster.metadata.all_hosts() if h.datacenter})
        if dcs and cfg.local_dc not in dcs:
            problem = f"{target.name}: cassandra.local_dc {cfg.local_dc!r} is not a datacenter of the cluster (it has {dcs})"
        if problem:
            raise CassandraError(problem)
        if writes:
            yield cluster, sess
        else:
            yield cast(Cluster, ReadOnlyCluster(cluster, target.name)), cast(Session, ReadOnlySession(sess, target.name))
    finally:
        cluster.shutdown()


def _short(err: object) -> str:
    text = str(err)
    for marker in ("Connection refused", "timed out", "Timed out", "No route to host", "unreachable"):
        if marker in text:
            return marker
    return text.splitlines()[0][:120] if text else type(err).__name__


# --------------------------------------------------------------------------- ring → replicas → hosts
@dataclass(frozen=True)
class NodePlacement:
    address: str
    cassandra_dc: str
    cassandra_rack: str
    vm: str | None
    host: str | None
    host_rack: str | None
    host_dc: str | None


@dataclass(frozen=True)
class TokenRange:
    start: object
    end: object
    replicas: tuple[str, ...]  # node addresses

    def __str__(self) -> str:
        return f"({self.start.value if hasattr(self.start, 'value') else self.start}, " \
               f"{self.end.value if hasattr(self.end, 'value') else self.end}]"


def replication_of(cluster: Cluster, target: Target) -> dict[str, int]:
    """The probe keyspace's NTS factors, or the target's RF per DC if the keyspace does not exist yet."""
    cfg = target.cassandra
    assert cfg is not None
    ks = cluster.metadata.keyspaces.get(cfg.probe_keyspace)
    if ks is None:
        return {dc: cfg.replication_factor for dc in cfg.contact_points}
    strategy = ks.replication_strategy
    if not isinstance(strategy, NetworkTopologyStrategy):
        raise CassandraError(
            f"{target.name}: keyspace {cfg.probe_keyspace} uses {type(strategy).__name__}, not NetworkTopologyStrategy: "
            "its replicas ignore datacenters and racks; recreate it with NetworkTopologyStrategy"
        )
    return {dc: int(rf) for dc, rf in strategy.dc_replication_factors.items()}


def token_ranges(cluster: Cluster, replication: dict[str, int]) -> list[TokenRange]:
    """Every range of the ring with its replicas, computed by the driver's own NTS implementation."""
    token_map = cluster.metadata.token_map
    if token_map is None or not token_map.ring:
        raise CassandraError("the driver has no token map (token metadata off or empty ring)")
    strategy = NetworkTopologyStrategy({dc: str(rf) for dc, rf in replication.items()})
    replica_map = strategy.make_token_replica_map(token_map.token_to_host_owner, token_map.ring)
    ring = token_map.ring
    return [
        TokenRange(ring[i - 1], token, tuple(h.address for h in replica_map.get(token, ())))
        for i, token in enumerate(ring)
    ]


def place_nodes(cluster: Cluster, client: CloudStackClient, target: Target) -> dict[str, NodePlacement]:
    """Node address → VM (by NIC address) → physical host → rack and DC, from CloudStack."""
    hosts = {h.id: h for h in discover_hypervisors(client, target)}
    vm_by_ip = {vm.ip: vm for vm in read_vms(client) if vm.ip}
    placements = {}
    for node in cluster.metadata.all_hosts():
        vm = vm_by_ip.get(node.address)
        host = hosts.get(vm.host_id) if vm and vm.host_id else None
        placements[node.address] = NodePlacement(
            address=node.address, cassandra_dc=node.datacenter, cassandra_rack=node.rack,
            vm=vm.name if vm else None, host=host.name if host else (vm.host_name if vm else None),
            host_rack=host.rack if host else None, host_dc=host.datacenter if host else None,
        )
    return placements


def quorum(rf: int) -> int:
    return rf // 2 + 1


def describe_replicas(rng: TokenRange, placements: dict[str, NodePlacement]) -> str:
    parts = []
    for address in rng.replicas:
        p = placements.get(address)
        parts.append(f"{address}={p.vm}@{p.host}" if p else address)
    return f"range {rng}: {', '.join(parts)}"


def shared_hosts(rng: TokenRange, placements: dict[str, NodePlacement]) -> dict[str, list[str]]:
    """Physical hosts holding more than one replica of the range → the VMs there."""
    by_host: dict[str, list[str]] = {}
    for address in rng.replicas:
        p = placements.get(address)
        if p and p.host:
            by_host.setdefault(p.host, []).append(p.vm or address)
    return {h: vms for h, vms in by_host.items() if len(vms) > 1}


def replicas_per_dc(rng: TokenRange, placements: dict[str, NodePlacement]) -> Counter[str]:
    return Counter(placements[a].cassandra_dc for a in rng.replicas if a in placements)


@dataclass(frozen=True)
class RingView:
    """What the dispersion checks read once per run: ranges, their replicas, and where nodes run."""

    replication: dict[str, int]
    ranges: list[TokenRange]
    placements: dict[str, NodePlacement]
    racks_per_dc: dict[str, int]  # racks with an enabled hypervisor, per datacenter


def read_ring(target: Target, client: CloudStackClient) -> RingView:
    racks: dict[str, set[str]] = {}
    for h in discover_hypervisors(client, target):
        if h.state == "Up" and h.resourcestate == "Enabled":
            racks.setdefault(h.datacenter, set()).add(h.rack)
    with session(target) as (cluster, _):
        replication = replication_of(cluster, target)
        return RingView(
            replication, token_ranges(cluster, replication), place_nodes(cluster, client, target),
            {dc: len(r) for dc, r in racks.items()},
        )
