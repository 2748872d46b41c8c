"""A read-only run cannot write to Cassandra: the session it gets refuses anything but SELECT."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from cassandra.query import BatchStatement, BoundStatement, PreparedStatement, SimpleStatement

from cloudgate.cassandra.cqlguard import CassandraReadOnlyError, ReadOnlyCluster, ReadOnlySession

INFRA = Path(__file__).resolve().parents[2] / "tests" / "infra"


class _RecordingCluster:
    metadata = "ring"

    def connect(self, keyspace=None):
        return _RecordingSession(self)


class _RecordingSession:
    def __init__(self, cluster=None) -> None:
        self.sent: list[object] = []
        self.cluster = cluster or _RecordingCluster()
        self.default_timeout = 10.0

    def execute(self, query, *args, **kwargs):
        self.sent.append(query)
        return "rows"

    execute_async = prepare = execute
    keyspace = "probe"


def _prepared(text: str) -> PreparedStatement:
    return PreparedStatement(column_metadata=[], query_id=b"x", routing_key_indexes=[], query=text,
                             keyspace="probe", protocol_version=4, result_metadata=[], result_metadata_id=None)


@pytest.mark.parametrize("query", [
    "SELECT * FROM system.peers",
    "  select release_version FROM system.local",
    "-- the ring\nSELECT * FROM system.local",
    "/* probe */ SELECT peer FROM system.peers_v2",
    SimpleStatement("SELECT * FROM system.local"),
])
def test_a_read_only_session_lets_selects_through(query):
    inner = _RecordingSession()
    assert ReadOnlySession(inner, "prod").execute(query) == "rows"
    assert inner.sent == [query]


@pytest.mark.parametrize("query", [
    "INSERT INTO probe.t (k) VALUES (1)",
    "CREATE KEYSPACE probe WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3}",
    "DROP KEYSPACE probe",
    "TRUNCATE probe.t",
    "  update probe.t SET v = 1 WHERE k = 1",
    "/* SELECT */ DELETE FROM probe.t WHERE k = 1",
    SimpleStatement("DELETE FROM probe.t WHERE k = 1"),
    BoundStatement(_prepared("INSERT INTO probe.t (k) VALUES (?)")),
    BatchStatement(),
])
def test_a_read_only_session_refuses_every_write_in_one_line_naming_the_target(query):
    inner = _RecordingSession()
    guarded = ReadOnlySession(inner, "prod")
    for send in (guarded.execute, guarded.execute_async):
        with pytest.raises(CassandraReadOnlyError) as refused:
            send(query)
        message = str(refused.value)
        assert message.startswith("prod: refused to send ") and "this run is read-only" in message
        assert "\n" not in message
    assert inner.sent == []


def test_a_read_only_session_refuses_to_prepare_a_write_and_passes_other_attributes():
    guarded = ReadOnlySession(_RecordingSession(), "prod")
    with pytest.raises(CassandraReadOnlyError):
        guarded.prepare("INSERT INTO probe.t (k) VALUES (?)")
    assert guarded.keyspace == "probe"


def test_the_cluster_of_a_read_only_session_connects_only_read_only_sessions():
    guarded = ReadOnlySession(_RecordingSession(), "prod")
    for cluster in (guarded.cluster, ReadOnlyCluster(_RecordingCluster(), "prod")):
        assert cluster.metadata == "ring"
        with pytest.raises(CassandraReadOnlyError):
            cluster.connect().execute("TRUNCATE probe.t")


def test_settings_written_on_a_read_only_session_reach_the_real_one():
    inner = _RecordingSession()
    ReadOnlySession(inner, "prod").default_timeout = 60.0
    assert inner.default_timeout == 60.0


def _asks_for_writes(tree: ast.AST) -> bool:
    return any(isinstance(node, ast.keyword) and node.arg == "writes"
               and not (isinstance(node.value, ast.Constant) and node.value.value is False)
               for node in ast.walk(tree))


def _is_destructive(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in node.targets):
            return "destructive" in ast.unparse(node.value)
    return False


def test_only_destructive_checks_ask_cassandra_for_a_writable_session():
    writers = {p.name: _is_destructive(tree) for p in sorted(INFRA.glob("test_*.py"))
               if _asks_for_writes(tree := ast.parse(p.read_text()))}
    assert writers, "the latency check writes: the scan must find it"
    assert all(writers.values()), f"non-destructive checks asking for writes: {[n for n, d in writers.items() if not d]}"
