"""Deploy probe: how long a VM takes from the API call to an answering SSH daemon, phase by phase.

The operators' promise is "a VM deploys in under 5 minutes", and the time that matters to them ends
when the guest answers SSH, not when CloudStack says Running. Each phase is timed separately so a
regression points at its cause: the API (accepted), the planner and hypervisor (job done, Running),
or the guest's boot (SSH answers).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cloudgate.cloud import CloudStackClient, CloudStackError, Tracker
from cloudgate.hosts import HostUnreachable, SshSettings, open_client
from cloudgate.target import Target


@dataclass
class DeployTiming:
    """Seconds from the deploy call to each phase's end (None: the phase never ended)."""

    name: str
    vm_id: str | None = None
    host: str | None = None
    ip: str | None = None
    accepted: float | None = None
    job_done: float | None = None
    running: float | None = None
    ssh_ready: float | None = None
    error: str | None = None

    @property
    def total(self) -> float | None:
        return self.ssh_ready

    def describe(self) -> str:
        def fmt(v: float | None) -> str:
            return "-" if v is None else f"{v:.1f}s"

        where = f" on {self.host}" if self.host else ""
        return (
            f"{self.name}{where}: accepted {fmt(self.accepted)}, job done {fmt(self.job_done)}, "
            f"running {fmt(self.running)}, ssh {fmt(self.ssh_ready)}" + (f" — {self.error}" if self.error else "")
        )


@dataclass
class DeployPlan:
    zone_id: str
    offering_id: str
    template_id: str
    names: list[str] = field(default_factory=list)


def resolve_plan(client: CloudStackClient, target: Target, run_tag: str, count: int) -> DeployPlan:
    """Find the zone, offering and template named in the target (one clear line if one is missing)."""
    deploy = target.deploy
    zone_name = deploy.zone or target.datacenters[0].zone
    zones = [z for z in client.list("listZones") if z.get("name") == zone_name]
    offerings = [o for o in client.list("listServiceOfferings") if o.get("name") == deploy.service_offering]
    templates = [
        t for t in client.list("listTemplates", templatefilter="executable")
        if t.get("name") == deploy.template and t.get("isready", True)
    ]
    missing = [
        what for what, found in (
            (f"zone {zone_name!r}", zones),
            (f"service offering {deploy.service_offering!r}", offerings),
            (f"ready template {deploy.template!r}", templates),
        ) if not found
    ]
    if missing:
        raise CloudStackError(f"{target.name}: cannot deploy: no {', no '.join(missing)} (see the target's deploy section)")
    names = [f"{deploy.name_prefix}-{vm_name_tag(run_tag)}-{i}" for i in range(count)]
    return DeployPlan(zones[0]["id"], offerings[0]["id"], templates[0]["id"], names)


def vm_name_tag(run_tag: str) -> str:
    """'20261126T180348Z-lab-nightly-27908' -> '20261126t180348-27908': when and which run, DNS-safe."""
    parts = run_tag.lower().split("-")
    when = re.sub(r"[^0-9t]", "", parts[0])[:15] or "run"
    pid = parts[-1] if len(parts) > 1 and parts[-1].isdigit() else ""
    return f"{when}-{pid}" if pid else when


def wait_for_ssh(ip: str, settings: SshSettings, deadline: float) -> None:
    """Retry SSH (connect + auth + `true`) until it works or the deadline passes."""
    last = "never tried"
    while time.monotonic() < deadline:
        try:
            client = open_client(ip, settings, new_machine=True)
            try:
                _, stdout, _ = client.exec_command("true", timeout=settings.command_timeout)
                stdout.channel.recv_exit_status()
                return
            finally:
                client.close()
        except HostUnreachable as exc:
            last = str(exc)
        time.sleep(0.25)
    raise HostUnreachable(f"SSH to {ip} never answered before the deadline (last: {last})")


def deploy_one(
    tracker: Tracker, plan: DeployPlan, name: str, settings: SshSettings, budget: float,
    clock: Callable[[], float] = time.monotonic,
) -> DeployTiming:
    """Deploy one VM, registering its destruction before anything else can fail."""
    client = tracker.client
    timing = DeployTiming(name)
    t0 = clock()
    deadline = t0 + budget
    try:
        started = client.call(
            "deployVirtualMachine", zoneid=plan.zone_id, serviceofferingid=plan.offering_id,
            templateid=plan.template_id, name=name, displayname=name,
        )
        timing.accepted = clock() - t0
        vm_id = started.get("id")
        timing.vm_id = vm_id
        if vm_id:
            tracker.add(f"VM {name} ({vm_id})", lambda: client.call("destroyVirtualMachine", id=vm_id, expunge=True, fetch_result=True))
        result = client.wait_job(started["jobid"], timeout=budget)
        timing.job_done = clock() - t0
        vm = result.get("virtualmachine", {})
        vm_id = vm_id or vm.get("id")
        while vm.get("state") != "Running":
            if clock() > deadline:
                raise CloudStackError(f"VM {name} still {vm.get('state')} after {budget:g} s")
            time.sleep(0.2)
            listed = client.list("listVirtualMachines", id=vm_id)
            vm = listed[0] if listed else {}
        timing.running = clock() - t0
        timing.host = vm.get("hostname")
        nics = vm.get("nic") or []
        timing.ip = nics[0].get("ipaddress") if nics else None
        if not timing.ip:
            raise CloudStackError(f"VM {name} is Running but has no NIC address")
        wait_for_ssh(timing.ip, settings, deadline)
        timing.ssh_ready = clock() - t0
    except (CloudStackError, HostUnreachable) as exc:
        timing.error = str(exc)
    return timing


def deploy_concurrently(
    tracker: Tracker, plan: DeployPlan, settings: SshSettings, budget: float
) -> list[DeployTiming]:
    with ThreadPoolExecutor(max_workers=len(plan.names)) as pool:
        futures = [pool.submit(deploy_one, tracker, plan, name, settings, budget) for name in plan.names]
        return [f.result() for f in futures]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]
