"""Statement execution: binds values, turns statements into mutations/reads, builds RESULTs.

This is where CQL semantics live (what a WHERE clause must restrict, INSERT vs UPDATE row
markers, tombstones for DELETE, USING TIMESTAMP precedence, prepared-statement metadata with
pk_indexes for token-aware routing). Distribution is delegated to the coordinator, DDL
propagation to the node (through the ``schema_changed`` callback it passes in).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from . import cql
from .coordinator import Coordinator, Slice
from .cqltypes import BIGINT, INT, CqlType, parse_type
from .describe import Describer
from .errors import InvalidRequest, SyntaxError_, Unprepared
from .metrics import LatencyMetrics
from .nodeview import SchemaChanged
from .schema import SYSTEM_KEYSPACES, Change, Schema, TableDef
from .storage import NO_TS, Mutation, Partition, RowOp
from .virtual import SystemTables, select_star_order
from .wire import UNSET, Reader, Writer

# RESULT kinds
VOID, ROWS, SET_KEYSPACE, PREPARED, SCHEMA_CHANGE = 1, 2, 3, 4, 5

ColumnSpec = tuple[str, str, str, CqlType]  # keyspace, table, name, type


@dataclass(slots=True)
class QueryParams:
    consistency: int = 1
    values: list[Any] = field(default_factory=list)
    names: list[str] | None = None
    skip_metadata: bool = False
    page_size: int | None = None
    serial_consistency: int | None = None
    timestamp: int | None = None


def read_params(r: Reader) -> QueryParams:
    p = QueryParams(consistency=r.short())
    flags = r.byte()
    if flags & 0x01:
        n = r.short()
        if flags & 0x40:
            p.names = []
            for _ in range(n):
                p.names.append(r.string())
                p.values.append(r.value())
        else:
            p.values = [r.value() for _ in range(n)]
    p.skip_metadata = bool(flags & 0x02)
    if flags & 0x04:
        p.page_size = r.int()
    if flags & 0x08:
        r.bytes()  # paging state: results are never paged, so nothing to resume
    if flags & 0x10:
        p.serial_consistency = r.short()
    if flags & 0x20:
        p.timestamp = r.long()
    return p


@dataclass
class Prepared:
    id: bytes
    query: str
    keyspace: str | None
    parsed: cql.Parsed
    bind_specs: list[ColumnSpec]
    pk_indexes: list[int]
    result_specs: list[ColumnSpec]
    table_ids: dict[tuple[str, str], Any]


@dataclass
class Outcome:
    """A RESULT body plus what to account it to in the latency metrics."""

    body: bytes
    metric: str | None = None  # coordinator_write / coordinator_read / coordinator_scan
    tables: list[tuple[str, str]] = field(default_factory=list)


# -- result encoding ---------------------------------------------------------------------------

def write_col_specs(w: Writer, specs: list[ColumnSpec]) -> None:
    glob = bool(specs) and all(s[0] == specs[0][0] and s[1] == specs[0][1] for s in specs)
    if glob:
        w.string(specs[0][0]).string(specs[0][1])
    for ks, table, name, t in specs:
        if not glob:
            w.string(ks).string(table)
        w.string(name)
        t.write_option(w)


def _meta_flags(specs: list[ColumnSpec]) -> int:
    return 0x0001 if specs and all(s[0] == specs[0][0] and s[1] == specs[0][1] for s in specs) else 0


def rows_body(specs: list[ColumnSpec], rows: list[list[bytes | None]], no_metadata: bool = False) -> bytes:
    w = Writer().int(ROWS)
    if no_metadata:
        w.int(0x0004).int(len(specs))
    else:
        w.int(_meta_flags(specs)).int(len(specs))
        write_col_specs(w, specs)
    w.int(len(rows))
    for row in rows:
        for cell in row:
            w.bytes(cell)
    return w.getvalue()


def schema_change_body(change: Change) -> bytes:
    kind, target, ks, name = change
    w = Writer().int(SCHEMA_CHANGE).string(kind).string(target).string(ks)
    if target == "TABLE":
        w.string(name or "")
    return w.getvalue()


# -- binding -----------------------------------------------------------------------------------

class Binder:
    """Resolves terms to cell bytes, from literals or from the request's bound values."""

    __slots__ = ("values", "by_name", "specs")

    def __init__(self, params: QueryParams, markers: list[cql.Marker], specs: list[ColumnSpec] | None) -> None:
        self.values = params.values
        self.by_name: dict[str, Any] | None = None
        self.specs = specs
        if params.names is not None:
            self.by_name = dict(zip(params.names, params.values, strict=True))
        elif len(params.values) != len(markers):
            raise InvalidRequest(f"There were {len(markers)} markers(?) in CQL but {len(params.values)} bound variables")

    def term(self, t: cql.Term, ctype: CqlType, column: str) -> Any:
        if isinstance(t, cql.Literal):
            return ctype.from_literal(t.kind, t.value, column)
        if self.by_name is not None:
            key = t.name or (self.specs[t.index][2] if self.specs else column)
            if key not in self.by_name:
                raise InvalidRequest(f"Missing value for bind variable {key}")
            v = self.by_name[key]
        else:
            v = self.values[t.index]
        if isinstance(v, bytes):
            ctype.validate(v, column)
        return v

    def int_term(self, t: cql.Term, what: str) -> int:
        ctype = BIGINT if what == "timestamp" else INT
        v = self.term(t, ctype, f"[{what}]")
        if v is None or v is UNSET:
            raise InvalidRequest(f"Invalid null value of {what}")
        return ctype.deserialize(v)


