"""Host anti-affinity under concurrent deploys: members of one group deployed at once never share a host.

Real allocators have broken this rule exactly when it matters, at the parallel deploy of a new ring:
CloudStack put three anti-affine VMs on two hosts (#5527) and violated the groups of parallel deploys
(#9110), Nova scheduled concurrent requests against the same stale view (bug 1423648). The estate
checks (test_cassandra_dispersion.py) only see the result once data is on it; this check asks the
cloud itself, before anyone relies on it: a new host anti-affinity group, N members deployed through
CloudStack at the same instant, each on its own host.

Destructive: the group is written to the run ledger before it is created, each VM before its deploy
call (cloudgate.cloudstack.deploy), and the cloudstack_rw teardown undoes them newest first (the VMs, then the
group) after a failure, a timeout or Ctrl-C too; after a kill -9, `cloudgate janitor` finds them.
"""

from __future__ import annotations

from typing import Any

import pytest

from cloudgate.cloudstack.deploy import (
    DeployTiming,
    create_anti_affinity_group,
    deploy_concurrently,
    resolve_plan,
    sharing_hosts,
    vm_name_tag,
)
from cloudgate.report.skips import NOT_APPLICABLE
from cloudgate.ssh.hosts import SshSettings
from cloudgate.target import Target
from cloudgate.tracker import Tracker

pytestmark = [pytest.mark.destructive]

LABEL = "aa"  # in the VMs' and the group's names: this check's, not the deploy-time check's


def usable_hosts(tracker: Tracker, zone_id: str) -> list[dict[str, Any]]:
    """Routing hosts of the zone a new VM may land on (Up and Enabled): the most members that can disperse."""
    return [h for h in tracker.client.list("listHosts", type="Routing", zoneid=zone_id)
            if h.get("state") == "Up" and h.get("resourcestate") == "Enabled"]


def collision_message(target: Target, group: str, timings: list[DeployTiming], shared: dict[str, list[str]]) -> str:
    """One line an operator can act on: which host got which members, what it means, what to do meanwhile."""
    where = "; ".join(f"host {host} runs {len(vms)} of them ({', '.join(vms)})" for host, vms in shared.items())
    return (
        f"{target.name}: host anti-affinity broken by {len(timings)} concurrent deploys of group {group}: "
        f"{where}; CloudStack's allocator raced (cf. CloudStack #9110): deploy a group's members (a Cassandra "
        "ring) one at a time, or each with a planned hostid, until it is fixed"
    )


@pytest.mark.check(id="CG-DEPLOY-002", severity="critical", tier="cloudstack", plane="control")
def test_parallel_deploys_of_one_anti_affinity_group_land_on_distinct_hosts(
        cloudstack_rw: Tracker, target: Target) -> None:
    tracker = cloudstack_rw
    plan = resolve_plan(tracker.client, target, tracker.run_tag, target.thresholds.anti_affinity_vm_count, label=LABEL)
    hosts = usable_hosts(tracker, plan.zone_id)
    count = min(len(plan.names), len(hosts))  # more members than hosts would fail by design, not by a race
    if count < 2:
        pytest.skip(f"{NOT_APPLICABLE}the deploy zone of {target.name} has {len(hosts)} usable host(s): "
                    "no two members of a group can be kept apart")
    del plan.names[count:]

    group = f"{target.deploy.name_prefix}-{LABEL}-{vm_name_tag(tracker.run_tag)}"
    plan.params["affinitygroupids"] = create_anti_affinity_group(
        tracker, group, "cloudgate: anti-affinity under concurrent deploys")
    timings = deploy_concurrently(tracker, plan, SshSettings.from_target(target),
                                  budget=target.thresholds.deploy_seconds + 30, wait_ssh=False)

    shared = sharing_hosts(timings)
    assert not shared, collision_message(target, group, timings, shared)
    unplaced = [t for t in timings if t.host is None]
    assert not unplaced, (
        f"{target.name}: {len(unplaced)} of {count} members of host anti-affinity group {group} never ran on a "
        "host, so their dispersion is unverified: " + "; ".join(t.describe() for t in unplaced)
    )
