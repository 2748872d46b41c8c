"""Outcomes, waivers and accounting: what each check's result *means* to an operator.

- Errors that already say everything (unreachable host, API error) are shown as one line.
- A failure under an unexpired waiver is reported as waived, never as passed.
- A skipped check is "not run", or "not applicable" when the target has nothing for it to check
  (a host in maintenance, a cloud with no Cassandra); neither is ever counted with the passes.
- A test's outcome is its worst phase: an error in teardown is not hidden by a passing call.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloudgate.errors import (
    CassandraError,
    CassandraReadOnlyError,
    CloudStackError,
    HostUnreachable,
    TargetError,
)
from cloudgate.plugin.state import (
    DECLARED,
    RUN_KEY,
    SELECTED_FILE,
    WAIVERS_KEY,
    CheckDetail,
    RunState,
    is_worker,
    shared_run_dir,
)
from cloudgate.report.rundir import utc_now
from cloudgate.report.skips import INTERRUPTED, NOT_STARTED, WAIVED, skip_kind

# from cloudgate.errors: the classes themselves, without the driver, SSH and HTTP libraries raising them
ONE_LINE_ERRORS = (CloudStackError, HostUnreachable, CassandraError, CassandraReadOnlyError, TargetError)
_RANK = {"passed": 0, "not_applicable": 1, "not_run": 2, "waived": 3, "failed": 4, "error": 5}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and report.failed and isinstance(call.excinfo.value, ONE_LINE_ERRORS):
        report.longrepr = f"{type(call.excinfo.value).__name__}: {call.excinfo.value}"
    if report.failed and report.when in ("setup", "call"):  # an unreachable host fails at setup
        _apply_waiver(item, report)


def _apply_waiver(item: pytest.Item, report: pytest.TestReport) -> None:
    check = item.get_closest_marker("check")
    check_id = check.kwargs.get("id") if check else None
    callspec = getattr(item, "callspec", None)
    waivers = item.config.stash.get(WAIVERS_KEY, [])
    if not waivers:  # nothing to find (and the waiver models stay unimported)
        return
    from cloudgate.waivers import find as find_waiver

    waiver = find_waiver(waivers, check_id, callspec.id if callspec else None)
    if waiver is None:
        return
    if waiver.expires >= utc_now().date():
        report.outcome = "skipped"
        report.longrepr = (str(item.path), 0, f"{WAIVED} {waiver.expires}: {waiver.justification}")
    else:
        report.sections.append(("cloudgate waiver", f"waiver for {check_id} expired on {waiver.expires}: {waiver.justification}"))
        if isinstance(report.longrepr, str):
            report.longrepr += f" (waiver expired on {waiver.expires})"



_SESSION_CONFIG: list[pytest.Config] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    _SESSION_CONFIG[:] = [session.config]


def _state() -> RunState | None:
    if not _SESSION_CONFIG:
        return None
    return _SESSION_CONFIG[0].stash.get(RUN_KEY, None)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    state = _state()
    if state is None:
        return
    if report.when == "teardown":
        from cloudgate.report.metrics import USER_PROPERTY, Metric  # only a run with a target has a state

        for name, value in report.user_properties:
            if name == USER_PROPERTY:
                state.metrics.append(Metric.model_validate_json(value))
    if report.skipped:
        reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr).removeprefix("Skipped: ")
        outcome = skip_kind(reason)
        state.not_run[report.nodeid] = reason
    elif report.failed:
        outcome = "failed" if report.when == "call" else "error"
    else:
        outcome = "passed"
    state.phases.setdefault(report.nodeid, set()).add(report.when)
    previous = state.outcomes.get(report.nodeid, "passed")
    state.outcomes[report.nodeid] = max(previous, outcome, key=_RANK.__getitem__)
    _note_detail(state, report, outcome)


MESSAGE_CHARS = 400


def one_line_message(report: pytest.TestReport) -> str:
    """The line a failure or skip was reported with (the assertion's message, not its traceback)."""
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple):
        text = str(longrepr[2]).removeprefix("Skipped: ")
    else:
        crash = getattr(longrepr, "reprcrash", None)
        text = str(crash.message) if crash is not None else str(longrepr)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0].removeprefix("AssertionError: ").removeprefix("Failed: ") if lines else ""
    return first[:MESSAGE_CHARS]


