"""HTTP front end on 127.0.0.1: GET and POST on /client/api, JSON answers, and the thread-mode handle.

Only loopback is ever bound: the lab is reached by the suite through real sockets, never from outside.
A stopped in-process simulator closes its open (keep-alive) connections, as a dead process would: a
client that kept one must reconnect, and so reaches the simulator started after it (a restart, an
upgrade), never the stopped one's closed database.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cloudgate_lab.topology import LabTopology

from .accounts import new_credentials
from .api import handle
from .driver import GuestDriver, NullGuestDriver
from .envelope import REASONS
from .simulator import Simulator

log = logging.getLogger(__name__)

API_PATHS = ("/client/api", "/client/api/")
BIND_ADDRESS = "127.0.0.1"


class _ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, sim: Simulator) -> None:
        self.sim = sim
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((BIND_ADDRESS, port), _ApiHandler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def close_connections(self) -> None:
        """Shut every open connection down (their handler threads then end on EOF)."""
        with self._connections_lock:
            open_now = list(self._connections)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _ApiHandler(BaseHTTPRequestHandler):
    server: _ApiServer
    protocol_version = "HTTP/1.1"
    server_version = "Apache-Coyote/1.1"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._serve(b"")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        self._serve(body if ctype in ("", "application/x-www-form-urlencoded") else b"")

    def _serve(self, body: bytes) -> None:
        started = time.monotonic()
        url = urlsplit(self.path)
        if url.path not in API_PATHS:
            self._write(404, b"<html><body><h1>HTTP Status 404 - Not Found</h1></body></html>", "text/html")
            return
        pairs = parse_qsl(url.query, keep_blank_values=True, encoding="utf-8")
        pairs += parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True, encoding="utf-8")
        sim = self.server.sim
        outcome = handle(sim, pairs)
        data = json.dumps(outcome.body).encode("utf-8")
        try:  # before answering, so a client that got its answer also finds the call in the log
            sim.log_request(outcome.command, outcome.status, time.monotonic() - started, outcome.account)
        except OSError:
            log.exception("cannot write the API request log")
        self._write(outcome.status, data, "application/json; charset=UTF-8")

    def _write(self, status: int, data: bytes, ctype: str) -> None:
        self.send_response(status, REASONS.get(status))
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Silenced: api.log records every call without its query string (which carries the signature)."""


@dataclass
class SimulatorHandle:
    """A running simulator: its endpoint, its credentials and the way to stop it."""

    sim: Simulator
    server: _ApiServer
    thread: threading.Thread
    credentials: dict[str, Any]

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://{BIND_ADDRESS}:{self.port}/client/api"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.server.close_connections()
        self.thread.join(timeout=10)
        self.sim.stop()


def start_in_thread(state_dir: Path | str, topology: LabTopology, port: int = 0,
                    credentials: dict[str, Any] | None = None,
                    guest_driver: GuestDriver | None = None) -> SimulatorHandle:
    """Start the simulator inside this process (port 0: any free port); `.stop()` shuts it down cleanly."""
    creds = credentials if credentials is not None else new_credentials()
    sim = Simulator(Path(state_dir), topology, creds, guest_driver or NullGuestDriver())
    server = _ApiServer(port, sim)
    sim.start()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="cs-http",
                              daemon=True)
    thread.start()
    return SimulatorHandle(sim, server, thread, creds)
