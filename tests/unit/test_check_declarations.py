"""Every check declares its id, severity, tier and plane; the plugin refuses one that does not, and
`--plane` selects by the declaration, wherever the check lives (the `gate during` defect)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudgate.checkdecl import PLANES, TIERS, CheckDeclaration, DeclarationError, declaration, declared_in

SUITE = Path(__file__).resolve().parents[2] / "tests" / "infra"


def _suite_checks() -> list[tuple[str, str, CheckDeclaration | DeclarationError]]:
    return [(path.name, function, decl) for path in sorted(SUITE.glob("test_*.py"))
            for function, decl in declared_in(path.read_text())]


def test_every_check_of_the_suite_declares_a_known_tier_and_plane():
    checks = _suite_checks()
    assert len(checks) >= 38
    bad = [f"{module}::{function}: {decl}" for module, function, decl in checks if isinstance(decl, DeclarationError)]
    assert not bad, "checks without a valid declaration:\n" + "\n".join(bad)
    declared = [d for _, _, d in checks if isinstance(d, CheckDeclaration)]
    assert {d.plane for d in declared} == set(PLANES) and {d.tier for d in declared} == set(TIERS)


def test_deploying_through_the_api_is_control_plane_wherever_its_file_is():
    planes = {d.check_id: d.plane for _, _, d in _suite_checks() if isinstance(d, CheckDeclaration)}
    assert planes["CG-DEPLOY-002"] == planes["CG-DEPLOY-001"] == planes["CG-CS-001"] == "control"
    assert planes["CG-FIO-002"] == planes["CG-CASS-006"] == planes["CG-DRILL-005"] == "data"


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"id": "CG-X-001", "severity": "major", "tier": "cassandra"}, "CG-X-001: no plane; declare plane= one of data, control"),
    ({"id": "CG-X-001", "severity": "major", "plane": "data"}, "no tier"),
    ({"id": "CG-X-001", "severity": "major", "tier": "cassandra", "plane": "both"}, "plane='both'"),
    ({"id": "CG-X-001", "severity": "urgent", "tier": "cassandra", "plane": "data"}, "severity='urgent'"),
    ({"id": "X-1", "severity": "major", "tier": "cassandra", "plane": "data"}, "not of the form CG-AREA-NNN"),
    ({"id": "CG-X-001", "severity": "major", "tier": "cassandra", "plane": "data", "owner": "me"}, "unknown declaration owner"),
])
def test_a_declaration_missing_or_wrong_is_one_line_naming_it(kwargs, words):
    with pytest.raises(DeclarationError, match=None) as raised:
        declaration((), kwargs)
    assert words in str(raised.value) and "\n" not in str(raised.value)
