"""Run a command the operators wrote in the target file (stop or start the management server).

Why its own module: the drill that stops the management server and the undo that restarts it
(a teardown, or `cloudgate janitor` after a kill -9) must run the command the same way. The
command is the operators' own: the suite never guesses how their management server is stopped.
It runs on the runner through bash, with the running cloudgate's bin directory first on PATH (so
the lab's `cloudgate lab cloudstack stop` works from a venv), bounded in time, and its failure is
one line with the command's last line of output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


class OperatorCommandError(Exception):
    """The command failed or hung; str() is one line naming it and the cause."""


def run_operator_command(command: str, timeout: float, what: str) -> None:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    try:
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=timeout,
                              env=env, check=False, start_new_session=True)
    except subprocess.TimeoutExpired:
        raise OperatorCommandError(f"{what}: `{command}` did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise OperatorCommandError(f"{what}: `{command}` could not start: {exc.strerror}") from None
    if done.returncode != 0:
        lines = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()
        raise OperatorCommandError(f"{what}: `{command}` exited {done.returncode}: {lines[-1][:200]}")
