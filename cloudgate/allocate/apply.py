"""`cloudgate deploy-plan`: carry a plan out on the cloud, all of it or none of it.

Order, and why:
1. refuse a production target (this creates VMs) and a plan the estate no longer fits
   (cloudgate.allocate.stale): nothing is created for a plan that would land half;
2. every VM and every new anti-affinity group is written to a ledger before it is created
   (reports/deploy-plan-<target>/ledger.jsonl), so Ctrl-C, an error or a kill -9 leaves nothing
   the undo or `cloudgate janitor` cannot find - an interrupted deploy is rolled back;
3. each VM is deployed with ``hostid`` (the plan's host) into its group's host anti-affinity
   group, so CloudStack's own processor keeps the rule on later starts and migrations; each VM
   is tagged ``cloudgate-plan=<run>``;
4. once every VM runs, the ledger entries are released ("kept"): the VMs are the operator's now;
5. the estate is read again and the dispersion of the plan's groups checked on it: every VM on
   its planned host, no two members of a group on one host, racks spread (placement.check).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cloudgate.allocate.flash import FlashReading
from cloudgate.allocate.live import read_live_estate
from cloudgate.allocate.planfile import PlanDoc, read_plan
from cloudgate.allocate.stale import why_plan_no_longer_fits
from cloudgate.cloudstack.client import CloudStackClient, CloudStackError
from cloudgate.cloudstack.deploy import (
    DeployPlan,
    DeployTiming,
    create_anti_affinity_group,
    deploy_all_at_once,
)
from cloudgate.ledger import Ledger
from cloudgate.placement.check import check
from cloudgate.placement.rules import ANTI_AFFINITY, RACK_SPREAD
from cloudgate.ssh.hosts import SshSettings
from cloudgate.target import LoadedTarget
from cloudgate.tracker import Tracker
from cloudgate.undo import Undoer

TAG_KEY = "cloudgate-plan"
SCOPE = "deploy-plan"


class DeployPlanError(Exception):
    """One line for the operator; nothing the plan created is left behind (or the ledger says what is)."""


class StalePlan(DeployPlanError):
    """The estate changed since the plan was made: refused before anything was created."""


@dataclass
class DeployOutcome:
    run: str
    timings: list[DeployTiming] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # dispersion of the result

    @property
    def ok(self) -> bool:
        return not self.problems


def plan_ledger(reports_root: Path, target: str) -> Path:
    return reports_root / f"deploy-plan-{target}" / "ledger.jsonl"


def _run_tag(target: str) -> str:
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{target}-plan-{os.getpid()}"


def _ids(client: CloudStackClient, plan: PlanDoc) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Zone ids by name and template ids by (template, zone); one line for whatever is missing."""
    zones = {str(z.get("name")): str(z.get("id")) for z in client.list("listZones")}
    templates: dict[tuple[str, str], str] = {}
    for t in client.list("listTemplates", templatefilter="executable"):
        if t.get("isready", True):
            templates.setdefault((str(t.get("name")), str(t.get("zoneid"))), str(t.get("id")))
    for vm in plan.vms:
        if vm.zone not in zones:
            raise DeployPlanError(f"cannot deploy {vm.name}: CloudStack has no zone {vm.zone!r}")
        name = plan.group(vm.group).template
        if (name, zones[vm.zone]) not in templates:
            raise DeployPlanError(f"cannot deploy {vm.name}: no ready template {name!r} in zone {vm.zone}")
    return zones, templates


def _group_id(tracker: Tracker, name: str) -> str:
    """The host anti-affinity group of that name, created (and ledgered) when it does not exist yet."""
    for g in tracker.client.list("listAffinityGroups", name=name):
        if g.get("name") == name and g.get("type", "host anti-affinity") == "host anti-affinity":
            return str(g["id"])
    return create_anti_affinity_group(tracker, name, "cloudgate deploy-plan")


