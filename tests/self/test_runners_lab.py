"""`cloudgate run --runners` on the lab's three runner namespaces (`cloudgate lab runners up`).

Proves the mechanics of a run spread over runner machines with pytest-xdist's ssh workers: the
same check ids and outcomes as a local run of the same selection, one report directory on the
controller; a runner lost mid-run leaves the checks it had not started *not run*, never passed; a
runner that cannot be reached at start is one line on stderr and its share is reported not run
while the others run theirs. The runs are real: `python -m cloudgate.cli run` subprocesses whose
workers are reached over SSH in the runner namespaces (cg-runner-1..3, 198.18.1.251-253).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from selfcheck import REPO, parse_junit

from cloudgate.shards import assign, group_of
from cloudgate.target import load_target
from cloudgate_lab import hostfaults, runners
from cloudgate_lab.topology import build_topology

SELECTION = ("tests/infra/test_hypervisors.py", "tests/infra/test_cassandra_nodes.py")
WORKERS = 6  # 3 runners x 2 workers (the runners file `lab runners up` writes)
VICTIM_RUNNER = 2  # cg-runner-2: workers gw2 and gw3 (xdist numbers workers in the order of the --tx specs)
HOST = re.compile(r"dc\d+-r\d+-h\d+")


@pytest.fixture
def lab_runners(lab):
    """Three runner namespaces, fresh for each test (a test may kill one); removed afterwards."""
    path = runners.up(3)
    try:
        yield path
    finally:
        runners.teardown_runners()


def cloudgate_run(lab, reports: Path, *args: str, target: Path | None = None, timeout: float = 150,
                  **popen) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    argv = [sys.executable, "-m", "cloudgate.cli", "run", "--target", str(target or runners.target_file()),
            "--profile", "smoke", "--reports-dir", str(reports), "--paths", *SELECTION, *args]
    env = {**os.environ, **lab["env"]}
    if popen:
        return subprocess.Popen(argv, cwd=REPO, env=env, text=True, **popen)
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def summary_of(reports: Path) -> dict:
    return json.loads((reports / "latest" / "summary.json").read_text())


def collected_ids(lab, target: Path) -> list[str]:
    """The selection's test ids in collection order, which decides the shares (cloudgate.shards)."""
    proc = subprocess.run([sys.executable, "-m", "pytest", *SELECTION, f"--target={target}", "--profile=smoke",
                           "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"],
                          cwd=REPO, env={**os.environ, **lab["env"]}, capture_output=True, text=True, timeout=60)
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    assert ids, proc.stdout[-2000:] + proc.stderr[-2000:]
    return ids


def kill_runner(n: int) -> int:
    """Runner n lost: every process of its namespace (its sshd, the ssh sessions, the workers) SIGKILLed."""
    out = subprocess.run(["ip", "netns", "pids", f"{runners.RUNNER_NETNS_PREFIX}{n}"], capture_output=True,
                         text=True, timeout=10).stdout
    pids = [int(p) for p in out.split()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def test_a_run_on_three_runners_has_the_checks_and_outcomes_of_a_local_run_and_one_report(lab, lab_runners,
                                                                                          tmp_path):
    local = cloudgate_run(lab, tmp_path / "local")
    assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-2000:]
    spread = cloudgate_run(lab, tmp_path / "spread", "--runners", str(lab_runners))
    assert spread.returncode == 0, spread.stdout[-3000:] + spread.stderr[-2000:]

    mine, theirs = summary_of(tmp_path / "local"), summary_of(tmp_path / "spread")
    assert len(mine["outcomes"]) > 100
    assert theirs["outcomes"] == mine["outcomes"]  # the same check ids, each with the same outcome
    latest = tmp_path / "spread" / "latest"
    assert parse_junit(latest / "junit.xml") == parse_junit(tmp_path / "local" / "latest" / "junit.xml")
    assert (latest / "index.html").stat().st_size > 0
    assert len(list((tmp_path / "spread").glob("2*"))) == 1  # one run directory, on the controller
    part = theirs["runners"]
    assert [r["name"] for r in part["planned"]] == ["runner-1", "runner-2", "runner-3"]
    assert part["unreachable"] == {} and part["lost"] == {}
    # every runner ran a share (the workers are reached over SSH in its namespace), and all of it together
    assert sorted(part["checks_run"]) == ["runner-1", "runner-2", "runner-3"], part
    assert sum(part["checks_run"].values()) == len(mine["outcomes"])


