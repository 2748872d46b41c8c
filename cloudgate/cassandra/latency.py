"""Cassandra write latency: an open-loop load with no coordinated omission, and the server's view.

Open loop: write i is due at start + i/rate, whatever happened to write i-1, and its latency is
measured from when it was *due*, not from when the client got round to sending it. A stalled
cluster therefore shows up as the latency users would have seen, instead of silently slowing the
load down (coordinated omission). The load is bounded in count, in duration and in writes in flight.

The promise (write_p99_ms) is judged on the coordinators' own histograms, read over CQL from
Cassandra 4.1's system_views.coordinator_write_latency for a table created for this run only, so
no reset is needed and nothing but this run's writes is counted. The client-side figures are
reported beside it: the difference is the network and the client.

The run's keyspace is written to the run ledger before it is created (`probe_keyspace`), so a run
interrupted or killed between CREATE and DROP leaves nothing no one can name.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster, Session
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogWriter

from cloudgate.ledger import Ledger
from cloudgate.undo import refusing_sigint

MAX_IN_FLIGHT = 2000
US = 1_000_000


@dataclass
class LoadResult:
    histogram: HdrHistogram
    intended: int
    completed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0
    duration_s: float = 0.0

    def percentile_ms(self, q: float) -> float:
        return self.histogram.get_value_at_percentile(q) / 1000.0

    @property
    def max_ms(self) -> float:
        return self.histogram.get_max_value() / 1000.0


@dataclass(frozen=True)
class ServerLatency:
    coordinators: int
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    per_node_p99_ms: dict[str, float]


def probe_keyspace_name(prefix: str) -> str:
    """A keyspace of this run only: two runs (nightly and gate) never drop each other's."""
    return f"{prefix}_{time.strftime('%Y%m%d%H%M%S', time.gmtime())}_{uuid.uuid4().hex[:6]}"


@contextmanager
def probe_keyspace(ledger: Ledger, session: Session, keyspace: str, replication: dict[str, int]) -> Iterator[str]:
    """This run's keyspace and table (yields the table), written to the ledger before CREATE, dropped after.

    The ledger entry comes first so an interrupt or a kill between CREATE and DROP leaves a keyspace
    the session's safety net or `cloudgate janitor` can name; the DROP runs with Ctrl-C refused,
    and a DROP that fails leaves the entry pending for them.
    """
    entry = ledger.intend("keyspace", keyspace, attrs={"replication": replication},
                          undo={"cql": f"DROP KEYSPACE IF EXISTS {keyspace}"})
    try:
        try:
            table = create_probe_table(session, keyspace, replication)
        except BaseException as exc:
            ledger.settled(entry, f"{type(exc).__name__}: {exc}")
            raise
        ledger.created(entry, keyspace)
        yield table
    finally:
        with refusing_sigint(lambda: 1):
            session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=30)
            ledger.undone(entry, "dropped")


def create_probe_table(session: Session, keyspace: str, replication: dict[str, int]) -> str:
    """Create this run's keyspace (NetworkTopologyStrategy, the probe's factors) and table."""
    factors = ", ".join(f"'{dc}': {rf}" for dc, rf in replication.items())
    session.execute(f"CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'NetworkTopologyStrategy', {factors}}}")
    table = "write_probe"
    session.execute(f"CREATE TABLE {keyspace}.{table} (id uuid PRIMARY KEY, payload text, at timestamp)")
    return table


