"""Interrupting the deploy-time check at any moment leaves nothing behind (the run ledger, end to end).

Each case runs the real check — `pytest tests/infra/test_deploy_time.py --target lab.yaml
--allow-destructive` in a subprocess against the lab — and interrupts it at a moment read from
its run ledger (the first `intend`, all VMs `created`, the first `undone`...), plus an offset, so
"before", "during" and "after the deploy calls" stay true on a slow machine. Then the lab is asked,
through its API and the Cassandra driver, what is left:
- after Ctrl-C, nothing, without running the janitor: the run undid itself;
- a second Ctrl-C while it undoes is refused with one line;
- after kill -9, `cloudgate janitor` (no --older-than-minutes) removes what the ledgers name.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from selfcheck import LAB_TARGET, REPO

from cloudgate import ledger as L
from cloudgate.cassandra.session import session
from cloudgate.cloudstack.deploy import vm_name_tag
from cloudgate.target import load_target
from cloudgate_lab import control

CHECK = "tests/infra/test_deploy_time.py"
LATENCY = "tests/infra/test_cassandra_latency.py"
VM_COUNT = 3  # lab.yaml: thresholds.deploy_vm_count
PARALLEL = 3  # runs at once: keeps the ten moments within the time budget on a 2-core machine
Moment = Callable[["Run"], bool]


@dataclass
class Run:
    """One deploy-check subprocess and what its ledger says."""

    proc: subprocess.Popen
    announce: Path
    out: Path
    err: Path
    started: float = field(default_factory=time.monotonic)
    sent: list[str] = field(default_factory=list)  # what the ledger showed at each signal

    @property
    def run_dir(self) -> Path | None:
        text = self.announce.read_text().strip() if self.announce.exists() else ""
        return Path(text) if text else None

    def entries(self) -> list[L.Entry]:
        return L.read(self.run_dir / L.LEDGER_FILE) if self.run_dir else []

    def counts(self) -> tuple[int, int, int]:
        entries = self.entries()
        return len(entries), sum(e.id is not None for e in entries), sum(not e.pending for e in entries)

    def phase(self) -> str:
        intended, created, undone = self.counts()
        if undone:
            return "undoing"
        if not intended:
            return "before"
        return "after" if created >= VM_COUNT else "during"

    def signal(self, sig: int) -> bool:
        if self.proc.poll() is not None:
            self.sent.append("exited")
            return False
        self.sent.append(self.phase())
        self.proc.send_signal(sig)
        return True

    def wait(self, timeout: float = 90) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"the interrupted run did not exit within {timeout:g} s: {self.tail()}") from None

    def tail(self) -> str:
        return (self.out.read_text(errors="replace")[-1500:] + "\n--- stderr ---\n"
                + self.err.read_text(errors="replace")[-1500:])

    def vm_names(self) -> set[str]:
        return {e.name for e in self.entries() if e.kind == "vm"}

    def name_tag(self) -> str:
        return f"cg-probe-{vm_name_tag(self.run_dir.name)}-" if self.run_dir else "cg-probe-?"


def _default_sigint() -> None:  # a child of a backgrounded shell would inherit SIG_IGN and never see Ctrl-C
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_check(lab: dict, reports: Path, label: str, *extra: str, check: str = CHECK) -> Run:
    reports.mkdir(parents=True, exist_ok=True)
    announce, out, err = (reports / f".{label}.{what}" for what in ("rundir", "out", "err"))
    env = {k: v for k, v in os.environ.items() if k not in ("CLOUDGATE_RUN_DIR", "PYTEST_XDIST_WORKER")}
    env |= {**lab["env"], "CLOUDGATE_RUN_DIR_FILE": str(announce)}
    argv = [sys.executable, "-m", "pytest", check, f"--target={LAB_TARGET}", "--allow-destructive",
            f"--reports-dir={reports}", "-p", "no:cacheprovider", "-q", *extra]
    with out.open("w") as o, err.open("w") as e:  # its own process group: a terminal's Ctrl-C reaches the whole group
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=o, stderr=e, preexec_fn=_default_sigint, process_group=0)
    return Run(proc, announce, out, err)


def wait_for(run: Run, moment: Moment, offset: float, timeout: float = 90) -> None:
    """Poll the run's ledger until `moment` holds (bounded), then `offset` seconds more."""
    deadline = time.monotonic() + timeout
    while not moment(run):
        if run.proc.poll() is not None:
            return  # it finished first: the signal will find it gone, and that is recorded
        if time.monotonic() > deadline:
            raise AssertionError(f"moment never came within {timeout:g} s: {run.tail()}")
        time.sleep(0.02)
    time.sleep(offset)


