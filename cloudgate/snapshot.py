"""Taking the estate snapshot: live through `cs` and cassandra-driver, else the last good one.

listZones, listPods, listClusters, listHosts and listVirtualMachines are each called once per run,
here, and nowhere else in the checks' path. When the CloudStack API does not answer (the
management server stopped, as in the operators' own incident), the CloudStack part comes from the
target's last good snapshot (reports/estate/<target>.json) and says so with its age; the same for
the Cassandra part when no contact point answers. A snapshot in which every part was read live
becomes the new last good one.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path
from typing import Any

from cloudgate.cassandra.session import CassandraError, replication_of, session, token_ranges
from cloudgate.cloudstack.client import CloudStackClient, CloudStackError
from cloudgate.estate import (
    CassandraNode,
    CassandraPart,
    Cluster,
    EstateSnapshot,
    HostRecord,
    Pod,
    Ring,
    Source,
    VmRecord,
    Zone,
)
from cloudgate.report.rundir import iso, utc_now
from cloudgate.target import LoadedTarget, RackRule, RackSource, Target, TargetError

MIB = 1024 * 1024
LAST_GOOD_DIR = "estate"


# --------------------------------------------------------------------------- CloudStack records
def rack_of(record: dict[str, Any], rule: RackRule) -> str:
    """A host's rack, by the target's rule: its pod, a 'rack:<x>' host tag, or its name."""
    if rule.source is RackSource.pod:
        return str(record.get("podname") or record.get("podid") or "?")
    if rule.source is RackSource.host_tag:
        for tag in str(record.get("hosttags") or "").split(","):
            tag = tag.strip()
            if tag.startswith(rule.tag_prefix):
                return tag[len(rule.tag_prefix):]
        return "?"
    match = re.search(rule.pattern or "", str(record.get("name", "")))
    return match.group("rack") if match else "?"


def host_record(record: dict[str, Any], target: Target, datacenter: str) -> HostRecord:
    return HostRecord(
        id=str(record.get("id")),
        name=str(record.get("name")),
        ip=str(record.get("ipaddress")),
        zone=str(record.get("zonename", "")),
        datacenter=datacenter,
        pod=str(record.get("podname", "")),
        rack=rack_of(record, target.racks),
        cluster=str(record.get("clustername", "")),
        state=str(record.get("state", "")),
        resourcestate=str(record.get("resourcestate", "")),
        tags=tuple(t.strip() for t in str(record.get("hosttags") or "").split(",") if t.strip()),
        cpu_mhz=int(record.get("cpunumber", 0)) * int(record.get("cpuspeed", 0)),
        memory_mib=int(record.get("memorytotal", 0)) // MIB,
        cpu_allocatable_mhz=_int(record.get("cpuwithoverprovisioning")),
        memory_allocatable_mib=_int(record.get("memorywithoverprovisioning")) // MIB,
    )


def _int(value: Any) -> int:
    """A number CloudStack may send as a string ("64000.0"), or 0 when absent or not a number."""
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def vm_record(vm: dict[str, Any]) -> VmRecord:
    groups = tuple(
        str(g.get("name")) for g in vm.get("affinitygroup") or []
        if g.get("type", "host anti-affinity") == "host anti-affinity"
    )
    return VmRecord(
        id=str(vm.get("id")), name=str(vm.get("name")), state=str(vm.get("state")),
        zone=str(vm.get("zonename", "")), host_id=vm.get("hostid"), host_name=vm.get("hostname"),
        ips=tuple(str(n["ipaddress"]) for n in vm.get("nic") or [] if n.get("ipaddress")),
        affinity_groups=groups,
        tags=tuple(f"{t.get('key')}={t.get('value')}" for t in vm.get("tags") or [] if t.get("key")),
        cpu_mhz=int(vm.get("cpunumber", 0)) * int(vm.get("cpuspeed", 0)),
        memory_mib=int(vm.get("memory", 0)), offering=str(vm.get("serviceofferingname") or ""),
        created=vm.get("created"),
    )


def read_cloudstack(client: CloudStackClient, target: Target) -> dict[str, tuple]:
    """The CloudStack part of the snapshot, one call per list command."""
    dc_of_zone = {dc.zone: dc.name for dc in target.datacenters}
    zones = tuple(
        Zone(id=str(z["id"]), name=str(z["name"]), datacenter=dc_of_zone[z["name"]],
             allocationstate=str(z.get("allocationstate", "")))
        for z in client.list("listZones") if z.get("name") in dc_of_zone
    )
    zone_ids = {z.id for z in zones}
    pods = tuple(
        Pod(id=str(p["id"]), name=str(p.get("name")), zone=str(p.get("zonename", "")),
            allocationstate=str(p.get("allocationstate", "")))
        for p in client.list("listPods") if p.get("zoneid") in zone_ids
    )
    clusters = tuple(
        Cluster(id=str(c["id"]), name=str(c.get("name")), zone=str(c.get("zonename", "")),
                pod=str(c.get("podname", "")), allocationstate=str(c.get("allocationstate", "")))
        for c in client.list("listClusters") if c.get("zoneid") in zone_ids
    )
    hosts = tuple(sorted(
        (host_record(r, target, dc_of_zone[r["zonename"]])
         for r in client.list("listHosts", type="Routing") if r.get("zonename") in dc_of_zone),
        key=lambda h: h.name,
    ))
    vms = tuple(sorted((vm_record(v) for v in client.list("listVirtualMachines", listall=True)), key=lambda v: v.name))
    version = client.call("listCapabilities").get("capability", {}).get("cloudstackversion")
    return {"zones": zones, "pods": pods, "clusters": clusters, "hosts": hosts, "vms": vms,
            "cloudstack_version": str(version) if version else None}


# --------------------------------------------------------------------------- Cassandra records
def read_cassandra(target: Target) -> tuple[list[tuple[str, str, str]], Ring | None, str | None]:
    """(address, dc, rack) of every node the driver knows, the probe keyspace's ring, or why no ring."""
    cfg = target.cassandra
    assert cfg is not None
    with session(target) as (cluster, _):
        nodes = sorted((h.address, h.datacenter, h.rack) for h in cluster.metadata.all_hosts())
        try:
            replication = replication_of(cluster, target)
            ring = Ring(keyspace=cfg.probe_keyspace, replication=replication,
                        ranges=tuple(token_ranges(cluster, replication)))
            return nodes, ring, None
        except CassandraError as exc:
            return nodes, None, str(exc)


