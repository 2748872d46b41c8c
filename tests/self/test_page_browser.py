"""The operators' page opened in headless Chromium: it loads with no console error, says what the run's
summary says, and its screenshot lands in the run's reports. A healthy night, a night that cannot
deploy, and a NO-GO gate (run directories as the plugin and the gate write them; the page of a lab
fault and of a real NO-GO are opened by test_lab_faults.py and test_gate_lab.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from browser import open_page

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "report"))
from test_page import failing, healthy_results, make_run  # noqa: E402

from cloudgate.report.page import render_run_page  # noqa: E402


def _counts_line(run_dir: Path) -> list[str]:
    outcomes = json.loads((run_dir / "summary.json").read_text())["outcomes"]
    failed = sum(1 for o in outcomes.values() if o in ("failed", "error"))
    return [f"fail {failed}"]


def test_a_healthy_night_opens_green_with_no_console_error(tmp_path):
    run_dir = make_run(tmp_path)
    opened = open_page(render_run_page(run_dir), run_dir / "index.png")
    assert opened.console == []
    assert "Production runs and new VMs can be added." in opened.dom


def test_a_night_that_cannot_deploy_opens_saying_so_with_its_failing_check(tmp_path):
    results = failing(healthy_results(), "test_deploy_time", message="deploy of cg-probe-1 failed: no capacity")
    run_dir = make_run(tmp_path, results)
    opened = open_page(render_run_page(run_dir), run_dir / "index.png")
    assert opened.console == []
    assert "Production runs but no new VM can be added." in opened.dom
    assert "deploy of cg-probe-1 failed: no capacity" in opened.dom
    assert all(words in opened.dom for words in _counts_line(run_dir))
    # its runbook beside it, open (critical): what it means, the first actions, whom to call
    assert "<details open=\"\">" in opened.dom and "CG-DEPLOY-001 runbook" in opened.dom
    assert "escalate to <b>cloudstack-admin</b>" in opened.dom


def test_a_no_go_gate_opens_with_its_reasons(tmp_path):
    gate = {"go": False, "before": "b-run", "after": "a-run", "known": [],
            "reasons": [{"kind": "canary", "detail": "canary VM cg-gate-run lost its tag cloudgate-canary=b-run"}]}
    run_dir = make_run(tmp_path, gate=gate)
    opened = open_page(render_run_page(run_dir), run_dir / "index.png")
    assert opened.console == []
    assert "NO-GO" in opened.dom and "lost its tag cloudgate-canary=b-run" in opened.dom
    assert "But the upgrade gate says NO-GO." in opened.dom, "a red headline says why it is red"
