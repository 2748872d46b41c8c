"""Does a plan still fit the estate? A plan made an hour ago meets a cloud that moved on.

Judged host by host with the same arithmetic as the engine (effective capacity minus what runs
there, plus the plan's own VMs on that host), the first problem is returned as one line naming
the host, so `deploy-plan` refuses before creating anything rather than half-applying a plan.
"""

from __future__ import annotations

from collections import defaultdict

from cloudgate.allocate.live import LiveEstate
from cloudgate.allocate.planfile import PlanDoc, PlannedVM
from cloudgate.placement.units import RESOURCE_LABELS, fmt_amount


def _host_problem(plan: PlanDoc, live: LiveEstate, host_id: str, vms: list[PlannedVM]) -> str | None:
    names = ", ".join(v.name for v in vms)
    label = vms[0].host_name
    record = live.snapshot.host_by_id().get(host_id)
    if record is None:
        return f"host {label} ({host_id}) is no longer listed by CloudStack"
    if not record.enabled:
        return f"host {label} is now {record.state}/{record.resourcestate}, no longer Up and Enabled"
    needs_flash = any(plan.group(v.group).flash_gib for v in vms)
    if needs_flash and host_id in live.unreadable:
        return f"host {label}: its flash cannot be read now, so it cannot be trusted with {names}"
    host = live.estate.host(host_id)
    groups = {v.group for v in vms}
    for vm in host.vms:
        if vm.group in groups:
            return f"host {label} now runs VM {vm.id} of group {vm.group}: {names} would share the host with it"
    cap = live.estate.effective_capacity(host)
    used = [sum(vm.size()[d] for vm in host.vms) for d in range(3)]
    need = [0, 0, 0]
    for v in vms:
        g = plan.group(v.group)
        for d, amount in enumerate((g.cpu_mhz, g.memory_mib, g.flash_gib)):
            need[d] += amount
    for d in range(3):
        free = cap[d] - used[d]
        if need[d] > free:
            unit = live.estate.cpu_unit
            return (f"host {label} no longer fits {names}: {fmt_amount(d, max(free, 0), unit)} of "
                    f"{RESOURCE_LABELS[d]} free now, the plan needs {fmt_amount(d, need[d], unit)}")
    return None


def why_plan_no_longer_fits(plan: PlanDoc, live: LiveEstate) -> str | None:
    """None when every planned VM still fits its host, else the first problem (one line)."""
    if plan.target != live.snapshot.target:
        return f"the plan was made for target {plan.target}, not {live.snapshot.target}"
    existing = {vm.name for vm in live.snapshot.vms if vm.state not in ("Destroyed", "Expunging")}
    clash = [v.name for v in plan.vms if v.name in existing]
    if clash:
        return f"VM {clash[0]} already exists (was this plan deployed already?)"
    by_host: dict[str, list[PlannedVM]] = defaultdict(list)
    for v in plan.vms:
        by_host[v.host_id].append(v)
    for host_id in sorted(by_host, key=lambda h: by_host[h][0].host_name):
        problem = _host_problem(plan, live, host_id, by_host[host_id])
        if problem:
            return problem
    return None
