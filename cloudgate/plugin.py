"""The cloudgate pytest plugin: target, profiles, destructive gating, timeouts, reports, fixtures.

Registered through the `pytest11` entry point, so `pytest --help` shows its options wherever the
package is installed. The rules it enforces are the product's rules, in code:
- a profile (smoke | nightly | gate) selects tests by marker; nobody hand-picks checks;
- a `destructive` test runs only with --allow-destructive *and* a lab/preproduction target,
  otherwise it is skipped with the reason in every report;
- every test has a timeout (per-marker default) so one hung host cannot stall a nightly run;
- every run with a target writes reports/<run-id>/{junit.xml,report.html,metrics.json} stamped
  with target, profile, git revision and times, and repoints reports/latest;
- a skipped check is reported as "not run", never counted with the passes.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cloudgate.cassandra import CassandraError
from cloudgate.cloud import CloudStackError
from cloudgate.cqlguard import CassandraReadOnlyError
from cloudgate.fixtures import (  # noqa: F401 - fixtures and hooks exported by the plugin
    cassandra_host,
    cassandra_node,
    cassandra_ring,
    cloudstack,
    cloudstack_rw,
    host_pool,
    hypervisor,
    hypervisor_host,
    pytest_generate_tests,
)
from cloudgate.hosts import HostUnreachable
from cloudgate.measurelock import machine_share
from cloudgate.report.metrics import USER_PROPERTY, Better, Metric
from cloudgate.report.rundir import (
    RunStamp,
    create_run_dir,
    git_revision,
    make_run_id,
    point_latest,
    stamp_junit,
    utc_now,
    write_json,
)
from cloudgate.target import LoadedTarget, TargetError, load_target
from cloudgate.waivers import Waiver, load_waivers
from cloudgate.waivers import find as find_waiver

PROFILES = ("smoke", "nightly", "gate")
MARKERS = {
    "smoke": "read-only, fast check; safe on production after an incident (profile smoke runs only these)",
    "destructive": "changes the cloud (deploys VMs, injects faults); needs --allow-destructive and a lab/preproduction target",
    "slow": "long drill; left out of the gate profile",
    "check(id, severity)": "stable check id (e.g. CG-HOST-001) and severity (critical|major|minor) recorded in reports",
    "measurement": "measures time (write latency, deploy time): under pytest-xdist it runs with no other check running",
}
# Default timeouts per marker, in seconds; the first marker found wins, an explicit
# @pytest.mark.timeout always wins.
TIMEOUTS = (("slow", 1800.0), ("destructive", 900.0), ("smoke", 120.0))
DEFAULT_TIMEOUT = 300.0

TARGET_KEY = pytest.StashKey["LoadedTarget | None"]()
WAIVERS_KEY = pytest.StashKey["list[Waiver]"]()
RUN_KEY = pytest.StashKey["RunState | None"]()


@dataclass
class RunState:
    """What the controller process collects while the run goes on."""

    stamp: RunStamp
    run_dir: Path
    reports_root: Path
    metrics: list[Metric] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)
    not_run: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- options & setup
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cloudgate", "cloudgate: check a cloud against its promises")
    group.addoption("--target", metavar="FILE", default=None,
                    help="target file (YAML) describing the cloud to check, e.g. fixtures/targets/lab.yaml")
    group.addoption("--profile", choices=PROFILES, default="nightly",
                    help="smoke: read-only subset (after an incident, production); nightly: everything "
                         "(preproduction); gate: all but the longest drills (before/after an upgrade)")
    group.addoption("--allow-destructive", action="store_true", default=False,
                    help="let destructive checks run (only honoured on lab or preproduction targets)")
    group.addoption("--reports-dir", metavar="DIR", default=None,
                    help="where runs with a target write reports/<run-id>/ (default: ./reports)")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """A nightly suite run (a target, profile nightly) gives the property tests many more examples.

    Done here, before the test folders' conftests are imported, because they pick their
    Hypothesis profile from CLOUDGATE_HYPOTHESIS_PROFILE at import time.
    """
    ns = early_config.known_args_namespace
    if getattr(ns, "target", None) and getattr(ns, "profile", "nightly") == "nightly":
        os.environ.setdefault("CLOUDGATE_HYPOTHESIS_PROFILE", "nightly")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")

    profile = config.getoption("profile")

    loaded: LoadedTarget | None = None
    waivers: list[Waiver] = []
    target_path = config.getoption("target")
    if target_path:
        try:
            loaded = load_target(target_path)
            loaded.check_environment()  # a missing secret variable or file stops the run here, in one line
            if loaded.target.waivers:
                waivers = load_waivers(loaded.resolve(loaded.target.waivers))
        except TargetError as exc:
            raise pytest.UsageError(str(exc)) from None
    config.stash[WAIVERS_KEY] = waivers
    config.stash[TARGET_KEY] = loaded

    config.stash[RUN_KEY] = None
    if loaded is None or _is_worker(config) or config.option.collectonly:
        return
    started = utc_now()
    reports_root = Path(config.getoption("reports_dir") or "reports").resolve()
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


# --------------------------------------------------------------------------- selection
def _selected_by_profile(item: pytest.Item, profile: str) -> bool:
    if profile == "smoke":
        return item.get_closest_marker("smoke") is not None
    if profile == "gate":
        return item.get_closest_marker("slow") is None
    return True


def destructive_refusal(config: pytest.Config) -> str | None:
    """Why destructive tests may not run in this session, or None when they may."""
    loaded = config.stash.get(TARGET_KEY, None)
    if loaded is None:
        return "not run: destructive check needs a --target (lab or preproduction)"
    env = loaded.target.environment
    if not env.allows_destructive:
        return f"not run: destructive check refused on an environment: {env.value} target ({loaded.target.name})"
    if not config.getoption("allow_destructive"):
        return "not run: destructive check needs --allow-destructive"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    profile = config.getoption("profile")
    kept, dropped = [], []
    for item in items:
        (kept if _selected_by_profile(item, profile) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept

    refusal = destructive_refusal(config)
    for item in items:
        if refusal and item.get_closest_marker("destructive") is not None:
            item.add_marker(pytest.mark.skip(reason=refusal))
        if item.get_closest_marker("timeout") is None:
            seconds = next((t for m, t in TIMEOUTS if item.get_closest_marker(m) is not None), DEFAULT_TIMEOUT)
            item.add_marker(pytest.mark.timeout(seconds))
        check = item.get_closest_marker("check")
        if check is not None:
            item.user_properties.append(("check_id", check.kwargs.get("id", check.args[0] if check.args else "")))
            item.user_properties.append(("severity", check.kwargs.get("severity", "major")))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Under xdist, a measurement runs alone, setup to teardown (see cloudgate.measurelock).
    tryfirst: the lock is taken before pytest-timeout starts the check's clock."""
    run_dir = os.environ.get("CLOUDGATE_RUN_DIR")
    if not _is_worker(item.config) or not run_dir:
        yield
        return
    exclusive = item.get_closest_marker("measurement") is not None
    with machine_share(Path(run_dir), exclusive) as waited:
        if exclusive:
            item.user_properties.append(("waited_for_other_checks_s", round(waited, 3)))
        yield


