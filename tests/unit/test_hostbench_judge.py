"""`cloudgate bench hosts` judges the issue's targets from what it measured, and only from that."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudgate.report.metrics import Metric
from cloudgate_lab.hostbench import MAX_HOSTS, extra_racks, judge, parse_sizes, print_report, shape


def _size(hosts: int, suite: float, floor: float, *, exit_code: int = 0, floor_ok: int | None = None) -> dict[str, Any]:
    return {"hosts": hosts, "suite_wall_s": suite, "floor_wall_s": floor, "ratio_to_floor": round(suite / floor, 2),
            "suite_exit": exit_code, "checks_passed": 9 * hosts, "floor_hosts_ok": hosts if floor_ok is None else floor_ok}


def _verdicts(sizes: list[dict[str, Any]]) -> dict[str, bool]:
    return {t["target"]: t["passed"] for t in judge(sizes)}


def test_a_thousand_hosts_in_a_minute_within_twice_the_floor_passes_every_target() -> None:
    verdicts = _verdicts([_size(1000, 45.0, 28.0)])
    assert verdicts and all(verdicts.values()), verdicts


def test_a_slow_suite_fails_the_minute_the_extrapolation_and_the_floor_ratio() -> None:
    verdicts = _verdicts([_size(1000, 85.0, 28.0)])
    assert not verdicts["1,000 hosts smoke <= 60 s"]
    assert not verdicts["3,000 hosts by extrapolation <= 180 s"]
    assert not verdicts["1000 hosts: suite <= 2 x floor"]


def test_a_run_with_a_failed_check_or_a_host_the_floor_missed_is_not_a_measurement() -> None:
    verdicts = _verdicts([_size(100, 5.0, 3.0, exit_code=1), _size(300, 12.0, 8.0, floor_ok=299)])
    assert not verdicts["100 hosts: every smoke check passed and the floor read every host"]
    assert not verdicts["300 hosts: every smoke check passed and the floor read every host"]


def test_the_minute_is_not_judged_when_no_thousand_host_lab_was_run() -> None:
    assert not [t for t in _verdicts([_size(100, 5.0, 3.0)]) if t.startswith("1,000")]


@pytest.mark.parametrize("hosts", [2, 64, 100, 126, 300, 998, 1000, 1234, MAX_HOSTS])
def test_every_size_the_bench_takes_is_built_exactly_over_two_datacenters(hosts: int) -> None:
    racks, per_rack = shape(hosts)
    assert 2 * (racks * per_rack + extra_racks(hosts)) == hosts
    assert 0 <= extra_racks(hosts) < racks


def test_the_ratio_at_the_quick_size_is_information_saying_where_it_is_judged(capsys: pytest.CaptureFixture[str]) -> None:
    """`make run` printed `FAIL 100 hosts: suite <= 2 x floor: 2.2` and exited 0: never both."""
    report = {"targets": judge([_size(100, 6.6, 3.0)])}
    (ratio,) = [t for t in report["targets"] if "floor" in t["target"] and "read" not in t["target"]]
    assert ratio["verdict"] == "info" and ratio["passed"] is None
    metric = Metric.model_validate(ratio["metric"])
    assert metric.threshold is None and metric.verdict == "info" and metric.value == 2.2
    assert print_report(report) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "INFO  100 hosts: suite/floor: 2.2 (target <= 2 judged at 1,000 hosts in the full bench; at 100 hosts " \
           "the ratio is within this machine's noise)" in lines
    assert not [line for line in lines if line.startswith("FAIL")]


def test_a_judged_target_that_fails_fails_the_bench_and_its_metric(capsys: pytest.CaptureFixture[str]) -> None:
    report = {"targets": judge([_size(100, 5.0, 3.0, exit_code=1), _size(1000, 45.0, 20.0)])}
    assert print_report(report) == 1
    assert "FAIL  100 hosts: every smoke check passed and the floor read every host" in capsys.readouterr().out
    for t in report["targets"]:  # the line's word is the metric's verdict, threshold or none
        metric = Metric.model_validate(t["metric"])
        assert metric.verdict == t["verdict"] and (metric.threshold is None) == (t["verdict"] == "info")
    assert {t["metric"]["name"]: t["verdict"] for t in report["targets"]}["lab.fleet.1000.ratio_to_floor"] == "fail"


@pytest.mark.parametrize(("text", "words"), [
    ("-5", "-5: a lab size is an even number of hosts from 2 to 2,000"),
    ("0", "0: a lab size is an even number"),
    ("101", "101: a lab size is an even number"),
    ("2002", "2002: a lab size is an even number of hosts from 2 to 2,000 (two datacenters of at most 1,000)"),
    ("100,100", "100 given twice"),
    ("banana", "'banana' is not a host count"),
    ("", "'' is not a host count"),
    ("100,", "'' is not a host count"),
])
def test_sizes_the_lab_cannot_build_are_refused_naming_the_flag_and_the_value(text: str, words: str) -> None:
    with pytest.raises(ValueError, match="^--sizes ") as refused:
        parse_sizes(text)
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_sizes_the_lab_can_build_are_taken_in_order() -> None:
    assert parse_sizes("300, 100,2000") == [300, 100, 2000]


def _run_dir(tmp_path) -> Any:  # noqa: ANN001
    run_dir = tmp_path / "20261207T000000Z-lab-nightly-1"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text(json.dumps({"run_id": run_dir.name, "metrics": [], "failed_metrics": []}))
    (run_dir / "summary.json").write_text(json.dumps({"run_id": run_dir.name, "exitstatus": 0, "counts": {}}))
    return run_dir


@pytest.mark.parametrize(("size", "rc", "verdicts"), [
    (_size(100, 6.6, 3.0), 0, {"lab.fleet.100.ratio_to_floor": "info", "lab.fleet.100.complete": "pass"}),
    (_size(100, 5.0, 3.0, floor_ok=99), 1, {"lab.fleet.100.ratio_to_floor": "info", "lab.fleet.100.complete": "fail"}),
])
def test_make_runs_quick_fleet_bench_fails_the_run_only_on_a_target_judged_at_its_size(
        tmp_path, monkeypatch: pytest.MonkeyPatch, size: dict[str, Any], rc: int, verdicts: dict[str, str]) -> None:
    from cloudgate_lab import hostbench, nightly

    size.update(lab_up_s=4.7)
    monkeypatch.setattr(hostbench, "run", lambda out, sizes, rounds: {"sizes": [size], "targets": judge([size])})
    run_dir = _run_dir(tmp_path)
    assert nightly.hosts_bench(run_dir, tmp_path) == rc
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {m["name"]: m["verdict"] for m in metrics["metrics"] if m["name"] in verdicts} == verdicts
    assert metrics["failed_metrics"] == [n for n, v in verdicts.items() if v == "fail"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["exitstatus"] == rc  # the page reads the run's exit status there
    assert bool(summary.get("failed_after_run")) == bool(rc)
