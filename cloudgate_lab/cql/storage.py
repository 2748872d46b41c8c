"""Durable local storage of one node: memtables, commit log, snapshots and hints.

Write path: every mutation is appended (one ``os.write`` on an O_APPEND fd; one per batch for
mutations that arrive together: group commit) to the commit log *before* it is applied and
acknowledged, so killing the process never loses an acknowledged
write (the data is in the kernel page cache). ``commitlog_sync`` chooses what happens for
power loss: ``periodic`` (default, like Cassandra) fsyncs from a background thread every
``commitlog_sync_period_ms``; ``batch`` fsyncs before each acknowledgement (≈0.3 ms here).
When the log grows past ``compact_bytes`` the whole state is written to a snapshot (written
to a temp file, fsynced, renamed) and the log restarts; replay = snapshot + log, both
idempotent because reconciliation is last-write-wins.

Data model (as Cassandra's): partition -> rows keyed by clustering tuple -> cells with write
timestamps; partition and row tombstones. Reconciliation: higher timestamp wins; on a tie a
tombstone wins, then the greater value (Cassandra's rule).
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from . import codec

NO_TS = -(1 << 63)
_REC = struct.Struct(">II")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_HDR_TAIL = struct.Struct(">qH")
_ROW = struct.Struct(">qqH")
_CELL = struct.Struct(">qi")


# -- mutations (also the partition-data format of read responses) -------------------------------

@dataclass(slots=True)
class RowOp:
    clustering: tuple[bytes, ...]
    deleted: int = NO_TS
    marker: int = NO_TS
    cells: dict[str, tuple[int, bytes | None]] = field(default_factory=dict)


@dataclass(slots=True)
class Mutation:
    """Changes (or, in read responses, data) for one partition of one table."""

    table_id: bytes
    key: bytes
    deleted: int = NO_TS
    rows: list[RowOp] = field(default_factory=list)

    def to_wire(self) -> list:
        return [
            self.table_id,
            self.key,
            self.deleted,
            [[list(r.clustering), r.deleted, r.marker, [[n, ts, v] for n, (ts, v) in r.cells.items()]] for r in self.rows],
        ]

    @classmethod
    def from_wire(cls, obj: list) -> Mutation:
        tid, key, deleted, rows = obj
        return cls(
            tid,
            key,
            deleted,
            [RowOp(tuple(c), d, mk, {n: (ts, v) for n, ts, v in cells}) for c, d, mk, cells in rows],
        )

    def encode(self) -> bytes:
        """Binary record (commit log, hints, MUTATION messages); a flat struct layout because
        this sits on the write hot path (the generic codec is 5x slower)::

            'M' table_id(16) [u32 key len] key [i64 partition deletion] [u16 rows]
            per row: [u16 n] n x ([u32 len] bytes) [i64 row deletion] [i64 marker] [u16 cells]
            per cell: [u16 len] name [i64 ts] [i32 len, -1 = tombstone] value
        """
        parts = [b"M", self.table_id, _U32.pack(len(self.key)), self.key, _HDR_TAIL.pack(self.deleted, len(self.rows))]
        for r in self.rows:
            parts.append(_U16.pack(len(r.clustering)))
            for c in r.clustering:
                parts.append(_U32.pack(len(c)))
                parts.append(c)
            parts.append(_ROW.pack(r.deleted, r.marker, len(r.cells)))
            for name, (ts, v) in r.cells.items():
                nb = name.encode()
                parts.append(_U16.pack(len(nb)))
                parts.append(nb)
                if v is None:
                    parts.append(_CELL.pack(ts, -1))
                else:
                    parts.append(_CELL.pack(ts, len(v)))
                    parts.append(v)
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> Mutation:
        if data[:1] != b"M":
            raise ValueError("not a mutation record")
        tid = data[1:17]
        (klen,) = _U32.unpack_from(data, 17)
        pos = 21 + klen
        key = data[21:pos]
        deleted, nrows = _HDR_TAIL.unpack_from(data, pos)
        pos += _HDR_TAIL.size
        rows = []
        for _ in range(nrows):
            (nck,) = _U16.unpack_from(data, pos)
            pos += 2
            ck = []
            for _ in range(nck):
                (ln,) = _U32.unpack_from(data, pos)
                pos += 4
                ck.append(data[pos : pos + ln])
                pos += ln
            rdel, marker, ncells = _ROW.unpack_from(data, pos)
            pos += _ROW.size
            cells = {}
            for _ in range(ncells):
                (ln,) = _U16.unpack_from(data, pos)
                name = data[pos + 2 : pos + 2 + ln].decode()
                pos += 2 + ln
                ts, vlen = _CELL.unpack_from(data, pos)
                pos += _CELL.size
                if vlen < 0:
                    cells[name] = (ts, None)
                else:
                    cells[name] = (ts, data[pos : pos + vlen])
                    pos += vlen
            rows.append(RowOp(tuple(ck), rdel, marker, cells))
        if pos != len(data):
            raise ValueError("trailing bytes in mutation record")
        return cls(tid, key, deleted, rows)

    def is_empty(self) -> bool:
        return self.deleted == NO_TS and not self.rows


def decode_record(data: bytes) -> tuple[str, object]:
    """A commit-log/hint record: ('m', Mutation) or ('t', table id) for a truncation."""
    if data[:1] == b"M":
        return "m", Mutation.decode(data)
    kind, payload = codec.decode(data)
    return kind, payload


def _reconcile(a: tuple[int, bytes | None], b: tuple[int, bytes | None]) -> tuple[int, bytes | None]:
    if a[0] != b[0]:
        return a if a[0] > b[0] else b
    if a[1] is None:
        return a
    if b[1] is None:
        return b
    return a if a[1] >= b[1] else b


class Row:
    __slots__ = ("deleted", "marker", "cells")

    def __init__(self) -> None:
        self.deleted = NO_TS
        self.marker = NO_TS
        self.cells: dict[str, tuple[int, bytes | None]] = {}

    def live_cells(self, floor: int) -> dict[str, bytes]:
        """Cells not shadowed by a tombstone at or after their timestamp."""
        floor = max(floor, self.deleted)
        return {n: v for n, (ts, v) in self.cells.items() if v is not None and ts > floor}

    def is_live(self, floor: int) -> bool:
        floor = max(floor, self.deleted)
        if self.marker > floor:
            return True
        return any(v is not None and ts > floor for ts, v in self.cells.values())


class Partition:
    __slots__ = ("deleted", "rows")

    def __init__(self) -> None:
        self.deleted = NO_TS
        self.rows: dict[tuple[bytes, ...], Row] = {}

    def apply(self, m: Mutation) -> None:
        if m.deleted > self.deleted:
            self.deleted = m.deleted
        for op in m.rows:
            row = self.rows.get(op.clustering)
            if row is None:
                row = self.rows[op.clustering] = Row()
            if op.deleted > row.deleted:
                row.deleted = op.deleted
            if op.marker > row.marker:
                row.marker = op.marker
            cells = row.cells
            for name, cell in op.cells.items():
                old = cells.get(name)
                cells[name] = cell if old is None else _reconcile(old, cell)

    def to_mutation(self, table_id: bytes, key: bytes, keep: Callable[[tuple[bytes, ...]], bool] | None = None) -> Mutation:
        rows = [
            RowOp(ck, r.deleted, r.marker, dict(r.cells))
            for ck, r in self.rows.items()
            if keep is None or keep(ck)
        ]
        return Mutation(table_id, key, self.deleted, rows)


# -- commit log ----------------------------------------------------------------------------------

class CommitLog:
    """Append-only record file: [u32 length][u32 crc32][payload] per record."""

    def __init__(self, path: str, sync: str = "periodic", period_ms: float = 1000.0) -> None:
        self.path = path
        self.sync = sync
        self.period = period_ms / 1000.0
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.size = os.fstat(self.fd).st_size
        self._dirty = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if sync == "periodic":
            self._thread = threading.Thread(target=self._syncer, name="commitlog-sync", daemon=True)
            self._thread.start()

    def append(self, payload: bytes) -> None:
        self._write(_REC.pack(len(payload), zlib.crc32(payload)) + payload)

    def append_many(self, payloads: list[bytes]) -> None:
        """Group commit: the records of one batch in a single ``write()`` (and one fsync in batch mode)."""
        parts = []
        for p in payloads:
            parts.append(_REC.pack(len(p), zlib.crc32(p)))
            parts.append(p)
        self._write(b"".join(parts))

    def _write(self, rec: bytes) -> None:
        with self._lock:
            os.write(self.fd, rec)
            self.size += len(rec)
            self._dirty = True
        if self.sync == "batch":
            os.fsync(self.fd)

    def _syncer(self) -> None:
        while not self._stop.wait(self.period):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, False
            fd = self.fd
        if dirty:
            with contextlib.suppress(OSError):
                os.fsync(fd)

    def reset(self) -> None:
        """Start an empty log (after a snapshot made the old content redundant)."""
        with self._lock:
            os.ftruncate(self.fd, 0)
            os.fsync(self.fd)
            self.size = 0
            self._dirty = False

    def close(self) -> None:
        self._stop.set()
        self.flush()
        os.close(self.fd)


def read_records(path: str) -> Iterator[bytes]:
    """Records of a log or snapshot file; stops at a torn or corrupt tail (an unacked write)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return
    pos = 0
    while pos + 8 <= len(data):
        n, crc = _REC.unpack_from(data, pos)
        payload = data[pos + 8 : pos + 8 + n]
        if len(payload) != n or zlib.crc32(payload) != crc:
            return
        yield payload
        pos += 8 + n


