"""Cassandra write latency against the promise: coordinator p99 under write_p99_ms (1 ms).

Destructive (it writes): an open-loop load of prepared INSERTs at LOCAL_QUORUM, bounded in count
and time, into a keyspace made for this run only (`<probe_keyspace>_<time>_<id>`, the probe's
NetworkTopologyStrategy factors), written to the run ledger before it is created and dropped
afterwards. The histogram (.hlog) and a percentile plot go into the run's reports. Marked
``measurement``: under pytest-xdist it runs while no other check runs (cloudgate.measurelock),
since checks running beside it would be measured too.
"""

from __future__ import annotations

import pytest

from cloudgate.cassandra.latency import (
    open_loop_writes,
    plot_percentiles,
    probe_keyspace,
    probe_keyspace_name,
    server_write_latency,
    write_hlog,
)
from cloudgate.cassandra.session import replication_of, session

pytestmark = [pytest.mark.destructive, pytest.mark.measurement]


@pytest.mark.check(id="CG-CASS-010", severity="critical", tier="cassandra", plane="data")
def test_cassandra_coordinator_write_p99_is_under_the_promise(target, thresholds, metric, run_dir, run_ledger):
    cfg = target.cassandra
    if cfg is None:
        pytest.skip(f"not run: not applicable, {target.name} has no cassandra section")
    limit = thresholds.write_p99_ms
    keyspace = probe_keyspace_name(cfg.probe_keyspace)
    with session(target, writes=True) as (cluster, sess):  # destructive: this check writes
        replication = replication_of(cluster, target)
        # in the run ledger before CREATE KEYSPACE; dropped afterwards, after a failure or Ctrl-C too
        with probe_keyspace(run_ledger, sess, keyspace, replication) as table:
            load = open_loop_writes(sess, keyspace, table, cfg.latency_rate_per_second, cfg.latency_seconds)
            server = server_write_latency(cluster, sess, keyspace, table, cfg.local_dc)

    write_hlog(load, run_dir / "cassandra-write-latency.hlog")
    plot_percentiles(load, server.p99_ms, limit, run_dir / "cassandra-write-latency.png")
    metric("cassandra.write.client.p50", load.percentile_ms(50), "ms")
    metric("cassandra.write.client.p99", load.percentile_ms(99), "ms")
    metric("cassandra.write.client.p999", load.percentile_ms(99.9), "ms")
    metric("cassandra.write.client.max", load.max_ms, "ms")
    metric("cassandra.write.rate", load.completed / max(load.duration_s, 1e-9), "writes/s")
    server_p99 = metric("cassandra.write.server.p99", server.p99_ms, "ms", limit)

    unaccounted = load.intended - load.completed - sum(load.errors.values())
    assert not load.errors and not unaccounted, (
        f"{target.name}: of {load.intended} writes, {sum(load.errors.values())} failed {load.errors} "
        f"and {unaccounted} never answered"
    )
    assert server.count >= load.completed * 0.95, (
        f"{target.name}: coordinators report {server.count} writes for {load.completed} sent: latency table unreliable"
    )
    assert server_p99.verdict == "pass", (
        f"{target.name}: coordinator write p99 {server.p99_ms:.2f} ms > {limit:g} ms at {cfg.latency_rate_per_second} writes/s "
        f"(worst coordinators: {sorted(server.per_node_p99_ms.items(), key=lambda kv: -kv[1])[:3]}; "
        f"client p99 {load.percentile_ms(99):.2f} ms)"
    )
