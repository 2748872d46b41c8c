"""The drills never touch production: refused in one line each, even with --allow-destructive.

No lab here: the target's endpoint is loopback port 9 and must never be contacted (a drill that
reached it would fail on a refused connection instead of being refused itself).
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from selfcheck import REPO, WITHOUT_HYPOTHESIS, write_target

CASSANDRA = ("cassandra:\n"
             "  contact_points: {dc1: [127.0.0.1]}\n"
             "  local_dc: dc1\n"
             "drills:\n"
             "  management_server: {stop_command: 'false', start_command: 'false'}\n")


@pytest.mark.usefixtures("secrets_set")
def test_a_drill_against_a_production_target_refuses_to_start_even_with_allow_destructive(tmp_path):
    target = write_target(tmp_path / "prod.yaml", environment="production", extra=CASSANDRA)
    reports = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/infra/test_failover_drills.py", f"--target={target}",
         "--allow-destructive", f"--reports-dir={reports}", "-p", "no:cacheprovider", *WITHOUT_HYPOTHESIS, "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    junit = ET.parse(reports / "latest" / "junit.xml").getroot()
    cases = list(junit.iter("testcase"))
    drills = (REPO / "tests/infra/test_failover_drills.py").read_text().count('@pytest.mark.check(id="CG-DRILL-')
    assert len(cases) == drills >= 6, proc.stdout[-2000:]
    for case in cases:
        skipped = case.find("skipped")
        assert skipped is not None, f"{case.get('name')} was not refused: {proc.stdout[-1500:]}"
        message = skipped.get("message", "")
        assert "refused on an environment: production target" in message and "\n" not in message, message
    assert not (reports / "latest" / "ledger.jsonl").exists() or "intend" not in (reports / "latest" / "ledger.jsonl").read_text()
    assert proc.returncode != 0, "a run in which nothing passed must not exit 0"
