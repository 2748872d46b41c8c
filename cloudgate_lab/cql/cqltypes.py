"""CQL data types: names, [option] encoding, value (de)serialization, literals and ordering.

One ``CqlType`` object per type lets the schema, the parser, the storage (clustering order)
and the system tables share one definition of what a type is on the wire; values are stored
serialized (exactly the bytes a client would send), so only literals, system tables and
clustering comparisons ever need the Python form.
"""

from __future__ import annotations

import calendar
import datetime
import ipaddress
import re
import struct
import time
import uuid
from collections.abc import Callable
from typing import Any

from .errors import InvalidRequest
from .wire import Writer

_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_I16 = struct.Struct(">h")
_F64 = struct.Struct(">d")
_F32 = struct.Struct(">f")


class CqlType:
    """A (possibly parameterised) CQL type."""

    __slots__ = ("name", "type_id", "params", "frozen")

    def __init__(self, name: str, type_id: int, params: tuple[CqlType, ...] = (), frozen: bool = False) -> None:
        self.name = name
        self.type_id = type_id
        self.params = params
        self.frozen = frozen

    def __repr__(self) -> str:
        return f"CqlType({self.cql_name()})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CqlType) and self.cql_name() == other.cql_name()

    def __hash__(self) -> int:
        return hash(self.cql_name())

    def cql_name(self) -> str:
        """The name as system_schema.columns.type spells it (e.g. ``map<text, text>``)."""
        if not self.params:
            return self.name
        inner = f"{self.name}<{', '.join(p.cql_name() for p in self.params)}>"
        return f"frozen<{inner}>" if self.frozen else inner

    @property
    def is_collection(self) -> bool:
        return self.name in ("map", "set", "list")

    def write_option(self, w: Writer) -> None:
        """Encode as an [option] in result or bind metadata."""
        w.short(self.type_id)
        if self.name in ("list", "set"):
            self.params[0].write_option(w)
        elif self.name == "map":
            self.params[0].write_option(w)
            self.params[1].write_option(w)

    # -- values -------------------------------------------------------------------------------
    def serialize(self, value: Any) -> bytes | None:
        """Python value -> cell bytes (None stays None)."""
        if value is None:
            return None
        if self.name in ("list", "set"):
            items = list(value)
            if self.name == "set":
                items = sorted(items, key=lambda v: self.params[0].sort_key(self.params[0].serialize(v)))
            out = bytearray(_I32.pack(len(items)))
            for item in items:
                b = self.params[0].serialize(item) or b""
                out += _I32.pack(len(b)) + b
            return bytes(out)
        if self.name == "map":
            kt, vt = self.params
            out = bytearray(_I32.pack(len(value)))
            for k in sorted(value, key=lambda k: kt.sort_key(kt.serialize(k))):
                kb = kt.serialize(k) or b""
                vb = vt.serialize(value[k])
                out += _I32.pack(len(kb)) + kb
                out += _I32.pack(-1) if vb is None else _I32.pack(len(vb)) + vb
            return bytes(out)
        return _SERIALIZERS[self.name](value)

    def deserialize(self, data: bytes | None) -> Any:
        """Cell bytes -> Python value (used by system tables, WHERE filtering and ordering)."""
        if data is None:
            return None
        if self.name in ("list", "set"):
            n = _I32.unpack_from(data, 0)[0]
            pos, out = 4, []
            for _ in range(n):
                ln = _I32.unpack_from(data, pos)[0]
                pos += 4
                out.append(self.params[0].deserialize(data[pos : pos + ln]))
                pos += ln
            return out
        if self.name == "map":
            n = _I32.unpack_from(data, 0)[0]
            pos, res = 4, {}
            for _ in range(n):
                ln = _I32.unpack_from(data, pos)[0]
                k = self.params[0].deserialize(data[pos + 4 : pos + 4 + ln])
                pos += 4 + ln
                ln = _I32.unpack_from(data, pos)[0]
                pos += 4
                v = None if ln < 0 else self.params[1].deserialize(data[pos : pos + ln])
                pos += max(ln, 0)
                res[k] = v
            return res
        return _DESERIALIZERS[self.name](data)

    def validate(self, data: bytes, column: str) -> None:
        """Reject a bound value whose length cannot be this type (Cassandra answers Invalid)."""
        fixed = _FIXED_LEN.get(self.name)
        if fixed is not None and len(data) not in (fixed, 0):
            raise InvalidRequest(
                f"Expected {fixed} or 0 byte {self.name} ({len(data)}) for column {column}"
            )
        if self.name == "ascii":
            try:
                data.decode("ascii")
            except UnicodeDecodeError:
                raise InvalidRequest(f"Invalid byte for ascii in column {column}") from None
        elif self.name in ("text", "varchar"):
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidRequest(f"String didn't validate for column {column}") from None

    def sort_key(self, data: bytes | None) -> Any:
        """A Python key ordering serialized values the way Cassandra's comparator does."""
        if data is None or data == b"":
            return (0,)
        fn = _SORT_KEYS.get(self.name)
        return (1, fn(data) if fn else data)

    def from_literal(self, kind: str, value: Any, column: str) -> bytes | None:
        """A parsed CQL literal -> cell bytes, with Cassandra-like Invalid errors."""
        if kind == "null":
            return None
        if kind == "func":
            return self._from_function(value, column)
        conv = _LITERALS.get(self.name)
        if conv is None:
            if self.is_collection and kind == "collection":
                return self._collection_literal(value, column)
            raise InvalidRequest(f"Invalid literal for column {column} of type {self.cql_name()}")
        try:
            return conv(kind, value)
        except (ValueError, TypeError, OverflowError, struct.error):
            shown = f"'{value}'" if kind == "string" else str(value)
            raise InvalidRequest(
                f"Invalid {_KIND_NAMES.get(kind, kind.upper())} constant ({shown}) for \"{column}\" of type {self.cql_name()}"
            ) from None

    def _from_function(self, fname: str, column: str) -> bytes:
        fname = fname.lower()
        if fname == "now" and self.name in ("timeuuid", "uuid"):
            return uuid.uuid1().bytes
        if fname == "uuid" and self.name == "uuid":
            return uuid.uuid4().bytes
        if fname in ("totimestamp(now())", "currenttimestamp") and self.name == "timestamp":
            return _I64.pack(int(time.time() * 1000))
        raise InvalidRequest(f"Type error: {fname}() cannot be passed as argument 0 of function for {column}")

    def _collection_literal(self, value: Any, column: str) -> bytes | None:
        if self.name == "map":
            if not isinstance(value, dict):
                raise InvalidRequest(f"Invalid collection literal for {column} of type {self.cql_name()}")
            py = {
                self.params[0].deserialize(self.params[0].from_literal(kk, kv, column)): self.params[1].deserialize(
                    self.params[1].from_literal(vk, vv, column)
                )
                for (kk, kv), (vk, vv) in value.items()
            }
            return self.serialize(py)
        items = [self.params[0].deserialize(self.params[0].from_literal(k, v, column)) for k, v in value]
        return self.serialize(items)