def _note_detail(state: RunState, report: pytest.TestReport, outcome: str) -> None:
    detail = state.details.setdefault(report.nodeid, CheckDetail())
    detail.duration_s += float(getattr(report, "duration", 0.0) or 0.0)
    for name, value in report.user_properties:
        if name in DECLARED:
            setattr(detail, name, str(value))
    if outcome != "passed" and not detail.message:
        detail.message = one_line_message(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A module that fails to import is an error of the run, not a silent zero."""
    state = _state()
    if state is not None and report.failed:
        state.outcomes[report.nodeid or "collection"] = "error"


INCOMPLETE_WHY = {int(pytest.ExitCode.INTERRUPTED): "interrupted by Ctrl-C or a signal",
                  int(pytest.ExitCode.INTERNAL_ERROR): "stopped by an internal error"}


def declared(item: pytest.Item) -> CheckDetail:
    """What a test declares, as the options part recorded it (nothing for a test that is not a check)."""
    props = {name: str(value) for name, value in item.user_properties if name in DECLARED}
    return CheckDetail(**props)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Remember every selected check (trylast: after the profile's, -k's and --deselect's choices).

    Written into the run directory too (whole, then renamed): under xdist the controller collects
    nothing, so the workers, which all collect the same, write it for the controller; and the page
    reads each check's declared plane there, also for a check that never started."""
    selected = {item.nodeid: declared(item) for item in items}
    state = config.stash.get(RUN_KEY, None)
    if state is not None:
        state.selected = selected
    run_dir = state.run_dir if state is not None else shared_run_dir() if is_worker(config) else None
    if run_dir is not None:
        import json
        import os

        path = run_dir / SELECTED_FILE
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({n: [getattr(d, k) for k in DECLARED] for n, d in selected.items()}))
        os.replace(tmp, path)


def _selected_of(state: RunState) -> dict[str, CheckDetail]:
    """The selected checks: collected here, else by the xdist workers; {} (and None kept) when unknown."""
    if state.selected is not None:
        return state.selected
    import json

    try:
        raw = json.loads((state.run_dir / SELECTED_FILE).read_text())
        state.selected = {str(n): CheckDetail(**dict(zip(DECLARED, map(str, v), strict=False)))
                          for n, v in raw.items()}
    except (OSError, ValueError, TypeError, IndexError, AttributeError):
        return {}  # no worker finished collecting (interrupted before): what was selected is unknown
    return state.selected


def close_interrupted(state: RunState) -> None:
    """A check whose setup passed but whose call never reported was cut short: not run, never passed."""
    for nodeid, phases in state.phases.items():
        if "setup" in phases and "call" not in phases and state.outcomes.get(nodeid) == "passed":
            state.outcomes[nodeid] = "not_run"
            state.not_run[nodeid] = INTERRUPTED


def close_not_started(state: RunState, exitstatus: int) -> None:
    """Every selected check that never reported is counted not run, and the run says why it is incomplete."""
    selected = _selected_of(state)
    missing = [n for n in selected if n not in state.outcomes]
    why = INCOMPLETE_WHY.get(exitstatus, "")
    if missing and not why:
        why = "ended before every selected check ran"
    if not why:
        return
    state.incomplete = why
    for nodeid in missing:
        state.outcomes[nodeid] = "not_run"
        state.not_run[nodeid] = NOT_STARTED.format(why=why)
        detail = state.details.setdefault(nodeid, CheckDetail())
        for key in DECLARED:
            setattr(detail, key, getattr(detail, key) or getattr(selected[nodeid], key))
        detail.message = detail.message or state.not_run[nodeid]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After pytest's own teardown (the undo of an interrupted run), before the reports are written."""
    state = session.config.stash.get(RUN_KEY, None)
    if state is not None:
        close_interrupted(state)
        close_not_started(state, int(session.exitstatus))