def _marker_specs(parsed: cql.Parsed, default_ks: str | None, resolve: Any) -> tuple[list[ColumnSpec], list[int]]:
    """Bind metadata and pk_indexes for PREPARE (see the reference, §2.7)."""
    specs: list[ColumnSpec | None] = [None] * len(parsed.markers)
    pk_indexes: list[int] = []

    def put(term: Any, ks: str, table: str, name: str, t: CqlType) -> None:
        if isinstance(term, cql.Marker):
            specs[term.index] = (ks, table, term.name or name, t)

    def stmt_specs(st: Any) -> None:
        ks_hint = getattr(st, "keyspace", None) or default_ks
        tdef: TableDef = resolve(ks_hint, st.table)
        ks, tn = tdef.keyspace, tdef.name
        if getattr(st, "timestamp", None) is not None:
            put(st.timestamp, ks, tn, "[timestamp]", BIGINT)
        if isinstance(st, cql.Insert):
            for col, term in zip(st.columns, st.values, strict=True):
                put(term, ks, tn, col, tdef.column(col).type)
        if isinstance(st, cql.Update):
            for col, term in st.assignments:
                put(term, ks, tn, col, tdef.column(col).type)
        for rel in getattr(st, "where", []):
            ctype = tdef.column(rel.column).type
            if rel.op == "IN":
                if isinstance(rel.value, cql.Marker):
                    put(rel.value, ks, tn, f"in({rel.column})", parse_type(f"list<{ctype.cql_name()}>"))
                else:
                    for v in rel.value:
                        put(v, ks, tn, rel.column, ctype)
            else:
                put(rel.value, ks, tn, rel.column, ctype)
        if isinstance(st, cql.Select) and st.limit is not None:
            put(st.limit, ks, tn, "[limit]", INT)

    st = parsed.statement
    if isinstance(st, cql.Batch):
        if st.timestamp is not None:
            raise InvalidRequest("Bind markers for the batch timestamp are not supported by the cloudgate CQL emulator")
        for s in st.statements:
            stmt_specs(s)
    elif isinstance(st, (cql.Insert, cql.Update, cql.Delete, cql.Select)):
        stmt_specs(st)
        tdef = resolve(st.keyspace or default_ks, st.table)
        idx: dict[str, int] = {}
        if isinstance(st, cql.Insert):
            idx = {c: t.index for c, t in zip(st.columns, st.values, strict=True) if isinstance(t, cql.Marker)}
        else:
            idx = {r.column: r.value.index for r in st.where if r.op == "=" and isinstance(r.value, cql.Marker)}
        if all(c.name in idx for c in tdef.partition_key):
            pk_indexes = [idx[c.name] for c in tdef.partition_key]
    elif parsed.markers:
        raise InvalidRequest("Bind variables are not allowed in this statement")
    if any(s is None for s in specs):
        raise InvalidRequest("Bind variables are not supported at this position by the cloudgate CQL emulator")
    return [s for s in specs if s is not None], pk_indexes


