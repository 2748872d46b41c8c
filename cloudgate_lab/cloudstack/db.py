"""The simulator's only state: one SQLite file (WAL), so a restart loses nothing.

A single connection is shared by the HTTP threads, the job workers and the host monitor, serialized by
one re-entrant lock. That lock is also what makes "plan a host, then reserve it" atomic, the guarantee
CloudStack gets from its VM reservation table against parallel deploys.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DB_FILE = "cloudstack.sqlite"  # inside the simulator's state dir

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS zones(
  seq INTEGER PRIMARY KEY, id TEXT UNIQUE, name TEXT, dc_index INTEGER, allocationstate TEXT, created REAL);
CREATE TABLE IF NOT EXISTS pods(
  seq INTEGER PRIMARY KEY, id TEXT UNIQUE, name TEXT, zone_id TEXT, gateway TEXT, netmask TEXT,
  startip TEXT, endip TEXT, allocationstate TEXT, created REAL);
CREATE TABLE IF NOT EXISTS clusters(
  seq INTEGER PRIMARY KEY, id TEXT UNIQUE, name TEXT, zone_id TEXT, pod_id TEXT, allocationstate TEXT,
  managedstate TEXT, created REAL);
CREATE TABLE IF NOT EXISTS hosts(
  seq INTEGER PRIMARY KEY, id TEXT UNIQUE, name TEXT, zone_id TEXT, pod_id TEXT, cluster_id TEXT, ip TEXT,
  cpu_cores INTEGER, cpu_mhz INTEGER, memory_mib INTEGER, state TEXT, resourcestate TEXT, hosttags TEXT,
  disconnected REAL, lastpinged REAL, created REAL);
CREATE TABLE IF NOT EXISTS system_vms(
  seq INTEGER PRIMARY KEY, id TEXT UNIQUE, name TEXT, type TEXT, zone_id TEXT, pod_id TEXT, host_id TEXT,
  state TEXT, privateip TEXT, publicip TEXT, linklocalip TEXT, created REAL);
CREATE TABLE IF NOT EXISTS offerings(
  seq INTEGER PRIMARY KEY, id TEXT UNIQUE, name TEXT, displaytext TEXT, cpunumber INTEGER, cpuspeed INTEGER,
  memory INTEGER, created REAL);
CREATE TABLE IF NOT EXISTS templates(
  seq INTEGER PRIMARY KEY, id TEXT UNIQUE, name TEXT, displaytext TEXT, tag TEXT, ostypename TEXT,
  created REAL);
CREATE TABLE IF NOT EXISTS networks(
  seq INTEGER PRIMARY KEY, id TEXT UNIQUE, name TEXT, zone_id TEXT, cidr TEXT, gateway TEXT, created REAL);
CREATE TABLE IF NOT EXISTS vms(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, name TEXT, displayname TEXT, instancename TEXT,
  account TEXT, zone_id TEXT, offering_id TEXT, template_id TEXT, host_id TEXT, last_host_id TEXT,
  migrate_host_id TEXT, state TEXT, ip TEXT, created REAL, updated REAL, removed REAL);
CREATE TABLE IF NOT EXISTS affinity_groups(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, name TEXT, type TEXT, description TEXT,
  account TEXT, created REAL, removed REAL);
CREATE TABLE IF NOT EXISTS vm_affinity(vm_id TEXT, group_id TEXT, PRIMARY KEY(vm_id, group_id));
CREATE TABLE IF NOT EXISTS tags(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, resource_id TEXT, resource_type TEXT, key TEXT, value TEXT,
  account TEXT, customer TEXT, created REAL, UNIQUE(resource_id, resource_type, key));
CREATE TABLE IF NOT EXISTS jobs(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, command TEXT, cmd_class TEXT, params TEXT,
  account TEXT, status INTEGER, resultcode INTEGER, result TEXT, instance_type TEXT, instance_id TEXT,
  created REAL, completed REAL);
CREATE INDEX IF NOT EXISTS jobs_pending ON jobs(status);
CREATE TABLE IF NOT EXISTS config(name TEXT PRIMARY KEY, value TEXT, category TEXT, description TEXT);
"""


class Database:
    """One SQLite connection, one lock; `tx()` nests, so helpers can be composed inside a transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(SCHEMA)

    @contextmanager
    def tx(self) -> Iterator[Database]:
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            ok = False
            try:
                yield self
                ok = True
            finally:
                self._depth -= 1
                if outer:
                    self._conn.execute("COMMIT" if ok else "ROLLBACK")

    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Execute a statement; returns the number of rows changed."""
        with self._lock:
            return self._conn.execute(sql, tuple(args)).rowcount

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(args)).fetchall()

    def one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._conn.execute(sql, tuple(args)).fetchone()

    def scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        row = self.one(sql, args)
        return None if row is None else row[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