def test_a_runner_that_cannot_be_reached_is_one_line_and_its_share_is_not_run(lab, lab_runners, tmp_path):
    data = yaml.safe_load(lab_runners.read_text())
    data["runners"].append({"name": "runner-ghost", "address": "198.18.1.90"})  # unused in the lab plan: nobody answers
    ghost = tmp_path / "runners.yaml"
    ghost.write_text(yaml.safe_dump(data))
    started = time.monotonic()
    run = cloudgate_run(lab, tmp_path / "r", "--runners", str(ghost))
    elapsed = time.monotonic() - started

    named = [line for line in run.stderr.splitlines() if "runner-ghost" in line]
    assert len(named) == 1, run.stderr[-3000:]
    assert "198.18.1.90" in named[0] and "not run" in named[0]
    summary = summary_of(tmp_path / "r")
    outcomes, not_run = summary["outcomes"], summary["not_run"]
    ids = collected_ids(lab, runners.target_file())
    share = assign(ids, WORKERS + 2)  # the ghost's 2 workers' shares come last
    absent = {i for i, s in zip(ids, share, strict=True) if s >= WORKERS}
    assert absent and set(not_run) == absent
    assert all("runner-ghost" in reason for reason in not_run.values())
    assert {outcomes[i] for i in ids if i not in absent} == {"passed"}  # the others ran theirs
    assert set(outcomes) == set(ids)
    assert summary["runners"]["unreachable"].keys() == {"runner-ghost"}
    assert run.returncode != 0  # checks not run: never a green run
    assert elapsed < 60


def test_a_runner_lost_mid_run_leaves_the_checks_it_had_not_started_not_run_never_passed(lab, lab_runners,
                                                                                         tmp_path):
    # A worker of runner-2 is held on its first host (sshd hangs there, 20 s to give up), so the run is
    # surely in progress on runner-2 when the runner is killed, whatever the machine's speed.
    base = yaml.safe_load(runners.target_file().read_text())
    base["ssh"]["connect_timeout_seconds"] = 20
    target = tmp_path / "target.yaml"
    target.write_text(yaml.safe_dump(base))
    ids = collected_ids(lab, target)
    share = assign(ids, WORKERS)
    held_share = 2 * (VICTIM_RUNNER - 1)  # gw2
    first = next(i for i, s in zip(ids, share, strict=True) if s == held_share)
    victim = group_of(first)
    assert HOST.fullmatch(victim), f"the first check of gw{held_share} is not a host check: {first}"
    topology = build_topology(load_target(target).target)
    runner_shares = {held_share, held_share + 1}

    hostfaults.apply_fault(topology, victim, "ssh-hang")
    try:
        log = tmp_path / "run.log"
        with open(log, "w") as sink:
            proc = cloudgate_run(lab, tmp_path / "r", "--runners", str(lab_runners), "-v", target=target,
                                 stdout=sink, stderr=subprocess.STDOUT)
            try:
                killed = _kill_when_the_others_report(proc, log, VICTIM_RUNNER, deadline=60)
                proc.wait(timeout=90)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
        out = log.read_text()
    finally:
        hostfaults.clear_fault(topology, victim, "ssh-hang")
    assert killed, "runner-2 had no process to kill"

    summary = summary_of(tmp_path / "r")
    outcomes = summary["outcomes"]
    assert set(outcomes) == set(ids)  # no check vanished from the counts
    held = [i for i, s in zip(ids, share, strict=True) if s == held_share]
    assert not [i for i in held if outcomes[i] == "passed"], "a check of the lost worker's share passed"
    assert sum(outcomes[i] in ("failed", "error") for i in held) <= 1  # at most the one it was running
    lost = {i for i, reason in summary["not_run"].items() if "went down before this check ran" in reason}
    assert len(lost) >= len(held) - 1 and lost <= {i for i, s in zip(ids, share, strict=True) if s in runner_shares}
    others = [i for i, s in zip(ids, share, strict=True) if s not in runner_shares]
    assert {outcomes[i] for i in others} == {"passed"}, out[-3000:]
    assert "runner-2" in summary["runners"]["lost"]
    assert summary["exitstatus"] != 0 and proc.returncode != 0


def _kill_when_the_others_report(proc: subprocess.Popen[str], log: Path, n: int, deadline: float) -> int:
    """Watch the run's verbose output until another runner's worker reports a pass, then kill runner n."""
    ends = time.monotonic() + deadline
    while time.monotonic() < ends and proc.poll() is None:
        text = log.read_text(errors="replace")  # xdist -v: "[gw4] [ 12%] PASSED tests/..."
        if any(int(w) // 2 != n - 1 for w in re.findall(r"\[gw(\d+)\] \[\s*\d+%\] PASSED", text)):
            return kill_runner(n)
        time.sleep(0.05)
    return 0
