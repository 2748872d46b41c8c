"""Host maintenance and system VMs.

prepareHostForMaintenance takes the host out of allocation (PrepareForMaintenance), has the planner
place each of its VMs elsewhere (anti-affinity honoured, this host avoided), then reaches Maintenance.
If a VM cannot be placed the host ends in ErrorInPrepareForMaintenance and the job fails.
"""

from __future__ import annotations

import time
from typing import Any

from ..context import SimContext
from ..envelope import INTERNAL_ERROR, PARAM_ERROR, ApiError
from ..jobs import Job
from ..registry import Param, Request, command, job
from ..views import Catalog
from .vms import migrate_vm, vm_work


def _host_result(sim: SimContext, host_id: str) -> dict[str, Any]:
    host = sim.db.one("SELECT * FROM hosts WHERE id=?", (host_id,))
    return {"host": Catalog(sim).host(host)}


@command("prepareHostForMaintenance", "Prepares a host for maintenance.", (
    Param("id", "uuid", True, "the host ID"),), isasync=True, admin_only=True)
def prepare_maintenance(req: Request) -> dict[str, Any]:
    host = req.entity("id", "hosts", required=True)
    assert host is not None
    if host["resourcestate"] not in ("Enabled", "Disabled", "ErrorInPrepareForMaintenance", "PrepareForMaintenance"):
        raise ApiError(PARAM_ERROR, f"Host {host['name']} is in resource state {host['resourcestate']}; it cannot be "
                                    "prepared for maintenance")
    with req.sim.db.tx():
        req.sim.db.run("UPDATE hosts SET resourcestate='PrepareForMaintenance' WHERE id=?", (host["id"],))
    return {"jobid": req.sim.jobs.submit("prepareHostForMaintenance", req.params, req.caller, "Host", host["id"])}


@job("prepareHostForMaintenance")
def run_prepare_maintenance(sim: SimContext, job: Job) -> dict[str, Any]:
    host_id = job.params["id"]
    db = sim.db
    with db.tx():
        db.run("UPDATE hosts SET resourcestate='PrepareForMaintenance' WHERE id=? AND resourcestate!='Maintenance'",
               (host_id,))
    failed: list[str] = []
    for vm in db.all("SELECT id, name FROM vms WHERE (host_id=? OR migrate_host_id=?) AND removed IS NULL ORDER BY seq",
                     (host_id, host_id)):
        with vm_work(vm["id"]):
            current = db.one("SELECT * FROM vms WHERE id=?", (vm["id"],))
            if current is None or current["host_id"] != host_id or current["state"] not in ("Running", "Migrating"):
                continue
            try:
                migrate_vm(sim, vm["id"], None, avoid={host_id})
            except ApiError:
                failed.append(vm["name"])
    with db.tx():
        left = db.scalar("SELECT COUNT(*) FROM vms WHERE host_id=? AND removed IS NULL", (host_id,))
        state = "ErrorInPrepareForMaintenance" if failed or left else "Maintenance"
        db.run("UPDATE hosts SET resourcestate=? WHERE id=?", (state, host_id))
    if failed:
        raise ApiError(INTERNAL_ERROR, f"Failed to prepare host for maintenance: unable to migrate VM(s) "
                                       f"{', '.join(failed)} off the host")
    return _host_result(sim, host_id)


@command("cancelHostMaintenance", "Cancels host maintenance.", (
    Param("id", "uuid", True, "the host ID"),), isasync=True, admin_only=True)
def cancel_maintenance(req: Request) -> dict[str, Any]:
    host = req.entity("id", "hosts", required=True)
    assert host is not None
    if host["resourcestate"] not in ("Maintenance", "PrepareForMaintenance", "ErrorInPrepareForMaintenance",
                                     "ErrorInMaintenance"):
        raise ApiError(PARAM_ERROR, f"Cannot cancel maintenance of host {host['name']}: it is in resource state "
                                    f"{host['resourcestate']}")
    return {"jobid": req.sim.jobs.submit("cancelHostMaintenance", req.params, req.caller, "Host", host["id"])}


