"""CQL v4 frame header codec and stream splitter.

The header is 9 bytes: version, flags, stream (signed short), opcode, body length. Only v4 is
served: any other version byte is answered with a Protocol error whose text contains
``unsupported protocol version`` so that the python driver downgrades (0x42 -> 0x41 -> 5 -> 4)
instead of failing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER = struct.Struct(">BBhBI")
HEADER_LEN = HEADER.size
MAX_BODY = 256 * 1024 * 1024

VERSION = 4
RESPONSE_BIT = 0x80

# opcodes
ERROR = 0x00
STARTUP = 0x01
READY = 0x02
AUTHENTICATE = 0x03
OPTIONS = 0x05
SUPPORTED = 0x06
QUERY = 0x07
RESULT = 0x08
PREPARE = 0x09
EXECUTE = 0x0A
REGISTER = 0x0B
EVENT = 0x0C
BATCH = 0x0D
AUTH_RESPONSE = 0x0F

FLAG_COMPRESSED = 0x01
FLAG_TRACING = 0x02
FLAG_CUSTOM_PAYLOAD = 0x04
FLAG_WARNING = 0x08


@dataclass(slots=True)
class Frame:
    version: int
    flags: int
    stream: int
    opcode: int
    body: bytes


def encode(stream: int, opcode: int, body: bytes, flags: int = 0) -> bytes:
    """A response frame (version byte 0x84)."""
    return HEADER.pack(VERSION | RESPONSE_BIT, flags, stream, opcode, len(body)) + body


class FrameSplitter:
    """Accumulates socket data and yields whole frames; tolerant of any chunking."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        buf = self._buf
        pos = 0
        n = len(buf)
        while n - pos >= HEADER_LEN:
            version, flags, stream, opcode, length = HEADER.unpack_from(buf, pos)
            if length > MAX_BODY:
                raise ValueError(f"frame body too large: {length}")
            end = pos + HEADER_LEN + length
            if end > n:
                break
            frames.append(Frame(version & 0x7F, flags, stream, opcode, bytes(buf[pos + HEADER_LEN : end])))
            pos = end
        if pos:
            del buf[:pos]
        return frames
