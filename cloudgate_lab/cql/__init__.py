"""Cassandra emulator of the cloudgate lab: CQL native protocol v4 with real storage and replication.

Modules, one job each:

========== ===========================================================================
wire       protocol notations ([int], [string], [bytes], ...)
frame      9-byte frame header codec, stream splitter
cqltypes   CQL types: [option] ids, (de)serialization, literals, ordering
errors     ERROR responses as exceptions (Unavailable, WriteTimeout, Invalid, ...)
cql        tokenizer + parser of the CQL subset
schema     keyspace/table definitions, persistence, cluster-wide merge
ring       Murmur3 tokens, vnodes, Simple/NetworkTopologyStrategy placement
codec      safe tagged binary encoding for internode messages and log records
storage    memtables, commit log, snapshots, hints
internode  node-to-node TCP protocol, heartbeats, failure detection
coordinator  consistency levels, fan-out, hinted handoff, read repair
metrics    latency histograms behind system_views.*_latency
nodeview   what the parts a node wires see of it (protocols Node implements; no module imports node)
virtual    system.local/peers, system_schema, system_views tables
tableopts  table options as Cassandra 4.1 stores them (defaults, canonical class names)
cqltext    CREATE KEYSPACE/TABLE text exactly as Cassandra 4.1's DESCRIBE prints it
describe   server-side DESCRIBE (what cqlsh 6.x sends): KEYSPACES, KEYSPACE, TABLE(S), SCHEMA, CLUSTER
executor   statement semantics and RESULT encoding
server     native protocol connections, events
faults     runtime fault knobs via a polled control file; ``set_fault``
node       one node process (``python -m cloudgate_lab.cql.node``)
tuning     node process tuning: uvloop, SCHED_FIFO scheduling, GC (why: 7 processes on 2 cores)
cluster    launcher: cluster files, start/stop/restart, readiness
bench      coordinator write-latency benchmark
========== ===========================================================================

Running a cluster by hand::

    python -m cloudgate_lab.cql.cluster --dir /tmp/cql --nodes 6     # 127.0.0.11-16, dc1/dc2, Ctrl-C stops
    python -m cloudgate_lab.cql.node --config CLUSTER.json --name n1  # one node (what the lab runs per VM)
    python -m cloudgate_lab.cql.bench --out reports/                  # 500 w/s LOCAL_QUORUM latency figures

Fault knobs (faults.py): ``set_fault(config, "n1", write_delay_ms=3.0)``, ``read_delay_ms``,
``refuse_clients``, ``isolate``, ``unreachable`` (a silent partition from the named nodes/DCs),
``hints_off`` (hinted_handoff_enabled: false) and ``disable_hints`` (nodetool disablehandoff);
``clear_faults``; ``reset_latency``.

Latency tables (metrics.py): ``system_views.coordinator_{write,read,scan}_latency`` and
``system_views.local_{write,read}_latency`` with keyspace_name, table_name, count, max_ms,
p50th_ms, p99th_ms, per_second (Cassandra 4.1) plus p999th_ms, mean_ms, hdr (extensions);
node-local, reset with ``TRUNCATE system_views.<table>``.

cqlsh (PyPI ``cqlsh`` 6.1, the one matching Cassandra 4.1) works against any node, DESCRIBE
included: ``cqlsh 127.0.0.11 9042 -e "DESCRIBE KEYSPACE ks"`` prints CREATE statements that
recreate the keyspace on the emulator (``cqlsh -f``), byte for byte the same on a second DESCRIBE.

Known limits: no paging (a result is one page), no TTL, LWT, counters, collections in user
tables, secondary indexes, ALTER, range deletions; full scans merge every live node's data
regardless of consistency level; membership is the static cluster file.
"""

from .faults import clear_faults, reset_latency, set_fault

__all__ = ["set_fault", "clear_faults", "reset_latency"]
