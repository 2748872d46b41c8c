"""Does a node answer CQL? One OPTIONS frame, no driver, no session.

Why not the driver: after a Cassandra service is started again, the question is only "is its
native transport serving yet?" — a real node opens port 9042 last, once it has replayed its commit
log and joined the ring, and answers OPTIONS with SUPPORTED from then on. A driver session would
add seconds of metadata discovery to every poll and mix the answer with every other node's.
Used by the drills' heal (cloudgate.undo) and by the lab, which answers the same frame.
"""

from __future__ import annotations

import socket
import struct

_OPTIONS_V4 = struct.pack(">BBhBI", 0x04, 0, 1, 0x05, 0)  # version 4 request, stream 1, OPTIONS, no body
_RESPONSE_V4 = 0x84
_SUPPORTED = 0x06
_HEADER = 9


def answers_cql(address: str, port: int = 9042, timeout: float = 0.5) -> bool:
    """True if `address:port` answers a CQL v4 OPTIONS with a SUPPORTED frame within `timeout`."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as s:
            s.sendall(_OPTIONS_V4)
            header = b""
            while len(header) < _HEADER:
                chunk = s.recv(_HEADER - len(header))
                if not chunk:
                    return False
                header += chunk
            return header[0] == _RESPONSE_V4 and header[4] == _SUPPORTED
    except OSError:
        return False
