"""The liveness checks' library: `nodetool status` judged, and the native-port probe's causes told apart."""

from __future__ import annotations

import socket
import threading

from cloudgate.cassandra.cqlprobe import probe_cql, probe_many
from cloudgate.cassandra.nodestatus import parse_nodetool_status, view_problems

STATUS = """\
Datacenter: dc1
===============
Status=Up/Down
|/ State=Normal/Leaving/Joining/Moving
--  Address        Load       Tokens  Owns (effective)  Host ID                               Rack
UN  10.0.1.1       1.02 MiB   16      ?                 2b6a3c55-0b1e-5c43-9d0b-3a3c2b2a1a01  r1
UJ  10.0.1.2       1.02 MiB   16      ?                 2b6a3c55-0b1e-5c43-9d0b-3a3c2b2a1a02  r2

Datacenter: dc2
===============
Status=Up/Down
|/ State=Normal/Leaving/Joining/Moving
--  Address        Load       Tokens  Owns (effective)  Host ID                               Rack
DN  10.0.2.1       1.02 MiB   16      ?                 2b6a3c55-0b1e-5c43-9d0b-3a3c2b2a1a03  r1
"""


def test_a_node_that_sees_a_peer_down_or_joining_or_misses_one_is_reported_naming_each():
    rows = parse_nodetool_status(STATUS)
    assert [(r.address, r.datacenter, r.up, r.state) for r in rows] == [
        ("10.0.1.1", "dc1", True, "Normal"), ("10.0.1.2", "dc1", True, "Joining"), ("10.0.2.1", "dc2", False, "Normal")]
    ring = {"10.0.1.1": "dc1", "10.0.1.2": "dc1", "10.0.2.1": "dc2", "10.0.2.2": "dc2"}
    assert view_problems(rows, ring) == [
        "sees 10.0.2.1 (dc2) Down", "sees 10.0.1.2 (dc1) Joining", "does not list 10.0.2.2 (dc2)"]


def test_a_healthy_view_has_no_problem_and_an_empty_one_is_not_taken_for_health():
    healthy = STATUS.replace("UJ", "UN").replace("DN", "UN")
    ring = {"10.0.1.1": "dc1", "10.0.1.2": "dc1", "10.0.2.1": "dc2"}
    assert view_problems(parse_nodetool_status(healthy), ring) == []
    assert view_problems(parse_nodetool_status("error: nothing\n"), ring) == ["its `nodetool status` lists no node"]


def _listener(answer: bytes | None) -> tuple[socket.socket, int]:
    """A loopback port that accepts and then answers `answer` to the first bytes (None: never answers)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.recv(64)
            if answer is not None:
                conn.sendall(answer)
            conn.recv(64)  # held open until the client goes

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def test_the_probe_tells_a_stopped_node_from_a_paused_one_and_from_a_healthy_one():
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens: refused
    assert "connection refused" in probe_cql("127.0.0.1", port, 1.0).problem

    silent, silent_port = _listener(None)
    healthy, healthy_port = _listener(bytes([0x84, 0, 0, 1, 0x06, 0, 0, 0, 0]))
    with silent, healthy:
        paused = probe_cql("127.0.0.1", silent_port, 0.3)
        assert not paused.ok and "accepted the connection but sent no answer to OPTIONS within 0.3 s" in paused.problem
        assert probe_cql("127.0.0.1", healthy_port, 1.0).ok


def test_a_name_that_does_not_resolve_is_named_as_such(monkeypatch):
    def no_such_name(*args: object, **kwargs: object) -> list:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)  # no resolver is asked: nothing leaves the machine
    answer = probe_cql("cass1.does-not-exist.invalid", 9042, 0.5)
    assert not answer.ok and answer.problem == "name does not resolve (Name or service not known)"


def test_probing_many_addresses_probes_each_once_and_keeps_their_order():
    server, port = _listener(bytes([0x84, 0, 0, 1, 0x06, 0, 0, 0, 0]))
    with server:
        answers = probe_many(["127.0.0.1", "127.0.0.1"], port, 1.0)
    assert list(answers) == ["127.0.0.1"] and answers["127.0.0.1"].ok
