"""Every infrastructure check has a row in the proofs table, so a lab fault is seen to make it fail.

A check nobody has seen fail may be unable to fail. The table (tests/self/proofs.py) names, for
each check id, the lab fault that breaks it and the words its failure message must contain;
test_lab_faults.py injects each fault and asserts each of its checks *failed* with those words.
This guard needs no lab: it keeps the table and the suite in step.
"""

from __future__ import annotations

from proofs import FAULTS, PROOFS, infra_checks
from selfcheck import REPO


def test_the_check_parser_sees_every_check_decorator_and_ids_are_unique() -> None:
    checks = infra_checks()
    source = "".join(p.read_text() for p in (REPO / "tests" / "infra").glob("test_*.py"))
    assert len(checks) == source.count("@pytest.mark.check("), "a check decorator the parser missed"
    ids = [c.check_id for c in checks]
    assert len(ids) == len(set(ids)), f"check ids used twice: {sorted({i for i in ids if ids.count(i) > 1})}"


def test_every_infrastructure_check_has_a_lab_fault_that_must_make_it_fail() -> None:
    proven = {p.check_id for p in PROOFS}
    unproven = [f"{c.check_id} {c.function}" for c in infra_checks() if c.check_id not in proven]
    assert not unproven, f"checks no lab fault is proven to fail (add a row to tests/self/proofs.py): {unproven}"


def test_every_proof_names_a_real_check_a_known_fault_and_words_to_find() -> None:
    ids = {c.check_id for c in infra_checks()}
    assert not [p for p in PROOFS if p.check_id not in ids], "a proof for a check that does not exist"
    assert not [p for p in PROOFS if p.fault not in FAULTS], "a proof whose fault is not in FAULTS"
    assert all(len(p.words) >= 6 for p in PROOFS), "each proof must name what the message says, not a letter"
