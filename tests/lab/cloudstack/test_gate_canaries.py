"""The gate's canaries against the simulator, through each upgrade regression: every one is seen.

A clean upgrade leaves the canaries there, unchanged and usable; each regression the lab can ship
(cloudgate_lab/cloudstack/upgrade.py) makes `verify_existing` or `verify_usable` name it in one line,
which the gate turns into a NO-GO reason (cloudgate/gate/verdict.py). No Cassandra here (the canary
rows are proven on the whole lab, tests/self/test_gate_lab.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cs_lab_helpers import CREDENTIALS, Lab
from pydantic import SecretStr

from cloudgate.cloudstack.client import CloudStackClient
from cloudgate.gate import canaries as canary
from cloudgate.ledger import Ledger, pending, read
from cloudgate.target import Target, load_target

REPO = Path(__file__).resolve().parents[3]
RUN = "20261202T050000Z-lab-gate-4242"


def _target() -> Target:
    target = load_target(REPO / "fixtures" / "targets" / "lab.yaml").target
    return target.model_copy(update={"cassandra": None})


def _client(lab: Lab) -> CloudStackClient:
    return CloudStackClient("lab", lab.handle.endpoint, CREDENTIALS["api_key"], SecretStr(CREDENTIALS["secret_key"]),
                            job_timeout=30, allow_mutations=True)


@pytest.fixture
def made(lab: Lab, tmp_path: Path) -> tuple[canary.Canaries, Ledger]:
    ledger = Ledger(tmp_path / "ledger.jsonl", run=RUN, target="lab")
    return canary.create(_client(lab), _target(), ledger, RUN), ledger


def _after(lab: Lab, made: tuple[canary.Canaries, Ledger], *regressions: str) -> list[str]:
    canaries, ledger = made
    lab.upgrade("4.20.0.0", *regressions)
    client = _client(lab)  # a new connection: the management server restarted
    return canary.verify_existing(client, canaries) + canary.verify_usable(client, _target(), ledger, RUN, canaries)


def test_the_canaries_are_a_vm_in_an_anti_affinity_group_a_stopped_vm_and_a_tag_all_in_the_ledger(lab, made):
    canaries, ledger = made
    assert canaries.running_vm_host and canaries.hosts and canaries.tag_value == RUN
    kinds = sorted(e.kind for e in pending(read(ledger.path)))
    assert kinds == ["affinity_group", "vm", "vm"]
    assert all(e.scope == canary.CANARY_SCOPE for e in read(ledger.path))


def test_after_a_clean_upgrade_every_canary_is_there_unchanged_and_usable(lab, made):
    assert _after(lab, made) == []
    assert [e.kind for e in pending(read(made[1].path))] == ["affinity_group", "vm", "vm"], "the probe VM is gone"


@pytest.mark.parametrize(("regression", "words"), [
    ("anti-affinity-ignored", "host anti-affinity is not honoured"),
    ("stopped-vms-expunged", "Stopped before the upgrade, is gone"),
    ("host-list-truncated", "listHosts no longer lists"),
    ("tags-lost", "lost its tag cloudgate-canary="),
])
def test_each_upgrade_regression_is_named_by_the_canaries(lab, made, regression, words):
    problems = _after(lab, made, regression)
    assert any(words in p for p in problems), problems
    assert all("\n" not in p for p in problems)