# --------------------------------------------------------------------------- outcomes & metrics
ONE_LINE_ERRORS = (CloudStackError, HostUnreachable, CassandraError, CassandraReadOnlyError, TargetError)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Errors that already say everything (unreachable host, API error) are shown as one line."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and report.failed and isinstance(call.excinfo.value, ONE_LINE_ERRORS):
        report.longrepr = f"{type(call.excinfo.value).__name__}: {call.excinfo.value}"
    if report.failed and report.when in ("setup", "call"):  # an unreachable host fails at setup
        _apply_waiver(item, report)


def _apply_waiver(item: pytest.Item, report: pytest.TestReport) -> None:
    """A failure under an unexpired waiver is reported as waived (a kind of skip), never as passed."""
    check = item.get_closest_marker("check")
    check_id = check.kwargs.get("id") if check else None
    callspec = getattr(item, "callspec", None)
    waiver = find_waiver(item.config.stash.get(WAIVERS_KEY, []), check_id, callspec.id if callspec else None)
    if waiver is None:
        return
    if waiver.expires >= utc_now().date():
        report.outcome = "skipped"
        report.longrepr = (str(item.path), 0, f"waived until {waiver.expires}: {waiver.justification}")
    else:
        report.sections.append(("cloudgate waiver", f"waiver for {check_id} expired on {waiver.expires}: {waiver.justification}"))
        if isinstance(report.longrepr, str):
            report.longrepr += f" (waiver expired on {waiver.expires})"


_RANK = {"passed": 0, "not_run": 1, "waived": 2, "failed": 3, "error": 4}
OUTCOMES = ("passed", "failed", "error", "waived", "not_run")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    state = _state_from_report(report)
    if state is None:
        return
    if report.when == "teardown":
        for name, value in report.user_properties:
            if name == USER_PROPERTY:
                state.metrics.append(Metric.model_validate_json(value))
    if report.skipped:
        reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr).removeprefix("Skipped: ")
        outcome = "waived" if reason.startswith("waived until") else "not_run"
        state.not_run[report.nodeid] = reason
    elif report.failed:
        outcome = "failed" if report.when == "call" else "error"
    else:
        outcome = "passed"
    previous = state.outcomes.get(report.nodeid, "passed")
    # a test's outcome is its worst phase: an error in teardown is not hidden by a passing call
    state.outcomes[report.nodeid] = max(previous, outcome, key=_RANK.__getitem__)


_SESSION_CONFIG: list[pytest.Config] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    _SESSION_CONFIG[:] = [session.config]


