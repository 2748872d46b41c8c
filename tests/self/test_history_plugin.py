"""The nightly history on throwaway suites: each run lands in reports/history.sqlite, and a run worse
than the last ones fails even when every check passed (pytester, no cloud needed)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time

import pytest

SUITE = """
import os

def test_write_path(metric):
    metric("cassandra.write.server.p99", float(os.environ["P99"]), "ms", 10.0)

def test_fusion_io_card():
    assert os.environ.get("FIO", "ok") == "ok", "host h1: Fusion-IO card not healthy"
"""
TOLERANCES = "history:\n  compare_last: 7\n  min_runs: 3\n  tolerances:\n    cassandra.write.*.p99: 20%\n"


def _night(pytester: pytest.Pytester, target, p99: float, *args: str, fio: str = "ok"):  # noqa: ANN001, ANN202
    pytester.makepyfile(test_nightly=SUITE)
    time.sleep(1.05)  # runs are stamped to the second, and a run compares only with runs started before it
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("P99", str(p99))
        mp.setenv("FIO", fio)
        result = pytester.runpytest_subprocess(f"--target={target}", f"--reports-dir={pytester.path / 'reports'}",
                                               "-p", "no:cacheprovider", *args)
    summary = json.loads((pytester.path / "reports" / "latest" / "summary.json").read_text())
    return result, summary


@pytest.mark.usefixtures("secrets_set")
def test_a_p99_that_rose_beyond_its_tolerance_fails_the_nightly_while_under_its_threshold(pytester, make_target):
    target = make_target(pytester.path / "t.yaml", environment="lab", extra=TOLERANCES)
    for p99 in (1.0, 1.1, 0.9):
        result, summary = _night(pytester, target, p99)
        assert result.ret == 0, result.stdout.str()
    result, summary = _night(pytester, target, 2.0)
    assert result.ret == 1, "every check passed, but the p99 doubled: the night must go red"
    result.stdout.fnmatch_lines([
        "history: compared with 3 earlier run(s) of selftest / nightly: 1 regression(s) (fails the run)",
        "  metric regression: cassandra.write.server.p99 = 2 ms, 1 ms (+100%) above the median of 3 run(s) "
        "(1 ms; tolerance 20%), still within its threshold 10",
    ])
    assert summary["exitstatus"] == 1 and summary["history"]["fails_run"] is True
    assert [f["kind"] for f in summary["history"]["flags"]] == ["metric_regression"]

    result, summary = _night(pytester, target, 2.0, "--no-fail-on-regression")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["history: *1 regression(s) (--no-fail-on-regression)"])

    with sqlite3.connect(pytester.path / "reports" / "history.sqlite") as conn:
        runs = conn.execute("SELECT profile, exitstatus FROM runs ORDER BY started").fetchall()
        (message,) = conn.execute("SELECT count(*) FROM checks").fetchone()
    assert runs == [("nightly", 0)] * 3 + [("nightly", 1), ("nightly", 0)]
    assert message == 10


@pytest.mark.usefixtures("secrets_set")
def test_a_check_that_always_passed_and_fails_tonight_is_named_a_new_failure(pytester, make_target):
    target = make_target(pytester.path / "t.yaml", environment="lab", extra=TOLERANCES)
    _night(pytester, target, 1.0)
    result, summary = _night(pytester, target, 1.0, fio="degraded")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["  new failure: test_nightly.py::test_fusion_io_card fails, and passed on the last "
                                 "1 run(s): host h1: Fusion-IO card not healthy*"])
    assert [f["kind"] for f in summary["history"]["flags"]] == ["new_failure"]  # known ones: tests/unit/report

    # the operators' page of the run, written last, and re-rendered on demand (cloudgate report RUN)
    page = pytester.path / "reports" / "latest" / "index.html"
    result.stdout.fnmatch_lines(["page: */index.html"])
    assert "Fusion-IO card not healthy" in page.read_text()
    page.unlink()
    again = subprocess.run([sys.executable, "-m", "cloudgate.cli", "report", summary["run_id"], "--reports-dir",
                            str(pytester.path / "reports")], capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 0 and page.exists(), again.stderr
    run_dir = page.resolve().parent
    shutil.rmtree(run_dir)  # the run's directory cleaned away: its page comes back from the history
    again = subprocess.run([sys.executable, "-m", "cloudgate.cli", "report", summary["run_id"], "--reports-dir",
                            str(pytester.path / "reports")], capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 0, again.stderr
    assert "Fusion-IO card not healthy" in (run_dir / "index.html").read_text()
    missing = subprocess.run([sys.executable, "-m", "cloudgate.cli", "report", "no-such-run", "--reports-dir",
                              str(pytester.path / "reports")], capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1, missing.stderr


@pytest.mark.usefixtures("secrets_set")
def test_a_history_from_a_newer_cloudgate_is_refused_in_one_line_and_fails_the_run(pytester, make_target):
    target = make_target(pytester.path / "t.yaml", environment="lab")
    (pytester.path / "reports").mkdir()
    with sqlite3.connect(pytester.path / "reports" / "history.sqlite") as conn:
        conn.execute("PRAGMA user_version = 99")
    result, summary = _night(pytester, target, 1.0)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["cloudgate: history not recorded: *history.sqlite: history schema 99 is newer than "
                                 "this cloudgate's (2); refusing to use it (never downgraded)*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
