"""`nodetool status` for the lab's Cassandra guests: the node's own gossip view of the ring.

Why: operators ask a node whether it sees its peers Up ("UN") with `nodetool status`, and the suite
asks it the same way over SSH (cloudgate.roles). Here the node's live view is the `status.json`
the CQL emulator writes whenever a peer's state changes (cloudgate_lab.cql.node.write_status). The
three answers a real node gives are kept:
- the node's process is gone: JMX refuses the connection, one line on stderr, rc 1;
- the process is paused (SIGSTOP, a hung JVM): the JMX client hangs until the caller's timeout;
- otherwise: the table, the local node always UN, each peer U or D as this node's gossip has it.
Stdlib only, no `cloudgate` import (see render.py).
"""

from __future__ import annotations

import json
import sys
import time
import uuid

from services import unit_pids

CASSANDRA_UNIT = "cassandra"
HANG_SECONDS = 3600.0  # a JMX client against a paused JVM waits for ever; the caller's timeout ends it
REFUSED = "nodetool: Failed to connect to '127.0.0.1:7199' - ConnectException: 'Connection refused (Connection refused)'."
USAGE = "nodetool: the lab's stand-in answers `nodetool status` only\n"


def _paused(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except (OSError, IndexError):
        return False


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else None


def _table(cluster: dict, me: str, up: dict[str, bool]) -> str:
    seed = str(cluster.get("seed", "cloudgate"))
    tokens = int(cluster.get("num_tokens", 16))
    lines: list[str] = []
    for dc in sorted({n.get("dc", "dc1") for n in cluster["nodes"]}):
        title = f"Datacenter: {dc}"
        lines += [title, "=" * len(title), "Status=Up/Down", "|/ State=Normal/Leaving/Joining/Moving",
                  f"--  {'Address':<15} {'Load':<10} {'Tokens':<6}  {'Owns (effective)':<16}  {'Host ID':<36}  Rack"]
        for node in sorted((n for n in cluster["nodes"] if n.get("dc", "dc1") == dc), key=lambda n: n["address"]):
            name = node["name"]
            status = "U" if name == me or up.get(name, False) else "D"
            host_id = node.get("host_id") or str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{seed}.{name}"))
            lines.append(f"{status}N  {node['address']:<15} {'1.02 MiB':<10} {tokens:<6}  {'?':<16}  {host_id:<36}  "
                         f"{node.get('rack', 'rack1')}")
        lines.append("")
    return "\n".join(lines) + "\n"


def nodetool(state: dict, argv: list[str]) -> int:
    if argv[-1:] != ["status"]:
        sys.stderr.write(USAGE)
        return 1
    unit = state.get("services", {}).get(CASSANDRA_UNIT)
    pids = unit_pids(unit["argv"]) if unit else []
    if not pids:
        sys.stderr.write(REFUSED + "\n")
        return 1
    if any(_paused(pid) for pid in pids):
        time.sleep(HANG_SECONDS)
        return 1
    config_path, me = _option(unit["argv"], "--config"), _option(unit["argv"], "--name")
    try:
        with open(str(config_path)) as fh:
            cluster = json.load(fh)
        data_dir = next(n["data_dir"] for n in cluster["nodes"] if n["name"] == me)
        with open(f"{data_dir}/status.json") as fh:
            view = json.load(fh)
    except (OSError, ValueError, StopIteration, KeyError) as exc:
        sys.stderr.write(f"nodetool: cannot read the node's gossip view: {exc}\n")
        return 1
    # a view written by an earlier process of the unit is not this one's: a node just started has not gossiped yet
    up = {k: bool(v) for k, v in view.get("up", {}).items()} if view.get("pid") in pids else {}
    sys.stdout.write(_table(cluster, str(me), up))
    return 0
