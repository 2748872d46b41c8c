"""Files in, plans out: bad input gives one line and places nothing; plans are deployable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cloudgate.placement.cli import run_place
from cloudgate.placement.engine import place
from cloudgate.placement.errors import PlacementInputError
from cloudgate.placement.loading import load_estate, load_request
from cloudgate.placement.plan import plan_to_json, plan_to_table

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "placement"
ESTATE = FIXTURES / "estate-example.yaml"
REQUEST = FIXTURES / "request-cassandra.yaml"


def write(tmp_path: Path, name: str, data) -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def estate_doc() -> dict:
    return yaml.safe_load(ESTATE.read_text())


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["hosts"][3].update(memory_mib=-1), "estate.yaml: hosts[3].memory_mib: must be >= 0"),
        (lambda d: d["hosts"][0].pop("rack"), "estate.yaml: hosts[0].rack: required field is missing"),
        (lambda d: d["hosts"][1].update(state="broken"), "estate.yaml: hosts[1].state: must be one of"),
        (
            lambda d: d["hosts"][2].update(id="dc1-r1-h1"),
            "estate.yaml: hosts[2].id: duplicate host id 'dc1-r1-h1'",
        ),
        (lambda d: d["hosts"][0]["vms"][0].update(cpu=-2), "estate.yaml: hosts[0].vms[0].cpu: must be >= 0"),
        (lambda d: d.update(overprovisioning={"cpu": 0}), "estate.yaml: overprovisioning.cpu: must be > 0"),
        (lambda d: d["hosts"][0].update(cpus=4), "estate.yaml: hosts[0].cpus: unknown field"),
    ],
)
def test_a_bad_estate_file_is_refused_with_one_line_naming_the_file_and_field(tmp_path, mutate, expected):
    doc = estate_doc()
    mutate(doc)
    path = write(tmp_path, "estate.yaml", doc)
    with pytest.raises(PlacementInputError) as err:
        load_estate(path)
    message = str(err.value).replace(str(tmp_path) + "/", "")
    assert message.startswith(expected)
    assert "\n" not in message


def test_unparseable_and_missing_files_are_refused_with_one_line(tmp_path):
    bad = write(tmp_path, "estate.yaml", "hosts: [\n  - id: h1\n    rack: [")
    with pytest.raises(PlacementInputError, match=r"estate\.yaml: line \d+: not valid YAML"):
        load_estate(bad)
    with pytest.raises(PlacementInputError, match=r"estate\.json: line 1: not valid JSON"):
        load_estate(write(tmp_path, "estate.json", "{hosts: }"))
    with pytest.raises(PlacementInputError, match="nope.yaml: file not found"):
        load_estate(tmp_path / "nope.yaml")
    with pytest.raises(PlacementInputError, match="expected a mapping at the top level, got list"):
        load_estate(write(tmp_path, "list.yaml", "- 1\n- 2\n"))


def test_a_request_naming_an_unknown_datacenter_or_host_is_refused(tmp_path):
    estate = load_estate(ESTATE)
    doc = yaml.safe_load(REQUEST.read_text())
    doc["groups"][0]["per_dc"]["dc3"] = 3
    with pytest.raises(
        PlacementInputError, match=r"request.yaml: groups\[0\]\.per_dc\.dc3: unknown datacenter 'dc3'"
    ):
        load_request(write(tmp_path, "request.yaml", doc), estate)
    doc = yaml.safe_load(REQUEST.read_text())
    doc["avoid_hosts"] = ["dc1-r1-h1", "ghost"]
    with pytest.raises(PlacementInputError, match=r"request.yaml: avoid_hosts\[1\]: unknown host 'ghost'"):
        load_request(write(tmp_path, "request.yaml", doc), estate)
    doc = yaml.safe_load(REQUEST.read_text())
    doc["groups"][0]["size"]["memory_mib"] = -16384
    with pytest.raises(PlacementInputError, match=r"groups\[0\]\.size\.memory_mib: must be >= 0"):
        load_request(write(tmp_path, "request.yaml", doc))


def test_json_files_load_like_yaml(tmp_path):
    path = write(tmp_path, "estate.json", json.dumps(estate_doc()))
    assert load_estate(path) == load_estate(ESTATE)


def test_the_plan_table_lists_each_vm_with_host_dc_rack_and_why():
    estate, request = load_estate(ESTATE), load_request(REQUEST)
    table = plan_to_table(place(estate, request), estate, request)
    lines = table.splitlines()
    assert lines[0].split() == ["VM", "GROUP", "HOST", "DC", "RACK", "CPU", "MEMORY", "FLASH"]
    assert "cass-prod-dc1-1" in table and "16 GiB" in table
    assert lines[2 + 6].startswith("6 VM(s) on 6 host(s)")
    why = lines[lines.index("why:") + 1:]
    assert len(why) == 6
    assert why[0].startswith("  cass-prod-dc1-1: rack spread of cass-prod in dc1 within one (dc1-rack1=1, ")
    assert "no other member on this host" in why[0] and "(left free: " in why[0]


def test_the_json_plan_gives_cloudstack_the_hostid_for_each_vm():
    estate, request = load_estate(ESTATE), load_request(REQUEST)
    result = place(estate, request)
    doc = json.loads(plan_to_json(result, estate, request))
    assert doc["feasible"] is True and doc["groups"] == ["cass-prod"]
    assert [d["command"] for d in doc["deploy"]] == ["deployVirtualMachine"] * 6
    assert {d["name"]: d["hostid"] for d in doc["deploy"]} == result.assignments
    assert {p["rack"] for p in doc["placements"]} >= {"dc1-rack1", "dc2-rack3"}
    assert all(p["why"] for p in doc["placements"]) and doc["spread"] == []


def test_cli_exit_codes_are_0_placed_1_infeasible_2_bad_input(tmp_path, capsys):
    assert run_place(str(ESTATE), str(REQUEST)) == 0
    assert "cass-prod-dc2-3" in capsys.readouterr().out

    huge = yaml.safe_load(REQUEST.read_text())
    huge["groups"][0]["per_dc"] = {"dc1": 20}
    assert run_place(str(ESTATE), str(write(tmp_path, "huge.yaml", huge))) == 1
    assert "NO PLACEMENT: group cass-prod needs 20 distinct hosts" in capsys.readouterr().out

    assert run_place(str(tmp_path / "missing.yaml"), str(REQUEST)) == 2
    captured = capsys.readouterr()
    assert (
        captured.out == ""
        and captured.err.count("\n") == 1
        and "missing.yaml: file not found" in captured.err
    )

    out = tmp_path / "plan.json"
    assert run_place(str(ESTATE), str(REQUEST), fmt="json", out=str(out)) == 0
    assert json.loads(out.read_text())["summary"]["placed"] == 6


def test_python_dash_m_runs_the_place_command_without_a_traceback(tmp_path):
    bad = write(tmp_path, "estate.yaml", {"hosts": [{"id": "h1"}]})
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloudgate.placement",
            "place",
            "--estate",
            str(bad),
            "--request",
            str(REQUEST),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(
        "hosts[0].datacenter: required field is missing (and 3 more problem(s))"
    )
    assert "Traceback" not in proc.stderr
