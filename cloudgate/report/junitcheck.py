"""Refuse a green result that tested nothing or skipped something: exit 1 unless every test passed.

CI calls `make test`, which ends with this check, so "exit 0" always means "tests ran and passed".
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def summarize(path: str) -> tuple[int, int, int, int]:
    """(tests, failures+errors, skipped, passed) over every testsuite of a junit file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = sum(int(s.get("tests", 0)) for s in suites)
    bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return tests, bad, skipped, tests - bad - skipped


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m cloudgate.report.junitcheck JUNIT.xml", file=sys.stderr)
        return 2
    try:
        tests, bad, skipped, passed = summarize(argv[0])
    except (OSError, ET.ParseError) as exc:
        print(f"junitcheck: {argv[0]}: cannot read junit file: {exc}", file=sys.stderr)
        return 1
    print(f"junitcheck: {tests} tests, {passed} passed, {bad} failed/error, {skipped} not run")
    if tests == 0 or passed == 0:
        print("junitcheck: no test passed: refusing to call this run green", file=sys.stderr)
        return 1
    if skipped:
        print(f"junitcheck: {skipped} test(s) not run: the project's tests must all run here", file=sys.stderr)
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
