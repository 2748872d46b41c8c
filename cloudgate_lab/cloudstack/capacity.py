"""What is allocated where: per-host load from the VMs placed on it, and listCapacity records.

Allocation is computed from the VM table on every read rather than kept as counters, so a restart or a
host-monitor eviction can never leave capacity figures that disagree with the VMs actually placed.
A VM being migrated counts on both hosts, as CloudStack reserves the destination during migration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .db import Database
from .envelope import percent

# Capacity.java type codes
CAPACITY_MEMORY = 0
CAPACITY_CPU = 1
CAPACITY_PRIVATE_IP = 5
CAPACITY_CPU_CORES = 90
_CAPACITY_NAMES = {CAPACITY_MEMORY: "MEMORY", CAPACITY_CPU: "CPU", CAPACITY_PRIVATE_IP: "PRIVATE_IP",
                   CAPACITY_CPU_CORES: "CPU_CORE"}
AUTO_IPS_PER_ZONE = 100  # .100-.199


@dataclass
class HostLoad:
    cpu_mhz: int = 0
    cores: int = 0
    memory_mib: int = 0
    vms: int = 0
    vms_by_account: dict[str, int] = field(default_factory=dict)


def host_loads(db: Database) -> dict[str, HostLoad]:
    rows = db.all(
        "SELECT v.host_id, v.migrate_host_id, v.account, o.cpunumber, o.cpuspeed, o.memory FROM vms v "
        "JOIN offerings o ON o.id = v.offering_id WHERE v.removed IS NULL "
        "AND (v.host_id IS NOT NULL OR v.migrate_host_id IS NOT NULL)"
    )
    loads: dict[str, HostLoad] = {}
    for r in rows:
        for host_id in {r["host_id"], r["migrate_host_id"]} - {None}:
            load = loads.setdefault(host_id, HostLoad())
            load.cpu_mhz += r["cpunumber"] * r["cpuspeed"]
            load.cores += r["cpunumber"]
            load.memory_mib += r["memory"]
            load.vms += 1
            load.vms_by_account[r["account"]] = load.vms_by_account.get(r["account"], 0) + 1
    return loads


def capacity_records(db: Database, zone: Any, pod: Any | None = None, cluster: Any | None = None,
                     wanted_type: int | None = None) -> list[dict[str, Any]]:
    """Zone-level records (or pod/cluster-level when asked), like listCapacity without fetchlatest."""
    where, args = ["zone_id=?"], [zone["id"]]
    if pod is not None:
        where.append("pod_id=?")
        args.append(pod["id"])
    if cluster is not None:
        where.append("cluster_id=?")
        args.append(cluster["id"])
    hosts = db.all(f"SELECT * FROM hosts WHERE {' AND '.join(where)}", args)
    loads = host_loads(db)
    totals = {CAPACITY_MEMORY: [0, 0], CAPACITY_CPU: [0, 0], CAPACITY_CPU_CORES: [0, 0]}
    for h in hosts:
        load = loads.get(h["id"], HostLoad())
        totals[CAPACITY_MEMORY][0] += load.memory_mib * 1024 * 1024
        totals[CAPACITY_MEMORY][1] += h["memory_mib"] * 1024 * 1024
        totals[CAPACITY_CPU][0] += load.cpu_mhz
        totals[CAPACITY_CPU][1] += h["cpu_cores"] * h["cpu_mhz"]
        totals[CAPACITY_CPU_CORES][0] += load.cores
        totals[CAPACITY_CPU_CORES][1] += h["cpu_cores"]
    if pod is None and cluster is None:
        ips = db.all("SELECT ip FROM vms WHERE removed IS NULL AND zone_id=? AND ip IS NOT NULL", (zone["id"],))
        used_ips = sum(1 for r in ips if 100 <= int(r["ip"].rsplit(".", 1)[1]) <= 199)
        totals[CAPACITY_PRIVATE_IP] = [used_ips, AUTO_IPS_PER_ZONE]
    out = []
    for ctype, (used, total) in totals.items():
        if wanted_type is not None and ctype != wanted_type:
            continue
        rec: dict[str, Any] = {
            "type": ctype,
            "name": _CAPACITY_NAMES[ctype],
            "zoneid": zone["id"],
            "zonename": zone["name"],
        }
        if pod is not None:
            rec.update(podid=pod["id"], podname=pod["name"])
        if cluster is not None:
            rec.update(clusterid=cluster["id"], clustername=cluster["name"])
        rec.update(capacityallocated=used, capacityused=used, capacitytotal=total,
                   percentused=percent(used, total).rstrip("%"))
        out.append(rec)
    return out
