"""Keyspace and table definitions, their persistence and their cluster-wide merge.

The schema is a map of objects (``ks/<name>``, ``tb/<ks>/<name>``) each carrying the write
timestamp of its last DDL and either a definition or ``None`` (dropped). Merging two schemas
keeps the newer entry per object, so nodes converge whatever order pushes and pulls arrive
in, and every node reports the same ``schema_version`` (a hash of the merged map) — which the
driver's schema-agreement wait requires.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import cql
from .cqltypes import USER_TYPES, CqlType, parse_type
from .errors import AlreadyExists, ConfigurationError, InvalidRequest

STRATEGY_PREFIX = "org.apache.cassandra.locator."
SYSTEM_KEYSPACES = frozenset(
    {"system", "system_schema", "system_views", "system_virtual_schema", "system_auth", "system_distributed",
     "system_traces"}
)


@dataclass(slots=True)
class ColumnDef:
    name: str
    type: CqlType
    kind: str  # partition_key / clustering / regular / static
    position: int  # -1 for regular columns, as Cassandra reports
    order: str = "none"  # asc / desc for clustering columns


@dataclass
class TableDef:
    keyspace: str
    name: str
    id: uuid.UUID
    columns: list[ColumnDef]
    options: dict[str, Any] = field(default_factory=dict)
    virtual: bool = False

    def __post_init__(self) -> None:
        self.by_name = {c.name: c for c in self.columns}
        self.partition_key = sorted((c for c in self.columns if c.kind == "partition_key"), key=lambda c: c.position)
        self.clustering = sorted((c for c in self.columns if c.kind == "clustering"), key=lambda c: c.position)
        self.regular = [c for c in self.columns if c.kind in ("regular", "static")]
        self.id_bytes = self.id.bytes

    def column(self, name: str) -> ColumnDef:
        c = self.by_name.get(name)
        if c is None:
            raise InvalidRequest(f"Undefined column name {name} in table {self.keyspace}.{self.name}")
        return c

    def partition_key_bytes(self, values: list[bytes]) -> bytes:
        """Single column: the value itself; composite: (u16 len, bytes, 0x00) per component."""
        if len(values) == 1:
            return values[0]
        return b"".join(struct.pack(">H", len(v)) + v + b"\x00" for v in values)

    def split_partition_key(self, key: bytes) -> list[bytes]:
        if len(self.partition_key) == 1:
            return [key]
        out, pos = [], 0
        for _ in self.partition_key:
            n = struct.unpack_from(">H", key, pos)[0]
            out.append(key[pos + 2 : pos + 2 + n])
            pos += n + 3
        return out

    def clustering_sort_key(self, ck: tuple[bytes, ...]) -> tuple:
        """Order rows as Cassandra does, honouring CLUSTERING ORDER BY ... DESC."""
        parts = []
        for col, v in zip(self.clustering, ck, strict=False):
            k = col.type.sort_key(v)
            parts.append(_Desc(k) if col.order == "desc" else k)
        return tuple(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "keyspace": self.keyspace,
            "name": self.name,
            "id": str(self.id),
            "columns": [[c.name, c.type.cql_name(), c.kind, c.position, c.order] for c in self.columns],
            "options": self.options,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TableDef:
        cols = [ColumnDef(n, parse_type(t), k, p, o) for n, t, k, p, o in d["columns"]]
        return cls(d["keyspace"], d["name"], uuid.UUID(d["id"]), cols, d.get("options", {}))


class _Desc:
    """Inverts the order of a sort key (DESC clustering)."""

    __slots__ = ("k",)

    def __init__(self, k: Any) -> None:
        self.k = k

    def __lt__(self, other: _Desc) -> bool:
        return other.k < self.k

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and other.k == self.k


@dataclass
class KeyspaceDef:
    name: str
    replication: dict[str, str]
    durable_writes: bool = True

    @property
    def strategy(self) -> str:
        return self.replication["class"].rsplit(".", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "replication": self.replication, "durable_writes": self.durable_writes}


Change = tuple[str, str, str, str | None]  # (CREATED|UPDATED|DROPPED, KEYSPACE|TABLE, keyspace, table)


class Schema:
    def __init__(self, path: str | None, datacenters: set[str]) -> None:
        self.path = path
        self.datacenters = datacenters
        self.objects: dict[str, dict[str, Any]] = {}
        self.keyspaces: dict[str, KeyspaceDef] = {}
        self.tables: dict[tuple[str, str], TableDef] = {}
        self.by_id: dict[bytes, TableDef] = {}
        self.version = uuid.UUID(int=0)
        if path and os.path.exists(path):
            with open(path) as f:
                self.objects = json.load(f)["objects"]
        self._rebuild()

    # -- derived views ----------------------------------------------------------------------------
    def _rebuild(self) -> None:
        self.keyspaces = {}
        self.tables = {}
        for key, entry in self.objects.items():
            d = entry["def"]
            if d is None:
                continue
            if key.startswith("ks/"):
                self.keyspaces[d["name"]] = KeyspaceDef(d["name"], d["replication"], d["durable_writes"])
        for key, entry in self.objects.items():
            d = entry["def"]
            if d is not None and key.startswith("tb/") and d["keyspace"] in self.keyspaces:
                t = TableDef.from_json(d)
                self.tables[(t.keyspace, t.name)] = t
        self.by_id = {t.id_bytes: t for t in self.tables.values()}
        canon = json.dumps(self.objects, sort_keys=True, separators=(",", ":")).encode()
        self.version = uuid.UUID(bytes=hashlib.md5(canon).digest(), version=3)

    def to_json(self) -> dict[str, Any]:
        return {"objects": self.objects}

    def _persist(self) -> None:
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.to_json(), f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def _set(self, key: str, ts: int, d: dict[str, Any] | None) -> None:
        self.objects[key] = {"ts": ts, "def": d}

    def merge(self, other: dict[str, Any]) -> list[Change]:
        """Fold a peer's schema in (newer entry per object wins); returns what changed here."""
        changed = False
        for key, entry in other.get("objects", {}).items():
            mine = self.objects.get(key)
            if mine is None or (entry["ts"], json.dumps(entry, sort_keys=True)) > (
                mine["ts"], json.dumps(mine, sort_keys=True)
            ):
                self.objects[key] = entry
                changed = True
        if not changed:
            return []
        before_ks, before_tb = set(self.keyspaces), {k: t.id for k, t in self.tables.items()}
        self._rebuild()
        self._persist()
        changes: list[Change] = []
        for ks in set(self.keyspaces) - before_ks:
            changes.append(("CREATED", "KEYSPACE", ks, None))
        for ks in before_ks - set(self.keyspaces):
            changes.append(("DROPPED", "KEYSPACE", ks, None))
        for k, tid in self.tables.items():
            if k not in before_tb:
                changes.append(("CREATED", "TABLE", k[0], k[1]))
            elif before_tb[k] != tid.id:
                changes.append(("UPDATED", "TABLE", k[0], k[1]))
        for k in before_tb:
            if k not in self.tables and k[0] in self.keyspaces:
                changes.append(("DROPPED", "TABLE", k[0], k[1]))
        return changes

    # -- lookups --------------------------------------------------------------------------------
    def keyspace(self, name: str) -> KeyspaceDef:
        ks = self.keyspaces.get(name)
        if ks is None:
            raise InvalidRequest(f"Keyspace '{name}' does not exist")
        return ks

    def table(self, keyspace: str | None, name: str) -> TableDef:
        if keyspace is None:
            raise InvalidRequest("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")
        t = self.tables.get((keyspace, name))
        if t is None:
            if keyspace not in self.keyspaces:
                raise InvalidRequest(f"Keyspace '{keyspace}' does not exist")
            raise InvalidRequest(f"unconfigured table {name}")
        return t

    # -- DDL ------------------------------------------------------------------------------------
    def create_keyspace(self, st: cql.CreateKeyspace, ts: int) -> list[Change]:
        if st.name in SYSTEM_KEYSPACES:
            raise InvalidRequest(f"{st.name} keyspace is not user-modifiable")
        if st.name in self.keyspaces:
            if st.if_not_exists:
                return []
            raise AlreadyExists(st.name)
        _check_name(st.name, "Keyspace")
        repl = self.normalize_replication(st.name, st.replication)
        self._set(f"ks/{st.name}", ts, KeyspaceDef(st.name, repl, st.durable_writes).to_json())
        self._rebuild()
        self._persist()
        return [("CREATED", "KEYSPACE", st.name, None)]

    def normalize_replication(self, ks: str, repl: dict[str, str]) -> dict[str, str]:
        repl = dict(repl)
        cls = repl.pop("class", None)
        if not cls:
            raise ConfigurationError("Missing replication strategy class")
        short = cls.rsplit(".", 1)[-1]
        out: dict[str, str] = {"class": STRATEGY_PREFIX + short}
        if short == "SimpleStrategy":
            rf = repl.pop("replication_factor", None)
            if rf is None:
                raise ConfigurationError("SimpleStrategy requires a replication_factor strategy option.")
            out["replication_factor"] = str(_rf(rf))
            if repl:
                raise ConfigurationError(f"Unrecognized strategy option {{{', '.join(repl)}}} passed to SimpleStrategy for keyspace {ks}")
        elif short == "NetworkTopologyStrategy":
            default = repl.pop("replication_factor", None)
            if default is not None:
                for dc in sorted(self.datacenters):
                    repl.setdefault(dc, default)
            unknown = sorted(set(repl) - self.datacenters)
            if unknown:
                raise ConfigurationError(
                    f"Unrecognized strategy option {{{', '.join(unknown)}}} passed to NetworkTopologyStrategy for keyspace {ks}"
                )
            for dc in sorted(repl):
                out[dc] = str(_rf(repl[dc]))
        else:
            raise ConfigurationError(f"Unable to find replication strategy class '{cls}'")
        return out

    def drop_keyspace(self, st: cql.DropKeyspace, ts: int) -> list[Change]:
        if st.name in SYSTEM_KEYSPACES:
            raise InvalidRequest(f"{st.name} keyspace is not user-modifiable")
        if st.name not in self.keyspaces:
            if st.if_exists:
                return []
            raise ConfigurationError(f"Cannot drop non existing keyspace '{st.name}'.")
        self._set(f"ks/{st.name}", ts, None)
        for (ks, name) in list(self.tables):
            if ks == st.name:
                self._set(f"tb/{ks}/{name}", ts, None)
        self._rebuild()
        self._persist()
        return [("DROPPED", "KEYSPACE", st.name, None)]

    def create_table(self, st: cql.CreateTable, ks: str | None, ts: int) -> list[Change]:
        ks = st.keyspace or ks
        if ks is None:
            raise InvalidRequest("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")
        if ks in SYSTEM_KEYSPACES:
            raise InvalidRequest(f"{ks} keyspace is not user-modifiable")
        self.keyspace(ks)
        if (ks, st.name) in self.tables:
            if st.if_not_exists:
                return []
            raise AlreadyExists(ks, st.name)
        _check_name(st.name, "Table")
        declared = {}
        for name, tname, static in st.columns:
            if name in declared:
                raise InvalidRequest(f"Multiple definition of identifier {name}")
            if static:
                raise InvalidRequest("Static columns are not supported by the cloudgate CQL emulator")
            t = parse_type(tname)
            if t.name not in USER_TYPES:
                raise InvalidRequest(f"Type {t.cql_name()} is not supported by the cloudgate CQL emulator")
            declared[name] = t
        cols: list[ColumnDef] = []
        for i, name in enumerate(st.partition_key):
            if name not in declared:
                raise InvalidRequest(f"Unknown definition {name} referenced in PRIMARY KEY")
            cols.append(ColumnDef(name, declared[name], "partition_key", i))
        for i, name in enumerate(st.clustering):
            if name not in declared:
                raise InvalidRequest(f"Unknown definition {name} referenced in PRIMARY KEY")
            order = st.clustering_order.get(name, "ASC").lower()
            cols.append(ColumnDef(name, declared[name], "clustering", i, order))
        keyset = set(st.partition_key) | set(st.clustering)
        if len(keyset) != len(st.partition_key) + len(st.clustering):
            raise InvalidRequest("Duplicate column in PRIMARY KEY")
        for name in st.clustering_order:
            if name not in st.clustering:
                raise InvalidRequest(f"Only clustering key columns can be defined in CLUSTERING ORDER directive: {name}")
        for name, t in declared.items():
            if name not in keyset:
                cols.append(ColumnDef(name, t, "regular", -1))
        tid = uuid.uuid5(uuid.NAMESPACE_OID, f"{ks}.{st.name}.{ts}")
        options = {k: v for k, v in st.options.items() if isinstance(v, (str, int, float, bool, dict))}
        table = TableDef(ks, st.name, tid, cols, options)
        self._set(f"tb/{ks}/{st.name}", ts, table.to_json())
        self._rebuild()
        self._persist()
        return [("CREATED", "TABLE", ks, st.name)]

    def drop_table(self, st: cql.DropTable, ks: str | None, ts: int) -> list[Change]:
        ks = st.keyspace or ks
        if ks in SYSTEM_KEYSPACES:
            raise InvalidRequest(f"{ks} keyspace is not user-modifiable")
        if ks is None or (ks, st.name) not in self.tables:
            if st.if_exists and (ks is None or ks in self.keyspaces):
                return []
            self.table(ks, st.name)
        self._set(f"tb/{ks}/{st.name}", ts, None)
        self._rebuild()
        self._persist()
        return [("DROPPED", "TABLE", ks, st.name)]  # type: ignore[list-item]


def _rf(v: Any) -> int:
    try:
        n = int(str(v))
    except ValueError:
        raise ConfigurationError(f"Replication factor must be numeric; found {v}") from None
    if n < 0:
        raise ConfigurationError(f"Replication factor must be non-negative; found {v}")
    return n


def _check_name(name: str, what: str) -> None:
    if not name or len(name) > 48 or not all(c.isalnum() or c == "_" for c in name):
        raise InvalidRequest(f"{what} name must not be empty, more than 48 characters long, or contain non-alphanumeric-underscore characters (got \"{name}\")")
