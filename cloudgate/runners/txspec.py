"""What pytest-xdist is given to reach the runners: one ssh_config per runner and the `--tx` specs.

execnet turns `ssh=USER@HOST//ssh_config=FILE//python=PY//chdir=DIR` into
`ssh -C -F FILE USER@HOST 'PY -c "..."'` (execnet/gateway_io.py), so everything ssh must know
(port, key, timeouts, host key checking) goes into FILE: a spec cannot carry ssh options itself.
The file holds no secret, only the key's path; it lives in the run's temporary directory and is
removed with it (RunnerFiles).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cloudgate.runners.model import LoadedRunners, Runner

SERVER_ALIVE_SECONDS = 5  # a lost runner is noticed after ServerAliveInterval x ServerAliveCountMax
SERVER_ALIVE_COUNT = 3


def _quoted(path: str) -> str:
    return '"' + path.replace('"', "") + '"'


def ssh_config_text(runner: Runner, *, strict_host_keys: bool, connect_timeout: float) -> str:
    """ssh_config for one runner. BatchMode: a prompt (passphrase, unknown host) fails instead of hanging."""
    if strict_host_keys:
        keys = ["StrictHostKeyChecking yes", f"UserKnownHostsFile {_quoted(runner.known_hosts or '/dev/null')}",
                "GlobalKnownHostsFile /dev/null"]
    else:  # the lab's runners get new host keys every time they are built
        keys = ["StrictHostKeyChecking no", "UserKnownHostsFile /dev/null", "GlobalKnownHostsFile /dev/null",
                "LogLevel ERROR"]
    lines = [
        f"# cloudgate run --runners: how to reach runner {runner.name}; generated for one run, removed after it",
        "Host *",
        f"  Port {runner.port}",
        f"  IdentityFile {_quoted(runner.identity_file)}",
        "  IdentitiesOnly yes",
        "  IdentityAgent none",
        f"  ConnectTimeout {max(1, round(connect_timeout))}",
        "  BatchMode yes",
        f"  ServerAliveInterval {SERVER_ALIVE_SECONDS}",
        f"  ServerAliveCountMax {SERVER_ALIVE_COUNT}",
        *(f"  {k}" for k in keys),
    ]
    return "\n".join(lines) + "\n"


def tx_spec(runner: Runner, ssh_config: Path) -> str:
    """`<workers>*ssh=<user>@<host>//ssh_config=<file>//python=<venv python>//chdir=<checkout>`."""
    return (f"{runner.workers}*ssh={runner.user}@{runner.address}//ssh_config={ssh_config}"
            f"//python={runner.python}//chdir={runner.chdir}")


def xdist_args(specs: Sequence[str], absent_shares: int, absent_reason: str) -> list[str]:
    """The whole xdist part of the pytest command line.

    `--dist load` is the distribution cloudgate.plugin.shards replaces with its static share per
    host; `--max-worker-restart 0` because xdist would otherwise replace a lost worker by opening a
    new gateway to the same, unreachable, runner (an error that aborts the whole run), and a
    replacement would get nothing anyway: shares are fixed at the start.
    """
    args = [f"--tx={spec}" for spec in specs]
    args += ["--dist=load", "--max-worker-restart=0"]
    if absent_shares:
        args += [f"--absent-shares={absent_shares}", f"--absent-reason={absent_reason}"]
    return args


class RunnerFiles:
    """The run's generated ssh_config files, in a private temporary directory removed on exit."""

    def __init__(self, loaded: LoadedRunners, parent: str | None = None) -> None:
        self.loaded = loaded
        self.parent = parent
        self.dir: Path | None = None
        self.paths: dict[str, Path] = {}

    def __enter__(self) -> RunnerFiles:
        self.dir = Path(tempfile.mkdtemp(prefix="cloudgate-runners-", dir=self.parent))  # mode 0700
        for runner in self.loaded.runners:
            path = self.dir / f"{runner.name}.ssh_config"
            path.write_text(ssh_config_text(runner, strict_host_keys=self.loaded.strict_host_keys,
                                            connect_timeout=self.loaded.file.connect_timeout_seconds))
            path.chmod(0o600)  # ssh refuses a config others can write
            self.paths[runner.name] = path
        return self

    def specs(self, runners: Sequence[Runner]) -> list[str]:
        return [tx_spec(r, self.paths[r.name]) for r in runners]

    def __exit__(self, *_exc: object) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
