"""The front tier's faults for the drills, through the cloud's own protocols, each heal in the ledger first.

- a front VM lost silently: forced stop through CloudStack (in the lab, as on a Xen host losing power,
  the VM's link goes before it dies: no RST reaches haproxy, whose checks must time out);
- the haproxy node holding a datacenter's VIP lost the same way: keepalived on its peer must take
  the VIP over.
The heal is the `stopped_vm` undo every drill shares (cloudgate.undo): start the VM on the host it
ran on. Which VM is chosen is a pure function of the target and the estate snapshot, so runs compare.
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
    """Force-stop one front VM (a web VM or a haproxy node) through CloudStack: silent."""

    vm: VmRecord | None = None
    injected_at: float | None = None

    def inject(self, ctx: FaultContext) -> None:
        vm = self.vm
        assert vm is not None
        entry = self.intend(ctx, "stopped_vm", vm.name,
                            {"vm_id": vm.id, "host_id": vm.host_id, "address": vm.ips[0] if vm.ips else ""},
                            {"action": "startVirtualMachine", "id": vm.id, "hostid": vm.host_id})
        try:
            jobid = _submit(ctx, "stopVirtualMachine", id=vm.id, forced=True)
            self.injected_at = time.time()  # the stop is under way: the moment the drill's clock counts from
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