# -- the executor ------------------------------------------------------------------------------

class Executor:
    def __init__(self, schema: Schema, coordinator: Coordinator, metrics: LatencyMetrics, system: SystemTables,
                 describer: Describer, schema_changed: SchemaChanged) -> None:
        self.schema = schema
        self.coordinator = coordinator
        self.metrics = metrics
        self.system = system
        self.describer = describer
        self._schema_changed = schema_changed
        self.prepared: dict[bytes, Prepared] = {}
        self._last_ts = 0
        self._parse_cache: dict[str, cql.Parsed] = {}

    def now_micros(self) -> int:
        ts = time.time_ns() // 1000
        if ts <= self._last_ts:
            ts = self._last_ts + 1
        self._last_ts = ts
        return ts

    def parse(self, text: str) -> cql.Parsed:
        p = self._parse_cache.get(text)
        if p is None:
            p = cql.parse(text)
            if len(self._parse_cache) > 2000:
                self._parse_cache.clear()
            self._parse_cache[text] = p
        return p

    def resolve_table(self, ks: str | None, name: str) -> TableDef:
        if ks in SYSTEM_KEYSPACES:
            t = self.system.table(ks, name)  # type: ignore[arg-type]
            if t is None:
                raise InvalidRequest(f"table {name} does not exist" if ks != "system" else f"unconfigured table {name}")
            return t
        return self.schema.table(ks, name)

    # -- entry points ---------------------------------------------------------------------------
    async def query(self, session: Any, text: str, params: QueryParams) -> Outcome:
        parsed = self.parse(text)
        return await self.run(session, parsed, params, None)

    def prepare(self, session: Any, text: str) -> bytes:
        parsed = cql.parse(text)
        ks = session.keyspace
        pid = hashlib.md5(((ks or "") + text).encode()).digest()
        st = parsed.statement
        specs, pk_indexes = _marker_specs(parsed, ks, self.resolve_table)
        result_specs: list[ColumnSpec] = []
        tables: dict[tuple[str, str], Any] = {}
        if isinstance(st, cql.Select):
            t = self.resolve_table(st.keyspace or ks, st.table)
            result_specs = self.select_specs(st, t)
        for s in (st.statements if isinstance(st, cql.Batch) else [st]):
            if isinstance(s, (cql.Insert, cql.Update, cql.Delete, cql.Select)):
                t = self.resolve_table(s.keyspace or ks, s.table)
                tables[(t.keyspace, t.name)] = t.id
        self.prepared[pid] = Prepared(pid, text, ks, parsed, specs, pk_indexes, result_specs, tables)
        w = Writer().int(PREPARED).short_bytes(pid)
        w.int(_meta_flags(specs)).int(len(specs)).int(len(pk_indexes))
        for i in pk_indexes:
            w.short(i)
        write_col_specs(w, specs)
        if result_specs:
            w.int(_meta_flags(result_specs)).int(len(result_specs))
            write_col_specs(w, result_specs)
        else:
            w.int(0x0004).int(0)
        return w.getvalue()

    def lookup_prepared(self, pid: bytes) -> Prepared:
        p = self.prepared.get(pid)
        if p is None:
            raise Unprepared(pid)
        for (ks, name), tid in p.table_ids.items():  # table dropped/recreated since: make the driver re-prepare
            if ks not in SYSTEM_KEYSPACES:
                t = self.schema.tables.get((ks, name))
                if t is None or t.id != tid:
                    del self.prepared[pid]
                    raise Unprepared(pid)
        return p

    async def execute(self, session: Any, pid: bytes, params: QueryParams) -> Outcome:
        p = self.lookup_prepared(pid)
        return await self.run(session, p.parsed, params, p)

    async def batch(self, session: Any, kind: int, items: list[tuple[Any, list[Any]]], params: QueryParams) -> Outcome:
        """items: (query text or prepared id bytes, values)."""
        muts: list[tuple[TableDef, Mutation]] = []
        default_ts = params.timestamp if params.timestamp is not None else self.now_micros()
        for q, values in items:
            if isinstance(q, bytes):
                p = self.lookup_prepared(q)
                parsed, specs, ks = p.parsed, p.bind_specs, p.keyspace
            else:
                parsed, specs, ks = self.parse(q), None, session.keyspace
            st = parsed.statement
            if not isinstance(st, (cql.Insert, cql.Update, cql.Delete)):
                raise InvalidRequest("Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed.")
            sub = QueryParams(params.consistency, values)
            binder = Binder(sub, parsed.markers, specs)
            muts += self.mutations(st, binder, st.keyspace or ks or session.keyspace, default_ts)
        wt = "BATCH" if kind == 0 else "UNLOGGED_BATCH"
        tables = await self.write(muts, params.consistency, wt)
        return Outcome(Writer().int(VOID).getvalue(), "coordinator_write", tables)

    # -- dispatch ---------------------------------------------------------------------------------
    async def run(self, session: Any, parsed: cql.Parsed, params: QueryParams, prep: Prepared | None) -> Outcome:
        st = parsed.statement
        binder = Binder(params, parsed.markers, prep.bind_specs if prep else None)
        ks = (prep.keyspace if prep and prep.keyspace else None) or session.keyspace
        if isinstance(st, cql.Select):
            return await self.select(st, binder, st.keyspace or ks, params, prep)
        if isinstance(st, (cql.Insert, cql.Update, cql.Delete)):
            ts = params.timestamp if params.timestamp is not None else self.now_micros()
            muts = self.mutations(st, binder, st.keyspace or ks, ts)
            tables = await self.write(muts, params.consistency, "SIMPLE")
            return Outcome(Writer().int(VOID).getvalue(), "coordinator_write", tables)
        if isinstance(st, cql.Batch):
            default_ts = params.timestamp if params.timestamp is not None else self.now_micros()
            if st.timestamp is not None:
                default_ts = binder.int_term(st.timestamp, "timestamp")
            muts = []
            for s in st.statements:
                muts += self.mutations(s, binder, s.keyspace or ks, default_ts)
            tables = await self.write(muts, params.consistency, "BATCH" if st.kind == "LOGGED" else "UNLOGGED_BATCH")
            return Outcome(Writer().int(VOID).getvalue(), "coordinator_write", tables)
        if isinstance(st, cql.Use):
            self.schema.keyspace(st.keyspace) if st.keyspace not in SYSTEM_KEYSPACES else None
            session.keyspace = st.keyspace
            return Outcome(Writer().int(SET_KEYSPACE).string(st.keyspace).getvalue())
        if isinstance(st, cql.Truncate):
            return await self.truncate(st, st.keyspace or ks)
        if isinstance(st, cql.Describe):
            specs, rows = self.describer.run(st, ks)
            return Outcome(rows_body(specs, rows))
        return await self.ddl(st, ks)

    # -- DDL ------------------------------------------------------------------------------------
    async def ddl(self, st: Any, ks: str | None) -> Outcome:
        schema = self.schema
        ts = max(self.now_micros(), max((e["ts"] for e in schema.objects.values()), default=0) + 1)
        if isinstance(st, cql.CreateKeyspace):
            changes = schema.create_keyspace(st, ts)
        elif isinstance(st, cql.DropKeyspace):
            changes = schema.drop_keyspace(st, ts)
        elif isinstance(st, cql.CreateTable):
            changes = schema.create_table(st, ks, ts)
        elif isinstance(st, cql.DropTable):
            changes = schema.drop_table(st, ks, ts)
        else:  # pragma: no cover - parser produces nothing else
            raise SyntaxError_("unsupported statement")
        if not changes:
            return Outcome(Writer().int(VOID).getvalue())
        await self._schema_changed(changes, local=True)
        return Outcome(schema_change_body(changes[0]))

    async def truncate(self, st: cql.Truncate, ks: str | None) -> Outcome:
        if ks == "system_views":
            kind = st.name[: -len("_latency")] if st.name.endswith("_latency") else None
            if kind is None or self.system.table(ks, st.name) is None:
                raise InvalidRequest(f"Truncation is not supported for system_views.{st.name}")
            self.metrics.reset(kind)
            return Outcome(Writer().int(VOID).getvalue())
        if ks in SYSTEM_KEYSPACES:
            raise InvalidRequest(f"{ks} keyspace is not user-modifiable")
        t = self.schema.table(ks, st.name)
        await self.coordinator.truncate(t)
        return Outcome(Writer().int(VOID).getvalue())

    # -- writes ---------------------------------------------------------------------------------
    def _key_values(self, t: TableDef, where: list[cql.Relation], binder: Binder, what: str
                    ) -> tuple[list[bytes], list[tuple[bytes, ...]]]:
        """Partition keys (cartesian product of IN lists) and the full clustering prefix."""
        rel = {}
        for r in where:
            c = t.column(r.column)
            if c.kind not in ("partition_key", "clustering"):
                raise InvalidRequest(f"Non PRIMARY KEY columns found in where clause: {r.column}")
            if r.column in rel:
                raise InvalidRequest(f"{r.column} cannot be restricted by more than one relation if it includes an Equal")
            rel[r.column] = r
        per_col: list[list[bytes]] = []
        for c in t.partition_key:
            r = rel.get(c.name)
            if r is None:
                missing = ", ".join(x.name for x in t.partition_key if x.name not in rel)
                raise InvalidRequest(f"Some partition key parts are missing: {missing}")
            per_col.append(self._rel_values(r, c.type, binder))
        keys = [t.partition_key_bytes(list(combo)) for combo in itertools.product(*per_col)]
        ck_cols: list[list[bytes]] = []
        for c in t.clustering:
            r = rel.get(c.name)
            if r is None:
                break
            if r.op not in ("=", "IN"):
                raise InvalidRequest(f"Invalid operator {r.op} for PRIMARY KEY part {c.name} in {what}")
            ck_cols.append(self._rel_values(r, c.type, binder))
        if len(ck_cols) < len(rel) - len(t.partition_key):
            raise InvalidRequest("PRIMARY KEY column restrictions must be a prefix of the clustering columns")
        cks = [tuple(combo) for combo in itertools.product(*ck_cols)] if ck_cols else [()]
        return keys, cks

    def _rel_values(self, r: cql.Relation, ctype: CqlType, binder: Binder) -> list[bytes]:
        if r.op == "IN":
            if isinstance(r.value, cql.Marker):
                raw = binder.term(r.value, parse_type(f"list<{ctype.cql_name()}>"), f"in({r.column})")
                if raw is None or raw is UNSET:
                    raise InvalidRequest(f"Invalid null value for IN restriction on {r.column}")
                vals = [ctype.serialize(v) for v in parse_type(f"list<{ctype.cql_name()}>").deserialize(raw)]
            else:
                vals = [binder.term(v, ctype, r.column) for v in r.value]
        elif r.op == "=":
            vals = [binder.term(r.value, ctype, r.column)]
        else:
            raise InvalidRequest(f"Only EQ and IN relation are supported on the partition key (got {r.op} on {r.column})")
        for v in vals:
            if v is None or v is UNSET:
                raise InvalidRequest(f"Invalid null value in condition for column {r.column}")
        return vals  # type: ignore[return-value]

    def mutations(self, st: Any, binder: Binder, ks: str | None, default_ts: int) -> list[tuple[TableDef, Mutation]]:
        if ks in SYSTEM_KEYSPACES:
            raise InvalidRequest(f"{ks} keyspace is not user-modifiable")
        t = self.schema.table(ks, st.table)
        ts = binder.int_term(st.timestamp, "timestamp") if st.timestamp is not None else default_ts
        out: list[tuple[TableDef, Mutation]] = []
        if isinstance(st, cql.Insert):
            vals: dict[str, Any] = {}
            for col, term in zip(st.columns, st.values, strict=True):
                c = t.column(col)
                if col in vals:
                    raise InvalidRequest(f"Multiple definitions found for column {col}")
                vals[col] = binder.term(term, c.type, col)
            pk = []
            for c in t.partition_key:
                v = vals.get(c.name)
                if c.name not in vals:
                    raise InvalidRequest(f"Some partition key parts are missing: {c.name}")
                if v is None or v is UNSET:
                    raise InvalidRequest(f"Invalid null value in condition for column {c.name}")
                pk.append(v)
            ck = []
            for c in t.clustering:
                if c.name not in vals:
                    raise InvalidRequest(f"Some clustering keys are missing: {c.name}")
                v = vals[c.name]
                if v is None or v is UNSET:
                    raise InvalidRequest(f"Invalid null value in condition for column {c.name}")
                ck.append(v)
            cells = {c.name: (ts, vals[c.name]) for c in t.regular if c.name in vals and vals[c.name] is not UNSET}
            key = t.partition_key_bytes(pk)
            out.append((t, Mutation(t.id_bytes, key, NO_TS, [RowOp(tuple(ck), NO_TS, ts, cells)])))
            return out
        where_keys, cks = self._key_values(t, st.where, binder, "UPDATE" if isinstance(st, cql.Update) else "DELETE")
        if isinstance(st, cql.Update):
            if any(len(ck) != len(t.clustering) for ck in cks):
                missing = ", ".join(c.name for c in t.clustering[len(cks[0]):])
                raise InvalidRequest(f"Some clustering keys are missing: {missing}")
            cells = {}
            for col, term in st.assignments:
                c = t.column(col)
                if c.kind != "regular":
                    raise InvalidRequest(f"PRIMARY KEY part {col} found in SET part")
                v = binder.term(term, c.type, col)
                if v is not UNSET:
                    cells[col] = (ts, v)
            for key in where_keys:
                out.append((t, Mutation(t.id_bytes, key, NO_TS, [RowOp(ck, NO_TS, NO_TS, dict(cells)) for ck in cks])))
            return out
        # DELETE
        for key in where_keys:
            if st.columns:
                if any(len(ck) != len(t.clustering) for ck in cks):
                    raise InvalidRequest("Range deletions are not supported for specific columns")
                cells = {}
                for col in st.columns:
                    c = t.column(col)
                    if c.kind != "regular":
                        raise InvalidRequest(f"Invalid identifier {col} for deletion (should not be a PRIMARY KEY part)")
                    cells[col] = (ts, None)
                out.append((t, Mutation(t.id_bytes, key, NO_TS, [RowOp(ck, NO_TS, NO_TS, dict(cells)) for ck in cks])))
            elif cks == [()] and t.clustering:
                out.append((t, Mutation(t.id_bytes, key, ts, [])))
            elif all(len(ck) == len(t.clustering) for ck in cks):
                if not t.clustering:
                    out.append((t, Mutation(t.id_bytes, key, ts, [])))
                else:
                    out.append((t, Mutation(t.id_bytes, key, NO_TS, [RowOp(ck, ts) for ck in cks])))
            else:
                raise InvalidRequest("Range deletions are not supported by the cloudgate CQL emulator")
        return out

    async def write(self, muts: list[tuple[TableDef, Mutation]], cl: int, write_type: str) -> list[tuple[str, str]]:
        """Merge per partition, then hand to the coordinator one keyspace at a time."""
        by_ks, tables = _group(muts)
        for ksname, group in by_ks.items():
            ksdef = self.schema.keyspace(ksname)
            await self.coordinator.write(ksdef, list(group.values()), cl, write_type)
        return tables

    def start_execute_write(self, session: Any, pid: bytes, params: QueryParams
                            ) -> tuple[asyncio.Future[None], list[tuple[str, str]]] | None:
        """Fast path of EXECUTE for a prepared INSERT/UPDATE/DELETE: runs synchronously up to
        the replica fan-out and returns (future of the CL, tables), or None for any other
        statement (the caller then runs ``execute`` as a task). Saves a task and a loop
        iteration per write."""
        p = self.lookup_prepared(pid)
        st = p.parsed.statement
        if not isinstance(st, (cql.Insert, cql.Update, cql.Delete)):
            return None
        binder = Binder(params, p.parsed.markers, p.bind_specs)
        ks = p.keyspace or session.keyspace
        ts = params.timestamp if params.timestamp is not None else self.now_micros()
        by_ks, tables = _group(self.mutations(st, binder, st.keyspace or ks, ts))
        if len(by_ks) != 1:
            return None
        ((ksname, group),) = by_ks.items()
        fut = self.coordinator.start_write(self.schema.keyspace(ksname), list(group.values()),
                                                params.consistency, "SIMPLE")
        return fut, tables

    # -- reads ----------------------------------------------------------------------------------
    def select_specs(self, st: cql.Select, t: TableDef) -> list[ColumnSpec]:
        if st.columns == ["*"]:
            return [(t.keyspace, t.name, c.name, c.type) for c in select_star_order(t)]
        specs = []
        for name in st.columns:
            if name == "count(*)":
                specs.append((t.keyspace, t.name, st.aliases.get(name, "count"), BIGINT))
            else:
                c = t.column(name)
                specs.append((t.keyspace, t.name, st.aliases.get(name, name), c.type))
        return specs

    async def select(self, st: cql.Select, binder: Binder, ks: str | None, params: QueryParams,
                     prep: Prepared | None) -> Outcome:
        t = self.resolve_table(ks, st.table)
        specs = self.select_specs(st, t)
        limit = binder.int_term(st.limit, "limit") if st.limit is not None else None
        if limit is not None and limit <= 0:
            raise InvalidRequest("LIMIT must be strictly positive")
        names = [c.name for c in select_star_order(t)] if st.columns == ["*"] else st.columns
        no_meta = params.skip_metadata and prep is not None and bool(prep.result_specs)
        if t.virtual:
            rows = self._virtual_rows(t, st, binder)
            metric = None
        else:
            rows, metric = await self._table_rows(t, st, binder, params.consistency)
        if names == ["count(*)"] or "count(*)" in names:
            return Outcome(rows_body(specs, [[BIGINT.serialize(len(rows))]], no_meta), metric, [(t.keyspace, t.name)])
        if limit is not None:
            rows = rows[:limit]
        out = [[r.get(n) for n in names] for r in rows]
        return Outcome(rows_body(specs, out, no_meta), metric, [(t.keyspace, t.name)])

    def _virtual_rows(self, t: TableDef, st: cql.Select, binder: Binder) -> list[dict[str, bytes | None]]:
        rows = self.system.rows(t.keyspace, t.name)
        conds = []
        for r in st.where:
            c = t.column(r.column)
            if r.op == "IN":
                vals = self._rel_values(r, c.type, binder)
                conds.append((c, "IN", [c.type.deserialize(v) for v in vals]))
            else:
                raw = binder.term(r.value, c.type, r.column)
                conds.append((c, r.op, c.type.deserialize(raw)))  # type: ignore[arg-type]
        out = []
        for row in rows:
            if all(_match(row.get(c.name), op, v) for c, op, v in conds):
                out.append({c.name: c.type.serialize(row.get(c.name)) for c in t.columns})
        return out

    async def _table_rows(self, t: TableDef, st: cql.Select, binder: Binder, cl: int
                          ) -> tuple[list[dict[str, bytes | None]], str]:
        coord = self.coordinator
        ksdef = self.schema.keyspace(t.keyspace)
        rel = {r.column: r for r in st.where}
        for r in st.where:
            t.column(r.column)
        pk_restricted = all(c.name in rel and rel[c.name].op in ("=", "IN") for c in t.partition_key)
        filters: list[tuple[Any, str, Any]] = []
        sl = Slice()
        if pk_restricted:
            per_col = [self._rel_values(rel[c.name], c.type, binder) for c in t.partition_key]
            keys = [t.partition_key_bytes(list(combo)) for combo in itertools.product(*per_col)]
            prefix: list[bytes] = []
            ranged = False
            for c in t.clustering:
                r = rel.get(c.name)
                if r is None:
                    break
                if r.op == "=" and not ranged:
                    prefix.append(self._rel_values(r, c.type, binder)[0])
                    continue
                break
            sl.prefix = tuple(prefix)
            nxt = t.clustering[len(prefix)] if len(prefix) < len(t.clustering) else None
            handled = {c.name for c in t.partition_key} | {c.name for c in t.clustering[: len(prefix)]}
            if nxt is not None:
                bounds = [r for r in st.where if r.column == nxt.name and r.op in ("<", "<=", ">", ">=")]
                for r in bounds:
                    v = binder.term(r.value, nxt.type, r.column)
                    if r.op in (">", ">="):
                        sl.lower = (v, r.op == ">=")
                    else:
                        sl.upper = (v, r.op == "<=")
                if bounds:
                    handled.add(nxt.name)
            for r in st.where:
                if r.column not in handled:
                    if not st.allow_filtering:
                        raise InvalidRequest(
                            "Cannot execute this query as it might involve data filtering and thus may have "
                            "unpredictable performance. If you want to execute this query despite the performance "
                            "unpredictability, use ALLOW FILTERING")
                    filters.append(self._filter(t, r, binder))
            parts = []
            for key in keys:
                parts.append((key, await coord.read(ksdef, t, key, sl, cl)))
            metric = "coordinator_read"
        else:
            if st.where and not st.allow_filtering:
                raise InvalidRequest(
                    "Cannot execute this query as it might involve data filtering and thus may have unpredictable "
                    "performance. If you want to execute this query despite the performance unpredictability, use "
                    "ALLOW FILTERING")
            filters = [self._filter(t, r, binder) for r in st.where]
            scanned = await coord.scan(t)
            from .ring import token_of

            parts = sorted(scanned.items(), key=lambda kv: token_of(kv[0]))
            metric = "coordinator_scan"
        rows: list[dict[str, bytes | None]] = []
        for key, p in parts:
            rows.extend(self._live_rows(t, key, p, sl))
        if filters:
            rows = [r for r in rows if all(_match(c.type.deserialize(r.get(c.name)), op, v) for c, op, v in filters)]
        return rows, metric

    def _filter(self, t: TableDef, r: cql.Relation, binder: Binder) -> tuple[Any, str, Any]:
        c = t.column(r.column)
        if r.op == "IN":
            return c, "IN", [c.type.deserialize(v) for v in self._rel_values(r, c.type, binder)]
        return c, r.op, c.type.deserialize(binder.term(r.value, c.type, r.column))

    def _live_rows(self, t: TableDef, key: bytes, p: Partition, sl: Slice) -> list[dict[str, bytes | None]]:
        pk_vals = t.split_partition_key(key)
        base = {c.name: v for c, v in zip(t.partition_key, pk_vals, strict=True)}
        out = []
        for ck in sorted(p.rows, key=t.clustering_sort_key):
            row = p.rows[ck]
            if not row.is_live(p.deleted):
                continue
            d: dict[str, bytes | None] = dict(base)
            for c, v in zip(t.clustering, ck, strict=False):
                d[c.name] = v
            d.update(row.live_cells(p.deleted))
            out.append(d)
        return out


def _group(muts: list[tuple[TableDef, Mutation]]
           ) -> tuple[dict[str, dict[tuple[bytes, bytes], Mutation]], list[tuple[str, str]]]:
    """Mutations merged per (table, partition), grouped per keyspace; plus the tables touched."""
    by_ks: dict[str, dict[tuple[bytes, bytes], Mutation]] = {}
    tables: list[tuple[str, str]] = []
    for t, m in muts:
        if (t.keyspace, t.name) not in tables:
            tables.append((t.keyspace, t.name))
        group = by_ks.setdefault(t.keyspace, {})
        k = (m.table_id, m.key)
        prev = group.get(k)
        if prev is None:
            group[k] = m
        else:
            p = Partition()
            p.apply(prev)
            p.apply(m)
            group[k] = p.to_mutation(m.table_id, m.key)
    return by_ks, tables


def _match(actual: Any, op: str, want: Any) -> bool:
    if op == "=":
        return actual == want
    if op == "IN":
        return actual in want
    if actual is None or want is None:
        return False
    try:
        if op == "<":
            return actual < want
        if op == "<=":
            return actual <= want
        if op == ">":
            return actual > want
        if op == ">=":
            return actual >= want
    except TypeError:
        return False
    return False