def _state_from_report(report: pytest.TestReport | pytest.CollectReport) -> RunState | None:
    if not _SESSION_CONFIG:
        return None
    return _SESSION_CONFIG[0].stash.get(RUN_KEY, None)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A module that fails to import is an error of the run, not a silent zero."""
    state = _state_from_report(report)
    if state is not None and report.failed:
        state.outcomes[report.nodeid or "collection"] = "error"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(RUN_KEY, None)
    if state is None:
        return
    state.stamp.ended = utc_now()
    counts = Counter(state.outcomes.values())
    if exitstatus == 0 and not counts.get("passed") and not session.config.option.collectonly:
        # nothing was checked (everything skipped or deselected): never report that as green
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
        exitstatus = int(session.exitstatus)
    failed_metrics = [m.name for m in state.metrics if m.verdict == "fail"]
    write_json(
        state.run_dir / "metrics.json",
        {
            **state.stamp.as_dict(),
            "metrics": [m.model_dump() for m in state.metrics],
            "failed_metrics": failed_metrics,
        },
    )
    write_json(
        state.run_dir / "summary.json",
        {
            **state.stamp.as_dict(),
            "exitstatus": int(exitstatus),
            "counts": {k: counts.get(k, 0) for k in OUTCOMES},
            "outcomes": state.outcomes,
            "not_run": state.not_run,
        },
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(RUN_KEY, None)
    if state is None:
        return
    counts = Counter(state.outcomes.values())
    stamp_junit(state.run_dir / "junit.xml", state.stamp, {k: counts.get(k, 0) for k in OUTCOMES})
    point_latest(state.reports_root, state.run_dir)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(RUN_KEY, None)
    if state is None:
        return
    counts = Counter(state.outcomes.values())
    tr = terminalreporter
    tr.section("cloudgate")
    tr.write_line(
        f"target {state.stamp.target} ({state.stamp.environment}), profile {state.stamp.profile}: "
        f"{counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed, {counts.get('error', 0)} error, "
        f"{counts.get('not_run', 0)} not run (a check not run is not a pass)"
        + (f", {counts['waived']} waived" if counts.get("waived") else "")
    )
    reasons = Counter(state.not_run.values())
    for reason, n in reasons.most_common(8):
        kind = "waived" if reason.startswith("waived until") else "not run"
        tr.write_line(f"  {kind} x{n}: {reason}")
    for m in state.metrics:
        limit = "" if m.threshold is None else f" (threshold {m.threshold:g} {m.unit}, {m.verdict})"
        tr.write_line(f"  metric {m.name} = {m.value:.4g} {m.unit}{limit}")
    tr.write_line(f"reports: {state.run_dir}")


def pytest_html_results_summary(prefix: list[str], summary: list[str], postfix: list[str], session: Any) -> None:
    state = session.config.stash.get(RUN_KEY, None)
    if state is None:
        return
    counts = Counter(state.outcomes.values())
    prefix.append(
        f"<p><b>cloudgate</b>: target <b>{state.stamp.target}</b> ({state.stamp.environment}), "
        f"profile <b>{state.stamp.profile}</b>, revision {state.stamp.revision}. "
        f"Not run: {counts.get('not_run', 0)} (skipped checks are not passes).</p>"
    )
    if state.metrics:
        rows = "".join(
            f"<tr><td>{m.name}</td><td>{m.value:.4g}</td><td>{m.unit}</td>"
            f"<td>{'' if m.threshold is None else f'{m.threshold:g}'}</td><td>{m.verdict}</td></tr>"
            for m in state.metrics
        )
        prefix.append(
            "<table><tr><th>metric</th><th>value</th><th>unit</th><th>threshold</th><th>verdict</th></tr>"
            f"{rows}</table>"
        )


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def loaded_target(pytestconfig: pytest.Config) -> LoadedTarget:
    """The validated target; a test that needs one is not run without --target."""
    loaded = pytestconfig.stash.get(TARGET_KEY, None)
    if loaded is None:
        pytest.skip("not run: no --target given")
    return loaded


@pytest.fixture(scope="session")
def target(loaded_target: LoadedTarget):  # noqa: ANN201 - returns cloudgate.target.Target
    return loaded_target.target


@pytest.fixture(scope="session")
def thresholds(target):  # noqa: ANN001, ANN201
    return target.thresholds


@pytest.fixture(scope="session")
def run_dir(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where checks write artifacts (plots, histograms): the run's report dir, or a temp dir."""
    env = os.environ.get("CLOUDGATE_RUN_DIR")
    state = pytestconfig.stash.get(RUN_KEY, None)
    if state is not None:
        return state.run_dir
    if env and Path(env).is_dir():
        return Path(env)
    return tmp_path_factory.mktemp("cloudgate-artifacts")


@pytest.fixture
def metric(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Record a measured figure: metric(name, value, unit, threshold=None, better="lower").

    The one way a test writes a figure to metrics.json; returns the judged Metric so the test can
    assert on its verdict with a message that quotes the figure.
    """
    recorded: list[Metric] = []

    def record(name: str, value: float, unit: str, threshold: float | None = None, better: Better = "lower") -> Metric:
        m = Metric.measure(name, value, unit, threshold, better, test=request.node.nodeid)
        recorded.append(m)
        request.node.user_properties.append((USER_PROPERTY, m.model_dump_json()))
        return m

    yield record
