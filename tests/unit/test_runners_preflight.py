"""Before the run: a runner that cannot take part costs one timeout, all at once, and reads as one line."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cloudgate.runners.model import RunnersError, parse_runners
from cloudgate.runners.preflight import PROBE, RunnerCheck, preflight, probe_problem, remote_command
from cloudgate.runners.run import absent_reason, refuse_path_arguments, relative_testpaths

REPO = Path(__file__).resolve().parents[2]


def runners_file(*ports: int, timeout: float = 0.5, budget: float = 10.0):
    lines = [f"lab: true\nconnect_timeout_seconds: {timeout}\npreflight_seconds: {budget}",
             f"defaults: {{identity_file: /dev/null, python: {sys.executable}, chdir: {REPO}}}", "runners:"]
    lines += [f"  - {{name: r{i}, address: 127.0.0.1, port: {port}}}" for i, port in enumerate(ports, 1)]
    return parse_runners("\n".join(lines) + "\n")


@contextlib.contextmanager
def silent_sshd() -> Iterator[int]:
    """Accepts TCP, never sends an SSH banner (a hung runner)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[tuple[socket.socket, object]] = []

    def accept() -> None:
        for _ in range(4):
            try:
                held.append(listener.accept())
            except OSError:  # the listener closed when the test ended
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        for conn, _ in held:
            conn.close()
        listener.close()


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_a_runner_with_no_sshd_and_one_that_hangs_are_each_one_line_within_one_timeout():
    with silent_sshd() as hung:
        refused = closed_port()
        loaded = runners_file(refused, hung)
        started = time.monotonic()
        checks = preflight(loaded)
        elapsed = time.monotonic() - started
    assert elapsed < 3.0  # both at once, each within its own timeout
    by_name = {c.runner.name: c for c in checks}
    assert by_name["r1"].problem == "Connection refused (sshd not running?)"
    assert not by_name["r2"].ok and "no banner within 0.5 s" in by_name["r2"].problem
    line = by_name["r1"].line()
    assert "\n" not in line and line.startswith(f"runner r1 (root@127.0.0.1:{refused}) cannot take part: ")
    assert line.endswith("its 2 worker(s)' share of the checks is reported not run")


def test_the_whole_preflight_is_bounded_whatever_hangs():
    with silent_sshd() as hung:
        loaded = runners_file(hung, timeout=5, budget=0.5)
        started = time.monotonic()
        (check,) = preflight(loaded)
        assert time.monotonic() - started < 2.0
    assert check.problem == "no answer within the preflight's 0.5 s"


