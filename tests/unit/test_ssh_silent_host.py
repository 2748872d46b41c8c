"""A host that accepts TCP but never sends the SSH banner costs one timeout and reads as one clear line."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from cloudgate.errors import HostUnreachable
from cloudgate.ssh.hosts import SshSettings, open_client


def test_a_host_that_never_sends_its_banner_is_named_so_within_the_connect_timeout():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[tuple[socket.socket, object]] = []
    threading.Thread(target=lambda: [held.append(listener.accept()) for _ in range(5)], daemon=True).start()
    settings = SshSettings("root", "/dev/null", None, listener.getsockname()[1], 0.5, 5.0, False)
    try:
        for _ in range(5):  # the handshake and banner timeouts used to race: every attempt must say "banner"
            started = time.monotonic()
            with pytest.raises(HostUnreachable) as err:
                open_client("127.0.0.1", settings)
            assert str(err.value).endswith("SSH session hung: no banner within 0.5 s")
            assert time.monotonic() - started < 2.0
    finally:
        for conn, _ in held:
            conn.close()
        listener.close()
