"""Deploy probe: how long a VM takes from the API call to an answering SSH daemon, phase by phase.

The operators' promise is "a VM deploys in under 5 minutes", and the time that matters to them ends
when the guest answers SSH, not when CloudStack says Running. Each phase is timed separately so a
regression points at its cause: the API (accepted), the planner and hypervisor (job done, Running),
or the guest's boot (SSH answers).

Every VM is written to the run ledger before its deploy call (cloudgate.ledger, through the
Tracker), and the workers stop between steps once the run is interrupted, so Ctrl-C or a crash at
any moment leaves nothing the teardown or `cloudgate janitor` cannot find.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from cloudgate.cloudstack.client import CloudStackClient, CloudStackError
from cloudgate.ssh.hosts import HostUnreachable, SshSettings, open_client
from cloudgate.target import Target
from cloudgate.tracker import Tracker
from cloudgate.undo import refusing_sigint


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
    """What to deploy: where, from what, under which names, with which extra deployVirtualMachine parameters.

    `params` go to every VM's deploy call (e.g. affinitygroupids: all the VMs join one group),
    `params_by_name` to one VM's (e.g. its hostid, from a placement plan); the latter win.
    """

    zone_id: str
    offering_id: str
    template_id: str
    names: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    params_by_name: dict[str, dict[str, str]] = field(default_factory=dict)

    def params_for(self, name: str) -> dict[str, str]:
        """The deployVirtualMachine parameters of VM `name`."""
        return {
            "zoneid": self.zone_id, "serviceofferingid": self.offering_id, "templateid": self.template_id,
            "name": name, "displayname": name, **self.params, **self.params_by_name.get(name, {}),
        }


def resolve_plan(client: CloudStackClient, target: Target, run_tag: str, count: int, label: str = "") -> DeployPlan:
    """Find the zone, offering and template named in the target (one clear line if one is missing).

    The VMs are named `<name_prefix>[-<label>]-<run>-<i>`: a label keeps two checks of one run apart."""
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
    stem = f"{deploy.name_prefix}-{label}" if label else deploy.name_prefix
    names = [f"{stem}-{vm_name_tag(run_tag)}-{i}" for i in range(count)]
    return DeployPlan(zones[0]["id"], offerings[0]["id"], templates[0]["id"], names)


def vm_name_tag(run_tag: str) -> str:
    """'20261126T180348Z-lab-nightly-27908' -> '20261126t180348-27908': when and which run, DNS-safe."""
    parts = run_tag.lower().split("-")
    when = re.sub(r"[^0-9t]", "", parts[0])[:15] or "run"
    pid = parts[-1] if len(parts) > 1 and parts[-1].isdigit() else ""
    return f"{when}-{pid}" if pid else when


class Interrupted(Exception):
    """The run was interrupted: a deploy worker stops before its next step."""


def wait_for_ssh(ip: str, settings: SshSettings, deadline: float, cancel: threading.Event | None = None) -> None:
    """Retry SSH (connect + auth + `true`) until it works, the deadline passes or the run is interrupted."""
    last = "never tried"
    while time.monotonic() < deadline:
        if cancel is not None and cancel.is_set():
            raise Interrupted(f"stopped waiting for SSH on {ip}: the run was interrupted")
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
    clock: Callable[[], float] = time.monotonic, *, wait_ssh: bool = True,
) -> DeployTiming:
    """Deploy one VM: its ledger entry is written before the deploy call, each step checks for an interrupt.

    The call carries plan.params_for(name) (the plan's extra parameters included). With
    wait_ssh=False it ends once the VM is Running on a host (ssh_ready stays None): for checks that
    judge where a VM landed, not how long it took to answer.
    """
    client, cancel = tracker.client, tracker.cancel
    timing = DeployTiming(name)
    if cancel.is_set():
        timing.error = "not deployed: the run was interrupted"
        return timing
    t0 = clock()
    deadline = t0 + budget
    params = plan.params_for(name)
    try:
        with tracker.creating(
            "vm", name, attrs={k: v for k, v in params.items() if k.endswith("id")},
            undo={"action": "destroyVirtualMachine", "expunge": True},
        ) as entry:
            started = client.call("deployVirtualMachine", **params)
            tracker.created(entry, started.get("id"), started.get("jobid"))
        timing.accepted = clock() - t0
        vm_id = started.get("id")
        timing.vm_id = vm_id
        result = client.wait_job(started["jobid"], timeout=budget, stop=cancel.is_set)
        timing.job_done = clock() - t0
        vm = result.get("virtualmachine", {})
        vm_id = vm_id or vm.get("id")
        while vm.get("state") != "Running":
            if cancel.is_set():
                raise Interrupted(f"VM {name}: the run was interrupted")
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
        if not wait_ssh:
            return timing
        wait_for_ssh(timing.ip, settings, deadline, cancel)
        timing.ssh_ready = clock() - t0
    except (CloudStackError, HostUnreachable, Interrupted) as exc:
        timing.error = str(exc)
    return timing


def in_flight_bound(tracker: Tracker, settings: SshSettings) -> float:
    """How long a deploy worker can take to notice an interrupt: one API call or one SSH attempt, plus a margin."""
    return max(tracker.client.timeout, settings.connect_timeout + settings.command_timeout) + 2.0


def deploy_concurrently(
    tracker: Tracker, plan: DeployPlan, settings: SshSettings, budget: float, *, wait_ssh: bool = True,
) -> list[DeployTiming]:
    """Deploy plan.names at once, one thread each (see deploy_one for wait_ssh)."""
    return deploy_all_at_once(tracker, [plan], settings, budget, wait_ssh=wait_ssh)


def deploy_all_at_once(
    tracker: Tracker, plans: list[DeployPlan], settings: SshSettings, budget: float, *, wait_ssh: bool = True,
) -> list[DeployTiming]:
    """Deploy every VM of several plans (zones, offerings) at once, one thread each; timings in plan order.

    On an interrupt (Ctrl-C reaches only this, the main thread) the workers are told to stop before
    their next step and the calls already in flight are waited for (bounded, Ctrl-C refused
    meanwhile), so the teardown that follows undoes every VM a deploy call created.
    """
    jobs = [(plan, name) for plan in plans for name in plan.names]
    pool = ThreadPoolExecutor(max_workers=max(1, len(jobs)), thread_name_prefix="cloudgate-deploy")
    futures: list[Future[DeployTiming]] = []
    try:
        for plan, name in jobs:
            futures.append(pool.submit(deploy_one, tracker, plan, name, settings, budget, wait_ssh=wait_ssh))
        return [f.result() for f in futures]
    except BaseException:
        tracker.cancel.set()
        with refusing_sigint(lambda: len(tracker.pending())):
            wait(futures, timeout=in_flight_bound(tracker, settings))
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def create_anti_affinity_group(tracker: Tracker, name: str, description: str) -> str:
    """createAffinityGroup (host anti-affinity), written to the ledger before the call; returns its id.

    Its undo (deleteAffinityGroup) runs after the undo of every VM deployed into it later: the
    tracker undoes newest first."""
    with tracker.creating("affinity_group", name, undo={"action": "deleteAffinityGroup"}) as entry:
        answer = tracker.client.call("createAffinityGroup", name=name, type="host anti-affinity",
                                     description=description, fetch_result=True)
        group = answer.get("affinitygroup", answer)
        tracker.created(entry, str(group.get("id")))
    return str(group["id"])


def sharing_hosts(timings: list[DeployTiming]) -> dict[str, list[str]]:
    """Hosts that received more than one of these VMs -> the VMs there (sorted): collisions of a group."""
    by_host: dict[str, list[str]] = {}
    for t in timings:
        if t.host:
            by_host.setdefault(t.host, []).append(t.name)
    return {host: sorted(vms) for host, vms in sorted(by_host.items()) if len(vms) > 1}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]