def _deploy_plans(plan: PlanDoc, zones: dict[str, str], templates: dict[tuple[str, str], str],
                  group_ids: dict[str, str]) -> list[DeployPlan]:
    out: dict[tuple[str, str], DeployPlan] = {}
    for vm in plan.vms:
        g = plan.group(vm.group)
        zone_id = zones[vm.zone]
        dp = out.setdefault((vm.group, vm.zone), DeployPlan(
            zone_id, g.offering_id, templates[(g.template, zone_id)],
            params={"affinitygroupids": group_ids[vm.group]}))
        dp.names.append(vm.name)
        dp.params_by_name[vm.name] = {"hostid": vm.host_id}
    return list(out.values())


def dispersion_problems(plan: PlanDoc, client: CloudStackClient, loaded: LoadedTarget,
                        flash: dict[str, FlashReading]) -> list[str]:
    """The plan's groups on the estate as it is now: where each VM landed, anti-affinity, rack spread."""
    live = read_live_estate(client, loaded, flash=flash)
    problems = []
    by_name = {vm.name: vm for vm in live.snapshot.vms}
    for vm in plan.vms:
        now = by_name.get(vm.name)
        if now is None or now.host_id != vm.host_id:
            where = "is not listed" if now is None else f"runs on {now.host_name}"
            problems.append(f"{vm.name} {where}, not on its planned host {vm.host_name}")
    groups = {g.group for g in plan.groups}
    for v in check(live.estate):
        if v.rule in (ANTI_AFFINITY, RACK_SPREAD) and v.group in groups:
            problems.append(v.message)
    return problems


def deploy_plan(loaded: LoadedTarget, plan_path: str | Path, reports_root: Path,
                say: Callable[[str], None] = print) -> DeployOutcome:
    """Deploy a plan file; raises StalePlan / DeployPlanError (one line) with nothing left behind."""
    target = loaded.target
    if not target.environment.allows_destructive:
        raise DeployPlanError(f"{target.name}: deploy-plan creates VMs; refused on an environment: "
                              f"{target.environment.value} target (use a preproduction or lab target)")
    plan = read_plan(plan_path)
    client = CloudStackClient.for_target(loaded, allow_mutations=True)
    live = read_live_estate(client, loaded)
    problem = why_plan_no_longer_fits(plan, live)
    if problem:
        raise StalePlan(f"plan {plan_path} refused, nothing deployed: the estate changed since the plan was "
                        f"made ({plan.made_at}): {problem}; make the plan again (cloudgate place --target)")
    zones, templates = _ids(client, plan)
    run = _run_tag(target.name)
    ledger = Ledger(plan_ledger(reports_root, target.name), run=run, target=target.name,
                    endpoint=target.cloudstack.endpoint)
    tracker = Tracker(client, run, ledger=ledger, scope=SCOPE, undoer=Undoer(client, target).undo)
    settings = SshSettings.from_target(target)
    outcome = DeployOutcome(run)
    try:
        group_ids = {g.group: _group_id(tracker, g.group) for g in plan.groups}
        outcome.timings = deploy_all_at_once(tracker, _deploy_plans(plan, zones, templates, group_ids), settings,
                                             target.cloudstack.job_timeout_seconds, wait_ssh=False)
        failed = [t for t in outcome.timings if t.error]
        if failed:
            raise DeployPlanError(f"{failed[0].name}: {failed[0].error}"
                                  + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""))
        for t in outcome.timings:
            client.call("createTags", resourceids=t.vm_id, resourcetype="UserVm",
                        **{"tags[0].key": TAG_KEY, "tags[0].value": run}, fetch_result=True)
    except BaseException as exc:
        left = tracker.cleanup()
        tail = f"; could not undo: {'; '.join(left)}" if left else "; everything it created was removed"
        if isinstance(exc, DeployPlanError | CloudStackError):
            raise DeployPlanError(f"deploy-plan {run} failed: {exc}{tail}") from None
        raise
    tracker.release(f"kept: deployed by plan {Path(plan_path).name}")  # the VMs are the operator's now
    say(f"deploy-plan {run}: {len(outcome.timings)} VM(s) running, tagged {TAG_KEY}={run}")
    flash = {h.id: FlashReading(h.id, h.name, live.estate.host(h.id).flash_gib)
             for h in live.snapshot.hosts if h.id not in live.unreadable}
    outcome.problems = dispersion_problems(plan, client, loaded, flash)
    return outcome
