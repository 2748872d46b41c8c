"""Helpers of the suite's self-tests (a module with a unique name: test files import it directly)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


# Hypothesis's pytest plugin imports all of Hypothesis at the end of every pytest process (~1.4 s
# here); the self-tests start dozens of pytest processes whose suites never use it.
WITHOUT_HYPOTHESIS = ("-p", "no:hypothesispytest")


class SecretEnv(dict):
    """The lab's API key and secret as environment variables; its repr names them, never their values.

    pytest prints a failing test's fixtures (the `lab` dict among them) in its traceback: without
    this the lab's credentials would land in `make test`'s output and CI logs.
    """

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: '***'" for k in self) + "}"


def write_target(path: Path, *, name: str = "selftest", environment: str = "production", extra: str = "") -> Path:
    """A minimal valid target file; its endpoint is loopback port 9 and is never contacted."""
    known = "" if environment == "lab" else "  known_hosts: /dev/null\n"
    path.write_text(
        f"name: {name}\n"
        f"environment: {environment}\n"
        "cloudstack:\n"
        "  endpoint: http://127.0.0.1:9/client/api\n"
        "  api_key_env: CG_SELFTEST_KEY\n"
        "  secret_key_env: CG_SELFTEST_SECRET\n"
        "ssh:\n"
        "  identity_file: /dev/null\n"
        f"{known}"
        "datacenters:\n"
        "  - {name: dc1, zone: zone-1}\n"
        f"{extra}"
    )
    return path


# --------------------------------------------------------------------------- the lab as a target


LAB_TARGET = REPO / "fixtures" / "targets" / "lab.yaml"


@dataclass
class SuiteRun:
    """One run of the real suite (a pytest subprocess) against the lab, read back from its junit."""

    returncode: int
    stdout: str
    stderr: str
    cases: dict[str, tuple[str, str]]  # test name with params -> (outcome, message)
    summary: dict
    reports: Path | None = None  # the run's report directory
    headlines: dict[str, str] | None = None  # failed test -> its failure's message attribute (the E line)

    def outcome(self, name: str) -> str:
        return self.cases[name][0]

    def message(self, name: str) -> str:
        return self.cases[name][1]

    def failed(self) -> dict[str, str]:
        return {n: m for n, (o, m) in self.cases.items() if o in ("failed", "error")}


def parse_junit(path: Path) -> dict[str, tuple[str, str]]:
    cases = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "not_run"}[tag]
                # the body is what an operator reads under the test name; the attribute is its summary
                message = (node.text or "").strip() or (node.get("message") or "")
                break
        cases[case.get("name")] = (outcome, message)
    return cases


def failure_headlines(path: Path) -> dict[str, str]:
    """Failed test -> the message of its <failure>/<error>: what the check said, without the source
    lines pytest prints above it (a literal in the source must not count as the check's message)."""
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        for tag in ("failure", "error"):
            node = case.find(tag)
            if node is not None:
                out[case.get("name")] = node.get("message") or ""
    return out


def derived_target(tmp_path: Path, name: str = "lab-derived.yaml", **overrides: dict) -> Path:
    """lab.yaml with some sections overridden (e.g. thresholds), for faults measured by a limit."""
    data = yaml.safe_load(LAB_TARGET.read_text())
    for section, values in overrides.items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path




def short_front_probe_target(tmp_path: Path) -> Path:
    """lab.yaml with the front door's load cut to 4 s (200 requests per service and datacenter, which resolve a
    1 % promise): for self-tests that run whole profiles to test something else (the gate's flow, the planes),
    so each does not pay the nightly's 20 s load. The front checks still run, and must still pass."""
    data = yaml.safe_load(LAB_TARGET.read_text())
    front = data["frontends"]
    front["probe"] = {**front.get("probe", {}), "seconds": 4}
    front["promises"] = {**front.get("promises", {}), "error_ratio": 0.01}
    path = tmp_path / "lab-short-front-probe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
