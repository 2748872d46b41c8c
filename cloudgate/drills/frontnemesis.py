"""The front tier's faults for the drills, through the cloud's own protocols, each heal in the ledger first.

- a front VM lost silently: forced stop through CloudStack (in the lab, as on a Xen host losing power,
  the VM's link goes before it dies: no RST reaches haproxy, whose checks must time out);
- the haproxy node holding a datacenter's VIP lost the same way: keepalived on its peer must take
  the VIP over;
- PHP-FPM dead behind a live Apache: the service's own unit stopped over SSH (the target names it):
  Apache answers 503, and only a layer-7 check sees it.
The heal of a stopped VM is the `stopped_vm` undo every drill shares (cloudgate.undo): start the VM
on the host it ran on; of a stopped service, `service_stopped`: start it, then wait for its health page. Which VM is chosen is a pure function of the target and the estate snapshot, so runs compare.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from cloudgate.cloudstack.client import CloudStackError
from cloudgate.drills.nemesis import Fault, FaultContext, NemesisError, _submit
from cloudgate.estate import EstateSnapshot, VmRecord
from cloudgate.frontends.members import members, vm_with_address
from cloudgate.target import Target


@dataclass
class FrontVmStop(Fault):
    """Force-stop front VMs (web VMs or a haproxy node) through CloudStack, all at the same instant: silent."""

    vm: VmRecord | None = None
    more: tuple[VmRecord, ...] = ()  # the others stopped with it (a datacenter's fronts)
    injected_at: float | None = None

    def inject(self, ctx: FaultContext) -> None:
        vms = [v for v in (self.vm, *self.more) if v is not None]
        jobs = []
        for vm in vms:
            entry = self.intend(ctx, "stopped_vm", vm.name,
                                {"vm_id": vm.id, "host_id": vm.host_id, "address": vm.ips[0] if vm.ips else ""},
                                {"action": "startVirtualMachine", "id": vm.id, "hostid": vm.host_id})
            try:
                jobs.append((entry, vm, _submit(ctx, "stopVirtualMachine", id=vm.id, forced=True)))
            except CloudStackError as exc:
                ctx.ledger.settled(entry, str(exc))
                raise NemesisError(f"stopVirtualMachine {vm.name}: {exc}") from None
        self.injected_at = time.time()  # every stop under way: the moment the drill's clock counts from
        for entry, vm, jobid in jobs:
            try:
                ctx.client.wait_job(jobid, timeout=ctx.job_timeout)
            except CloudStackError as exc:
                ctx.ledger.settled(entry, str(exc))
                raise NemesisError(f"stopVirtualMachine {vm.name}: {exc}") from None
            ctx.ledger.created(entry, vm.id, jobid)


def front_vm_loss(target: Target, estate: EstateSnapshot, dc: str) -> FrontVmStop:
    """The first service's second VM of `dc` by name (the first stays: a datacenter of one is no test)."""
    section = target.frontends
    assert section is not None
    datacenter = next(d for d in target.datacenters if d.name == dc)
    running = [m for m in members(section.services[0], datacenter, estate.vms) if m.state == "Running"]
    if len(running) < 2:
        raise NemesisError(f"{section.services[0].name} in {dc} runs {len(running)} VM(s): losing one is an outage, "
                           "not a drill")
    victim = running[1]
    vm = next(v for v in estate.vms if v.name == victim.name)
    return FrontVmStop("front_vm_loss", f"force-stop front VM {vm.name} ({victim.ip}) of {dc}: silent",
                       vm=vm)


def vip_holder_loss(estate: EstateSnapshot, dc: str, holder: str) -> FrontVmStop:
    """The haproxy node holding `dc`'s VIP (read at drill time), force-stopped."""
    vm = vm_with_address(estate.vms, holder)
    if vm is None:
        raise NemesisError(f"the VIP holder {holder} of {dc} is no VM CloudStack lists: cannot stop it through the API")
    return FrontVmStop("vip_holder_loss", f"force-stop haproxy node {vm.name} ({holder}), holder of {dc}'s VIP",
                       vm=vm)


@dataclass
class FrontServiceStop(Fault):
    """Stop one service's unit on one front VM over SSH (`systemctl stop php8.2-fpm`): Apache stays up."""

    address: str = ""
    vm_name: str = ""
    unit: str = ""
    ready_url: str = ""
    timeout: float = 120.0
    injected_at: float | None = None

    def inject(self, ctx: FaultContext) -> None:
        from cloudgate.drills.nemesis import _ssh_runner

        entry = self.intend(ctx, "service_stopped", f"{self.unit} on {self.vm_name}",
                            {"address": self.address, "start_command": f"systemctl start {self.unit}",
                             "ready_url": self.ready_url, "timeout": self.timeout},
                            {"ssh": self.address, "command": f"systemctl start {self.unit}"})
        rc, err = _ssh_runner(ctx.target, self.timeout)(self.address, f"systemctl stop {self.unit}")
        self.injected_at = time.time()
        if rc != 0:
            ctx.ledger.settled(entry, err)
            raise NemesisError(f"`systemctl stop {self.unit}` on {self.vm_name} exited {rc}: {err.strip()[:200]}")
        ctx.ledger.created(entry, self.address)


def service_loss(target: Target, estate: EstateSnapshot, dc: str) -> tuple[FrontServiceStop, str] | None:
    """The first service with a unit (its second VM of `dc`): the fault, and the victim as `backend/server`;
    None when no service of the target names its unit."""
    section = target.frontends
    assert section is not None
    service = next((s for s in section.services if s.unit), None)
    if service is None:
        return None
    datacenter = next(d for d in target.datacenters if d.name == dc)
    running = [m for m in members(service, datacenter, estate.vms) if m.state == "Running" and m.ip]
    if len(running) < 2:
        raise NemesisError(f"{service.name} in {dc} runs {len(running)} VM(s): losing one is an outage, not a drill")
    victim = running[1]
    fault = FrontServiceStop(
        "front_service_loss", f"stop {service.unit} on {victim.name} ({victim.ip}), its Apache still answering",
        address=victim.ip, vm_name=victim.name, unit=str(service.unit),
        ready_url=f"http://{victim.ip}:{service.port}{service.health_path}")
    return fault, f"{service.backend}/{victim.name}"


def dc_fronts_loss(target: Target, estate: EstateSnapshot, dc: str) -> FrontVmStop:
    """Every running web VM of `dc` (every service's), force-stopped at once: the datacenter's haproxy
    must send its users to the other datacenter's servers (its `backup` servers)."""
    section = target.frontends
    assert section is not None
    datacenter = next(d for d in target.datacenters if d.name == dc)
    names = sorted({m.name for s in section.services for m in members(s, datacenter, estate.vms) if m.state == "Running"})
    vms = [v for v in estate.vms if v.name in names]
    if not vms:
        raise NemesisError(f"no running front VM of {dc} in the estate snapshot")
    return FrontVmStop("dc_fronts_loss", f"force-stop every front VM of {dc} ({', '.join(names)}) at once: silent",
                       dcs_down=(dc,), vm=vms[0], more=tuple(vms[1:]))
