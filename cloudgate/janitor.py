"""Sweep what a killed run left behind: first what the run ledgers name, then, by age, unnamed probe VMs.

The ledgers (reports/*/ledger*.jsonl, cloudgate.ledger) say what each run was about to create,
with the pid and start time of the process creating it. An entry not undone whose process is gone
(no such pid, or the pid now belongs to a process started at another time) is a leftover and is
undone at once, whatever its age; an entry of a process still running is that run's business and
is only listed ("in use by pid N"). So a janitor run never races a check still going, and needs no
age guess for anything a ledger names.

The age rule (VMs named `<deploy.name_prefix>-...` older than `older_than`) remains for what no
ledger names: runs of a cloudgate without ledgers, or a reports directory that was removed.
Refuses production targets: the suite never creates anything there, so there is nothing of ours
to remove. The upgrade gate's canaries (scope `gate-canary`) are made to outlive their process:
they are kept until CANARY_MAX_AGE (a gate never closed), `cloudgate gate destroy` removes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cloudgate.cloudstack.client import CloudStackClient, CloudStackError
from cloudgate.gate.canaries import CANARY_MAX_AGE, CANARY_SCOPE, GATE_STATE_FILE
from cloudgate.ledger import (
    Entry,
    corrupt_lines,
    describe_corrupt,
    ledgers_under,
    mark_undone,
    pending,
    process_start,
)
from cloudgate.ledger import read as ledger_read
from cloudgate.target import LoadedTarget
from cloudgate.undo import Undoer, UndoError


@dataclass
class SweepResult:
    """One line per resource handled; `problems` are the ones that could not be undone."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _created(vm: dict) -> datetime | None:
    try:
        return datetime.strptime(str(vm.get("created")), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def _run_pid(name: str, prefix: str) -> int | None:
    """The pid a probe VM's name carries (`<prefix>-<when>-<pid>-<n>`, see deploy.vm_name_tag), if any."""
    parts = name[len(prefix) + 1:].split("-")
    return int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None


def find_leftovers(client: CloudStackClient, prefix: str, older_than: timedelta,
                   named: frozenset[str] = frozenset()) -> list[dict]:
    """Probe VMs no ledger names, older than `older_than` (a run still going has younger ones), whose
    run's process is not alive on this machine (a run with its ledger elsewhere is still a run)."""
    cutoff = datetime.now(UTC) - older_than
    found = []
    for vm in client.list("listVirtualMachines", listall=True):
        name = str(vm.get("name", ""))
        if not name.startswith(f"{prefix}-") or name in named:
            continue
        pid = _run_pid(name, prefix)
        if pid is not None and process_start(pid) is not None:
            continue
        created = _created(vm)
        if created is not None and created <= cutoff:  # an unreadable date could be a run's fresh VM
            found.append(vm)
    return found


def ledger_entries(reports_root: Path, target_name: str, endpoint: str = "") -> list[Entry]:
    """Every entry of this target (its name and, when recorded, its CloudStack endpoint) under reports_root.

    The endpoint too: two target files may share a name, and one cloud's ids mean nothing on another."""
    return [e for path in ledgers_under(reports_root) for e in ledger_read(path)
            if e.target == target_name and (not e.endpoint or not endpoint or e.endpoint == endpoint)]


def _age(entry: Entry) -> timedelta | None:
    try:
        at = datetime.strptime(entry.at[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return datetime.now(UTC) - at


def _gate_opened_by(entry: Entry) -> bool:
    """Whether the gate state beside the canary's ledger names the entry's run as its `before`.

    A `before` killed while it made its canaries (or before it wrote gate.json) opened no gate:
    no `after` will ever come for them, so they are swept like any dead run's entries rather than
    kept for a week. An unreadable state file keeps them (the operator's `gate destroy` decides).
    """
    state = entry.path.parent / GATE_STATE_FILE
    if not state.exists():
        return False
    try:
        return json.loads(state.read_text()).get("before_run") == entry.run
    except (OSError, ValueError, AttributeError):
        return True


def _sweep_ledgers(entries: list[Entry], undoer: Undoer, dry_run: bool, out: SweepResult) -> None:
    for entry in reversed(pending(entries)):  # newest first: a VM goes before the group it is in
        alive = entry.writer_alive()
        origin = f"run {entry.run}, pid {entry.pid}"
        age = _age(entry)
        if entry.scope == CANARY_SCOPE and (age is None or age < CANARY_MAX_AGE) and _gate_opened_by(entry):
            # made to outlive its process: the upgrade gate's `after` needs it (`cloudgate gate destroy`)
            out.lines.append(f"kept {entry.describe()}: an upgrade gate canary of run {entry.run}"
                             f"{'' if age is None else f', {age.total_seconds() / 3600:.0f} h old'}; swept after "
                             f"{CANARY_MAX_AGE.days} days, or now by `cloudgate gate destroy`")
            continue
        if alive:
            out.lines.append(f"left alone {entry.describe()}: in use by pid {entry.pid} ({entry.run})")
            continue
        if alive is None:
            out.lines.append(f"left alone {entry.describe()}: written on {entry.host} by pid {entry.pid}, "
                             "which this machine cannot check; run the janitor there")
            continue
        if dry_run:
            out.lines.append(f"would {undoer.plan(entry)} ({origin}, gone)")
            continue
        try:
            how = undoer.undo(entry)
        except UndoError as exc:
            out.problems.append(f"could not undo {exc} ({origin}; ledger {entry.path})")
            continue
        mark_undone(entry, how)
        out.lines.append(f"{how} {entry.describe()} ({origin}, gone)")


def sweep(loaded: LoadedTarget, client: CloudStackClient, dry_run: bool,
          older_than: timedelta = timedelta(hours=1), reports_root: Path = Path("reports")) -> SweepResult:
    """Undo dead runs' ledger entries, then destroy unnamed probe VMs older than `older_than`."""
    target = loaded.target
    if not target.environment.allows_destructive:
        raise CloudStackError(f"{target.name}: janitor refuses an environment: {target.environment.value} target")
    out = SweepResult()
    entries = ledger_entries(reports_root, target.name, target.cloudstack.endpoint)
    for path in ledgers_under(reports_root):  # a damaged ledger is a problem, never an empty one
        bad = corrupt_lines(path)
        if bad:
            out.problems.append(describe_corrupt(path, bad))
    undoer = Undoer(client, target)
    # a drill killed while the management server was stopped: start it first, or nothing else can be undone
    outage = [e for e in entries if e.kind == "management_server_stopped"]
    _sweep_ledgers(outage, undoer, dry_run, out)
    client.list("listZones")  # an unreachable API is one error line before anything else
    _sweep_ledgers([e for e in entries if e.kind != "management_server_stopped"], undoer, dry_run, out)
    # only entries still pending shield a VM from the age rule: a VM whose create call landed after
    # its dead run's entry was found gone and closed is swept by age, on a later janitor run
    named = frozenset(e.name for e in pending(entries) if e.kind == "vm")
    for vm in find_leftovers(client, target.deploy.name_prefix, older_than, named):
        if dry_run:
            out.lines.append(f"would destroy {vm.get('name')} ({vm.get('id')}, {vm.get('state')}; no ledger names it)")
            continue
        client.call("destroyVirtualMachine", id=vm["id"], expunge=True, fetch_result=True)
        out.lines.append(f"destroyed {vm.get('name')} ({vm.get('id')}; no ledger names it, older than {older_than})")
    return out
