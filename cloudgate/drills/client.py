"""The drills' client: cassandra-driver sessions built as the operators' applications build theirs.

Availability is measured as the applications see it, so each client is configured from the target's
`cassandra.clients` entry (load-balancing policy, local DC, remote-DC hosts, consistency, request
timeout, heartbeat, retry and speculative execution), not as the suite likes it. A target that does
not describe its applications gets the driver's defaults, which is what an application that never
set them runs with.

`classify` turns a driver error into a history type, after Jepsen: *fail* only when the operation
certainly did not happen (Unavailable: the coordinator refused before writing; a read, which
changes nothing), *info* whenever a write may have been applied (any timeout, a lost connection).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from cassandra import ConsistencyLevel, Unavailable
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.policies import (
    ConstantSpeculativeExecutionPolicy,
    DCAwareRoundRobinPolicy,
    DowngradingConsistencyRetryPolicy,
    FallthroughRetryPolicy,
    LoadBalancingPolicy,
    RetryPolicy,
    RoundRobinPolicy,
    TokenAwarePolicy,
)

from cloudgate.target import CassandraClient, CassandraSection, LoadBalancing, RetryPolicyName, require_env


class DrillClientError(Exception):
    """A drill client could not connect; str() is one line naming the client and the cause."""


def load_balancing_policy(client: CassandraClient) -> LoadBalancingPolicy:
    if client.load_balancing is LoadBalancing.round_robin:
        return RoundRobinPolicy()
    dc_aware = DCAwareRoundRobinPolicy(local_dc=client.driver_local_dc,
                                       used_hosts_per_remote_dc=client.used_hosts_per_remote_dc)
    return TokenAwarePolicy(dc_aware) if client.load_balancing is LoadBalancing.token_aware else dc_aware


def retry_policy(client: CassandraClient) -> RetryPolicy:
    if client.retry is RetryPolicyName.fallthrough:
        return FallthroughRetryPolicy()
    if client.retry is RetryPolicyName.downgrading:
        return DowngradingConsistencyRetryPolicy()
    return RetryPolicy()


def consistency_level(name: str) -> int:
    return int(getattr(ConsistencyLevel, name))


def contact_points(cfg: CassandraSection, first_dc: str) -> list[str]:
    """The application's own DC first (where it would list its seeds), then the others."""
    ordered = [a for dc in (first_dc, *cfg.contact_points) for a in cfg.contact_points.get(dc, [])]
    return list(dict.fromkeys(ordered))


def build_cluster(cfg: CassandraSection, client: CassandraClient, target_name: str) -> Cluster:
    """A Cluster configured exactly as `client` says (not connected yet)."""
    speculative = None
    if client.speculative_execution is not None:
        se = client.speculative_execution
        speculative = ConstantSpeculativeExecutionPolicy(se.delay_ms / 1000.0, se.max_attempts)
    profile = ExecutionProfile(
        load_balancing_policy=load_balancing_policy(client),
        retry_policy=retry_policy(client),
        consistency_level=consistency_level(client.consistency.value),
        request_timeout=client.request_timeout_seconds,
        speculative_execution_policy=speculative,
    )
    auth = None
    if cfg.username_env and cfg.password_env:
        from cassandra.auth import PlainTextAuthProvider

        auth = PlainTextAuthProvider(require_env(cfg.username_env, target_name), require_env(cfg.password_env, target_name))
    return Cluster(
        contact_points(cfg, client.dc), port=cfg.port, protocol_version=4, auth_provider=auth,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=client.connect_timeout_seconds,
        idle_heartbeat_interval=client.idle_heartbeat_interval_seconds,
        idle_heartbeat_timeout=client.idle_heartbeat_timeout_seconds,
    )


@contextmanager
def connected(cfg: CassandraSection, client: CassandraClient, target_name: str,
              keyspace: str | None = None) -> Iterator[tuple[Cluster, Session]]:
    """A connected session for one application; shut down afterwards whatever happened."""
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)  # reconnection tracebacks: the history says it
    cluster = build_cluster(cfg, client, target_name)
    try:
        try:
            sess = cluster.connect(keyspace)
        except NoHostAvailable as exc:
            raise DrillClientError(f"{target_name}: client {client.name}: no Cassandra node answered ({one_line(exc)})") from None
        yield cluster, sess
    finally:
        cluster.shutdown()


def one_line(exc: BaseException) -> str:
    """A driver error as one short line (NoHostAvailable lists every host's error: keep the first kinds)."""
    if isinstance(exc, NoHostAvailable) and isinstance(exc.errors, dict) and exc.errors:
        kinds = sorted({type(e).__name__ for e in exc.errors.values()})
        return f"NoHostAvailable ({', '.join(kinds)} from {len(exc.errors)} host(s))"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


_NOT_APPLIED = (Unavailable,)


def classify(f: str, exc: BaseException) -> str:
    """History type of a failed operation: 'fail' (certainly not applied) or 'info' (may have been)."""
    if f != "write":
        return "fail"  # a read changes nothing: it did not happen as far as anyone can tell
    if isinstance(exc, _NOT_APPLIED):
        return "fail"
    if isinstance(exc, NoHostAvailable):
        errors = list(exc.errors.values()) if isinstance(exc.errors, dict) else []
        # every host refused before writing (or none was tried): nothing was applied anywhere
        return "fail" if all(isinstance(e, _NOT_APPLIED) for e in errors) else "info"
    # a timeout (WriteTimeout, WriteFailure, OperationTimedOut), a lost connection or anything
    # unknown: the write may have reached a coordinator and been applied
    return "info"