# -- scalar codecs ---------------------------------------------------------------------------------

def _ser_timestamp(v: Any) -> bytes:
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.UTC)
        return _I64.pack(int(v.timestamp() * 1000))
    return _I64.pack(int(v))


def _ser_uuid(v: Any) -> bytes:
    return (v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))).bytes


def _ser_inet(v: Any) -> bytes:
    return ipaddress.ip_address(v).packed


def _ser_varint(v: int) -> bytes:
    n = int(v)
    length = max(1, (n.bit_length() + 8) // 8)
    return n.to_bytes(length, "big", signed=True)


_SERIALIZERS: dict[str, Callable[[Any], bytes]] = {
    "ascii": lambda v: str(v).encode("ascii"),
    "text": lambda v: str(v).encode("utf-8"),
    "varchar": lambda v: str(v).encode("utf-8"),
    "int": lambda v: _I32.pack(int(v)),
    "bigint": lambda v: _I64.pack(int(v)),
    "counter": lambda v: _I64.pack(int(v)),
    "smallint": lambda v: _I16.pack(int(v)),
    "tinyint": lambda v: struct.pack(">b", int(v)),
    "varint": _ser_varint,
    "uuid": _ser_uuid,
    "timeuuid": _ser_uuid,
    "timestamp": _ser_timestamp,
    "boolean": lambda v: b"\x01" if v else b"\x00",
    "double": lambda v: _F64.pack(float(v)),
    "float": lambda v: _F32.pack(float(v)),
    "blob": lambda v: bytes(v),
    "inet": _ser_inet,
}

_DESERIALIZERS: dict[str, Callable[[bytes], Any]] = {
    "ascii": lambda b: b.decode("ascii"),
    "text": lambda b: b.decode("utf-8"),
    "varchar": lambda b: b.decode("utf-8"),
    "int": lambda b: _I32.unpack(b)[0],
    "bigint": lambda b: _I64.unpack(b)[0],
    "counter": lambda b: _I64.unpack(b)[0],
    "smallint": lambda b: _I16.unpack(b)[0],
    "tinyint": lambda b: struct.unpack(">b", b)[0],
    "varint": lambda b: int.from_bytes(b, "big", signed=True),
    "uuid": lambda b: uuid.UUID(bytes=b),
    "timeuuid": lambda b: uuid.UUID(bytes=b),
    "timestamp": lambda b: _I64.unpack(b)[0],
    "boolean": lambda b: b != b"\x00",
    "double": lambda b: _F64.unpack(b)[0],
    "float": lambda b: _F32.unpack(b)[0],
    "blob": bytes,
    "inet": lambda b: str(ipaddress.ip_address(b)),
}

_FIXED_LEN = {
    "int": 4, "bigint": 8, "counter": 8, "smallint": 2, "tinyint": 1, "uuid": 16, "timeuuid": 16,
    "timestamp": 8, "boolean": 1, "double": 8, "float": 4,
}


def _timeuuid_key(b: bytes) -> tuple[int, bytes]:
    u = uuid.UUID(bytes=b)
    return (u.time if u.version == 1 else 0, b)


def _uuid_key(b: bytes) -> tuple[int, int, bytes]:
    u = uuid.UUID(bytes=b)
    return (u.version or 0, u.time if u.version == 1 else 0, b)


_SORT_KEYS: dict[str, Callable[[bytes], Any]] = {
    "int": _DESERIALIZERS["int"],
    "bigint": _DESERIALIZERS["bigint"],
    "smallint": _DESERIALIZERS["smallint"],
    "tinyint": _DESERIALIZERS["tinyint"],
    "varint": _DESERIALIZERS["varint"],
    "timestamp": _DESERIALIZERS["timestamp"],
    "double": _DESERIALIZERS["double"],
    "float": _DESERIALIZERS["float"],
    "boolean": _DESERIALIZERS["boolean"],
    "timeuuid": _timeuuid_key,
    "uuid": _uuid_key,
}

_KIND_NAMES = {"string": "STRING", "int": "INTEGER", "float": "FLOAT", "uuid": "UUID", "bool": "BOOLEAN", "blob": "HEX"}


def _parse_timestamp_string(s: str) -> int:
    s = s.strip()
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    m = re.fullmatch(
        r"(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?", s
    )
    if not m:
        raise ValueError(s)
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    secs = calendar.timegm((int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0)))
    ms = int((frac or "0").ljust(3, "0"))
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        secs -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return secs * 1000 + ms


