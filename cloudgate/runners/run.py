"""`cloudgate run --runners FILE`: preflight, then one pytest run whose workers are on the runners.

The run's test paths are given to the workers as `testpaths` relative to the checkout, not as
arguments: xdist rewrites every argument that names an existing file relative to its rsync roots
(and refuses one outside them), and a path on the controller means nothing on a runner anyway.
Each runner runs from its own checkout (`chdir`), where the same relative paths hold.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from cloudgate.runners.model import LoadedRunners, RunnersError, load_runners
from cloudgate.runners.preflight import RunnerCheck, preflight
from cloudgate.runners.txspec import RunnerFiles, xdist_args

EXIT_NO_RUNNER = 2


def relative_testpaths(paths: Sequence[str], checkout: Path) -> list[str]:
    """The suite's paths relative to the controller's checkout (the runners have the same tree)."""
    out = []
    for p in paths:
        if "::" in p:
            raise RunnersError(f"--runners: {p}: a test id cannot be sent to the runners; select with -k instead")
        path = Path(p).resolve()
        try:
            out.append(str(path.relative_to(checkout)))
        except ValueError:
            raise RunnersError(f"--runners: {p} is not inside the checkout {checkout}: the runners run the "
                               "suite from their own checkout, where only its paths exist") from None
    return out


def refuse_path_arguments(extra: Sequence[str]) -> None:
    """xdist aborts on an argument naming an existing file outside its rsync roots: say so first."""
    for arg in extra:
        if not arg.startswith("-") and Path(arg.split("::")[0]).exists():
            raise RunnersError(f"--runners: extra argument {arg!r} names a local file: pass test paths with "
                               "--paths, and options as --name=value")


def absent_reason(unreachable: Sequence[RunnerCheck]) -> str:
    return "its runner could not be reached: " + "; ".join(f"{c.runner.name}: {c.problem}" for c in unreachable)


def run_on_runners(runners_file: str, base_argv: list[str], paths: Sequence[str], extra: list[str],
                   checkout: Path) -> int:
    """Preflight, one line per runner that cannot take part, then pytest; its exit status, or 2."""
    import pytest

    from cloudgate.runners.session import RunnersSession

    loaded = load_runners(runners_file)
    refuse_path_arguments(extra)
    testpaths = relative_testpaths(paths, checkout)
    with RunnerFiles(loaded) as files:
        checks = preflight(loaded)
        for check in checks:
            if not check.ok:
                print(f"cloudgate: {check.line()}", file=sys.stderr, flush=True)
        session = RunnersSession(checks, {str(files.paths[r.name]): r for r in loaded.runners},
                                 loaded.file.forward_env, loaded.file.shared_reports)
        reachable = session.reachable
        if not reachable:
            print(f"cloudgate: error: none of the {len(checks)} runner(s) in {loaded.path} could be reached; "
                  "every check is reported not run", file=sys.stderr, flush=True)
            pytest.main([*base_argv, *paths, *extra], plugins=[session])  # collects locally, runs nothing
            return EXIT_NO_RUNNER
        unreachable = session.unreachable
        absent = sum(c.runner.workers for c in unreachable)
        argv = [*base_argv, "-o", f"testpaths={' '.join(testpaths)}",
                *xdist_args(files.specs(reachable), absent, absent_reason(unreachable)), *extra]
        status = int(pytest.main(argv, plugins=[session]))
    if status == 0 and (unreachable or session.lost):
        status = 1  # some checks were not run: never a green run
    return status


def describe(loaded: LoadedRunners) -> str:
    workers = sum(r.workers for r in loaded.runners)
    return f"{loaded.path}: {len(loaded.runners)} runner(s), {workers} worker(s)"
