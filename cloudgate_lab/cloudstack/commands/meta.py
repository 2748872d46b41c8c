"""The API about the API: listApis (what cmk syncs), listCapabilities, async job queries, configuration."""

from __future__ import annotations

from typing import Any

from ..config import FAIL_PREFIX
from ..envelope import PARAM_ERROR, ApiError, invalid_value
from ..jobs import job_view
from ..registry import REGISTRY, Param, Request, command, common_list_params, keyword_match


@command("listApis", "lists all available apis on the server, provided by the Api Discovery plugin",
         (Param("name", "string", False, "API name"),))
def list_apis(req: Request) -> dict[str, Any]:
    wanted = req.get("name")
    out = []
    for name in sorted(REGISTRY):
        cmd = REGISTRY[name]
        if wanted is not None and name != wanted:
            continue
        if cmd.admin_only and not req.caller.is_root_admin:
            continue
        out.append({
            "name": name, "description": cmd.description, "since": "", "isasync": cmd.isasync,
            "related": cmd.related, "type": "",
            "params": [{"name": p.name, "description": p.description, "type": p.type, "length": 255,
                        "required": p.required, "since": "", "related": ""} for p in cmd.params],
            "response": [],
        })
    if wanted is not None and not out:
        raise ApiError(PARAM_ERROR, f"Api Discovery plugin was unable to find an api by that name or api is not "
                                    f"available for user: {wanted}")
    return req.listed("api", out)


@command("listCapabilities", "Lists capabilities")
def list_capabilities(req: Request) -> dict[str, Any]:
    return {"capability": {
        "securitygroupsenabled": False, "dynamicrolesenabled": True, "cloudstackversion": req.sim.release.version,
        "userpublictemplateenabled": True, "supportELB": "false", "projectinviterequired": False,
        "allowusercreateprojects": True, "customdiskofferingminsize": 1, "customdiskofferingmaxsize": 1024,
        "regionsecondaryenabled": False, "kvmsnapshotenabled": False, "allowuserviewdestroyedvm": False,
        "allowuserexpungerecovervm": False, "allowuserviewalldomainaccounts": False, "kubernetesserviceenabled": False,
        "kubernetesclusterexperimentalfeaturesenabled": False, "defaultuipagesize": 20, "apilimitinterval": 1,
        "apilimitmax": 1000000, "instancesstatsretentiontime": 720, "instancesstatsuseronly": False,
        "instancesdisksstatsretentionenabled": False, "instancesdisksstatsretentiontime": 720,
        "sharedfsvmmincpucount": 2, "sharedfsvmminramsize": 1024,
    }}


def _visible_job(req: Request, row: Any) -> bool:
    return req.caller.is_root_admin or row["account"] == req.caller.name


@command("queryAsyncJobResult", "Retrieves the current status of asynchronous job.",
         (Param("jobid", "uuid", True, "the ID of the asynchronous job"),))
def query_async_job_result(req: Request) -> dict[str, Any]:
    jobid = req.require("jobid")
    row = req.sim.db.one("SELECT * FROM jobs WHERE id=?", (jobid,))
    if row is None or not _visible_job(req, row):
        raise invalid_value(req.command, "jobid", jobid)
    return job_view(row, req.sim.account_named(row["account"]))


@command("listAsyncJobs", "Lists all pending asynchronous jobs for the account.", common_list_params(
    Param("startdate", "date", False, "the start date of the async job (use format \"yyyy-MM-dd'T'HH:mm:ss'+'SSSS\")"),
    Param("listall", "boolean", False, "If set to false, list only resources belonging to the command's caller"),
    Param("account", "string", False, "list resources by account")))
def list_async_jobs(req: Request) -> dict[str, Any]:
    from ..signing import parse_expires

    start = parse_expires(req.get("startdate") or "") if req.get("startdate") else None
    out = []
    for row in req.sim.db.all("SELECT * FROM jobs ORDER BY seq"):
        if not req.owned(row):
            continue
        if start is not None and row["created"] < start:
            continue
        if req.get("account") and row["account"] != req.get("account"):
            continue
        out.append(job_view(row, req.sim.account_named(row["account"])))
    return req.listed("asyncjobs", out)


def _config_view(row: dict[str, str]) -> dict[str, Any]:
    return {"category": row["category"], "name": row["name"], "value": row["value"],
            "description": row["description"], "isdynamic": True, "component": "management-server",
            "scope": "global"}


@command("listConfigurations", "Lists all configurations.", common_list_params(
    Param("name", "string", False, "lists configuration by name"),
    Param("category", "string", False, "lists configurations by category")), admin_only=True)
def list_configurations(req: Request) -> dict[str, Any]:
    name, category = req.get("name"), req.get("category")
    out = [
        _config_view(r) for r in req.sim.config.rows()
        if (name is None or name.lower() in r["name"].lower())
        and (category is None or category.lower() == (r["category"] or "").lower())
        and not (r["name"].startswith(FAIL_PREFIX) and not r["value"])
        and keyword_match(req, r["name"])
    ]
    return req.listed("configuration", out)


@command("updateConfiguration", "Updates a configuration.", (
    Param("name", "string", True, "the name of the configuration"),
    Param("value", "string", False, "the value of the configuration")), admin_only=True)
def update_configuration(req: Request) -> dict[str, Any]:
    name = req.require("name")
    value = req.params.get("value") or ""
    req.sim.config.update(name, value)
    row = next(r for r in req.sim.config.rows() if r["name"] == name)
    return {"configuration": _config_view(row)}