def open_loop_writes(session: Session, keyspace: str, table: str, rate: int, seconds: float) -> LoadResult:
    """Prepared INSERTs at LOCAL_QUORUM, `rate` per second for `seconds` (bounded in count and time)."""
    insert = session.prepare(f"INSERT INTO {keyspace}.{table} (id, payload, at) VALUES (?, ?, toTimestamp(now()))")
    insert.consistency_level = ConsistencyLevel.LOCAL_QUORUM
    total = max(1, int(rate * seconds))
    result = LoadResult(HdrHistogram(1, 60 * US, 3), intended=total)
    lock = threading.Lock()
    in_flight = threading.Semaphore(MAX_IN_FLIGHT)
    done = threading.Event()
    remaining = [total]
    payload = "x" * 100

    def finish(due: float, error: str | None, release: bool = True) -> None:
        latency_us = max(1, int((time.perf_counter() - due) * US))
        with lock:
            if error is None:
                result.histogram.record_value(min(latency_us, 60 * US))
                result.completed += 1
            else:
                result.errors[error] = result.errors.get(error, 0) + 1
            remaining[0] -= 1
            if remaining[0] == 0:
                done.set()
        if release:
            in_flight.release()

    start = time.perf_counter() + 0.05
    result.started_at = time.time()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        if not in_flight.acquire(timeout=max(0.0, due + 5 - time.perf_counter())):
            finish(due, "client overloaded (too many writes in flight)", release=False)
            continue
        future = session.execute_async(insert, (uuid.uuid4(), payload))
        future.add_callbacks(lambda _rows, due=due: finish(due, None),
                             lambda exc, due=due: finish(due, type(exc).__name__))
    done.wait(timeout=seconds + 30)
    result.duration_s = time.perf_counter() - start
    return result


def server_write_latency(cluster: Cluster, session: Session, keyspace: str, table: str, local_dc: str) -> ServerLatency:
    """Worst coordinator p99 for this table among the local DC's nodes (each node keeps its own)."""
    per_node: dict[str, float] = {}
    count = 0
    p50 = max_ms = 0.0
    query = (
        "SELECT count, p50th_ms, p99th_ms, max_ms FROM system_views.coordinator_write_latency "
        "WHERE keyspace_name = %s AND table_name = %s"
    )
    for host in cluster.metadata.all_hosts():
        if host.datacenter != local_dc or not host.is_up:
            continue
        for row in session.execute(query, (keyspace, table), host=host):
            if row.count:
                per_node[host.address] = float(row.p99th_ms)
                count += int(row.count)
                p50 = max(p50, float(row.p50th_ms))
                max_ms = max(max_ms, float(row.max_ms))
    p99 = max(per_node.values()) if per_node else float("nan")
    return ServerLatency(len(per_node), count, p50, p99, max_ms, per_node)


def write_hlog(result: LoadResult, path: Path) -> None:
    with path.open("w") as fh:
        writer = HistogramLogWriter(fh)
        writer.output_comment("cloudgate Cassandra write latency, client side, microseconds, open loop")
        writer.output_log_format_version()
        # written by hand: hdrh 0.10's output_start_time() crashes on millisecond timestamps
        started = datetime.fromtimestamp(result.started_at, UTC).isoformat(sep=" ")
        fh.write(f"#[StartTime: {result.started_at:.3f} (seconds since epoch), {started}]\n")
        writer.output_legend()
        result.histogram.set_start_time_stamp(int(result.started_at * 1000))
        result.histogram.set_end_time_stamp(int((result.started_at + result.duration_s) * 1000))
        writer.output_interval_histogram(result.histogram)
        writer.close()


def plot_percentiles(result: LoadResult, server_p99_ms: float, limit_ms: float, path: Path) -> None:
    """Percentile distribution plot (client side) with the server p99 and the promise marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    qs = [50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100]
    xs = [1 / (1 - q / 100) if q < 100 else 1e5 for q in qs]
    ys = [result.percentile_ms(q) for q in qs]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(xs, ys, marker="o", label="client (open loop)")
    ax.axhline(limit_ms, color="red", linestyle="--", label=f"promise p99 <= {limit_ms:g} ms")
    ax.axhline(server_p99_ms, color="green", linestyle=":", label=f"coordinator p99 {server_p99_ms:.2f} ms")
    ax.set_xscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{q:g}" for q in qs])
    ax.set_xlabel("percentile")
    ax.set_ylabel("write latency (ms)")
    ax.set_title(f"Cassandra writes, LOCAL_QUORUM, {result.intended} writes")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
