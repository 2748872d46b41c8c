"""The CloudStack client's own guarantees, without a cloud: read-only by default, no secret leaks."""

from __future__ import annotations

import socket

import pytest
from pydantic import SecretStr

from cloudgate.cloudstack.client import CloudStackClient, CloudStackError, MutationRefused, scrub


def client(port: int = 9, **kw) -> CloudStackClient:
    return CloudStackClient("selftest", f"http://127.0.0.1:{port}/client/api", "the-key", SecretStr("s3cr3t"), timeout=2, **kw)


@pytest.mark.parametrize("command", ["deployVirtualMachine", "destroyVirtualMachine", "prepareHostForMaintenance", "createTags"])
def test_a_read_only_run_cannot_send_a_mutating_command(command):
    with pytest.raises(MutationRefused, match=f"refused to send {command}: this run is read-only"):
        client().call(command, id="x")


def test_an_unreachable_endpoint_gives_one_line_without_the_key_or_signature():
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CloudStackError) as info:
        client(port).call("listZones")
    message = str(info.value)
    assert "unreachable" in message and f"127.0.0.1:{port}" in message and "\n" not in message
    assert "the-key" not in message and "signature" not in message.lower() and "s3cr3t" not in message


def test_scrub_removes_api_keys_and_signatures_from_urls():
    url = "/client/api?apiKey=AKIA123&command=listZones&signature=abc%2Bdef&expires=2026"
    assert scrub(url) == "/client/api?apiKey=***&command=listZones&signature=***&expires=***"


def test_the_client_repr_never_shows_the_secret():
    assert "s3cr3t" not in repr(client()) and "the-key" not in repr(client())
