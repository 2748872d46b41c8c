"""Every infrastructure check has a self-test that makes it fail.

A check nobody has seen fail may be unable to fail. This test reads the suite's checks (the
functions marked ``@pytest.mark.check``) and requires each one's name to appear in a self-test,
where a fault is injected into the lab and the check is asserted to fail with its message.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK = re.compile(r'@pytest\.mark\.check\(id="([^"]+)"[^)]*\)\s*(?:@[^\n]*\n\s*)*def (\w+)')


def _checks() -> dict[str, str]:
    found = {}
    for path in sorted((ROOT / "tests" / "infra").glob("test_*.py")):
        for check_id, function in CHECK.findall(path.read_text()):
            found[check_id] = function
    return found


def test_every_infrastructure_check_is_made_to_fail_by_a_self_test() -> None:
    checks = _checks()
    assert len(checks) >= 28, sorted(checks)  # the parser still finds the suite's checks
    self_tests = "".join(p.read_text() for p in (ROOT / "tests" / "self").glob("test_*.py")
                         if p.name != Path(__file__).name)
    unproven = sorted(f"{cid} {fn}" for cid, fn in checks.items() if fn not in self_tests)
    assert not unproven, f"checks no self-test makes fail: {unproven}"
