"""The lab's Cassandra cluster file: where it lives, which nodes it lists, what boots each node.

Why a module of its own: two sides read the file for different reasons. `cassandra` (the
deployment: VMs through the API, then the file) writes it; `guests` (the guest driver, below the
deployment) reads it when a "cassandra" template VM boots, to start that VM's CQL node. Kept
here, below both, the guest driver no longer has to reach up into the deployment module (the
guests <-> cassandra import cycle the lab layers contract now forbids).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cloudgate_lab import paths

CASSANDRA_TEMPLATE = "cassandra"  # the GuestSpec.template whose boot starts a CQL node


def cluster_file() -> Path:
    return paths.lab_dir() / "cassandra" / "cluster.json"


def cluster_nodes() -> list[dict[str, Any]]:
    """The nodes of the deployed cluster file (name, address, dc, rack, ports), [] if none."""
    if not cluster_file().exists():
        return []
    return list(json.loads(cluster_file().read_text()).get("nodes", []))


def node_command_for(vm_name: str, template: str) -> list[str] | None:
    """What the "cassandra" template starts at boot, or None (not a Cassandra VM, or no cluster yet)."""
    if template != CASSANDRA_TEMPLATE or not any(n["name"] == vm_name for n in cluster_nodes()):
        return None
    # imported here for its cost, not for a cycle: cql.cluster loads cassandra-driver (~0.15 s), which
    # the simulator, `lab fault` and `lab down` (all importing guests, hence this module) never need
    from cloudgate_lab.cql.cluster import node_command

    return node_command(str(cluster_file()), vm_name, python=sys.executable, exit_with_parent=False)