@job("cancelHostMaintenance")
def run_cancel_maintenance(sim: SimContext, job: Job) -> dict[str, Any]:
    with sim.db.tx():
        sim.db.run("UPDATE hosts SET resourcestate='Enabled' WHERE id=?", (job.params["id"],))
    return _host_result(sim, job.params["id"])


def _system_vm_result(sim: SimContext, vm_id: str) -> dict[str, Any]:
    row = sim.db.one("SELECT * FROM system_vms WHERE id=?", (vm_id,))
    return {"systemvm": Catalog(sim).system_vm(row)}


@command("stopSystemVm", "Stops a system VM.", (
    Param("id", "uuid", True, "The ID of the system virtual machine"),
    Param("forced", "boolean", False, "Force stop the VM")), isasync=True, admin_only=True)
def stop_system_vm(req: Request) -> dict[str, Any]:
    row = req.entity("id", "system_vms", required=True)
    assert row is not None
    return {"jobid": req.sim.jobs.submit("stopSystemVm", req.params, req.caller, "SystemVm", row["id"])}


@job("stopSystemVm")
def run_stop_system_vm(sim: SimContext, job: Job) -> dict[str, Any]:
    with sim.db.tx():
        sim.db.run("UPDATE system_vms SET state='Stopped' WHERE id=?", (job.params["id"],))
    return _system_vm_result(sim, job.params["id"])


@command("startSystemVm", "Starts a system virtual machine.", (
    Param("id", "uuid", True, "The ID of the system virtual machine"),), isasync=True, admin_only=True)
def start_system_vm(req: Request) -> dict[str, Any]:
    row = req.entity("id", "system_vms", required=True)
    assert row is not None
    return {"jobid": req.sim.jobs.submit("startSystemVm", req.params, req.caller, "SystemVm", row["id"])}


@job("startSystemVm")
def run_start_system_vm(sim: SimContext, job: Job) -> dict[str, Any]:
    db = sim.db
    row = db.one("SELECT * FROM system_vms WHERE id=?", (job.params["id"],))
    assert row is not None
    if row["state"] != "Running":
        with db.tx():
            db.run("UPDATE system_vms SET state='Starting' WHERE id=?", (row["id"],))
        sim.sleep(min(1.0, sim.config.number("lab.boot.delay.seconds")))
        with db.tx():
            host = db.one("SELECT id FROM hosts WHERE zone_id=? AND state='Up' AND resourcestate='Enabled' "
                          "ORDER BY seq", (row["zone_id"],))
            db.run("UPDATE system_vms SET state='Running', host_id=COALESCE(?, host_id) WHERE id=?",
                   (host["id"] if host else None, row["id"]))
    return _system_vm_result(sim, row["id"])


@command("reconnectHost", "Reconnects a host.", (Param("id", "uuid", True, "the host ID"),), isasync=True,
         admin_only=True)
def reconnect_host(req: Request) -> dict[str, Any]:
    host = req.entity("id", "hosts", required=True)
    assert host is not None
    return {"jobid": req.sim.jobs.submit("reconnectHost", req.params, req.caller, "Host", host["id"])}


@job("reconnectHost")
def run_reconnect_host(sim: SimContext, job: Job) -> dict[str, Any]:
    """Ask the agent again right away (the monitor would on its next round anyway)."""
    host = sim.db.one("SELECT * FROM hosts WHERE id=?", (job.params["id"],))
    assert host is not None
    if sim.driver.host_status(host["name"]) != "Up":
        raise ApiError(INTERNAL_ERROR, f"Failed to reconnect host {host['name']}: the agent is not responding")
    with sim.db.tx():
        sim.db.run("UPDATE hosts SET state='Up', lastpinged=? WHERE id=?", (time.time(), host["id"]))
    return _host_result(sim, host["id"])
