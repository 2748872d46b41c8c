"""The lab's own scale-out and scale-in of a front service: what the operators' orchestrator does.

The suite never guesses how a front tier grows: it runs the commands the target file gives
(`frontends.scale`), and these are the lab's. Their steps are the seed's "elastic front ends based
on haproxy", in the order an orchestrator must follow so no client sees an error:

scale-out: the plan gains the VM (its boot renders its daemons from it) → deploy it through the
  CloudStack API in the service's host anti-affinity group → wait until it answers PHP and C++
  directly → on every haproxy node of its datacenter, `add server` (created in maintenance) with
  the backend's own check settings, `enable health`, `enable server`, and the same server written
  into haproxy.cfg (a runtime-only server would vanish at the next reload) → wait until each node
  sees it UP. Prints the new VM's name.
scale-in: on every haproxy node, `set server … state drain` (no new requests, the current ones
  finish) → wait until no session is left → `state maint`, `del server` → haproxy.cfg rendered
  without it → destroy the VM through the API. Prints the removed VM's name.
In the lab a web VM serves every service (www in PHP, api in C++): scaling one scales both.
"""

from __future__ import annotations

import time
from typing import Any

from cloudgate.frontends.haproxystat import RuntimeAnswerError, StatRow, parse_show_stat
from cloudgate_lab import frontboot, guests, hosts, paths
from cloudgate_lab.front.deploy import (
    OFFERING,
    TEMPLATES,
    WEB_FIRST,
    WEB_LAST,
    answers,
    wait_job,
    web_group,
    web_ip,
    write_plan,
)
from cloudgate_lab.frontconf import SERVICES, WEB_TEMPLATE, FrontDc, FrontPlan, FrontVm
from cloudgate_lab.net import LabError
from cloudgate_lab.topology import LabTopology

ADMIN = "socat -t 5 - UNIX-CONNECT:/run/haproxy/admin.sock"
STEP_TIMEOUT = 60.0


class ScaleError(Exception):
    """One line for the operator."""


def _dc(plan: FrontPlan, name: str) -> FrontDc:
    for dc in plan.dcs:
        if dc.name == name:
            return dc
    raise ScaleError(f"no front datacenter {name!r} (the lab has {', '.join(d.name for d in plan.dcs)})")


def _service(name: str) -> None:
    if name not in {backend for backend, _ in SERVICES}:
        raise ScaleError(f"no front service {name!r} in the lab ({', '.join(b for b, _ in SERVICES)})")


def _runtime(lb: str, command: str) -> str:
    node = guests.guest_node_by_name(lb)
    if node is None:
        raise ScaleError(f"haproxy node {lb} is not running")
    try:
        done = hosts.node_exec(node, ["bash", "-c", f"echo {command!r} | {ADMIN}"], what=f"haproxy: {command}",
                               timeout=15)
    except LabError as exc:
        raise ScaleError(str(exc)) from None
    return done.stdout.strip()


def _stat_rows(lb: str) -> list[StatRow]:
    try:
        return parse_show_stat(_runtime(lb, "show stat"))
    except RuntimeAnswerError:
        return []


