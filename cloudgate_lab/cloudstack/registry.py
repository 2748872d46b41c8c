"""The command registry: every API command, its declared params (which also feed listApis and the
generic missing-parameter check), its sync handler and, for async commands, its job runner.

The command modules (commands/*.py) register into it with `@command` and `@job`; importing the package
`commands` imports them all, so whoever reads `REGISTRY` through it (api.py, simulator.py) sees every
command. This module sits below the commands and imports none of them, nor the simulator: a handler
reaches the simulator through `Request.sim`, typed as context.SimContext.

Handlers receive a `Request` (params with lowercased names, first value wins, empty values dropped —
CloudStack ignores empty params) and return the payload put under `<command>response`.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .accounts import Account
from .context import SimContext
from .envelope import PARAM_ERROR, ApiError, invalid_value, list_payload, missing_parameter
from .jobs import JobRunner

MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Param:
    name: str
    type: str = "string"  # uuid | string | boolean | integer | list | map | long
    required: bool = False
    description: str = ""


@dataclass
class Request:
    command: str
    params: dict[str, str]
    caller: Account
    sim: SimContext

    def get(self, name: str) -> str | None:
        return self.params.get(name.lower())

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise missing_parameter(self.command, name)
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.get(name)
        return default if value is None else value.lower() == "true"

    def integer(self, name: str) -> int | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise invalid_value(self.command, name, value) from None

    def ids(self, name: str) -> list[str]:
        value = self.get(name)
        return [v.strip() for v in value.split(",") if v.strip()] if value else []

    def map(self, name: str) -> list[dict[str, str]]:
        """`tags[0].key=env&tags[0].value=ci` -> [{"key": "env", "value": "ci"}], in index order."""
        pattern = re.compile(rf"^{re.escape(name.lower())}\[(\d+)\]\.(\w+)$")
        entries: dict[int, dict[str, str]] = {}
        for key, value in self.params.items():
            m = pattern.match(key)
            if m:
                entries.setdefault(int(m.group(1)), {})[m.group(2)] = value
        return [entries[i] for i in sorted(entries)]

    def entity(self, name: str, table: str, *, required: bool = False,
               visible: Callable[[sqlite3.Row], bool] | None = None) -> sqlite3.Row | None:
        """Resolve a UUID param to its row; an unknown or malformed UUID is CloudStack's 431."""
        value = self.require(name) if required else self.get(name)
        if value is None:
            return None
        extra = " AND removed IS NULL" if table in ("vms", "affinity_groups") else ""
        row = self.sim.db.one(f"SELECT * FROM {table} WHERE id=?{extra}", (value,))
        if row is None or (visible is not None and not visible(row)):
            raise invalid_value(self.command, name, value)
        return row

    def page(self, items: list[Any]) -> tuple[list[Any], int]:
        """page/pagesize as BaseListCmd applies them; pagesize above the maximum is an error."""
        size = self.integer("pagesize")
        number = self.integer("page")
        limit = int(self.sim.config.number("default.page.size")) or MAX_PAGE_SIZE
        if size is not None and (size > limit or size < -1 or size == 0):
            raise ApiError(PARAM_ERROR, f"Page size can't exceed max allowed page size value: {limit}")
        if number is not None and number < 1:
            raise ApiError(PARAM_ERROR, "Page number must be greater than 0")
        if number is None or size in (None, -1):
            return items, len(items)
        start = (number - 1) * size
        return items[start:start + size], len(items)

    def listed(self, object_name: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        page, total = self.page(items)
        return list_payload(object_name, page, total)

    def owned(self, row: sqlite3.Row) -> bool:
        """listall semantics: even a root admin sees only its own account's objects without listall=true."""
        if self.caller.is_root_admin and self.flag("listall"):
            return True
        return row["account"] == self.caller.name


Handler = Callable[[Request], dict[str, Any]]


@dataclass(frozen=True)
class Command:
    name: str
    description: str
    handler: Handler
    params: tuple[Param, ...] = ()
    isasync: bool = False
    admin_only: bool = False
    related: str = ""
    response_object: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


REGISTRY: dict[str, Command] = {}
RUNNERS: dict[str, JobRunner] = {}


def command(name: str, description: str, params: tuple[Param, ...] = (), *, isasync: bool = False,
            admin_only: bool = False, related: str = "") -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        REGISTRY[name] = Command(name, description, fn, params, isasync, admin_only, related)
        return fn

    return register


def job(name: str) -> Callable[[JobRunner], JobRunner]:
    """Register the body of an async command's job (runs in the worker pool, also after a restart)."""

    def register(fn: JobRunner) -> JobRunner:
        RUNNERS[name] = fn
        return fn

    return register


def runner_for(name: str) -> JobRunner | None:
    return RUNNERS.get(name)


# UUID params resolve to entities before the command runs: an unknown id is a 431 even on list filters.
_ENTITY_OF_PARAM = {
    "zoneid": "zones", "podid": "pods", "clusterid": "clusters", "hostid": "hosts", "serviceofferingid": "offerings",
    "templateid": "templates", "virtualmachineid": "vms", "affinitygroupid": "affinity_groups",
}
_ENTITY_OF_ID = {
    "listZones": "zones", "listPods": "pods", "listClusters": "clusters", "listHosts": "hosts",
    "listSystemVms": "system_vms", "listServiceOfferings": "offerings", "listTemplates": "templates",
    "listNetworks": "networks", "listVirtualMachines": "vms", "listAffinityGroups": "affinity_groups",
}


def check_params(cmd: Command, req: Request) -> None:
    """ParamProcessWorker: required params present, typed params parsable, UUIDs naming existing entities."""
    for p in cmd.params:
        value = req.get(p.name)
        if p.type == "map":
            value = "present" if any(k.startswith(f"{p.name.lower()}[") for k in req.params) else None
        if value is None:
            if p.required:
                raise missing_parameter(cmd.name, p.name)
            continue
        if p.type == "uuid":
            try:
                uuid.UUID(value)
            except ValueError:
                raise invalid_value(cmd.name, p.name, value) from None
            table = _ENTITY_OF_ID.get(cmd.name) if p.name == "id" else _ENTITY_OF_PARAM.get(p.name)
            if table is not None:
                req.entity(p.name, table)
        elif p.type in ("integer", "long"):
            req.integer(p.name)


def common_list_params(*extra: Param) -> tuple[Param, ...]:
    return (*extra,
            Param("keyword", "string", False, "List by keyword"),
            Param("page", "integer", False, "the page number of the list"),
            Param("pagesize", "integer", False, "the number of entries per page"))


def keyword_match(req: Request, *values: str | None) -> bool:
    kw = req.get("keyword")
    return kw is None or any(kw.lower() in (v or "").lower() for v in values)

