"""Resource tags on user VMs: createTags / deleteTags (async) and listTags.

The suite tags what it creates (`cloudgate-run=<id>`) so a janitor can sweep it; tags must therefore
survive restarts and show on the VM's own `tags[]`.
"""

from __future__ import annotations

import time
from typing import Any

from ..context import SimContext
from ..envelope import PARAM_ERROR, ApiError
from ..jobs import Job
from ..registry import Param, Request, command, common_list_params, job
from ..views import Catalog

RESOURCE_TYPES = {"uservm": "UserVm"}


def _resource_type(req: Request) -> str:
    raw = req.require("resourcetype")
    canonical = RESOURCE_TYPES.get(raw.lower())
    if canonical is None:
        raise ApiError(PARAM_ERROR, f"Invalid resource type {raw}: the lab supports tags on UserVm only")
    return canonical


def _resources(req: Request) -> list[str]:
    ids = req.ids("resourceids")
    if not ids:
        raise ApiError(PARAM_ERROR, f"Unable to execute API command {req.command.lower()} due to missing parameter "
                                    "resourceids")
    for rid in ids:
        vm = req.sim.db.one("SELECT account FROM vms WHERE id=? AND removed IS NULL", (rid,))
        if vm is None or (vm["account"] != req.caller.name and not req.caller.is_root_admin):
            raise ApiError(PARAM_ERROR, f"Unable to find resource by id {rid} and type UserVm")
    return ids


@command("createTags", "Creates resource tag(s)", (
    Param("resourceids", "list", True, "list of resources to create the tags for"),
    Param("resourcetype", "string", True, "type of the resource"),
    Param("tags", "map", True, "Map of tags (key/value pairs)"),
    Param("customer", "string", False, "identifies client specific tag")), isasync=True)
def create_tags(req: Request) -> dict[str, Any]:
    rtype, ids = _resource_type(req), _resources(req)
    tags = req.map("tags")
    if not tags:
        raise ApiError(PARAM_ERROR, "Unable to execute API command createtags due to missing parameter tags")
    for t in tags:
        if not t.get("key"):
            raise ApiError(PARAM_ERROR, "Tag key can't be empty")
        for rid in ids:
            if req.sim.db.one("SELECT 1 FROM tags WHERE resource_id=? AND resource_type=? AND key=?",
                              (rid, rtype, t["key"])):
                raise ApiError(PARAM_ERROR, f"tag {t['key']} already on {rtype} with id {rid}")
    return {"jobid": req.sim.jobs.submit("createTags", req.params, req.caller, None, None)}


@job("createTags")
def run_create_tags(sim: SimContext, job: Job) -> dict[str, Any]:
    req = Request("createTags", job.params, job.account, sim)
    with sim.db.tx():
        for rid in req.ids("resourceids"):
            for t in req.map("tags"):
                sim.db.run("INSERT OR IGNORE INTO tags(resource_id, resource_type, key, value, account, customer, "
                           "created) VALUES (?,?,?,?,?,?,?)",
                           (rid, RESOURCE_TYPES[job.params["resourcetype"].lower()], t["key"], t.get("value", ""),
                            job.account.name, job.params.get("customer"), time.time()))
    return {"success": True}


@command("deleteTags", "Deleting resource tag(s)", (
    Param("resourceids", "list", True, "Delete tags for resource id(s)"),
    Param("resourcetype", "string", True, "Delete tag by resource type"),
    Param("tags", "map", False, "Delete tags matching key/value pairs")), isasync=True)
def delete_tags(req: Request) -> dict[str, Any]:
    _resource_type(req)
    _resources(req)
    return {"jobid": req.sim.jobs.submit("deleteTags", req.params, req.caller, None, None)}


@job("deleteTags")
def run_delete_tags(sim: SimContext, job: Job) -> dict[str, Any]:
    req = Request("deleteTags", job.params, job.account, sim)
    rtype = RESOURCE_TYPES[job.params["resourcetype"].lower()]
    tags = req.map("tags")
    with sim.db.tx():
        for rid in req.ids("resourceids"):
            if not tags:
                sim.db.run("DELETE FROM tags WHERE resource_id=? AND resource_type=?", (rid, rtype))
            for t in tags:
                if t.get("value") is None:
                    sim.db.run("DELETE FROM tags WHERE resource_id=? AND resource_type=? AND key=?",
                               (rid, rtype, t.get("key")))
                else:
                    sim.db.run("DELETE FROM tags WHERE resource_id=? AND resource_type=? AND key=? AND value=?",
                               (rid, rtype, t.get("key"), t["value"]))
    return {"success": True}


@command("listTags", "List resource tag(s)", common_list_params(
    Param("resourcetype", "string", False, "list by resource type"),
    Param("resourceid", "string", False, "list by resource id"), Param("key", "string", False, "list by key"),
    Param("value", "string", False, "list by value"), Param("customer", "string", False, "list by customer name"),
    Param("listall", "boolean", False, "If set to false, list only resources belonging to the command's caller"),
    Param("account", "string", False, "list resources by account")))
def list_tags(req: Request) -> dict[str, Any]:
    cat = Catalog(req.sim)
    out = []
    for t in req.sim.db.all("SELECT * FROM tags ORDER BY seq"):
        if not req.owned(t):
            continue
        if req.get("resourcetype") and t["resource_type"].lower() != req.get("resourcetype").lower():
            continue
        if req.get("resourceid") and t["resource_id"] != req.get("resourceid"):
            continue
        if req.get("key") and t["key"] != req.get("key"):
            continue
        if req.get("value") and t["value"] != req.get("value"):
            continue
        if req.get("customer") and t["customer"] != req.get("customer"):
            continue
        if req.get("account") and t["account"] != req.get("account"):
            continue
        out.append(cat.tag(t))
    return req.listed("tag", out)
