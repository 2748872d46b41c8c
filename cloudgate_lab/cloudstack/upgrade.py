"""CloudStack upgrades of the simulator: a new version, clean or with the regressions real upgrades shipped.

Why: the upgrade gate (after OpenStack Grenade) asks whether what existed before an upgrade still
exists and works after it. To prove that gate can say NO-GO, the lab must be able to upgrade badly,
in the ways CloudStack upgrades have: a planner that stops honouring anti-affinity, slow deploys, a
schema migration that loses rows (stopped VMs, resource tags), a list API that pages wrongly.

A regression has up to two parts:
- a one-time *migration* effect, applied to the database while the management server is stopped
  (stopped-vms-expunged, tags-lost): what a broken upgrade script does to data, once; rolling
  forward later does not bring that data back, as on a real cloud;
- a lasting *behaviour* of the running server (anti-affinity-ignored, slow-deploy,
  host-list-truncated), active while the regression is in the release; the code that acts on it asks
  `Simulator.regressed(NAME)` where the behaviour lives (vms.py, commands/inventory.py).

Where the release is kept: the `meta` table of the simulator's SQLite database (keys `version`,
`regressions`, `upgraded_from`, `upgraded_at`), not a JSON file beside it. The new version and the
migration effects are then one transaction: a crash mid-upgrade leaves the old release with its
data or the new one with its effects, never a version that disagrees with the data. That is also
where CloudStack keeps its own version (the `version` table of its database). A fresh database has
no `version` key and is the base release (`inventory.CLOUDSTACK_VERSION`, no regression), so a new
`cloudgate lab up` always starts clean.

The simulator reads its release once, at start, as a management server knows its code version: an
upgrade is stop, `apply_upgrade(state_dir, ...)`, start — `control.upgrade` does that to the lab's
simulator process, tests do it to an in-process one. Upgrading again replaces the set of active
regressions (an upgrade to a later version with none is the roll-forward to a fixed release).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cloudgate.cloudstack import version as csversion

from .db import DB_FILE, Database
from .inventory import CLOUDSTACK_VERSION

ANTI_AFFINITY_IGNORED = "anti-affinity-ignored"
SLOW_DEPLOY = "slow-deploy"
STOPPED_VMS_EXPUNGED = "stopped-vms-expunged"
HOST_LIST_TRUNCATED = "host-list-truncated"
TAGS_LOST = "tags-lost"

# slow-deploy: a deploy job takes SLOW_DEPLOY_FACTOR times as long, but never more than this much longer,
# so a test of the regression (and a gate run against it) stays bounded.
SLOW_DEPLOY_FACTOR = 5.0
SLOW_DEPLOY_MAX_EXTRA_SECONDS = 30.0


class UpgradeError(Exception):
    """One line for the operator: the upgrade was refused and nothing was changed."""


Migration = Callable[[Database, float], str]


def _expunge_stopped_vms(db: Database, now: float) -> str:
    """What expunge_vm does, to every VM Stopped at upgrade time (their guests are already gone)."""
    rows = db.all("SELECT id, name FROM vms WHERE removed IS NULL AND state='Stopped' ORDER BY seq")
    for r in rows:
        db.run("UPDATE vms SET state='Expunging', host_id=NULL, removed=?, updated=? WHERE id=?", (now, now, r["id"]))
        db.run("DELETE FROM tags WHERE resource_id=? AND resource_type='UserVm'", (r["id"],))
        db.run("DELETE FROM vm_affinity WHERE vm_id=?", (r["id"],))
    names = ", ".join(r["name"] for r in rows)
    return f"expunged {len(rows)} stopped VM(s){': ' + names if names else ''}"


def _drop_tags(db: Database, _now: float) -> str:
    return f"dropped {db.run('DELETE FROM tags')} resource tag(s)"


@dataclass(frozen=True)
class Regression:
    name: str
    summary: str  # what an operator sees, for `cloudgate lab upgrade --list`
    migration: Migration | None = None  # the one-time effect on the data, if any


REGRESSIONS: dict[str, Regression] = {r.name: r for r in [
    Regression(ANTI_AFFINITY_IGNORED,
               "the allocator ignores host anti-affinity groups: members of one group deployed without hostid "
               "may share a host (FirstFit packs two small VMs onto the same first host)"),
    Regression(SLOW_DEPLOY,
               f"deployVirtualMachine jobs take {SLOW_DEPLOY_FACTOR:g}x as long (the VM stays Starting), at most "
               f"{SLOW_DEPLOY_MAX_EXTRA_SECONDS:g} s longer"),
    Regression(STOPPED_VMS_EXPUNGED,
               "the upgrade expunges every VM Stopped at upgrade time: not listed any more, even with listall",
               _expunge_stopped_vms),
    Regression(HOST_LIST_TRUNCATED,
               "listHosts without id drops the last host of every cluster (count says what was returned); the "
               "hosts keep working and listHosts id=X still finds them"),
    Regression(TAGS_LOST,
               "the upgrade drops every resource tag: listTags is empty, and so are the VMs' tags",
               _drop_tags),
]}


@dataclass(frozen=True)
class Release:
    """What the management server runs: its version and the regressions that version shipped with."""

    version: str = CLOUDSTACK_VERSION
    regressions: tuple[str, ...] = ()
    upgraded_from: str | None = None

    def has(self, name: str) -> bool:
        return name in self.regressions

    def describe(self) -> str:
        origin = f" (upgraded from {self.upgraded_from})" if self.upgraded_from else ""
        return f"{self.version}{origin}, regressions: {', '.join(self.regressions) or 'none'}"


@dataclass(frozen=True)
class UpgradeReport:
    previous: Release
    release: Release
    effects: list[str] = field(default_factory=list)  # one line per migration applied

    def summary(self) -> str:
        with_what = f"with {', '.join(self.release.regressions)}" if self.release.regressions else "clean"
        line = f"CloudStack upgraded {self.previous.version} -> {self.release.version} ({with_what})"
        return line + (f"; migration {'; '.join(self.effects)}" if self.effects else "")


def parse_version(text: str) -> tuple[int, ...]:
    """The product's rule (cloudgate.cloudstack.version, shared with `gate before --upgrade-to`), as an UpgradeError."""
    try:
        return csversion.parse_version(text)
    except csversion.VersionError as exc:
        raise UpgradeError(str(exc)) from None


