"""Host choice the way CloudStack's FirstFitAllocator + HostAntiAffinityProcessor make it.

Deliberately *not* clever: hosts are tried in the order the configured `vm.allocation.algorithm` gives
(firstfit = database order, pods and clusters in order), and the first Up + Enabled host with room wins.
Anti-affinity only adds hosts to an avoid set; nothing spreads VMs on purpose. That is the behaviour
the suite's dispersion checks exist to catch, so the lab must reproduce it, not improve on it.
Callers hold the database lock (`db.tx()`) across plan + reservation, which is what CloudStack's
reservation check gives against parallel deploys.

The lab switch `lab.antiaffinity.race.seconds` (cloud fault `anti-affinity-race`) takes that guard
away for VMs of a host anti-affinity group, as the races of CloudStack #5527 / #9110 and Nova bug
1423648 did: the caller plans outside the lock on the view of that instant, waits the window, and
reserves without `member_reserved_on` (commands/vms.py `_racing_plan`, `start_vm`). Members of one group
planned within one window all see the same hosts, loads and members, so every deterministic order
(firstfit, userdispersing, firstfitleastconsumed) gives them the same host; a random order is seeded
by the group (`race_rng`) so that it does too. Why: the self-test must see the collision every time,
where a real random allocator collides only by chance.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from .capacity import HostLoad, host_loads
from .db import Database

ANTI_AFFINITY = "host anti-affinity"


@dataclass(frozen=True)
class Demand:
    """What one VM asks of a host: its service offering, and whose it is (for userdispersing)."""

    cores: int
    mhz: int
    memory_mib: int
    account: str


def demand_of(db: Database, vm: sqlite3.Row) -> Demand:
    o = db.one("SELECT * FROM offerings WHERE id=?", (vm["offering_id"],))
    assert o is not None
    return Demand(o["cpunumber"], o["cpuspeed"], o["memory"], vm["account"])


def anti_affinity_avoid(db: Database, vm_id: str, now: float, release_seconds: float) -> set[str]:
    """HostAntiAffinityProcessor.process(): hosts holding another member of the VM's groups.

    A member without a host (Starting or Stopped) still blocks its last host while it was updated less
    than `capacity.skipcounting.hours` seconds ago.
    """
    rows = db.all(
        "SELECT DISTINCT v.id, v.host_id, v.migrate_host_id, v.last_host_id, v.state, v.updated "
        "FROM vm_affinity mine JOIN affinity_groups g ON g.id = mine.group_id "
        "JOIN vm_affinity other ON other.group_id = mine.group_id JOIN vms v ON v.id = other.vm_id "
        "WHERE mine.vm_id = ? AND other.vm_id != ? AND g.type = ? AND g.removed IS NULL AND v.removed IS NULL",
        (vm_id, vm_id, ANTI_AFFINITY),
    )
    avoid: set[str] = set()
    for r in rows:
        if r["host_id"]:
            avoid.add(r["host_id"])
            if r["migrate_host_id"]:
                avoid.add(r["migrate_host_id"])
        elif r["state"] in ("Starting", "Stopped") and r["last_host_id"] and now - (r["updated"] or 0) < release_seconds:
            avoid.add(r["last_host_id"])
    return avoid


def has_anti_affinity(db: Database, vm_id: str) -> bool:
    return bool(db.scalar(
        "SELECT COUNT(*) FROM vm_affinity a JOIN affinity_groups g ON g.id=a.group_id "
        "WHERE a.vm_id=? AND g.type=? AND g.removed IS NULL", (vm_id, ANTI_AFFINITY)))


def member_reserved_on(db: Database, vm_id: str, host_id: str) -> bool:
    """HostAntiAffinityProcessor.check(): another member already holds (or reserves) this host."""
    return bool(db.scalar(
        "SELECT COUNT(*) FROM vm_affinity mine JOIN affinity_groups g ON g.id = mine.group_id "
        "JOIN vm_affinity other ON other.group_id = mine.group_id JOIN vms v ON v.id = other.vm_id "
        "WHERE mine.vm_id = ? AND other.vm_id != ? AND g.type = ? AND g.removed IS NULL AND v.removed IS NULL "
        "AND (v.host_id = ? OR v.migrate_host_id = ?)",
        (vm_id, vm_id, ANTI_AFFINITY, host_id, host_id)))


def anti_affinity_group_ids(db: Database, vm_id: str) -> list[str]:
    """The VM's host anti-affinity groups (ids, sorted)."""
    return sorted(r["id"] for r in db.all(
        "SELECT g.id FROM vm_affinity a JOIN affinity_groups g ON g.id=a.group_id "
        "WHERE a.vm_id=? AND g.type=? AND g.removed IS NULL", (vm_id, ANTI_AFFINITY)))


