"""Each lab fault of the proofs table makes the checks it proves fail, each with its words.

The suite is run for real (a pytest subprocess against the lab through the CloudStack API, SSH and
CQL) while the fault is in place, and its junit.xml is read back as CI would. A fault that proves
several checks (FirstFit placement breaks three dispersion checks) is injected once.
"""

from __future__ import annotations

import pytest
from browser import open_page
from proofs import FAULTS, faults_in_order, infra_checks, proofs_of

CHECKS = {c.check_id: c for c in infra_checks()}
PAGE_FAULT = "host:fio-degraded"  # its run's page is opened in headless Chromium too


def _probe_vms() -> list[str]:
    from cloudgate_lab import control

    listed = control.lab_client().listVirtualMachines(listall=True).get("virtualmachine", [])
    return [vm["name"] for vm in listed if vm["name"].startswith("cg-probe-")]


@pytest.mark.parametrize("fault", faults_in_order())
def test_the_lab_fault_fails_the_checks_it_proves_with_a_message_an_operator_can_act_on(run_suite, lab, tmp_path, fault):
    proofs = proofs_of(fault)
    refs = [CHECKS[p.check_id] for p in proofs]
    modules = sorted({r.module for r in refs})
    selection = " or ".join(sorted({r.function for r in refs}))
    with FAULTS[fault](tmp_path, lab) as spec:
        run = run_suite(*modules, "-k", selection, *spec.args, target=spec.target, env=spec.env, paths=(),
                        prefix=spec.prefix)
    failing = run.failed()
    for proof, ref in zip(proofs, refs, strict=True):
        test = f"{ref.function}[{proof.victim}]" if proof.victim else ref.function
        outcome = run.cases.get(test, ("absent", ""))[0]
        assert outcome == "failed", f"{proof.check_id} ({test}) is {outcome} under {fault}; failing: {sorted(failing)}"
        # the failure's own message (the E line), not the body: pytest prints the check's source above
        # it, and a literal there must not pass for what the check said
        message = (run.headlines or {}).get(test, "")
        assert proof.words in message, f"{proof.check_id} under {fault}: {proof.words!r} not in {message!r}"
        assert not proof.victim or proof.victim in message, f"{proof.check_id}: the message does not name {proof.victim}"
    assert not _probe_vms(), f"a check left probe VMs behind under {fault}"
    if fault == PAGE_FAULT:  # the page an operator opens after this night: one bad card, said at the top
        latest = tmp_path / "reports" / "latest"
        opened = open_page(latest / "index.html", latest / "index.png")
        assert opened.console == [] and "Data plane: FAILING" in opened.dom.replace("\n", " ")
    victims = {p.victim for p in proofs if p.victim}
    if victims and all(p.alone for p in proofs):
        others = [n for n in failing if "[" in n and not any(f"[{v}]" in n for v in victims)]
        assert not others, f"{fault} on {sorted(victims)} also failed healthy hosts: {others}"