def _wait(what: str, ready: Any, timeout: float = STEP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise ScaleError(f"{what}: not done after {timeout:g} s")
        time.sleep(0.25)


def _replace_dc(plan: FrontPlan, new: FrontDc) -> None:
    plan.dcs = [new if d.name == new.name else d for d in plan.dcs]


def _render_lbs(plan: FrontPlan, dc: FrontDc) -> None:
    """haproxy.cfg of each haproxy node rendered again (no reload: the runtime already holds the change)."""
    for lb in dc.lbs:
        node = guests.guest_node_by_name(lb.name)
        if node is not None:
            frontboot.render_guest(plan, lb.name, node.dir)


def scale_out(lab_client: Any, service: str, dc_name: str, forget_enable: bool = False) -> str:
    """forget_enable=True is the careless orchestrator the elasticity check must catch: haproxy 2.6 creates
    a server added at runtime in maintenance, and without `enable server` it never gets a request."""
    _service(service)
    plan = frontboot.read_plan()
    if plan is None:
        raise ScaleError("the lab has no front tier")
    dc = _dc(plan, dc_name)
    taken = {v.name for v in dc.webs}
    number = next((n for n in range(1, WEB_LAST - WEB_FIRST + 2) if f"web-{dc.name}-{n}" not in taken), None)
    if number is None:
        raise ScaleError(f"{dc.name} already runs {len(dc.webs)} web VMs, the most the lab's addressing holds")
    vm = FrontVm(f"web-{dc.name}-{number}", web_ip(dc.index, number))
    grown = FrontDc(dc.name, dc.index, dc.vip, dc.lbs, (*dc.webs, vm))
    _replace_dc(plan, grown)
    write_plan(plan)
    topology = LabTopology.load(paths.topology_file())
    zone_name = next(d.zone for d in topology.datacenters if d.name == dc.name)
    zone = next(z for z in lab_client.listZones(fetch_list=True) if z.get("name") == zone_name)
    offering = lab_client.listServiceOfferings(name=OFFERING, fetch_list=True)[0]
    template = next(t for t in lab_client.listTemplates(templatefilter="executable", name=TEMPLATES[WEB_TEMPLATE],
                                                        fetch_list=True) if t["zoneid"] == zone["id"])
    try:
        started = lab_client.deployVirtualMachine(
            zoneid=zone["id"], serviceofferingid=offering["id"], templateid=template["id"], name=vm.name,
            displayname=vm.name, ipaddress=vm.ip, affinitygroupnames=web_group(dc.name))
        wait_job(lab_client, started["jobid"])
    except Exception as exc:  # noqa: BLE001 - the plan is put back whatever failed, then one line
        _replace_dc(plan, dc)
        write_plan(plan)
        raise ScaleError(f"deploying {vm.name}: {exc}") from None
    _wait(f"{vm.name} answering PHP and C++",
          lambda: answers(f"http://{vm.ip}/health.php", "ok php") and answers(f"http://{vm.ip}/api/health", "ok cpp"))
    h = plan.health
    for lb in dc.lbs:
        for backend, _ in SERVICES:
            _runtime(lb.name, f"add server {backend}/{vm.name} {vm.ip}:80 check inter {h.inter_ms}ms "
                              f"fastinter {h.fastinter_ms}ms downinter {h.downinter_ms}ms rise {h.rise} "
                              f"fall {h.fall} weight 100")
            _runtime(lb.name, f"enable health {backend}/{vm.name}")
            if not forget_enable:
                _runtime(lb.name, f"enable server {backend}/{vm.name}")
    _render_lbs(plan, grown)
    if forget_enable:
        return vm.name
    for lb in dc.lbs:
        _wait(f"{vm.name} UP on {lb.name}", lambda lb=lb: sum(
            1 for r in _stat_rows(lb.name) if r.svname == vm.name and r.status == "UP") == len(SERVICES))
    return vm.name


def scale_in(lab_client: Any, service: str, dc_name: str, vm_name: str) -> str:
    """Drain, remove and destroy `vm_name`."""
    _service(service)
    plan = frontboot.read_plan()
    if plan is None:
        raise ScaleError("the lab has no front tier")
    dc = _dc(plan, dc_name)
    if vm_name not in {v.name for v in dc.webs}:
        raise ScaleError(f"{vm_name} is not a web VM of {dc.name} ({', '.join(v.name for v in dc.webs)})")
    if len(dc.webs) <= 1:
        raise ScaleError(f"{vm_name} is {dc.name}'s last web VM: scaling in would leave no server")
    for lb in dc.lbs:
        for backend, _ in SERVICES:
            _runtime(lb.name, f"set server {backend}/{vm_name} state drain")
    for lb in dc.lbs:
        _wait(f"{vm_name} drained on {lb.name}", lambda lb=lb: all(
            not r.scur for r in _stat_rows(lb.name) if r.svname == vm_name))
    for lb in dc.lbs:
        for backend, _ in SERVICES:
            _runtime(lb.name, f"set server {backend}/{vm_name} state maint")
            answer = _runtime(lb.name, f"del server {backend}/{vm_name}")
            if "deleted" not in answer.lower():
                raise ScaleError(f"del server {backend}/{vm_name} on {lb.name}: {answer.splitlines()[0] if answer else 'no answer'}")
    shrunk = FrontDc(dc.name, dc.index, dc.vip, dc.lbs, tuple(v for v in dc.webs if v.name != vm_name))
    _replace_dc(plan, shrunk)
    write_plan(plan)
    _render_lbs(plan, shrunk)
    vms = lab_client.listVirtualMachines(name=vm_name, listall=True, fetch_list=True)
    for vm in vms:
        if vm.get("name") == vm_name:
            job = lab_client.destroyVirtualMachine(id=vm["id"], expunge=True)
            wait_job(lab_client, job["jobid"])
    return vm_name
