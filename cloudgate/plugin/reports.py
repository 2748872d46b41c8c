"""Report writing: reports/<run-id>/{junit.xml, report.html, metrics.json, summary.json, estate.json}.

Every run with a target gets its own directory, stamped with target, profile, git revision and
times, and reports/latest is repointed at it. Every report says where the estate (hosts, VMs,
Cassandra nodes) came from: read live, or a last good snapshot of a given age when the CloudStack
API did not answer.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cloudgate.plugin.state import (
    ESTATE_FILE,
    OUTCOMES,
    RUN_KEY,
    RunState,
    configured_target,
    is_worker,
    loaded_target_of,
    reports_root_of,
    selection_of,
)
from cloudgate.report.history import HistoryError
from cloudgate.report.rundir import (
    ReportsDirError,
    RunStamp,
    check_output_dir,
    create_run_dir,
    git_revision,
    make_run_id,
    point_latest,
    stamp_junit,
    utc_now,
    write_json,
)
from cloudgate.report.skips import CUT_SHORT as _CUT_SHORT

if TYPE_CHECKING:
    from cloudgate.estate import EstateSnapshot
    from cloudgate.report.metrics import Metric


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """The run directory, made by the controller before junitxml and pytest-html open their files."""
    config.stash[RUN_KEY] = None
    loaded = configured_target(config)
    if loaded is None or is_worker(config) or config.option.collectonly:
        return
    selection_of(config)  # a bad --hosts-filter / --sample stops the run before its directory exists
    profile = config.getoption("profile")
    started = utc_now()
    reports_root = reports_root_of(config)
    try:
        given = config.getoption("reports_dir")
        check_output_dir("reports" if given is None else given, "--reports-dir")
    except ReportsDirError as exc:  # one line and exit 4, before anything is made (not an INTERNALERROR)
        raise pytest.UsageError(str(exc)) from None
    reports_root.mkdir(parents=True, exist_ok=True)
    run_id = make_run_id(loaded.target.name, profile, started)
    run_dir = create_run_dir(reports_root, run_id)
    stamp = RunStamp(
        run_id=run_id,
        target=loaded.target.name,
        environment=loaded.target.environment.value,
        profile=profile,
        revision=git_revision(Path(__file__).resolve().parent),
        started=started,
        extra={"target_file": str(loaded.path), "allow_destructive": bool(config.getoption("allow_destructive"))},
    )
    config.stash[RUN_KEY] = RunState(stamp, run_dir, reports_root, metrics=_extra_metrics())
    if not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = str(run_dir / "junit.xml")
    if hasattr(config.option, "htmlpath") and not config.option.htmlpath:
        config.option.htmlpath = str(run_dir / "report.html")
        config.option.self_contained_html = True
    _html_metadata(config, stamp)
    os.environ["CLOUDGATE_RUN_DIR"] = str(run_dir)  # xdist workers inherit it for artifacts
    announce = os.environ.get("CLOUDGATE_RUN_DIR_FILE")
    if announce:  # a wrapper (cloudgate lab run) learns which directory is this run's, not "latest"
        Path(announce).write_text(str(run_dir))


def _extra_metrics() -> list[Metric]:
    """Figures measured before this pytest run by its wrapper (lab bring-up, benchmarks), if any."""
    path = os.environ.get("CLOUDGATE_EXTRA_METRICS")
    if not path or not Path(path).exists():
        return []
    from cloudgate.report.metrics import Metric

    return [Metric.model_validate(m) for m in json.loads(Path(path).read_text())]


def _html_metadata(config: pytest.Config, stamp: RunStamp) -> None:
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:  # pytest-html absent: the other reports still carry the stamp
        return
    meta = config.stash.get(metadata_key, None)
    if meta is None:
        return
    for key in ("Python", "Platform", "Packages", "Plugins"):
        meta.pop(key, None)
    for key, value in stamp.as_dict().items():
        if value is not None:
            meta[f"cloudgate {key}"] = str(value)


def _estate_of_run(state: RunState) -> EstateSnapshot | None:
    """The run's estate snapshot, if a check asked for one (any process of the run may have taken it)."""
    path = state.run_dir / ESTATE_FILE
    if not path.exists():
        return None
    from cloudgate.estate import EstateSnapshot

    try:
        return EstateSnapshot.model_validate_json(path.read_text())
    except ValueError:
        return None


def _selection_summary(config: pytest.Config, estate: EstateSnapshot | None) -> dict[str, Any] | None:
    """What part of the fleet a narrowed run (--hosts-filter, --sample) covered; None for a whole-fleet run."""
    selection = selection_of(config)
    if selection is None:
        return None
    hosts = estate.hosts if estate is not None else ()
    nodes = estate.cassandra.nodes if estate is not None and estate.cassandra is not None else ()
    return selection.summary(hosts, nodes)