def race_rng(group_ids: Iterable[str]) -> random.Random:
    """The host order a racing planner of these groups draws: the same for every member of them.

    Under the race each member plans on the same stale view; with one shared seed a `random`
    allocator picks the same host for all of them, so the collision the race allows always happens."""
    return random.Random(",".join(sorted(group_ids)))


def has_capacity(host: sqlite3.Row, load: HostLoad, demand: Demand) -> bool:
    """checkIfHostHasCpuCapabilityAndCapacity: per-core speed and core count, then free MHz and RAM."""
    if demand.mhz > host["cpu_mhz"] or demand.cores > host["cpu_cores"]:
        return False
    free_mhz = host["cpu_cores"] * host["cpu_mhz"] - load.cpu_mhz
    free_mib = host["memory_mib"] - load.memory_mib
    return demand.cores * demand.mhz <= free_mhz and demand.memory_mib <= free_mib


def usable(host: sqlite3.Row) -> bool:
    return host["state"] == "Up" and host["resourcestate"] == "Enabled"


def zone_hosts(db: Database, zone_id: str) -> list[sqlite3.Row]:
    """Routing hosts of enabled pods and clusters, pods then clusters then hosts in DB order."""
    return db.all(
        "SELECT h.* FROM hosts h JOIN pods p ON p.id = h.pod_id JOIN clusters c ON c.id = h.cluster_id "
        "WHERE h.zone_id = ? AND p.allocationstate = 'Enabled' AND c.allocationstate = 'Enabled' "
        "ORDER BY p.seq, c.seq, h.seq",
        (zone_id,),
    )


def order_hosts(hosts: list[sqlite3.Row], algorithm: str, loads: dict[str, HostLoad], account: str,
                rng: random.Random | None = None) -> list[sqlite3.Row]:
    ordered = list(hosts)
    if algorithm in ("random", "userconcentratedpod_random"):
        (rng or random).shuffle(ordered)
    elif algorithm == "userdispersing":
        ordered.sort(key=lambda h: loads.get(h["id"], HostLoad()).vms_by_account.get(account, 0))
    elif algorithm == "firstfitleastconsumed":
        ordered.sort(key=lambda h: -(h["memory_mib"] - loads.get(h["id"], HostLoad()).memory_mib))
    return ordered


def plan(
    db: Database,
    vm: sqlite3.Row,
    *,
    algorithm: str,
    now: float,
    release_seconds: float,
    requested_host_id: str | None = None,
    avoid: Iterable[str] = (),
    honour_anti_affinity: bool = True,
    rng: random.Random | None = None,
) -> str | None:
    """Return the id of the host the VM should run on, or None (InsufficientServerCapacityException).

    `honour_anti_affinity=False` is the upgrade regression `anti-affinity-ignored`: the processor is
    skipped, so hosts are chosen as if the VM's groups did not exist (the groups themselves remain).
    `rng` orders the hosts of a random algorithm (default: the module's generator).
    """
    demand = demand_of(db, vm)
    loads = host_loads(db)
    avoid_set = set(avoid)
    if honour_anti_affinity:
        avoid_set |= anti_affinity_avoid(db, vm["id"], now, release_seconds)
    if requested_host_id is not None:
        host = db.one("SELECT * FROM hosts WHERE id=?", (requested_host_id,))
        candidates = [host] if host is not None else []
    else:
        candidates = order_hosts(zone_hosts(db, vm["zone_id"]), algorithm, loads, demand.account, rng)
    for host in candidates:
        if host["id"] in avoid_set or not usable(host):
            continue
        if not has_capacity(host, loads.get(host["id"], HostLoad()), demand):
            continue
        if honour_anti_affinity and member_reserved_on(db, vm["id"], host["id"]):
            continue
        return host["id"]
    return None
