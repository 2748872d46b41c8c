"""The Cassandra checks proven able to fail, and the lab's Cassandra behaving like one.

- dispersion: the lab deployed with CloudStack's FirstFit stacks replicas on one host → the check
  names the VMs and the host; deployed with the placement engine → it passes;
- node settings: swap on one node (and each other bad setting) → the check names that node;
- a node whose VM CloudStack's database has lost → the check names its address;
- latency: a 3 ms delay in the nodes' write path → the latency check fails;
- the real driver reconnects to a node whose VM was stopped and started, and no write is lost.
"""

from __future__ import annotations

import time
import uuid

import pytest
from selfcheck import LAB_TARGET

from cloudgate.lab import control, hostfaults
from cloudgate.lab.topology import build_topology
from cloudgate.target import load_target

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


def test_dispersion_fails_naming_vms_and_host_when_cloudstack_firstfit_placed_them(run_suite, lab):
    try:
        control.up(str(LAB_TARGET), placement="firstfit", quiet=True)
        lab["env"].update(_env())
        run = run_suite(DISPERSION, paths=())
    finally:
        control.up(str(LAB_TARGET), placement="cloudgate", quiet=True)  # the other self-tests expect this lab
        lab["env"].update(_env())
    failing = run.failed()
    assert SHARED in failing and QUORUM in failing and RACKS in failing, sorted(failing)
    assert "holds 3 replicas" in failing[RACKS] and "(dc1, 3 racks)" in failing[RACKS], failing[RACKS]
    message = failing[SHARED]
    assert "host dc1-r1-h1 holds replicas cass-dc1-1+cass-dc1-2+cass-dc1-3" in message, message
    assert "losing host dc1-r1-h1 leaves dc1 0/3 replicas" in failing[QUORUM]


def _env() -> dict[str, str]:
    exports = control.env_exports(str(LAB_TARGET))
    return dict(line.removeprefix("export ").split("=", 1) for line in exports.splitlines() if line)


@pytest.mark.parametrize(
    ("fault", "check", "cause"),
    [
        ("swap-on", "test_cassandra_node_has_swap_off", "swap is on"),
        ("max-map-count-low", "test_cassandra_node_vm_max_map_count", "vm.max_map_count is 65530"),
        ("thp-enabled", "test_cassandra_node_transparent_huge_pages_are_off", "transparent huge pages"),
        ("nofile-low", "test_cassandra_node_open_files_and_memlock_limits", "nofile 4096"),
        ("ntp-unsync", "test_cassandra_node_clock_is_synchronised", "clock not synchronised"),
        ("data-dir-off-flash", "test_cassandra_data_directory_is_on_the_fast_device",
         "/var/lib/cassandra is on /dev/xvda1, not on /dev/fioa"),
    ],
)
def test_a_bad_setting_on_one_cassandra_node_fails_its_check_naming_that_node(run_suite, fault, check, cause):
    topology = build_topology(load_target(LAB_TARGET).target)
    hostfaults.apply_fault(topology, "cass-dc1-2", fault)
    try:
        run = run_suite(NODES, paths=())
    finally:
        hostfaults.clear_fault(topology, "cass-dc1-2", fault)
    failing = run.failed()
    assert list(failing) == [f"{check}[cass-dc1-2]"], sorted(failing)
    message = failing[f"{check}[cass-dc1-2]"]
    assert "Cassandra node cass-dc1-2 (198.18.1.202" in message and cause in message, message


def test_a_3ms_write_path_delay_fails_the_latency_check(run_suite, tmp_path):
    control.cloud_fault("cql-write-delay", {"ms": "3"})
    try:
        run = run_suite(LATENCY, "--allow-destructive", paths=())
    finally:
        control.cloud_fault("cql-write-delay", {}, clear=True)
    name = "test_cassandra_coordinator_write_p99_is_under_the_promise"
    assert run.outcome(name) == "failed", run.cases
    assert "coordinator write p99" in run.message(name) and "> 1 ms" in run.message(name)


def test_the_driver_reconnects_to_a_restarted_node_and_no_acknowledged_write_is_lost(lab):
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    from cloudgate.cassandra import session

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
        cassandra={"contact_points": {"paris": ["198.18.1.201"], "dc2": ["198.18.2.201"]}, "local_dc": "paris"},
    )
    run = run_suite(DISPERSION, paths=(), target=target)
    message = run.message(SHARED)
    assert "cassandra.local_dc 'paris' is not a datacenter of the cluster (it has ['dc1', 'dc2'])" in message, message


def test_a_probe_keyspace_without_network_topology_strategy_gives_one_line(run_suite):
    from cloudgate.cassandra import session

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


def test_a_datacenter_with_fewer_nodes_than_its_replication_factor_fails_naming_it(run_suite):
    from cloudgate.cassandra import session

    target = load_target(LAB_TARGET).target
    with session(target, writes=True) as (_, sess):
        sess.execute("CREATE KEYSPACE cloudgate_probe WITH replication = "
                     "{'class': 'NetworkTopologyStrategy', 'dc1': 4, 'dc2': 3}")
    try:
        run = run_suite(DISPERSION, paths=())
    finally:
        with session(target, writes=True) as (_, sess):
            sess.execute("DROP KEYSPACE IF EXISTS cloudgate_probe")
    message = run.message("test_each_datacenter_holds_its_replication_factor")
    assert run.outcome("test_each_datacenter_holds_its_replication_factor") == "failed"
    assert "dc1 has 3 of 4 replicas" in message, message


def test_a_cassandra_node_whose_vm_cloudstack_has_lost_fails_naming_its_address(run_suite):
    control.cloud_fault("vm-orphaned", {"vm": "cass-dc1-3"})
    try:
        run = run_suite(DISPERSION, paths=())
    finally:
        control.cloud_fault("vm-orphaned", {"vm": "cass-dc1-3"}, clear=True)
    check = "test_every_cassandra_node_runs_on_a_vm_known_to_cloudstack"
    assert run.outcome(check) == "failed", run.failed()
    message = run.message(check)
    assert "Cassandra node(s) ['198.18.1.203'] match no VM NIC in CloudStack" in message, message
