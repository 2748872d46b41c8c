"""The lab's Cassandra cluster: VMs deployed through the lab's CloudStack API, CQL nodes inside them.

Two ways to place the VMs, to show the operators' lesson:
- `firstfit`: what CloudStack does alone — no hostid, no affinity group; FirstFit stacks the VMs
  on the first host with room, so replicas of one token range share a physical host;
- `cloudgate`: the placement engine's plan (one VM per host, spread over racks, hosts packed),
  deployed with hostid and a host anti-affinity group so later migrations keep the rule.

Each node's datacenter and rack are those of its VM's host, as cassandra-rackdc.properties would
say on a real node. The node is started by the "cassandra" template's boot (the guest driver's
extra processes), so a guest restarted after a host failure brings its node back with its data.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cloudgate.target import Target
from cloudgate_lab import guests, paths, placing
from cloudgate_lab.clusterfile import cluster_file, node_command_for
from cloudgate_lab.topology import LabTopology

GROUP = "cass-lab"
OFFERING = "Cassandra"
TEMPLATE = "Cassandra 4.1 node"
FIRST_IP = 201


class CassandraDeployError(Exception):
    """One line for the operator."""


def node_names(target: Target) -> dict[str, list[str]]:
    per_dc = target.lab.cassandra_nodes_per_dc if target.lab else 3
    return {dc.name: [f"cass-{dc.name}-{i}" for i in range(1, per_dc + 1)] for dc in target.datacenters}


def node_ip(topology: LabTopology, dc: str, index: int) -> str:
    dc_index = next(d.index for d in topology.datacenters if d.name == dc)
    return f"198.18.{dc_index}.{FIRST_IP + index - 1}"


def _one(items: list[dict[str, Any]], what: str) -> dict[str, Any]:
    if not items:
        raise CassandraDeployError(f"lab CloudStack has no {what}")
    return items[0]


def deploy(client: Any, lab_client: Any, topology: LabTopology, target: Target, placement: str) -> list[dict[str, Any]]:
    """Deploy the Cassandra VMs; returns their listVirtualMachines records."""
    names = node_names(target)
    offering = _one(lab_client.listServiceOfferings(name=OFFERING, fetch_list=True), f"service offering {OFFERING!r}")
    zones = {z["name"]: z["id"] for z in lab_client.listZones(fetch_list=True)}
    templates = {
        t["zoneid"]: t["id"] for t in lab_client.listTemplates(templatefilter="executable", name=TEMPLATE, fetch_list=True)
    }
    hostids: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if placement == "cloudgate":
        try:
            hostids = placing.plan_hosts(client, target, {GROUP: names}, offering)
        except placing.PlacementError as exc:
            raise CassandraDeployError(f"the lab's Cassandra: {exc}") from None
        lab_client.createAffinityGroup(name=GROUP, type="host anti-affinity", fetch_result=True)
        extra["affinitygroupnames"] = GROUP
    jobs = []
    for dc in target.datacenters:
        zone_id = zones[dc.zone]
        for i, name in enumerate(names[dc.name], start=1):
            params = dict(
                zoneid=zone_id, serviceofferingid=offering["id"], templateid=templates[zone_id],
                name=name, displayname=name, ipaddress=node_ip(topology, dc.name, i), **extra,
            )
            if name in hostids:
                params["hostid"] = hostids[name]
            # FirstFit as CloudStack does it: one deploy after the other, each seeing the last
            started = lab_client.deployVirtualMachine(**params)
            jobs.append(started["jobid"])
            if placement == "firstfit":
                _wait_job(lab_client, started["jobid"])
    for jobid in jobs:
        _wait_job(lab_client, jobid)
    return [vm for vm in lab_client.listVirtualMachines(listall=True, fetch_list=True) if vm["name"].startswith("cass-")]


def _wait_job(client: Any, jobid: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.queryAsyncJobResult(jobid=jobid)
        if job.get("jobstatus") == 1:
            return job
        if job.get("jobstatus") == 2:
            raise CassandraDeployError(f"deploying a Cassandra VM failed: {job.get('jobresult', {}).get('errortext')}")
        time.sleep(0.1)
    raise CassandraDeployError(f"deploying a Cassandra VM: job {jobid} still pending after {timeout:g} s")


def write_cluster(topology: LabTopology, vms: list[dict[str, Any]]) -> Path:
    """The nodes' cluster file: each node's DC and rack are its VM's host's."""
    from cloudgate_lab.cql.cluster import NodeSpec, write_cluster_file

    specs = []
    for vm in sorted(vms, key=lambda v: v["name"]):
        host = topology.host(vm["hostname"])
        specs.append(NodeSpec(
            name=vm["name"], address=vm["nic"][0]["ipaddress"], dc=host.dc, rack=host.rack,
            data_dir=str(paths.lab_dir() / "cassandra" / vm["name"]),
        ))
    path = cluster_file()
    write_cluster_file(str(path), specs, base_dir=str(path.parent))
    return path


def start_nodes(vms: list[dict[str, Any]]) -> None:
    """Boot the CQL node of each Cassandra VM (the template does it on later guest restarts)."""
    for vm in vms:
        node = guests.guest_node_by_name(vm["name"])
        command = node_command_for(vm["name"], "cassandra")
        if node is None or command is None:
            raise CassandraDeployError(f"Cassandra VM {vm['name']} has no running guest to start its node in")
        guests.start_service(node, guests.CASSANDRA_UNIT, command)


def wait_ready(vms: list[dict[str, Any]], timeout: float = 30.0) -> None:
    from cloudgate_lab.cql.cluster import probe_native

    pending = {vm["nic"][0]["ipaddress"] for vm in vms}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = {ip for ip in pending if not probe_native(ip, 9042)}
        if pending:
            time.sleep(0.2)
    if pending:
        raise CassandraDeployError(f"CQL nodes not answering on 9042 after {timeout:g} s: {sorted(pending)}")
