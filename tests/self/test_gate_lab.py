"""The upgrade gate on the whole lab: a clean upgrade is GO (its data plane whole while the management
server is down), a slow-deploy regression is NO-GO naming it.

`cloudgate gate before` runs a narrow gate profile (the deploy-time check and the API check, for
time) and makes the canaries; `cloudgate lab upgrade` restarts the lab's CloudStack as a new
version, clean or with a regression; `cloudgate gate after` verifies the canaries and compares.
Each other regression is proven through the canaries on the simulator
(tests/lab/cloudstack/test_gate_canaries.py); the verdict's every reason in tests/unit/gate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from browser import open_page
from selfcheck import REPO, short_front_probe_target

from cloudgate.ledger import ledgers_under, pending, read

# a control-plane check in each of two files (deploy time; the anti-affinity deploy, the file `gate
# during` once forgot) and a data-plane one: `during` must run only the last, whatever the files
NARROW = ["--", "-k", "concurrent_vm_deploys or cloudstack_api_answers or parallel_deploys_of_one_anti_affinity_group "
          "or fusionio_card_is_healthy"]


def _cloudgate(lab: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cloudgate.cli", *args], cwd=REPO, env={**os.environ, **lab["env"]},
                          capture_output=True, text=True, timeout=600, check=False)


def _gate(lab: dict, reports: Path, step: str, *args: str) -> subprocess.CompletedProcess:
    # the lab's target with a 4-s front-door load: `gate during` runs every data-plane check, and this test
    # is about the gate's flow, not the front door's figures (those have their own self-tests)
    target = short_front_probe_target(reports.parent)
    return _cloudgate(lab, "gate", step, "--target", str(target), "--reports-dir", str(reports), *args)


def _canary_vms() -> list[str]:
    from cloudgate_lab import control

    return [v["name"] for v in control.lab_client().listVirtualMachines(listall=True).get("virtualmachine", [])
            if "-gate-" in v["name"]]


def _upgrade(version: str, *regressions: str) -> None:
    from cloudgate_lab import control

    control.upgrade(version, list(regressions))


def test_a_clean_upgrade_is_go_and_a_slow_deploy_regression_is_no_go_naming_it(lab, tmp_path):
    reports = tmp_path / "reports"
    alone = _gate(lab, reports, "after")
    assert alone.returncode == 2 and "no gate open for lab" in alone.stderr and "Traceback" not in alone.stderr
    assert len(alone.stderr.strip().splitlines()) == 1, alone.stderr

    opened = _gate(lab, reports, "before", "--upgrade-to", "4.20.0.0", *NARROW)
    assert opened.returncode == 0, opened.stdout[-3000:] + opened.stderr
    assert "gate before: open for lab" in opened.stdout
    assert len(_canary_vms()) == 2
    twice = _gate(lab, reports, "before", *NARROW)
    assert twice.returncode == 2 and "a gate for lab is already open" in twice.stderr
    try:
        from cloudgate_lab import control

        control.mgmt_stop()  # the upgrade window: the control plane down, the workloads up
        try:
            window = _gate(lab, reports, "during")
        finally:
            control.mgmt_start()
        assert window.returncode == 0, window.stdout[-3000:] + window.stderr
        assert "CloudStack down, as expected during the upgrade" in window.stdout
        assert "data plane whole with the control plane down" in window.stdout
        during_run = reports / json.loads((reports / "gate-lab" / "gate.json").read_text())["during_runs"][-1]
        ran = json.loads((during_run / "summary.json").read_text())["outcomes"]
        assert ran and all("fusionio_card_is_healthy" in nodeid for nodeid in ran), sorted(ran)
        _upgrade("4.20.0.0")
        clean = _gate(lab, reports, "after")
        assert clean.returncode == 0, clean.stdout[-3000:] + clean.stderr
        assert "gate: GO" in clean.stdout
    finally:
        closed = _gate(lab, reports, "destroy")
    assert closed.returncode == 0, closed.stdout + closed.stderr
    assert _canary_vms() == [] and all(not pending(read(p)) for p in ledgers_under(reports))

    opened = _gate(lab, reports, "before", "--upgrade-to", "4.21.0.0", *NARROW)
    assert opened.returncode == 0, opened.stdout[-3000:] + opened.stderr
    try:
        _upgrade("4.21.0.0", "slow-deploy")
        slow = _gate(lab, reports, "after")
        assert slow.returncode == 1, slow.stdout[-3000:] + slow.stderr
        verdict = (reports / "gate-lab" / "gate-verdict.txt").read_text()
        assert verdict.startswith("gate: NO-GO") and "regression" in verdict and "deploy.total.p95" in verdict, verdict
        after_run = reports / json.loads((reports / "gate-lab" / "gate-verdict.json").read_text())["after"]
        opened = open_page(after_run / "index.html", after_run / "index.png")  # what the operator opens
        assert opened.console == [] and "But the upgrade gate says NO-GO." in opened.dom
        assert "deploy.total.p95" in opened.dom
    finally:
        _upgrade("4.22.0.0")  # roll forward to a fixed release: the other self-tests expect a clean simulator
        closed = _gate(lab, reports, "destroy")
    assert closed.returncode == 0, closed.stdout + closed.stderr
    assert _canary_vms() == []
