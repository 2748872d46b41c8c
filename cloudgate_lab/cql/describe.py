"""Server-side DESCRIBE, answered like Cassandra 4.x (``cql3/statements/DescribeStatement.java``).

Why on the server: since Cassandra 4.0, cqlsh (PyPI ``cqlsh`` 6.x) no longer builds DESCRIBE
output from driver metadata; when ``system.local.release_version`` is 4 or more it sends the
DESCRIBE text as a plain QUERY and prints the rows it gets back. So the rows must have
Cassandra's shape, which cqlsh reads by column name:

* listings (``KEYSPACES``, ``TABLES``, ``TYPES``, ``FUNCTIONS``, ``AGGREGATES``): columns
  ``keyspace_name, type, name`` (text), ``type`` being ``keyspace``/``table``/...;
* elements (``KEYSPACE``, ``TABLE``, ``SCHEMA``, generic ``DESCRIBE name``): the same plus
  ``create_statement``, one row per keyspace/table, keyspace first then its tables by name;
* ``CLUSTER``: ``cluster, partitioner, snitch`` and, when a non-system keyspace is in use,
  ``range_ownership`` (``map<text, list<text>>``: vnode token -> ``/address:port`` replicas).

Every result's metadata names the table ``system.describe``. Names are quoted when CQL needs
it; element lists are sorted case-insensitively, as Cassandra's NAME_COMPARATOR does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import cql
from .config import ClusterConfig
from .cqltext import keyspace_cql, quote_name, table_cql
from .cqltypes import TEXT, CqlType, parse_type
from .errors import InvalidRequest
from .ring import Ring
from .schema import SYSTEM_KEYSPACES, Schema, TableDef
from .virtual import DEFS, SYSTEM_KS_REPLICATION, VIRTUAL_KEYSPACES

Spec = tuple[str, str, str, CqlType]
Row = list[bytes | None]

_LIST_SPECS: list[Spec] = [("system", "describe", n, TEXT) for n in ("keyspace_name", "type", "name")]
_ELEMENT_SPECS: list[Spec] = _LIST_SPECS + [("system", "describe", "create_statement", TEXT)]
_CLUSTER_SPECS: list[Spec] = [("system", "describe", n, TEXT) for n in ("cluster", "partitioner", "snitch")]
_OWNERSHIP_SPEC: Spec = ("system", "describe", "range_ownership", parse_type("map<text, list<text>>"))
#: Cassandra's default (dynamic_snitch: true) wraps the configured snitch; DESCRIBE trims the package.
SNITCH = "DynamicEndpointSnitch"
PARTITIONER = "Murmur3Partitioner"


@dataclass
class _Keyspace:
    name: str
    replication: dict[str, str]
    durable_writes: bool
    virtual: bool
    tables: list[TableDef] = field(default_factory=list)


@dataclass(frozen=True)
class _Element:
    keyspace: str
    type: str
    name: str
    create: str

    def row(self, with_create: bool) -> Row:
        cells = [quote_name(self.keyspace), self.type, quote_name(self.name)] + ([self.create] if with_create else [])
        return [TEXT.serialize(c) for c in cells]


def _by_name(name: str) -> str:
    return name.lower()


class Describer:
    """Answers one DESCRIBE from this node's schema (DESCRIBE is local in Cassandra too)."""

    def __init__(self, schema: Schema, ring: Ring, config: ClusterConfig) -> None:
        self.schema = schema
        self.ring = ring
        self.config = config

    def run(self, st: cql.Describe, current: str | None) -> tuple[list[Spec], list[Row]]:
        if st.kind == "cluster":
            return self._cluster(current)
        universe = self._universe()
        if st.kind in ("keyspaces", "tables", "types", "functions", "aggregates"):
            return _LIST_SPECS, [e.row(False) for e in self._listing(st.kind, universe, current)]
        if st.kind == "schema":
            picked = [k for k in universe.values() if st.full or k.name not in SYSTEM_KEYSPACES]
            elements = [e for k in picked for e in self._keyspace_elements(k, False, st.internals)]
        else:
            elements = self._element(st, universe, current)
        return _ELEMENT_SPECS, [e.row(True) for e in elements]

    # -- the schema as DESCRIBE sees it: distributed, local and virtual keyspaces ---------------
    def _universe(self) -> dict[str, _Keyspace]:
        out = {name: _Keyspace(name, repl, True, False) for name, repl in SYSTEM_KS_REPLICATION.items()}
        out.update({name: _Keyspace(name, {}, True, True) for name in VIRTUAL_KEYSPACES})
        for (ks, _name), t in DEFS.items():
            out[ks].tables.append(t)
        for k in self.schema.keyspaces.values():
            out[k.name] = _Keyspace(k.name, k.replication, k.durable_writes, False)
        for t in self.schema.tables.values():
            out[t.keyspace].tables.append(t)
        for k in out.values():
            k.tables.sort(key=lambda t: _by_name(t.name))
        return dict(sorted(out.items(), key=lambda kv: _by_name(kv[0])))

    @staticmethod
    def _keyspace(name: str, universe: dict[str, _Keyspace]) -> _Keyspace:
        k = universe.get(name)
        if k is None:
            raise InvalidRequest(f"'{name}' not found in keyspaces")
        return k

    @staticmethod
    def _table_element(k: _Keyspace, t: TableDef, internals: bool) -> _Element:
        return _Element(k.name, "table", t.name, table_cql(t, virtual=k.virtual, internals=internals))

    def _keyspace_elements(self, k: _Keyspace, only: bool, internals: bool) -> list[_Element]:
        out = [_Element(k.name, "keyspace", k.name, keyspace_cql(k.name, k.replication, k.durable_writes, k.virtual))]
        if not only:  # types, functions, aggregates, indexes and views would follow: the emulator has none
            out += [self._table_element(k, t, internals) for t in k.tables]
        return out

    def _listing(self, kind: str, universe: dict[str, _Keyspace], current: str | None) -> list[_Element]:
        if kind == "keyspaces":
            return [_Element(k.name, "keyspace", k.name, "") for k in universe.values()]
        picked = [self._keyspace(current, universe)] if current else list(universe.values())
        if kind != "tables":
            return []  # no user-defined types, functions or aggregates in the emulator
        return [_Element(k.name, "table", t.name, "") for k in picked for t in k.tables]

    def _element(self, st: cql.Describe, universe: dict[str, _Keyspace], current: str | None) -> list[_Element]:
        if st.kind == "generic" and st.keyspace is None and st.name in universe:
            return self._keyspace_elements(universe[st.name], False, st.internals)
        ksname = st.keyspace or current or (st.name if st.kind == "generic" else None)
        if ksname is None:
            raise InvalidRequest("No keyspace specified and no current keyspace")
        k = self._keyspace(ksname, universe)
        if st.kind == "keyspace":
            return self._keyspace_elements(k, st.only, st.internals)
        table = next((t for t in k.tables if t.name == st.name), None)
        if st.kind in ("table", "generic") and table is not None:
            return [self._table_element(k, table, st.internals)]
        messages = {
            "generic": "'{n}' not found in keyspace '{k}'",
            "table": "Table '{n}' not found in keyspace '{k}'",
            "index": "Table for existing index '{n}' not found in '{k}'",
            "view": "Materialized view '{n}' not found in '{k}'",
            "type": "User defined type '{n}' not found in '{k}'",
            "function": "User defined function '{n}' not found in '{k}'",
            "aggregate": "User defined aggregate '{n}' not found in '{k}'",
        }
        raise InvalidRequest(messages[st.kind].format(n=st.name, k=k.name))

    # -- DESCRIBE CLUSTER ---------------------------------------------------------------------------
    def _cluster(self, current: str | None) -> tuple[list[Spec], list[Row]]:
        row: Row = [TEXT.serialize(v) for v in (self.config.cluster_name, PARTITIONER, SNITCH)]
        if current is None or current in SYSTEM_KEYSPACES:
            return _CLUSTER_SPECS, [row]
        return _CLUSTER_SPECS + [_OWNERSHIP_SPEC], [row + [_OWNERSHIP_SPEC[3].serialize(self._ownership(current))]]

    def _ownership(self, keyspace: str) -> dict[str, list[str]]:
        """Each vnode's end token -> its replicas, as StorageService.getRangeToAddressMap gives them."""
        replication = self.schema.keyspace(keyspace).replication
        ring = self.ring
        out: dict[str, list[str]] = {}
        for token in ring.tokens:
            out[str(token)] = [self._endpoint(e.name) for e in ring.replicas(replication, token)]
        return out

    def _endpoint(self, name: str) -> str:
        n = self.config.node(name)
        return f"/{n.address}:{n.internode_port}"  # InetAddressAndPort.toString()