def map_nodes(nodes: list[tuple[str, str, str]], hosts: tuple[HostRecord, ...], vms: tuple[VmRecord, ...]) -> tuple[CassandraNode, ...]:
    """Node address → VM (by NIC address) → physical host → rack and DC."""
    by_id = {h.id: h for h in hosts}
    by_ip = {ip: vm for vm in vms for ip in vm.ips}
    mapped = []
    for address, dc, rack in nodes:
        vm = by_ip.get(address)
        host = by_id.get(vm.host_id) if vm and vm.host_id else None
        mapped.append(CassandraNode(
            address=address, datacenter=dc, rack=rack, vm=vm.name if vm else None, vm_id=vm.id if vm else None,
            host=host.name if host else (vm.host_name if vm else None), host_id=vm.host_id if vm else None,
            host_rack=host.rack if host else None, host_dc=host.datacenter if host else None,
        ))
    return tuple(sorted(mapped, key=lambda n: (n.datacenter, n.address)))


# --------------------------------------------------------------------------- last good snapshot
def last_good_path(reports_root: Path, target_name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", target_name) or "target"
    return reports_root / LAST_GOOD_DIR / f"{safe}.json"


def load_last_good(path: Path | None, problems: list[str] | None = None) -> EstateSnapshot | None:
    """The last good snapshot, or None when there is none or it cannot be read (never an error).

    One that cannot be read is moved aside (`<name>.corrupt-<time>`, kept for whoever wants to look)
    and said in `problems`: "no earlier snapshot" would send the operator looking for a file that is
    there, and the next complete live read writes a good one again."""
    if path is None or not path.exists():
        return None
    try:
        return EstateSnapshot.model_validate_json(path.read_text())
    except (OSError, ValueError) as exc:
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        with contextlib.suppress(OSError):
            os.replace(path, aside)
        if problems is not None:
            detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            problems.append(f"the last good snapshot {path} is unreadable ({detail}), moved aside to {aside.name}")
        return None


def save_snapshot(snapshot: EstateSnapshot, path: Path) -> None:
    """Written atomically: a reader never sees half a snapshot."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(snapshot.model_dump_json(indent=1))
    os.replace(tmp, path)


# --------------------------------------------------------------------------- the snapshot
def take_snapshot(loaded: LoadedTarget, last_good: Path | None) -> EstateSnapshot:
    """Read the estate live; each part that cannot be read comes from the last good snapshot."""
    target = loaded.target
    started = time.monotonic()
    now = iso(utc_now())
    unreadable: list[str] = []
    previous = load_last_good(last_good, unreadable)
    if previous is not None and previous.target != target.name:
        previous = None  # another target's file under this name: no evidence about this one
    try:
        parts = read_cloudstack(CloudStackClient.for_target(loaded), target)
        cs_source = Source(live=True, taken_at=now)
    except (CloudStackError, TargetError) as exc:
        problem = str(exc)
        if previous is not None:
            parts = {k: getattr(previous, k) for k in ("zones", "pods", "clusters", "hosts", "vms", "cloudstack_version")}
            cs_source = Source(live=False, taken_at=previous.cloudstack.taken_at,
                               snapshot_file=str(last_good), problem=problem)
        else:
            parts = {}
            earlier = unreadable[0] if unreadable else (f"no earlier snapshot of {target.name} "
                                                        f"in {last_good or 'the reports directory'}")
            cs_source = Source(live=False, taken_at=now, problem=f"{problem}, and {earlier}")
    cassandra = None
    if target.cassandra is not None:
        cassandra = _cassandra_part(target, parts, previous, last_good, now)
    snapshot = EstateSnapshot(
        target=target.name, taken_at=now, cloudstack=cs_source, cassandra=cassandra,
        read_seconds=round(time.monotonic() - started, 3), **parts,
    )
    if last_good is not None and snapshot.complete_and_live:
        with contextlib.suppress(OSError):  # a read-only reports dir costs the fallback, not the run
            save_snapshot(snapshot, last_good)
    return snapshot


def _cassandra_part(target: Target, parts: dict[str, tuple], previous: EstateSnapshot | None,
                    last_good: Path | None, now: str) -> CassandraPart:
    hosts, vms = parts.get("hosts", ()), parts.get("vms", ())
    try:
        nodes, ring, ring_problem = read_cassandra(target)
        return CassandraPart(source=Source(live=True, taken_at=now), nodes=map_nodes(nodes, hosts, vms),
                             ring=ring, ring_problem=ring_problem)
    except (CassandraError, TargetError) as exc:
        problem = f"Cassandra node discovery failed: {exc}"
    old = previous.cassandra if previous is not None else None
    if old is None or not old.nodes:
        return CassandraPart(source=Source(live=False, taken_at=now, problem=problem), ring_problem=problem)
    # the nodes' addresses let their settings be checked over SSH; an old ring would pass the
    # dispersion checks on data nobody can read now, so those fail naming the cause instead
    nodes = [(n.address, n.datacenter, n.rack) for n in old.nodes]
    return CassandraPart(
        source=Source(live=False, taken_at=old.source.taken_at, snapshot_file=str(last_good), problem=problem),
        nodes=map_nodes(nodes, hosts, vms), ring=None, ring_problem=problem,
    )
