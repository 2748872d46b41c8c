"""Primitive notations of the CQL native protocol v4 ([int], [string], [bytes], ...).

Kept apart from message and frame handling so that every other module (frame codec, messages,
system tables) speaks in these notations instead of hand-rolling ``struct`` calls; all values
are big-endian, as the spec requires.
"""

from __future__ import annotations

import ipaddress
import struct
import uuid

_INT = struct.Struct(">i")
_UINT = struct.Struct(">I")
_SHORT = struct.Struct(">H")
_LONG = struct.Struct(">q")


class ProtocolViolation(Exception):
    """A request body is truncated or malformed: answered with a Protocol error (0x000A)."""


class Reader:
    """Sequential reader over one message body."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes | memoryview) -> None:
        self.buf = bytes(buf)
        self.pos = 0

    def _take(self, n: int) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.buf):
            raise ProtocolViolation("truncated message body")
        out = self.buf[self.pos : end]
        self.pos = end
        return out

    def remaining(self) -> int:
        return len(self.buf) - self.pos

    def byte(self) -> int:
        return self._take(1)[0]

    def short(self) -> int:
        return _SHORT.unpack(self._take(2))[0]

    def int(self) -> int:
        return _INT.unpack(self._take(4))[0]

    def long(self) -> int:
        return _LONG.unpack(self._take(8))[0]

    def string(self) -> str:
        return self._take(self.short()).decode("utf-8")

    def long_string(self) -> str:
        return self._take(self.int()).decode("utf-8")

    def bytes(self) -> bytes | None:
        n = self.int()
        return None if n < 0 else self._take(n)

    def value(self) -> bytes | None | object:
        """A [value]: bytes, None (null, -1) or UNSET (-2)."""
        n = self.int()
        if n == -1:
            return None
        if n == -2:
            return UNSET
        if n < 0:
            raise ProtocolViolation(f"invalid value length {n}")
        return self._take(n)

    def short_bytes(self) -> bytes:
        return self._take(self.short())

    def string_list(self) -> list[str]:
        return [self.string() for _ in range(self.short())]

    def string_map(self) -> dict[str, str]:
        return {self.string(): self.string() for _ in range(self.short())}


class _Unset:
    """The 'not set' marker of a bound value (length -2): the column is left untouched."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()


class Writer:
    """Appends notations to a growing body."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def getvalue(self) -> bytes:
        return bytes(self.buf)

    def byte(self, v: int) -> Writer:
        self.buf.append(v & 0xFF)
        return self

    def short(self, v: int) -> Writer:
        self.buf += _SHORT.pack(v)
        return self

    def int(self, v: int) -> Writer:
        self.buf += _INT.pack(v)
        return self

    def uint(self, v: int) -> Writer:
        self.buf += _UINT.pack(v)
        return self

    def long(self, v: int) -> Writer:
        self.buf += _LONG.pack(v)
        return self

    def string(self, s: str) -> Writer:
        b = s.encode("utf-8")
        self.buf += _SHORT.pack(len(b))
        self.buf += b
        return self

    def long_string(self, s: str) -> Writer:
        b = s.encode("utf-8")
        self.buf += _INT.pack(len(b))
        self.buf += b
        return self

    def bytes(self, b: bytes | None) -> Writer:
        if b is None:
            self.buf += _INT.pack(-1)
        else:
            self.buf += _INT.pack(len(b))
            self.buf += b
        return self

    def short_bytes(self, b: bytes) -> Writer:
        self.buf += _SHORT.pack(len(b))
        self.buf += b
        return self

    def string_list(self, items: list[str]) -> Writer:
        self.short(len(items))
        for s in items:
            self.string(s)
        return self

    def string_multimap(self, m: dict[str, list[str]]) -> Writer:
        self.short(len(m))
        for k, v in m.items():
            self.string(k)
            self.string_list(v)
        return self

    def inet(self, address: str, port: int) -> Writer:
        packed = ipaddress.ip_address(address).packed
        self.byte(len(packed))
        self.buf += packed
        self.int(port)
        return self

    def uuid(self, u: uuid.UUID) -> Writer:
        self.buf += u.bytes
        return self

    def raw(self, b: bytes) -> Writer:
        self.buf += b
        return self