def rundir_made(run: Run) -> bool:
    return run.run_dir is not None


def intended(n: int) -> Moment:
    return lambda run: run.counts()[0] >= n


def created(n: int) -> Moment:
    return lambda run: run.counts()[1] >= n


def undone(n: int) -> Moment:
    return lambda run: run.counts()[2] >= n


# label, moment, offset (s): before, during and after the deploy calls, and during the teardown's undo
SIGINT_MOMENTS: list[tuple[str, Moment, float]] = [
    ("run-dir-made", rundir_made, 0.0),
    ("run-dir-made+1.5s", rundir_made, 1.5),
    ("first-intend", intended(1), 0.0),
    ("first-intend+0.05s", intended(1), 0.05),
    ("all-intended", intended(VM_COUNT), 0.0),
    ("first-created", created(1), 0.0),
    ("all-created", created(VM_COUNT), 0.0),
    ("all-created+1s", created(VM_COUNT), 1.0),
    ("all-created+2.5s", created(VM_COUNT), 2.5),
    ("first-undone", undone(1), 0.0),
]
KILL_MOMENTS: list[tuple[str, Moment, float]] = [
    ("first-intend", intended(1), 0.0),
    ("all-created", created(VM_COUNT), 0.0),
    ("all-created+1.5s", created(VM_COUNT), 1.5),
]


# --------------------------------------------------------------------------- what the lab still holds
def lab_vms(prefix: str = "cg-probe-") -> list[str]:
    listed = control.lab_client().listVirtualMachines(listall=True).get("virtualmachine", [])
    return sorted(vm["name"] for vm in listed if vm["name"].startswith(prefix))


def lab_affinity_groups() -> list[str]:
    listed = control.lab_client().listAffinityGroups(listall=True).get("affinitygroup", [])
    return sorted(g["name"] for g in listed if g["name"].startswith("cg-"))


def lab_probe_keyspaces() -> list[str]:
    target = load_target(LAB_TARGET).target
    assert target.cassandra is not None
    pattern = re.compile(rf"^{re.escape(target.cassandra.probe_keyspace)}_\d{{14}}_[0-9a-f]{{6}}$")
    with session(target) as (_cluster, sess):
        rows = sess.execute("SELECT keyspace_name FROM system_schema.keyspaces")
        return sorted(r.keyspace_name for r in rows if pattern.match(r.keyspace_name))


def janitor(lab: dict, reports: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **lab["env"]}
    argv = [sys.executable, "-m", "cloudgate.cli", "janitor", "--target", str(LAB_TARGET), f"--reports-dir={reports}", *extra]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


# --------------------------------------------------------------------------- the runbook
def _interrupt_once(lab: dict, reports: Path, label: str, moment: Moment, offset: float) -> Run:
    run = start_check(lab, reports, label)
    wait_for(run, moment, offset)
    run.signal(signal.SIGINT)
    run.wait()
    return run


