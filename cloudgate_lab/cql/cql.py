"""Tokenizer and recursive-descent parser for the CQL subset the emulator serves.

The parser only builds statement objects; it knows nothing of schemas. Text that is not CQL
raises ``SyntaxError_`` (0x2000, like Cassandra's ANTLR parser); valid CQL outside the subset
(ALTER, indexes, LWT, TTL, ...) raises ``InvalidRequest`` (0x2200) saying so, so a client always
gets an ERROR frame and keeps its connection.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidRequest, SyntaxError_

# -- tokens ----------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+|--[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:[^']|'')*')
  | (?P<pgstring>\$\$.*?\$\$)
  | (?P<qident>"(?:[^"]|"")+")
  | (?P<uuid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![0-9A-Za-z_]))
  | (?P<blob>0[xX][0-9a-fA-F]*(?![0-9A-Za-z_]))
  | (?P<float>-?(?:\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)(?![0-9A-Za-z_]))
  | (?P<int>-?\d+(?![0-9A-Za-z_]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<sym><=|>=|!=|[?:;,(){}\[\].=<>*+\-])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(slots=True)
class Tok:
    kind: str  # string, qident, uuid, blob, float, int, ident, sym, eof
    text: str
    col: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "ident" else ""


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise SyntaxError_(f"line 1:{pos} token recognition error at: '{text[pos]}'")
        kind = m.lastgroup or "ws"
        if kind != "ws":
            out.append(Tok(kind, m.group(), pos))
        pos = m.end()
    out.append(Tok("eof", "<EOF>", len(text)))
    return out


# -- statement model -------------------------------------------------------------------------------

@dataclass(slots=True)
class Literal:
    """A constant: kind is string/int/float/uuid/bool/blob/null/func/collection."""

    kind: str
    value: Any


@dataclass(slots=True)
class Marker:
    """A bind marker: ``?`` or ``:name``; index counts markers across the whole statement."""

    index: int
    name: str | None = None


Term = Literal | Marker


@dataclass(slots=True)
class Relation:
    column: str
    op: str  # = < <= > >= IN
    value: Term | list[Term]


@dataclass(slots=True)
class Use:
    keyspace: str


@dataclass(slots=True)
class CreateKeyspace:
    name: str
    if_not_exists: bool
    replication: dict[str, str]
    durable_writes: bool = True


@dataclass(slots=True)
class DropKeyspace:
    name: str
    if_exists: bool


@dataclass(slots=True)
class CreateTable:
    keyspace: str | None
    name: str
    if_not_exists: bool
    columns: list[tuple[str, str, bool]]  # name, type text, static
    partition_key: list[str]
    clustering: list[str]
    clustering_order: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class DropTable:
    keyspace: str | None
    name: str
    if_exists: bool


@dataclass(slots=True)
class Truncate:
    keyspace: str | None
    name: str


@dataclass(slots=True)
class Insert:
    keyspace: str | None
    table: str
    columns: list[str]
    values: list[Term]
    timestamp: Term | None = None


@dataclass(slots=True)
class Update:
    keyspace: str | None
    table: str
    assignments: list[tuple[str, Term]]
    where: list[Relation]
    timestamp: Term | None = None


@dataclass(slots=True)
class Delete:
    keyspace: str | None
    table: str
    columns: list[str]
    where: list[Relation]
    timestamp: Term | None = None


@dataclass(slots=True)
class Select:
    keyspace: str | None
    table: str
    columns: list[str]  # ['*'] for all; ['count(*)'] for a count
    where: list[Relation]
    limit: Term | None = None
    allow_filtering: bool = False
    aliases: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Describe:
    """A server-side DESCRIBE (Cassandra 4.0+), which cqlsh >= 6 sends as plain CQL.

    kind is one of cluster, schema, keyspaces, keyspace, tables, table, index, view, types, type,
    functions, function, aggregates, aggregate, or generic (``DESCRIBE name``: keyspace, then table).
    """

    kind: str
    keyspace: str | None = None
    name: str | None = None
    full: bool = False  # DESCRIBE FULL SCHEMA: system keyspaces too
    only: bool = False  # DESCRIBE ONLY KEYSPACE: no tables
    internals: bool = False  # WITH INTERNALS: table ids


@dataclass(slots=True)
class Batch:
    kind: str  # LOGGED / UNLOGGED / COUNTER
    statements: list[Insert | Update | Delete]
    timestamp: Term | None = None


Statement = (
    Use | CreateKeyspace | DropKeyspace | CreateTable | DropTable | Truncate | Insert | Update | Delete | Select | Batch
    | Describe
)


@dataclass(slots=True)
class Parsed:
    """A statement plus its bind-marker count (and names, for ``:name`` markers)."""

    statement: Statement
    markers: list[Marker]


# -- parser ----------------------------------------------------------------------------------------

_UNSUPPORTED_STARTS = {
    "ALTER", "GRANT", "REVOKE", "LIST",
}
# DESCRIBE <word> forms whose argument is a (possibly keyspace-qualified) element name
_DESCRIBE_ELEMENT = {"COLUMNFAMILY": "table", "TABLE": "table", "INDEX": "index", "TYPE": "type",
                     "FUNCTION": "function", "AGGREGATE": "aggregate"}
_DESCRIBE_LISTING = {"KEYSPACES": "keyspaces", "TABLES": "tables", "COLUMNFAMILIES": "tables", "TYPES": "types",
                     "FUNCTIONS": "functions", "AGGREGATES": "aggregates", "CLUSTER": "cluster"}
_UNSUPPORTED_CREATE = {"INDEX", "CUSTOM", "TYPE", "FUNCTION", "AGGREGATE", "MATERIALIZED", "TRIGGER", "ROLE", "USER",
                       "OR"}


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.markers: list[Marker] = []

    # token helpers
    def peek(self, k: int = 0) -> Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Tok:
        t = self.toks[self.i]
        if t.kind != "eof":
            self.i += 1
        return t

    def error(self, expecting: str | None = None) -> SyntaxError_:
        t = self.peek()
        if expecting:
            return SyntaxError_(f"line 1:{t.col} mismatched input '{t.text}' expecting {expecting} ({self._context()})")
        return SyntaxError_(f"line 1:{t.col} no viable alternative at input '{t.text}' ({self._context()})")

    def _context(self) -> str:
        t = self.peek()
        return self.text[max(0, t.col - 20) : t.col + 10].strip()

    def accept_kw(self, *words: str) -> bool:
        if self.peek().upper in words:
            self.i += 1
            return True
        return False

    def expect_kw(self, word: str) -> None:
        if not self.accept_kw(word):
            raise self.error(word)

    def accept_sym(self, s: str) -> bool:
        t = self.peek()
        if t.kind == "sym" and t.text == s:
            self.i += 1
            return True
        return False

    def expect_sym(self, s: str) -> None:
        if not self.accept_sym(s):
            raise self.error(f"'{s}'")

    def ident(self) -> str:
        t = self.peek()
        if t.kind == "ident":
            self.i += 1
            return t.text.lower()
        if t.kind == "qident":
            self.i += 1
            return t.text[1:-1].replace('""', '"')
        raise self.error("identifier")

    def qualified(self) -> tuple[str | None, str]:
        first = self.ident()
        if self.accept_sym("."):
            return first, self.ident()
        return None, first

    # entry
    def parse(self) -> Parsed:
        stmt = self.statement()
        self.accept_sym(";")
        if self.peek().kind != "eof":
            raise self.error()
        return Parsed(stmt, self.markers)

    def statement(self) -> Statement:
        t = self.peek()
        w = t.upper
        if w == "SELECT":
            return self.select()
        if w == "INSERT":
            return self.insert()
        if w == "UPDATE":
            return self.update()
        if w == "DELETE":
            return self.delete()
        if w == "BEGIN":
            return self.batch()
        if w == "USE":
            self.next()
            return Use(self.ident())
        if w == "CREATE":
            return self.create()
        if w == "DROP":
            return self.drop()
        if w == "TRUNCATE":
            self.next()
            self.accept_kw("TABLE", "COLUMNFAMILY")
            ks, name = self.qualified()
            return Truncate(ks, name)
        if w in ("DESCRIBE", "DESC"):
            return self.describe()
        if w in _UNSUPPORTED_STARTS:
            raise InvalidRequest(f"{w} statements are not supported by the cloudgate CQL emulator")
        raise self.error()

    def describe(self) -> Describe:
        """Cassandra 4.x's describeStatement rule: keywords first, else a generic [ks.]name."""
        self.next()
        w = self.peek().upper
        if w in _DESCRIBE_LISTING:
            self.next()
            st = Describe(_DESCRIBE_LISTING[w])
        elif w in ("FULL", "SCHEMA"):
            full = self.accept_kw("FULL")
            self.expect_kw("SCHEMA")
            st = Describe("schema", full=full)
        elif w in ("ONLY", "KEYSPACE"):
            only = self.accept_kw("ONLY")
            self.expect_kw("KEYSPACE")
            name = None
            if self.peek().kind == "qident" or (self.peek().kind == "ident" and self.peek().upper != "WITH"):
                name = self.ident()
            st = Describe("keyspace", keyspace=name, only=only)
        elif w == "MATERIALIZED":
            self.next()
            self.expect_kw("VIEW")
            ks, name = self.qualified()
            st = Describe("view", ks, name)
        elif w in _DESCRIBE_ELEMENT:
            self.next()
            ks, name = self.qualified()
            st = Describe(_DESCRIBE_ELEMENT[w], ks, name)
        else:
            ks, name = self.qualified()
            st = Describe("generic", ks, name)
        if self.accept_kw("WITH"):
            self.expect_kw("INTERNALS")
            st.internals = True
        return st

    # DDL
    def create(self) -> Statement:
        self.expect_kw("CREATE")
        if self.accept_kw("KEYSPACE", "SCHEMA"):
            return self.create_keyspace()
        if self.accept_kw("TABLE", "COLUMNFAMILY"):
            return self.create_table()
        if self.peek().upper in _UNSUPPORTED_CREATE:
            raise InvalidRequest(f"CREATE {self.peek().upper} is not supported by the cloudgate CQL emulator")
        raise self.error()

    def if_not_exists(self) -> bool:
        if self.accept_kw("IF"):
            self.expect_kw("NOT")
            self.expect_kw("EXISTS")
            return True
        return False

    def if_exists(self) -> bool:
        if self.accept_kw("IF"):
            self.expect_kw("EXISTS")
            return True
        return False

    def create_keyspace(self) -> CreateKeyspace:
        ine = self.if_not_exists()
        name = self.ident()
        self.expect_kw("WITH")
        props = self.properties()
        repl = props.get("replication")
        if not isinstance(repl, dict):
            raise InvalidRequest("Missing mandatory option 'replication'" if repl is None
                                 else "replication must be a map")
        durable = props.get("durable_writes", True)
        if isinstance(durable, str):
            durable = durable.lower() == "true"
        return CreateKeyspace(name, ine, {str(k): str(v) for k, v in repl.items()}, bool(durable))

    def properties(self) -> dict[str, Any]:
        """``name = value [AND name = value ...]`` where value is a constant or a map."""
        out: dict[str, Any] = {}
        while True:
            name = self.ident()
            self.expect_sym("=")
            out[name] = self.property_value()
            if not self.accept_kw("AND"):
                return out

    def property_value(self) -> Any:
        if self.accept_sym("{"):
            m: dict[str, Any] = {}
            if not self.accept_sym("}"):
                while True:
                    k = self.property_value()
                    self.expect_sym(":")
                    m[str(k)] = self.property_value()
                    if self.accept_sym("}"):
                        break
                    self.expect_sym(",")
            return m
        lit = self.literal()
        if lit.kind == "bool":
            return lit.value
        return lit.value if lit.kind in ("string", "int", "float") else str(lit.value)

    def create_table(self) -> CreateTable:
        ine = self.if_not_exists()
        ks, name = self.qualified()
        self.expect_sym("(")
        columns: list[tuple[str, str, bool]] = []
        pk: list[str] = []
        clustering: list[str] = []
        while True:
            if self.peek().upper == "PRIMARY" and self.peek(1).upper == "KEY":
                self.next()
                self.next()
                if pk:
                    raise InvalidRequest("Multiple PRIMARY KEYs specified (exactly one required)")
                self.expect_sym("(")
                if self.accept_sym("("):
                    pk.append(self.ident())
                    while self.accept_sym(","):
                        pk.append(self.ident())
                    self.expect_sym(")")
                else:
                    pk.append(self.ident())
                while self.accept_sym(","):
                    clustering.append(self.ident())
                self.expect_sym(")")
            else:
                cname = self.ident()
                ctype = self.type_text()
                static = self.accept_kw("STATIC")
                if self.accept_kw("PRIMARY"):
                    self.expect_kw("KEY")
                    if pk:
                        raise InvalidRequest("Multiple PRIMARY KEYs specified (exactly one required)")
                    pk.append(cname)
                columns.append((cname, ctype, static))
            if self.accept_sym(")"):
                break
            self.expect_sym(",")
        order: dict[str, str] = {}
        options: dict[str, Any] = {}
        if self.accept_kw("WITH"):
            while True:
                if self.accept_kw("CLUSTERING"):
                    self.expect_kw("ORDER")
                    self.expect_kw("BY")
                    self.expect_sym("(")
                    while True:
                        col = self.ident()
                        direction = "DESC" if self.accept_kw("DESC") else ("ASC" if self.accept_kw("ASC") else "ASC")
                        order[col] = direction
                        if self.accept_sym(")"):
                            break
                        self.expect_sym(",")
                elif self.accept_kw("COMPACT"):
                    self.expect_kw("STORAGE")
                    raise InvalidRequest("COMPACT STORAGE is not supported by the cloudgate CQL emulator")
                else:
                    pname = self.ident()
                    self.expect_sym("=")
                    options[pname] = self.property_value()
                if not self.accept_kw("AND"):
                    break
        if not pk:
            raise InvalidRequest("No PRIMARY KEY specifed (exactly one required)")
        return CreateTable(ks, name, ine, columns, pk, clustering, order, options)

    def type_text(self) -> str:
        """Collect a type expression (with <...> nesting) as text for cqltypes.parse_type."""
        parts = [self.ident()]
        if self.accept_sym("<"):
            depth = 1
            parts.append("<")
            while depth:
                t = self.next()
                if t.kind == "eof":
                    raise self.error("'>'")
                if t.text == "<":
                    depth += 1
                elif t.text == ">":
                    depth -= 1
                parts.append(t.text if t.kind != "ident" else t.text.lower())
        return "".join(parts).replace(",", ", ")

    def drop(self) -> Statement:
        self.expect_kw("DROP")
        if self.accept_kw("KEYSPACE", "SCHEMA"):
            ie = self.if_exists()
            return DropKeyspace(self.ident(), ie)
        if self.accept_kw("TABLE", "COLUMNFAMILY"):
            ie = self.if_exists()
            ks, name = self.qualified()
            return DropTable(ks, name, ie)
        if self.peek().upper in ("INDEX", "TYPE", "FUNCTION", "AGGREGATE", "MATERIALIZED", "TRIGGER", "ROLE", "USER"):
            raise InvalidRequest(f"DROP {self.peek().upper} is not supported by the cloudgate CQL emulator")
        raise self.error()

    # terms
    def literal(self) -> Literal:
        t = self.next()
        k = t.kind
        if k == "string":
            return Literal("string", t.text[1:-1].replace("''", "'"))
        if k == "pgstring":
            return Literal("string", t.text[2:-2])
        if k == "int":
            return Literal("int", int(t.text))
        if k == "float":
            return Literal("float", float(t.text))
        if k == "uuid":
            return Literal("uuid", uuid.UUID(t.text))
        if k == "blob":
            return Literal("blob", bytes.fromhex(t.text[2:]) if len(t.text) % 2 == 0 else b"")
        if k == "ident":
            u = t.upper
            if u in ("TRUE", "FALSE"):
                return Literal("bool", u == "TRUE")
            if u == "NULL":
                return Literal("null", None)
            if u in ("NAN", "INFINITY"):
                return Literal("float", float(u.lower()))
        self.i -= 1
        raise self.error()

    def term(self) -> Term:
        t = self.peek()
        if t.kind == "sym" and t.text == "?":
            self.next()
            m = Marker(len(self.markers))
            self.markers.append(m)
            return m
        if t.kind == "sym" and t.text == ":":
            self.next()
            m = Marker(len(self.markers), self.ident())
            self.markers.append(m)
            return m
        if t.kind == "ident" and self.peek(1).text == "(":
            return self.function_call()
        if t.kind == "sym" and t.text in ("{", "["):
            return self.collection_literal()
        if t.kind == "sym" and t.text == "-" and self.peek(1).kind in ("int", "float"):
            self.next()
            lit = self.literal()
            return Literal(lit.kind, -lit.value)
        return self.literal()

    def function_call(self) -> Literal:
        name = self.next().text.lower()
        self.expect_sym("(")
        args: list[str] = []
        while not self.accept_sym(")"):
            inner = self.function_call() if self.peek().kind == "ident" and self.peek(1).text == "(" else None
            if inner is None:
                raise InvalidRequest(f"Function {name} with arguments is not supported by the cloudgate CQL emulator")
            args.append(f"{inner.value}()")
            self.accept_sym(",")
        if name in ("now", "uuid", "currenttimestamp") and not args:
            return Literal("func", name)
        if name == "totimestamp" and args == ["now()"]:
            return Literal("func", "totimestamp(now())")
        raise InvalidRequest(f"Unknown function {name} (the cloudgate CQL emulator supports now(), uuid(), "
                             "toTimestamp(now()), currentTimestamp())")

    def collection_literal(self) -> Literal:
        if self.accept_sym("["):
            items = []
            while not self.accept_sym("]"):
                lit = self.literal()
                items.append((lit.kind, lit.value))
                self.accept_sym(",")
            return Literal("collection", items)
        self.expect_sym("{")
        entries: dict[Any, Any] = {}
        items2: list[Any] = []
        is_map = None
        while not self.accept_sym("}"):
            k = self.literal()
            if self.accept_sym(":"):
                v = self.literal()
                is_map = True
                entries[(k.kind, k.value)] = (v.kind, v.value)
            else:
                is_map = False
                items2.append((k.kind, k.value))
            self.accept_sym(",")
        return Literal("collection", entries if is_map else items2)

    def using(self) -> Term | None:
        ts: Term | None = None
        if self.accept_kw("USING"):
            while True:
                if self.accept_kw("TIMESTAMP"):
                    ts = self.term()
                elif self.accept_kw("TTL"):
                    ttl = self.term()
                    if not (isinstance(ttl, Literal) and ttl.value == 0):
                        raise InvalidRequest("TTL is not supported by the cloudgate CQL emulator")
                else:
                    raise self.error("TIMESTAMP or TTL")
                if not self.accept_kw("AND"):
                    break
        return ts

    def where(self) -> list[Relation]:
        rels: list[Relation] = []
        if not self.accept_kw("WHERE"):
            return rels
        while True:
            if self.accept_sym("("):
                raise InvalidRequest("Multi-column relations are not supported by the cloudgate CQL emulator")
            if self.peek().upper == "TOKEN" and self.peek(1).text == "(":
                raise InvalidRequest("token() restrictions are not supported by the cloudgate CQL emulator")
            col = self.ident()
            t = self.next()
            if t.kind == "ident" and t.upper == "IN":
                if self.peek().text in ("?", ":"):
                    rels.append(Relation(col, "IN", self.term()))
                else:
                    self.expect_sym("(")
                    vals: list[Term] = []
                    while not self.accept_sym(")"):
                        vals.append(self.term())
                        self.accept_sym(",")
                    rels.append(Relation(col, "IN", vals))
            elif t.kind == "sym" and t.text in ("=", "<", "<=", ">", ">="):
                rels.append(Relation(col, t.text, self.term()))
            elif t.kind == "ident" and t.upper in ("CONTAINS", "LIKE"):
                raise InvalidRequest(f"{t.upper} restrictions are not supported by the cloudgate CQL emulator")
            else:
                self.i -= 1
                raise self.error("one of =, <, <=, >, >=, IN")
            if not self.accept_kw("AND"):
                return rels

    def no_conditions(self) -> None:
        if self.peek().upper == "IF":
            raise InvalidRequest("Conditional updates (lightweight transactions) are not supported by the "
                                 "cloudgate CQL emulator")

    # DML
    def insert(self) -> Insert:
        self.expect_kw("INSERT")
        self.expect_kw("INTO")
        ks, table = self.qualified()
        if self.accept_kw("JSON"):
            raise InvalidRequest("INSERT JSON is not supported by the cloudgate CQL emulator")
        self.expect_sym("(")
        cols = [self.ident()]
        while self.accept_sym(","):
            cols.append(self.ident())
        self.expect_sym(")")
        self.expect_kw("VALUES")
        self.expect_sym("(")
        vals = [self.term()]
        while self.accept_sym(","):
            vals.append(self.term())
        self.expect_sym(")")
        if len(vals) != len(cols):
            raise InvalidRequest("Unmatched column names/values")
        self.no_conditions()
        ts = self.using()
        self.no_conditions()
        return Insert(ks, table, cols, vals, ts)

    def update(self) -> Update:
        self.expect_kw("UPDATE")
        ks, table = self.qualified()
        ts = self.using()
        self.expect_kw("SET")
        assigns: list[tuple[str, Term]] = []
        while True:
            col = self.ident()
            self.expect_sym("=")
            if self.peek().kind in ("ident", "qident") and self.peek(1).text in ("+", "-"):
                raise InvalidRequest("Counter and collection arithmetic is not supported by the cloudgate CQL emulator")
            assigns.append((col, self.term()))
            if not self.accept_sym(","):
                break
        where = self.where()
        self.no_conditions()
        return Update(ks, table, assigns, where, ts)

    def delete(self) -> Delete:
        self.expect_kw("DELETE")
        cols: list[str] = []
        if self.peek().upper != "FROM":
            cols.append(self.ident())
            while self.accept_sym(","):
                cols.append(self.ident())
        self.expect_kw("FROM")
        ks, table = self.qualified()
        ts = self.using()
        where = self.where()
        self.no_conditions()
        return Delete(ks, table, cols, where, ts)

    def select(self) -> Select:
        self.expect_kw("SELECT")
        if self.accept_kw("JSON", "DISTINCT"):
            raise InvalidRequest("SELECT JSON/DISTINCT is not supported by the cloudgate CQL emulator")
        cols: list[str] = []
        aliases: dict[str, str] = {}
        if self.accept_sym("*"):
            cols = ["*"]
        else:
            while True:
                if self.peek().upper == "COUNT" and self.peek(1).text == "(":
                    self.next()
                    self.next()
                    if not (self.accept_sym("*") or self.peek().kind == "int" and self.next()):
                        raise self.error("'*'")
                    self.expect_sym(")")
                    name = "count(*)"
                elif self.peek().kind == "ident" and self.peek(1).text == "(":
                    raise InvalidRequest(f"Function {self.peek().text} in selection is not supported by the "
                                         "cloudgate CQL emulator")
                else:
                    name = self.ident()
                cols.append(name)
                if self.accept_kw("AS"):
                    aliases[name] = self.ident()
                if not self.accept_sym(","):
                    break
        self.expect_kw("FROM")
        ks, table = self.qualified()
        where = self.where()
        if self.accept_kw("GROUP", "ORDER"):
            raise InvalidRequest("ORDER BY / GROUP BY are not supported by the cloudgate CQL emulator")
        limit: Term | None = None
        if self.accept_kw("PER"):
            raise InvalidRequest("PER PARTITION LIMIT is not supported by the cloudgate CQL emulator")
        if self.accept_kw("LIMIT"):
            limit = self.term()
        allow = False
        if self.accept_kw("ALLOW"):
            self.expect_kw("FILTERING")
            allow = True
        return Select(ks, table, cols, where, limit, allow, aliases)

    def batch(self) -> Batch:
        self.expect_kw("BEGIN")
        kind = "LOGGED"
        if self.accept_kw("UNLOGGED"):
            kind = "UNLOGGED"
        elif self.accept_kw("COUNTER"):
            raise InvalidRequest("Counter batches are not supported by the cloudgate CQL emulator")
        elif self.accept_kw("LOGGED"):
            kind = "LOGGED"
        self.expect_kw("BATCH")
        ts = self.using()
        stmts: list[Insert | Update | Delete] = []
        while not self.accept_kw("APPLY"):
            w = self.peek().upper
            if w == "INSERT":
                stmts.append(self.insert())
            elif w == "UPDATE":
                stmts.append(self.update())
            elif w == "DELETE":
                stmts.append(self.delete())
            else:
                raise self.error("INSERT, UPDATE, DELETE or APPLY")
            self.accept_sym(";")
        self.expect_kw("BATCH")
        return Batch(kind, stmts, ts)


def parse(text: str) -> Parsed:
    """Parse one CQL statement; raises SyntaxError_ or InvalidRequest."""
    return Parser(text).parse()
