"""CQL text of schema objects, spelled the way Cassandra 4.1's DESCRIBE spells it.

Why a module of its own: operators paste ``DESCRIBE`` output back into cqlsh to recreate a
keyspace, and tools diff it between clusters, so the text must be exactly Cassandra's
(``KeyspaceMetadata``/``TableMetadata.toCqlString``: the two spaces before ``AND durable_writes``,
4-space indents, short class names for strategies in ``org.apache.cassandra.locator``, options in
``TableParams`` order) and must parse back through this emulator's own CREATE statements.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from .schema import ColumnDef, TableDef
from .tableopts import effective_options

#: Cassandra 4.x ReservedKeywords: such a name is always double-quoted.
RESERVED = frozenset({
    "add", "allow", "alter", "and", "apply", "asc", "authorize", "batch", "begin", "by", "columnfamily",
    "create", "default", "delete", "desc", "describe", "drop", "entries", "execute", "from", "full", "grant",
    "if", "in", "index", "infinity", "insert", "into", "is", "keyspace", "limit", "materialized", "mbean",
    "mbeans", "modify", "nan", "norecursive", "not", "null", "of", "on", "or", "order", "primary", "rename",
    "replace", "revoke", "schema", "select", "set", "table", "to", "token", "truncate", "unlogged", "unset",
    "update", "use", "using", "view", "where", "with",
})

_PLAIN = re.compile(r"[a-z][a-z0-9_]*\Z")
_LOCATOR = "org.apache.cassandra.locator."


def quote_name(name: str) -> str:
    """ColumnIdentifier.maybeQuote: lower-case identifiers stay bare, anything else is quoted."""
    if _PLAIN.match(name) and name not in RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _java_double(x: float) -> str:
    """Double.toString: plain decimals in [1e-3, 1e7), else ``1.0E-5`` style (same shortest digits)."""
    if x == 0 or 1e-3 <= abs(x) < 1e7 or x != x or x in (float("inf"), float("-inf")):
        return repr(float(x)).replace("inf", "Infinity").replace("nan", "NaN")
    d = Decimal(repr(float(x)))
    digits = "".join(map(str, d.as_tuple().digits)).rstrip("0") or "0"
    sign = "-" if x < 0 else ""
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{d.adjusted()}"


def literal(v: Any) -> str:
    """A table option value as CQL: strings quoted, maps as ``{'k': 'v'}``, doubles Java-style."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _java_double(v)
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    if isinstance(v, dict):
        return "{" + ", ".join(f"{quote_string(str(k))}: {literal(x)}" for k, x in v.items()) + "}"
    return quote_string(str(v))


def keyspace_cql(name: str, replication: dict[str, str], durable_writes: bool, virtual: bool = False) -> str:
    """``CREATE KEYSPACE`` (or the commented reference block Cassandra prints for a virtual one)."""
    if virtual:
        return (f"/*\nWarning: Keyspace {quote_name(name)} is a virtual keyspace and cannot be recreated with CQL.\n"
                f"Structure, for reference:\nVIRTUAL KEYSPACE {quote_name(name)};\n*/")
    cls = replication.get("class", "")
    short = cls[len(_LOCATOR):] if cls.startswith(_LOCATOR) and "." not in cls[len(_LOCATOR):] else cls
    opts = "".join(f", {quote_string(k)}: {quote_string(str(v))}" for k, v in replication.items() if k != "class")
    durable = "true" if durable_writes else "false"
    return (f"CREATE KEYSPACE {quote_name(name)} WITH replication = {{'class': {quote_string(short)}{opts}}}"
            f"  AND durable_writes = {durable};")


def _type_text(c: ColumnDef) -> str:
    name = c.type.cql_name()
    return "text" if name == "varchar" else name


def _create_order(t: TableDef) -> list[ColumnDef]:
    """Partition key, clustering, then statics and regulars: simple before collections, by name."""
    def others(kind: str) -> list[ColumnDef]:
        cols = [c for c in t.regular if c.kind == kind]
        return sorted(cols, key=lambda c: (c.type.is_collection and not c.type.frozen, c.name.encode()))

    return t.partition_key + t.clustering + others("static") + others("regular")


def table_cql(t: TableDef, virtual: bool = False, internals: bool = False) -> str:
    """``CREATE TABLE ks.t (...) WITH ...;``; ``internals`` adds ``ID = <table id>`` first."""
    qname = f"{quote_name(t.keyspace)}.{quote_name(t.name)}"
    single = len(t.partition_key) == 1 and not t.clustering
    cols = _create_order(t)
    lines = []
    for i, c in enumerate(cols):
        line = f"    {quote_name(c.name)} {_type_text(c)}"
        if c.kind == "static":
            line += " static"
        if single and c.kind == "partition_key":
            line += " PRIMARY KEY"
        if not single or i < len(cols) - 1:
            line += ","
        lines.append(line)
    if not single:
        pk = ", ".join(quote_name(c.name) for c in t.partition_key)
        if len(t.partition_key) > 1:
            pk = f"({pk})"
        lines.append(f"    PRIMARY KEY ({', '.join([pk] + [quote_name(c.name) for c in t.clustering])})")
    opts: list[str] = []
    if internals:
        opts.append(f"ID = {t.id}")
    if t.clustering:
        order = ", ".join(f"{quote_name(c.name)} {'DESC' if c.order == 'desc' else 'ASC'}" for c in t.clustering)
        opts.append(f"CLUSTERING ORDER BY ({order})")
    if virtual:
        opts.append(f"comment = {quote_string(str(t.options.get('comment', '')))}")
    else:
        opts += [f"{k} = {literal(v)}" for k, v in effective_options(t.options).items() if k != "flags"]
    body = f"TABLE {qname} (\n" + "\n".join(lines) + "\n) WITH " + "\n    AND ".join(opts) + ";"
    if virtual:
        return (f"/*\nWarning: Table {qname} is a virtual table and cannot be recreated with CQL.\n"
                f"Structure, for reference:\nVIRTUAL {body}\n*/")
    return "CREATE " + body
