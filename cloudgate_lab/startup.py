"""How long the suite takes before its first check runs: loading the plugin, collecting the suite.

Why measure it in `make run`: an operator running the smoke profile after an incident waits for
both before anything is checked, and both grow unnoticed (one heavy import reached from the
plugin cost ~1.5 s: OR-Tools through the placement package). Each figure is the wall time of a
fresh interpreter, as an operator would pay it, recorded with the nightly run's metrics so the
history flags a regression.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from cloudgate.report.metrics import Metric

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SUITE_PATHS = ("tests/infra", "tests/placement")
PLUGIN_MODULE = "cloudgate.plugin"
# The plugin as pytest loads it from the entry point: the package, then the parts it lists in
# `pytest_plugins` (since the split by job, `import cloudgate.plugin` alone imports almost nothing).
PLUGIN_IMPORT = (
    f"import importlib, {PLUGIN_MODULE} as plugin\n"
    "for part in getattr(plugin, 'pytest_plugins', ()):\n"
    "    importlib.import_module(part)\n"
)


class StartupMeasureError(RuntimeError):
    """A measured command failed: its figure would time an error path, not the real start-up."""


def timed_run(argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None,
              timeout: float = 300.0) -> float:
    """Wall seconds of one subprocess; raises StartupMeasureError (with its last stderr line) if it fails."""
    started = time.monotonic()
    done = subprocess.run(list(argv), env=None if env is None else dict(env), cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
        command = " ".join(argv[:4]).replace("\n", "; ")[:160]  # one line, however the code was written
        raise StartupMeasureError(f"{command}... exited {done.returncode}: {last[0]}")
    return elapsed


def plugin_import_argv(python: str = sys.executable) -> list[str]:
    return [python, "-c", PLUGIN_IMPORT]


def collect_only_argv(target: str, profile: str = "nightly", python: str = sys.executable) -> list[str]:
    """The suite as `cloudgate run` would start it, stopped after collection (no report directory)."""
    return [python, "-m", "pytest", *SUITE_PATHS, "--target", target, "--profile", profile,
            "--collect-only", "-q", "-p", "no:cacheprovider"]


def plugin_import_seconds(env: Mapping[str, str] | None = None, repeats: int = 3) -> float:
    """The fastest of `repeats` fresh imports: the cost itself, without a one-off stall of the host."""
    return min(timed_run(plugin_import_argv(), env=env, cwd=PROJECT_ROOT) for _ in range(max(1, repeats)))


def collect_only_seconds(target: str, env: Mapping[str, str] | None = None, profile: str = "nightly") -> float:
    """One collection of the suite against `target` (the plugin reads the target, the suite its estate)."""
    return timed_run(collect_only_argv(str(Path(target).resolve()), profile), env=env, cwd=PROJECT_ROOT)


def _figure(name: str, measure: Callable[[], float], test: str) -> Metric:
    """A measured figure, or NaN (verdict fail) with one line on stderr: a start-up that errors is a finding."""
    try:
        value = measure()
    except (StartupMeasureError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"cloudgate lab: {name} not measured: {exc}", file=sys.stderr)
        value = math.nan
    return Metric.measure(name, value, "s", test=test)


def startup_figures(target: str, env: Mapping[str, str] | None = None, profile: str = "nightly") -> list[Metric]:
    """Both figures as metrics of the run (informational: no promise is attached to them yet)."""
    return [
        _figure("suite.plugin_import.seconds", lambda: plugin_import_seconds(env),
                f"python -c 'import {PLUGIN_MODULE}' and its pytest_plugins (best of 3)"),
        _figure("suite.collect_only.seconds", lambda: collect_only_seconds(target, env, profile),
                f"pytest {' '.join(SUITE_PATHS)} --profile {profile} --collect-only"),
    ]