def test_ctrl_c_at_any_moment_of_the_deploy_check_leaves_no_probe_vm_without_the_janitor(lab, tmp_path):
    reports = tmp_path / "reports"
    started = time.monotonic()
    with ThreadPoolExecutor(PARALLEL) as pool:
        runs = dict(zip([m[0] for m in SIGINT_MOMENTS],
                        pool.map(lambda m: _interrupt_once(lab, reports, *m), SIGINT_MOMENTS), strict=True))
    elapsed = time.monotonic() - started
    report = {label: f"{run.sent} rc={run.proc.returncode}" for label, run in runs.items()}
    left = {label: [e.describe() for e in L.pending(run.entries())] for label, run in runs.items()}
    assert not any(left.values()), f"ledger entries never undone: {left} ({report})"
    remaining = lab_vms()
    assert not remaining, f"probe VMs left after Ctrl-C (no janitor run): {remaining} ({report})"
    phases = {run.sent[0] for run in runs.values() if run.sent}
    assert {"before", "during", "after"} <= phases, f"the moments did not spread over the check: {report}"
    for label, run in runs.items():
        if run.sent and run.sent[0] in ("before", "during", "after"):  # later, pytest's own shutdown may be hit
            assert "Traceback" not in run.err.read_text(errors="replace"), f"{label}: {run.tail()}"
            assert run.proc.returncode in (0, 1, 2), f"{label}: rc {run.proc.returncode}: {run.tail()}"
    print(f"10 interrupted runs in {elapsed:.0f} s: {report}")


def test_a_second_ctrl_c_while_the_run_undoes_is_refused_with_one_line(lab, tmp_path):
    run = start_check(lab, tmp_path / "reports", "twice")
    wait_for(run, created(1), 0.0)
    assert run.signal(signal.SIGINT), f"the run ended before the first Ctrl-C: {run.tail()}"
    for _ in range(40):  # the undo waits for the deploy jobs (the lab's boot delay): Ctrl-C again meanwhile
        time.sleep(0.15)
        if run.proc.poll() is not None or not L.pending(run.entries()):
            break
        run.signal(signal.SIGINT)
    run.wait()
    stderr = run.err.read_text(errors="replace")
    refusals = re.findall(r"^cloudgate: undoing what this run created \((\d+) left\); Ctrl-C is ignored until "
                          r"that is done$", stderr, flags=re.M)
    assert refusals, f"no refusal line; signals at {run.sent}: {run.tail()}"
    assert all(int(n) >= 1 for n in refusals)
    assert not L.pending(run.entries()), f"still pending: {run.tail()}"
    assert not lab_vms(run.name_tag()), "a second Ctrl-C cut the undo short"


def test_ctrl_c_from_the_terminal_under_xdist_is_undone_by_the_worker_itself(lab, tmp_path):
    run = start_check(lab, tmp_path / "reports", "xdist", "-n", "1")
    wait_for(run, created(1), 0.0)
    assert run.proc.poll() is None, f"the run ended before Ctrl-C: {run.tail()}"
    run.sent.append(run.phase())
    os.killpg(run.proc.pid, signal.SIGINT)  # what a terminal does: controller and worker both get it
    run.wait()
    writers = {e.pid for e in run.entries()}
    assert writers and run.proc.pid not in writers, "the VMs should be the worker's entries, not the controller's"
    assert not L.pending(run.entries()), f"the worker did not undo its entries: {run.tail()}"
    assert not lab_vms(run.name_tag()), f"probe VMs left after Ctrl-C under xdist: {run.tail()}"


def test_after_kill_9_the_janitor_removes_what_the_ledgers_name_without_an_age_limit(lab, tmp_path):
    reports = tmp_path / "reports"

    def kill(m: tuple[str, Moment, float]) -> Run:
        run = start_check(lab, reports, f"kill-{m[0]}")
        wait_for(run, m[1], m[2])
        run.signal(signal.SIGKILL)
        run.wait()
        return run

    with ThreadPoolExecutor(PARALLEL) as pool:
        runs = list(pool.map(kill, KILL_MOMENTS))
    report = [f"{label}: {run.sent}" for (label, _, _), run in zip(KILL_MOMENTS, runs, strict=True)]
    assert all(run.sent and run.sent[0] != "exited" for run in runs), f"a run ended before its kill: {report}"
    named = set().union(*(run.vm_names() for run in runs))
    assert named, f"no run got as far as its first intend: {report}"
    time.sleep(0.5)  # a deploy call in flight at the kill lands on the API meanwhile
    dry = janitor(lab, reports, "--dry-run")
    assert dry.returncode == 0 and "would destroy vm" in dry.stdout, dry.stdout + dry.stderr
    swept = janitor(lab, reports)
    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert "in use by pid" not in swept.stdout, swept.stdout
    assert not lab_vms(), f"left after the janitor: {lab_vms()} ({report}; janitor said: {swept.stdout})"
    pending = [e.describe() for run in runs for e in L.pending(run.entries())]
    assert not pending, f"the janitor did not close the ledger entries it undid: {pending}"
    again = janitor(lab, reports)
    assert "nothing left behind" in again.stdout, again.stdout


