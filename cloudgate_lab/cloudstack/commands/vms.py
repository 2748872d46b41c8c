"""User VM lifecycle: deploy, start, stop, destroy, expunge, recover, migrate, list.

Phases follow CloudStack: the sync call allocates the VM row (Stopped, IP reserved) and answers
{id, jobid}; the job plans a host (VM Starting with hostid), asks the guest driver to boot it, waits the
lab's boot delay, then marks it Running. Work on one VM is serialized (VmWorkJobQueue), so a stop sent
during a deploy runs after it. A planner failure is 533 with CloudStack's own message; a first deploy
that fails leaves the VM in Error.

How the guest goes away (the guest driver's `forced`, see driver.py) follows what the hypervisor would
do: stopVirtualMachine is a clean shutdown unless forced=true (then the plug is pulled: silent to the
guest's peers), and so is rebootVirtualMachine; destroy and expunge pull the plug; a migration stops
gracefully (a live migration keeps connections, which the lab cannot: a clean close is the nearest).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..allocator import (
    Demand,
    anti_affinity_group_ids,
    demand_of,
    has_anti_affinity,
    has_capacity,
    plan,
    race_rng,
    usable,
)
from ..capacity import HostLoad, host_loads
from ..context import SimContext
from ..driver import GuestSpec, stop_guest
from ..envelope import (
    ACCOUNT_ERROR,
    CS_INSUFFICIENT_CAPACITY,
    CS_INSUFFICIENT_SERVER_CAPACITY,
    CS_PERMISSION_DENIED,
    INSUFFICIENT_CAPACITY_ERROR,
    INTERNAL_ERROR,
    PARAM_ERROR,
    ApiError,
)
from ..jobs import Job
from ..registry import Param, Request, command, common_list_params, job, keyword_match
from ..upgrade import ANTI_AFFINITY_IGNORED, SLOW_DEPLOY, deploy_drag
from ..views import Catalog

if TYPE_CHECKING:
    from ..accounts import Account

log = logging.getLogger(__name__)

_HOSTNAME = re.compile(r"^(?!-)(?![0-9])[A-Za-z0-9-]{1,63}(?<!-)$")
_vm_locks: dict[str, threading.Lock] = {}
_vm_locks_guard = threading.Lock()


@contextmanager
def vm_work(vm_id: str) -> Iterator[None]:
    """One piece of work at a time per VM, as CloudStack queues VM work jobs."""
    with _vm_locks_guard:
        lock = _vm_locks.setdefault(vm_id, threading.Lock())
    with lock:
        yield


# -- helpers ------------------------------------------------------------------------------------------
def load_vm(sim: SimContext, vm_id: str) -> sqlite3.Row:
    row = sim.db.one("SELECT * FROM vms WHERE id=?", (vm_id,))
    if row is None:
        raise ApiError(INTERNAL_ERROR, f"Unable to find VM instance {vm_id}")
    return row


def vm_result(sim: SimContext, vm_id: str, caller: Account) -> dict[str, Any]:
    return {"virtualmachine": Catalog(sim).vm(load_vm(sim, vm_id), caller)}


def _vm_visible(req: Request):
    return lambda row: req.caller.is_root_admin or row["account"] == req.caller.name


def _describe(vm: sqlite3.Row) -> str:
    return f'VM instance {{"id":{vm["seq"]},"instanceName":"{vm["instancename"]}","type":"User","uuid":"{vm["id"]}"}}'


def no_deployment(sim: SimContext, vm: sqlite3.Row) -> ApiError:
    text = f"Unable to create a deployment for {_describe(vm)}"
    if has_anti_affinity(sim.db, vm["id"]):
        text += ", Please check the affinity groups provided, there may not be sufficient capacity to follow them"
    return ApiError(INSUFFICIENT_CAPACITY_ERROR, text, CS_INSUFFICIENT_SERVER_CAPACITY)


def _planner_args(sim: SimContext) -> dict[str, Any]:
    return {
        "algorithm": sim.config.get("vm.allocation.algorithm") or "firstfit",
        "now": time.time(),
        "release_seconds": sim.config.number("capacity.skipcounting.hours"),
        "honour_anti_affinity": not sim.regressed(ANTI_AFFINITY_IGNORED),
    }


RACE_SETTING = "lab.antiaffinity.race.seconds"


def _plan_start(sim: SimContext, vm: sqlite3.Row, requested_host_id: str | None, avoid: set[str], *,
                consider_last_host: bool, **extra: Any) -> str | None:
    """The planner as orchestrateStart asks it: the last host first (when asked to), then any host."""
    args = _planner_args(sim) | extra
    host_id = None
    if consider_last_host and requested_host_id is None and vm["last_host_id"]:
        host_id = plan(sim.db, vm, requested_host_id=vm["last_host_id"], avoid=avoid, **args)
    if host_id is None:
        host_id = plan(sim.db, vm, requested_host_id=requested_host_id, avoid=avoid, **args)
    return host_id


def race_window(sim: SimContext, vm_id: str) -> float:
    """Seconds the racing allocator (`lab.antiaffinity.race.seconds`) leaves between this VM's plan
    and its reservation; 0 when the switch is off or the VM is in no host anti-affinity group."""
    window = sim.config.number(RACE_SETTING)
    return window if window > 0 and has_anti_affinity(sim.db, vm_id) else 0.0


def _racing_plan(sim: SimContext, vm_id: str, requested_host_id: str | None, avoid: set[str], *,
                 consider_last_host: bool) -> str | None:
    """The cloud fault `anti-affinity-race`: plan outside the database lock, then wait the window.

    The plan sees the estate of this instant: members of the group whose own plan is still in its
    window have reserved nothing yet, so they are neither avoided nor seen by the reservation check,
    and every member planned within one window gets the same host (see allocator.py on why a random
    order is seeded by the group). Returns that host, to be reserved without the group's reservation
    check, or None (no race for this VM, nothing to plan, or no host: the locked path answers then).
    Sequential deploys stay correct: each one reserves before the next one plans.
    """
    window = race_window(sim, vm_id)
    if not window:
        return None
    vm = load_vm(sim, vm_id)
    if vm["state"] not in ("Stopped", "Starting") or vm["host_id"]:
        return None
    rng = race_rng(anti_affinity_group_ids(sim.db, vm_id))
    host_id = _plan_start(sim, vm, requested_host_id, avoid, consider_last_host=consider_last_host, rng=rng)
    if host_id is not None:
        log.info("anti-affinity race: %s planned on %s, reserving in %g s without the group's check",
                 vm["name"], host_id, window)
        sim.sleep(window)
    return host_id


def _still_fits(sim: SimContext, vm: sqlite3.Row, host_id: str) -> bool:
    """Capacity and state at reservation time (the race skips only the anti-affinity check)."""
    host = sim.db.one("SELECT * FROM hosts WHERE id=?", (host_id,))
    return host is not None and usable(host) and has_capacity(host, host_loads(sim.db).get(host_id, HostLoad()),
                                                               demand_of(sim.db, vm))


def _guest_spec(sim: SimContext, vm: sqlite3.Row, host_id: str) -> GuestSpec:
    host = sim.db.one("SELECT name FROM hosts WHERE id=?", (host_id,))
    template = sim.db.one("SELECT tag FROM templates WHERE id=?", (vm["template_id"],))
    assert host is not None and template is not None
    return GuestSpec(vm_id=vm["id"], name=vm["name"], host_name=host["name"], ip=vm["ip"], template=template["tag"])


def start_vm(sim: SimContext, vm_id: str, requested_host_id: str | None, *, first_deploy: bool,
             consider_last_host: bool = True) -> None:
    """Plan, reserve (Starting + hostid), boot through the driver, wait the boot delay, mark Running.

    Resumable: a VM found Starting with a host (job interrupted by a restart) skips planning. A host whose
    agent fails StartCommand joins the avoid set and the planner is asked again, as orchestrateStart does.
    A first deploy under the upgrade regression `slow-deploy` then stays Starting several times as long.
    Under the cloud fault `anti-affinity-race` a VM of a host anti-affinity group is planned before the
    lock is taken (`_racing_plan`) and that host is reserved without the group's reservation check.
    """
    db = sim.db
    began = time.monotonic()
    avoid: set[str] = set()
    while True:
        failure: ApiError | None = None
        raced = _racing_plan(sim, vm_id, requested_host_id, avoid, consider_last_host=consider_last_host)
        with db.tx():
            vm = load_vm(sim, vm_id)
            if vm["state"] == "Running":
                return
            if vm["state"] == "Starting" and vm["host_id"]:
                host_id = vm["host_id"]
            elif vm["state"] in ("Stopped", "Starting"):
                host_id = raced if raced is not None and _still_fits(sim, vm, raced) else None
                if host_id is None:
                    host_id = _plan_start(sim, vm, requested_host_id, avoid, consider_last_host=consider_last_host)
                if host_id is None:
                    failure = no_deployment(sim, vm)
                    db.run("UPDATE vms SET state=?, updated=? WHERE id=?",
                           ("Error" if first_deploy else "Stopped", time.time(), vm_id))
                else:
                    db.run("UPDATE vms SET state='Starting', host_id=?, updated=? WHERE id=?",
                           (host_id, time.time(), vm_id))
            else:
                raise ApiError(INTERNAL_ERROR, f"Unable to start {_describe(vm)} in state {vm['state']}")
        if failure is not None:  # raised outside the transaction so the Error state is committed
            raise failure
        spec = _guest_spec(sim, vm, host_id)
        try:
            sim.driver.start_guest(spec)
        except Exception as exc:
            log.warning("start_guest(%s on %s) failed: %s", vm_id, spec.host_name, exc)
            try:  # a guest that failed to boot has nothing to shut down cleanly
                stop_guest(sim.driver, vm_id, forced=True)
            except Exception:
                log.exception("cleanup stop_guest(%s) failed", vm_id)
            with db.tx():
                db.run("UPDATE vms SET state='Stopped', host_id=NULL, updated=? WHERE id=? AND state='Starting'",
                       (time.time(), vm_id))
            avoid.add(host_id)
            continue
        sim.sleep(sim.config.number("lab.boot.delay.seconds"))
        if first_deploy and sim.regressed(SLOW_DEPLOY):
            sim.sleep(deploy_drag(time.monotonic() - began))
        with db.tx():
            done = db.run("UPDATE vms SET state='Running', updated=? WHERE id=? AND state='Starting' AND host_id=?",
                          (time.time(), vm_id, host_id))
        if not done:
            raise ApiError(INTERNAL_ERROR, f"Unable to start {_describe(vm)}: its host {spec.host_name} went down "
                                           "while it was starting")
        return


def _flag(params: dict[str, Any], name: str) -> bool:
    return str(params.get(name, "false")).lower() == "true"


def stop_vm(sim: SimContext, vm_id: str, *, forced: bool) -> None:
    """Stopping -> guest stopped (cleanly, or silently when `forced`) -> Stopped, host released."""
    db = sim.db
    vm = load_vm(sim, vm_id)
    if vm["state"] in ("Stopped", "Error", "Destroyed", "Expunging"):
        return
    with db.tx():
        db.run("UPDATE vms SET state='Stopping', updated=? WHERE id=?", (time.time(), vm_id))
    stop_guest(sim.driver, vm_id, forced=forced)
    with db.tx():
        db.run("UPDATE vms SET state='Stopped', last_host_id=COALESCE(host_id, last_host_id), host_id=NULL, "
               "migrate_host_id=NULL, updated=? WHERE id=?", (time.time(), vm_id))


def expunge_vm(sim: SimContext, vm_id: str) -> None:
    """Remove the VM for good: its IP, tags and group memberships are released."""
    with vm_work(vm_id):
        try:
            stop_guest(sim.driver, vm_id, forced=True)
        except Exception:
            log.exception("stop_guest(%s) during expunge failed", vm_id)
        db = sim.db
        with db.tx():
            db.run("UPDATE vms SET state='Expunging', host_id=NULL, removed=?, updated=? WHERE id=?",
                   (time.time(), time.time(), vm_id))
            db.run("DELETE FROM tags WHERE resource_id=? AND resource_type='UserVm'", (vm_id,))
            db.run("DELETE FROM vm_affinity WHERE vm_id=?", (vm_id,))


def migrate_vm(sim: SimContext, vm_id: str, target_host_id: str | None, *, avoid: set[str] | None = None,
               require_affinity: bool = True) -> None:
    """Running -> Migrating (destination reserved) -> Running on the destination.

    With no destination given the planner picks one (anti-affinity honoured); an explicit destination is
    only checked for state and capacity, as migrateVirtualMachine does.
    """
    db = sim.db
    with db.tx():
        vm = load_vm(sim, vm_id)
        if vm["state"] == "Migrating" and vm["migrate_host_id"]:
            target = vm["migrate_host_id"]
        elif vm["state"] == "Running":
            if target_host_id is None:
                target = plan(db, vm, avoid={vm["host_id"], *(avoid or set())}, **_planner_args(sim))
                if target is None:
                    raise ApiError(INSUFFICIENT_CAPACITY_ERROR,
                                   f"Unable to find a suitable destination to migrate {_describe(vm)}",
                                   CS_INSUFFICIENT_SERVER_CAPACITY)
            else:
                target = target_host_id
                host = db.one("SELECT * FROM hosts WHERE id=?", (target,))
                assert host is not None
                if target == vm["host_id"]:
                    raise ApiError(PARAM_ERROR, "Cannot migrate VM, VM is already present on this host, please "
                                                "specify valid destination host to migrate the VM")
                if not usable(host):
                    raise ApiError(PARAM_ERROR, f"Cannot migrate VM, destination host {host['name']} is not in "
                                                f"correct state (state {host['state']}, resource state "
                                                f"{host['resourcestate']})")
                demand_row = db.one("SELECT * FROM offerings WHERE id=?", (vm["offering_id"],))
                demand = Demand(demand_row["cpunumber"], demand_row["cpuspeed"], demand_row["memory"], vm["account"])
                if not has_capacity(host, host_loads(db).get(target, HostLoad()), demand):
                    raise ApiError(INSUFFICIENT_CAPACITY_ERROR,
                                   f"Unable to migrate {_describe(vm)} to host {host['name']}: not enough capacity",
                                   CS_INSUFFICIENT_CAPACITY)
            db.run("UPDATE vms SET state='Migrating', migrate_host_id=?, updated=? WHERE id=?",
                   (target, time.time(), vm_id))
        else:
            raise ApiError(PARAM_ERROR, f"VM is not Running, unable to migrate the vm {_describe(vm)}")
    source = vm["host_id"]
    stop_guest(sim.driver, vm_id, forced=False)
    sim.driver.start_guest(_guest_spec(sim, vm, target))
    with db.tx():
        done = db.run("UPDATE vms SET state='Running', host_id=?, last_host_id=?, migrate_host_id=NULL, updated=? "
                      "WHERE id=? AND state='Migrating'", (target, source, time.time(), vm_id))
    if not done:
        raise ApiError(INTERNAL_ERROR, f"Migration of {_describe(vm)} was interrupted: a host went down")


# -- deploy -------------------------------------------------------------------------------------------
def _resolve_groups(req: Request) -> list[sqlite3.Row]:
    ids, names = req.ids("affinitygroupids"), req.ids("affinitygroupnames")
    if ids and names:
        raise ApiError(PARAM_ERROR, "affinitygroupids parameter is mutually exclusive with affinitygroupnames "
                                    "parameter")
    db = req.sim.db
    groups = []
    for gid in ids:
        g = db.one("SELECT * FROM affinity_groups WHERE id=? AND removed IS NULL", (gid,))
        if g is None or (g["account"] != req.caller.name):
            raise ApiError(PARAM_ERROR, f"Unable to find affinity group by id {gid}")
        groups.append(g)
    for name in names:
        g = db.one("SELECT * FROM affinity_groups WHERE name=? AND account=? AND removed IS NULL",
                   (name, req.caller.name))
        if g is None:
            raise ApiError(PARAM_ERROR, f"Unable to find affinity group by name {name}")
        groups.append(g)
    return groups


def _pick_ip(req: Request, zone: sqlite3.Row) -> str:
    db = req.sim.db
    dc = zone["dc_index"]
    used = {r["ip"] for r in db.all("SELECT ip FROM vms WHERE zone_id=? AND removed IS NULL AND ip IS NOT NULL",
                                    (zone["id"],))}
    wanted = req.get("ipaddress")
    if wanted is not None:
        try:
            addr = ipaddress.IPv4Address(wanted)
        except ValueError:
            raise ApiError(PARAM_ERROR, f"Invalid format for IPv4 address: {wanted}") from None
        low, high = ipaddress.IPv4Address(f"198.18.{dc}.200"), ipaddress.IPv4Address(f"198.18.{dc}.250")
        if not low <= addr <= high:
            raise ApiError(PARAM_ERROR, f"IP address {wanted} is outside the range {low}-{high} that zone "
                                        f"{zone['name']} gives out on request")
        if wanted in used:
            raise ApiError(INSUFFICIENT_CAPACITY_ERROR, f"Unable to acquire guest IP address {wanted} for network "
                                                        f"{zone['name']}-guest: it is already in use",
                           CS_INSUFFICIENT_CAPACITY)
        return wanted
    for last in range(100, 200):
        ip = f"198.18.{dc}.{last}"
        if ip not in used:
            return ip
    raise ApiError(INSUFFICIENT_CAPACITY_ERROR, f"Insufficient address capacity: no free guest IP address left in "
                                                f"network {zone['name']}-guest", CS_INSUFFICIENT_CAPACITY)


@command("deployVirtualMachine", "Creates and automatically starts a virtual machine based on a service offering, "
         "disk offering, and template.", (
    Param("serviceofferingid", "uuid", True, "the ID of the service offering for the virtual machine"),
    Param("templateid", "uuid", True, "the ID of the template for the virtual machine"),
    Param("zoneid", "uuid", True, "availability zone for the virtual machine"),
    Param("name", "string", False, "host name for the virtual machine"),
    Param("displayname", "string", False, "an optional user generated name for the virtual machine"),
    Param("hostid", "uuid", False, "destination Host ID to deploy the VM to - parameter available for root admin only"),
    Param("affinitygroupids", "list", False, "comma separated list of affinity groups id"),
    Param("affinitygroupnames", "list", False, "comma separated list of affinity groups names"),
    Param("ipaddress", "string", False, "the ip address for default vm's network"),
    Param("startvm", "boolean", False, "true by default, start the VM after creation"),
    Param("networkids", "list", False, "list of network ids used by virtual machine"),
    Param("account", "string", False, "an optional account for the virtual machine"),
    Param("domainid", "uuid", False, "an optional domainId for the virtual machine"),
    Param("keypair", "string", False, "name of the ssh key pair used to login to the virtual machine"),
    Param("userdata", "string", False, "an optional binary data that can be sent to the virtual machine")),
    isasync=True, related="startVirtualMachine,stopVirtualMachine,destroyVirtualMachine,listVirtualMachines")
def deploy(req: Request) -> dict[str, Any]:
    sim, db = req.sim, req.sim.db
    zone = req.entity("zoneid", "zones", required=True)
    offering = req.entity("serviceofferingid", "offerings", required=True)
    template = req.entity("templateid", "templates", required=True)
    assert zone is not None and offering is not None and template is not None
    host = None
    if req.get("hostid") is not None:
        if not req.caller.is_root_admin:
            raise ApiError(ACCOUNT_ERROR, "Parameter hostid can only be specified by a Root Admin, permission denied",
                           CS_PERMISSION_DENIED)
        host = req.entity("hostid", "hosts")
        assert host is not None
        if host["zone_id"] != zone["id"]:
            raise ApiError(PARAM_ERROR, f"Host {host['name']} does not belong to zone {zone['name']}")
    if zone["allocationstate"] != "Enabled" and not req.caller.is_root_admin:
        raise ApiError(ACCOUNT_ERROR, f"Cannot perform this operation, Zone is currently disabled: {zone['id']}",
                       CS_PERMISSION_DENIED)
    groups = _resolve_groups(req)
    name = req.get("name")
    if name is not None and not _HOSTNAME.match(name):
        raise ApiError(PARAM_ERROR, "Invalid name. Vm name can contain ASCII letters 'a' through 'z', the digits '0' "
                                    "through '9', and the hyphen ('-'), must be between 1 and 63 characters long, "
                                    "and can't start or end with \"-\" and can't start with digit")
    vm_id = str(uuid.uuid4())
    now = time.time()
    with db.tx():
        if name is not None and db.one("SELECT 1 FROM vms WHERE name=? AND zone_id=? AND removed IS NULL",
                                       (name, zone["id"])):
            raise ApiError(PARAM_ERROR, f"The vm with hostName {name} already exists in the network domain: "
                                        f"cs{req.caller.account_id}cloud.internal; network={zone['name']}-guest")
        ip = _pick_ip(req, zone)
        vm_name = name or f"VM-{vm_id}"
        db.run("INSERT INTO vms(id, name, displayname, account, zone_id, offering_id, template_id, state, ip, "
               "created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
               (vm_id, vm_name, req.get("displayname") or vm_name, req.caller.name, zone["id"], offering["id"],
                template["id"], "Stopped", ip, now, now))
        seq = db.scalar("SELECT seq FROM vms WHERE id=?", (vm_id,))
        db.run("UPDATE vms SET instancename=? WHERE id=?", (f"i-{req.caller.account_id}-{seq}-VM", vm_id))
        for g in groups:
            db.run("INSERT OR IGNORE INTO vm_affinity(vm_id, group_id) VALUES (?,?)", (vm_id, g["id"]))
    job_id = sim.jobs.submit("deployVirtualMachine", req.params, req.caller, "VirtualMachine", vm_id)
    return {"id": vm_id, "jobid": job_id}


@job("deployVirtualMachine")
def run_deploy(sim: SimContext, job: Job) -> dict[str, Any]:
    vm_id = job.instance_id
    assert vm_id is not None
    with vm_work(vm_id):
        vm = load_vm(sim, vm_id)
        if vm["state"] == "Error":
            raise no_deployment(sim, vm)
        if job.params.get("startvm", "true").lower() != "false":
            requested = job.params.get("hostid") if job.account.is_root_admin else None
            start_vm(sim, vm_id, requested, first_deploy=True, consider_last_host=False)
        return vm_result(sim, vm_id, job.account)


# -- start / stop / destroy ---------------------------------------------------------------------------
@command("startVirtualMachine", "Starts a virtual machine.", (
    Param("id", "uuid", True, "The ID of the virtual machine"),
    Param("hostid", "uuid", False, "destination Host ID to deploy the VM to - parameter available for root admin only"),
    Param("considerlasthost", "boolean", False, "True by default, CloudStack will firstly try to start the VM on the "
          "last host where it run on before stopping")), isasync=True)
def start(req: Request) -> dict[str, Any]:
    vm = req.entity("id", "vms", required=True, visible=_vm_visible(req))
    assert vm is not None
    if req.get("hostid") is not None:
        if not req.caller.is_root_admin:
            raise ApiError(ACCOUNT_ERROR, "Parameter hostid can only be specified by a Root Admin, permission denied",
                           CS_PERMISSION_DENIED)
        req.entity("hostid", "hosts")
    if vm["state"] in ("Destroyed", "Expunging", "Error"):
        raise ApiError(PARAM_ERROR, f"Unable to start {_describe(vm)} in state {vm['state']}")
    return {"jobid": req.sim.jobs.submit("startVirtualMachine", req.params, req.caller, "VirtualMachine", vm["id"])}


@job("startVirtualMachine")
def run_start(sim: SimContext, job: Job) -> dict[str, Any]:
    vm_id = job.params["id"]
    with vm_work(vm_id):
        requested = job.params.get("hostid") if job.account.is_root_admin else None
        start_vm(sim, vm_id, requested, first_deploy=False,
                 consider_last_host=job.params.get("considerlasthost", "true").lower() != "false")
        return vm_result(sim, vm_id, job.account)


@command("stopVirtualMachine", "Stops a virtual machine.", (
    Param("id", "uuid", True, "The ID of the virtual machine"),
    Param("forced", "boolean", False, "Force stop the VM")), isasync=True)
def stop(req: Request) -> dict[str, Any]:
    vm = req.entity("id", "vms", required=True, visible=_vm_visible(req))
    assert vm is not None
    if vm["state"] in ("Destroyed", "Expunging"):
        raise ApiError(PARAM_ERROR, f"Unable to stop {_describe(vm)} in state {vm['state']}")
    return {"jobid": req.sim.jobs.submit("stopVirtualMachine", req.params, req.caller, "VirtualMachine", vm["id"])}


@job("stopVirtualMachine")
def run_stop(sim: SimContext, job: Job) -> dict[str, Any]:
    vm_id = job.params["id"]
    with vm_work(vm_id):
        stop_vm(sim, vm_id, forced=_flag(job.params, "forced"))
        return vm_result(sim, vm_id, job.account)


@command("destroyVirtualMachine", "Destroys a virtual machine.", (
    Param("id", "uuid", True, "The ID of the virtual machine"),
    Param("expunge", "boolean", False, "If true is passed, the vm is expunged immediately"),
    Param("volumeids", "list", False, "Comma separated list of UUIDs for volumes that will be deleted")),
    isasync=True)
def destroy(req: Request) -> dict[str, Any]:
    vm = req.entity("id", "vms", required=True, visible=_vm_visible(req))
    assert vm is not None
    return {"jobid": req.sim.jobs.submit("destroyVirtualMachine", req.params, req.caller, "VirtualMachine", vm["id"])}


@job("destroyVirtualMachine")
def run_destroy(sim: SimContext, job: Job) -> dict[str, Any]:
    vm_id = job.params["id"]
    with vm_work(vm_id):
        vm = load_vm(sim, vm_id)
        if vm["state"] not in ("Destroyed", "Expunging"):
            stop_vm(sim, vm_id, forced=True)
            with sim.db.tx():
                sim.db.run("UPDATE vms SET state='Destroyed', updated=? WHERE id=? AND removed IS NULL",
                           (time.time(), vm_id))
        result = vm_result(sim, vm_id, job.account)
    if job.params.get("expunge", "false").lower() == "true" and load_vm(sim, vm_id)["removed"] is None:
        expunge_vm(sim, vm_id)
    return result


@command("expungeVirtualMachine", "Expunge a virtual machine. Once expunged, it cannot be recovered.", (
    Param("id", "uuid", True, "The ID of the virtual machine"),), isasync=True, admin_only=True)
def expunge(req: Request) -> dict[str, Any]:
    vm = req.entity("id", "vms", required=True)
    assert vm is not None
    if vm["state"] != "Destroyed":
        raise ApiError(PARAM_ERROR, "Please destroy vm with specified vmId before expunge")
    return {"jobid": req.sim.jobs.submit("expungeVirtualMachine", req.params, req.caller, "VirtualMachine", vm["id"])}


@job("expungeVirtualMachine")
def run_expunge(sim: SimContext, job: Job) -> dict[str, Any]:
    vm = load_vm(sim, job.params["id"])
    if vm["removed"] is None:
        expunge_vm(sim, vm["id"])
    return {"success": True}


@command("recoverVirtualMachine", "Recovers a virtual machine.", (
    Param("id", "uuid", True, "The ID of the virtual machine"),))
def recover(req: Request) -> dict[str, Any]:
    vm = req.entity("id", "vms", required=True, visible=_vm_visible(req))
    assert vm is not None
    if vm["state"] != "Destroyed":
        raise ApiError(PARAM_ERROR, f"Unable to recover {_describe(vm)}: it is not in Destroyed state")
    with req.sim.db.tx():
        req.sim.db.run("UPDATE vms SET state='Stopped', updated=? WHERE id=?", (time.time(), vm["id"]))
    return vm_result(req.sim, vm["id"], req.caller)


# -- migrate ------------------------------------------------------------------------------------------
@command("migrateVirtualMachine", "Attempts Migration of a VM to a different host or Root volume of the vm to a "
         "different storage pool", (
    Param("virtualmachineid", "uuid", True, "the ID of the virtual machine"),
    Param("hostid", "uuid", False, "Destination Host ID to migrate VM to"),
    Param("autoselect", "boolean", False, "Automatically select a destination host which do not require storage "
          "migration, if hostId and storageId are not specified. false by default")),
    isasync=True, admin_only=True)
def migrate(req: Request) -> dict[str, Any]:
    vm = req.entity("virtualmachineid", "vms", required=True)
    assert vm is not None
    host = req.entity("hostid", "hosts")
    if vm["state"] != "Running":
        raise ApiError(PARAM_ERROR, f"VM is not Running, unable to migrate the vm {_describe(vm)}")
    if host is not None and host["id"] == vm["host_id"]:
        raise ApiError(PARAM_ERROR, "Cannot migrate VM, VM is already present on this host, please specify valid "
                                    "destination host to migrate the VM")
    if host is not None and host["zone_id"] != vm["zone_id"]:
        raise ApiError(PARAM_ERROR, f"Cannot migrate VM, destination host {host['name']} is not in the VM's zone")
    return {"jobid": req.sim.jobs.submit("migrateVirtualMachine", req.params, req.caller, "VirtualMachine", vm["id"])}


@job("migrateVirtualMachine")
def run_migrate(sim: SimContext, job: Job) -> dict[str, Any]:
    vm_id = job.params["virtualmachineid"]
    with vm_work(vm_id):
        migrate_vm(sim, vm_id, job.params.get("hostid"))
        return vm_result(sim, vm_id, job.account)


# -- list ---------------------------------------------------------------------------------------------
@command("listVirtualMachines", "List the virtual machines owned by the account.", common_list_params(
    Param("id", "uuid", False, "the ID of the virtual machine"), Param("ids", "list", False, "the IDs of the virtual "
          "machines, mutually exclusive with id"),
    Param("name", "string", False, "name of the virtual machine"), Param("state", "string", False, "state of the VM"),
    Param("zoneid", "uuid", False, "the availability zone ID"), Param("podid", "uuid", False, "the pod ID"),
    Param("clusterid", "uuid", False, "the cluster ID"), Param("hostid", "uuid", False, "the host ID"),
    Param("templateid", "uuid", False, "list vms by template"),
    Param("serviceofferingid", "uuid", False, "list by the service offering"),
    Param("affinitygroupid", "uuid", False, "list vms by affinity group"),
    Param("listall", "boolean", False, "If set to false, list only resources belonging to the command's caller"),
    Param("account", "string", False, "list resources by account"),
    Param("tags", "map", False, "List resources by tags (key/value pairs)"),
    Param("details", "list", False, "comma separated list of vm details requested")))
def list_vms(req: Request) -> dict[str, Any]:
    db = req.sim.db
    cat = Catalog(req.sim, listing=True)
    ids = set(req.ids("ids"))
    state = req.get("state")
    group_members: set[str] | None = None
    if req.get("affinitygroupid"):
        group_members = {r["vm_id"] for r in db.all("SELECT vm_id FROM vm_affinity WHERE group_id=?",
                                                    (req.get("affinitygroupid"),))}
    wanted_tags = req.map("tags")
    orphaned = {n.strip() for n in req.sim.config.get("lab.orphaned.vms").split(",") if n.strip()}
    out = []
    for v in db.all("SELECT * FROM vms WHERE removed IS NULL ORDER BY seq"):
        if not req.owned(v) and not (req.get("id") and req.caller.is_root_admin):
            continue
        if v["name"] in orphaned:
            continue
        if req.get("account") and v["account"] != req.get("account"):
            continue
        if req.get("id") and v["id"] != req.get("id"):
            continue
        if ids and v["id"] not in ids:
            continue
        if req.get("name") and req.get("name").lower() not in v["name"].lower():
            continue
        if state is None:
            if v["state"] == "Destroyed" and not req.caller.is_root_admin:
                continue
        elif state.lower() == "present":
            if v["state"] in ("Destroyed", "Expunging"):
                continue
        elif v["state"].lower() != state.lower():
            continue
        host = cat.hosts.get(v["host_id"]) if v["host_id"] else None
        if req.get("hostid") and (host is None or host["id"] != req.get("hostid")):
            continue
        if req.get("podid") and (host is None or host["pod_id"] != req.get("podid")):
            continue
        if req.get("clusterid") and (host is None or host["cluster_id"] != req.get("clusterid")):
            continue
        if req.get("zoneid") and v["zone_id"] != req.get("zoneid"):
            continue
        if req.get("templateid") and v["template_id"] != req.get("templateid"):
            continue
        if req.get("serviceofferingid") and v["offering_id"] != req.get("serviceofferingid"):
            continue
        if group_members is not None and v["id"] not in group_members:
            continue
        if not keyword_match(req, v["name"], v["displayname"]):
            continue
        if wanted_tags:
            have = {(t["key"], t["value"]) for t in db.all(
                "SELECT key, value FROM tags WHERE resource_id=? AND resource_type='UserVm'", (v["id"],))}
            if not all(any(k == t.get("key") and (t.get("value") is None or val == t.get("value")) for k, val in have)
                       for t in wanted_tags):
                continue
        out.append(cat.vm(v, req.caller))
    return req.listed("virtualmachine", out)


# -- reboot / affinity change -------------------------------------------------------------------------
@command("rebootVirtualMachine", "Reboots a virtual machine.", (
    Param("id", "uuid", True, "The ID of the virtual machine"),
    Param("forced", "boolean", False, "Force reboot the VM")), isasync=True)
def reboot(req: Request) -> dict[str, Any]:
    vm = req.entity("id", "vms", required=True, visible=_vm_visible(req))
    assert vm is not None
    if vm["state"] != "Running":
        raise ApiError(PARAM_ERROR, f"Unable to reboot {_describe(vm)}: it is not Running (state {vm['state']})")
    return {"jobid": req.sim.jobs.submit("rebootVirtualMachine", req.params, req.caller, "VirtualMachine", vm["id"])}


@job("rebootVirtualMachine")
def run_reboot(sim: SimContext, job: Job) -> dict[str, Any]:
    """The guest is stopped and booted again on the same host; the VM stays Running throughout."""
    vm_id = job.params["id"]
    with vm_work(vm_id):
        vm = load_vm(sim, vm_id)
        if vm["state"] != "Running" or not vm["host_id"]:
            raise ApiError(INTERNAL_ERROR, f"Unable to reboot {_describe(vm)} in state {vm['state']}")
        stop_guest(sim.driver, vm_id, forced=_flag(job.params, "forced"))
        sim.driver.start_guest(_guest_spec(sim, vm, vm["host_id"]))
        sim.sleep(sim.config.number("lab.boot.delay.seconds"))
        return vm_result(sim, vm_id, job.account)


@command("updateVMAffinityGroup", "Updates the affinity/anti-affinity group associations of a virtual machine. The "
         "VM has to be stopped and restarted for the new properties to take effect.", (
    Param("id", "uuid", True, "The ID of the virtual machine"),
    Param("affinitygroupids", "list", False, "comma separated list of affinity groups id"),
    Param("affinitygroupnames", "list", False, "comma separated list of affinity groups names")), isasync=True)
def update_vm_affinity(req: Request) -> dict[str, Any]:
    vm = req.entity("id", "vms", required=True, visible=_vm_visible(req))
    assert vm is not None
    if vm["state"] != "Stopped":
        raise ApiError(PARAM_ERROR, f"Unable to update affinity groups of {_describe(vm)}: it must be Stopped")
    groups = _resolve_groups(req)
    params = req.params | {"affinitygroupids": ",".join(g["id"] for g in groups)}
    params.pop("affinitygroupnames", None)
    return {"jobid": req.sim.jobs.submit("updateVMAffinityGroup", params, req.caller, "VirtualMachine", vm["id"])}


@job("updateVMAffinityGroup")
def run_update_vm_affinity(sim: SimContext, job: Job) -> dict[str, Any]:
    vm_id = job.params["id"]
    wanted = [g for g in job.params.get("affinitygroupids", "").split(",") if g]
    with vm_work(vm_id), sim.db.tx():
        sim.db.run("DELETE FROM vm_affinity WHERE vm_id=?", (vm_id,))
        for gid in wanted:
            sim.db.run("INSERT OR IGNORE INTO vm_affinity(vm_id, group_id) VALUES (?,?)", (vm_id, gid))
    return vm_result(sim, vm_id, job.account)
