"""Hinted handoff across a silent dc1|dc2 partition, on and off (the emulator cluster on loopback, no lab).

The partition is the ``unreachable`` fault: every dc1 node drops its internode traffic with dc2 and
the other way round, silently (nothing closed, requests and heartbeats time out), as an iptables
DROP between the datacenters does. The suite's writer is in dc1 and writes at LOCAL_QUORUM, so it
keeps getting acks; the question is what dc2's replicas hold once the partition heals:
- hints on (Cassandra's default): every acknowledged write reaches dc2 through hint replay;
- ``hints_off`` (hinted_handoff_enabled: false): dc2 never gets them, so the writes are lost
  there — the lab self-test's "lost acknowledged writes" the consistency checker must report.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from cassandra import ConsistencyLevel
from cassandra.cluster import NoHostAvailable, Session
from cassandra.query import SimpleStatement

from cloudgate_lab.cql import faults
from cloudgate_lab.cql.cluster import LocalCluster

CL = ConsistencyLevel
DC1, DC2 = ["n1", "n2", "n3"], ["n4", "n5", "n6"]
PARTITIONS = 8  # partition keys; ROWS clustering rows each, split before/during the partition
ROWS = 10


def _eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _on(probe: Session, lab: LocalCluster, node: str, query: str, params: tuple = (), cl: int = CL.ONE) -> list:
    """Run a statement with ``node`` as coordinator (CL ONE on a replica reads the node's own data)."""
    host = next(h for h in probe.cluster.metadata.all_hosts() if h.address == lab.config.node(node).address)
    deadline = time.monotonic() + 20
    while True:
        try:
            return list(probe.execute(SimpleStatement(query, consistency_level=cl), params, host=host))
        except NoHostAvailable:  # the probe's pool to that node is still reconnecting
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _partition(lab: LocalCluster, cut: bool) -> None:
    for name in DC1:
        faults.set_fault(lab.config, name, unreachable=["dc2"] if cut else [])
    for name in DC2:
        faults.set_fault(lab.config, name, unreachable=["dc1"] if cut else [])


def _pending_hints(probe: Session, lab: LocalCluster, nodes: list[str]) -> int:
    return sum(r.total_hints for n in nodes for r in _on(probe, lab, n, "SELECT total_hints FROM system_views.pending_hints"))


def _rows_on(probe: Session, lab: LocalCluster, node: str, ks: str) -> set[tuple[int, int]]:
    """(p, c) of every row `node` itself stores (CL ONE with the node as coordinator and replica)."""
    got = set()
    for p in range(PARTITIONS):
        got |= {(p, r.c) for r in _on(probe, lab, node, f"SELECT c FROM {ks}.t WHERE p = %s", (p,))}
    return got


def _write_across_a_partition(session: Session, lab: LocalCluster, ks: str) -> tuple[set, set]:
    """Rows written at ALL before the partition, and rows acknowledged at LOCAL_QUORUM in dc1 during it
    (half before dc1 notices dc2 is gone: their remote copies are lost in flight; half after)."""
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}}")
    session.execute(f"CREATE TABLE {ks}.t (p int, c int, v text, PRIMARY KEY (p, c))")
    ins = session.prepare(f"INSERT INTO {ks}.t (p, c, v) VALUES (?, ?, ?)")
    before, during = set(), set()
    ins.consistency_level = CL.ALL
    for p in range(PARTITIONS):
        session.execute(ins, (p, 0, "before"))
        before.add((p, 0))
    _partition(lab, cut=True)
    ins.consistency_level = CL.LOCAL_QUORUM
    half = ROWS // 2
    for p in range(PARTITIONS):
        for c in range(1, half):
            session.execute(ins, (p, c, "during"))  # acknowledged by dc1 alone
            during.add((p, c))
    lab.wait_peers(up=DC1, down=DC2, observers=DC1, timeout=10)
    for p in range(PARTITIONS):
        for c in range(half, ROWS):
            session.execute(ins, (p, c, "during"))
            during.add((p, c))
    return before, during


def _heal(lab: LocalCluster) -> None:
    _partition(lab, cut=False)
    lab.wait_peers(up=lab.names, timeout=15)


def test_acknowledged_writes_reach_dc2_after_the_partition_heals(session: Session, probe: Session,
                                                                 healthy: LocalCluster) -> None:
    lab = healthy
    ks = "cg_" + uuid.uuid4().hex[:10]
    before, during = _write_across_a_partition(session, lab, ks)
    # in-flight remote copies are hinted when their FORWARD times out (2 x write timeout = 2 s here)
    _eventually(lambda: _pending_hints(probe, lab, DC1) >= len(during) * 3, 10, "hints for every dc2 replica")
    assert all(_rows_on(probe, lab, n, ks) == before for n in DC2), "dc2 saw writes across the partition"
    _heal(lab)
    _eventually(lambda: _pending_hints(probe, lab, DC1) == 0, 15, "hints to be replayed to dc2")
    for node in DC2:
        missing = (before | during) - _rows_on(probe, lab, node, ks)
        assert not missing, f"{node} lacks {len(missing)} acknowledged writes after the heal"
    session.execute(f"DROP KEYSPACE {ks}")


def test_with_hints_off_dc2_never_gets_the_writes_it_missed(session: Session, probe: Session,
                                                           healthy: LocalCluster) -> None:
    lab = healthy
    for name in lab.names:
        faults.set_fault(lab.config, name, hints_off=True)
    ks = "cg_" + uuid.uuid4().hex[:10]
    before, during = _write_across_a_partition(session, lab, ks)
    time.sleep(2.5)  # past the FORWARD timeout: with hints on, the in-flight copies would be hinted by now
    assert _pending_hints(probe, lab, DC1) == 0
    _heal(lab)
    time.sleep(1.5)  # three hint-dispatch rounds: nothing to replay
    for node in DC2:
        assert _rows_on(probe, lab, node, ks) == before, f"{node} got writes without hints"
    for node in DC1:  # ... while dc1 acknowledged and holds them all
        assert _rows_on(probe, lab, node, ks) == before | during
    session.execute(f"DROP KEYSPACE {ks}")