def _lit_text(kind: str, v: Any) -> bytes:
    if kind != "string":
        raise ValueError(v)
    return str(v).encode("utf-8")


def _lit_ascii(kind: str, v: Any) -> bytes:
    if kind != "string":
        raise ValueError(v)
    return str(v).encode("ascii")


def _lit_int(fmt: struct.Struct) -> Callable[[str, Any], bytes]:
    def conv(kind: str, v: Any) -> bytes:
        if kind != "int":
            raise ValueError(v)
        return fmt.pack(int(v))

    return conv


def _lit_float(fmt: struct.Struct) -> Callable[[str, Any], bytes]:
    def conv(kind: str, v: Any) -> bytes:
        if kind not in ("int", "float"):
            raise ValueError(v)
        return fmt.pack(float(v))

    return conv


def _lit_uuid(timeuuid: bool) -> Callable[[str, Any], bytes]:
    def conv(kind: str, v: Any) -> bytes:
        if kind != "uuid":
            raise ValueError(v)
        u = uuid.UUID(str(v))
        if timeuuid and u.version != 1:
            raise ValueError(v)
        return u.bytes

    return conv


def _lit_timestamp(kind: str, v: Any) -> bytes:
    if kind == "int":
        return _I64.pack(int(v))
    if kind == "string":
        return _I64.pack(_parse_timestamp_string(str(v)))
    raise ValueError(v)


def _lit_bool(kind: str, v: Any) -> bytes:
    if kind != "bool":
        raise ValueError(v)
    return b"\x01" if v else b"\x00"


def _lit_blob(kind: str, v: Any) -> bytes:
    if kind != "blob":
        raise ValueError(v)
    return bytes(v)


