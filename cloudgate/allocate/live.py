"""The live estate as the engine sees it, and a plan made on it.

CloudStack gives hosts, VMs, groups and capacities (CPU in MHz, with overprovisioning); the
hypervisors' `fio-status` gives the flash (cloudgate.allocate.flash). Hosts whose flash cannot be
read are avoided and named in the plan's notes, never guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cloudgate.allocate.flash import FlashReading, read_flash
from cloudgate.allocate.planfile import PlanDoc, PlannedGroup, PlannedVM
from cloudgate.allocate.request import LiveRequest, Offering, load_live_request, offering_of, to_request
from cloudgate.cloudstack.client import CloudStackClient
from cloudgate.estate import EstateSnapshot, HostRecord, Source
from cloudgate.placement import PlacementResult, Request, place
from cloudgate.placement.errors import PlacementInputError
from cloudgate.placement.model import Estate
from cloudgate.placement.plan import plan_rows
from cloudgate.snapshot import read_cloudstack
from cloudgate.ssh.hosts import SshSettings
from cloudgate.target import LoadedTarget


@dataclass
class LiveEstate:
    """The engine's estate of the target now, plus what the plan must say about how it was read."""

    snapshot: EstateSnapshot
    estate: Estate
    unreadable: list[str] = field(default_factory=list)  # host ids whose flash could not be read
    notes: list[str] = field(default_factory=list)

    def host(self, host_id: str) -> HostRecord:
        return self.snapshot.host_by_id()[host_id]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_live_estate(client: CloudStackClient, loaded: LoadedTarget,
                     flash: dict[str, FlashReading] | None = None) -> LiveEstate:
    """CloudStack now, plus each enabled hypervisor's flash (read over SSH unless given)."""
    target = loaded.target
    parts = read_cloudstack(client, target)
    now = _now()
    snapshot = EstateSnapshot(target=target.name, taken_at=now, cloudstack=Source(live=True, taken_at=now),
                              **{k: v for k, v in parts.items() if k != "cloudstack_version"},
                              cloudstack_version=parts.get("cloudstack_version"))
    section = target.placement
    if flash is None:
        flash = read_flash(snapshot.hosts, SshSettings.from_target(target), workers=section.ssh_workers,
                           reserve_gib=section.flash_reserve_gib)
    usable = {hid: r.usable_gib for hid, r in flash.items() if r.usable_gib is not None}
    estate = snapshot.placement_estate(flash_gib=usable, offering_flash_gib=section.offering_flash_gib)
    notes = [f"flash not read, host not used: {r.problem}" for r in flash.values() if r.usable_gib is None]
    notes += [f"no flash offered: {r.problem}" for r in flash.values() if r.usable_gib is not None and r.problem]
    unlisted = sorted({vm.offering for vm in snapshot.vms if vm.host_id and vm.offering
                       and vm.offering not in section.offering_flash_gib})
    if unlisted:
        count = sum(1 for vm in snapshot.vms if vm.host_id and vm.offering in unlisted)
        notes.append(f"{count} running VM(s) of offering(s) {', '.join(unlisted)} counted as using no flash "
                     "(list them in the target's placement.offering_flash_gib)")
    unreadable = sorted(hid for hid, r in flash.items() if r.usable_gib is None)
    return LiveEstate(snapshot, estate, unreadable, notes)


def offerings(client: CloudStackClient) -> dict[str, Offering]:
    return {o.name: o for o in (offering_of(r) for r in client.list("listServiceOfferings"))}


@dataclass
class LivePlan:
    result: PlacementResult
    request: Request
    live: LiveEstate
    doc: PlanDoc | None


def make_plan(client: CloudStackClient, loaded: LoadedTarget, request_path: str | Path,
              live: LiveEstate | None = None) -> LivePlan:
    """Read the estate, place the request on it; the plan document when a placement exists."""
    source = str(request_path)
    wanted: LiveRequest = load_live_request(request_path)
    target = loaded.target
    live = live or read_live_estate(client, loaded)
    known = {dc.name for dc in target.datacenters}
    for i, g in enumerate(wanted.groups):
        for dc in g.per_dc:
            if dc not in known:
                raise PlacementInputError(source, f"groups[{i}].per_dc.{dc}: the target has no datacenter {dc!r} "
                                                  f"(it has {', '.join(sorted(known))})")
    by_name = {h.name: h.id for h in live.snapshot.hosts}
    sizes = offerings(client)
    request = to_request(wanted, sizes, live.estate, by_name, source)
    request = request.model_copy(update={"avoid_hosts": sorted({*request.avoid_hosts, *live.unreadable})})
    result = place(live.estate, request)
    if not result.feasible:
        return LivePlan(result, request, live, None)
    zone_of = {dc.name: dc.zone for dc in target.datacenters}
    groups = [
        PlannedGroup(group=g.group, offering=g.offering, offering_id=sizes[g.offering].id,
                     template=g.template or target.deploy.template, flash_gib=g.flash_gib,
                     cpu_mhz=sizes[g.offering].cpu_mhz, memory_mib=sizes[g.offering].memory_mib)
        for g in wanted.groups
    ]
    vms = [
        PlannedVM(name=row["vm"], group=row["group"], datacenter=row["datacenter"], zone=zone_of[row["datacenter"]],
                  host_id=row["host_id"], host_name=live.host(row["host_id"]).name, rack=row["rack"], why=row["why"])
        for row in plan_rows(result, live.estate)
    ]
    doc = PlanDoc(target=target.name, made_at=live.snapshot.taken_at, method=result.method, groups=groups, vms=vms,
                  spread=[n.message for n in result.spread], notes=live.notes)
    return LivePlan(result, request, live, doc)


def plan_table(doc: PlanDoc) -> str:
    """What the operator reads: per VM host, rack and why, then the plan's notes."""
    header = ("VM", "GROUP", "HOST", "DC", "RACK")
    rows = [header] + [(v.name, v.group, v.host_name, v.datacenter, v.rack) for v in doc.vms]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"{len(doc.vms)} VM(s) on {len({v.host_id for v in doc.vms})} host(s); method: {doc.method}")
    lines += [f"UNEVEN SPREAD: {s}" for s in doc.spread]
    lines += ["", "why:"] + [f"  {v.name} on {v.host_name}: {v.why}" for v in doc.vms]
    lines += [f"note: {n}" for n in doc.notes]
    return "\n".join(lines)
