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
import time
from dataclasses import dataclass

_OPTIONS_V4 = struct.pack(">BBhBI", 0x04, 0, 1, 0x05, 0)  # version 4 request, stream 1, OPTIONS, no body
_RESPONSE_V4 = 0x84
_SUPPORTED = 0x06
_HEADER = 9


@dataclass(frozen=True)
class CqlAnswer:
    """What one node's native port did with an OPTIONS frame: ``ok``, or why not in operator's words."""

    address: str
    port: int
    ok: bool
    problem: str = ""  # empty when ok
    seconds: float = 0.0


def probe_cql(address: str, port: int = 9042, timeout: float = 0.5) -> CqlAnswer:
    """Resolve, connect, send OPTIONS, read the reply header, each bounded by ``timeout``.

    The causes are told apart because the operator's next step differs: a name that does not resolve
    is a target file or DNS problem; a refused connection is a stopped Cassandra (the VM answers); a
    connect that times out is a dead VM, host or link; a connection accepted but never answered is a
    node that is paused, hung or overloaded — the silent failure clients take longest to notice.
    """
    started = time.monotonic()

    def answer(ok: bool, problem: str = "") -> CqlAnswer:
        return CqlAnswer(address, port, ok, problem, round(time.monotonic() - started, 3))

    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return answer(False, f"name does not resolve ({getattr(exc, 'strerror', None) or exc})")
    family, kind, proto, _, sockaddr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.settimeout(timeout)
        try:
            s.connect(sockaddr)
        except ConnectionRefusedError:
            return answer(False, f"connection refused on port {port} (Cassandra not running?)")
        except TimeoutError:
            return answer(False, f"no TCP answer on port {port} within {timeout:g} s (VM, host or link down?)")
        except OSError as exc:
            return answer(False, f"cannot connect to port {port}: {exc.strerror or exc}")
        try:
            s.sendall(_OPTIONS_V4)
            header = b""
            while len(header) < _HEADER:
                chunk = s.recv(_HEADER - len(header))
                if not chunk:
                    return answer(False, f"port {port} closed the connection without answering OPTIONS")
                header += chunk
        except TimeoutError:
            return answer(False, f"port {port} accepted the connection but sent no answer to OPTIONS within "
                                 f"{timeout:g} s (node paused, hung or overloaded?)")
        except OSError as exc:
            return answer(False, f"port {port} failed while answering OPTIONS: {exc.strerror or exc}")
    if header[0] != _RESPONSE_V4 or header[4] != _SUPPORTED:
        return answer(False, f"port {port} answered OPTIONS with something other than CQL v4 SUPPORTED")
    return answer(True)


def answers_cql(address: str, port: int = 9042, timeout: float = 0.5) -> bool:
    """True if `address:port` answers a CQL v4 OPTIONS with a SUPPORTED frame within `timeout`."""
    return probe_cql(address, port, timeout).ok


def probe_many(addresses: list[str], port: int = 9042, timeout: float = 0.5) -> dict[str, CqlAnswer]:
    """Every address probed at once (threads): a check over a whole ring costs one timeout, not one per node."""
    from concurrent.futures import ThreadPoolExecutor

    unique = list(dict.fromkeys(addresses))
    if not unique:
        return {}
    with ThreadPoolExecutor(max_workers=min(32, len(unique))) as pool:
        answers = list(pool.map(lambda a: probe_cql(a, port, timeout), unique))
    return dict(zip(unique, answers, strict=True))
