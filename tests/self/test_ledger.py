"""The run ledger without the lab: what a run will create is readable afterwards, whatever killed it.

These read like the operator's questions after a bad night: is the file still readable after a
kill -9 mid-write, is a run whose pid was reused taken for alive, do two workers writing at once
corrupt each other's lines, which entries are still to be undone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from cloudgate import ledger as L
from cloudgate.cloudstack.client import CloudStackClient
from cloudgate.tracker import Tracker
from cloudgate.undo import refusal_line, refusing_sigint


def _ledger(path: Path) -> L.Ledger:
    return L.Ledger(path, run="20260101T000000Z-lab-nightly-1", target="lab")


def test_a_torn_last_line_after_kill_9_is_ignored_and_every_whole_line_is_read(tmp_path):
    path = tmp_path / "ledger.jsonl"
    led = _ledger(path)
    vm = led.intend("vm", "cg-probe-x-0")
    led.created(vm, "vm-id-0", "job-0")
    group = led.intend("affinity_group", "cg-group-x")
    with path.open("ab") as fh:  # what a kill -9 in the middle of a write could leave
        fh.write(b'{"v":1,"event":"undone","key":"' + group.key.encode())
    entries = {e.name: e for e in L.read(path)}
    assert set(entries) == {"cg-probe-x-0", "cg-group-x"}
    assert entries["cg-probe-x-0"].id == "vm-id-0" and entries["cg-probe-x-0"].job == "job-0"
    assert entries["cg-group-x"].pending, "a torn `undone` line must not count as undone"


def test_a_garbled_line_in_the_middle_is_skipped_not_fatal(tmp_path):
    path = tmp_path / "ledger.jsonl"
    led = _ledger(path)
    led.intend("vm", "a")
    with path.open("ab") as fh:
        fh.write(b"not json at all\n[1, 2]\n{\"event\": \"created\"}\n")
    led.intend("vm", "b")
    assert [e.name for e in L.read(path)] == ["a", "b"]


def test_an_entry_is_pending_until_it_is_undone_and_in_flight_until_the_create_call_ends(tmp_path):
    path = tmp_path / "ledger.jsonl"
    led = _ledger(path)
    created, failed, done = (led.intend("vm", n) for n in ("created", "failed", "done"))
    led.intend("keyspace", "cloudgate_probe_x")
    led.created(created, "id-1", "job-1")
    led.settled(failed, "CloudStackError: 431 bad offering")
    led.created(done, "id-3")
    led.undone(done, "destroyed")
    entries = {e.name: e for e in L.read(path)}
    assert [e.name for e in L.pending(list(entries.values()))] == ["created", "failed", "cloudgate_probe_x"]
    assert entries["cloudgate_probe_x"].in_flight and not entries["created"].in_flight
    assert not entries["failed"].in_flight and entries["failed"].id is None, "settled without id: undo looks it up by name"
    assert entries["done"].undone == "destroyed"
    line = json.loads(path.read_text().splitlines()[0])
    assert {"kind", "name", "target", "run", "pid", "pid_start", "boot", "attrs", "undo", "at"} <= set(line)
    assert line["pid"] == os.getpid() and line["pid_start"] == L.process_start(os.getpid())


def test_a_reused_pid_is_not_mistaken_for_the_live_run(tmp_path):
    me = L.ProcessId.current()
    assert me.start is not None and L.is_alive(me.pid, me.start, me.boot, me.host)
    assert not L.is_alive(me.pid, me.start + 1, me.boot, me.host), "same pid, another start time: the writer is gone"
    assert not L.is_alive(me.pid, me.start, "another-boot", me.host), "a pid from before a reboot is gone"
    assert L.is_alive(me.pid, me.start, me.boot, "another-machine") is None, "another machine's pid cannot be checked here"
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    assert not L.is_alive(child.pid, 12345, me.boot, me.host), "an exited process is gone"


def test_an_entry_of_a_killed_process_reads_as_gone(tmp_path):
    path = tmp_path / "ledger.jsonl"
    code = ("import sys, time; from cloudgate.ledger import Ledger; "
            "Ledger(sys.argv[1], run='r', target='lab').intend('vm', 'cg-probe-killed'); print('ok', flush=True); "
            "time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ok"
    (entry,) = L.read(path)
    assert entry.pid == proc.pid and entry.writer_alive() is True
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert entry.writer_alive() is False


def test_two_processes_appending_at_once_leave_every_line_whole(tmp_path):
    path = tmp_path / "ledger.jsonl"
    code = ("import sys; from cloudgate.ledger import Ledger; led = Ledger(sys.argv[1], run='r', target='lab'); "
            "[led.created(led.intend('vm', f'{sys.argv[2]}-{i}', attrs={'pad': 'x' * 300}), f'id-{i}') "
            "for i in range(int(sys.argv[3]))]")
    count = 300
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), who, str(count)]) for who in ("w1", "w2")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    lines = path.read_bytes().split(b"\n")
    # a blank line is harmless (a writer that saw the other's line half-copied starts on its own line)
    assert lines[-1] == b"" and all(json.loads(line) for line in lines[:-1] if line), "a line was torn or interleaved"
    entries = L.read(path)
    assert len(entries) == 2 * count and all(e.id for e in entries)
    assert {e.pid for e in entries} == {p.pid for p in procs}


def test_the_janitor_reads_ledgers_of_every_run_under_the_reports_directory_but_not_latest(tmp_path):
    for run in ("run-a", "run-b"):
        _ledger(tmp_path / run / "ledger.jsonl").intend("vm", f"cg-probe-{run}")
    (tmp_path / "latest").symlink_to("run-b")
    assert [p.parent.name for p in L.ledgers_under(tmp_path)] == ["run-a", "run-b"]


def test_without_a_run_directory_each_process_has_its_own_ledger(monkeypatch, tmp_path):
    monkeypatch.delenv("CLOUDGATE_RUN_DIR", raising=False)
    path = L.run_ledger_path()
    assert str(os.getpid()) in path.name and path.parent == Path(tempfile.gettempdir())
    monkeypatch.setenv("CLOUDGATE_RUN_DIR", str(tmp_path))
    assert L.run_ledger_path() == tmp_path / "ledger.jsonl" and L.current_run_id() == tmp_path.name


def _offline_tracker(path: Path, undone: list[str]) -> Tracker:
    client = CloudStackClient("lab", "http://127.0.0.1:9/client/api", "k", secret=__import__("pydantic").SecretStr("s"),
                              timeout=1.0, allow_mutations=True)

    def undo(entry: L.Entry) -> str:
        undone.append(f"{entry.name}:{entry.id}")
        return "destroyed"

    return Tracker(client, "run", ledger=_ledger(path), undoer=undo, settle_timeout=5.0)


def test_teardown_waits_for_a_create_call_in_flight_then_undoes_newest_first(tmp_path):
    path, undone = tmp_path / "ledger.jsonl", []
    tracker = _offline_tracker(path, undone)
    first = tracker.intend("vm", "first")
    tracker.created(first, "id-1")
    second = tracker.intend("vm", "second")  # its create call is still in flight

    def land() -> None:
        time.sleep(0.5)
        tracker.created(second, "id-2")

    threading.Thread(target=land).start()
    assert tracker.cleanup() == []
    events = [(rec["event"], rec["key"]) for rec in map(json.loads, path.read_text().splitlines())]
    assert events.index(("created", second.key)) < events.index(("undone", second.key)), "undo did not wait for the call"
    assert undone == ["second:id-2", "first:id-1"], "undo by id, newest first"
    assert not L.pending(L.read(path))


def test_teardown_undoes_an_entry_that_only_the_ledger_file_knows(tmp_path):
    path, undone = tmp_path / "ledger.jsonl", []
    tracker = _offline_tracker(path, undone)
    orphan = tracker.ledger.intend("vm", "written-then-interrupted", scope=tracker.scope)  # memory never heard of it
    tracker.ledger.settled(orphan)
    assert tracker.cleanup() == [] and undone == ["written-then-interrupted:None"]


def test_a_ctrl_c_during_undo_is_refused_with_one_line_and_the_handler_is_restored_afterwards():
    read_fd, write_fd = os.pipe()
    from cloudgate import undo as U

    # a run started from a background shell inherits SIGINT ignored: make Ctrl-C mean Ctrl-C here
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    before = signal.getsignal(signal.SIGINT)
    old_fd = U._notice_fd
    U.set_notice_fd(write_fd)
    try:
        with refusing_sigint(lambda: 2):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs in the main thread between bytecodes
    finally:
        U.set_notice_fd(old_fd)
        os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        assert fh.read() == refusal_line(2) + "\n"
    assert signal.getsignal(signal.SIGINT) is before
    assert "(2 left); Ctrl-C is ignored until that is done" in refusal_line(2)
    try:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
    finally:
        signal.signal(signal.SIGINT, inherited)


def test_a_line_written_after_a_torn_one_is_still_read(tmp_path):
    path = tmp_path / "ledger.jsonl"
    led = _ledger(path)
    vm = led.intend("vm", "cg-probe-x-0")
    with path.open("ab") as fh:
        fh.write(b'{"v":1,"event":"created","key":"')  # a writer killed mid-line
    L.mark_undone(L.read(path)[0], "destroyed")  # the janitor, next
    assert [e.undone for e in L.read(path)] == ["destroyed"] and vm.key == L.read(path)[0].key


def test_a_create_call_that_lands_after_an_undo_found_nothing_reopens_the_entry(tmp_path):
    path = tmp_path / "ledger.jsonl"
    led = _ledger(path)
    vm = led.intend("vm", "cg-probe-x-0")
    L.mark_undone(L.read(path)[0], "already gone")  # looked up by name before the server created it
    led.created(vm, "vm-id-late", "job-late")
    (entry,) = L.read(path)
    assert entry.pending and entry.id == "vm-id-late", "a VM that exists must not stay marked undone"


def test_the_janitor_takes_only_entries_of_the_same_cloud_even_under_the_same_target_name(tmp_path):
    from cloudgate.janitor import ledger_entries

    reports = tmp_path / "reports"
    for run, endpoint in (("run-a", "http://127.0.0.1:8080/client/api"), ("run-b", "https://other.example/client/api")):
        L.Ledger(reports / run / L.LEDGER_FILE, run=run, target="lab", endpoint=endpoint).intend("vm", f"cg-probe-{run}")
    names = [e.name for e in ledger_entries(reports, "lab", "http://127.0.0.1:8080/client/api")]
    assert names == ["cg-probe-run-a"]


def test_the_age_rule_never_takes_a_probe_vm_whose_creation_date_it_cannot_read():
    from datetime import timedelta

    from cloudgate.janitor import find_leftovers

    class Listing:
        def list(self, command, **params):
            return [{"name": "cg-probe-x-0", "id": "1", "created": "yesterday-ish"},
                    {"name": "cg-probe-x-1", "id": "2", "created": "2020-01-01T00:00:00+0000"}]

    assert [vm["id"] for vm in find_leftovers(Listing(), "cg-probe", timedelta(0))] == ["2"]


def test_the_age_rule_never_takes_a_probe_vm_of_a_run_whose_process_is_alive():
    from datetime import timedelta

    from cloudgate.janitor import find_leftovers

    mine = f"cg-probe-20260101t000000-{os.getpid()}-0"

    class Listing:
        def list(self, command, **params):
            return [{"name": mine, "id": "1", "created": "2020-01-01T00:00:00+0000"},
                    {"name": "cg-probe-20260101t000000-999999999-0", "id": "2", "created": "2020-01-01T00:00:00+0000"}]

    assert [vm["id"] for vm in find_leftovers(Listing(), "cg-probe", timedelta(0))] == ["2"]


class Recording:
    """An undoer that only records what it was asked to undo (the janitor's sweep, without a cloud)."""

    def __init__(self) -> None:
        self.undone: list[str] = []

    def undo(self, entry: L.Entry) -> str:
        self.undone.append(entry.name)
        return "destroyed"


def test_the_janitor_keeps_an_upgrade_gates_canaries_until_they_are_a_week_old(tmp_path):
    import socket

    from cloudgate.janitor import SweepResult, _sweep_ledgers

    gone = L.ProcessId(pid=2**22 + 17, start=1, boot=L.boot_id(), host=socket.gethostname())  # no such process
    led = L.Ledger(tmp_path / "gate-lab" / "ledger.jsonl", run="gate-before", target="lab", proc=gone)
    led.created(led.intend("vm", "cg-probe-gate-x-run", scope="gate-canary"), "vm-1")
    led.created(led.intend("vm", "cg-probe-x-0", scope="deploy"), "vm-2")
    (tmp_path / "gate-lab" / "gate.json").write_text(json.dumps({"target": "lab", "before_run": "gate-before"}))
    undoer, out = Recording(), SweepResult()
    _sweep_ledgers(L.read(led.path), undoer, dry_run=False, out=out)  # type: ignore[arg-type]
    assert undoer.undone == ["cg-probe-x-0"], "a dead run's probe VM goes, the gate's canary stays"
    assert any("kept vm cg-probe-gate-x-run" in line and "cloudgate gate destroy" in line for line in out.lines)

    old = [json.loads(line) for line in led.path.read_text().splitlines()]
    for rec in old:
        rec["at"] = "2026-01-01T00:00:00.000000Z"  # written long ago: a gate nobody closed
    led.path.write_text("".join(json.dumps(rec) + "\n" for rec in old))
    undoer = Recording()
    _sweep_ledgers(L.read(led.path), undoer, dry_run=False, out=SweepResult())  # type: ignore[arg-type]
    assert undoer.undone == ["cg-probe-gate-x-run"]


def test_the_janitor_sweeps_at_once_the_canaries_of_a_gate_before_that_never_finished(tmp_path):
    import socket

    from cloudgate.janitor import SweepResult, _sweep_ledgers

    # `gate before` killed while making its canaries: their ledger, but no gate.json naming its run
    gone = L.ProcessId(pid=2**22 + 19, start=1, boot=L.boot_id(), host=socket.gethostname())
    led = L.Ledger(tmp_path / "gate-lab" / "ledger.jsonl", run="gate-before-2", target="lab", proc=gone)
    led.created(led.intend("affinity_group", "cg-probe-gate-y", scope="gate-canary"), "ag-1")
    led.created(led.intend("vm", "cg-probe-gate-y-run", scope="gate-canary"), "vm-3")
    undoer = Recording()
    _sweep_ledgers(L.read(led.path), undoer, dry_run=False, out=SweepResult())  # type: ignore[arg-type]
    assert undoer.undone == ["cg-probe-gate-y-run", "cg-probe-gate-y"]

    # an open gate of another run does not protect them either; a live `before` is left alone
    (tmp_path / "gate-lab" / "gate.json").write_text(json.dumps({"target": "lab", "before_run": "gate-before-1"}))
    me = L.Ledger(tmp_path / "gate-lab" / "ledger.jsonl", run="gate-before-3", target="lab")
    me.intend("vm", "cg-probe-gate-z-run", scope="gate-canary")
    undoer, out = Recording(), SweepResult()
    _sweep_ledgers(L.read(led.path), undoer, dry_run=False, out=out)  # type: ignore[arg-type]
    assert undoer.undone == [] and any("left alone vm cg-probe-gate-z-run: in use by pid" in line for line in out.lines)
