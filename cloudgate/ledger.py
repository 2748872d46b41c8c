"""The run ledger: what a run will create, written *before* it creates it, for undo and the janitor.

Why a file and not memory: a run can die at any instant (Ctrl-C, a timeout, `kill -9`, a lost
terminal). Whatever it had started creating must still be findable afterwards, by this run's own
teardown and by `cloudgate janitor` run from another process, without guessing from names and ages.

The ledger is an append-only JSONL file in the run directory (`CLOUDGATE_RUN_DIR/ledger.jsonl`,
shared by the xdist workers of a run; a per-process temp file when there is no run directory).
Each line is one event about one entry, keyed by `key`:

    {"v":1,"event":"intend","key":"…","kind":"vm","name":"cg-probe-…-0","target":"lab",
     "run":"<run id>","scope":"<who undoes it>","pid":123,"pid_start":456789,"boot":"…",
     "host":"…","at":"…Z","attrs":{…},"undo":{"action":"destroyVirtualMachine","expunge":true}}
    {"v":1,"event":"created","key":"…","id":"<CloudStack id>","job":"<async job id>","at":"…Z"}
    {"v":1,"event":"settled","key":"…","at":"…Z","error":"…"}      the create call ended without an id
    {"v":1,"event":"undone","key":"…","at":"…Z","how":"destroyed","by_pid":124}

`kind` says which undoer applies (vm, affinity_group, keyspace, and the drills' faults: cloudgate.undo),
`attrs` what that undoer needs beyond the name (a host, a rule, the VM to start again), `undo` a
readable statement of the undo for an operator reading the file. An entry is *pending* until an
`undone` line names it; it is *in flight* while neither `created` nor `settled` does (the create
call may still land, so undo resolves it by name).

Each line goes out in a single write() on an O_APPEND descriptor, so concurrent writers never
interleave inside a line and a kill -9 leaves at most a torn *last* line, which readers ignore.
The creating process is named by pid *and* its start time (from /proc) and boot id, so a pid the
kernel has since given to another process is never mistaken for a run still going.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LEDGER_FILE = "ledger.jsonl"
VERSION = 1


# --------------------------------------------------------------------------- who is creating
@dataclass(frozen=True)
class ProcessId:
    """A process as it can be recognised later: pid, start time (clock ticks since boot), boot id, host."""

    pid: int
    start: int | None
    boot: str
    host: str

    @classmethod
    def current(cls) -> ProcessId:
        return cls(os.getpid(), process_start(os.getpid()), boot_id(), socket.gethostname())


def process_start(pid: int) -> int | None:
    """The start time of `pid` (field 22 of /proc/PID/stat), None when no such process (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may itself hold spaces or parentheses
    fields = stat[stat.rfind(")") + 2:].split()
    if not fields or fields[0] in ("Z", "X"):  # a zombie has finished: its run is over
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def is_alive(pid: int, start: int | None, boot: str = "", host: str = "") -> bool | None:
    """Is the process that wrote an entry still running? None: it ran on another machine (unknowable here).

    Alive means: same machine, same boot, the pid exists and started at the recorded time. A pid
    that exists with another start time was reused by the kernel: the writer is gone.
    """
    if host and host != socket.gethostname():
        return None
    if boot and boot != boot_id():
        return False
    now = process_start(pid)
    return now is not None and (start is None or now == start)


# --------------------------------------------------------------------------- entries
@dataclass
class Entry:
    """One resource as the ledger's lines tell it (folded from its intend/created/settled/undone lines)."""

    key: str
    kind: str
    name: str
    target: str
    run: str
    scope: str
    pid: int
    pid_start: int | None
    boot: str = ""
    host: str = ""
    at: str = ""
    endpoint: str = ""  # the CloudStack endpoint of the target: two targets may share a name
    attrs: dict[str, Any] = field(default_factory=dict)
    undo: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    job: str | None = None
    settled: bool = False
    error: str | None = None
    undone: str | None = None
    path: Path | None = None  # the ledger file it was read from

    @property
    def pending(self) -> bool:
        return self.undone is None

    @property
    def in_flight(self) -> bool:
        """The create call was sent and has not been seen to end (it may still create the resource)."""
        return self.id is None and not self.settled

    def written_by(self, proc: ProcessId) -> bool:
        return self.pid == proc.pid and self.pid_start == proc.start and (not self.boot or self.boot == proc.boot)

    def writer_alive(self) -> bool | None:
        return is_alive(self.pid, self.pid_start, self.boot, self.host)

    def describe(self) -> str:
        ident = f" ({self.id})" if self.id else ""
        return f"{self.kind.replace('_', ' ')} {self.name}{ident}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- writing
class Ledger:
    """Appends events to one ledger file; safe to share between threads and processes.

    The file is opened per event (O_APPEND, one write(), fsync-free flush): nothing is buffered in
    this process, so what was written survives a kill -9 at the next instruction.
    """

    def __init__(self, path: Path, *, run: str, target: str, proc: ProcessId | None = None,
                 endpoint: str = "") -> None:
        self.path = Path(path)
        self.run = run
        self.target = target
        self.endpoint = endpoint
        self.proc = proc or ProcessId.current()

    def _append(self, record: dict[str, Any]) -> None:
        line = (json.dumps({"v": VERSION, **record}, separators=(",", ":"), default=str) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if _ends_torn(fd):  # a writer killed mid-line: start on a line of our own, or ours is lost too
                line = b"\n" + line
            written = os.write(fd, line)
            if written != len(line):  # a short write to a regular file: disk full; say so, do not tear silently
                raise OSError(f"ledger {self.path}: short write ({written} of {len(line)} bytes)")
        finally:
            os.close(fd)

    def intend(self, kind: str, name: str, *, scope: str = "", attrs: dict[str, Any] | None = None,
               undo: dict[str, Any] | None = None) -> Entry:
        """Record that `name` is about to be created; call it *before* the create call."""
        entry = Entry(
            key=uuid.uuid4().hex, kind=kind, name=name, target=self.target, run=self.run, scope=scope,
            pid=self.proc.pid, pid_start=self.proc.start, boot=self.proc.boot, host=self.proc.host, at=_now(),
            endpoint=self.endpoint, attrs=dict(attrs or {}), undo=dict(undo or {}), path=self.path,
        )
        self._append({
            "event": "intend", "key": entry.key, "kind": kind, "name": name, "target": self.target, "run": self.run,
            "scope": scope, "pid": entry.pid, "pid_start": entry.pid_start, "boot": entry.boot, "host": entry.host,
            "at": entry.at, "endpoint": entry.endpoint, "attrs": entry.attrs, "undo": entry.undo,
        })
        return entry

    def created(self, entry: Entry, resource_id: str | None, job: str | None = None) -> None:
        """The create call answered: the resource's id (and its async job, to wait for before undo)."""
        # the line first: a reader woken by the in-memory change must find it on file
        self._append({"event": "created", "key": entry.key, "id": resource_id, "job": job, "at": _now()})
        entry.id, entry.job, entry.settled = resource_id or entry.id, job or entry.job, True

    def settled(self, entry: Entry, error: str = "") -> None:
        """The create call ended without an id (failed or timed out): undo will look the name up."""
        self._append({"event": "settled", "key": entry.key, "at": _now(), "error": error[:300]})
        entry.settled, entry.error = True, error or None

    def undone(self, entry: Entry, how: str) -> None:
        self._append({"event": "undone", "key": entry.key, "at": _now(), "how": how, "by_pid": os.getpid()})
        entry.undone = how


def mark_undone(entry: Entry, how: str) -> None:
    """Append `undone` for an entry read from a file (the janitor closing a dead run's entry)."""
    assert entry.path is not None
    Ledger(entry.path, run=entry.run, target=entry.target, endpoint=entry.endpoint).undone(entry, how)


def _ends_torn(fd: int) -> bool:
    """Does the file end inside a line (its writer was killed between the bytes of one write)?"""
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


# --------------------------------------------------------------------------- where
def current_run_id() -> str:
    """The run's id (its report directory's name, shared by xdist workers), else one of this process."""
    return os.path.basename(os.environ.get("CLOUDGATE_RUN_DIR", "").rstrip("/")) or f"pid{os.getpid()}"


def run_ledger_path(run_dir: Path | str | None = None) -> Path:
    """This process's ledger: the run directory's, else a temp file of this process only."""
    base = run_dir or os.environ.get("CLOUDGATE_RUN_DIR")
    if base and Path(base).is_dir():
        return Path(base) / LEDGER_FILE
    proc = ProcessId.current()
    return Path(tempfile.gettempdir()) / f"cloudgate-ledger-{proc.pid}-{proc.start}.jsonl"


def ledgers_under(reports_root: Path) -> list[Path]:
    """Every run's ledger under a reports directory (reports/*/ledger*.jsonl; `latest` is a link, skipped)."""
    if not reports_root.is_dir():
        return []
    return sorted(p for p in reports_root.glob("*/ledger*.jsonl") if not p.parent.is_symlink())


# --------------------------------------------------------------------------- reading
def read(path: Path) -> list[Entry]:
    """Entries of one ledger file in the order they were intended; torn or foreign lines are skipped."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    entries: dict[str, Entry] = {}
    for raw in data.split(b"\n")[:-1]:  # the part after the last newline is a torn line, never complete
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(rec, dict) or "key" not in rec:
            continue
        _fold(entries, rec, Path(path))
    return list(entries.values())


def corrupt_lines(path: Path) -> list[int]:
    """Numbers of the complete lines of a ledger that are not ledger records (read() skips them).

    A torn *last* line is what a kill leaves and is not counted; a bad line before it is damage, and
    whatever it named can no longer be found from the file: the janitor and `gate destroy` must say so
    instead of reading the ledger as holding nothing. The file is never changed here.
    """
    try:
        data = Path(path).read_bytes()
    except OSError:
        return []
    bad = []
    for number, raw in enumerate(data.split(b"\n")[:-1], start=1):
        try:
            rec = json.loads(raw)
        except ValueError:
            rec = None
        if not (isinstance(rec, dict) and "key" in rec) and raw.strip():
            bad.append(number)
    return bad


def describe_corrupt(path: Path, lines: list[int]) -> str:
    """One line naming a damaged ledger and its bad lines (the first few)."""
    shown = ", ".join(map(str, lines[:5])) + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")
    return (f"{path}: corrupt, line(s) {shown} are not ledger records (the file is kept as it is); what they "
            "named cannot be found from it: check the cloud by hand")


def _fold(entries: dict[str, Entry], rec: dict[str, Any], path: Path) -> None:
    key, event = str(rec["key"]), rec.get("event")
    if event == "intend":
        try:
            entries[key] = Entry(
                key=key, kind=str(rec["kind"]), name=str(rec["name"]), target=str(rec.get("target", "")),
                run=str(rec.get("run", "")), scope=str(rec.get("scope", "")), pid=int(rec["pid"]),
                pid_start=rec.get("pid_start"), boot=str(rec.get("boot", "")), host=str(rec.get("host", "")),
                at=str(rec.get("at", "")), endpoint=str(rec.get("endpoint", "")),
                attrs=dict(rec.get("attrs") or {}), undo=dict(rec.get("undo") or {}), path=path,
            )
        except (KeyError, TypeError, ValueError):
            return
        return
    entry = entries.get(key)
    if entry is None:
        return
    if event == "created":
        entry.id, entry.job, entry.settled = rec.get("id") or entry.id, rec.get("job") or entry.job, True
        if entry.undone is not None and rec.get("id"):
            entry.undone = None  # the create call landed after an undo that found nothing: pending again
    elif event == "settled":
        entry.settled, entry.error = True, rec.get("error") or None
    elif event == "undone":
        entry.undone = str(rec.get("how") or "undone")


def pending(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.pending]
