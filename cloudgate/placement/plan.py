"""What a placement means for the estate and for the operator: apply it, print it, export it.

The JSON plan carries, per VM, the ``hostid`` to pass to CloudStack's ``deployVirtualMachine`` (or
``migrateVirtualMachine`` for an evacuation), so a deploy script needs nothing else.
"""

from __future__ import annotations

import json
from typing import Any

from .model import Estate, ExistingVM, Host, PlacementResult, Request
from .units import fmt_mib, fmt_size


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


def _why(result: PlacementResult, estate: Estate, after: Estate) -> dict[str, str]:
    """Per placed VM, in words: why this rack (the group's spread) and why this host (packing).

    Stated from the plan's outcome, which is what an operator can verify: how the group ends up
    spread over the DC's racks, and whether the host was already busy (a hole filled) or empty
    (a host opened).
    """
    specs = {vm.name: vm for vm in result.vms}
    before = {h.id: h for h in estate.hosts}
    racks_of_dc: dict[str, list[str]] = {}
    for h in after.hosts:
        racks_of_dc.setdefault(h.datacenter, [])
        if h.rack not in racks_of_dc[h.datacenter]:
            racks_of_dc[h.datacenter].append(h.rack)
    members: dict[tuple[str, str], dict[str, int]] = {}
    for h in after.hosts:
        for vm in h.vms:
            if vm.group is not None:
                per_rack = members.setdefault(
                    (vm.group, h.datacenter), dict.fromkeys(sorted(racks_of_dc[h.datacenter]), 0)
                )
                per_rack[h.rack] += 1
    uneven = {(n.group, n.datacenter) for n in result.spread}
    free_after = {h.id: after.effective_capacity(h) for h in after.hosts}
    for h in after.hosts:
        used = [sum(vm.size()[d] for vm in h.vms) for d in range(3)]
        free_after[h.id] = tuple(c - u for c, u in zip(free_after[h.id], used, strict=True))
    out: dict[str, str] = {}
    for name, hid in result.assignments.items():
        vm = specs[name]
        host = before[hid]
        if vm.group is None:
            rack_part = "no anti-affinity group"
        else:
            per_rack = members[(vm.group, host.datacenter)]
            shown = ", ".join(f"{r}={c}" for r, c in per_rack.items())
            level = "uneven, the least the room allows" if (vm.group, host.datacenter) in uneven else "within one"
            rack_part = f"rack spread of {vm.group} in {host.datacenter} {level} ({shown}); no other member on this host"
        left = fmt_size(free_after[hid], estate.cpu_unit)
        if host.vms:
            host_part = f"fills a hole on a host already running {len(host.vms)} VM(s) (left free: {left})"
        else:
            host_part = f"opens an empty host (left free: {left})"
        out[name] = f"{rack_part}; {host_part}"
    return out


def plan_rows(result: PlacementResult, estate: Estate) -> list[dict[str, Any]]:
    """One row per requested VM, in request order; unplaced VMs have host None."""
    by_id = {h.id: h for h in estate.hosts}
    why = _why(result, estate, apply_result(estate, result)) if result.feasible else {}
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
                "why": why.get(vm.name),
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
        "spread": [note.model_dump() for note in result.spread],
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
    text += [f"UNEVEN SPREAD: {note.message}" for note in result.spread]
    text += ["", "why:"] + [f"  {r['vm']}: {r['why']}" for r in plan_rows(result, estate) if r["why"]]
    return "\n".join(text)