def run_probe_locally(runner) -> tuple[int, str]:  # noqa: ANN001
    proc = subprocess.run(["sh", "-c", remote_command(runner)], capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stderr


def test_the_probe_says_which_of_venv_checkout_or_project_is_missing_on_the_runner(tmp_path):
    good = runners_file(22).runners[0]
    assert probe_problem(good, *run_probe_locally(good)) is None  # this checkout and venv can take part

    no_venv = dataclasses.replace(good, python="/nonexistent/.venv/bin/python")
    assert probe_problem(no_venv, *run_probe_locally(no_venv)) == (
        "no python at /nonexistent/.venv/bin/python (the project's venv is not there)")
    no_checkout = dataclasses.replace(good, chdir="/nonexistent/checkout")
    assert probe_problem(no_checkout, *run_probe_locally(no_checkout)) == "no checkout at /nonexistent/checkout"
    other = dataclasses.replace(good, python="/usr/bin/python3", chdir=str(tmp_path))  # a python without the project
    problem = probe_problem(other, *run_probe_locally(other))
    assert problem is not None and f"cannot `{PROBE}` in {tmp_path}" in problem and "ModuleNotFoundError" in problem


def test_an_unreachable_runner_names_itself_in_the_absent_shares_reason():
    r = runners_file(22).runners[0]
    assert absent_reason([RunnerCheck(r, "refused", 0.1)]) == "its runner could not be reached: r1: refused"


def test_paths_go_to_the_runners_relative_to_the_checkout_and_local_files_are_refused(tmp_path):
    assert relative_testpaths([str(REPO / "tests/infra"), "tests/placement"], REPO) == ["tests/infra", "tests/placement"]
    with pytest.raises(RunnersError, match="is not inside the checkout"):
        relative_testpaths([str(tmp_path)], REPO)
    with pytest.raises(RunnersError, match="a test id cannot be sent"):
        relative_testpaths(["tests/infra/test_hypervisors.py::test_x"], REPO)
    with pytest.raises(RunnersError, match="names a local file"):
        refuse_path_arguments(["-k", "dc1", str(tmp_path)])
    refuse_path_arguments(["-k", "dc1", "-v"])


def test_with_no_runner_reachable_every_check_is_reported_not_run_and_the_run_fails(tmp_path):
    target = tmp_path / "t.yaml"  # an API nobody answers: the controller's snapshot fails, the checks are collected
    target.write_text(yaml.safe_dump({
        "name": "t", "environment": "preproduction", "datacenters": [{"name": "dc1", "zone": "z1"}],
        "cloudstack": {"endpoint": "http://127.0.0.1:9/client/api", "api_key_env": "CG_T_KEY", "secret_key_env": "CG_T_SECRET"},
        "ssh": {"identity_file": "/dev/null", "known_hosts": "/dev/null"}}))
    runners = tmp_path / "runners.yaml"
    port = closed_port()
    runners.write_text(f"lab: true\nconnect_timeout_seconds: 1\ndefaults: {{identity_file: /dev/null, python: "
                       f"{sys.executable}, chdir: {REPO}}}\nrunners:\n  - {{name: ra, address: 127.0.0.1, port: {port}}}\n")
    proc = subprocess.run([sys.executable, "-m", "cloudgate.cli", "run", "--target", str(target), "--runners",
                           str(runners), "--reports-dir", str(tmp_path / "reports"), "--profile", "smoke", "--paths",
                           "tests/infra/test_hypervisors.py", "-q"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "CG_T_KEY": "k", "CG_T_SECRET": "s"}, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == (f"cloudgate: runner ra (root@127.0.0.1:{port}) cannot take part: Connection refused (sshd not "
                        "running?); its 2 worker(s)' share of the checks is reported not run")
    summary = json.loads((tmp_path / "reports" / "latest" / "summary.json").read_text())
    assert summary["counts"]["not_run"] > 0 and summary["counts"]["passed"] == 0
    assert set(summary["not_run"].values()) == {"not run: no runner could be reached (ra)"}


def test_a_runner_whose_name_does_not_resolve_is_named_as_a_dns_failure_not_a_stopped_sshd():
    loaded = parse_runners(f"lab: true\nconnect_timeout_seconds: 1\ndefaults: {{identity_file: /dev/null, python: "
                           f"{sys.executable}, chdir: {REPO}}}\nrunners:\n  - {{name: rx, address: nosuch.invalid}}\n")
    (check,) = preflight(loaded)
    assert check.problem is not None and check.problem.startswith("the name nosuch.invalid does not resolve (DNS: ")
    assert "sshd" not in check.problem


def test_with_no_runner_reachable_the_whole_suite_is_reported_not_run_naming_the_runners(tmp_path):
    """The default paths (tests/infra and tests/placement, each with its own conftest) once crashed the
    no-runner run with `TypeError: unhashable type: 'RunnersSession'` (pytest keeps plugins in sets)."""
    target = tmp_path / "t.yaml"
    target.write_text(yaml.safe_dump({
        "name": "t", "environment": "preproduction", "datacenters": [{"name": "dc1", "zone": "z1"}],
        "cloudstack": {"endpoint": "http://127.0.0.1:9/client/api", "api_key_env": "CG_T_KEY", "secret_key_env": "CG_T_SECRET"},
        "ssh": {"identity_file": "/dev/null", "known_hosts": "/dev/null"}}))
    runners = tmp_path / "runners.yaml"
    port = closed_port()
    runners.write_text(f"lab: true\nconnect_timeout_seconds: 1\ndefaults: {{identity_file: /dev/null, python: "
                       f"{sys.executable}, chdir: {REPO}}}\nrunners:\n  - {{name: ra, address: 127.0.0.1, port: {port}}}\n"
                       "  - {name: rb, address: nosuch.invalid}\n")
    proc = subprocess.run([sys.executable, "-m", "cloudgate.cli", "run", "--target", str(target), "--runners",
                           str(runners), "--reports-dir", str(tmp_path / "reports"), "--profile", "smoke", "-q"],
                          cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "CG_T_KEY": "k", "CG_T_SECRET": "s"}, timeout=120)
    output = proc.stdout + proc.stderr
    assert "INTERNALERROR" not in output and "Traceback" not in output
    assert proc.returncode == 2
    assert "runner rb (root@nosuch.invalid:22) cannot take part: the name nosuch.invalid does not resolve" in proc.stderr
    summary = json.loads((tmp_path / "reports" / "latest" / "summary.json").read_text())
    assert summary["counts"]["not_run"] > 0 and summary["counts"]["passed"] == 0
    assert set(summary["not_run"].values()) == {"not run: no runner could be reached (ra, rb)"}
