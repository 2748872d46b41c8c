"""The runs' memory: reports/history.sqlite, one row per run, check and metric, kept across nights.

Why SQLite: a nightly on a preproduction cloud runs for years; comparing tonight with the last week
(cloudgate.report.regression) and the upgrade gate's `after` with its `before` need the old runs,
queried by target and profile, from any later process (the report page, `cloudgate report RUN_ID`).
One file beside the run directories, no server, and the standard library reads it.

The schema is versioned with SQLite's own `PRAGMA user_version` and grows only by MIGRATIONS, run in
order inside one transaction, so an older database is brought up to date in place and never
rebuilt. A database whose version is *newer* than this cloudgate knows is refused (HistoryError):
writing to it with old code could lose what the newer code records, and downgrading is never
done. A file that is not a database (a truncated copy, a disk error) is moved aside to
`history.sqlite.corrupt-<UTC time>` with one line saying so, and a new one is started: the run is
recorded, the old bytes are kept for whoever wants to look, nothing is silently dropped.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HISTORY_FILE = "history.sqlite"
BUSY_TIMEOUT_S = 30.0  # two runs finishing at once: the second waits for the first's transaction

# Each step takes the database from version i to i + 1. Never edit a released step: add one.
MIGRATIONS: tuple[str, ...] = (
    # 1: the nightly history
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, target TEXT NOT NULL, environment TEXT NOT NULL, profile TEXT NOT NULL,
        revision TEXT NOT NULL, cloudstack_version TEXT, started TEXT NOT NULL, ended TEXT,
        exitstatus INTEGER, counts TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX runs_by_target_profile ON runs (target, profile, started);
    CREATE TABLE checks (
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE, nodeid TEXT NOT NULL,
        check_id TEXT NOT NULL DEFAULT '', severity TEXT NOT NULL DEFAULT '', outcome TEXT NOT NULL,
        duration_s REAL NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '', PRIMARY KEY (run_id, nodeid)
    );
    CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE, name TEXT NOT NULL,
        value REAL NOT NULL, unit TEXT NOT NULL, threshold REAL, better TEXT NOT NULL, verdict TEXT NOT NULL,
        PRIMARY KEY (run_id, name)
    );
    """,
    # 2: the upgrade gate: what kind of run each is, and the flags judged at the end of a run
    """
    ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'run';
    CREATE TABLE flags (
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE, kind TEXT NOT NULL,
        subject TEXT NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (run_id, kind, subject)
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
# "narrowed": a run with --hosts-filter/--sample. It compares only with narrowed runs (a full night
# compared with one would lose most of its checks; one compared with a full night would miss them).
# interrupted: a run cut short (Ctrl-C, a signal, an internal error); kept, shown, never compared
RUN_KINDS = ("run", "narrowed", "gate-before", "gate-during", "gate-after", "interrupted")


class HistoryError(Exception):
    """The history cannot be used; str() is one line naming the file and the cause."""


@dataclass(frozen=True)
class CheckRecord:
    nodeid: str
    outcome: str  # passed | failed | error | waived | not_applicable | not_run
    check_id: str = ""
    severity: str = ""
    duration_s: float = 0.0
    message: str = ""


@dataclass(frozen=True)
class MetricRecord:
    name: str
    value: float
    unit: str
    threshold: float | None = None
    better: str = "lower"
    verdict: str = "info"


@dataclass(frozen=True)
class FlagRecord:
    kind: str  # metric_regression | new_failure | known_failure | ... (cloudgate.report.regression)
    subject: str  # the metric name or the check's nodeid
    detail: str  # one line an operator can act on


@dataclass
class RunRecord:
    """One run as the history keeps it."""

    run_id: str
    target: str
    environment: str
    profile: str
    revision: str
    started: str
    ended: str | None = None
    exitstatus: int | None = None
    cloudstack_version: str | None = None
    kind: str = "run"
    counts: dict[str, int] = field(default_factory=dict)
    checks: list[CheckRecord] = field(default_factory=list)
    metrics: list[MetricRecord] = field(default_factory=list)
    flags: list[FlagRecord] = field(default_factory=list)

    def check(self, nodeid: str) -> CheckRecord | None:
        return next((c for c in self.checks if c.nodeid == nodeid), None)

    def metric(self, name: str) -> MetricRecord | None:
        return next((m for m in self.metrics if m.name == name), None)


# --------------------------------------------------------------------------- opening
def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    version = _version(conn)
    if version > SCHEMA_VERSION:
        raise HistoryError(f"{path}: history schema {version} is newer than this cloudgate's ({SCHEMA_VERSION}); "
                           f"refusing to use it (never downgraded): run a newer cloudgate, or use another --reports-dir")
    if version == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _version(conn)  # another process may have migrated it while we waited for the lock
        for step in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[step].split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)  # transactions are explicit
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextlib.contextmanager
def open_history(path: Path, notice: Callable[[str], None] = lambda _line: None) -> Iterator[sqlite3.Connection]:
    """The history at `path`, created or migrated to SCHEMA_VERSION; a corrupt file is moved aside.

    `notice` receives the one line saying a corrupt file was moved aside. Raises HistoryError for a
    newer schema or a file that cannot be opened at all (a directory, no permission).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn: sqlite3.Connection | None = None
    try:
        try:
            conn = _connect(path)
            _migrate(conn, path)
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
                conn = None
            if not path.is_file() or "not a database" not in str(exc) and "malformed" not in str(exc):
                raise HistoryError(f"{path}: cannot open the history: {exc}") from None
            aside = path.with_name(f"{path.name}.corrupt-{_utc_stamp()}")
            path.rename(aside)
            notice(f"cloudgate: {path} is not a readable SQLite database ({exc}); moved aside to {aside.name}, "
                   f"starting a new history")
            conn = _connect(path)
            _migrate(conn, path)
        yield conn
    finally:
        if conn is not None:
            conn.close()