def test_the_janitor_leaves_a_live_runs_entries_alone_and_sweeps_a_dead_ones(lab, tmp_path):
    client = control.lab_client()
    zone = client.listZones(name="lab-dc1")["zone"][0]
    offering = client.listServiceOfferings(name="Small Instance")["serviceoffering"][0]
    template = client.listTemplates(templatefilter="executable", name="Ubuntu 22.04 cloudgate guest",
                                    zoneid=zone["id"])["template"][0]
    reports = tmp_path / "reports"
    live = L.Ledger(reports / "run-live" / L.LEDGER_FILE, run="run-live", target="lab")  # this very process
    entry = live.intend("vm", "cg-probe-live-run-0")
    vm = client.deployVirtualMachine(zoneid=zone["id"], serviceofferingid=offering["id"], templateid=template["id"],
                                     name=entry.name, fetch_result=True)["virtualmachine"]
    live.created(entry, vm["id"])
    try:
        kept = janitor(lab, reports, "--older-than-minutes=0")
        assert f"in use by pid {os.getpid()}" in kept.stdout and lab_vms() == [entry.name], kept.stdout + kept.stderr
        gone = subprocess.Popen([sys.executable, "-c", "pass"])  # a pid that has exited: its ledger is orphaned
        gone.wait(timeout=30)
        dead = L.Ledger(reports / "run-dead" / L.LEDGER_FILE, run="run-dead", target="lab",
                        proc=L.ProcessId(gone.pid, 1, L.boot_id(), L.ProcessId.current().host))
        dead.created(dead.intend("vm", entry.name), vm["id"])
        swept = janitor(lab, reports)
        assert f"destroyed vm {entry.name}" in swept.stdout and not lab_vms(), swept.stdout + swept.stderr
    finally:
        if lab_vms():
            client.destroyVirtualMachine(id=vm["id"], expunge=True, fetch_result=True)
        live.undone(entry, "test cleanup")


def test_the_janitor_names_an_unreachable_api_in_one_line(lab, tmp_path):
    down = tmp_path / "down.yaml"
    down.write_text(LAB_TARGET.read_text().replace("127.0.0.1:8080", "127.0.0.1:9"))
    (tmp_path / "reports").mkdir()  # a --reports-dir that does not exist is refused first (a typo reads no ledger)
    result = janitor(lab, tmp_path / "reports", "--target", str(down))
    assert result.returncode == 2 and result.stdout == "", result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unreachable" in lines[0] and "127.0.0.1:9" in lines[0], result.stderr


def test_ctrl_c_during_the_latency_load_drops_the_runs_keyspace_named_in_the_ledger(lab, tmp_path):
    run = start_check(lab, tmp_path / "reports", "latency", check=LATENCY)
    wait_for(run, created(1), 1.0)  # CREATE KEYSPACE answered, the open-loop load is running
    assert run.signal(signal.SIGINT), f"the latency check ended before Ctrl-C: {run.tail()}"
    run.wait()
    (entry,) = run.entries()
    assert entry.kind == "keyspace" and entry.undone == "dropped", f"{entry}: {run.tail()}"
    assert entry.name not in lab_probe_keyspaces()


@pytest.mark.parametrize("what", ["VMs", "affinity groups", "keyspaces"])
def test_at_the_end_nothing_of_the_suite_remains_on_the_lab(lab, what):
    found = {"VMs": lab_vms, "affinity groups": lab_affinity_groups, "keyspaces": lab_probe_keyspaces}[what]()
    assert not found, f"the suite left {what} behind: {found}"
