"""GO or NO-GO: a pure function of the `before` and `after` runs and of what the canaries showed.

Every reason is one line an operator can act on, with its kind first so a table sorts them:
- new failure: a check that passed before the upgrade and fails after it;
- missing check: a check that ran before and not after (its host no longer listed, ...);
- regression: a metric worse than before by more than its tolerance (the history's families);
- canary: a resource created before the upgrade that is gone, changed or unusable after it;
- version: CloudStack does not report the version the upgrade announced (or did not change).
A check that failed before and still fails is no reason: the upgrade did not cause it (it is
listed as known, so nobody mistakes a GO for a clean bill).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cloudgate.report.history import RunRecord
from cloudgate.report.regression import IncomparableRuns, Tolerance, compare_checks, compare_metrics

REASON_KINDS = ("new failure", "missing check", "regression", "canary", "version")


@dataclass(frozen=True)
class Reason:
    kind: str
    detail: str


@dataclass
class GateVerdict:
    before: str
    after: str
    reasons: list[Reason] = field(default_factory=list)
    known: list[str] = field(default_factory=list)  # failing before and after: not the upgrade's doing

    @property
    def go(self) -> bool:
        return not self.reasons

    def table(self) -> str:
        """The verdict as the terminal and reports/gate-<target>/verdict.txt show it."""
        head = f"gate: {'GO' if self.go else 'NO-GO'} — after {self.after} compared with before {self.before}"
        if self.go:
            lines = [head, "  nothing that worked before the upgrade stopped working after it"]
        else:
            width = max(len(r.kind) for r in self.reasons)
            lines = [head, f"  {'reason':<{width}}  detail"]
            lines += [f"  {r.kind:<{width}}  {r.detail}" for r in self.reasons]
        lines += [f"  known (failed before too): {k}" for k in self.known]
        return "\n".join(lines)


def judge(before: RunRecord, after: RunRecord, canary_problems: list[str], tolerances: Mapping[str, Tolerance],
          announced_version: str | None = None) -> GateVerdict:
    """GO when nothing that held before the upgrade fails after it (see the module docstring)."""
    if (before.target, before.profile) != (after.target, after.profile):
        raise IncomparableRuns(f"cannot compare gate runs of {before.target}/{before.profile} and "
                               f"{after.target}/{after.profile}: one target and one profile only")
    verdict = GateVerdict(before.run_id, after.run_id)
    kinds = {"new_failure": "new failure", "missing_check": "missing check"}
    for flag in compare_checks(after, [before]):
        if flag.kind in kinds:
            verdict.reasons.append(Reason(kinds[flag.kind], flag.detail))
        else:
            verdict.known.append(flag.detail)
    metric_flags, _ = compare_metrics(after, [before], tolerances, min_runs=1, baseline_name=f"before run {before.run_id}")
    verdict.reasons += [Reason("regression", f.detail) for f in metric_flags]
    verdict.reasons += [Reason("canary", p) for p in canary_problems]
    version = after.cloudstack_version
    if announced_version and version != announced_version:
        said = f"reports {version}" if version else "reported no version"
        verdict.reasons.append(Reason("version", f"CloudStack {said}; the upgrade announced {announced_version}"
                                      + (" (unchanged: was the upgrade applied?)" if version == before.cloudstack_version
                                         else "")))
    return verdict
