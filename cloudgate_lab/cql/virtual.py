"""System tables answered from node state: ``system.*``, ``system_schema.*``,
``system_virtual_schema.*`` and ``system_views.*``.

Column sets follow Apache Cassandra 4.1 for everything the python driver reads (see
shared/reference/cql-native-protocol.md §5): ``system.local``/``peers``/``peers_v2`` drive the
driver's host list, token map and DC/rack awareness; ``system_schema`` feeds its schema
metadata (tables it never gets rows for still answer with their column specs, since a Rows
result with zero columns crashes the driver).

``system_views`` holds Cassandra 4.1's latency tables (see metrics.py), ``pending_hints`` and
``clients``, plus one emulator extension, ``local_partitions``: the partitions *this node*
stores (keyspace_name, table_name, token, partition_key, rows) — what lets a test check that
the driver's replica map matches where data really lives.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from .cqltypes import parse_type
from .metrics import KINDS
from .nodeview import NodeView
from .ring import token_of
from .schema import ColumnDef, TableDef
from .tableopts import TABLE_DEFAULTS, effective_options

_LAT_COLS = [("keyspace_name", "text", "pk"), ("table_name", "text", "pk"), ("count", "bigint", ""),
             ("max_ms", "double", ""), ("p50th_ms", "double", ""), ("p99th_ms", "double", ""),
             ("p999th_ms", "double", ""), ("mean_ms", "double", ""), ("per_second", "double", ""),
             ("hdr", "text", "")]

# (keyspace, table) -> [(column, type, role)] where role is pk / ck / "" (regular)
TABLES: dict[tuple[str, str], list[tuple[str, str, str]]] = {
    ("system", "local"): [
        ("key", "text", "pk"), ("bootstrapped", "text", ""), ("broadcast_address", "inet", ""),
        ("broadcast_port", "int", ""), ("cluster_name", "text", ""), ("cql_version", "text", ""),
        ("data_center", "text", ""), ("gossip_generation", "int", ""), ("host_id", "uuid", ""),
        ("listen_address", "inet", ""), ("listen_port", "int", ""), ("native_protocol_version", "text", ""),
        ("partitioner", "text", ""), ("rack", "text", ""), ("release_version", "text", ""),
        ("rpc_address", "inet", ""), ("rpc_port", "int", ""), ("schema_version", "uuid", ""),
        ("tokens", "set<text>", ""),
    ],
    ("system", "peers"): [
        ("peer", "inet", "pk"), ("data_center", "text", ""), ("host_id", "uuid", ""), ("preferred_ip", "inet", ""),
        ("rack", "text", ""), ("release_version", "text", ""), ("rpc_address", "inet", ""),
        ("schema_version", "uuid", ""), ("tokens", "set<text>", ""),
    ],
    ("system", "peers_v2"): [
        ("peer", "inet", "pk"), ("peer_port", "int", "ck"), ("data_center", "text", ""), ("host_id", "uuid", ""),
        ("native_address", "inet", ""), ("native_port", "int", ""), ("preferred_ip", "inet", ""),
        ("preferred_port", "int", ""), ("rack", "text", ""), ("release_version", "text", ""),
        ("schema_version", "uuid", ""), ("tokens", "set<text>", ""),
    ],
    ("system_schema", "keyspaces"): [
        ("keyspace_name", "text", "pk"), ("durable_writes", "boolean", ""), ("replication", "frozen<map<text, text>>", ""),
    ],
    ("system_schema", "tables"): [
        ("keyspace_name", "text", "pk"), ("table_name", "text", "ck"), ("additional_write_policy", "text", ""),
        ("bloom_filter_fp_chance", "double", ""), ("caching", "frozen<map<text, text>>", ""), ("cdc", "boolean", ""),
        ("comment", "text", ""), ("compaction", "frozen<map<text, text>>", ""),
        ("compression", "frozen<map<text, text>>", ""), ("crc_check_chance", "double", ""),
        ("default_time_to_live", "int", ""), ("extensions", "frozen<map<text, blob>>", ""),
        ("flags", "frozen<set<text>>", ""), ("gc_grace_seconds", "int", ""), ("id", "uuid", ""),
        ("max_index_interval", "int", ""), ("memtable_flush_period_in_ms", "int", ""),
        ("min_index_interval", "int", ""), ("read_repair", "text", ""), ("speculative_retry", "text", ""),
    ],
    ("system_schema", "columns"): [
        ("keyspace_name", "text", "pk"), ("table_name", "text", "ck"), ("column_name", "text", "ck"),
        ("clustering_order", "text", ""), ("column_name_bytes", "blob", ""), ("kind", "text", ""),
        ("position", "int", ""), ("type", "text", ""),
    ],
    ("system_schema", "dropped_columns"): [
        ("keyspace_name", "text", "pk"), ("table_name", "text", "ck"), ("column_name", "text", "ck"),
        ("dropped_time", "timestamp", ""), ("kind", "text", ""), ("type", "text", ""),
    ],
    ("system_schema", "types"): [
        ("keyspace_name", "text", "pk"), ("type_name", "text", "ck"), ("field_names", "frozen<list<text>>", ""),
        ("field_types", "frozen<list<text>>", ""),
    ],
    ("system_schema", "functions"): [
        ("keyspace_name", "text", "pk"), ("function_name", "text", "ck"), ("argument_types", "frozen<list<text>>", "ck"),
        ("argument_names", "frozen<list<text>>", ""), ("body", "text", ""), ("called_on_null_input", "boolean", ""),
        ("language", "text", ""), ("return_type", "text", ""),
    ],
    ("system_schema", "aggregates"): [
        ("keyspace_name", "text", "pk"), ("aggregate_name", "text", "ck"), ("argument_types", "frozen<list<text>>", "ck"),
        ("final_func", "text", ""), ("initcond", "text", ""), ("return_type", "text", ""), ("state_func", "text", ""),
        ("state_type", "text", ""),
    ],
    ("system_schema", "triggers"): [
        ("keyspace_name", "text", "pk"), ("table_name", "text", "ck"), ("trigger_name", "text", "ck"),
        ("options", "frozen<map<text, text>>", ""),
    ],
    ("system_schema", "indexes"): [
        ("keyspace_name", "text", "pk"), ("table_name", "text", "ck"), ("index_name", "text", "ck"),
        ("kind", "text", ""), ("options", "frozen<map<text, text>>", ""),
    ],
    ("system_schema", "views"): [
        ("keyspace_name", "text", "pk"), ("view_name", "text", "ck"), ("base_table_id", "uuid", ""),
        ("base_table_name", "text", ""), ("id", "uuid", ""), ("include_all_columns", "boolean", ""),
        ("where_clause", "text", ""),
    ],
    ("system_virtual_schema", "keyspaces"): [("keyspace_name", "text", "pk")],
    ("system_virtual_schema", "tables"): [
        ("keyspace_name", "text", "pk"), ("table_name", "text", "ck"), ("comment", "text", ""),
    ],
    ("system_virtual_schema", "columns"): [
        ("keyspace_name", "text", "pk"), ("table_name", "text", "ck"), ("column_name", "text", "ck"),
        ("clustering_order", "text", ""), ("column_name_bytes", "blob", ""), ("kind", "text", ""),
        ("position", "int", ""), ("type", "text", ""),
    ],
    ("system_views", "pending_hints"): [
        ("host_id", "uuid", "pk"), ("address", "inet", ""), ("port", "int", ""), ("rack", "text", ""),
        ("dc", "text", ""), ("status", "text", ""), ("files", "int", ""), ("total_hints", "bigint", ""),
    ],
    ("system_views", "clients"): [
        ("address", "inet", "pk"), ("port", "int", "ck"), ("connection_stage", "text", ""),
        ("driver_name", "text", ""), ("driver_version", "text", ""), ("hostname", "text", ""),
        ("protocol_version", "int", ""), ("request_count", "bigint", ""), ("ssl_enabled", "boolean", ""),
        ("username", "text", ""),
    ],
    ("system_views", "local_partitions"): [
        ("keyspace_name", "text", "pk"), ("table_name", "text", "ck"), ("partition_key", "blob", "ck"),
        ("token", "bigint", ""), ("rows", "int", ""),
    ],
}
for _kind in KINDS:
    TABLES[("system_views", f"{_kind}_latency")] = _LAT_COLS

VIRTUAL_KEYSPACES = ("system_views", "system_virtual_schema")
SYSTEM_KS_REPLICATION = {
    "system": {"class": "org.apache.cassandra.locator.LocalStrategy"},
    "system_schema": {"class": "org.apache.cassandra.locator.LocalStrategy"},
    "system_auth": {"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "1"},
    "system_distributed": {"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "3"},
    "system_traces": {"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "2"},
}


def _build_defs() -> dict[tuple[str, str], TableDef]:
    out = {}
    for (ks, name), cols in TABLES.items():
        defs, pk, ck = [], 0, 0
        for cname, ctype, role in cols:
            if role == "pk":
                defs.append(ColumnDef(cname, parse_type(ctype), "partition_key", pk))
                pk += 1
            elif role == "ck":
                defs.append(ColumnDef(cname, parse_type(ctype), "clustering", ck, "asc"))
                ck += 1
            else:
                defs.append(ColumnDef(cname, parse_type(ctype), "regular", -1))
        out[(ks, name)] = TableDef(ks, name, uuid.uuid5(uuid.NAMESPACE_OID, f"{ks}.{name}"), defs, virtual=True)
    return out


DEFS = _build_defs()


def select_star_order(t: TableDef) -> list[ColumnDef]:
    """Cassandra's ``SELECT *`` order: partition key, clustering, then the rest alphabetically."""
    return t.partition_key + t.clustering + sorted(t.regular, key=lambda c: c.name)


