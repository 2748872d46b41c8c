"""`cloudgate gate before | during | after | destroy`: the upgrade window, step by step.

Each step runs the suite as its own pytest process (so its reports, ledger and history row are a
run like any other, recorded with its kind: gate-before, gate-during, gate-after) and keeps what
the next step needs in reports/gate-<target>/gate.json, beside the canaries' ledger. The steps
may run hours apart, from different shells: nothing lives in memory between them.

- before: the gate profile, then the canaries (cloudgate.gate.canaries); opens the gate.
- during (optional, management server down): CloudStack expected down; the canary VM answers
  SSH, the canary rows read back, and the data-plane checks pass (the estate from the last good
  snapshot, as every run does when the API is down).
- after: the canaries (there, unchanged, usable), the same profile with the same selection, then
  GO / NO-GO against `before` (cloudgate.gate.verdict), written beside the state; exit 0 / 1.
- destroy: undo the canaries from their ledger; closes the gate (its state is kept, renamed).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from cloudgate.childrun import run_child
from cloudgate.cloudstack.client import CloudStackClient, CloudStackError
from cloudgate.cloudstack.version import VersionError, parse_version
from cloudgate.gate import canaries as canary
from cloudgate.gate.verdict import GateVerdict, judge
from cloudgate.ledger import Ledger, corrupt_lines, describe_corrupt, mark_undone, pending
from cloudgate.ledger import read as ledger_read
from cloudgate.report.history import get_run, open_history
from cloudgate.report.record import history_path
from cloudgate.target import LoadedTarget
from cloudgate.undo import Undoer, UndoError, refusing_sigint

STATE_FILE = canary.GATE_STATE_FILE
NO_TESTS = 5  # pytest's exit status when nothing was selected
# while the management server is down for the upgrade, only the checks that declare the data plane
# run (cloudgate.checkdecl): a control-plane check is left out wherever it lives
DURING_SELECTION = "--plane=data"


class GateError(Exception):
    """A gate step cannot go on; str() is one line (exit status 2)."""


class GateState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str
    endpoint: str
    opened_at: str
    before_run: str
    upgrade_to: str | None = None
    suite_args: list[str] = []
    canaries: canary.Canaries
    during_runs: list[str] = []
    after_run: str | None = None
    verdict: str | None = None


def gate_dir(reports_root: Path, target: str) -> Path:
    return reports_root / f"gate-{target}"


def load_state(reports_root: Path, target: str) -> GateState | None:
    path = gate_dir(reports_root, target) / STATE_FILE
    if not path.exists():
        return None
    try:
        return GateState.model_validate_json(path.read_text())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise GateError(f"{path}: corrupt, or not a gate state this cloudgate reads ({where + ': ' if where else ''}"
                        f"{first['msg']}); kept as it is (the canaries it names are in ledger.jsonl beside it)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GateError(f"{path}: unreadable gate state ({exc}); kept as it is") from None


def save_state(reports_root: Path, state: GateState) -> Path:
    path = gate_dir(reports_root, state.target) / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.model_dump_json(indent=1))
    os.replace(tmp, path)
    return path


def _ledger(reports_root: Path, loaded: LoadedTarget, run: str) -> Ledger:
    return Ledger(gate_dir(reports_root, loaded.target.name) / "ledger.jsonl", run=run, target=loaded.target.name,
                  endpoint=loaded.target.cloudstack.endpoint)


def check_upgrade_to(upgrade_to: str | None) -> None:
    """A malformed --upgrade-to is refused before the gate runs anything or makes a canary: found only at
    `gate after`, it would cost the whole upgrade window and end in a NO-GO that says nothing of the cloud."""
    if upgrade_to is None:
        return
    try:
        parse_version(upgrade_to)
    except VersionError as exc:
        raise GateError(f"--upgrade-to: {exc}") from None


def _refuse_production(loaded: LoadedTarget) -> None:
    if not loaded.target.environment.allows_destructive:
        raise GateError(f"{loaded.target.name}: the gate creates canary VMs; refused on an environment: "
                        f"{loaded.target.environment.value} target (gate a preproduction cloud)")


# --------------------------------------------------------------------------- the suite
def run_suite(loaded: LoadedTarget, kind: str, reports_root: Path, paths: list[str], args: list[str]) -> tuple[int, str]:
    """The gate profile as its own pytest process; (exit status, run id)."""
    with tempfile.TemporaryDirectory(prefix="cloudgate-gate-") as tmp:
        announce = Path(tmp) / "run-dir"
        argv = [sys.executable, "-m", "pytest", *paths, f"--target={loaded.path}", "--profile=gate",
                "--allow-destructive", f"--run-kind={kind}", f"--reports-dir={reports_root}",
                "--no-fail-on-regression", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning",
                *args]
        # Ctrl-C: the run gets it once and time to undo and write its reports (cloudgate.childrun)
        rc = run_child(argv, {**os.environ, "CLOUDGATE_RUN_DIR_FILE": str(announce)}, what=f"the {kind} run")
        if not announce.exists():
            raise GateError(f"the {kind} run of the suite made no run directory (exit {rc})")
        return rc, Path(announce.read_text()).name


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- before
def before(loaded: LoadedTarget, reports_root: Path, paths: list[str], args: list[str], upgrade_to: str | None,
           say: Callable[[str], None] = print) -> int:
    check_upgrade_to(upgrade_to)
    _refuse_production(loaded)
    name = loaded.target.name
    existing = load_state(reports_root, name)
    if existing is not None:
        raise GateError(f"a gate for {name} is already open (before run {existing.before_run}, {existing.opened_at}): "
                        f"run `cloudgate gate after` or `cloudgate gate destroy` first")
    rc, run_id = run_suite(loaded, "gate-before", reports_root, paths, args)
    if rc not in (0, 1):
        raise GateError(f"the gate-before run {run_id} did not complete (exit {rc}): nothing to compare with")
    if rc == 1:
        say(f"gate before: some checks fail before the upgrade (run {run_id}); the comparison will call them known")
    client = CloudStackClient.for_target(loaded, allow_mutations=True)
    try:
        made = canary.create(client, loaded.target, _ledger(reports_root, loaded, run_id), run_id)
    except canary.CanaryError as exc:
        raise GateError(str(exc)) from None
    path = save_state(reports_root, GateState(
        target=name, endpoint=loaded.target.cloudstack.endpoint, opened_at=_now(), before_run=run_id,
        upgrade_to=upgrade_to, suite_args=list(args), canaries=made))
    say(f"gate before: open for {name} (run {run_id}); canaries: VM {made.running_vm_name} on {made.running_vm_host} "
        f"in group {made.group_name}, stopped VM {made.stopped_vm_name}, tag {canary.TAG_KEY}"
        + (f", {made.rows} rows in {made.keyspace}" if made.keyspace else "") + f"; state {path}")
    say("gate before: upgrade now; then `cloudgate gate after --target ...` (and `gate during` while it is down)")
    return 0


def _open_state(loaded: LoadedTarget, reports_root: Path, step: str) -> GateState:
    state = load_state(reports_root, loaded.target.name)
    if state is None:
        raise GateError(f"no gate open for {loaded.target.name} in {reports_root}: run `cloudgate gate before "
                        f"--target {loaded.path}` before the upgrade, then `gate {step}`")
    if state.endpoint != loaded.target.cloudstack.endpoint:
        raise GateError(f"the open gate of {loaded.target.name} is for {state.endpoint}, this target file names "
                        f"{loaded.target.cloudstack.endpoint}: not the same cloud")
    return state


# --------------------------------------------------------------------------- during
def during(loaded: LoadedTarget, reports_root: Path, paths: list[str], args: list[str],
           say: Callable[[str], None] = print) -> int:
    _refuse_production(loaded)
    state = _open_state(loaded, reports_root, "during")
    client = CloudStackClient.for_target(loaded)
    try:
        client.call("listCapabilities")
        say("gate during: CloudStack still answers: is the management server really down for the upgrade?")
    except CloudStackError as exc:
        say(f"gate during: CloudStack down, as expected during the upgrade ({exc})")
    problems = [p for p in (canary.ssh_answers(loaded.target, state.canaries),
                            canary.read_rows(loaded.target, state.canaries)) if p]
    rc, run_id = run_suite(loaded, "gate-during", reports_root, paths, [DURING_SELECTION, *state.suite_args, *args])
    state.during_runs.append(run_id)
    save_state(reports_root, state)
    if rc == NO_TESTS:
        say(f"gate during: the selection holds no data-plane check (run {run_id}); only the canaries were checked")
    elif rc != 0:
        problems.append(f"data-plane checks failed while the management server was down (run {run_id})")
    for problem in problems:
        say(f"gate during: {problem}")
    say(f"gate during: data plane {'NOT whole' if problems else 'whole'} with the control plane down (run {run_id})")
    return 1 if problems else 0


# --------------------------------------------------------------------------- after
def after(loaded: LoadedTarget, reports_root: Path, paths: list[str], args: list[str],
          say: Callable[[str], None] = print) -> int:
    _refuse_production(loaded)
    state = _open_state(loaded, reports_root, "after")
    client = CloudStackClient.for_target(loaded, allow_mutations=True)
    try:
        problems = canary.verify_existing(client, state.canaries)
        rows = canary.read_rows(loaded.target, state.canaries)
        problems += [rows] if rows else []
        ledger = _ledger(reports_root, loaded, state.before_run)
        problems += canary.verify_usable(client, loaded.target, ledger, state.before_run, state.canaries)
    except CloudStackError as exc:
        problems = [f"CloudStack does not answer after the upgrade: {exc}"]
    rc, run_id = run_suite(loaded, "gate-after", reports_root, paths, [*state.suite_args, *args])
    with open_history(history_path(reports_root), say) as conn:
        before_run, after_run = get_run(conn, state.before_run), get_run(conn, run_id)
    if before_run is None or after_run is None:
        missing = state.before_run if before_run is None else run_id
        raise GateError(f"run {missing} is not in {history_path(reports_root)}: cannot compare")
    verdict = judge(before_run, after_run, problems, loaded.target.history.all_tolerances(), state.upgrade_to)
    _write_verdict(reports_root, state, verdict, run_id)
    say(verdict.table())
    return 0 if verdict.go else 1


def _write_verdict(reports_root: Path, state: GateState, verdict: GateVerdict, run_id: str) -> None:
    import json

    text = verdict.table() + "\n"
    record = {"go": verdict.go, "before": verdict.before, "after": verdict.after,
              "reasons": [{"kind": r.kind, "detail": r.detail} for r in verdict.reasons], "known": verdict.known}
    for where in (gate_dir(reports_root, state.target), reports_root / run_id):
        (where / "gate-verdict.txt").write_text(text)
        (where / "gate-verdict.json").write_text(json.dumps(record, indent=1) + "\n")
    state.after_run, state.verdict = run_id, "GO" if verdict.go else "NO-GO"
    save_state(reports_root, state)
    from cloudgate.report.page import PageError, render_run_page

    # the after run's page was written before its verdict existed: again, with the gate's box (an
    # unusable run directory costs only the page: the verdict files above say everything)
    with contextlib.suppress(PageError):
        render_run_page(reports_root / run_id, history_path(reports_root))


# --------------------------------------------------------------------------- destroy
def destroy(loaded: LoadedTarget, reports_root: Path, say: Callable[[str], None] = print) -> int:
    _refuse_production(loaded)
    name = loaded.target.name
    path = gate_dir(reports_root, name) / "ledger.jsonl"
    entries = [e for e in pending(ledger_read(path)) if e.target == name] if path.exists() else []
    undoer = Undoer(CloudStackClient.for_target(loaded, allow_mutations=True), loaded.target)
    problems = []
    with refusing_sigint(lambda: len(entries)):
        for entry in reversed(entries):  # newest first: the VMs before the group they are in
            try:
                how = undoer.undo(entry)
            except UndoError as exc:
                problems.append(str(exc))
                continue
            mark_undone(entry, how)
            say(f"gate destroy: {how} {entry.describe()}")
    state_path = gate_dir(reports_root, name) / STATE_FILE
    for problem in problems:
        say(f"gate destroy: could not undo {problem} (still in {path})")
    bad = corrupt_lines(path)
    if bad:  # read as empty, the gate would close with its canaries still in the cloud
        say(f"gate destroy: {describe_corrupt(path, bad)}; the gate stays open")
    if problems or bad:
        return 1
    if state_path.exists():
        state = load_state(reports_root, name)
        state_path.rename(state_path.with_name(f"gate-{state.before_run if state else 'unknown'}.closed.json"))
    say(f"gate destroy: {name}: {'no canary left' if not entries else 'canaries removed'}; the gate is closed")
    return 0
