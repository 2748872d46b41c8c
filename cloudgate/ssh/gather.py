"""A host's facts gathered in one SSH exec: every command its checks need, run by one shell script.

Why: a check per fact, each with its own round trip, costs a fleet of thousands of hosts minutes of
latency (shared/reference/ssh-fanout.md: ~40 ms per exec without batching, 13 execs per host with
testinfra's modules). Here a host costs one connection and one exec; the checks then read the
results, each still its own test with its own id and message.

The script runs each command under `timeout`, so one hung command (a fio-status stuck on a failing
card) fails the checks that read it, naming the command, while the host's other facts still come
back. Each command's output is framed by a marker holding a per-run random token, so nothing a
command prints can be mistaken for a frame. Stderr goes to a scratch file per host, printed after
the command's status. The script is the exec's command line, so the account's login shell runs it (POSIX: CentOS dom0
and Ubuntu guests alike) and builtins answer as in an operator's session.
"""

from __future__ import annotations

import re
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

#: The exit status `timeout` gives a command it had to stop.
TIMED_OUT = 124
# Commands run without a shell in between when they are a plain program and arguments: one exec less.
_PLAIN = re.compile(r"^[A-Za-z0-9_./=,:+@%-]+( [A-Za-z0-9_./=,:+@%-]+)*$")
_SHELL_BUILTINS = frozenset({"ulimit", "cd", "umask", "test", "["})


@dataclass(frozen=True)
class CommandResult:
    """What one command gave: the shape of testinfra's CommandResult that the checks read."""

    command: str
    rc: int
    stdout: str
    stderr: str

    @property
    def succeeded(self) -> bool:
        return self.rc == 0

    @property
    def timed_out(self) -> bool:
        return self.rc == TIMED_OUT


@dataclass(frozen=True)
class Probe:
    """The named commands one role's checks read (a hypervisor, a Cassandra node)."""

    role: str
    commands: Mapping[str, str]  # name -> shell command

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.role, tuple(sorted(self.commands.items()))


class HostFacts:
    """One host's gathered results, read by name: `facts["kernel"].stdout`."""

    def __init__(self, label: str, results: Mapping[str, CommandResult], seconds: float = 0.0) -> None:
        self.label = label
        self.results = dict(results)
        self.seconds = seconds

    def __getitem__(self, name: str) -> CommandResult:
        try:
            return self.results[name]
        except KeyError:
            raise KeyError(f"{name!r} is not gathered for {self.label} (gathered: {', '.join(self.results)})") from None

    def output(self, name: str) -> str:
        """A command's stdout when it succeeded; else the check fails in one line naming the command.

        What testinfra's `check_output` did: a failed command must never read as an empty answer
        (an empty `swapon --show` means "no swap")."""
        result = self[name]
        if result.timed_out:
            raise AssertionError(f"{self.label}: `{result.command}` hung (stopped by the command timeout)")
        if result.rc != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise AssertionError(
                f"{self.label}: `{result.command}` failed (rc {result.rc})" + (f": {detail[0][:200]}" if detail else "")
            )
        return result.stdout


def _invocation(command: str, timeout_s: float) -> str:
    """A plain program under `timeout`; a shell builtin (ulimit) in the login shell itself, where the
    session's limits are (it cannot hang); anything else under `timeout sh -c`."""
    first = command.split(" ", 1)[0]
    if _PLAIN.match(command):
        return command if first in _SHELL_BUILTINS else f"timeout -k 1 {timeout_s:g} {command}"
    return f"timeout -k 1 {timeout_s:g} sh -c {shlex.quote(command)}"


def script(probe: Probe, timeout_s: float, token: str) -> str:
    """The one shell script that runs every command of `probe` and frames each result."""
    lines = [
        'e=$(mktemp 2>/dev/null || echo /tmp/.cg-gather.$$)',
        'trap \'rm -f "$e"\' EXIT',
    ]
    for index, command in enumerate(probe.commands.values()):
        lines += [
            f"printf '\\n@{token} {index} out\\n'",
            f'{_invocation(command, timeout_s)} </dev/null 2>"$e"',
            f"printf '\\n@{token} {index} rc %d\\n' $?",
            'if [ -s "$e" ]; then cat "$e"; fi',
        ]
    lines.append(f"printf '\\n@{token} end\\n'")
    return "\n".join(lines) + "\n"


class GatherError(ValueError):
    """The host's answer does not frame as the script does: cut short, or not our script."""


def parse(probe: Probe, output: str, token: str) -> dict[str, CommandResult]:
    """Split the script's output into one CommandResult per command (stdout, rc, stderr)."""
    names = list(probe.commands)
    marker = re.compile(rf"\n@{re.escape(token)} (?:(\d+) (out|rc)(?: (-?\d+))?|end)\n")
    frames = list(marker.finditer(output))
    if not frames or frames[-1].group(0) != f"\n@{token} end\n":
        raise GatherError("the host's answer stops before the last command's result (session cut short?)")
    results: dict[str, CommandResult] = {}
    for at in range(0, len(frames) - 1, 2):
        start, status, after = frames[at], frames[at + 1], frames[at + 2] if at + 2 < len(frames) else None
        if after is None or start.group(2) != "out" or status.group(2) != "rc" or start.group(1) != status.group(1):
            raise GatherError("the host's answer is not framed as the script frames it")
        name = names[int(start.group(1))]
        stdout = output[start.end() : status.start()]
        stderr = output[status.end() : after.start()]
        results[name] = CommandResult(probe.commands[name], int(status.group(3)), stdout, stderr)
    missing = [n for n in names if n not in results]
    if missing:
        raise GatherError(f"no result for {', '.join(missing)}")
    return results


def new_token() -> str:
    return secrets.token_hex(8)