def _column_rows(t: TableDef) -> list[dict[str, Any]]:
    return [
        {
            "keyspace_name": t.keyspace, "table_name": t.name, "column_name": c.name,
            "clustering_order": c.order, "column_name_bytes": c.name.encode(), "kind": c.kind,
            "position": c.position, "type": c.type.cql_name(),
        }
        for c in t.columns
    ]


class SystemTables:
    """Row providers for every system table; rows are dicts of Python values."""

    def __init__(self, node: NodeView) -> None:
        self.node = node
        self.providers: dict[tuple[str, str], Callable[[], list[dict[str, Any]]]] = {
            ("system", "local"): self.local,
            ("system", "peers"): self.peers,
            ("system", "peers_v2"): self.peers_v2,
            ("system_schema", "keyspaces"): self.keyspaces,
            ("system_schema", "tables"): self.tables,
            ("system_schema", "columns"): self.columns,
            ("system_virtual_schema", "keyspaces"): lambda: [{"keyspace_name": k} for k in VIRTUAL_KEYSPACES],
            ("system_virtual_schema", "tables"): lambda: [
                {"keyspace_name": ks, "table_name": n, "comment": ""} for (ks, n) in DEFS if ks in VIRTUAL_KEYSPACES
            ],
            ("system_virtual_schema", "columns"): lambda: [
                r for (ks, _n), t in DEFS.items() if ks in VIRTUAL_KEYSPACES for r in _column_rows(t)
            ],
            ("system_views", "pending_hints"): self.pending_hints,
            ("system_views", "clients"): self.clients,
            ("system_views", "local_partitions"): self.local_partitions,
        }
        for kind in KINDS:
            self.providers[("system_views", f"{kind}_latency")] = (lambda k=kind: self.node.metrics.rows(k))

    def table(self, ks: str, name: str) -> TableDef | None:
        return DEFS.get((ks, name))

    def rows(self, ks: str, name: str) -> list[dict[str, Any]]:
        p = self.providers.get((ks, name))
        return p() if p else []

    # -- system ---------------------------------------------------------------------------------
    def local(self) -> list[dict[str, Any]]:
        n = self.node
        me = n.me
        return [{
            "key": "local", "bootstrapped": "COMPLETED", "broadcast_address": me.address, "broadcast_port": me.internode_port,
            "cluster_name": n.config.cluster_name, "cql_version": n.config.cql_version, "data_center": me.dc,
            "gossip_generation": n.generation, "host_id": me.host_id, "listen_address": me.address,
            "listen_port": me.internode_port, "native_protocol_version": "4",
            "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner", "rack": me.rack,
            "release_version": n.config.release_version, "rpc_address": me.address, "rpc_port": me.native_port,
            "schema_version": n.schema.version, "tokens": [str(t) for t in me.tokens],
        }]

    def _peer_common(self, p: Any) -> dict[str, Any]:
        return {
            "data_center": p.dc, "host_id": p.host_id, "rack": p.rack, "release_version": self.node.config.release_version,
            "schema_version": self.node.peer_schema.get(p.name), "tokens": [str(t) for t in p.tokens],
        }

    def peers(self) -> list[dict[str, Any]]:
        return [
            {"peer": p.address, "preferred_ip": None, "rpc_address": p.address, **self._peer_common(p)}
            for p in self.node.peers
        ]

    def peers_v2(self) -> list[dict[str, Any]]:
        return [
            {"peer": p.address, "peer_port": p.internode_port, "native_address": p.address, "native_port": p.native_port,
             "preferred_ip": None, "preferred_port": None, **self._peer_common(p)}
            for p in self.node.peers
        ]

    # -- system_schema --------------------------------------------------------------------------
    def keyspaces(self) -> list[dict[str, Any]]:
        rows = [{"keyspace_name": k, "durable_writes": True, "replication": r} for k, r in SYSTEM_KS_REPLICATION.items()]
        rows += [
            {"keyspace_name": k.name, "durable_writes": k.durable_writes, "replication": k.replication}
            for k in self.node.schema.keyspaces.values()
        ]
        return rows

    def _all_tables(self) -> list[TableDef]:
        sys_tables = [t for (ks, _), t in DEFS.items() if ks in ("system", "system_schema")]
        return sys_tables + list(self.node.schema.tables.values())

    def tables(self) -> list[dict[str, Any]]:
        out = []
        for t in self._all_tables():
            row = {k: v for k, v in effective_options(t.options).items() if k in TABLE_DEFAULTS}
            row.update({"keyspace_name": t.keyspace, "table_name": t.name, "id": t.id})
            out.append(row)
        return out

    def columns(self) -> list[dict[str, Any]]:
        return [r for t in self._all_tables() for r in _column_rows(t)]

    # -- system_views ---------------------------------------------------------------------------
    def pending_hints(self) -> list[dict[str, Any]]:
        n = self.node
        out = []
        for target, recs in sorted(n.hints.pending.items()):
            p = n.config.nodes.get(target)
            if p is None or not recs:
                continue
            out.append({
                "host_id": p.host_id, "address": p.address, "port": p.internode_port, "rack": p.rack, "dc": p.dc,
                "status": "UP" if n.messenger.is_alive(target) else "DOWN", "files": 1, "total_hints": len(recs),
            })
        return out

    def clients(self) -> list[dict[str, Any]]:
        return [c.info() for c in list(self.node.server.connections)] if self.node.server else []

    def local_partitions(self) -> list[dict[str, Any]]:
        out = []
        schema = self.node.schema
        for tid, parts in self.node.store.tables.items():
            t = schema.by_id.get(tid)
            if t is None:
                continue
            for key, p in parts.items():
                live = sum(1 for r in p.rows.values() if r.is_live(p.deleted))
                if live:
                    out.append({"keyspace_name": t.keyspace, "table_name": t.name, "partition_key": key,
                                "token": token_of(key), "rows": live})
        return out