def check_regressions(names: Iterable[str]) -> tuple[str, ...]:
    """The names, deduplicated, in the catalogue's order (so a release reads the same however it was asked)."""
    wanted = set(names)
    unknown = sorted(wanted - set(REGRESSIONS))
    if unknown:
        raise UpgradeError(f"unknown regression {', '.join(unknown)}; known: {', '.join(REGRESSIONS)}")
    return tuple(name for name in REGRESSIONS if name in wanted)


def plan_upgrade(current: Release, version: str, regressions: Iterable[str] = ()) -> Release:
    """The release an upgrade of `current` leads to, or UpgradeError (nothing changed).

    A version older than the running one is refused: CloudStack does not downgrade (its database
    would be newer than its code). The same version is allowed: it changes the regressions only.
    """
    target = parse_version(version)
    names = check_regressions(regressions)
    if target < parse_version(current.version):
        raise UpgradeError(f"cannot downgrade CloudStack from {current.version} to {version}")
    return Release(version, names, current.version)


def read_release(db: Database) -> Release:
    rows = {r["key"]: r["value"] for r in db.all(
        "SELECT key, value FROM meta WHERE key IN ('version', 'regressions', 'upgraded_from')")}
    return _release_of(rows)


def _release_of(rows: dict[str, str]) -> Release:
    if "version" not in rows:
        return Release()
    return Release(rows["version"], tuple(json.loads(rows.get("regressions") or "[]")),
                   rows.get("upgraded_from") or None)


def current_release(state_dir: Path) -> Release | None:
    """The release recorded in a state dir, read without writing (the simulator may be running); None: no DB."""
    path = Path(state_dir) / DB_FILE
    if not path.exists():
        return None
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        rows = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('version', 'regressions', "
                                 "'upgraded_from')").fetchall())
    finally:
        conn.close()
    return _release_of(rows)


def apply_upgrade(state_dir: Path, version: str, regressions: Iterable[str] = (), *,
                  now: float | None = None) -> UpgradeReport:
    """Upgrade the simulator database in `state_dir` (its simulator must be stopped): one transaction.

    Records the new release and runs the migrations of its regressions; a simulator started on the
    state dir afterwards is the upgraded management server.
    """
    path = Path(state_dir) / DB_FILE
    if not path.exists():
        raise UpgradeError(f"no CloudStack simulator database at {path}: is the lab up?")
    now = time.time() if now is None else now
    db = Database(path)
    try:
        previous = read_release(db)
        release = plan_upgrade(previous, version, regressions)
        with db.tx():
            effects = [_migrate(db, name, now) for name in release.regressions if REGRESSIONS[name].migration]
            _record(db, release, now)
    finally:
        db.close()
    return UpgradeReport(previous, release, effects)


def _migrate(db: Database, name: str, now: float) -> str:
    migration = REGRESSIONS[name].migration
    assert migration is not None
    return f"{name}: {migration(db, now)}"


def _record(db: Database, release: Release, now: float) -> None:
    values = {"version": release.version, "regressions": json.dumps(list(release.regressions)),
              "upgraded_from": release.upgraded_from or "", "upgraded_at": str(now)}
    for key, value in values.items():
        db.run("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
               (key, value))


def describe_regressions() -> str:
    """`cloudgate lab upgrade --list`: each regression and what it does."""
    width = max(len(name) for name in REGRESSIONS)
    return "\n".join(f"  {r.name:<{width}}  {r.summary}" for r in REGRESSIONS.values())


def deploy_drag(elapsed: float) -> float:
    """slow-deploy: the extra seconds a deploy that took `elapsed` seconds waits (bounded)."""
    return min((SLOW_DEPLOY_FACTOR - 1) * max(elapsed, 0.0), SLOW_DEPLOY_MAX_EXTRA_SECONDS)
