"""Every infrastructure check has a self-test that makes it fail.

A check nobody has seen fail may be unable to fail. This test reads the suite's checks (the
functions decorated ``@pytest.mark.check(id=...)``, parsed, not grepped) and requires each one's
name to appear as a string in the self-tests' code (a comment does not count): that is where a
fault is injected into the lab and the check is asserted to fail with its message.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _check_id(decorator: ast.expr) -> str | None:
    """The id of a ``pytest.mark.check(id=...)`` decorator, else None."""
    if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "pytest.mark.check":
        for kw in decorator.keywords:
            if kw.arg == "id" and isinstance(kw.value, ast.Constant):
                return str(kw.value.value)
        if decorator.args and isinstance(decorator.args[0], ast.Constant):
            return str(decorator.args[0].value)
    return None


def _checks() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "tests" / "infra").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                found += [(cid, node.name) for d in node.decorator_list if (cid := _check_id(d))]
    return found


def _strings_in_self_tests() -> list[str]:
    strings = []
    for path in (ROOT / "tests" / "self").glob("*.py"):
        if path.name != Path(__file__).name:
            strings += [n.value for n in ast.walk(ast.parse(path.read_text()))
                        if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return strings


def test_every_infrastructure_check_is_made_to_fail_by_a_self_test() -> None:
    checks = _checks()
    source = "".join(p.read_text() for p in (ROOT / "tests" / "infra").glob("test_*.py"))
    assert len(checks) == source.count("@pytest.mark.check("), "a check decorator the parser missed"
    ids = [cid for cid, _ in checks]
    assert len(ids) == len(set(ids)), f"check ids used twice: {sorted({i for i in ids if ids.count(i) > 1})}"
    strings = _strings_in_self_tests()
    unproven = [f"{cid} {fn}" for cid, fn in checks if not any(fn in s for s in strings)]
    assert not unproven, f"checks no self-test makes fail: {unproven}"
