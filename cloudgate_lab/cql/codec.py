"""A tiny tagged binary encoding for internode messages, commit-log records and hints.

Why not pickle/marshal: pickle executes code on load and marshal is tied to the interpreter
version and unsafe on foreign input; this codec only ever yields None/bool/int/float/str/bytes/
list/dict, so a data dir or a peer can never make a node run anything.
"""

from __future__ import annotations

import struct
from typing import Any

_LEN = struct.Struct(">I")
_I64 = struct.Struct(">q")
_F64 = struct.Struct(">d")

_NONE, _TRUE, _FALSE, _INT, _BIGINT, _FLOAT, _STR, _BYTES, _LIST, _DICT = b"NTFiIfsblm"


class DecodeError(ValueError):
    pass


def encode(obj: Any) -> bytes:
    out = bytearray()
    _enc(obj, out)
    return bytes(out)


def _enc(obj: Any, out: bytearray) -> None:
    if obj is None:
        out.append(_NONE)
    elif obj is True:
        out.append(_TRUE)
    elif obj is False:
        out.append(_FALSE)
    elif isinstance(obj, int):
        if -(1 << 63) <= obj < (1 << 63):
            out.append(_INT)
            out += _I64.pack(obj)
        else:
            b = str(obj).encode()
            out.append(_BIGINT)
            out += _LEN.pack(len(b)) + b
    elif isinstance(obj, float):
        out.append(_FLOAT)
        out += _F64.pack(obj)
    elif isinstance(obj, str):
        b = obj.encode("utf-8")
        out.append(_STR)
        out += _LEN.pack(len(b))
        out += b
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        out.append(_BYTES)
        out += _LEN.pack(len(obj))
        out += obj
    elif isinstance(obj, (list, tuple)):
        out.append(_LIST)
        out += _LEN.pack(len(obj))
        for item in obj:
            _enc(item, out)
    elif isinstance(obj, dict):
        out.append(_DICT)
        out += _LEN.pack(len(obj))
        for k, v in obj.items():
            _enc(k, out)
            _enc(v, out)
    else:
        raise TypeError(f"cannot encode {type(obj).__name__}")


def decode(data: bytes) -> Any:
    try:
        obj, pos = _dec(data, 0)
    except (IndexError, struct.error) as exc:
        raise DecodeError("truncated record") from exc
    if pos != len(data):
        raise DecodeError("trailing bytes")
    return obj


def _dec(data: bytes, pos: int) -> tuple[Any, int]:
    tag = data[pos]
    pos += 1
    if tag == _INT:
        return _I64.unpack_from(data, pos)[0], pos + 8
    if tag in (_BYTES, _STR):
        n = _LEN.unpack_from(data, pos)[0]
        pos += 4
        if pos + n > len(data):
            raise DecodeError("truncated record")
        raw = data[pos : pos + n]
        return (raw if tag == _BYTES else raw.decode("utf-8")), pos + n
    if tag == _LIST:
        n = _LEN.unpack_from(data, pos)[0]
        pos += 4
        items = []
        for _ in range(n):
            item, pos = _dec(data, pos)
            items.append(item)
        return items, pos
    if tag == _NONE:
        return None, pos
    if tag == _TRUE:
        return True, pos
    if tag == _FALSE:
        return False, pos
    if tag == _FLOAT:
        return _F64.unpack_from(data, pos)[0], pos + 8
    if tag == _DICT:
        n = _LEN.unpack_from(data, pos)[0]
        pos += 4
        d = {}
        for _ in range(n):
            k, pos = _dec(data, pos)
            v, pos = _dec(data, pos)
            d[k] = v
        return d, pos
    if tag == _BIGINT:
        n = _LEN.unpack_from(data, pos)[0]
        pos += 4
        return int(data[pos : pos + n]), pos + n
    raise DecodeError(f"unknown tag {tag!r}")