def _counts(state: RunState) -> dict[str, int]:
    counts = Counter(state.outcomes.values())
    return {k: counts.get(k, 0) for k in OUTCOMES}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Iterator[None]:
    """The outermost sessionfinish: summary and metrics are written after everything else has run,
    the undo of an interrupted run and the ledger's safety net included."""
    try:
        return (yield)
    finally:
        _write_summary(session, int(session.exitstatus))


def _write_summary(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(RUN_KEY, None)
    if state is None:
        return
    state.stamp.ended = utc_now()
    counts = _counts(state)
    if exitstatus == 0 and not counts["passed"] and not session.config.option.collectonly:
        # nothing was checked (everything skipped or deselected): never report that as green
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
        exitstatus = int(session.exitstatus)
    estate = _estate_of_run(state)
    if estate is not None:
        state.stamp.extra["estate"] = estate.provenance()
    scope = _selection_summary(session.config, estate)
    if scope is not None:
        state.stamp.extra["selection"] = scope
    regressions = _history(session, state, counts, estate)
    exitstatus = int(session.exitstatus)
    write_json(
        state.run_dir / "metrics.json",
        {
            **state.stamp.as_dict(),
            "metrics": [m.model_dump() for m in state.metrics],
            "failed_metrics": [m.name for m in state.metrics if m.verdict == "fail"],
        },
    )
    write_json(
        state.run_dir / "summary.json",
        {
            **state.stamp.as_dict(),
            "exitstatus": int(exitstatus),
            "counts": counts,
            "outcomes": state.outcomes,
            "not_run": state.not_run,
            # each failure's one line (what the terminal and the page say), for tools reading this file
            "failures": {n: state.details[n].message for n, o in state.outcomes.items()
                         if o in ("failed", "error") and n in state.details},
            # a run cut short proves nothing about what it did not run: the page, Prometheus and the
            # history read this, never the counts alone
            "complete": not state.incomplete,
            "incomplete": _incomplete(state) if state.incomplete else None,
            "history": regressions,
        },
    )


def _incomplete(state: RunState) -> dict[str, Any]:
    """Why the run is incomplete and how much of it ran (the selected checks, and those that finished)."""
    if state.selected is None:  # cut short while collecting: which checks it would have run is unknown
        return {"why": state.incomplete, "selected": None, "not_finished": None}
    unfinished = sum(1 for n in state.not_run if n in state.outcomes and state.not_run[n].startswith(_CUT_SHORT))
    return {"why": state.incomplete, "selected": len(state.selected), "not_finished": unfinished}


def _history(session: pytest.Session, state: RunState, counts: dict[str, int],
             estate: EstateSnapshot | None) -> dict[str, Any]:
    """Record the run in reports/history.sqlite and judge it against the last comparable runs.

    A blocking flag (a metric regression, a new failure) fails the run unless --no-fail-on-regression;
    a history that cannot be used fails it too, in one line: a nightly that silently stops
    remembering would hide every later regression.
    """
    config = session.config
    loaded = loaded_target_of(config)
    if loaded is None or config.option.collectonly:
        return {}
    from cloudgate.report.record import HistoryPolicy, build_record, record_and_compare

    policy = loaded.target.history
    stamp = state.stamp.as_dict()
    kind = config.getoption("run_kind")
    selection = selection_of(config)
    if kind == "run" and selection is not None and selection.narrowed:
        kind = "narrowed"  # compared only with narrowed runs, and never for missing checks (regression.py)
    if state.incomplete:
        kind = "interrupted"  # never a baseline of a complete run, never compared itself (record.py)
    run = build_record(stamp, kind, int(session.exitstatus), counts, state.outcomes,
                       state.details, state.metrics, estate.cloudstack_version if estate is not None else None)
    lines: list[str] = []
    fail_on_regression = not config.getoption("no_fail_on_regression")
    try:
        comparison = record_and_compare(
            state.reports_root, run, HistoryPolicy(policy.compare_last, policy.min_runs, policy.all_tolerances()),
            lines.append, fail_on_regression)
    except (HistoryError, sqlite3.Error, OSError) as exc:
        lines.append(f"cloudgate: history not recorded: {exc}")
        _terminal_lines(config, lines)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
        return {"error": str(exc)}
    blocking = comparison.blocking
    fail = bool(blocking) and fail_on_regression
    if run.exitstatus != session.exitstatus:
        session.exitstatus = pytest.ExitCode(run.exitstatus)
    if kind == "interrupted":
        lines.append(f"history: recorded as interrupted: not compared, and no later run of {run.target} / "
                     f"{run.profile} will compare with it")
    else:
        lines.append(f"history: compared with {len(comparison.baseline_runs)} earlier run(s) of {run.target} / "
                     f"{run.profile}: {len(blocking)} regression(s)"
                     + ("" if not blocking else " (fails the run)" if fail else " (--no-fail-on-regression)"))
    lines += [f"  {flag.kind.replace('_', ' ')}: {flag.detail}" for flag in comparison.flags]
    _terminal_lines(config, lines)
    return {"baseline_runs": comparison.baseline_runs, "fails_run": fail, "interrupted": kind == "interrupted",
            "flags": [{"kind": f.kind, "subject": f.subject, "detail": f.detail} for f in comparison.flags],
            "not_compared": comparison.not_compared}


def _terminal_lines(config: pytest.Config, lines: list[str]) -> None:
    """Lines after pytest's own summary (the terminal summary has been written by now)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    for line in lines:
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(RUN_KEY, None)
    if state is None:
        return
    stamp_junit(state.run_dir / "junit.xml", state.stamp, _counts(state))
    point_latest(state.reports_root, state.run_dir)
    _render_page(state)


def _render_page(state: RunState) -> None:
    """reports/<run>/index.html and cloudgate.prom, last: they read the finished junit, summary,
    metrics and history.

    A page that cannot be written costs one line, never the run's result."""
    from cloudgate.report.page import PageError, render_run_page
    from cloudgate.report.prometheus import write_prometheus

    history = state.reports_root / "history.sqlite"
    try:
        page = render_run_page(state.run_dir, history)
        write_prometheus(state.run_dir, state.reports_root, history)
    except (PageError, OSError) as exc:
        print(f"cloudgate: the operators' page was not written: {exc}")
        return
    print(f"page: {page}")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(RUN_KEY, None)
    if state is None:
        return
    counts = _counts(state)
    tr = terminalreporter
    tr.section("cloudgate")
    if state.incomplete:
        info = _incomplete(state)
        done = ("before its checks were selected: nothing was checked" if info["selected"] is None else
                f"{info['not_finished']} of {info['selected']} selected check(s) did not finish and count as not run")
        tr.write_line(f"RUN INCOMPLETE ({info['why']}): {done}; this run is no evidence about them", red=True)
    tr.write_line(
        f"target {state.stamp.target} ({state.stamp.environment}), profile {state.stamp.profile}: "
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['error']} error, "
        f"{counts['not_run']} not run (a check not run is not a pass)"
        + (f", {counts['not_applicable']} not applicable" if counts["not_applicable"] else "")
        + (f", {counts['waived']} waived" if counts["waived"] else "")
    )
    estate = _estate_of_run(state)
    if estate is not None:
        for line in estate.provenance_lines():
            tr.write_line(f"  estate: {line}")
    scope = state.stamp.extra.get("selection") or _selection_summary(config, estate)
    if scope:
        from cloudgate.selection import scope_line

        tr.write_line(f"  {scope_line(scope)}")
    for reason, n in Counter(state.not_run.values()).most_common(8):
        kind = "waived" if reason.startswith("waived until") else "not run"
        tr.write_line(f"  {kind} x{n}: {reason}")
    for m in state.metrics:
        limit = "" if m.threshold is None else f" (threshold {m.threshold:g} {m.unit}, {m.verdict})"
        tr.write_line(f"  metric {m.name} = {m.value:.4g} {m.unit}{limit}")
    tr.write_line(f"reports: {state.run_dir}")


