"""Coordinator write-latency benchmark: ``python -m cloudgate_lab.cql.bench --out DIR``.

Starts a 6-node, 2-DC emulated cluster (or uses ``--config`` of a running one), creates a
keyspace with NetworkTopologyStrategy {'dc1': 3, 'dc2': 3}, and writes at a fixed rate
(default 500 writes/s for 10 s, open loop: every write has an intended start time, so a
stall shows up as latency instead of silently lowering the rate — the coordinated-omission
fix of cassandra-stress ``fixed=`` / NoSQLBench ``cyclerate``) with a prepared INSERT at
LOCAL_QUORUM through the token-aware, DC-aware driver.

Reported (``DIR/cql_bench.json``), in milliseconds:
  server     coordinator write latency from ``system_views.coordinator_write_latency`` of
             every dc1 node, merged exactly through the ``hdr`` column (reset before the run)
  client     service time (send -> answer) and response time (intended start -> answer)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from typing import Any

from hdrh.histogram import HdrHistogram


def _summary(h: HdrHistogram, unit: float = 1000.0) -> dict[str, float]:
    n = h.get_total_count()
    return {
        "count": n,
        "p50_ms": h.get_value_at_percentile(50) / unit if n else 0.0,
        "p99_ms": h.get_value_at_percentile(99) / unit if n else 0.0,
        "p999_ms": h.get_value_at_percentile(99.9) / unit if n else 0.0,
        "max_ms": h.get_max_value() / unit if n else 0.0,
        "mean_ms": h.get_mean_value() / unit if n else 0.0,
    }


_ECHO = """
import asyncio, sys
class P(asyncio.Protocol):
    def connection_made(self, t): self.t = t
    def data_received(self, d): self.t.write(d)
