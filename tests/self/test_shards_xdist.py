"""Under pytest-xdist: one host's checks on one worker, and a lost worker's checks reported not run."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

HOST_SUITE = """
import os, pytest

HOSTS = [f"dc1-r{r}-h{h}" for r in range(1, 4) for h in range(1, 5)]

def _note(check, host):
    with open(os.environ["CG_WHERE"], "a") as f:
        f.write(f"{check} {host} {os.environ['PYTEST_XDIST_WORKER']}\\n")

@pytest.mark.parametrize("host", HOSTS)
def test_kernel(host):
    _note("kernel", host)

@pytest.mark.parametrize("host", HOSTS)
def test_fio(host):
    if host == os.environ.get("CG_CRASH_ON"):
        os._exit(1)  # the worker dies here: a runner lost mid-run
    _note("fio", host)

@pytest.mark.parametrize("host", HOSTS)
def test_clock(host):
    _note("clock", host)
"""


def run(pytester, make_target, tmp_path, monkeypatch, *args: str) -> tuple[dict, dict[str, set[str]]]:
    where = tmp_path / "where.txt"
    monkeypatch.setenv("CG_WHERE", str(where))
    pytester.makepyfile(test_hosts=HOST_SUITE)
    target = make_target(pytester.path / "pp.yaml", environment="preproduction")
    reports = pytester.path / "reports"
    pytester.runpytest_subprocess(f"--target={target}", f"--reports-dir={reports}", "-p", "no:cacheprovider",
                                  "-p", "no:randomly", *args)
    summary = json.loads((reports / "latest" / "summary.json").read_text())
    workers: dict[str, set[str]] = defaultdict(set)
    for line in where.read_text().splitlines() if where.exists() else []:
        _check, host, worker = line.split()
        workers[host].add(worker)
    return summary, workers


@pytest.mark.usefixtures("secrets_set")
def test_every_check_of_one_host_runs_on_one_worker_and_hosts_spread_over_all_workers(
        pytester, make_target, tmp_path, monkeypatch):
    summary, workers = run(pytester, make_target, tmp_path, monkeypatch, "-n", "3")
    assert summary["counts"]["passed"] == 36
    assert all(len(w) == 1 for w in workers.values()), workers
    per_worker = defaultdict(int)
    for (w,) in workers.values():
        per_worker[w] += 1
    assert sorted(per_worker.values()) == [4, 4, 4]


@pytest.mark.usefixtures("secrets_set")
def test_the_checks_a_lost_worker_never_started_are_not_run_never_passed(pytester, make_target, tmp_path, monkeypatch):
    monkeypatch.setenv("CG_CRASH_ON", "dc1-r1-h1")
    summary, workers = run(pytester, make_target, tmp_path, monkeypatch, "-n", "3", "--max-worker-restart=0")
    outcomes = summary["outcomes"]
    crashed = "test_hosts.py::test_fio[dc1-r1-h1]"
    assert outcomes[crashed] in ("failed", "error")  # xdist reports the crash outside any phase
    lost = {nodeid for nodeid, reason in summary["not_run"].items() if "went down before this check ran" in reason}
    # the dead worker's share: its 4 hosts' fio checks after the crash and all their clock checks
    assert len(lost) == 3 + 4, summary["not_run"]
    assert all(outcomes[n] == "not_run" for n in lost)
    assert not any(n in lost for n, o in outcomes.items() if o == "passed")
    assert summary["exitstatus"] != 0


@pytest.mark.usefixtures("secrets_set")
def test_the_share_of_a_runner_that_could_not_be_reached_is_reported_not_run_with_the_reason(
        pytester, make_target, tmp_path, monkeypatch):
    summary, _ = run(pytester, make_target, tmp_path, monkeypatch, "-n", "2", "--absent-shares", "1",
                     "--absent-reason", "runner r3 (198.18.1.243) could not be reached: no TCP answer within 3 s")
    counts = summary["counts"]
    assert (counts["passed"], counts["not_run"]) == (24, 12)
    assert set(summary["not_run"].values()) == {
        "not run: runner r3 (198.18.1.243) could not be reached: no TCP answer within 3 s"}


DIES_COLLECTING = """
import os

def pytest_collection_modifyitems(config, items):
    if os.environ.get("PYTEST_XDIST_WORKER") == os.environ.get("CG_DIE_COLLECTING"):
        os._exit(1)  # the worker dies before it has sent its collection
"""


@pytest.mark.usefixtures("secrets_set")
@pytest.mark.parametrize("restarts", ["0", "2"])
def test_a_worker_lost_before_it_collected_leaves_its_share_not_run_never_passed(
        pytester, make_target, tmp_path, monkeypatch, restarts):
    monkeypatch.setenv("CG_DIE_COLLECTING", "gw1")
    pytester.makeconftest(DIES_COLLECTING)
    summary, _ = run(pytester, make_target, tmp_path, monkeypatch, "-n", "3", f"--max-worker-restart={restarts}")
    counts = summary["counts"]
    assert summary["exitstatus"] != 0, "a run that lost a worker's share is never green"
    if restarts == "0" and counts["passed"] == 0:
        # gw1 died before the others sent their collections: with restarts disabled xdist shuts the run
        # down and ignores them, so nothing ran at all, and the run fails saying so ("no tests ran")
        assert not any(o == "passed" for o in summary["outcomes"].values())
        return
    assert counts["passed"] + counts["not_run"] == 36, counts
    assert counts["not_run"] == 12, summary["not_run"]
    assert {r for r in summary["not_run"].values()} == {
        "not run: worker gw1 (local) went down before it collected: its share of the checks was not run"}