def pytest_html_results_summary(prefix: list[str], summary: list[str], postfix: list[str], session: Any) -> None:
    from html import escape

    state = session.config.stash.get(RUN_KEY, None)
    if state is None:
        return
    counts = _counts(state)
    prefix.append(
        f"<p><b>cloudgate</b>: target <b>{escape(state.stamp.target)}</b> ({escape(state.stamp.environment)}), "
        f"profile <b>{escape(state.stamp.profile)}</b>, revision {escape(state.stamp.revision)}. "
        f"Not run: {counts['not_run']}, not applicable: {counts['not_applicable']} (skipped checks are not passes).</p>"
    )
    estate = _estate_of_run(state)
    if estate is not None:
        prefix.append("".join(f"<p>estate: {escape(line)}</p>" for line in estate.provenance_lines()))
    if state.metrics:
        rows = "".join(
            f"<tr><td>{escape(m.name)}</td><td>{m.value:.4g}</td><td>{escape(m.unit)}</td>"
            f"<td>{'' if m.threshold is None else f'{m.threshold:g}'}</td><td>{m.verdict}</td></tr>"
            for m in state.metrics
        )
        prefix.append(
            "<table><tr><th>metric</th><th>value</th><th>unit</th><th>threshold</th><th>verdict</th></tr>"
            f"{rows}</table>"
        )
