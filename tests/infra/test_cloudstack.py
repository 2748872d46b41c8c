"""CloudStack health, read-only: the management plane is up and every resource is in service.

All of it is in the smoke profile: it is what an operator wants to know first after an incident,
and it changes nothing. Zones, pods, clusters and hosts come from the run's estate snapshot, which
must have been read live: when the API did not answer, these checks fail naming the cause, while
the hypervisor and Cassandra checks go on from the last good snapshot.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.smoke

CAPACITY_TYPES = {0: "memory", 1: "CPU"}


@pytest.mark.check(id="CG-CS-001", severity="critical", tier="cloudstack", plane="control")
def test_cloudstack_api_answers_and_the_api_key_is_accepted(cloudstack, target):
    capability = cloudstack.call("listCapabilities").get("capability", {})
    assert capability.get("cloudstackversion"), (
        f"{target.name}: listCapabilities answered without a cloudstackversion: {capability!r}"
    )


@pytest.mark.check(id="CG-CS-002", severity="critical", tier="cloudstack", plane="control")
def test_every_management_server_is_up(cloudstack, target):
    servers = cloudstack.list("listManagementServers")
    assert servers, f"{target.name}: listManagementServers lists no management server"
    down = [f"{s.get('name')} is {s.get('state')}" for s in servers if s.get("state") != "Up"]
    assert not down, f"{target.name}: management server(s) not Up: {', '.join(down)}"


@pytest.mark.check(id="CG-CS-003", severity="major", tier="cloudstack", plane="control")
def test_zones_pods_and_clusters_of_the_target_are_enabled(estate, target):
    assert estate.cloudstack.live, estate.cloudstack.problem
    wanted = {dc.zone for dc in target.datacenters}
    missing = sorted(wanted - {z.name for z in estate.zones})
    assert not missing, f"{target.name}: zone(s) named in the target file not found in CloudStack: {missing}"
    disabled = [f"zone {z.name}" for z in sorted(estate.zones, key=lambda z: z.name) if z.allocationstate != "Enabled"]
    for kind, items in (("pod", estate.pods), ("cluster", estate.clusters)):
        disabled += [f"{kind} {i.name} ({i.allocationstate})" for i in items if i.allocationstate != "Enabled"]
    assert not disabled, f"{target.name}: not Enabled, new VMs cannot land there: {', '.join(disabled)}"


@pytest.mark.check(id="CG-CS-004", severity="critical", tier="cloudstack", plane="control")
def test_every_hypervisor_host_is_up_and_enabled(estate, target):
    assert estate.cloudstack.live, estate.cloudstack.problem
    hosts = estate.hosts
    assert hosts, f"{target.name}: listHosts lists no Routing host in zones {sorted(dc.zone for dc in target.datacenters)}"
    bad = [f"{h.name} (state {h.state}, resourcestate {h.resourcestate})" for h in hosts if not h.enabled]
    assert not bad, f"{target.name}: {len(bad)} of {len(hosts)} hypervisor host(s) not Up+Enabled: {', '.join(bad)}"


@pytest.mark.check(id="CG-CS-005", severity="major", tier="cloudstack", plane="control")
def test_system_vms_are_running(cloudstack, target):
    zones = {dc.zone for dc in target.datacenters}
    vms = [v for v in cloudstack.list("listSystemVms") if v.get("zonename") in zones]
    kinds = {(v.get("zonename"), v.get("systemvmtype")) for v in vms}
    absent = [f"{t} in {z}" for z in sorted(zones) for t in ("secondarystoragevm", "consoleproxy") if (z, t) not in kinds]
    stopped = [f"{v.get('name')} ({v.get('systemvmtype')}) is {v.get('state')}" for v in vms if v.get("state") != "Running"]
    assert not absent and not stopped, (
        f"{target.name}: system VMs unhealthy: {', '.join(stopped + [f'no {a}' for a in absent])}"
    )


@pytest.mark.check(id="CG-CS-006", severity="major", tier="cloudstack", plane="control")
def test_allocated_capacity_is_under_the_threshold(cloudstack, target, metric):
    limit = target.thresholds.capacity_percent
    zones = {dc.zone for dc in target.datacenters}
    over = []
    seen = 0
    for cap in cloudstack.list("listCapacity"):
        kind = CAPACITY_TYPES.get(int(cap.get("type", -1)))
        if kind is None or cap.get("zonename") not in zones or cap.get("podid") or cap.get("clusterid"):
            continue
        seen += 1
        used = float(cap.get("percentused", 0))
        m = metric(f"capacity.{cap.get('zonename')}.{kind}", used, "%", limit)
        if m.verdict == "fail":
            over.append(f"{kind} in {cap.get('zonename')} at {used:.1f}%")
    assert seen, f"{target.name}: listCapacity returned no memory/CPU record for zones {sorted(zones)}"
    assert not over, f"{target.name}: capacity above {limit:g}%: {', '.join(over)} — add hosts or move load"
