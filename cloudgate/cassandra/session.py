"""Cassandra from the suite's side: sessions, and the ring's replica sets as the driver computes them.

Everything goes through the real `cassandra-driver` (token-aware, DC-aware, as the applications
use it): the replicas of a token range are the driver's own computation from the ring and the
keyspace's replication. Mapping nodes to VMs and hosts is the estate snapshot's job
(cloudgate.snapshot); no knowledge of the lab is used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.metadata import NetworkTopologyStrategy
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

from cloudgate.cassandra.cqlguard import ReadOnlyCluster, ReadOnlySession
from cloudgate.errors import CassandraError  # defined there: the plugin must not load the driver
from cloudgate.estate import TokenRange
from cloudgate.target import Target, require_env


def _quiet_driver() -> None:
    # the driver logs reconnection tracebacks at WARNING/ERROR; the checks report the cause themselves
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)


@contextmanager
def session(target: Target, keyspace: str | None = None, *, writes: bool = False) -> Iterator[tuple[Cluster, Session]]:
    """A connected session with the applications' routing (token-aware over DC-aware, local DC).

    Read-only unless ``writes`` (see cloudgate.cassandra.cqlguard): only destructive checks ask for writes."""
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


# --------------------------------------------------------------------------- the ring, as the driver computes it
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


def _token_value(token: object) -> int | str:
    value = getattr(token, "value", token)
    return value if isinstance(value, int) else str(value)


def token_ranges(cluster: Cluster, replication: dict[str, int]) -> list[TokenRange]:
    """Every range of the ring with its replicas, computed by the driver's own NTS implementation."""
    token_map = cluster.metadata.token_map
    if token_map is None or not token_map.ring:
        raise CassandraError("the driver has no token map (token metadata off or empty ring)")
    strategy = NetworkTopologyStrategy({dc: str(rf) for dc, rf in replication.items()})
    replica_map = strategy.make_token_replica_map(token_map.token_to_host_owner, token_map.ring)
    ring = token_map.ring
    return [
        TokenRange(start=_token_value(ring[i - 1]), end=_token_value(token),
                   replicas=tuple(h.address for h in replica_map.get(token, ())))
        for i, token in enumerate(ring)
    ]
