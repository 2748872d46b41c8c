"""Marker registration and the TCP_NODELAY patch for the namespaced-host tests (helpers: hosts_labkit.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import paramiko
import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: builds lab namespaces on this machine (needs root)")


@pytest.fixture(scope="module")
def nodelay_paramiko() -> Iterator[None]:
    """For testinfra's paramiko backend, which opens its own sockets: the 6-line patch from ssh-fanout.md."""
    original = paramiko.Transport.__init__

    def init(self: paramiko.Transport, sock: object, *args: object, **kwargs: object) -> None:
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        original(self, sock, *args, **kwargs)  # type: ignore[arg-type]

    paramiko.Transport.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        paramiko.Transport.__init__ = original  # type: ignore[method-assign]
