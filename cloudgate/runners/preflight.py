"""Before the run: reach every runner once over SSH, in parallel, and say which cannot take part.

Why before, and not by letting xdist find out: an ssh gateway that cannot be opened raises inside
xdist's start-up and aborts the whole run with a traceback, and a runner whose venv lacks the
project fails with a remote one. Here each runner costs at most one connect timeout, all at once
(the whole preflight is bounded by `preflight_seconds`), and each that cannot take part is one
line naming it and the cause: no TCP answer, connection refused, key refused, host key changed or
unknown, python or checkout missing, cloudgate not importable.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import paramiko

from cloudgate.errors import HostUnreachable
from cloudgate.runners.model import LoadedRunners, Runner
from cloudgate.ssh.hosts import SshSettings, open_client

MISSING_PYTHON, MISSING_CHECKOUT = 11, 12
PROBE = "import cloudgate.plugin, xdist"  # what a worker imports first: the project and pytest-xdist
COMMAND_SECONDS = 20.0  # the probe's import on a cold runner


@dataclass(frozen=True)
class RunnerCheck:
    runner: Runner
    problem: str | None  # None: the runner can take part
    seconds: float

    @property
    def ok(self) -> bool:
        return self.problem is None

    def line(self) -> str:
        """The one line an operator reads about a runner that cannot take part."""
        return (f"runner {self.runner.name} ({self.runner.where}) cannot take part: {self.problem}; "
                f"its {self.runner.workers} worker(s)' share of the checks is reported not run")


def remote_command(runner: Runner) -> str:
    """Exit 11: no such python; 12: no checkout; else the import's own status and message."""
    py, chdir = shlex.quote(runner.python), shlex.quote(runner.chdir)
    return (f"test -x {py} || exit {MISSING_PYTHON}; test -d {chdir} || exit {MISSING_CHECKOUT}; "
            f"cd {chdir} && exec {py} -c {shlex.quote(PROBE)}")


def ssh_settings(runner: Runner, strict: bool, timeout: float) -> SshSettings:
    """How cloudgate.ssh.hosts reaches a runner: the suite's own SSH rules (TCP_NODELAY, host keys, timeouts)."""
    return SshSettings(user=runner.user, identity_file=runner.identity_file, known_hosts=runner.known_hosts,
                       port=runner.port, connect_timeout=timeout, command_timeout=COMMAND_SECONDS,
                       strict_host_keys=strict)


def check_runner(runner: Runner, strict: bool, timeout: float) -> RunnerCheck:
    started = time.monotonic()
    try:
        client = open_client(runner.address, ssh_settings(runner, strict, timeout))
    except HostUnreachable as exc:  # "address:port: why"; the line names the runner's address already
        return RunnerCheck(runner, str(exc).removeprefix(f"{runner.address}:{runner.port}: "),
                           time.monotonic() - started)
    except (ValueError, paramiko.SSHException) as exc:  # a malformed key file
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return RunnerCheck(runner, f"{runner.where}: identity {runner.identity_file}: {text}",
                           time.monotonic() - started)
    try:
        problem = _run_probe(client, runner, timeout)
    finally:
        client.close()
    return RunnerCheck(runner, problem, time.monotonic() - started)


def _run_probe(client, runner: Runner, timeout: float) -> str | None:  # noqa: ANN001 - paramiko.SSHClient
    transport = client.get_transport()
    try:
        chan = transport.open_session(timeout=timeout)
        chan.settimeout(COMMAND_SECONDS)
        chan.exec_command(remote_command(runner))
        stderr = chan.makefile_stderr("rb").read().decode(errors="replace")
        if not chan.status_event.wait(COMMAND_SECONDS):
            return f"`{runner.python} -c '{PROBE}'` did not finish within {COMMAND_SECONDS:g} s"
        status = chan.recv_exit_status()
    except (OSError, EOFError) as exc:
        return f"the check command failed: {type(exc).__name__}: {exc}"
    return probe_problem(runner, status, stderr)


def probe_problem(runner: Runner, status: int, stderr: str) -> str | None:
    """What the exit status and stderr of `remote_command` say about the runner; None: it can take part."""
    if status == 0:
        return None
    if status == MISSING_PYTHON:
        return f"no python at {runner.python} (the project's venv is not there)"
    if status == MISSING_CHECKOUT:
        return f"no checkout at {runner.chdir}"
    last = next((line for line in reversed(stderr.strip().splitlines()) if line.strip()), f"exit status {status}")
    return f"{runner.python} cannot `{PROBE}` in {runner.chdir}: {last.strip()[:200]}"


def preflight(loaded: LoadedRunners, runners: Sequence[Runner] | None = None) -> list[RunnerCheck]:
    """Every runner checked at once; the whole step returns within preflight_seconds, whatever hangs."""
    todo = list(loaded.runners if runners is None else runners)
    if not todo:
        return []
    timeout = loaded.file.connect_timeout_seconds
    budget = loaded.file.preflight_seconds
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=min(32, len(todo)), thread_name_prefix="runner-preflight")
    try:
        futures = [pool.submit(check_runner, r, loaded.strict_host_keys, timeout) for r in todo]
        wait(futures, timeout=budget)
        results = []
        for runner, future in zip(todo, futures, strict=True):
            if future.done() and future.exception() is None:
                results.append(future.result())
            elif future.done():
                exc = future.exception()
                results.append(RunnerCheck(runner, f"preflight failed: {type(exc).__name__}: {exc}",
                                           time.monotonic() - started))
            else:
                results.append(RunnerCheck(runner, f"no answer within the preflight's {budget:g} s",
                                           time.monotonic() - started))
        return results
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a thread still hanging ends with its own timeouts
