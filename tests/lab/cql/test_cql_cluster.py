"""The emulator as the suite sees it: the real python driver against a 6-node, 2-DC cluster.

Order matters only for speed (one shared cluster); every destructive test restores the cluster
through the ``healthy`` fixture.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from cassandra import (
    AlreadyExists,
    ConsistencyLevel,
    InvalidRequest,
    ReadTimeout,
    Unavailable,
    WriteTimeout,
    WriteType,
)
from cassandra.cluster import Cluster, NoHostAvailable, Session
from cassandra.protocol import SyntaxException
from cassandra.query import BatchStatement, SimpleStatement

from cloudgate_lab.cql import faults
from cloudgate_lab.cql.cluster import LocalCluster, probe_native

CL = ConsistencyLevel


def _ks() -> str:
    return "cg_" + uuid.uuid4().hex[:10]


def _host(driver: Cluster, address: str):
    return next(h for h in driver.metadata.all_hosts() if h.address == address)


def _eventually(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _driver_sees_dc1_up(driver: Cluster) -> None:
    """Destructive tests start from a client that has every local host up again."""
    for h in driver.metadata.all_hosts():
        if h.datacenter == "dc1":
            _eventually(lambda h=h: h.is_up is True, 30, f"the driver to see {h.address} up")


def _on(probe: Session, lab: LocalCluster, node: str, query: str, params: tuple = (), cl: int = CL.ONE) -> list:
    """Run a statement with ``node`` as coordinator (waiting until the probe client has it up)."""
    host = _host(probe.cluster, lab.config.node(node).address)
    deadline = time.monotonic() + 20
    while True:
        _eventually(lambda: host.is_up is not False, 20, f"the probe client to see {node} up")
        try:
            return list(probe.execute(SimpleStatement(query, consistency_level=cl), params, host=host))
        except NoHostAvailable:  # a pooled connection the node closed while it was down/refusing
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_driver_sees_two_dc_ring(driver: Cluster, session: Session) -> None:
    assert driver.protocol_version == 4  # negotiated down from DSE_V2/DSE_V1/v5
    hosts = {h.address: (h.datacenter, h.rack) for h in driver.metadata.all_hosts()}
    assert sorted(hosts.values()) == sorted([("dc1", f"rack{i}") for i in (1, 2, 3)] + [("dc2", f"rack{i}") for i in (1, 2, 3)])
    tm = driver.metadata.token_map
    assert tm is not None and len(tm.ring) == 6 * 16
    local = session.execute("SELECT cluster_name, partitioner, release_version FROM system.local").one()
    assert local.partitioner.endswith("Murmur3Partitioner") and local.release_version.startswith("4.")


def test_prepared_local_quorum_roundtrip(session: Session, driver: Cluster,
                                         scoped_session: Callable[[str], Session]) -> None:
    ks = _ks()
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}}")
    session.execute(
        f"CREATE TABLE {ks}.events (tenant text, day int, at timeuuid, id uuid, n bigint, ok boolean, score double, "
        f"ratio float, body blob, ts timestamp, tag ascii, PRIMARY KEY ((tenant, day), at)) "
        f"WITH CLUSTERING ORDER BY (at DESC)"
    )
    meta = driver.metadata.keyspaces[ks]
    assert meta.replication_strategy.dc_replication_factors == {"dc1": 3, "dc2": 3}
    assert [c.name for c in meta.tables["events"].partition_key] == ["tenant", "day"]
    ins = session.prepare(
        f"INSERT INTO {ks}.events (tenant, day, at, id, n, ok, score, ratio, body, ts, tag) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
    )
    ins.consistency_level = CL.LOCAL_QUORUM
    assert ins.routing_key_indexes == [0, 1]
    ats = [uuid.uuid1() for _ in range(5)]
    for i, at in enumerate(ats):
        session.execute(ins, ("acme", 7, at, uuid.uuid4(), i, i % 2 == 0, i * 1.5, 0.5, b"\x00" * i, 1700000000000 + i, "x"))
    sel = session.prepare(f"SELECT at, n, ok, body FROM {ks}.events WHERE tenant = ? AND day = ?")
    sel.consistency_level = CL.LOCAL_QUORUM
    rows = list(session.execute(sel, ("acme", 7)))
    assert [r.n for r in rows] == [4, 3, 2, 1, 0]  # DESC clustering on timeuuid
    assert rows[-1].body == b"" and rows[0].ok is True
    one = session.execute(f"SELECT n FROM {ks}.events WHERE tenant='acme' AND day=7 AND at=%s", (ats[2],)).one()
    assert one.n == 2
    assert len(list(session.execute(f"SELECT * FROM {ks}.events WHERE tenant='acme' AND day=7 LIMIT 2"))) == 2
    # the driver routed to a replica of the partition
    rs = session.execute(sel, ("acme", 7))
    key = ins.bind(("acme", 7, ats[0], None, None, None, None, None, None, None, None)).routing_key
    assert rs.response_future.coordinator_host in driver.metadata.get_replicas(ks, key)

    # last write wins by write timestamp, whatever the arrival order
    session.execute(f"CREATE TABLE {ks}.kv (k int PRIMARY KEY, v text)")
    session.execute(f"INSERT INTO {ks}.kv (k, v) VALUES (1, 'new') USING TIMESTAMP 2000")
    session.execute(f"INSERT INTO {ks}.kv (k, v) VALUES (1, 'old') USING TIMESTAMP 1000")
    assert session.execute(f"SELECT v FROM {ks}.kv WHERE k = 1").one().v == "new"
    session.execute(f"UPDATE {ks}.kv USING TIMESTAMP 3000 SET v = 'newer' WHERE k = 1")
    assert session.execute(f"SELECT v FROM {ks}.kv WHERE k = 1").one().v == "newer"
    session.execute(f"DELETE FROM {ks}.kv USING TIMESTAMP 2500 WHERE k = 1")  # older than the update: no effect
    assert session.execute(f"SELECT v FROM {ks}.kv WHERE k = 1").one().v == "newer"
    session.execute(f"DELETE FROM {ks}.kv WHERE k = 1")
    assert session.execute(f"SELECT v FROM {ks}.kv WHERE k = 1").one() is None

    # batches, logged and unlogged, prepared and not
    kv = session.prepare(f"INSERT INTO {ks}.kv (k, v) VALUES (?, ?)")
    b = BatchStatement(consistency_level=CL.LOCAL_QUORUM)
    for i in range(10, 15):
        b.add(kv, (i, f"b{i}"))
    b.add(SimpleStatement(f"INSERT INTO {ks}.kv (k, v) VALUES (15, 'b15')"))
    session.execute(b)
    session.execute(f"BEGIN UNLOGGED BATCH INSERT INTO {ks}.kv (k, v) VALUES (16, 'b16'); "
                    f"INSERT INTO {ks}.kv (k, v) VALUES (17, 'b17') APPLY BATCH")
    session.execute(SimpleStatement(f"INSERT INTO {ks}.kv (k, v) VALUES (17, 'b17')", consistency_level=CL.EACH_QUORUM))
    assert session.execute(SimpleStatement(f"SELECT v FROM {ks}.kv WHERE k = 17", consistency_level=CL.QUORUM)).one().v == "b17"
    got = {r.k: r.v for r in session.execute(f"SELECT * FROM {ks}.kv")}
    assert got == {i: f"b{i}" for i in range(10, 18)}
    scoped = scoped_session(ks)  # USE "<ks>" on every pooled connection
    assert scoped.execute("SELECT count(*) FROM kv").one().count == 8
    session.execute(f"DROP KEYSPACE {ks}")


@pytest.mark.parametrize(
    "replication",
    ["{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}", "{'class': 'SimpleStrategy', 'replication_factor': 2}",
     "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}"],
)
def test_driver_replicas_match_stored_data(session: Session, driver: Cluster, probe: Session, cql_lab: LocalCluster,
                                           replication: str) -> None:
    ks = _ks()
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = {replication}")
    session.execute(f"CREATE TABLE {ks}.t (id text, part int, v int, PRIMARY KEY ((id, part)))")
    ins = session.prepare(f"INSERT INTO {ks}.t (id, part, v) VALUES (?, ?, ?)")
    ins.consistency_level = CL.ALL  # every replica has acknowledged when this returns
    expected: dict[bytes, set[str]] = {}
    by_address = {cql_lab.config.node(n).address: n for n in cql_lab.names}
    for i in range(40):
        bound = ins.bind((f"key{i}", i % 3, i))
        rs = session.execute(bound)
        replicas = driver.metadata.get_replicas(ks, bound.routing_key)
        local = [h for h in replicas if h.datacenter == "dc1"]
        # token-aware routing: a local replica when there is one, else DC-aware round robin in dc1
        assert rs.response_future.coordinator_host in (local or [h for h in driver.metadata.all_hosts()
                                                                  if h.datacenter == "dc1"])
        expected[bound.routing_key] = {by_address[h.address] for h in replicas}
    stored: dict[bytes, set[str]] = {k: set() for k in expected}
    for node in cql_lab.names:
        rows = _on(probe, cql_lab, node,
                   "SELECT partition_key FROM system_views.local_partitions WHERE keyspace_name = %s AND table_name = 't'",
                   (ks,))
        for r in rows:
            stored.setdefault(r.partition_key, set()).add(node)
    assert stored == expected
    session.execute(f"DROP KEYSPACE {ks}")


def test_errors_do_not_break_the_connection(session: Session) -> None:
    ks = _ks()
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', 'dc1': 1}}")
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v text)")
    with pytest.raises(SyntaxException):
        session.execute("SELEKT * FROM nowhere")
    with pytest.raises(SyntaxException):
        session.execute(f"INSERT INTO {ks}.t (k, v) VALUES (1,")
    with pytest.raises(InvalidRequest, match="unconfigured table"):
        session.execute(f"SELECT * FROM {ks}.missing")
    with pytest.raises(InvalidRequest, match="not supported"):
        session.execute(f"CREATE INDEX ON {ks}.t (v)")
    with pytest.raises(InvalidRequest):
        session.execute(f"INSERT INTO {ks}.t (k, v) VALUES ('text-in-int', 'x')")
    with pytest.raises(InvalidRequest, match="ALLOW FILTERING"):
        session.execute(f"SELECT * FROM {ks}.t WHERE v = 'x'")
    with pytest.raises(AlreadyExists):
        session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY)")
    with pytest.raises(InvalidRequest, match="only supported for writes"):
        session.execute(SimpleStatement(f"SELECT * FROM {ks}.t WHERE k = 1", consistency_level=CL.EACH_QUORUM))
    session.execute(f"INSERT INTO {ks}.t (k, v) VALUES (1, 'still fine')")
    assert session.execute(f"SELECT v FROM {ks}.t WHERE k = 1").one().v == "still fine"
    session.execute(f"DROP KEYSPACE {ks}")


def _latency(probe: Session, lab: LocalCluster, node: str, ks: str, table: str = "t") -> object | None:
    rows = _on(probe, lab, node, "SELECT * FROM system_views.coordinator_write_latency WHERE keyspace_name = %s "
               "AND table_name = %s", (ks, table))
    return rows[0] if rows else None


def test_latency_tables_readable_and_resettable(session: Session, probe: Session, cql_lab: LocalCluster) -> None:
    ks = _ks()
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}}")
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v text)")
    ins = session.prepare(f"INSERT INTO {ks}.t (k, v) VALUES (?, ?)")
    ins.consistency_level = CL.LOCAL_QUORUM
    for i in range(60):
        session.execute(ins, (i, "x"))
    sel = session.prepare(f"SELECT v FROM {ks}.t WHERE k = ?")
    sel.consistency_level = CL.LOCAL_QUORUM
    for i in range(20):
        session.execute(sel, (i,))
    counts = 0
    for node in ("n1", "n2", "n3"):
        row = _latency(probe, cql_lab, node, ks)
        if row is not None:
            assert row.p50th_ms <= row.p99th_ms <= row.p999th_ms <= row.max_ms
            assert row.per_second > 0
            counts += row.count
    assert counts == 60
    reads = sum(r.count for n in ("n1", "n2", "n3") for r in _on(
        probe, cql_lab, n, "SELECT count FROM system_views.coordinator_read_latency WHERE keyspace_name = %s", (ks,)))
    assert reads == 20
    cols = [c for c in _on(probe, cql_lab, "n1", "SELECT column_name FROM system_virtual_schema.columns WHERE "
                           "keyspace_name = 'system_views' AND table_name = 'coordinator_write_latency'")]
    assert {"count", "p50th_ms", "p99th_ms", "max_ms", "per_second"} <= {c.column_name for c in cols}
    for node in ("n1", "n2", "n3"):
        _on(probe, cql_lab, node, "TRUNCATE system_views.coordinator_write_latency")
        assert _latency(probe, cql_lab, node, ks) is None
    session.execute(f"DROP KEYSPACE {ks}")


def test_write_delay_fault_shows_in_server_p99(session: Session, probe: Session, healthy: LocalCluster) -> None:
    lab = healthy
    ks = _ks()
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}}")
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v text)")
    ins = session.prepare(f"INSERT INTO {ks}.t (k, v) VALUES (?, ?)")
    ins.consistency_level = CL.LOCAL_QUORUM
    for i in range(30):  # baseline
        session.execute(ins, (i, "x"))
    base = [_latency(probe, lab, n, ks) for n in ("n1", "n2", "n3")]
    base_p50 = max(r.p50th_ms for r in base if r is not None)
    for name in lab.names:
        faults.set_fault(lab.config, name, write_delay_ms=3.0)
    for name in lab.names:
        faults.reset_latency(lab.config, name)
    for i in range(60):
        session.execute(ins, (i, "y"))
    rows = [r for r in (_latency(probe, lab, n, ks) for n in ("n1", "n2", "n3")) if r is not None]
    assert sum(r.count for r in rows) == 60
    for r in rows:
        assert r.p99th_ms >= 3.0 and r.p50th_ms >= 3.0, r
    assert base_p50 < min(r.p50th_ms for r in rows)


def test_timeouts_carry_cassandra_bodies(session: Session, healthy: LocalCluster) -> None:
    lab = healthy
    ks = _ks()
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}}")
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v text)")
    session.execute(f"INSERT INTO {ks}.t (k, v) VALUES (1, 'x')")
    for name in lab.names:  # replicas slower than the 1 s / 1.5 s server timeouts of this cluster
        faults.set_fault(lab.config, name, write_delay_ms=1300.0, read_delay_ms=1800.0)
    with pytest.raises(WriteTimeout) as wt:
        session.execute(SimpleStatement(f"INSERT INTO {ks}.t (k, v) VALUES (2, 'y')", consistency_level=CL.LOCAL_QUORUM))
    assert (wt.value.received_responses, wt.value.required_responses, wt.value.write_type) == (0, 2, WriteType.SIMPLE)
    with pytest.raises(ReadTimeout) as rt:
        session.execute(SimpleStatement(f"SELECT * FROM {ks}.t WHERE k = 1", consistency_level=CL.LOCAL_QUORUM))
    assert (rt.value.received_responses, rt.value.required_responses, rt.value.data_retrieved) == (0, 2, False)


def test_refuse_clients_fault(session: Session, driver: Cluster, healthy: LocalCluster) -> None:
    lab = healthy
    n2 = lab.config.node("n2")
    faults.set_fault(lab.config, "n2", refuse_clients=True)
    _eventually(lambda: not probe_native(n2.address, n2.native_port), 5, "n2 to stop listening")
    for _ in range(10):  # the driver routes around it
        assert session.execute(SimpleStatement("SELECT release_version FROM system.local",
                                               consistency_level=CL.LOCAL_ONE)).one() is not None
    faults.set_fault(lab.config, "n2", refuse_clients=False)
    _eventually(lambda: probe_native(n2.address, n2.native_port), 5, "n2 to listen again")
    _driver_sees_dc1_up(driver)  # the driver's reconnection policy brings it back


def test_node_down_quorum_hints_and_restart(session: Session, driver: Cluster, probe: Session, healthy: LocalCluster) -> None:
    lab = healthy
    _driver_sees_dc1_up(driver)
    ks = _ks()
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}}")
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v text)")
    ins = session.prepare(f"INSERT INTO {ks}.t (k, v) VALUES (?, ?)")
    ins.consistency_level = CL.ALL
    for i in range(50):  # acknowledged by every replica, n3 included
        session.execute(ins, (i, "before"))

    lab.kill("n3")  # SIGKILL: a crash
    lab.wait_peers(up=["n1", "n2", "n4", "n5", "n6"], down=["n3"])
    ins.consistency_level = CL.LOCAL_QUORUM
    for i in range(50, 100):
        session.execute(ins, (i, "during"))  # still works with 2 of 3 local replicas
    with pytest.raises(Unavailable) as exc:
        session.execute(SimpleStatement(f"INSERT INTO {ks}.t (k, v) VALUES (1, 'x')", consistency_level=CL.ALL))
    assert exc.value.required_replicas == 6 and exc.value.alive_replicas == 5
    with pytest.raises(Unavailable):
        session.execute(SimpleStatement(f"SELECT * FROM {ks}.t WHERE k = 1", consistency_level=CL.ALL))
    hints = sum(r.total_hints for n in ("n1", "n2") for r in _on(probe, lab, n, "SELECT * FROM system_views.pending_hints"))
    assert hints >= 50

    lab.start_node("n3")
    lab.wait_ready(["n3"], timeout=30)
    n3 = _host(driver, lab.config.node("n3").address)
    _eventually(lambda: n3.is_up is True, 20, "the driver to mark n3 up again")
    _eventually(lambda: not any(_on(probe, lab, n, "SELECT * FROM system_views.pending_hints") for n in lab.names
                                if n != "n3"), 20, "hints to be delivered")
    # n3 coordinates a CL ONE read and, being a replica, answers from its own storage
    local: dict[int, str | None] = {}
    sel = f"SELECT v FROM {ks}.t WHERE k = %s"
    for i in range(100):
        rows = _on(probe, lab, "n3", sel, (i,), CL.ONE)
        local[i] = rows[0].v if rows else None
    assert all(local[i] == "before" for i in range(50)), "acknowledged writes lost by the crash"
    assert all(local[i] == "during" for i in range(50, 100)), "hints not delivered"
    # and the driver uses n3 again
    session.execute(SimpleStatement(f"INSERT INTO {ks}.t (k, v) VALUES (1, 'x')", consistency_level=CL.ALL))


def test_read_repair_on_quorum_read(session: Session, probe: Session, healthy: LocalCluster) -> None:
    lab = healthy
    ks = _ks()
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}}")
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v text)")
    for name in lab.names:
        faults.set_fault(lab.config, name, disable_hints=True)
    lab.kill("n2")
    lab.wait_peers(up=["n1", "n3"], down=["n2"])
    session.execute(SimpleStatement(f"INSERT INTO {ks}.t (k, v) VALUES (7, 'fresh')", consistency_level=CL.LOCAL_QUORUM))
    lab.start_node("n2")
    lab.wait_ready(["n2"], timeout=30)
    lab.wait_peers(up=lab.names)
    q = f"SELECT v FROM {ks}.t WHERE k = 7"
    assert _on(probe, lab, "n2", q, cl=CL.ONE) == []  # n2 missed the write and got no hint
    assert _on(probe, lab, "n2", q, cl=CL.LOCAL_QUORUM)[0].v == "fresh"
    assert _on(probe, lab, "n2", q, cl=CL.ONE)[0].v == "fresh"  # repaired by the quorum read


def test_status_change_events_reach_the_driver(driver: Cluster, healthy: LocalCluster) -> None:
    """dc2 hosts have no pool (IGNORED), so only STATUS_CHANGE events can tell the driver about them."""
    lab = healthy
    n5 = _host(driver, lab.config.node("n5").address)
    lab.kill("n5")
    _eventually(lambda: n5.is_up is False, 15, "a DOWN event for n5")
    lab.start_node("n5")
    lab.wait_ready(["n5"], timeout=30)
    _eventually(lambda: n5.is_up is not False, 15, "an UP event for n5")
