"""The history of a drill: every operation as issued and as completed, in a JSONL file of the run.

Why a file written as it happens, and not a list kept in memory: the history is the evidence. A
drill that dies half way (kill -9, a lost terminal, the lab taking the runner down with it) must
still leave what it saw, and `cloudgate drill check HISTORY` must be able to judge a history later,
on another machine, with another version of the checker.

The vocabulary is Jepsen's. The first line is the meta record (`{"type":"meta","v":1,...}`: the
drill, the target, the DCs, the thresholds, the expectations, the clients' settings, the fault).
Then each operation is recorded twice: an `invoke` when it is issued, then one completion, `ok`
(it happened), `fail` (it certainly did not) or `info` (unknown: a timeout), with the same
`index`. A completion repeats the identity of its invoke (f, process, client, dc, key, round) so
every line reads on its own; the checker still takes the identity from the invoke.

Each record is one `os.write` on an O_APPEND descriptor, under a lock: the load's threads, the
driver's callback threads and the nemesis share one writer, lines never interleave, and a kill -9
leaves at most a torn last line, which `read_history` ignores.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

VERSION = 1
INVOKE = "invoke"
COMPLETIONS = ("ok", "fail", "info")
TYPES = (INVOKE, *COMPLETIONS)
LOAD = ("write", "read")  # what the applications do; read-back is the checker's, not theirs
READ_BACK = "read-back"
START, STOP = "start", "stop"  # nemesis: fault injected, fault healed
# what a completion copies from its invoke when the caller does not say otherwise
IDENTITY = ("f", "process", "client", "dc", "key", "value", "round")


class HistoryError(Exception):
    """A history file that cannot be read as one: the message is one line naming file:line."""


@dataclass(frozen=True)
class Op:
    """One line of the history after the meta record: an invoke or a completion."""

    index: int
    type: str  # invoke | ok | fail | info
    time: float  # seconds since the drill started (monotonic clock)
    f: str | None = None  # write | read | read-back | start | stop
    process: str | None = None  # "dc1-app/writer", "nemesis"
    client: str | None = None  # absent for the nemesis
    dc: str | None = None  # the client's DC; for read-back, the DC read from
    key: str | None = None
    value: int | str | None = None  # write: the int written; read ok: what was read (None = absent)
    coordinator: str | None = None
    error: str | None = None
    round: int | None = None  # read-back only


OP_FIELDS = frozenset(f.name for f in fields(Op))


@dataclass
class History:
    """A whole drill: its meta record and its operations in file order (invokes and completions)."""

    meta: dict[str, Any]
    ops: list[Op] = field(default_factory=list)


# --------------------------------------------------------------------------- writing
class HistoryWriter:
    """Appends the records of one drill to `path`, from any thread.

    The file is created, never reused (O_EXCL): indexes are allocated from 0 by this writer, and two
    drills in one file would make each other's operations unreadable. `time` is stamped by the
    writer (seconds since `origin`, a `time.monotonic()` value, by default the writer's creation)
    unless the caller passes its own.
    """

    def __init__(self, path: Path | str, *, origin: float | None = None) -> None:
        self.path = Path(path)
        self._origin = time.monotonic() if origin is None else origin
        self._lock = threading.Lock()
        self._next = 0
        self._pending: dict[int, dict[str, Any]] = {}  # index -> the identity of its invoke
        self._meta_written = False
        self._wrote_op = False
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)

    def now(self) -> float:
        """Seconds since the drill's origin, as recorded in `time`."""
        return round(time.monotonic() - self._origin, 6)

    def meta(self, meta: dict[str, Any]) -> None:
        """Write the meta record; it must be the first record, and there is one."""
        record: dict[str, Any] = {"type": "meta", "v": VERSION}
        record.update((k, v) for k, v in meta.items() if k not in ("type", "v"))
        record.setdefault("started_at", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        with self._lock:
            if self._meta_written or self._wrote_op:
                raise ValueError(f"{self.path}: the meta record must be the first and only one")
            self._write(record)
            self._meta_written = True

    def invoke(self, **fields_: Any) -> int:
        """Record an operation issued now; returns its index, to pass to `complete`."""
        fields_.setdefault("time", self.now())
        with self._lock:
            index = self._next
            self._next += 1
            record = _record(index, INVOKE, fields_)
            self._write(record)
            self._wrote_op = True
            self._pending[index] = {k: record[k] for k in IDENTITY if k in record}
        return index

    def complete(self, index: int, type: str, **fields_: Any) -> None:
        """Record the completion of operation `index` (ok | fail | info).

        A second completion of the same index is written as given (the checker counts the first):
        a driver calling back twice is a fact worth keeping, not one to hide here.
        """
        if type not in COMPLETIONS:
            raise ValueError(f"completion type {type!r} is not one of {', '.join(COMPLETIONS)}")
        fields_.setdefault("time", self.now())
        with self._lock:
            identity = self._pending.pop(index, {})
            self._write(_record(index, type, {**identity, **fields_}))
            self._wrote_op = True

    def _write(self, record: dict[str, Any]) -> None:
        if self._fd is None:
            raise ValueError(f"{self.path}: history writer is closed")
        data = (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode()
        while data:  # a regular file writes it all at once; a short write (disk full) is finished, not lost
            data = data[os.write(self._fd, data):]

    def close(self) -> None:
        """Flush to disk and close; closing twice is harmless."""
        with self._lock:
            if self._fd is None:
                return
            fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _record(index: int, type_: str, fields_: dict[str, Any]) -> dict[str, Any]:
    """The line for one op: type and index first (for a reader's eye), None dropped except a read's value."""
    unknown = set(fields_) - OP_FIELDS
    if unknown:
        raise ValueError(f"unknown history field(s): {', '.join(sorted(unknown))}")
    record: dict[str, Any] = {"type": type_, "index": index}
    for name, value in fields_.items():
        if name in ("type", "index") or (value is None and name != "value"):
            continue
        record[name] = value
    return record


# --------------------------------------------------------------------------- reading
def read_history(path: Path | str) -> History:
    """Read a history file; a torn last line is ignored, anything else malformed raises HistoryError."""
    path = Path(path)
    lines = path.read_bytes().split(b"\n")
    numbered = [(n, raw) for n, raw in enumerate(lines, 1) if raw.strip()]
    if not numbered:
        raise HistoryError(f"{path}: empty history: no meta record")
    # only what follows the last newline can be torn (a record is one write ending in its newline);
    # a whole line that is not JSON is damage, and is named as such
    last = len(lines) if lines[-1].strip() else None
    meta: dict[str, Any] | None = None
    ops: list[Op] = []
    for n, raw in numbered:
        try:
            record = json.loads(raw.decode())
        except (UnicodeDecodeError, ValueError) as e:
            if n == last:  # a writer killed mid-line
                break
            raise HistoryError(f"{path}:{n}: not a JSON record ({_first_line(e)})") from None
        if meta is None:
            meta = _meta(record, path, n)
            continue
        ops.append(_op(record, path, n))
    if meta is None:
        raise HistoryError(f"{path}: no meta record (the only line is torn)")
    return History(meta=meta, ops=ops)


def _first_line(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _meta(record: Any, path: Path, n: int) -> dict[str, Any]:
    if not isinstance(record, dict) or record.get("type") != "meta":
        raise HistoryError(f"{path}:{n}: the first record is not the meta record (type \"meta\")")
    if record.get("v") != VERSION:
        raise HistoryError(f"{path}:{n}: meta record version {record.get('v')!r}, this reads v{VERSION}")
    return record


def _op(record: Any, path: Path, n: int) -> Op:
    where = f"{path}:{n}"
    if not isinstance(record, dict):
        raise HistoryError(f"{where}: a record is a JSON object, not {type(record).__name__}")
    if record.get("type") not in TYPES:
        raise HistoryError(f"{where}: type {record.get('type')!r} is not one of {', '.join(TYPES)}")
    index, t = record.get("index"), record.get("time")
    if not isinstance(index, int) or isinstance(index, bool):
        raise HistoryError(f"{where}: index {index!r} is not an integer")
    if not isinstance(t, int | float) or isinstance(t, bool):
        raise HistoryError(f"{where}: time {t!r} is not a number of seconds")
    if record["type"] == INVOKE and not isinstance(record.get("f"), str):
        raise HistoryError(f"{where}: an invoke names its operation in f (write, read, read-back, ...)")
    rnd = record.get("round")
    if rnd is not None and (not isinstance(rnd, int) or isinstance(rnd, bool)):
        raise HistoryError(f"{where}: round {rnd!r} is not an integer")
    # fields this reader does not know (a newer writer's) are left out, not refused
    return Op(**{k: v for k, v in record.items() if k in OP_FIELDS and k != "time"}, time=float(t))
