"""The two planes during a management-server outage, probed apart (the operators' incident).

Control plane: can CloudStack still add a VM? Asked with one read-only call; an API that does not
answer means no VM can be deployed, started or migrated. Data plane: do the workloads still run?
Every Cassandra VM is asked over SSH, without CloudStack. "Production runs but no new VM can be
added" is then two facts, reported as two.
"""

from __future__ import annotations

from typing import Any

from cloudgate.cloudstack.client import CloudStackClient, CloudStackError
from cloudgate.ssh.hosts import HostPool, HostUnreachable, SshSettings
from cloudgate.target import Target


def control_plane_state(client: CloudStackClient) -> str:
    """'up: ...' or 'down: <cause> — no VM can be deployed, started or migrated'."""
    try:
        zones = client.list("listZones")
    except CloudStackError as exc:
        return f"down: {exc} — no VM can be deployed, started or migrated"
    return f"up: listZones answered ({len(zones)} zone(s))"


def vms_answering(target: Target, addresses: list[str]) -> dict[str, Any]:
    """Which VMs answer a command over SSH now (their own sshd: CloudStack is not asked).

    A pool of its own, so every answer comes over a new connection: a pooled one may lead to a VM
    instance an earlier drill stopped, which never answers again (a silent stop sends no FIN)."""
    answered, silent = [], []
    pool = HostPool(SshSettings.from_target(target))
    try:
        for address in addresses:
            try:
                ok = pool.get(address).run("true").rc == 0
            except HostUnreachable:
                ok = False
            (answered if ok else silent).append(address)
    finally:
        pool.close()
    return {"answered": answered, "silent": silent}