def write_records(path: str, records: Iterator[bytes]) -> None:
    """Write a whole record file atomically (temp file, fsync, rename, fsync dir)."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for payload in records:
            f.write(_REC.pack(len(payload), zlib.crc32(payload)) + payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


# -- the store -----------------------------------------------------------------------------------

class Store:
    """All partitions this node holds, keyed by table id then partition key bytes."""

    def __init__(self, data_dir: str, sync: str = "periodic", period_ms: float = 1000.0,
                 compact_bytes: int = 64 * 1024 * 1024) -> None:
        self.data_dir = data_dir
        os.makedirs(data_dir, exist_ok=True)
        self.log_path = os.path.join(data_dir, "commitlog.bin")
        self.snap_path = os.path.join(data_dir, "data.snap")
        self.compact_bytes = compact_bytes
        self.tables: dict[bytes, dict[bytes, Partition]] = {}
        self._sync, self._period = sync, period_ms
        self.log: CommitLog | None = None

    def open(self, known_table: Callable[[bytes], bool]) -> int:
        """Replay snapshot + commit log, skipping dropped tables; returns records replayed."""
        n = 0
        for path in (self.snap_path, self.log_path):
            for payload in read_records(path):
                kind, obj = decode_record(payload)
                if kind == "m":
                    assert isinstance(obj, Mutation)
                    if known_table(obj.table_id):
                        self._apply_mem(obj)
                elif kind == "t":
                    self.tables.pop(bytes(obj), None)  # type: ignore[arg-type]
                n += 1
        self.log = CommitLog(self.log_path, self._sync, self._period)
        return n

    def close(self) -> None:
        if self.log:
            self.log.close()
            self.log = None

    def _apply_mem(self, m: Mutation) -> None:
        table = self.tables.get(m.table_id)
        if table is None:
            table = self.tables[m.table_id] = {}
        p = table.get(m.key)
        if p is None:
            p = table[m.key] = Partition()
        p.apply(m)

    def apply(self, m: Mutation, encoded: bytes | None = None) -> None:
        """Durably append, then apply: the caller acknowledges only after this returns."""
        assert self.log is not None
        self.log.append(encoded if encoded is not None else m.encode())
        self._apply_mem(m)
        if self.log.size > self.compact_bytes:
            self.compact()

    def apply_many(self, muts: list[tuple[Mutation, bytes]]) -> None:
        """Group commit of several (mutation, encoded record) pairs: one log write, then apply."""
        assert self.log is not None
        self.log.append_many([e for _, e in muts])
        for m, _ in muts:
            self._apply_mem(m)
        if self.log.size > self.compact_bytes:
            self.compact()

    def truncate(self, table_id: bytes) -> None:
        assert self.log is not None
        self.log.append(codec.encode(["t", table_id]))
        self.tables.pop(table_id, None)

    def drop(self, table_id: bytes) -> None:
        """Dropped tables vanish from memory; replay skips them because the schema no longer has them."""
        self.tables.pop(table_id, None)

    def partition(self, table_id: bytes, key: bytes) -> Partition | None:
        t = self.tables.get(table_id)
        return t.get(key) if t else None

    def partitions(self, table_id: bytes) -> dict[bytes, Partition]:
        return self.tables.get(table_id, {})

    def compact(self) -> None:
        """Fold the log into a snapshot so that restart time and disk use stay bounded."""
        assert self.log is not None

        def records() -> Iterator[bytes]:
            for tid, parts in self.tables.items():
                for key, p in parts.items():
                    yield p.to_mutation(tid, key).encode()

        write_records(self.snap_path, records())
        self.log.reset()


# -- hints ---------------------------------------------------------------------------------------

class HintStore:
    """Mutations a coordinator owes to a replica that was down or did not answer in time.

    One record file per target node under ``hints/``; kept in memory too for replay.
    """

    def __init__(self, data_dir: str) -> None:
        self.dir = os.path.join(data_dir, "hints")
        os.makedirs(self.dir, exist_ok=True)
        self.pending: dict[str, list[bytes]] = {}
        self._fds: dict[str, int] = {}
        for fname in os.listdir(self.dir):
            if fname.endswith(".hints"):
                target = fname[: -len(".hints")]
                recs = list(read_records(os.path.join(self.dir, fname)))
                if recs:
                    self.pending[target] = recs

    def _path(self, target: str) -> str:
        return os.path.join(self.dir, f"{target}.hints")

    def add(self, target: str, encoded: bytes) -> None:
        fd = self._fds.get(target)
        if fd is None:
            fd = self._fds[target] = os.open(self._path(target), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(fd, _REC.pack(len(encoded), zlib.crc32(encoded)) + encoded)
        self.pending.setdefault(target, []).append(encoded)

    def count(self, target: str) -> int:
        return len(self.pending.get(target, ()))

    def delivered(self, target: str, n: int) -> None:
        """Drop the first n hints for target (they were acknowledged) and persist the rest."""
        rest = self.pending.get(target, [])[n:]
        fd = self._fds.pop(target, None)
        if fd is not None:
            os.close(fd)
        if rest:
            self.pending[target] = rest
            write_records(self._path(target), iter(rest))
        else:
            self.pending.pop(target, None)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path(target))

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
