"""Runtime fault knobs, set through a control file the node polls (no restart, no extra port).

Interface: ``<data_dir>/control.json``, written atomically (temp file + rename)::

    {"generation": 7,
     "faults": {"write_delay_ms": 3.0,      # delay before a replica applies a write
                "read_delay_ms": 0.0,       # delay before a replica serves a read
                "refuse_clients": false,    # close CQL connections and stop listening
                "isolate": false,           # drop all internode traffic (partition)
                "unreachable": [],          # peers (node or DC names) whose internode traffic is
                                            # silently dropped both ways (an iptables DROP partition)
                "hints_off": false,         # hinted_handoff_enabled: false: the coordinator stores no hints
                "disable_hints": false},    # the same at runtime (nodetool disablehandoff)
     "reset_latency": 3}                    # bump to reset the system_views latency tables

The node polls the file's mtime every ``control_poll_ms`` (100 ms), applies it and writes
``<data_dir>/control.ack`` containing the generation it applied, so ``set_fault`` returns only
once the fault is in force. A file works everywhere the lab runs a node — including inside a
network namespace, where a loopback admin port would be unreachable from the test process.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from . import config as cfgmod

FAULT_KEYS = {"write_delay_ms": 0.0, "read_delay_ms": 0.0, "refuse_clients": False, "isolate": False,
              "unreachable": [], "hints_off": False, "disable_hints": False}


def control_path(data_dir: str) -> str:
    return os.path.join(data_dir, "control.json")


def ack_path(data_dir: str) -> str:
    return os.path.join(data_dir, "control.ack")


def read_control(data_dir: str) -> dict[str, Any]:
    try:
        with open(control_path(data_dir)) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return {"generation": 0, "faults": dict(FAULT_KEYS), "reset_latency": 0}


def _write_control(data_dir: str, doc: dict[str, Any]) -> None:
    tmp = control_path(data_dir) + f".{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, control_path(data_dir))


def _wait_ack(data_dir: str, generation: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(ack_path(data_dir)) as f:
                if int(f.read().strip() or 0) >= generation:
                    return
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.02)
    raise TimeoutError(f"node with data dir {data_dir} did not apply control generation {generation}")


def _data_dir(config: str | cfgmod.ClusterConfig, node: str) -> str:
    cfg = cfgmod.load(config) if isinstance(config, str) else config
    return cfg.node(node).data_dir


def set_fault(config: str | cfgmod.ClusterConfig, node: str, wait: bool = True, timeout: float = 5.0,
              **faults: Any) -> None:
    """Set fault knobs on one node, e.g. ``set_fault(cfg, "n1", write_delay_ms=3.0)``.

    Unmentioned knobs keep their current value; ``clear_faults`` resets them all. With
    ``wait`` (default) this returns once the node acknowledged (needs the node running).
    """
    unknown = set(faults) - set(FAULT_KEYS)
    if unknown:
        raise ValueError(f"unknown fault knobs {sorted(unknown)}; known: {sorted(FAULT_KEYS)}")
    d = _data_dir(config, node)
    doc = read_control(d)
    doc.setdefault("faults", dict(FAULT_KEYS)).update(faults)
    doc["generation"] = int(doc.get("generation", 0)) + 1
    _write_control(d, doc)
    if wait:
        _wait_ack(d, doc["generation"], timeout)


def clear_faults(config: str | cfgmod.ClusterConfig, node: str, wait: bool = True, timeout: float = 5.0) -> None:
    set_fault(config, node, wait=wait, timeout=timeout, **FAULT_KEYS)


def reset_latency(config: str | cfgmod.ClusterConfig, node: str, wait: bool = True, timeout: float = 5.0) -> None:
    """Reset every system_views latency table of one node (same as TRUNCATE over CQL)."""
    d = _data_dir(config, node)
    doc = read_control(d)
    doc["reset_latency"] = int(doc.get("reset_latency", 0)) + 1
    doc["generation"] = int(doc.get("generation", 0)) + 1
    _write_control(d, doc)
    if wait:
        _wait_ack(d, doc["generation"], timeout)
