"""A finished run into the history, judged against the runs before it: one call, used by the plugin.

Why apart from the plugin: the upgrade gate compares its `after` run with its `before` run from the
same records, and `cloudgate report` re-reads them; the plugin only supplies what it collected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cloudgate.report.history import (
    HISTORY_FILE,
    CheckRecord,
    HistoryError,
    MetricRecord,
    RunRecord,
    open_history,
    previous_runs,
    record_run,
)
from cloudgate.report.metrics import Metric
from cloudgate.report.regression import Comparison, Tolerance, compare


@dataclass(frozen=True)
class HistoryPolicy:
    compare_last: int
    min_runs: int
    tolerances: dict[str, Tolerance]


def history_path(reports_root: Path) -> Path:
    return reports_root / HISTORY_FILE


def build_record(stamp: dict, kind: str, exitstatus: int, counts: dict[str, int], outcomes: dict[str, str],
                 details: dict[str, object], metrics: list[Metric], cloudstack_version: str | None) -> RunRecord:
    """The history's view of a run from the plugin's state (stamp = RunStamp.as_dict())."""
    checks = []
    for nodeid, outcome in sorted(outcomes.items()):
        detail = details.get(nodeid)
        checks.append(CheckRecord(
            nodeid=nodeid, outcome=outcome, check_id=getattr(detail, "check_id", ""),
            severity=getattr(detail, "severity", ""), duration_s=round(getattr(detail, "duration_s", 0.0), 3),
            message=getattr(detail, "message", "")))
    return RunRecord(
        run_id=stamp["run_id"], target=stamp["target"], environment=stamp["environment"], profile=stamp["profile"],
        revision=stamp["revision"], started=stamp["started"], ended=stamp["ended"], exitstatus=exitstatus,
        cloudstack_version=cloudstack_version, kind=kind, counts=dict(counts), checks=checks,
        metrics=[MetricRecord(m.name, m.value, m.unit, m.threshold, m.better, m.verdict) for m in metrics])


REGRESSION_EXIT = 1  # pytest's "tests failed": a regression fails the night like a failed check


def record_and_compare(reports_root: Path, run: RunRecord, policy: HistoryPolicy,
                       notice: Callable[[str], None], fail_on_regression: bool = True) -> Comparison:
    """Compare `run` with the last comparable runs, then store it with its flags and final exit status
    (a passing run with a blocking flag exits REGRESSION_EXIT when `fail_on_regression`). Raises HistoryError."""
    with open_history(history_path(reports_root), notice) as conn:
        # a run cut short is no evidence of a regression, nor a baseline (previous_runs keeps to one kind)
        previous = [] if run.kind == "interrupted" else previous_runs(
            conn, run.target, run.profile, run.started, policy.compare_last, run.kind)
        comparison = compare(run, previous, policy.tolerances, policy.min_runs)
        run.flags = list(comparison.flags)
        if comparison.blocking and fail_on_regression and run.exitstatus == 0:
            run.exitstatus = REGRESSION_EXIT
        record_run(conn, run)
    return comparison


__all__ = ["HistoryError", "HistoryPolicy", "build_record", "history_path", "record_and_compare"]
