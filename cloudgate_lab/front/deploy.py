"""Deploy the lab's front tier through the lab's CloudStack API, as the operators' orchestrator would.

Per datacenter: two haproxy VMs (`lb-<dc>-a|b`, group `front-lb-<dc>`) and three web VMs
(`web-<dc>-1..3`, group `front-web-<dc>`), each group a host anti-affinity group, on the hosts the
placement engine chose (spread over racks), at fixed addresses (the VIP .210, haproxy .211-.212, web
.221-.229). The plan file is written first: a front VM's boot renders its daemons' files from it
(cloudgate_lab.frontboot). Ready means each VIP serves PHP and C++ through haproxy and each web VM
answers its health pages directly.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

from cloudgate.target import Target
from cloudgate_lab import frontboot, placing
from cloudgate_lab.front.certs import write_certificate
from cloudgate_lab.frontconf import APP_SOURCE, LB_TEMPLATE, WEB_TEMPLATE, FrontDc, FrontPlan, FrontVm
from cloudgate_lab.topology import LabTopology

OFFERING = "Front"
TEMPLATES = {LB_TEMPLATE: "Front haproxy node", WEB_TEMPLATE: "Front web node"}
WEB_PER_DC = 3
VIP_HOST, LB_HOSTS, WEB_FIRST, WEB_LAST = 210, (211, 212), 221, 229
READY_TIMEOUT = 30.0


class FrontDeployError(Exception):
    """One line for the operator."""


def lb_group(dc: str) -> str:
    return f"front-lb-{dc}"


def web_group(dc: str) -> str:
    return f"front-web-{dc}"


def web_ip(dc_index: int, number: int) -> str:
    return f"198.18.{dc_index}.{WEB_FIRST + number - 1}"


def initial_plan(topology: LabTopology) -> FrontPlan:
    dcs = []
    for dc in topology.datacenters:
        i = dc.index
        dcs.append(FrontDc(
            name=dc.name, index=i, vip=f"198.18.{i}.{VIP_HOST}",
            lbs=tuple(FrontVm(f"lb-{dc.name}-{s}", f"198.18.{i}.{h}") for s, h in zip("ab", LB_HOSTS, strict=True)),
            webs=tuple(FrontVm(f"web-{dc.name}-{n}", web_ip(i, n)) for n in range(1, WEB_PER_DC + 1)),
        ))
    return FrontPlan(dcs=dcs)


def write_plan(plan: FrontPlan) -> None:
    frontboot.plan_file().parent.mkdir(parents=True, exist_ok=True)
    tmp = frontboot.plan_file().with_suffix(".tmp")
    tmp.write_text(plan.to_json())
    tmp.replace(frontboot.plan_file())


def build_app() -> subprocess.Popen[bytes]:
    """Start compiling the C++ responder (about 0.4 s); the caller waits before the web VMs boot."""
    out = frontboot.app_binary()
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(["g++", "-O2", "-o", str(out), str(APP_SOURCE), "-lfcgi", "-lpthread"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_build(proc: subprocess.Popen[bytes]) -> None:
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise FrontDeployError("building the C++ responder: g++ did not finish within 120 s") from None
    if proc.returncode != 0:
        last = (out or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise FrontDeployError(f"building the C++ responder failed (is libfcgi-dev installed? `make setup`): {last[0]}")


def _one(items: list[dict[str, Any]], what: str) -> dict[str, Any]:
    if not items:
        raise FrontDeployError(f"lab CloudStack has no {what}")
    return items[0]


def wait_job(client: Any, jobid: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.queryAsyncJobResult(jobid=jobid)
        if job.get("jobstatus") == 1:
            return
        if job.get("jobstatus") == 2:
            raise FrontDeployError(f"deploying a front VM failed: {job.get('jobresult', {}).get('errortext')}")
        time.sleep(0.1)
    raise FrontDeployError(f"deploying a front VM: job {jobid} still pending after {timeout:g} s")


def deploy_vms(suite_client: Any, lab_client: Any, target: Target, plan: FrontPlan) -> None:
    """Every VM of the plan, on the engine's hosts, in its group; all deploys started, then awaited."""
    offering = _one(lab_client.listServiceOfferings(name=OFFERING, fetch_list=True), f"service offering {OFFERING!r}")
    zones = {z["name"]: z["id"] for z in lab_client.listZones(fetch_list=True)}
    templates = {}
    for tag, name in TEMPLATES.items():
        for t in lab_client.listTemplates(templatefilter="executable", name=name, fetch_list=True):
            templates[(tag, t["zoneid"])] = t["id"]
    groups: dict[str, dict[str, list[str]]] = {"front-lb": {}, "front-web": {}}
    for dc in plan.dcs:
        groups["front-lb"][dc.name] = [v.name for v in dc.lbs]
        groups["front-web"][dc.name] = [v.name for v in dc.webs]
    try:
        hostids = placing.plan_hosts(suite_client, target, groups, offering)
    except placing.PlacementError as exc:
        raise FrontDeployError(f"the lab's front tier: {exc}") from None
    zone_of = {dc.name: zones[dc.zone] for dc in target.datacenters}
    jobs = []
    for dc in plan.dcs:
        for group, template, vms in ((lb_group(dc.name), LB_TEMPLATE, dc.lbs), (web_group(dc.name), WEB_TEMPLATE, dc.webs)):
            lab_client.createAffinityGroup(name=group, type="host anti-affinity", fetch_result=True)
            for vm in vms:
                started = lab_client.deployVirtualMachine(
                    zoneid=zone_of[dc.name], serviceofferingid=offering["id"],
                    templateid=templates[(template, zone_of[dc.name])], name=vm.name, displayname=vm.name,
                    ipaddress=vm.ip, hostid=hostids[vm.name], affinitygroupnames=group,
                )
                jobs.append(started["jobid"])
    for jobid in jobs:
        wait_job(lab_client, jobid)


def answers(url: str, expect: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as answer:  # noqa: S310 - the lab's own 198.18/15
            return answer.status == 200 and expect in answer.read(4096).decode(errors="replace")
    except (OSError, urllib.error.URLError):
        return False


def wait_ready(plan: FrontPlan, timeout: float = READY_TIMEOUT) -> None:
    """Each web VM answers PHP and C++ directly, and each VIP serves both through haproxy."""
    pending = []
    for dc in plan.dcs:
        for web in dc.webs:
            pending += [(f"http://{web.ip}/health.php", "ok php"), (f"http://{web.ip}/api/health", "ok cpp")]
        pending += [(f"http://{dc.vip}/", "hello from PHP"), (f"http://{dc.vip}/api/hello", "hello from C++")]
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = [(u, e) for u, e in pending if not answers(u, e)]
        if pending:
            time.sleep(0.2)
    if pending:
        raise FrontDeployError(f"front tier not serving after {timeout:g} s: {', '.join(u for u, _ in pending[:4])}"
                               f"{' ...' if len(pending) > 4 else ''}")


def deploy(suite_client: Any, lab_client: Any, topology: LabTopology, target: Target) -> FrontPlan:
    """The whole front tier, ready; returns its plan."""
    build = build_app()
    plan = initial_plan(topology)
    for dc in plan.dcs:
        write_certificate(frontboot.cert_file(dc.name), "front.lab", dc.vip, days=365)
    write_plan(plan)
    _wait_build(build)
    deploy_vms(suite_client, lab_client, target, plan)
    wait_ready(plan)
    return plan
