"""Tonight against the last nights: a figure worse than the median by more than its tolerance is
flagged even under its threshold; a check that used to pass and fails now is a new failure."""

from __future__ import annotations

import pytest
from test_history import run

from cloudgate.report.history import CheckRecord, MetricRecord
from cloudgate.report.regression import IncomparableRuns, Tolerance, compare, parse_tolerance
from cloudgate.target import HistorySection

TOLERANCES = HistorySection().all_tolerances()


def _p99(n: int, value: float):  # noqa: ANN202
    return run(n, p99=value)


def test_a_p99_forty_percent_above_the_median_of_the_last_runs_is_flagged_while_under_its_threshold():
    previous = [_p99(n, v) for n, v in ((6, 0.50), (5, 0.55), (4, 0.52), (3, 0.90), (2, 0.51))]
    tonight = _p99(7, 0.73)
    result = compare(tonight, previous, TOLERANCES)
    (flag,) = result.blocking
    assert flag.kind == "metric_regression" and flag.subject == "cassandra.write.server.p99"
    assert flag.detail == ("cassandra.write.server.p99 = 0.73 ms, 0.21 ms (+40%) above the median of 5 run(s) "
                           "(0.52 ms; tolerance 20%), still within its threshold 1")


def test_one_noisy_night_does_not_move_the_baseline_and_a_figure_within_tolerance_is_not_flagged():
    previous = [_p99(n, v) for n, v in ((6, 0.50), (5, 3.00), (4, 0.52))]
    assert compare(_p99(7, 0.60), previous, TOLERANCES).flags == []


def test_a_better_figure_is_never_a_regression():
    previous = [_p99(n, 0.9) for n in (4, 5, 6)]
    assert compare(_p99(7, 0.1), previous, TOLERANCES).flags == []


def test_with_too_few_earlier_runs_a_metric_is_not_compared_and_says_why():
    result = compare(_p99(7, 5.0), [_p99(6, 0.5), _p99(5, 0.5)], TOLERANCES, min_runs=3)
    assert result.flags == [] and result.not_compared == ["cassandra.write.server.p99: 2 earlier value(s), 3 needed"]


def _with(n: int, name: str, value: float, better: str = "lower", unit: str = "operations"):  # noqa: ANN202
    r = run(n)
    r.metrics = [MetricRecord(name, value, unit, None, better, "info")]
    return r


def test_any_acknowledged_write_lost_where_none_were_before_is_a_regression():
    previous = [_with(n, "drill.partition.writes.lost", 0.0) for n in (4, 5, 6)]
    (flag,) = compare(_with(7, "drill.partition.writes.lost", 1.0), previous, TOLERANCES).flags
    assert "drill.partition.writes.lost = 1 operations" in flag.detail and "tolerance any rise" in flag.detail


def test_availability_is_higher_is_better_with_an_absolute_tolerance():
    name = "drill.host-loss.availability.dc1"
    previous = [_with(n, name, 1.0, "higher", "ratio") for n in (4, 5, 6)]
    assert compare(_with(7, name, 0.9995, "higher", "ratio"), previous, TOLERANCES).flags == []
    (flag,) = compare(_with(7, name, 0.997, "higher", "ratio"), previous, TOLERANCES).flags
    assert "below the median of 3 run(s)" in flag.detail


def test_a_metric_no_tolerance_names_is_not_compared():
    previous = [_with(n, "lab.up.seconds", 10.0) for n in (4, 5, 6)]
    assert compare(_with(7, "lab.up.seconds", 100.0), previous, TOLERANCES).flags == []


def test_a_check_that_passed_on_every_earlier_run_and_fails_now_is_a_new_failure():
    previous = [run(n) for n in (4, 5, 6)]
    (flag,) = compare(run(7, outcome="failed"), previous, TOLERANCES).flags
    assert flag.kind == "new_failure"
    assert flag.detail == ("CG-X-001 tests/infra/test_x.py::test_a fails, and passed on the last 3 run(s): "
                           "host h1: fio degraded")


def test_a_check_that_already_failed_recently_is_a_known_failure_and_does_not_block():
    previous = [run(6), run(5, outcome="failed"), run(4)]
    result = compare(run(7, outcome="failed"), previous, TOLERANCES)
    assert [f.kind for f in result.flags] == ["known_failure"] and result.blocking == []
    assert "as on 1 of the last 3 run(s)" in result.flags[0].detail


def test_a_check_that_ran_last_time_and_not_now_is_missing():
    last = run(6)
    last.checks.append(CheckRecord("tests/infra/test_h.py::test_kernel[dc2-r3-h3]", "passed", "CG-HOST-002"))
    flags = compare(run(7), [last], TOLERANCES).flags
    assert [(f.kind, f.subject) for f in flags] == [("missing_check", "tests/infra/test_h.py::test_kernel[dc2-r3-h3]")]


def test_a_narrowed_run_does_not_call_the_hosts_it_left_out_missing_but_still_flags_a_new_failure():
    last, now = run(6), run(7, outcome="failed")
    last.kind = now.kind = "narrowed"
    last.checks.append(CheckRecord("tests/infra/test_h.py::test_kernel[dc2-r3-h3]", "passed", "CG-HOST-002"))
    flags = compare(now, [last], TOLERANCES).flags
    assert [f.kind for f in flags] == ["new_failure"]


def test_runs_of_another_target_or_profile_are_refused_in_one_line():
    with pytest.raises(IncomparableRuns, match=r"only runs of one target and profile compare"):
        compare(run(7), [run(6, profile="smoke")], TOLERANCES)


@pytest.mark.parametrize(("text", "tolerance"), [
    ("20%", Tolerance(relative=0.2)), (0, Tolerance()), (0.001, Tolerance(absolute=0.001)),
    ({"relative": "50%", "absolute": 2}, Tolerance(relative=0.5, absolute=2.0)),
])
def test_a_tolerance_is_a_percentage_a_number_or_both(text, tolerance):
    assert parse_tolerance(text) == tolerance


@pytest.mark.parametrize("bad", ["-5%", -1, "fast", {"relative": 0.2, "per": 3}, True])
def test_a_bad_tolerance_is_refused(bad):
    with pytest.raises(ValueError, match="tolerance"):
        parse_tolerance(bad)


def test_a_target_files_tolerances_come_before_the_defaults_and_a_bad_one_names_its_pattern():
    merged = HistorySection(tolerances={"cassandra.write.*.p99": "300%"}).all_tolerances()
    assert merged["cassandra.write.*.p99"] == Tolerance(relative=3.0) and "deploy.total.p95" in merged
    with pytest.raises(ValueError, match="deploy.total.p95: a tolerance cannot be negative"):
        HistorySection(tolerances={"deploy.total.p95": "-1%"})
