"""The plugin reads each check's declaration: `--plane` selects by it, and a check without one stops the
run in one line (pytester, no cloud needed). With the lab: the management server stopped, the data
plane is whole and every control-plane check fails or is not run, naming why, whatever its file."""

from __future__ import annotations

import json

import pytest

PLUGIN_SUITE = """
import json

import pytest

@pytest.mark.check(id="CG-CS-001", severity="critical", tier="cloudstack", plane="control")
def test_api():
    pass

@pytest.mark.check(id="CG-DEPLOY-002", severity="critical", tier="cloudstack", plane="control")
def test_deploy_in_another_file_like_place():
    pass

@pytest.mark.check(id="CG-FIO-002", severity="critical", tier="hypervisor", plane="data")
def test_card():
    pass
"""


def test_plane_selects_by_declaration_and_an_undeclared_check_stops_the_run_in_one_line(pytester):
    pytester.makepyfile(test_suite=PLUGIN_SUITE)
    result = pytester.runpytest_subprocess("--plane=data", "-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1, deselected=2)
    result = pytester.runpytest_subprocess("--plane=control", "-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2, deselected=1)
    pytester.makepyfile(test_undeclared='import pytest\n\n@pytest.mark.check(id="CG-CS-009", severity="major")\n'
                                        'def test_x():\n    pass\n')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and "test_undeclared.py::test_x: CG-CS-009: no tier" in errors[0], errors


def _declared(run) -> dict[str, str]:  # noqa: ANN001 - selfcheck.SuiteRun
    """nodeid -> the plane its check declares, as the run recorded it (selected.json)."""
    raw = json.loads((run.reports / "selected.json").read_text())
    return {nodeid: values[3] for nodeid, values in raw.items()}


def test_with_the_management_server_stopped_the_data_plane_is_whole_and_each_control_check_says_why(lab, run_suite,
                                                                                                   tmp_path):
    from selfcheck import short_front_probe_target

    from cloudgate_lab import control

    healthy = run_suite("--profile=smoke")  # leaves the last good estate snapshot in the run's reports dir
    assert healthy.returncode == 0, healthy.stdout[-2000:]
    control.mgmt_stop()  # the operators' incident: the manager stopped, production running
    try:
        smoke = run_suite("--profile=smoke")
        during = run_suite("--profile=gate", "--allow-destructive", "--plane=data",  # what `gate during` runs
                           target=short_front_probe_target(tmp_path))
    finally:
        control.mgmt_start()
    planes = _declared(smoke)
    outcomes, failures, not_run = (smoke.summary[k] for k in ("outcomes", "failures", "not_run"))
    data = {n: o for n, o in outcomes.items() if planes.get(n) == "data"}
    assert data and all(o == "passed" for o in data.values()), {n: failures.get(n) for n, o in data.items() if o != "passed"}
    control_checks = {n: o for n, o in outcomes.items() if planes.get(n) == "control"}
    assert control_checks and all(o in ("failed", "error", "not_run") for o in control_checks.values()), control_checks
    unexplained = [n for n in control_checks if not (failures.get(n) or not_run.get(n))]
    assert not unexplained, f"control-plane checks failed without saying why: {unexplained}"
    assert "Data plane: OK" in (smoke.reports / "index.html").read_text()

    assert during.returncode == 0, during.stdout[-3000:]
    selected = _declared(during)
    assert selected and set(selected.values()) == {"data"}, "a control-plane check ran with the API down"
    assert not [n for n in selected if "anti_affinity" in n or "deploy" in n]