# --------------------------------------------------------------------------- writing
def record_run(conn: sqlite3.Connection, run: RunRecord) -> None:
    """Store one run (replacing a row of the same run id: re-recording a run is idempotent)."""
    if run.kind not in RUN_KINDS:
        raise HistoryError(f"unknown run kind {run.kind!r} (one of {', '.join(RUN_KINDS)})")
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM runs WHERE run_id = ?", (run.run_id,))
        conn.execute(
            "INSERT INTO runs (run_id, target, environment, profile, revision, cloudstack_version, started, ended, "
            "exitstatus, counts, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run.run_id, run.target, run.environment, run.profile, run.revision, run.cloudstack_version, run.started,
             run.ended, run.exitstatus, json.dumps(run.counts, sort_keys=True), run.kind))
        conn.executemany(
            "INSERT INTO checks (run_id, nodeid, check_id, severity, outcome, duration_s, message) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(run.run_id, c.nodeid, c.check_id, c.severity, c.outcome, c.duration_s, c.message) for c in run.checks])
        conn.executemany(
            "INSERT INTO metrics (run_id, name, value, unit, threshold, better, verdict) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(run.run_id, m.name, m.value, m.unit, m.threshold, m.better, m.verdict) for m in run.metrics])
        conn.executemany(
            "INSERT OR REPLACE INTO flags (run_id, kind, subject, detail) VALUES (?, ?, ?, ?)",
            [(run.run_id, f.kind, f.subject, f.detail) for f in run.flags])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


# --------------------------------------------------------------------------- reading
_RUN_COLUMNS = ("run_id, target, environment, profile, revision, started, ended, exitstatus, cloudstack_version, "
                "kind, counts")


def _run_from_row(conn: sqlite3.Connection, row: tuple[Any, ...]) -> RunRecord:
    run = RunRecord(*row[:10], counts=json.loads(row[10] or "{}"))
    run.checks = [CheckRecord(*r) for r in conn.execute(
        "SELECT nodeid, outcome, check_id, severity, duration_s, message FROM checks WHERE run_id = ? ORDER BY nodeid",
        (run.run_id,))]
    run.metrics = [MetricRecord(*r) for r in conn.execute(
        "SELECT name, value, unit, threshold, better, verdict FROM metrics WHERE run_id = ? ORDER BY name",
        (run.run_id,))]
    run.flags = [FlagRecord(*r) for r in conn.execute(
        "SELECT kind, subject, detail FROM flags WHERE run_id = ? ORDER BY kind, subject", (run.run_id,))]
    return run


def get_run(conn: sqlite3.Connection, run_id: str) -> RunRecord | None:
    row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return _run_from_row(conn, row) if row else None


def previous_runs(conn: sqlite3.Connection, target: str, profile: str, before: str, limit: int,
                  kind: str = "run") -> list[RunRecord]:
    """The last `limit` runs of the same target, profile and kind started before `before` (ISO time), newest first.

    Only runs that ended are comparable: a run killed before its summary has no meaningful figures.
    The kind too: a gate's `during` run (control-plane checks left out) says nothing about a nightly.
    """
    rows = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE target = ? AND profile = ? AND kind = ? AND started < ? "
        "AND ended IS NOT NULL ORDER BY started DESC LIMIT ?", (target, profile, kind, before, limit)).fetchall()
    return [_run_from_row(conn, row) for row in rows]


def metric_series(conn: sqlite3.Connection, target: str, profile: str, name: str, limit: int = 30,
                  kind: str = "run") -> list[tuple[str, float]]:
    """(started, value) of one metric over the last `limit` runs of a target, profile and kind, oldest first."""
    rows = conn.execute(
        "SELECT r.started, m.value FROM metrics m JOIN runs r USING (run_id) WHERE r.target = ? AND r.profile = ? "
        "AND r.kind = ? AND m.name = ? ORDER BY r.started DESC LIMIT ?", (target, profile, kind, name, limit)).fetchall()
    return [(str(s), float(v)) for s, v in reversed(rows)]
