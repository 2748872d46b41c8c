"""Native protocol v4 server: one asyncio Protocol per client connection.

Handles the handshake (OPTIONS/STARTUP/REGISTER), pushes EVENTs to connections that
REGISTERed, and runs QUERY/EXECUTE/BATCH as tasks so responses go out in completion order
(the driver pipelines on stream ids); an EXECUTE of a prepared write skips the task and is
answered from a callback on the coordinator's future (the hot path of the latency promise). Every failure becomes an ERROR frame on the request's
stream; the connection is closed only for an unreadable byte stream. Frames with another
version byte get a Protocol error containing "unsupported protocol version", which is what
makes the python driver fall back from DSE_V2/DSE_V1/v5 to v4.

Coordinator latency is measured from the moment the request's bytes arrived to the moment
its response is written, and recorded per table in the ``system_views`` latency tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, cast

from . import frame as fr
from .errors import CqlError, ProtocolError, ServerError
from .executor import Executor, QueryParams, read_params
from .metrics import LatencyMetrics
from .wire import ProtocolViolation, Reader, Writer

log = logging.getLogger(__name__)

EVENT_TYPES = ("TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE")
_VOID = Writer().int(0x0001).getvalue()  # RESULT kind Void


class ClientConnection(asyncio.Protocol):
    def __init__(self, server: NativeServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.splitter = fr.FrameSplitter()
        self.keyspace: str | None = None
        self.events: set[str] = set()
        self.address = ("0.0.0.0", 0)
        self.driver = ("", "")
        self.stage = "established"
        self.requests = 0

    # -- asyncio callbacks -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop transports do not subclass it
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if peer:
            self.address = (peer[0], peer[1])
        if self.server.refusing:
            transport.abort()
            return
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        t0 = time.perf_counter()
        try:
            frames = self.splitter.feed(data)
        except ValueError as exc:
            log.warning("closing %s: %s", self.address, exc)
            self.close()
            return
        for f in frames:
            self.requests += 1
            self.handle(f, t0)

    # -- helpers ----------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return {
            "address": self.address[0], "port": self.address[1], "connection_stage": self.stage,
            "driver_name": self.driver[0], "driver_version": self.driver[1], "hostname": self.address[0],
            "protocol_version": 4, "request_count": self.requests, "ssl_enabled": False, "username": "anonymous",
        }

    def send(self, stream: int, opcode: int, body: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(fr.encode(stream, opcode, body))

    def send_error(self, stream: int, err: CqlError) -> None:
        self.send(stream, fr.ERROR, err.body())

    def close(self, graceful: bool = False) -> None:
        """Drop the connection (abort); graceful: flush what is queued, then FIN (a node shutting down)."""
        if self.transport is not None:
            if graceful:
                self.transport.close()
            else:
                self.transport.abort()

    # -- dispatch ---------------------------------------------------------------------------------
    def handle(self, f: fr.Frame, t0: float) -> None:
        if f.version != fr.VERSION:
            self.send_error(f.stream, ProtocolError(
                f"Invalid or unsupported protocol version ({f.version}); supported versions are (4/v4)"))
            return
        if f.flags & fr.FLAG_COMPRESSED:
            self.send_error(f.stream, ProtocolError("Compression was not negotiated"))
            return
        op = f.opcode
        try:
            if op == fr.OPTIONS:
                body = Writer().string_multimap({
                    "CQL_VERSION": [self.server.cql_version],
                    "COMPRESSION": [],
                    "PROTOCOL_VERSIONS": ["4/v4"],
                }).getvalue()
                self.send(f.stream, fr.SUPPORTED, body)
            elif op == fr.STARTUP:
                opts = Reader(f.body).string_map()
                if opts.get("COMPRESSION"):
                    raise ProtocolError(f"Unknown compression algorithm: {opts['COMPRESSION']}")
                self.driver = (opts.get("DRIVER_NAME", ""), opts.get("DRIVER_VERSION", ""))
                self.stage = "ready"
                self.send(f.stream, fr.READY, b"")
            elif op == fr.REGISTER:
                types = Reader(f.body).string_list()
                bad = [t for t in types if t not in EVENT_TYPES]
                if bad:
                    raise ProtocolError(f"Invalid value '{bad[0]}' for Type")
                self.events.update(types)
                self.send(f.stream, fr.READY, b"")
            elif op == fr.PREPARE:
                q = Reader(f.body).long_string()
                self.send(f.stream, fr.RESULT, self.server.executor.prepare(self, q))
            elif op == fr.EXECUTE:
                r = Reader(f.body)
                pid = r.short_bytes()
                started = self.server.executor.start_execute_write(self, pid, read_params(r))
                if started is None:
                    asyncio.get_running_loop().create_task(self._run(f, t0))
                else:
                    fut, tables = started
                    fut.add_done_callback(lambda fu: self._write_done(f.stream, fu, tables, t0))
            elif op in (fr.QUERY, fr.BATCH):
                asyncio.get_running_loop().create_task(self._run(f, t0))
            elif op in (fr.AUTH_RESPONSE,):
                raise ProtocolError("Authentication is not enabled on this node")
            else:
                raise ProtocolError(f"Unknown opcode {op}")
        except CqlError as exc:
            self.send_error(f.stream, exc)
        except ProtocolViolation as exc:
            self.send_error(f.stream, ProtocolError(str(exc)))
        except Exception as exc:  # never drop the connection for a server bug
            log.exception("request failed")
            self.send_error(f.stream, ServerError(f"{type(exc).__name__}: {exc}"))

    def _write_done(self, stream: int, fut: asyncio.Future[None], tables: list[tuple[str, str]], t0: float) -> None:
        """Answer a fast-path write (see ``Executor.start_execute_write``) and record its latency."""
        exc = fut.exception()
        if exc is None:
            self.send(stream, fr.RESULT, _VOID)
            us = (time.perf_counter() - t0) * 1e6
            for ks, table in tables:
                self.server.metrics.record("coordinator_write", ks, table, us)
        elif isinstance(exc, CqlError):
            self.send_error(stream, exc)
        else:
            log.error("write failed", exc_info=exc)
            self.send_error(stream, ServerError(f"{type(exc).__name__}: {exc}"))

    async def _run(self, f: fr.Frame, t0: float) -> None:
        ex = self.server.executor
        try:
            r = Reader(f.body)
            if f.opcode == fr.QUERY:
                q = r.long_string()
                out = await ex.query(self, q, read_params(r))
            elif f.opcode == fr.EXECUTE:
                pid = r.short_bytes()
                out = await ex.execute(self, pid, read_params(r))
            else:
                kind = r.byte()
                items: list[tuple[Any, list[Any]]] = []
                for _ in range(r.short()):
                    qkind = r.byte()
                    q: Any = r.long_string() if qkind == 0 else r.short_bytes()
                    items.append((q, [r.value() for _ in range(r.short())]))
                params = QueryParams(consistency=r.short())
                flags = r.byte()
                if flags & 0x10:
                    params.serial_consistency = r.short()
                if flags & 0x20:
                    params.timestamp = r.long()
                out = await ex.batch(self, kind, items, params)
            self.send(f.stream, fr.RESULT, out.body)
            if out.metric:
                us = (time.perf_counter() - t0) * 1e6
                for ks, table in out.tables:
                    self.server.metrics.record(out.metric, ks, table, us)
        except CqlError as exc:
            self.send_error(f.stream, exc)
        except ProtocolViolation as exc:
            self.send_error(f.stream, ProtocolError(str(exc)))
        except Exception as exc:
            log.exception("request failed")
            self.send_error(f.stream, ServerError(f"{type(exc).__name__}: {exc}"))


class NativeServer:
    """The node's native port: what it runs requests with (its executor), where it records their latency
    (its metrics) and the CQL version it advertises are passed in by node.Node."""

    def __init__(self, executor: Executor, metrics: LatencyMetrics, cql_version: str, host: str, port: int) -> None:
        self.executor = executor
        self.metrics = metrics
        self.cql_version = cql_version
        self.host = host
        self.port = port
        self.connections: set[ClientConnection] = set()
        self.refusing = False
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: ClientConnection(self), self.host, self.port,
                                                reuse_address=True, backlog=256)

    async def stop(self, graceful: bool = False) -> None:
        """Stop listening and close every client connection (graceful: after flushing, as at shutdown)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for c in list(self.connections):
            c.close(graceful)

    async def set_refusing(self, refuse: bool) -> None:
        """Fault: close client connections and stop listening (Simulacron's STOP), or recover."""
        if refuse == self.refusing:
            return
        self.refusing = refuse
        if refuse:
            await self.stop()
        else:
            with contextlib.suppress(OSError):
                await self.start()

    def broadcast(self, event_type: str, body: bytes) -> None:
        payload = Writer().string(event_type).raw(body).getvalue()
        for c in list(self.connections):
            if event_type in c.events:
                c.send(-1, fr.EVENT, payload)
