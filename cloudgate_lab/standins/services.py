"""`systemctl` for the lab's guests: stop, start, restart, kill and ask about the units they run.

Why: the failover drills stop the Cassandra service over SSH exactly as an operator does on a real
node (`systemctl stop cassandra`), and the heal starts it again. A lab guest is a set of namespaces,
not a machine: it has no init and shares the machine's PID namespace. So each guest's state.json
lists its units (`services`: unit -> the argv and environment its process was started with, written
by cloudgate_lab.guests when the guest boots), and this stand-in finds a unit's processes as the
processes *of this guest's network namespace* whose command line is exactly that argv. Nothing
outside the guest can match, whatever it runs.

Semantics kept from systemd, because the drills and an operator rely on them: `stop` returns once
the process is gone (SIGTERM, then SIGKILL after STOP_TIMEOUT_SECONDS, like TimeoutStopSec); `start`
of a running unit changes nothing; `is-active` prints active/inactive with rc 0/3; an unknown unit
answers "Unit X.service not found." with rc 5. Stdlib only, no `cloudgate` import (see render.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time

STOP_TIMEOUT_SECONDS = 20.0
UNIT_NOT_FOUND = 5  # systemctl's exit status for a unit it does not know
INACTIVE = 3


def _unit_name(arg: str) -> str:
    return arg[: -len(".service")] if arg.endswith(".service") else arg


def _own_netns() -> tuple[int, int]:
    st = os.stat("/proc/self/ns/net")
    return st.st_dev, st.st_ino


def unit_pids(argv: list[str]) -> list[int]:
    """PIDs of this network namespace whose command line is exactly `argv`."""
    want = "\0".join(argv).encode() + b"\0"
    netns = _own_netns()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
            if (st.st_dev, st.st_ino) != netns:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if fh.read() == want:
                    found.append(int(entry))
        except OSError:  # gone meanwhile, or a kernel thread
            continue
    return found


def _pidfile_pid(path: str) -> list[int]:
    """The main PID a unit's pid file names, if that process lives in this network namespace."""
    try:
        with open(path) as fh:
            pid = int(fh.read().split()[0])
        st = os.stat(f"/proc/{pid}/ns/net")
    except (OSError, ValueError, IndexError):
        return []
    return [pid] if (st.st_dev, st.st_ino) == _own_netns() else []


def pids_of(unit: dict) -> list[int]:
    """A unit's processes: by its pid file when it has one (a daemon that renames itself, as php-fpm's
    "php-fpm: master process (...)" does, is found like systemd's PIDFile= finds it), else by argv."""
    if unit.get("pidfile"):
        return _pidfile_pid(unit["pidfile"])
    return unit_pids(unit["argv"])


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait_gone(unit: dict, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pids_of(unit):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _stop(unit: dict, _node_dir: str) -> int:
    _signal(pids_of(unit), signal.SIGTERM)
    if not _wait_gone(unit, STOP_TIMEOUT_SECONDS):
        _signal(pids_of(unit), signal.SIGKILL)
        _wait_gone(unit, 5.0)
    return 0


def _start(unit: dict, node_dir: str) -> int:
    argv = unit["argv"]
    if pids_of(unit):
        return 0
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C", **unit.get("env", {})}
    with open(os.path.join(node_dir, "processes.log"), "ab") as log:
        rc = subprocess.call(["setsid", "-f", *argv], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             env=env, cwd="/", timeout=10)
    return 0 if rc == 0 else 1


def _parse_signal(args: list[str]) -> tuple[int, list[str]]:
    sig, rest, i = signal.SIGTERM, [], 0
    while i < len(args):
        arg = args[i]
        name = None
        if arg in ("-s", "--signal") and i + 1 < len(args):
            name, i = args[i + 1], i + 1
        elif arg.startswith("--signal="):
            name = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        if name is not None:
            sig = int(name) if name.isdigit() else getattr(signal, name if name.startswith("SIG") else f"SIG{name}")
        i += 1
    return sig, rest


def systemctl(state: dict, node_dir: str, argv: list[str]) -> int:
    args = [a for a in argv if a not in ("--no-pager", "-q", "--quiet", "--no-block", "--no-ask-password")]
    if not args:
        sys.stderr.write("systemctl: the lab's stand-in needs a verb (start, stop, restart, kill, is-active, status)\n")
        return 1
    verb, rest = args[0], args[1:]
    sig = signal.SIGTERM
    if verb == "kill":
        sig, rest = _parse_signal(rest)
    if verb not in ("start", "stop", "restart", "kill", "is-active", "status"):
        sys.stderr.write(f"Unknown command verb {verb}.\n")
        return 1
    if not rest:
        sys.stderr.write("Too few arguments.\n")
        return 1
    units = state.get("services", {})
    rc = 0
    with open(os.path.join(node_dir, ".services.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for arg in rest:
            name = _unit_name(arg)
            unit = units.get(name)
            if unit is None:
                if verb == "is-active":
                    sys.stdout.write("inactive\n")
                    rc = rc or INACTIVE
                    continue
                sys.stderr.write(f"Failed to {verb} {name}.service: Unit {name}.service not found.\n")
                return UNIT_NOT_FOUND
            pids = pids_of(unit)
            if verb == "is-active":
                sys.stdout.write("active\n" if pids else "inactive\n")
                rc = rc or (0 if pids else INACTIVE)
            elif verb == "status":
                state_line = f"active (running)\n     Main PID: {pids[0]}" if pids else "inactive (dead)"
                sys.stdout.write(f"● {name}.service - {unit.get('description', name)}\n     Active: {state_line}\n")
                rc = rc or (0 if pids else INACTIVE)
            elif verb == "stop":
                rc = rc or _stop(unit, node_dir)
            elif verb == "start":
                rc = rc or _start(unit, node_dir)
            elif verb == "restart":
                _stop(unit, node_dir)
                rc = rc or _start(unit, node_dir)
            elif verb == "kill":
                if not pids:
                    sys.stderr.write(f"Failed to kill unit {name}.service: No main process to kill\n")
                    return 1
                _signal(pids, sig)
    return rc
