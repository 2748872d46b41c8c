"""What a placement means for the estate and for the operator: apply it, print it, export it.

The JSON plan carries, per VM, the ``hostid`` to pass to CloudStack's ``deployVirtualMachine`` (or
``migrateVirtualMachine`` for an evacuation), so a deploy script needs nothing else.
"""

from __future__ import annotations

import json
from typing import Any

from .model import Estate, ExistingVM, Host, PlacementResult, Request
from .units import fmt_mib


def apply_result(estate: Estate, result: PlacementResult) -> Estate:
    """The estate after the plan is carried out (the input is not modified).

    For an evacuation the emptied host goes to ``maintenance`` if it was enabled, which is what an
    operator does before working on it; a down host stays down.
    """
    if not result.feasible:
        return estate
    specs = {vm.name: vm for vm in result.vms}
    moving = set(result.assignments)
    incoming: dict[str, list[ExistingVM]] = {}
    for name, host_id in result.assignments.items():
        vm = specs[name]
        incoming.setdefault(host_id, []).append(
            ExistingVM(id=name, cpu=vm.cpu, memory_mib=vm.memory_mib, flash_gib=vm.flash_gib, group=vm.group)
        )
    hosts: list[Host] = []
    for host in estate.hosts:
        keep = [vm for vm in host.vms if vm.id not in moving]
        update: dict[str, Any] = {}
        if len(keep) != len(host.vms) or host.id in incoming:
            update["vms"] = keep + incoming.get(host.id, [])
        if host.id == result.evacuated_host and host.state == "enabled":
            update["state"] = "maintenance"
        hosts.append(host.model_copy(update=update) if update else host)
    return estate.model_copy(update={"hosts": hosts})


def plan_rows(result: PlacementResult, estate: Estate) -> list[dict[str, Any]]:
    """One row per requested VM, in request order; unplaced VMs have host None."""
    by_id = {h.id: h for h in estate.hosts}
    rows = []
    for vm in result.vms:
        hid = result.assignments.get(vm.name)
        host = by_id.get(hid) if hid else None
        rows.append(
            {
                "vm": vm.name,
                "group": vm.group,
                "host_id": hid,
                "datacenter": host.datacenter if host else vm.datacenter,
                "rack": host.rack if host else None,
                "cpu": vm.cpu,
                "memory_mib": vm.memory_mib,
                "flash_gib": vm.flash_gib,
            }
        )
    return rows


def plan_to_json(result: PlacementResult, estate: Estate, request: Request | None = None) -> str:
    """Machine-readable plan: ``{"feasible", "reason", "placements": [...], "deploy": [...]}``."""
    rows = plan_rows(result, estate)
    command = "migrateVirtualMachine" if result.evacuated_host else "deployVirtualMachine"
    doc: dict[str, Any] = {
        "feasible": result.feasible,
        "reason": result.reason,
        "method": result.method,
        "evacuated_host": result.evacuated_host,
        "groups": [g.group for g in request.groups]
        if request
        else sorted({r["group"] for r in rows if r["group"]}),
        "placements": rows,
        "deploy": [
            {"command": command, "name": r["vm"], "hostid": r["host_id"]}
            for r in rows
            if r["host_id"] is not None
        ],
        "summary": {
            "vms": len(rows),
            "placed": sum(1 for r in rows if r["host_id"]),
            "hosts": len({r["host_id"] for r in rows if r["host_id"]}),
        },
    }
    return json.dumps(doc, indent=2, sort_keys=False)


def plan_to_table(result: PlacementResult, estate: Estate, request: Request | None = None) -> str:
    """Fixed-width text table VM -> host, DC, rack; or the reason when nothing can be placed."""
    if not result.feasible:
        return f"NO PLACEMENT: {result.reason}"
    header = ("VM", "GROUP", "HOST", "DC", "RACK", "CPU", "MEMORY", "FLASH")
    lines = [header]
    for r in plan_rows(result, estate):
        lines.append(
            (
                r["vm"],
                r["group"] or "-",
                r["host_id"] or "-",
                r["datacenter"],
                r["rack"] or "-",
                str(r["cpu"]),
                fmt_mib(r["memory_mib"]),
                f"{r['flash_gib']} GiB",
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    n_hosts = len(set(result.assignments.values()))
    text.append(f"{len(result.assignments)} VM(s) on {n_hosts} host(s); method: {result.method or '-'}")
    return "\n".join(text)
