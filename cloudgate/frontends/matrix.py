"""What the operators' page shows of a datacenter's front door: each server as each haproxy node sees it.

Written by the check that reads both nodes anyway (CG-FRONT-004) into the run directory as
`front-<dc>.json`, so the page (cloudgate.report.page) needs no SSH and shows what the run saw.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from cloudgate.frontends.haproxystat import StatRow

MATRIX_GLOB = "front-*.json"


def server_matrix(dc: str, vip: str, rows_by_node: dict[str, list[StatRow]]) -> dict[str, object]:
    """{dc, vip, nodes, servers: [{backend, server, addr, backup, states: {node: {status, check, weight, scur}}}]}."""
    servers: dict[tuple[str, str], dict[str, object]] = {}
    for node, rows in rows_by_node.items():
        for row in rows:
            if row.svname in ("FRONTEND", "BACKEND"):
                continue
            entry = servers.setdefault((row.pxname, row.svname), {
                "backend": row.pxname, "server": row.svname, "addr": row.addr or "", "backup": bool(row.is_backup),
                "states": {}})
            entry["states"][node] = {  # type: ignore[index]
                "status": row.status or "", "check": row.check_status or "", "weight": row.weight, "scur": row.scur}
    return {
        "dc": dc, "vip": vip, "nodes": list(rows_by_node), "taken_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "servers": [servers[k] for k in sorted(servers, key=lambda k: (k[0], servers[k]["backup"], k[1]))],
    }


def write_server_matrix(run_dir: Path, dc: str, vip: str, rows_by_node: dict[str, list[StatRow]]) -> Path:
    path = Path(run_dir) / f"front-{dc}.json"
    path.write_text(json.dumps(server_matrix(dc, vip, rows_by_node), indent=1))
    return path
