"""The estate snapshot against the lab: read once per run, and the data plane checked while the
CloudStack management server is stopped (the operators' own incident)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from selfcheck import derived_target

from cloudgate_lab import control, paths
from cloudgate_lab.topology import LabTopology

API_LOG = "api.log"
UNREACHABLE = "CloudStack API unreachable at http://127.0.0.1:8080/client/api"


def _list_hosts_calls() -> int:
    log = paths.cloudstack_dir() / API_LOG
    return sum(1 for line in log.read_text().splitlines() if " command=listHosts " in line) if log.exists() else 0


@contextlib.contextmanager
def management_server_stopped() -> Iterator[None]:
    topology = LabTopology.load(paths.topology_file())
    control.stop_simulator()
    try:
        yield
    finally:
        control.start_simulator(topology)
        control.wait_api(topology)


def test_a_run_reads_the_estate_once_shares_it_across_workers_and_writes_it_to_the_reports(run_suite):
    before = _list_hosts_calls()
    run = run_suite("--profile=smoke", "-n", "2")
    assert run.returncode == 0, run.stdout[-3000:]
    assert _list_hosts_calls() - before == 1, "listHosts is called once per run, whatever the number of workers"
    estate = json.loads((run.reports / "estate.json").read_text())
    assert estate["cloudstack"]["live"] and len(estate["hosts"]) == 18 and len(estate["cassandra"]["nodes"]) == 6
    assert run.summary["estate"]["cloudstack"]["live"] is True
    assert "estate: 18 hosts and" in run.stdout and "read live" in run.stdout


def test_with_the_management_server_stopped_smoke_checks_every_host_and_node_and_fails_only_cloudstack_checks(run_suite):
    first = run_suite("--profile=smoke")  # a healthy run leaves the last good snapshot
    assert first.returncode == 0, first.stdout[-3000:]
    with management_server_stopped():
        run = run_suite("--profile=smoke")
    failing = run.failed()
    cloudstack_checks = {n for n in run.cases if n.startswith(("test_cloudstack_", "test_every_management",
                                                               "test_zones_", "test_every_hypervisor", "test_system_vms",
                                                               "test_allocated_capacity"))}
    assert set(failing) == cloudstack_checks and len(cloudstack_checks) == 6, sorted(failing)
    assert all(UNREACHABLE in m for m in failing.values()), failing
    hypervisor_checks = [n for n in run.cases if n.startswith("test_fusionio_card_is_healthy[")]
    node_checks = [n for n in run.cases if n.startswith("test_cassandra_node_has_swap_off[")]
    assert len(hypervisor_checks) == 18 and len(node_checks) == 6
    assert all(run.outcome(n) == "passed" for n in hypervisor_checks + node_checks)
    provenance = run.summary["estate"]["cloudstack"]
    assert provenance["live"] is False and provenance["snapshot_file"].endswith("estate/lab.json")
    assert "from the last good snapshot" in run.stdout and "old), because" in run.stdout


def test_a_target_without_cassandra_reports_every_cassandra_check_not_applicable(run_suite, tmp_path):
    target = derived_target(tmp_path, "no-cassandra.yaml", cassandra=None)
    run = run_suite("--allow-destructive", target=target,
                    paths=("tests/infra/test_cassandra_dispersion.py", "tests/infra/test_cassandra_nodes.py",
                           "tests/infra/test_cassandra_latency.py"))
    counts = run.summary["counts"]
    assert counts["error"] == 0 and counts["failed"] == 0, run.failed()
    assert counts["not_applicable"] == len(run.cases) >= 5 + 6 + 1, run.cases
    assert all("has no cassandra section" in m for _, m in run.cases.values())
