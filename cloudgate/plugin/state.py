"""What the plugin's parts share: the stash keys, the run's state, and the destructive rule.

No hooks live here. Every other part of the plugin imports this module and none imports another
part, so the plugin has no import cycle (options, outcomes, reports and fixtures each stand alone).
The target file's models (pydantic) are imported when a --target is loaded, not with the plugin.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cloudgate.checkdecl import DECLARED  # noqa: F401 - what the parts record, from its one definition
from cloudgate.errors import TargetError
from cloudgate.report.skips import NOT_APPLICABLE, NOT_RUN  # noqa: F401 - the skip words, shared with the page

if TYPE_CHECKING:
    from cloudgate.report.metrics import Metric
    from cloudgate.report.rundir import RunStamp
    from cloudgate.selection import Selection
    from cloudgate.target import LoadedTarget
    from cloudgate.waivers import Waiver

PROFILES = ("smoke", "nightly", "gate")
OUTCOMES = ("passed", "failed", "error", "waived", "not_applicable", "not_run")
# every selected check and its declaration (id, severity, tier, plane, kind), written at collection by
# the process that collects (the controller, or an xdist worker for it): read by the page too
SELECTED_FILE = "selected.json"
ESTATE_FILE = "estate.json"  # cloudgate.estate.ESTATE_FILE, named here so reports need not import the models

TARGET_KEY = pytest.StashKey["LoadedTarget | None"]()
WAIVERS_KEY = pytest.StashKey["list[Waiver]"]()
RUN_KEY = pytest.StashKey["RunState | None"]()
SELECTION_KEY = pytest.StashKey["Selection | None"]()  # --hosts-filter / --sample; None: the whole fleet


@dataclass
class RunState:
    """What the controller process collects while the run goes on."""

    stamp: RunStamp
    run_dir: Path
    reports_root: Path
    metrics: list[Metric] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)
    not_run: dict[str, str] = field(default_factory=dict)
    phases: dict[str, set[str]] = field(default_factory=dict)  # nodeid -> phases that reported
    details: dict[str, CheckDetail] = field(default_factory=dict)  # nodeid -> what the history keeps of it
    # every check the run selected (after profile, -k and deselection), with its id and severity, known
    # before any runs: a run cut short counts the ones that never started instead of forgetting them
    selected: dict[str, CheckDetail] | None = None
    incomplete: str = ""  # why the run did not finish every selected check ("" when it did)


@dataclass
class CheckDetail:
    """A check's id, severity, time spent (all phases) and the one line it failed or was skipped with."""

    check_id: str = ""
    severity: str = ""
    duration_s: float = 0.0
    message: str = ""
    tier: str = ""  # what the check declares (cloudgate.checkdecl), recorded for the page and the history
    plane: str = ""
    kind: str = ""  # "drill" for a failover drill

def is_worker(config: pytest.Config) -> bool:
    """A pytest-xdist worker (the controller writes the reports, workers run the checks)."""
    return hasattr(config, "workerinput")


def configured_target(config: pytest.Config) -> LoadedTarget | None:
    """Load --target and its waivers once (whichever part's pytest_configure comes first).

    A bad target file, an unset secret variable or a missing file it names stops the run here,
    in one line, before anything runs.
    """
    if TARGET_KEY in config.stash:
        return config.stash[TARGET_KEY]
    loaded: LoadedTarget | None = None
    waivers: list[Waiver] = []
    target_path = config.getoption("target")
    if target_path:
        from cloudgate.target import load_target
        from cloudgate.waivers import load_waivers

        try:
            loaded = load_target(target_path)
            loaded.check_environment()
            if loaded.target.waivers:
                waivers = load_waivers(loaded.resolve(loaded.target.waivers))
        except TargetError as exc:
            raise pytest.UsageError(str(exc)) from None
    config.stash[WAIVERS_KEY] = waivers
    config.stash[TARGET_KEY] = loaded
    return loaded


def selection_of(config: pytest.Config) -> Selection | None:
    """The run's narrowing (--hosts-filter, --sample), parsed once; a bad one stops the run in one line."""
    if SELECTION_KEY in config.stash:
        return config.stash[SELECTION_KEY]
    filters, sample = config.getoption("hosts_filter", None), config.getoption("sample", None)
    if isinstance(sample, str):  # taken as text: argparse's own refusal is pytest's usage screen, not one line
        try:
            sample = int(sample)
        except ValueError:
            raise pytest.UsageError(f"--sample {sample!r}: not a whole number of hosts per rack") from None
    selection = None
    if filters or sample is not None:
        from cloudgate.selection import Selection, SelectionError

        try:
            selection = Selection.from_options(filters, sample)
        except SelectionError as exc:
            raise pytest.UsageError(str(exc)) from None
    config.stash[SELECTION_KEY] = selection
    return selection


def loaded_target_of(config: pytest.Config) -> LoadedTarget | None:
    return config.stash.get(TARGET_KEY, None)


def reports_root_of(config: pytest.Config) -> Path:
    """reports/ of this run (--reports-dir), where the last good estate snapshot of each target lives."""
    return Path(config.getoption("reports_dir") or "reports").resolve()


def shared_run_dir() -> Path | None:
    """The run's report directory as every process of the run sees it (xdist workers inherit it)."""
    env = os.environ.get("CLOUDGATE_RUN_DIR")
    return Path(env) if env and Path(env).is_dir() else None


def destructive_refusal(config: pytest.Config) -> str | None:
    """Why destructive tests may not run in this session, or None when they may."""
    loaded = loaded_target_of(config)
    if loaded is None:
        return f"{NOT_RUN}destructive check needs a --target (lab or preproduction)"
    env = loaded.target.environment
    if not env.allows_destructive:
        return f"{NOT_RUN}destructive check refused on an environment: {env.value} target ({loaded.target.name})"
    if not config.getoption("allow_destructive"):
        return f"{NOT_RUN}destructive check needs --allow-destructive"
    return None
