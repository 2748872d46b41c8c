"""A drill's verdict as an operator reads it in a terminal, and `cloudgate drill check HISTORY`.

Why a module of its own: the checker stays pure (no printing, no files), and the same table is
printed at the end of a drill and by `drill check` on a history kept from an earlier run, so the
two never drift apart.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from cloudgate.drills.checker import DrillVerdict, LoadResult, check, pct
from cloudgate.drills.history import HistoryError, read_history

COLUMNS = ("", "ops", "ok", "failed", "indet.", "availability", "longest outage", "reroute", "expect")


def render(verdict: DrillVerdict) -> str:
    """A compact table per DC (and per client under it), the writes, then PASSED/FAILED and why."""
    v = verdict
    fault = f"fault at t={_s(v.t_fault)}" if v.t_fault is not None else "no fault injected"
    if v.t_fault is not None:
        fault += f", healed at t={_s(v.t_heal)}" if v.t_heal is not None else ", never healed"
    head = f"drill {v.drill}: {fault}" + (f" ({v.fault})" if v.fault else "")
    rows: list[Sequence[str]] = [COLUMNS]
    for dc, r in v.per_dc.items():
        faulted = v.t_fault is not None
        rows.append(_row(dc, r, r.expectation or "-", faulted))
        clients = [(name, c) for name, c in v.per_client.items() if c.dc == dc]
        if len(clients) > 1:  # one client is its DC's row already
            rows.extend(_row(f"  {name}", c, "", faulted) for name, c in clients)
    rows.append(("all", str(v.invoked), str(v.invoked - v.failed - v.indeterminate), str(v.failed),
                 str(v.indeterminate), pct(v.availability), "", "", ""))
    convergence = (f"converged {v.convergence_s:.1f} s after the heal" if v.convergence_s is not None
                   else "not converged" if v.t_heal is not None and v.acknowledged else "convergence n/a")
    writes = (f"writes: {v.acknowledged} acknowledged, {len(v.lost)} lost, {v.unverified} unverified; "
              f"{v.indeterminate_found_applied} indeterminate found applied, "
              f"{v.failed_found_applied} failed found applied; {convergence}")
    thresholds = []
    if v.qos is not None:
        thresholds.append(f"qos {v.qos * 100:.10g} %")
    if v.failover_seconds is not None:
        thresholds.append(f"failover {v.failover_seconds:g} s")
    lines = [head, *_table(rows), writes, ""]
    lines.append(("PASSED" if v.passed else "FAILED") + (f" ({', '.join(thresholds)})" if thresholds else ""))
    lines.extend(f"  - {p}" for p in v.problems)
    lines.extend(f"  note: {n}" for n in v.notes)
    return "\n".join(lines)


def _row(name: str, r: LoadResult, expect: str, faulted: bool) -> tuple[str, ...]:
    outage = (f"{r.longest_outage_s:.1f} s from t={r.longest_outage_from:.1f}"
              if r.longest_outage_from is not None else "-")
    reroute = "never" if r.reroute_s is None and faulted and r.invoked else _s(r.reroute_s)
    mark = {True: " ok", False: " FAILED", None: ""}[r.met] if expect not in ("", "-", "none") else ""
    return (name, str(r.invoked), str(r.ok), str(r.failed), str(r.indeterminate), pct(r.availability), outage,
            reroute, expect + mark)


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    def line(row: Sequence[str]) -> str:
        cells = (c.ljust(w) if i == 0 else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        return "  ".join(cells).rstrip()

    return [line(row) for row in rows]


def _s(t: float | None) -> str:
    return "-" if t is None else f"{t:.1f} s"


def check_history_file(path: str) -> int:
    """`cloudgate drill check HISTORY`: 0 passed, 1 failed, 2 the history could not be read."""
    try:
        verdict = check(read_history(path))
    except HistoryError as e:
        print(f"cloudgate drill check: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"cloudgate drill check: {e.filename or path}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(render(verdict))
    return 0 if verdict.passed else 1
