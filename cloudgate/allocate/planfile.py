"""The plan `cloudgate place --target` writes and `cloudgate deploy-plan` reads: a JSON document.

It carries everything the deploy needs (zone, offering, template, host per VM) and the sizes it
planned with, so `deploy-plan` can judge the plan again on the estate as it is by then and refuse,
naming the host, a plan that no longer fits (cloudgate.allocate.stale) rather than half-apply it.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from cloudgate.placement.errors import PlacementInputError
from cloudgate.placement.loading import parse, read_document

PLAN_VERSION = 1


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlannedGroup(_Doc):
    group: str
    offering: str
    offering_id: str
    template: str
    flash_gib: int
    cpu_mhz: int
    memory_mib: int


class PlannedVM(_Doc):
    name: str
    group: str
    datacenter: str
    zone: str
    host_id: str
    host_name: str
    rack: str
    why: str


class PlanDoc(_Doc):
    """Version 1 of the plan file."""

    version: int = PLAN_VERSION
    target: str
    made_at: str
    method: str
    groups: list[PlannedGroup]
    vms: list[PlannedVM] = Field(min_length=1)
    spread: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def group(self, name: str) -> PlannedGroup:
        return next(g for g in self.groups if g.group == name)


def write_plan(plan: PlanDoc, path: Path) -> None:
    path.write_text(json.dumps(plan.model_dump(), indent=2) + "\n", encoding="utf-8")


def read_plan(path: str | Path) -> PlanDoc:
    data = read_document(path)
    if isinstance(data, dict) and data.get("version", PLAN_VERSION) != PLAN_VERSION:
        raise PlacementInputError(str(path), f"plan version {data.get('version')!r}; this cloudgate reads "
                                             f"version {PLAN_VERSION} (make the plan again)")
    plan = parse(PlanDoc, data, str(path))
    names = [vm.name for vm in plan.vms]
    if len(set(names)) != len(names):
        raise PlacementInputError(str(path), "a VM name appears twice")
    missing = sorted({vm.group for vm in plan.vms} - {g.group for g in plan.groups})
    if missing:
        raise PlacementInputError(str(path), f"vms name group(s) {', '.join(missing)} the groups list lacks")
    return plan
