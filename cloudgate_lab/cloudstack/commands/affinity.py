"""Affinity groups: create (async-create: {id, jobid}), list, delete, and the supported types."""

from __future__ import annotations

import time
import uuid
from typing import Any

from ..allocator import ANTI_AFFINITY
from ..context import SimContext
from ..envelope import PARAM_ERROR, ApiError
from ..jobs import Job
from ..registry import Param, Request, command, common_list_params, job, keyword_match
from ..views import Catalog

AFFINITY_TYPES = (ANTI_AFFINITY,)


@command("listAffinityGroupTypes", "Lists affinity group types available", common_list_params())
def list_types(req: Request) -> dict[str, Any]:
    return req.listed("affinityGroupType", [{"type": t} for t in AFFINITY_TYPES])


@command("createAffinityGroup", "Creates an affinity/anti-affinity group", (
    Param("name", "string", True, "name of the affinity group"),
    Param("type", "string", True, "Type of the affinity group from the available affinity/anti-affinity group types"),
    Param("description", "string", False, "optional description of the affinity group"),
    Param("account", "string", False, "an account for the affinity group"),
    Param("domainid", "uuid", False, "domainId of the account owning the affinity group")), isasync=True)
def create_group(req: Request) -> dict[str, Any]:
    name, gtype = req.require("name"), req.require("type")
    if gtype not in AFFINITY_TYPES:
        raise ApiError(PARAM_ERROR, f"Unable to create affinity group, invalid affinity group type{gtype}")
    db = req.sim.db
    group_id = str(uuid.uuid4())
    with db.tx():
        if db.one("SELECT 1 FROM affinity_groups WHERE name=? AND account=? AND removed IS NULL",
                  (name, req.caller.name)):
            raise ApiError(PARAM_ERROR, f"Unable to create affinity group, a group with name {name} already exists.")
        db.run("INSERT INTO affinity_groups(id, name, type, description, account, created) VALUES (?,?,?,?,?,?)",
               (group_id, name, gtype, req.get("description"), req.caller.name, time.time()))
    job_id = req.sim.jobs.submit("createAffinityGroup", req.params, req.caller, "AffinityGroup", group_id)
    return {"id": group_id, "jobid": job_id}


@job("createAffinityGroup")
def run_create_group(sim: SimContext, job: Job) -> dict[str, Any]:
    row = sim.db.one("SELECT * FROM affinity_groups WHERE id=?", (job.instance_id,))
    if row is None or row["removed"] is not None:
        raise ApiError(PARAM_ERROR, "Unable to create affinity group: it was removed meanwhile")
    return {"affinitygroup": Catalog(sim).affinity_group(row)}


@command("deleteAffinityGroup", "Deletes affinity group", (
    Param("id", "uuid", False, "The ID of the affinity group. Mutually exclusive with name parameter"),
    Param("name", "string", False, "The name of the affinity group. Mutually exclusive with ID parameter"),
    Param("account", "string", False, "the account of the affinity group"),
    Param("domainid", "uuid", False, "the domain ID of account owning the affinity group")), isasync=True)
def delete_group(req: Request) -> dict[str, Any]:
    db = req.sim.db
    gid, name = req.get("id"), req.get("name")
    if gid is None and name is None:
        raise ApiError(PARAM_ERROR, "Either ID or name parameter is required by deleteAffinityGroup command")
    if gid is not None and name is not None:
        raise ApiError(PARAM_ERROR, "Either ID or name parameter is required by deleteAffinityGroup command")
    if gid is not None:
        row = db.one("SELECT * FROM affinity_groups WHERE id=? AND removed IS NULL", (gid,))
    else:
        row = db.one("SELECT * FROM affinity_groups WHERE name=? AND account=? AND removed IS NULL",
                     (name, req.caller.name))
    if row is None or (row["account"] != req.caller.name and not req.caller.is_root_admin):
        raise ApiError(PARAM_ERROR, f"Unable to find affinity group by {'id ' + gid if gid else 'name ' + str(name)}")
    return {"jobid": req.sim.jobs.submit("deleteAffinityGroup", req.params | {"id": row["id"]}, req.caller,
                                         "AffinityGroup", row["id"])}


@job("deleteAffinityGroup")
def run_delete_group(sim: SimContext, job: Job) -> dict[str, Any]:
    with sim.db.tx():
        sim.db.run("UPDATE affinity_groups SET removed=? WHERE id=? AND removed IS NULL", (time.time(), job.params["id"]))
        sim.db.run("DELETE FROM vm_affinity WHERE group_id=?", (job.params["id"],))
    return {"success": True}


@command("listAffinityGroups", "Lists affinity groups", common_list_params(
    Param("id", "uuid", False, "list the affinity group by the ID provided"),
    Param("name", "string", False, "lists affinity groups by name"),
    Param("type", "string", False, "lists affinity groups by type"),
    Param("virtualmachineid", "uuid", False, "lists affinity groups by virtual machine ID"),
    Param("listall", "boolean", False, "If set to false, list only resources belonging to the command's caller"),
    Param("account", "string", False, "list resources by account")))
def list_groups(req: Request) -> dict[str, Any]:
    db = req.sim.db
    cat = Catalog(req.sim, listing=True)
    vm_groups: set[str] | None = None
    if req.get("virtualmachineid"):
        vm_groups = {r["group_id"] for r in db.all("SELECT group_id FROM vm_affinity WHERE vm_id=?",
                                                   (req.get("virtualmachineid"),))}
    out = []
    for g in db.all("SELECT * FROM affinity_groups WHERE removed IS NULL ORDER BY seq"):
        if not req.owned(g) and not (req.get("id") and req.caller.is_root_admin):
            continue
        if req.get("id") and g["id"] != req.get("id"):
            continue
        if req.get("name") and g["name"] != req.get("name"):
            continue
        if req.get("type") and g["type"] != req.get("type"):
            continue
        if req.get("account") and g["account"] != req.get("account"):
            continue
        if vm_groups is not None and g["id"] not in vm_groups:
            continue
        if keyword_match(req, g["name"]):
            out.append(cat.affinity_group(g))
    return req.listed("affinitygroup", out)
