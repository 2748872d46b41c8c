"""GO / NO-GO from the before and after runs and the canaries: a pure function, no cloud needed."""

from __future__ import annotations

import pytest

from cloudgate.gate.verdict import judge
from cloudgate.report.history import CheckRecord, MetricRecord, RunRecord
from cloudgate.report.regression import IncomparableRuns
from cloudgate.target import HistorySection

TOLERANCES = HistorySection().all_tolerances()
HOST_CHECK = "tests/infra/test_hypervisors.py::test_kernel[dc1-r1-h2]"


def _run(run_id: str, deploy_p95: float = 1.5, version: str = "4.19.1.0", fio: str = "passed",
         hosts: tuple[str, ...] = ("dc1-r1-h1", "dc1-r1-h2")) -> RunRecord:
    checks = [CheckRecord(f"tests/infra/test_hypervisors.py::test_kernel[{h}]", "passed", "CG-HOST-002") for h in hosts]
    checks.append(CheckRecord("tests/infra/test_fusionio.py::test_card[dc1-r1-h1]", fio, "CG-FIO-002",
                              message="" if fio == "passed" else "card not healthy"))
    return RunRecord(run_id=run_id, target="lab", environment="lab", profile="gate", revision="r", started=run_id,
                     ended=run_id, exitstatus=0, cloudstack_version=version, checks=checks,
                     metrics=[MetricRecord("deploy.total.p95", deploy_p95, "s", 300.0, "lower", "pass")])


def test_a_clean_upgrade_is_go():
    verdict = judge(_run("b"), _run("a", deploy_p95=1.6, version="4.20.0.0"), [], TOLERANCES, "4.20.0.0")
    assert verdict.go and "GO — after a compared with before b" in verdict.table()


def test_each_kind_of_breakage_is_a_reason_with_its_line():
    after = _run("a", deploy_p95=7.5, version="4.19.1.0", fio="failed", hosts=("dc1-r1-h1",))
    verdict = judge(_run("b"), after, ["canary VM cg-gate-run lost its tag cloudgate-canary=b"], TOLERANCES, "4.20.0.0")
    kinds = [r.kind for r in verdict.reasons]
    assert kinds == ["new failure", "missing check", "regression", "canary", "version"]
    table = verdict.table()
    assert table.splitlines()[0].startswith("gate: NO-GO")
    assert "deploy.total.p95 = 7.5 s, 6 s (+400%) above the before run b (1.5 s; tolerance 25%)" in table
    assert f"CG-HOST-002 {HOST_CHECK} ran in b (passed) and did not run now" in table
    assert "CloudStack reports 4.19.1.0; the upgrade announced 4.20.0.0 (unchanged: was the upgrade applied?)" in table


def test_a_check_that_failed_before_the_upgrade_too_is_known_not_a_reason():
    verdict = judge(_run("b", fio="failed"), _run("a", fio="failed"), [], TOLERANCES)
    assert verdict.go and len(verdict.known) == 1 and "known (failed before too)" in verdict.table()


def test_runs_of_another_target_or_profile_are_not_compared():
    other = _run("a")
    other.profile = "nightly"
    with pytest.raises(IncomparableRuns, match="one target and one profile only"):
        judge(_run("b"), other, [], TOLERANCES)
