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
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from cloudgate.runners.model import LoadedRunners, Runner

MISSING_PYTHON, MISSING_CHECKOUT = 11, 12
COMMAND_SECONDS = 20.0  # `python -c "import cloudgate"` on a cold runner


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
            f"cd {chdir} && exec {py} -c 'import cloudgate'")


def _connect(runner: Runner, strict: bool, timeout: float):  # noqa: ANN202 - paramiko.SSHClient
    import paramiko

    client = paramiko.SSHClient()
    if strict:
        try:
            client.load_host_keys(runner.known_hosts or "/dev/null")
        except OSError as exc:
            raise _Refused(f"cannot read known_hosts {runner.known_hosts}: {exc.strerror}") from None
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    else:
        client.set_missing_host_key_policy(_accepting_policy())
    try:
        sock = socket.create_connection((runner.address, runner.port), timeout=timeout)
    except TimeoutError:
        raise _Refused(f"no TCP answer on port {runner.port} within {timeout:g} s (machine down or filtered)") from None
    except ConnectionRefusedError:
        raise _Refused(f"connection refused on port {runner.port} (no sshd listening)") from None
    except OSError as exc:
        raise _Refused(f"cannot connect to port {runner.port}: {exc.strerror or exc}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        client.connect(runner.address, port=runner.port, username=runner.user, key_filename=runner.identity_file,
                       sock=sock, timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                       look_for_keys=False, allow_agent=False)
    except paramiko.BadHostKeyException:
        sock.close()
        raise _Refused(f"host key changed: it does not match {runner.known_hosts} (possible impersonation)") from None
    except paramiko.AuthenticationException:
        sock.close()
        raise _Refused(f"key refused for user {runner.user} (identity {runner.identity_file})") from None
    except paramiko.SSHException as exc:
        sock.close()
        text = str(exc)
        if "not found in known_hosts" in text:
            text = f"host key unknown: not in {runner.known_hosts}"
        elif "banner" in text.lower():
            text = f"no SSH banner within {timeout:g} s"
        raise _Refused(text.splitlines()[0] if text else type(exc).__name__) from None
    except (OSError, EOFError, ValueError) as exc:  # an unreadable or malformed key file is a ValueError/OSError
        sock.close()
        raise _Refused(f"SSH failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    return client


class _Refused(Exception):
    """One line: why a runner cannot take part."""


def _accepting_policy():  # noqa: ANN202 - a paramiko MissingHostKeyPolicy
    import paramiko

    class Accept(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client: object, hostname: str, key: object) -> None:
            return None  # the lab's runners are rebuilt with new keys: accept, never store

    return Accept()


def check_runner(runner: Runner, strict: bool, timeout: float) -> RunnerCheck:
    started = time.monotonic()
    try:
        client = _connect(runner, strict, timeout)
    except _Refused as exc:
        return RunnerCheck(runner, str(exc), time.monotonic() - started)
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
            return f"`{runner.python} -c 'import cloudgate'` did not finish within {COMMAND_SECONDS:g} s"
        status = chan.recv_exit_status()
    except (OSError, EOFError) as exc:
        return f"the check command failed: {type(exc).__name__}: {exc}"
    if status == 0:
        return None
    if status == MISSING_PYTHON:
        return f"no python at {runner.python} (the project's venv is not there)"
    if status == MISSING_CHECKOUT:
        return f"no checkout at {runner.chdir}"
    last = next((line for line in reversed(stderr.strip().splitlines()) if line.strip()), f"exit status {status}")
    return f"{runner.python} cannot import cloudgate from {runner.chdir}: {last.strip()[:200]}"


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
