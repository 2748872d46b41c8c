"""A bad target file gets one line naming the file, the line and the field; nothing runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cloudgate.target import TargetError, load_target


def one_line_error(path: Path) -> str:
    with pytest.raises(TargetError) as info:
        load_target(path).api_credentials()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_shipped_lab_and_example_targets_are_valid(monkeypatch, repo_root):
    lab = load_target(repo_root / "fixtures/targets/lab.yaml").target
    assert lab.environment.value == "lab" and lab.thresholds.deploy_seconds == 300
    preprod = load_target(repo_root / "fixtures/targets/example-preprod.yaml").target
    assert preprod.environment.value == "preproduction" and preprod.strict_host_keys


def test_thresholds_default_to_the_operators_promises(tmp_path, make_target):
    t = load_target(make_target(tmp_path / "t.yaml")).target.thresholds
    assert (t.deploy_seconds, t.write_p99_ms, t.qos, t.failover_seconds) == (300, 1.0, 0.999, 10)


def test_malformed_yaml_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nenvironment: lab\ncloudstack: [unclosed\n")
    message = one_line_error(bad)
    assert message.startswith(f"{bad}:3") or message.startswith(f"{bad}:4"), message
    assert "not valid YAML" in message


def test_invalid_value_names_file_line_and_field(tmp_path, make_target):
    path = make_target(tmp_path / "t.yaml", extra="thresholds:\n  deploy_seconds: -5\n")
    message = one_line_error(path)
    assert message.startswith(f"{path}:13: thresholds.deploy_seconds:"), message


def test_unknown_key_is_an_error_not_ignored(tmp_path, make_target):
    path = make_target(tmp_path / "t.yaml", extra="thresholds:\n  deploy_secs: 100\n")
    message = one_line_error(path)
    assert f"{path}:13: thresholds.deploy_secs: unknown key" in message


def test_missing_secret_variable_is_named_in_one_line(tmp_path, monkeypatch, make_target):
    monkeypatch.delenv("CG_SELFTEST_SECRET", raising=False)
    monkeypatch.setenv("CG_SELFTEST_KEY", "k")
    message = one_line_error(make_target(tmp_path / "t.yaml"))
    assert "CG_SELFTEST_SECRET" in message and "is not set" in message


def test_production_target_without_known_hosts_is_refused(tmp_path, make_target):
    path = tmp_path / "t.yaml"
    path.write_text(make_target(tmp_path / "x.yaml").read_text().replace("  known_hosts: /dev/null\n", ""))
    assert "known_hosts is required" in one_line_error(path)


def test_cli_target_check_prints_one_line_and_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [\n")
    proc = subprocess.run(
        [sys.executable, "-m", "cloudgate.cli", "target", "check", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert str(bad) in proc.stderr


def test_the_lab_target_without_its_secrets_says_how_to_get_them(tmp_path, make_target, monkeypatch):
    monkeypatch.delenv("CG_SELFTEST_KEY", raising=False)
    message = one_line_error(make_target(tmp_path / "lab.yaml", environment="lab"))
    assert "CG_SELFTEST_KEY is not set" in message and 'eval "$(cloudgate lab env)"' in message, message
    other = one_line_error(make_target(tmp_path / "pp.yaml", environment="preproduction"))
    assert "cloudgate lab" not in other, "a real cloud's missing secret is not a lab matter"


CASSANDRA = ("cassandra:\n"
             "  contact_points: {dc1: [198.18.1.201]}\n"
             "  local_dc: dc1\n")


def test_a_client_naming_an_unknown_datacenter_is_one_line_with_file_line_and_field(tmp_path, make_target):
    path = make_target(tmp_path / "t.yaml", extra=CASSANDRA + "  clients:\n    - {name: php, dc: dc1}\n"
                                                              "    - name: cpp\n      dc: paris\n")
    message = one_line_error(path)
    assert message == f"{path}:18: cassandra.clients[1].dc: unknown datacenter 'paris' (the target has ['dc1'])"


def test_a_client_naming_an_unknown_policy_is_one_line_with_file_line_and_field(tmp_path, make_target):
    path = make_target(tmp_path / "t.yaml", extra=CASSANDRA + "  clients:\n    - name: php\n      dc: dc1\n"
                                                              "      load_balancing: sticky\n")
    message = one_line_error(path)
    assert message.startswith(f"{path}:18: cassandra.clients[0].load_balancing: Input should be 'token_aware'"), message


def test_without_a_clients_list_each_datacenter_gets_the_drivers_defaults(tmp_path, make_target):
    cass = load_target(make_target(tmp_path / "t.yaml", extra=CASSANDRA)).target.cassandra
    (client,) = cass.client_profiles()
    assert (client.name, client.used_hosts_per_remote_dc, client.request_timeout_seconds) == ("dc1-driver-defaults", 0, 10)


def test_a_fault_scheduled_outside_the_drills_load_is_refused(tmp_path, make_target):
    path = make_target(tmp_path / "t.yaml", extra="drills:\n  load_seconds: 20\n  heal_at_seconds: 30\n")
    assert "needs fault_at_seconds < heal_at_seconds <= load_seconds" in one_line_error(path)
