"""The Cassandra service stopped over SSH and started again by its heal: no cloud, no lab needed.

SSH is a recording stand-in; "the node answers CQL" is a listener on loopback that answers OPTIONS
with SUPPORTED as a node does once its native transport is up, or nothing while it is not.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from test_drill_nemesis import _ctx, _estate, _Undoer

from cloudgate.cassandra.cqlprobe import answers_cql
from cloudgate.drills import nemesis
from cloudgate.ledger import Entry, pending, read
from cloudgate.target import CassandraServiceControl, DrillsSection
from cloudgate.undo import Undoer, UndoError


# -- a node's native port on loopback ---------------------------------------------------------------
@contextmanager
def _native_port(answer: bytes | None) -> Iterator[int]:
    """A listener on 127.0.0.1: `answer` is sent back to each request (None: the connection is closed)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)  # accept() wakes up often, so the teardown never waits on it
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(2)
            with conn:
                conn.recv(9)
                if answer is not None:
                    conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()
        thread.join(timeout=5)


SUPPORTED = struct.pack(">BBhBI", 0x84, 0, 1, 0x06, 0)
ERROR = struct.pack(">BBhBI", 0x84, 0, 1, 0x00, 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_node_answers_cql_only_when_its_native_port_sends_supported():
    with _native_port(SUPPORTED) as port:
        assert answers_cql("127.0.0.1", port)
    with _native_port(ERROR) as port:
        assert not answers_cql("127.0.0.1", port)
    with _native_port(None) as port:
        assert not answers_cql("127.0.0.1", port), "a port that accepts and closes is not a serving node"
    assert not answers_cql("127.0.0.1", _free_port()), "nothing listening"


# -- the fault --------------------------------------------------------------------------------------
def test_the_service_stop_drill_stops_the_first_node_of_the_datacenter_with_the_targets_command():
    control = CassandraServiceControl(stop_command="sudo systemctl stop cassandra")
    fault = nemesis.service_stop(_estate(shared=False), "dc2", control, port=9142)
    assert [n.address for n in fault.nodes] == ["198.18.2.201"] and fault.nodes_down == ("198.18.2.201",)
    assert "sudo systemctl stop cassandra" in fault.description
    with pytest.raises(nemesis.NemesisError, match="no Cassandra node of dc9"):
        nemesis.service_stop(_estate(shared=False), "dc9", control)


def test_the_services_heal_is_in_the_ledger_before_the_stop_command_runs(tmp_path):
    seen: list[tuple[str, str]] = []

    def ssh(address: str, command: str) -> tuple[int, str]:
        (entry,) = read(tmp_path / "ledger.jsonl")
        assert entry.kind == "service_stopped" and entry.attrs["start_command"] == "systemctl start cassandra"
        seen.append((address, command))
        return 0, ""

    fault = nemesis.service_stop(_estate(shared=False), "dc1", CassandraServiceControl(), port=9142)
    fault.ssh = ssh
    ctx = _ctx(tmp_path, _Undoer())
    fault.inject(ctx)
    assert seen == [("198.18.1.201", "systemctl stop cassandra")]
    (entry,) = pending(read(ctx.ledger.path))
    assert entry.attrs == {"address": "198.18.1.201", "start_command": "systemctl start cassandra", "port": 9142,
                           "timeout": 300.0}
    assert fault.heal(ctx) == [] and pending(read(ctx.ledger.path)) == []


def test_a_stop_command_that_fails_is_one_line_and_its_start_stays_due(tmp_path):
    # the command may have stopped the service before failing: starting a running unit changes nothing
    fault = nemesis.service_stop(_estate(shared=False), "dc1", CassandraServiceControl())
    fault.ssh = lambda _a, _c: (1, "Failed to stop cassandra.service: Interactive authentication required.\n")
    ctx = _ctx(tmp_path, _Undoer())
    with pytest.raises(nemesis.NemesisError, match=r"`systemctl stop cassandra` on vm-201 exited 1: Failed to stop "
                                                   r"cassandra.service: Interactive authentication required.$"):
        fault.inject(ctx)
    (entry,) = pending(read(ctx.ledger.path))
    assert entry.settled and "Interactive authentication required" in str(entry.error)
    assert fault.heal(ctx) == [] and pending(read(ctx.ledger.path)) == []


def test_the_default_service_commands_are_the_cassandra_packages_unit():
    drills = DrillsSection()
    assert drills.cassandra_service.stop_command == "systemctl stop cassandra"
    assert drills.cassandra_service.start_command == "systemctl start cassandra"


# -- the heal (cloudgate.undo, kind service_stopped) ------------------------------------------------
@dataclass
class _Result:
    rc: int
    stdout: str = ""
    stderr: str = ""


class _Host:
    def __init__(self, result: _Result) -> None:
        self.result = result
        self.commands: list[str] = []

    def run(self, command: str) -> _Result:
        self.commands.append(command)
        return self.result


class _SshUndoer(Undoer):
    def __init__(self, host: _Host) -> None:
        super().__init__(client=None, target=None, poll=0.05)  # type: ignore[arg-type]
        self.host = host

    @contextmanager
    def _ssh(self, address: str, label: str, command_timeout: float = 0.0) -> Iterator[Any]:
        yield self.host


def _entry(port: int, timeout: float = 5.0) -> Entry:
    return Entry(key="k1", run="r", target="t", kind="service_stopped", name="vm-201", scope="drill", pid=1,
                 pid_start=None,
                 attrs={"address": "127.0.0.1", "start_command": "systemctl start cassandra", "port": port,
                        "timeout": timeout},
                 undo={"ssh": "127.0.0.1", "command": "systemctl start cassandra"})


def test_the_heal_starts_the_service_and_returns_once_the_node_answers_cql():
    host = _Host(_Result(0))
    with _native_port(SUPPORTED) as port:
        how = _SshUndoer(host).undo(_entry(port))
    assert host.commands == ["systemctl start cassandra"]
    assert how == f"started (CQL answers on 127.0.0.1:{port})"


def test_a_start_command_that_fails_is_one_line_naming_the_command_and_what_it_said():
    host = _Host(_Result(1, stderr="Job for cassandra.service failed.\nSee \"journalctl -xe\" for details.\n"))
    with pytest.raises(UndoError, match=r"`systemctl start cassandra` on 127.0.0.1 exited 1: See \"journalctl -xe\""):
        _SshUndoer(host).undo(_entry(_free_port()))


def test_a_service_that_started_but_never_answers_cql_is_still_broken_after_its_timeout():
    with pytest.raises(UndoError, match=r"does not answer CQL after 0.5 s"):
        _SshUndoer(_Host(_Result(0))).undo(_entry(_free_port(), timeout=0.5))
