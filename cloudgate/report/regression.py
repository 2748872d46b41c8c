"""Regression detection: tonight against the last comparable runs, as pure functions of history records.

A threshold says whether a figure keeps its promise; it says nothing about a p99 that doubled
while staying under it, which is the figure an operator wants to hear about before it breaks the
promise. So a metric is compared with the **median** of the same metric over the last N
comparable runs (same target and profile; the median, so one noisy night does not move the
baseline), and flagged when it is worse by more than its tolerance, even under its threshold.
Tolerances are per metric family (fnmatch patterns on the metric name, the first match wins):
"20%" is relative to the median, a number is absolute in the metric's unit (0: any rise), and
{relative, absolute} allows the larger of the two. A metric no pattern matches is not compared.

Checks: one that fails now and passed in every one of the previous runs that ran it is a **new
failure**; one that failed in any of them is a **known failure**; one that ran in the previous
run and did not run now at all (its host gone from listHosts, its parametrization missing) is a
**missing check**. The nightly fails on metric regressions and new failures (BLOCKING); the
gate treats every flag but known failures as a reason for NO-GO.
"""

from __future__ import annotations

import fnmatch
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field

from cloudgate.report.history import CheckRecord, FlagRecord, MetricRecord, RunRecord

FAILED = ("failed", "error")
RAN = ("passed", "failed", "error", "waived")  # a check that did not run (not_run, n/a) is no evidence
BLOCKING = ("metric_regression", "new_failure")


class IncomparableRuns(ValueError):
    """Two runs of different targets or profiles: their figures say nothing about each other."""


@dataclass(frozen=True)
class Tolerance:
    """How much worse than the baseline a metric may be: the larger of relative x |baseline| and absolute."""

    relative: float = 0.0
    absolute: float = 0.0

    def allowed(self, baseline: float) -> float:
        return max(self.relative * abs(baseline), self.absolute)

    def describe(self) -> str:
        parts = ([f"{self.relative:.0%}"] if self.relative else []) + ([f"{self.absolute:g}"] if self.absolute else [])
        return " or ".join(parts) if parts else "any rise"


def parse_tolerance(value: object) -> Tolerance:
    """ "20%" -> relative 0.2; 0.5 -> absolute 0.5; {relative: 0.5, absolute: 2} -> both. ValueError otherwise."""
    if isinstance(value, Tolerance):
        return value
    if isinstance(value, bool):
        raise ValueError(f"a tolerance is \"N%\", a number or {{relative, absolute}}, not {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a tolerance cannot be negative: {value!r}")
        return Tolerance(absolute=float(value))
    if isinstance(value, str) and value.strip().endswith("%"):
        number = float(value.strip()[:-1])
        if number < 0:
            raise ValueError(f"a tolerance cannot be negative: {value!r}")
        return Tolerance(relative=number / 100.0)
    if isinstance(value, Mapping) and set(value) <= {"relative", "absolute"}:
        relative, absolute = value.get("relative", 0.0), value.get("absolute", 0.0)
        relative = parse_tolerance(relative).relative if isinstance(relative, str) else float(relative)
        if relative < 0 or float(absolute) < 0:
            raise ValueError(f"a tolerance cannot be negative: {dict(value)!r}")
        return Tolerance(relative=relative, absolute=float(absolute))
    raise ValueError(f"a tolerance is \"N%\", a number or {{relative, absolute}}, not {value!r}")


def tolerance_for(name: str, tolerances: Mapping[str, Tolerance]) -> Tolerance | None:
    return next((tol for pattern, tol in tolerances.items() if fnmatch.fnmatchcase(name, pattern)), None)


@dataclass
class Comparison:
    """The flags of one run against its baseline runs, and what could not be compared."""

    baseline_runs: list[str]
    flags: list[FlagRecord] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)  # one line each: why a figure was not judged

    @property
    def blocking(self) -> list[FlagRecord]:
        return [f for f in self.flags if f.kind in BLOCKING]


