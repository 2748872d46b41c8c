"""Node-to-node messaging over TCP (the emulator's own framed protocol) and liveness.

Frame: ``[u32 payload length][u8 type][u32 request id] payload``. Each node dials one
outbound connection to every peer and sends its requests there; replies come back on the
same connection. The first frame on an outbound connection is HELLO(name). Payloads are
struct-framed mutation records (storage.Mutation.encode) or the tagged codec; FORWARD carries
a coordinator's remote-DC copies to one relay replica of that DC.

Liveness is a round-trip heartbeat on the outbound connection: a PING every
``heartbeat_interval_ms`` carrying (name, schema version, generation); the peer is UP after a
PONG and DOWN as soon as the connection drops (a killed process resets its sockets) or no
PONG comes back within ``failure_timeout_ms`` (a hung or isolated process). Cassandra's phi
detector is slower and probabilistic; a lab wants fast, deterministic detection.

Two partition faults: ``isolate`` closes every connection and refuses new ones (peers learn at
once); ``set_unreachable`` is silent, as an iptables DROP between datacenters is: frames to and from
the named peers are dropped without closing anything, dials to them "time out", and peers only
notice when their requests and heartbeats time out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from . import codec
from .config import NodeConfig

log = logging.getLogger(__name__)

HELLO, PING, MUTATION, READ, SCHEMA_PUSH, SCHEMA_PULL, SCAN, TRUNCATE, MUTATION_BATCH, FORWARD = range(10)
RESP_OK, RESP_ERR = 0x80, 0x81
_HDR = struct.Struct(">IBI")

Handler = Callable[[str, int, bytes], "bytes | Awaitable[bytes] | asyncio.Future[bytes]"]


class RemoteError(Exception):
    """The peer answered a request with an error string."""


class _Conn(asyncio.Protocol):
    def __init__(self, messenger: Messenger, peer: str | None, outbound: bool) -> None:
        self.m = messenger
        self.peer = peer
        self.outbound = outbound
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.next_id = 1
        self.closed = asyncio.get_running_loop().create_future()

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop transports do not subclass it
        self.transport = transport
        if not self.outbound:
            if self.m.isolated:
                transport.abort()
                return
            self.m.inbound.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.m.inbound.discard(self)
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"connection to {self.peer} lost"))
        self.pending.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        n = len(buf)
        while n - pos >= 9:
            length, mtype, rid = _HDR.unpack_from(buf, pos)
            end = pos + 9 + length
            if end > n:
                break
            payload = bytes(buf[pos + 9 : end])
            pos = end
            if mtype != HELLO and self.m.is_cut(self.peer):
                continue  # a silent partition: dropped, no answer, nothing closed
            if mtype >= 0x80:
                fut = self.pending.pop(rid, None)
                if fut is not None and not fut.done():
                    if mtype == RESP_OK:
                        fut.set_result(payload)
                    else:
                        fut.set_exception(RemoteError(payload.decode("utf-8", "replace")))
            elif mtype == HELLO:
                self.peer = payload.decode()
            else:
                self.m._dispatch(self, mtype, rid, payload)
        if pos:
            del buf[:pos]

    # sending
    def send(self, mtype: int, rid: int, payload: bytes) -> None:
        if self.m.is_cut(self.peer):
            return  # a silent partition: the frame is lost on the way
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_HDR.pack(len(payload), mtype, rid) + payload)

    def request(self, mtype: int, payload: bytes, timeout: float) -> asyncio.Future[bytes]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bytes] = loop.create_future()
        if self.transport is None or self.transport.is_closing():
            fut.set_exception(ConnectionError(f"no connection to {self.peer}"))
            return fut
        rid = self.next_id
        self.next_id = (rid + 1) & 0xFFFFFFFF or 1
        self.pending[rid] = fut
        self.send(mtype, rid, payload)
        handle = loop.call_later(timeout, _expire, fut, self.pending, rid)
        fut.add_done_callback(lambda _f: handle.cancel())
        return fut

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _expire(fut: asyncio.Future[bytes], pending: dict[int, asyncio.Future[bytes]], rid: int) -> None:
    pending.pop(rid, None)
    if not fut.done():
        fut.set_exception(TimeoutError("internode request timed out"))


class Messenger:
    """Connections to all peers, request/response correlation and the failure detector."""

    def __init__(
        self,
        me: NodeConfig,
        peers: list[NodeConfig],
        handler: Handler,
        on_state: Callable[[str, bool], None],
        ping_payload: Callable[[], bytes],
        on_pong: Callable[[str, Any], None],
        heartbeat_s: float,
        failure_timeout_s: float,
        listen_host: str,
    ) -> None:
        self.me = me
        self.peers = {p.name: p for p in peers}
        self.handler = handler
        self.on_state = on_state
        self.ping_payload = ping_payload
        self.on_pong = on_pong
        self.hb = heartbeat_s
        self.failure_timeout = failure_timeout_s
        self.listen_host = listen_host
        self.out: dict[str, _Conn | None] = {p: None for p in self.peers}
        self.alive: dict[str, bool] = {p: False for p in self.peers}
        self.inbound: set[_Conn] = set()
        self.isolated = False
        self.unreachable: frozenset[str] = frozenset()
        self._server: asyncio.AbstractServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Conn(self, None, False), self.listen_host, self.me.internode_port, reuse_address=True
        )
        for name in self.peers:
            self._tasks.append(asyncio.create_task(self._peer_loop(name)))

    async def stop(self) -> None:
        self._closing = True
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._server is not None:
            self._server.close()
        for c in list(self.inbound) + [c for c in self.out.values() if c]:
            c.close()

    def set_isolated(self, isolated: bool) -> None:
        """Fault: drop every internode connection and refuse new ones (a network partition)."""
        if isolated == self.isolated:
            return
        self.isolated = isolated
        if isolated:
            for c in list(self.inbound) + [c for c in self.out.values() if c]:
                c.close()

    def set_unreachable(self, names: frozenset[str]) -> None:
        """Fault: drop every frame to and from these peers, silently (nothing is closed)."""
        if names != self.unreachable:
            log.info("internode traffic with %s now dropped", ", ".join(sorted(names)) or "nobody")
        self.unreachable = names

    def is_cut(self, peer: str | None) -> bool:
        return peer is not None and peer in self.unreachable

    def is_alive(self, name: str) -> bool:
        return name == self.me.name or self.alive.get(name, False)

    def request(self, peer: str, mtype: int, payload: bytes, timeout: float) -> asyncio.Future[bytes]:
        conn = self.out.get(peer)
        if conn is None or not self.alive.get(peer):
            fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            fut.set_exception(ConnectionError(f"{peer} is down"))
            return fut
        return conn.request(mtype, payload, timeout)

    def _set_alive(self, name: str, up: bool) -> None:
        if self.alive.get(name) != up:
            self.alive[name] = up
            log.info("peer %s is now %s", name, "UP" if up else "DOWN")
            self.on_state(name, up)

    async def _peer_loop(self, name: str) -> None:
        loop = asyncio.get_running_loop()
        peer = self.peers[name]
        while not self._closing:
            if self.isolated:
                self._set_alive(name, False)
                await asyncio.sleep(self.hb)
                continue
            if name in self.unreachable:  # a dial across a DROP: the SYN is never answered
                await asyncio.sleep(self.failure_timeout)
                self._set_alive(name, False)
                continue
            try:
                _t, conn = await asyncio.wait_for(
                    loop.create_connection(lambda: _Conn(self, name, True), peer.address, peer.internode_port),
                    timeout=self.failure_timeout,
                )
            except (OSError, TimeoutError):
                self._set_alive(name, False)
                await asyncio.sleep(self.hb)
                continue
            conn.send(HELLO, 0, self.me.name.encode())
            self.out[name] = conn
            try:
                while not self._closing and not self.isolated and not conn.closed.done():
                    t0 = time.monotonic()
                    resp = await conn.request(PING, self.ping_payload(), self.failure_timeout)
                    self.on_pong(name, codec.decode(resp))
                    self._set_alive(name, True)
                    await asyncio.wait({conn.closed}, timeout=max(0.0, self.hb - (time.monotonic() - t0)))
            except (OSError, TimeoutError, RemoteError, codec.DecodeError) as exc:
                log.debug("heartbeat to %s failed: %r", name, exc)
            finally:
                self.out[name] = None
                conn.close()
                self._set_alive(name, False)
            if not self._closing:
                await asyncio.sleep(self.hb)

    def _dispatch(self, conn: _Conn, mtype: int, rid: int, payload: bytes) -> None:
        if self.isolated:
            conn.close()
            return
        try:
            res = self.handler(conn.peer or "?", mtype, payload)
        except Exception as exc:  # answer the peer instead of dropping the connection
            conn.send(RESP_ERR, rid, repr(exc).encode())
            return
        if isinstance(res, (bytes, bytearray)):
            conn.send(RESP_OK, rid, bytes(res))
            return
        fut = asyncio.ensure_future(res)

        def done(f: asyncio.Future[bytes]) -> None:
            if f.cancelled():
                conn.send(RESP_ERR, rid, b"cancelled")
            elif f.exception() is not None:
                conn.send(RESP_ERR, rid, repr(f.exception()).encode())
            else:
                conn.send(RESP_OK, rid, f.result())

        fut.add_done_callback(done)
