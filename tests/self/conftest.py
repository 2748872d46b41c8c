"""Fixtures shared by the suite's self-tests; plain helpers live in selfcheck.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from selfcheck import (
    LAB_TARGET,
    REPO,
    WITHOUT_HYPOTHESIS,
    SecretEnv,
    SuiteRun,
    failure_headlines,
    parse_junit,
    write_target,
)

pytest_plugins = ["pytester"]


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester whose subprocess runs leave out Hypothesis's pytest plugin.

    Why: at the end of every pytest process that plugin imports all of Hypothesis (about 1.4 s
    here, its modules assert-rewritten afresh), and none of the throwaway suites uses Hypothesis;
    the self-tests start some sixty of them."""
    run = pytester.runpytest_subprocess

    def without_hypothesis(*args: object, **kwargs: object) -> pytest.RunResult:
        return run(*WITHOUT_HYPOTHESIS, *args, **kwargs)  # type: ignore[arg-type]

    pytester.runpytest_subprocess = without_hypothesis  # type: ignore[method-assign]
    return pytester


@pytest.fixture
def make_target():
    """Factory writing a minimal valid target file (see write_target)."""
    return write_target


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def secrets_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_SELFTEST_KEY", "selftest-key")
    monkeypatch.setenv("CG_SELFTEST_SECRET", "selftest-secret-value")


@pytest.fixture(scope="session")
def lab():
    """The embedded lab, up for the whole self-test session and removed afterwards."""
    from cloudgate_lab import control

    if os.geteuid() != 0:
        pytest.fail("the lab self-tests need root (network namespaces); run `make test` as root", pytrace=False)
    timings = control.up(str(LAB_TARGET), quiet=True)
    exports = control.env_exports(str(LAB_TARGET))
    env = SecretEnv(line.removeprefix("export ").split("=", 1) for line in exports.splitlines() if line)
    try:
        yield {"timings": timings, "env": env}
    finally:
        control.down(quiet=True)


@pytest.fixture
def run_suite(lab, tmp_path):
    """Run tests of tests/infra against the lab (or a derived target) and return a SuiteRun."""

    def run(*args: str, target: Path = LAB_TARGET, env: dict | None = None, paths=("tests/infra",),
            prefix: tuple[str, ...] = ()) -> SuiteRun:
        reports = tmp_path / "reports"
        environ = {**os.environ, **lab["env"], **(env or {})}
        proc = subprocess.run(
            [*prefix, sys.executable, "-m", "pytest", *paths, f"--target={target}", f"--reports-dir={reports}",
             "-p", "no:cacheprovider", *WITHOUT_HYPOTHESIS, "-q", *args],
            cwd=REPO, env=environ, capture_output=True, text=True, timeout=600,
        )
        latest = reports / "latest"
        junit = latest / "junit.xml"
        cases = parse_junit(junit) if junit.exists() else {}
        headlines = failure_headlines(junit) if junit.exists() else {}
        summary = json.loads((latest / "summary.json").read_text()) if (latest / "summary.json").exists() else {}
        return SuiteRun(proc.returncode, proc.stdout, proc.stderr, cases, summary,
                        latest.resolve() if latest.exists() else None, headlines)

    return run
