"""The runners file: strict schema, defaults applied, every problem one line `file:line: field: problem`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudgate.runners.model import DEFAULT_WORKERS, RunnersError, load_runners, parse_runners

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
connect_timeout_seconds: 4
defaults:
  identity_file: keys/runner_ed25519
  known_hosts: keys/known_hosts
  python: /opt/cloudgate/.venv/bin/python
  chdir: /opt/cloudgate
runners:
  - {name: run-a, address: 10.1.0.11}
  - {name: run-b, address: runner-b.example.net, user: cg, port: 2222, workers: 8}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "runners.yaml"
    path.write_text(text)
    return path


def problem(tmp_path: Path, text: str) -> str:
    with pytest.raises(RunnersError) as err:
        load_runners(write(tmp_path, text))
    line = str(err.value)
    assert "\n" not in line
    return line


def test_defaults_apply_to_every_runner_and_local_paths_are_relative_to_the_file(tmp_path):
    loaded = load_runners(write(tmp_path, GOOD))
    a, b = loaded.runners
    assert (a.name, a.address, a.user, a.port, a.workers) == ("run-a", "10.1.0.11", "root", 22, DEFAULT_WORKERS)
    assert (b.user, b.port, b.workers) == ("cg", 2222, 8)
    assert a.identity_file == str(tmp_path / "keys" / "runner_ed25519")
    assert a.known_hosts == str(tmp_path / "keys" / "known_hosts")
    assert a.python == "/opt/cloudgate/.venv/bin/python" and a.chdir == "/opt/cloudgate"
    assert loaded.strict_host_keys and loaded.file.connect_timeout_seconds == 4
    assert b.where == "cg@runner-b.example.net:2222"


def test_a_lab_runners_file_needs_no_known_hosts_and_does_not_check_host_keys(tmp_path):
    text = GOOD.replace("  known_hosts: keys/known_hosts\n", "")
    assert "known_hosts: required outside the lab (host keys are checked strictly)" in problem(tmp_path, text)
    loaded = load_runners(write(tmp_path, "lab: true\n" + text))
    assert not loaded.strict_host_keys and loaded.runners[0].known_hosts is None


@pytest.mark.parametrize(("edit", "expected"), [
    (("connect_timeout_seconds: 4", "connect_timeout_seconds: 4\nretries: 3"),
     "runners.yaml:2: retries: unknown key (not part of the runners file)"),
    (("workers: 8}", "workers: 0}"), "runners.yaml:9: runners[1].workers: Input should be greater than or equal to 1"),
    (("address: 10.1.0.11", "address: root@10.1.0.11"), "runners.yaml:8: runners[0].address: must be a host name "
                                                         "or an IP address (the user goes in `user`)"),
    (("user: cg", "user: 'C G'"), "runners.yaml:9: runners[1].user: must be a login name"),
    (("name: run-b", "name: run-a"), "runners.yaml:9: runners[1].name: runner name 'run-a' is used twice (runners[0])"),
    (("python: /opt/cloudgate/.venv/bin/python", "python: .venv/bin/python"),
     "runners.yaml:5: defaults.python: must be an absolute path on the runner"),
    (("chdir: /opt/cloudgate", "chdir: /opt/cloud gate"), "runners.yaml:6: defaults.chdir: must not contain blanks"),
    (("  python: /opt/cloudgate/.venv/bin/python\n", ""),
     "runners.yaml:7: runners[0] (run-a): python: required (on the runner or in defaults)"),
    (("  known_hosts: keys/known_hosts\n", ""),
     "runners.yaml:7: runners[0] (run-a): known_hosts: required outside the lab"),
    (("connect_timeout_seconds: 4", "connect_timeout_seconds: soon"),
     "runners.yaml:1: connect_timeout_seconds: Input should be a valid number"),
])
def test_a_malformed_runners_file_is_one_line_naming_the_file_line_and_field(tmp_path, edit, expected):
    old, new = edit
    assert old in GOOD
    assert problem(tmp_path, GOOD.replace(old, new)).startswith(f"{tmp_path}/{expected}")


def test_not_yaml_not_a_mapping_no_runners_and_no_file_are_one_line_each(tmp_path):
    assert problem(tmp_path, "runners: [\n").startswith(f"{tmp_path}/runners.yaml:2: not valid YAML")
    assert problem(tmp_path, "- a\n- b\n").endswith("a runners file must be a mapping (runners: [...], defaults: {...})")
    assert problem(tmp_path, "runners: []\n").endswith("runners: List should have at least 1 item after validation, "
                                                       "not 0")
    with pytest.raises(RunnersError, match="runners file not found"):
        load_runners(tmp_path / "missing.yaml")
    more = parse_runners  # several problems: the first is named, the others counted
    with pytest.raises(RunnersError, match=r"\(and 1 more problem\(s\)\)$"):
        more("runners: [{name: a, address: b, port: 0, workers: 0}]\n")


def test_cloudgate_run_with_a_malformed_runners_file_says_so_in_one_line_before_anything_runs(tmp_path):
    target = tmp_path / "t.yaml"
    target.write_text("name: t\nenvironment: preproduction\ncloudstack:\n  endpoint: http://127.0.0.1:9/client/api\n"
                      "  api_key_env: CG_T_KEY\n  secret_key_env: CG_T_SECRET\nssh:\n  identity_file: /dev/null\n"
                      "  known_hosts: /dev/null\ndatacenters:\n  - {name: dc1, zone: z1}\n")
    bad = write(tmp_path, GOOD.replace("workers: 8}", "workers: many}"))
    proc = subprocess.run([sys.executable, "-m", "cloudgate.cli", "run", "--target", str(target), "--runners", str(bad),
                           "--paths", "tests/infra/test_hypervisors.py"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "CG_T_KEY": "k", "CG_T_SECRET": "s"}, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"cloudgate: error: {bad}:9: runners[1].workers: Input should be a valid integer, unable to parse string as "
        "an integer"]