def _lit_inet(kind: str, v: Any) -> bytes:
    if kind != "string":
        raise ValueError(v)
    return ipaddress.ip_address(str(v)).packed


def _lit_varint(kind: str, v: Any) -> bytes:
    if kind != "int":
        raise ValueError(v)
    return _ser_varint(int(v))


_LITERALS: dict[str, Callable[[str, Any], bytes]] = {
    "text": _lit_text,
    "varchar": _lit_text,
    "ascii": _lit_ascii,
    "int": _lit_int(_I32),
    "bigint": _lit_int(_I64),
    "smallint": _lit_int(_I16),
    "tinyint": _lit_int(struct.Struct(">b")),
    "varint": _lit_varint,
    "double": _lit_float(_F64),
    "float": _lit_float(_F32),
    "uuid": _lit_uuid(False),
    "timeuuid": _lit_uuid(True),
    "timestamp": _lit_timestamp,
    "boolean": _lit_bool,
    "blob": _lit_blob,
    "inet": _lit_inet,
}

# -- type names -----------------------------------------------------------------------------------

_SCALAR_IDS = {
    "ascii": 0x01, "bigint": 0x02, "blob": 0x03, "boolean": 0x04, "counter": 0x05, "double": 0x07,
    "float": 0x08, "int": 0x09, "timestamp": 0x0B, "uuid": 0x0C, "varchar": 0x0D, "text": 0x0D,
    "varint": 0x0E, "timeuuid": 0x0F, "inet": 0x10, "smallint": 0x13, "tinyint": 0x14,
}

#: Types a user table may declare (the brief's subset plus a few cheap extras).
USER_TYPES = frozenset(
    {"text", "varchar", "ascii", "int", "bigint", "uuid", "timeuuid", "timestamp", "boolean", "double",
     "float", "blob", "inet", "smallint", "tinyint", "varint"}
)

_COLL_IDS = {"list": 0x20, "map": 0x21, "set": 0x22}


def scalar(name: str) -> CqlType:
    name = name.lower()
    return CqlType(name, _SCALAR_IDS[name])


def parse_type(text: str) -> CqlType:
    """Parse a type string like ``frozen<map<text, int>>``; unknown names raise InvalidRequest."""
    t, rest = _parse_type(text.strip())
    if rest.strip():
        raise InvalidRequest(f"Unknown type {text}")
    return t


def _parse_type(s: str) -> tuple[CqlType, str]:
    m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*", s)
    if not m:
        raise InvalidRequest(f"Unknown type {s}")
    name = m.group(1).lower()
    rest = s[m.end() :]
    if name == "frozen":
        if not rest.startswith("<"):
            raise InvalidRequest("frozen<> needs a type argument")
        inner, rest = _parse_type(rest[1:])
        rest = rest.lstrip()
        if not rest.startswith(">"):
            raise InvalidRequest(f"Unknown type {s}")
        inner.frozen = True
        return inner, rest[1:]
    if name in _COLL_IDS:
        if not rest.startswith("<"):
            raise InvalidRequest(f"{name} needs type arguments")
        params = []
        rest = rest[1:]
        while True:
            p, rest = _parse_type(rest)
            params.append(p)
            rest = rest.lstrip()
            if rest.startswith(","):
                rest = rest[1:]
                continue
            if rest.startswith(">"):
                rest = rest[1:]
                break
            raise InvalidRequest(f"Unknown type {s}")
        if len(params) != (2 if name == "map" else 1):
            raise InvalidRequest(f"Wrong number of type arguments for {name}")
        return CqlType(name, _COLL_IDS[name], tuple(params)), rest
    if name not in _SCALAR_IDS:
        raise InvalidRequest(f"Unknown type {name}")
    return CqlType(name, _SCALAR_IDS[name]), rest


TEXT = scalar("text")
ASCII = scalar("ascii")
INT = scalar("int")
BIGINT = scalar("bigint")
UUID = scalar("uuid")
BOOLEAN = scalar("boolean")
DOUBLE = scalar("double")
INET = scalar("inet")
TIMESTAMP = scalar("timestamp")
BLOB = scalar("blob")
SET_TEXT = parse_type("set<text>")
LIST_TEXT = parse_type("list<text>")
MAP_TEXT_TEXT = parse_type("map<text, text>")
MAP_TEXT_BLOB = parse_type("frozen<map<text, blob>>")