async def main():
    srv = await asyncio.get_running_loop().create_server(P, '127.0.0.1', 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


def machine_floor(rate: float, count: int) -> dict[str, float]:
    """Round trip to an asyncio echo process at the same open-loop rate: what one cross-process
    hop costs on this machine (a LOCAL_QUORUM write needs at least two such hops)."""
    import socket
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", _ECHO], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        h = HdrHistogram(1, 60_000_000, 3)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            start = time.perf_counter()
            for i in range(count):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                t0 = time.perf_counter()
                sock.sendall(b"x" * 64)
                got = 0
                while got < 64:
                    got += len(sock.recv(64 - got))
                h.record_value(max(1, int((time.perf_counter() - t0) * 1e6)))
        return _summary(h)
    finally:
        proc.kill()
        proc.wait()


def run(out_dir: str, rate: float = 500.0, duration: float = 10.0, max_count: int = 20000,
        config_path: str | None = None, base_address: str = "127.0.0.11", warmup: int = 500,
        settings: dict[str, Any] | None = None) -> dict[str, Any]:
    from cassandra import ConsistencyLevel
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

    from .cluster import LocalCluster, NodeSpec, write_cluster_file

    tmp = None
    lab = None
    try:
        if config_path is None:
            import ipaddress

            tmp = tempfile.mkdtemp(prefix="cqlbench-")
            base = ipaddress.ip_address(base_address)
            nodes = [NodeSpec(f"n{i + 1}", str(base + i), "dc1" if i < 3 else "dc2", f"rack{i % 3 + 1}") for i in range(6)]
            config_path = write_cluster_file(os.path.join(tmp, "cluster.json"), nodes, **(settings or {}))
            lab = LocalCluster(config_path)
            lab.start()
            lab.wait_ready(timeout=30)
        from . import config as cfgmod

        cfg = cfgmod.load(config_path)
        contact = [n.address for n in cfg.nodes.values() if n.dc == "dc1"][:1]
        profile = ExecutionProfile(load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc="dc1")))
        cluster = Cluster(contact, protocol_version=4, execution_profiles={EXEC_PROFILE_DEFAULT: profile})
        try:
            session = cluster.connect()
            ks = f"bench_{int(time.time())}"
            session.execute(f"CREATE KEYSPACE {ks} WITH replication = "
                            "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}")
            session.execute(f"CREATE TABLE {ks}.t (k bigint PRIMARY KEY, v blob)")
            ins = session.prepare(f"INSERT INTO {ks}.t (k, v) VALUES (?, ?)")
            ins.consistency_level = ConsistencyLevel.LOCAL_QUORUM
            payload = os.urandom(100)
            for i in range(warmup):
                session.execute(ins, (-i - 1, payload))
            dc1 = [h for h in cluster.metadata.all_hosts() if h.datacenter == "dc1"]
            for h in dc1:
                session.execute("TRUNCATE system_views.coordinator_write_latency", host=h)

            service = HdrHistogram(1, 60_000_000, 3)
            response = HdrHistogram(1, 60_000_000, 3)
            errors: list[str] = []
            lock = threading.Lock()
            done = threading.Event()
            total = min(max_count, int(rate * duration))
            outstanding = [total]

            def finish(sent: float, intended: float, exc: BaseException | None = None) -> None:
                end = time.perf_counter()
                with lock:
                    if exc is not None:
                        errors.append(repr(exc))
                    else:
                        service.record_value(max(1, int((end - sent) * 1e6)))
                        response.record_value(max(1, int((end - intended) * 1e6)))
                    outstanding[0] -= 1
                    if outstanding[0] == 0:
                        done.set()

            start = time.perf_counter() + 0.05
            for i in range(total):
                intended = start + i / rate
                delay = intended - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                sent = time.perf_counter()
                fut = session.execute_async(ins, (i, payload))
                fut.add_callbacks(lambda _r, s=sent, t=intended: finish(s, t),
                                  lambda e, s=sent, t=intended: finish(s, t, e))
            done.wait(timeout=30)
            elapsed = time.perf_counter() - start

            server = HdrHistogram(1, 3_600_000_000, 3)
            per_node = {}
            for h in dc1:
                for row in session.execute("SELECT * FROM system_views.coordinator_write_latency WHERE "
                                           "keyspace_name = %s AND table_name = 't'", (ks,), host=h):
                    per_node[h.address] = {"count": row.count, "p50_ms": row.p50th_ms, "p99_ms": row.p99th_ms,
                                           "p999_ms": row.p999th_ms, "max_ms": row.max_ms}
                    if row.hdr:
                        server.decode_and_add(row.hdr)
            session.execute(f"DROP KEYSPACE {ks}")
        finally:
            cluster.shutdown()
        floor = machine_floor(rate, min(total, 2000))
        result = {
            "machine_floor_rtt": floor,
            "loadavg_1m": os.getloadavg()[0],
            "workload": {"rate_per_s": rate, "duration_s": duration, "writes": total, "elapsed_s": round(elapsed, 3),
                         "achieved_rate_per_s": round(total / elapsed, 1), "consistency": "LOCAL_QUORUM",
                         "replication": {"dc1": 3, "dc2": 3}, "nodes": len(cfg.nodes), "value_bytes": len(payload),
                         "cpus": os.cpu_count(), "node_sched": os.environ.get("CLOUDGATE_CQL_SCHED", "fifo")},
            "server_coordinator_write": {**_summary(server), "per_node": per_node},
            "client_service_time": _summary(service),
            "client_response_time": _summary(response),
            "errors": len(errors),
            "error_samples": errors[:5],
        }
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "cql_bench.json"), "w") as f:
            json.dump(result, f, indent=2)
        return result
    finally:
        if lab is not None:
            lab.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cloudgate_lab.cql.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="directory for cql_bench.json")
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--max-count", type=int, default=20000)
    ap.add_argument("--config", default=None, help="use this running cluster instead of starting one")
    ap.add_argument("--base-address", default="127.0.0.11")
    ap.add_argument("--setting", action="append", default=[], metavar="KEY=JSON",
                    help="cluster-file setting for the started cluster, e.g. commitlog_sync=\"batch\"")
    args = ap.parse_args(argv)
    settings = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.setting)}
    res = run(args.out, args.rate, args.duration, args.max_count, args.config, args.base_address, settings=settings)
    s, c = res["server_coordinator_write"], res["client_service_time"]
    f = res["machine_floor_rtt"]
    print(f"server p50 {s['p50_ms']:.3f} p99 {s['p99_ms']:.3f} ms | client p50 {c['p50_ms']:.3f} "
          f"p99 {c['p99_ms']:.3f} ms | errors {res['errors']} | bare RTT p50 {f['p50_ms']:.3f} "
          f"p99 {f['p99_ms']:.3f} ms | load {res['loadavg_1m']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
