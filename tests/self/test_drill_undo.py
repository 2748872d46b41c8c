"""A drill killed with kill -9 in the middle of its fault leaves nothing the janitor cannot restore.

The drill writes each heal to the run ledger before it injects the fault. Here the fault is held
long enough to kill the whole pytest process group while it lasts; then `cloudgate janitor`
(another process, reading the dead run's ledger) heals it, and the smoke profile passes on a lab
with nothing left over: no iptables rule on any Cassandra node, no drill keyspace, the management
server answering, every Cassandra node answering CQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from selfcheck import LAB_TARGET, REPO, WITHOUT_HYPOTHESIS, derived_target

from cloudgate.cassandra.cqlprobe import answers_cql
from cloudgate.ledger import ledgers_under, pending, read
from cloudgate.target import load_target

LONG_FAULT = {"load_seconds": 120, "fault_at_seconds": 2, "heal_at_seconds": 110, "convergence_seconds": 30}
DRILLS = {
    "partition": ("test_a_partition_between_datacenters", "iptables_rule", 3),
    "management-server": ("test_a_management_server_outage", "management_server_stopped", 1),
    "service-stop": ("test_stopping_the_cassandra_service", "service_stopped", 1),
}
SERVICE_STOP_VICTIM = "198.18.2.201"  # the first Cassandra node of the last datacenter


def _created(reports: Path, kind: str) -> int:
    entries = [e for path in ledgers_under(reports) for e in read(path)]
    return sum(1 for e in entries if e.kind == kind and e.id is not None)


def _drill_rules(address: str) -> str:
    from cloudgate.ssh.hosts import HostPool, SshSettings

    pool = HostPool(SshSettings.from_target(load_target(LAB_TARGET).target))
    try:
        return pool.get(address).run("iptables -w 5 -S").stdout
    finally:
        pool.close()


def _drill_keyspaces() -> list[str]:
    from cloudgate.cassandra.session import session

    with session(load_target(LAB_TARGET).target) as (cluster, _sess):
        return [k for k in cluster.metadata.keyspaces if k.startswith("cloudgate_drill")]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background job starts its children with SIGINT ignored


def _drill_in_its_fault(lab: dict, tmp_path: Path, reports: Path, drill: str) -> tuple[subprocess.Popen, Path]:
    """Start one drill (its fault held 108 s) and return once its fault is in place."""
    function, kind, count = DRILLS[drill]
    target = derived_target(tmp_path, drills=LONG_FAULT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "tests/infra/test_failover_drills.py", "-k", function, f"--target={target}",
         "--allow-destructive", f"--reports-dir={reports}", "-p", "no:cacheprovider", *WITHOUT_HYPOTHESIS, "-q"],
        cwd=REPO, env={**os.environ, **lab["env"]}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, preexec_fn=_default_sigint)
    deadline = time.monotonic() + 90
    while _created(reports, kind) < count and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    if _created(reports, kind) != count:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"the {drill} fault was never injected (exit {proc.poll()})")
    time.sleep(2)  # well inside the fault
    return proc, target


def test_ctrl_c_in_the_middle_of_a_partition_heals_it_before_the_run_ends(lab, tmp_path):
    reports = tmp_path / "interrupted"
    proc, _ = _drill_in_its_fault(lab, tmp_path, reports, "partition")
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does
    proc.wait(timeout=120)
    left = [e.describe() for path in ledgers_under(reports) for e in pending(read(path))]
    assert not left, f"Ctrl-C left {left} pending"
    for address in ("198.18.1.201", "198.18.1.202", "198.18.1.203"):
        assert "cloudgate-drill-" not in _drill_rules(address), f"a drill rule is left on {address}"
    assert _drill_keyspaces() == []


@pytest.mark.parametrize("drill", sorted(DRILLS))
def test_a_drill_killed_mid_fault_is_healed_by_the_janitor_and_the_smoke_profile_then_passes(
        lab, run_suite, tmp_path, drill):
    _function, kind, _count = DRILLS[drill]
    reports = tmp_path / "killed"
    env = {**os.environ, **lab["env"]}
    proc, target = _drill_in_its_fault(lab, tmp_path, reports, drill)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    left = [e for path in ledgers_under(reports) for e in pending(read(path))]
    assert any(e.kind == kind for e in left), "kill -9 left nothing pending: the test proves nothing"
    if drill == "partition":
        assert "cloudgate-drill-" in _drill_rules("198.18.1.201"), "the partition was not in place when killed"
    if drill == "service-stop":
        assert not answers_cql(SERVICE_STOP_VICTIM), "the Cassandra service was not stopped when killed"

    janitor = subprocess.run(
        [sys.executable, "-m", "cloudgate.cli", "janitor", "--target", str(target), "--reports-dir", str(reports)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert janitor.returncode == 0, janitor.stdout + janitor.stderr
    left = [e for path in ledgers_under(reports) for e in pending(read(path))]
    assert not left, f"the janitor left {[e.describe() for e in left]}: {janitor.stdout}"

    for address in ("198.18.1.201", "198.18.1.202", "198.18.1.203"):
        assert "cloudgate-drill-" not in _drill_rules(address), f"a drill rule is left on {address}"
    assert _drill_keyspaces() == []
    from cloudgate_lab import control

    assert control.lab_client().listZones().get("zone"), "the management server does not answer after the janitor"
    assert answers_cql(SERVICE_STOP_VICTIM), "the stopped Cassandra service is not back after the janitor"
    if drill != "partition":
        return  # the smoke profile once is enough (it takes 15 s): the API answering is checked above
    smoke = run_suite("--profile=smoke")
    assert smoke.returncode == 0, f"smoke profile after the janitor: {sorted(smoke.failed())}"