def _worse_by(metric: MetricRecord, baseline: float) -> float:
    return metric.value - baseline if metric.better == "lower" else baseline - metric.value


def _fmt(value: float, unit: str) -> str:
    return f"{value:.4g} {unit}".strip()


def compare_metrics(current: RunRecord, previous: list[RunRecord], tolerances: Mapping[str, Tolerance],
                    min_runs: int, baseline_name: str = "") -> tuple[list[FlagRecord], list[str]]:
    """Metric regressions against the median of `previous` (`baseline_name` names it, e.g. "before run")."""
    flags, not_compared = [], []
    for metric in current.metrics:
        tol = tolerance_for(metric.name, tolerances)
        if tol is None:
            continue
        values = [m.value for run in previous if (m := run.metric(metric.name)) is not None]
        if len(values) < min_runs:
            not_compared.append(f"{metric.name}: {len(values)} earlier value(s), {min_runs} needed")
            continue
        baseline = statistics.median(values)
        worse = _worse_by(metric, baseline)
        if worse > tol.allowed(baseline):
            direction = "above" if metric.better == "lower" else "below"
            relative = f" ({worse / abs(baseline):+.0%})" if baseline else ""
            within = "" if metric.verdict != "pass" else f", still within its threshold {metric.threshold:g}"
            flags.append(FlagRecord("metric_regression", metric.name,
                                    f"{metric.name} = {_fmt(metric.value, metric.unit)}, {_fmt(worse, metric.unit)}"
                                    f"{relative} {direction} the {baseline_name or f'median of {len(values)} run(s)'} "
                                    f"({_fmt(baseline, metric.unit)}; tolerance {tol.describe()}){within}"))
    return flags, not_compared


def _outcomes(nodeid: str, previous: list[RunRecord]) -> list[str]:
    return [c.outcome for run in previous if (c := run.check(nodeid)) is not None and c.outcome in RAN]


def _label(check: CheckRecord) -> str:
    return f"{check.check_id} {check.nodeid}".strip() if check.check_id else check.nodeid


def compare_checks(current: RunRecord, previous: list[RunRecord]) -> list[FlagRecord]:
    flags = []
    for check in current.checks:
        if check.outcome not in FAILED:
            continue
        history = _outcomes(check.nodeid, previous)
        if not history:
            continue  # never seen before: it fails, and says so, but nothing says it used to pass
        message = f": {check.message}" if check.message else ""
        if all(o == "passed" for o in history):
            flags.append(FlagRecord("new_failure", check.nodeid,
                                    f"{_label(check)} fails, and passed on the last {len(history)} run(s){message}"))
        else:
            failed = sum(1 for o in history if o in FAILED)
            flags.append(FlagRecord("known_failure", check.nodeid,
                                    f"{_label(check)} fails, as on {failed} of the last {len(history)} run(s){message}"))
    if previous and current.kind != "narrowed":  # a narrowed run leaves checks out on purpose, by its own rule
        now = {c.nodeid for c in current.checks}
        for check in previous[0].checks:
            if check.outcome in RAN and check.nodeid not in now:
                flags.append(FlagRecord("missing_check", check.nodeid,
                                        f"{_label(check)} ran in {previous[0].run_id} ({check.outcome}) "
                                        f"and did not run now"))
    return flags


def compare(current: RunRecord, previous: list[RunRecord], tolerances: Mapping[str, Tolerance],
            min_runs: int = 3) -> Comparison:
    """Judge `current` against `previous` (newest first; the same target and profile, refused otherwise)."""
    for run in previous:
        if (run.target, run.profile) != (current.target, current.profile):
            raise IncomparableRuns(f"cannot compare {current.run_id} ({current.target}, {current.profile}) with "
                             f"{run.run_id} ({run.target}, {run.profile}): only runs of one target and profile compare")
    metric_flags, not_compared = compare_metrics(current, previous, tolerances, min_runs)
    return Comparison([r.run_id for r in previous], metric_flags + compare_checks(current, previous), not_compared)
