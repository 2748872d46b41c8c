"""Options and selection: --target, --profile, destructive gating, timeouts, measurements alone.

The product's rules, in code:
- a profile (smoke | nightly | gate) selects tests by marker; nobody hand-picks checks;
- a `destructive` test runs only with --allow-destructive *and* a lab/preproduction target,
  otherwise it is skipped with the reason in every report;
- every test has a timeout (per-marker default) so one hung host cannot stall a nightly run;
- under pytest-xdist a `measurement` runs alone (cloudgate.measurelock);
- failover drills run last, so no other check sees a cloud still converging from one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudgate.checkdecl import PLANES, CheckDeclaration, DeclarationError, declaration
from cloudgate.measurelock import machine_share
from cloudgate.plugin.state import PROFILES, configured_target, destructive_refusal, is_worker, selection_of
from cloudgate.report.history import RUN_KINDS

MARKERS = {
    "smoke": "read-only, fast check; safe on production after an incident (profile smoke runs only these)",
    "destructive": "changes the cloud (deploys VMs, injects faults); needs --allow-destructive and a lab/preproduction target",
    "slow": "long drill; left out of the gate profile",
    "check(id, severity, tier, plane)": "stable check id (e.g. CG-HOST-001), severity (critical|major|minor), "
                                        "the tier it is about and its plane (data|control): cloudgate.checkdecl",
    "measurement": "measures time (write latency, deploy time): under pytest-xdist it runs with no other check running",
    "drill": "failover drill: breaks the cloud on purpose and heals it; runs after every other check, alone",
}
# Default timeouts per marker, in seconds; the first marker found wins, an explicit
# @pytest.mark.timeout always wins.
TIMEOUTS = (("slow", 1800.0), ("destructive", 900.0), ("smoke", 120.0))
DEFAULT_TIMEOUT = 300.0


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
    group.addoption("--no-fail-on-regression", action="store_true", default=False,
                    help="report metric regressions and new failures against the last runs (reports/history.sqlite) "
                         "without failing the run on them")
    group.addoption("--run-kind", choices=[k for k in RUN_KINDS if k != "interrupted"], default="run",
                    help="what the history records this run as (set by `cloudgate gate`)")
    group.addoption("--hosts-filter", action="append", default=None, metavar="KEY=GLOB[,KEY=GLOB]",
                    help="check only the hosts matching (keys dc, rack, cluster, tag, name; repeat to add hosts), "
                         "and the Cassandra nodes on them; recorded in the reports")
    group.addoption("--plane", choices=PLANES, default=None,
                    help="run only the checks declaring this plane (data: running services; control: the "
                         "CloudStack API and deploying); what `cloudgate gate during` runs with the API down")
    group.addoption("--sample", default=None, metavar="N",  # a whole number, checked in one line (state.py)
                    help="check N hosts per rack (the same N for the same fleet: chosen by a hash of the name); "
                         "recorded in the reports")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """A nightly suite run (a target, profile nightly) gives the property tests many more examples.

    Done here, before the test folders' conftests are imported, because they pick their
    Hypothesis profile from CLOUDGATE_HYPOTHESIS_PROFILE at import time.
    """
    ns = early_config.known_args_namespace
    if getattr(ns, "target", None) and getattr(ns, "profile", "nightly") == "nightly":
        os.environ.setdefault("CLOUDGATE_HYPOTHESIS_PROFILE", "nightly")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Markers, then the target and its waivers: a bad target file stops the run here, in one line."""
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    configured_target(config)
    selection_of(config)


def _selected_by_profile(item: pytest.Item, profile: str) -> bool:
    if profile == "smoke":
        return item.get_closest_marker("smoke") is not None
    if profile == "gate":
        return item.get_closest_marker("slow") is None
    return True


def _declared(item: pytest.Item) -> CheckDeclaration | None:
    """The check's declaration (None for a test that is not a check); a bad one stops the run in one line."""
    check = item.get_closest_marker("check")
    if check is None:
        return None
    try:
        return declaration(check.args, check.kwargs)
    except DeclarationError as exc:
        raise pytest.UsageError(f"{item.nodeid}: {exc}") from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    profile = config.getoption("profile")
    plane = config.getoption("plane", None)
    declared = {item.nodeid: _declared(item) for item in items}
    kept, dropped = [], []
    for item in items:
        by_plane = plane is None or ((d := declared[item.nodeid]) is not None and d.plane == plane)
        (kept if by_plane and _selected_by_profile(item, profile) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept

    # drills last: a check running after a drill would judge a cloud still converging from it
    items.sort(key=lambda item: item.get_closest_marker("drill") is not None)
    refusal = destructive_refusal(config)
    for item in items:
        if refusal and item.get_closest_marker("destructive") is not None:
            item.add_marker(pytest.mark.skip(reason=refusal))
        if item.get_closest_marker("timeout") is None:
            seconds = next((t for m, t in TIMEOUTS if item.get_closest_marker(m) is not None), DEFAULT_TIMEOUT)
            item.add_marker(pytest.mark.timeout(seconds))
        decl = declared[item.nodeid]
        if decl is not None:  # in junit.xml, summary.json and the history: what the page and the gate read
            item.user_properties += [("check_id", decl.check_id), ("severity", decl.severity), ("tier", decl.tier),
                                     ("plane", decl.plane)]
            if item.get_closest_marker("drill") is not None:
                item.user_properties.append(("kind", "drill"))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Under xdist, a measurement runs alone, setup to teardown (see cloudgate.measurelock).
    tryfirst: the lock is taken before pytest-timeout starts the check's clock."""
    run_dir = os.environ.get("CLOUDGATE_RUN_DIR")
    if not is_worker(item.config) or not run_dir:
        yield
        return
    exclusive = item.get_closest_marker("measurement") is not None
    with machine_share(Path(run_dir), exclusive) as waited:
        if exclusive:
            item.user_properties.append(("waited_for_other_checks_s", round(waited, 3)))
        yield
