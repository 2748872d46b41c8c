"""`cloudgate bench hosts` judges the issue's targets from what it measured, and only from that."""

from __future__ import annotations

from typing import Any

from cloudgate.lab.hostbench import judge, shape


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


def test_the_sizes_spread_over_two_datacenters() -> None:
    for hosts in (100, 300, 1000, 64):
        racks, per_rack = shape(hosts)
        assert 2 * racks * per_rack == hosts or hosts not in (100, 300, 1000)
