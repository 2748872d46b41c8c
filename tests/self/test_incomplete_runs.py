"""A run cut short never reads as healthy: every selected check it did not finish is counted not run,
its page says so first, Prometheus is told nothing it did not earn, and the history keeps it apart
(pytester, no cloud needed)."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

SUITE = """
import os
import pytest

@pytest.mark.check(id="CG-CS-001", severity="critical", tier="cloudstack", plane="control")
def test_api_answers():
    assert not os.environ.get("API_DOWN"), "cloud1: listCapabilities refused (401)"

@pytest.mark.check(id="CG-HOST-001", severity="major", tier="hypervisor", plane="data")
@pytest.mark.parametrize("host", ["h1", "h2", "h3", "h4"])
def test_host(host):
    if host == os.environ.get("CUT_AT"):
        raise KeyboardInterrupt
"""
BROKEN_PLUGIN = """
import os

def pytest_runtest_logfinish(nodeid, location):
    if os.environ.get("CRASH_AT") and nodeid.endswith(os.environ["CRASH_AT"]):
        raise RuntimeError("a plugin broke")
"""


def _run(pytester: pytest.Pytester, target, **env: str):  # noqa: ANN001, ANN202
    pytester.makepyfile(test_suite=SUITE)
    pytester.makeconftest(BROKEN_PLUGIN)
    with pytest.MonkeyPatch.context() as mp:
        for key in ("CUT_AT", "CRASH_AT", "API_DOWN"):
            mp.delenv(key, raising=False)
        for key, value in env.items():
            mp.setenv(key, value)
        result = pytester.runpytest_subprocess(f"--target={target}", f"--reports-dir={pytester.path / 'reports'}",
                                               "-p", "no:cacheprovider")
    latest = pytester.path / "reports" / "latest"
    return result, json.loads((latest / "summary.json").read_text()), latest


@pytest.mark.usefixtures("secrets_set")
def test_a_run_cut_short_by_ctrl_c_counts_every_check_it_did_not_finish_and_never_reads_healthy(pytester, make_target):
    target = make_target(pytester.path / "t.yaml", environment="lab")
    result, complete, _ = _run(pytester, target)
    assert result.ret == 0 and complete["complete"] is True and complete["incomplete"] is None
    textfile = pytester.path / "reports" / "prometheus" / "cloudgate-selftest-nightly.prom"
    before = textfile.read_text()

    result, summary, latest = _run(pytester, target, CUT_AT="h2")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert summary["counts"]["passed"] == 2 and summary["counts"]["not_run"] == 3  # h2 cut short, h3 and h4 never began
    assert summary["complete"] is False
    assert summary["incomplete"] == {"why": "interrupted by Ctrl-C or a signal", "selected": 5, "not_finished": 3}
    assert summary["not_run"]["test_suite.py::test_host[h4]"].startswith("not run: cut short, the run ended before")
    result.stdout.fnmatch_lines(["RUN INCOMPLETE (interrupted by Ctrl-C or a signal): 3 of 5 selected check(s)*"])

    page = (latest / "index.html").read_text()
    assert "Run incomplete (interrupted by Ctrl-C or a signal): 3 of 5 selected checks did not finish" in page
    assert "Production runs" not in page  # no plane verdict it did not earn
    assert "run cut short: recorded, not compared" in page
    result.stdout.fnmatch_lines(["history: recorded as interrupted: not compared*"])
    own = (latest / "cloudgate.prom").read_text()
    assert "cloudgate_area_ok{" not in own and 'cloudgate_run_complete{profile="nightly",target="selftest"} 0.0' in own
    assert textfile.read_text() == before, "a run cut short replaced the last complete run's textfile"

    with sqlite3.connect(pytester.path / "reports" / "history.sqlite") as conn:
        kinds = [k for (k,) in conn.execute("SELECT kind FROM runs ORDER BY started")]
        cut = dict(conn.execute("SELECT c.nodeid, c.check_id FROM checks c JOIN runs r USING (run_id) "
                                "WHERE r.kind = 'interrupted'").fetchall())
    assert kinds == ["run", "interrupted"]
    assert cut["test_suite.py::test_host[h4]"] == "CG-HOST-001"  # a check that never began keeps its id (its area)

    time.sleep(1.05)  # runs are stamped to the second; a run compares only with runs started before it
    result, after, _ = _run(pytester, target)
    assert result.ret == 0 and after["history"]["baseline_runs"] == [complete["run_id"]]  # the cut run is no baseline


@pytest.mark.usefixtures("secrets_set")
def test_a_run_stopped_by_an_internal_error_is_incomplete_too(pytester, make_target):
    target = make_target(pytester.path / "t.yaml", environment="lab")
    result, summary, latest = _run(pytester, target, CRASH_AT="test_host[h1]")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    assert summary["complete"] is False and summary["incomplete"]["why"] == "stopped by an internal error"
    assert summary["counts"]["passed"] == 2 and summary["counts"]["not_run"] == 3
    assert "Run incomplete (stopped by an internal error)" in (latest / "index.html").read_text()


@pytest.mark.usefixtures("secrets_set")
def test_a_complete_run_names_each_failure_in_its_summary_in_one_line(pytester, make_target):
    target = make_target(pytester.path / "t.yaml", environment="lab")
    result, summary, _ = _run(pytester, target, API_DOWN="1")
    assert result.ret == 1 and summary["complete"] is True
    assert summary["failures"] == {"test_suite.py::test_api_answers": "cloud1: listCapabilities refused (401)"}
