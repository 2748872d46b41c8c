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
virtual    system.local/peers, system_schema, system_views tables
executor   statement semantics and RESULT encoding
server     native protocol connections, events
faults     runtime fault knobs via a polled control file; ``set_fault``
node       one node process (``python -m cloudgate.lab.cql.node``)
cluster    launcher: cluster files, start/stop/restart, readiness
bench      coordinator write-latency benchmark
========== ===========================================================================
"""

from .faults import clear_faults, reset_latency, set_fault

__all__ = ["set_fault", "clear_faults", "reset_latency"]
