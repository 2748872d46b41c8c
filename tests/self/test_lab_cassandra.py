"""The Cassandra checks on the healthy lab, their one-line errors, and the lab's Cassandra behaving like one.

(Each Cassandra check's lab fault — FirstFit placement, swap on a node, a slow write path... — is
in the proofs table, tests/self/proofs.py, run by test_lab_faults.py.)
- dispersion: deployed with the placement engine → it passes;
- bad contact points, a wrong local DC, a probe keyspace without NTS → one line naming the cause;
- the real driver reconnects to a node whose VM was stopped and started, and no write is lost.
"""

from __future__ import annotations

import time
import uuid

from selfcheck import LAB_TARGET

from cloudgate.target import load_target
from cloudgate_lab import control

DISPERSION = "tests/infra/test_cassandra_dispersion.py"
NODES = "tests/infra/test_cassandra_nodes.py"
LATENCY = "tests/infra/test_cassandra_latency.py"
SHARED = "test_no_two_replicas_of_a_token_range_share_a_physical_host"
QUORUM = "test_losing_any_single_physical_host_keeps_every_range_at_local_quorum"
RACKS = "test_replicas_of_a_range_sit_on_distinct_racks_where_a_dc_has_enough_racks"


def test_dispersion_passes_when_the_placement_engine_placed_the_cassandra_vms(run_suite):
    run = run_suite(DISPERSION, paths=())
    assert run.returncode == 0 and not run.failed(), run.failed()
    assert len(run.cases) == 5


def test_the_driver_reconnects_to_a_restarted_node_and_no_acknowledged_write_is_lost(lab):
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    from cloudgate.cassandra.session import session

    target = load_target(LAB_TARGET).target
    client = control.lab_client()
    vm = client.listVirtualMachines(name="cass-dc1-2")["virtualmachine"][0]
    keys = [uuid.uuid4() for _ in range(200)]
    with session(target, writes=True) as (cluster, sess):
        sess.execute("CREATE KEYSPACE IF NOT EXISTS selftest_restart WITH replication = "
                     "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}")
        sess.execute("CREATE TABLE IF NOT EXISTS selftest_restart.t (k uuid PRIMARY KEY, v int)")
        insert = sess.prepare("INSERT INTO selftest_restart.t (k, v) VALUES (?, ?)")
        for i, key in enumerate(keys[:100]):
            sess.execute(insert, (key, i))
        client.stopVirtualMachine(id=vm["id"], fetch_result=True)
        for i, key in enumerate(keys[100:], start=100):  # LOCAL_QUORUM still reachable with one node down
            sess.execute(insert, (key, i))
        client.startVirtualMachine(id=vm["id"], fetch_result=True)
        node = next(h for h in cluster.metadata.all_hosts() if h.address == "198.18.1.202")
        deadline = time.monotonic() + 30
        while not node.is_up and time.monotonic() < deadline:
            time.sleep(0.2)
        assert node.is_up, "the driver did not see cass-dc1-2 come back within 30 s"
        select = SimpleStatement("SELECT k FROM selftest_restart.t WHERE k = %s", consistency_level=ConsistencyLevel.ALL)
        missing = [k for k in keys if not list(sess.execute(select, (k,)))]
        sess.execute("DROP KEYSPACE selftest_restart")
    assert not missing, f"{len(missing)} acknowledged writes lost across the restart"


def test_unreachable_contact_points_give_one_line_naming_them(run_suite, tmp_path):
    from selfcheck import derived_target

    target = derived_target(tmp_path, cassandra={"port": 9})
    run = run_suite(DISPERSION, paths=(), target=target)
    message = run.message(SHARED)
    assert "no Cassandra contact point answered" in message and "198.18.1.201:9" in message, message
    assert "Connection refused" in message and message.count("\n") == 0, message


def test_a_wrong_local_dc_name_gives_one_line(run_suite, tmp_path):
    from selfcheck import derived_target

    target = derived_target(
        tmp_path,
        datacenters=[{"name": "paris", "zone": "lab-dc1"}, {"name": "dc2", "zone": "lab-dc2"}],
        # no clients list: the lab's name dc1, which this target does not have
        cassandra={"contact_points": {"paris": ["198.18.1.201"], "dc2": ["198.18.2.201"]}, "local_dc": "paris",
                   "clients": []},
        frontends=None,  # its front doors are named by the lab's dc1, which this target does not have
    )
    run = run_suite(DISPERSION, paths=(), target=target)
    message = run.message(SHARED)
    assert "cassandra.local_dc 'paris' is not a datacenter of the cluster (it has ['dc1', 'dc2'])" in message, message


def test_a_probe_keyspace_without_network_topology_strategy_gives_one_line(run_suite):
    from cloudgate.cassandra.session import session

    target = load_target(LAB_TARGET).target
    with session(target, writes=True) as (_, sess):
        sess.execute("CREATE KEYSPACE cloudgate_probe WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}")
    try:
        run = run_suite(DISPERSION, paths=())
    finally:
        with session(target, writes=True) as (_, sess):
            sess.execute("DROP KEYSPACE IF EXISTS cloudgate_probe")
    message = run.message(SHARED)
    assert "keyspace cloudgate_probe uses SimpleStrategy, not NetworkTopologyStrategy" in message, message
