"""Fixtures: one 6-node, 2-DC emulated cluster on 127.0.0.11-16 for the whole session.

dc1 = n1..n3 on rack1..rack3, dc2 = n4..n6 on rack1..rack3. The first address can be moved
with CLOUDGATE_CQL_TEST_BASE (e.g. 127.0.1.11) when another run holds these ports. Every
process and the temp dir are removed by finalizers, also when a test fails.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import time
from collections.abc import Callable, Iterator

import pytest
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

from cloudgate_lab.cql import faults
from cloudgate_lab.cql.cluster import LocalCluster, NodeSpec, write_cluster_file

SCOPED_SESSION_WAIT_S = 30.0


def _addresses(n: int) -> list[str]:
    base = ipaddress.ip_address(os.environ.get("CLOUDGATE_CQL_TEST_BASE", "127.0.0.11"))
    return [str(base + i) for i in range(n)]


@pytest.fixture(scope="session")
def cql_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    base = tmp_path_factory.mktemp("cqllab")
    addrs = _addresses(6)
    nodes = [
        NodeSpec(f"n{i + 1}", addrs[i], "dc1" if i < 3 else "dc2", f"rack{i % 3 + 1}") for i in range(6)
    ]
    # short server-side timeouts keep the WriteTimeout/ReadTimeout tests quick
    cfg = write_cluster_file(str(base / "cluster.json"), nodes, seed="cloudgate-tests",
                             write_request_timeout_ms=1000, read_request_timeout_ms=1500)
    lab = LocalCluster(cfg)
    try:
        lab.start()
        lab.wait_ready(timeout=30)
        yield lab
    finally:
        lab.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def healthy(cql_lab: LocalCluster) -> Iterator[LocalCluster]:
    """A test that injects faults or kills nodes gets the cluster back whole afterwards."""
    yield cql_lab
    for name in cql_lab.names:
        if not cql_lab.is_running(name):
            cql_lab.start_node(name)
    cql_lab.wait_ready(timeout=30)
    for name in cql_lab.names:
        faults.clear_faults(cql_lab.config, name)


def _profile(**kw: object) -> ExecutionProfile:
    return ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc="dc1", **kw)),  # type: ignore[arg-type]
        request_timeout=20,
    )


@pytest.fixture(scope="session")
def driver(cql_lab: LocalCluster) -> Iterator[Cluster]:
    """The suite's way to connect: default settings, token-aware + DC-aware (local dc1)."""
    cluster = Cluster([cql_lab.config.node("n1").address], execution_profiles={EXEC_PROFILE_DEFAULT: _profile()})
    try:
        yield cluster
    finally:
        cluster.shutdown()


@pytest.fixture(scope="session")
def session(driver: Cluster) -> Session:
    return driver.connect()


@pytest.fixture
def scoped_session(driver: Cluster) -> Iterator[Callable[[str], Session]]:
    """A new session of the shared driver with `USE <keyspace>`, once the driver can reach a node.

    A test before may have stopped nodes: `healthy` waits until they answer and see each other, but
    the shared driver marks them up again only when its own reconnection attempt succeeds (its
    backoff grows to seconds under load), and a new session meanwhile fails with NoHostAvailable
    "marked down". Bounded: 30 s, then the driver's own error."""
    opened: list[Session] = []

    def connect(keyspace: str) -> Session:
        deadline = time.monotonic() + SCOPED_SESSION_WAIT_S
        while True:
            try:
                opened.append(driver.connect(keyspace))
                return opened[-1]
            except NoHostAvailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    yield connect
    for sess in opened:
        sess.shutdown()


@pytest.fixture(scope="session")
def probe(cql_lab: LocalCluster) -> Iterator[Session]:
    """A second client with pools to every node (remote DC too), to query one node with ``host=``."""
    cluster = Cluster(
        [cql_lab.config.node("n1").address], protocol_version=4,
        execution_profiles={EXEC_PROFILE_DEFAULT: _profile(used_hosts_per_remote_dc=3)},
    )
    try:
        yield cluster.connect()
    finally:
        cluster.shutdown()
