"""Sweep what a killed run left behind: VMs whose name carries the suite's prefix.

The deploy probe names every VM `<deploy.name_prefix>-<run>-<n>` before creating it, so leftovers
are found by name, never by "looks unused" guessing. Refuses production targets: the suite never
creates anything there, so there is nothing of ours to remove.
"""

from __future__ import annotations

from cloudgate.cloud import CloudStackClient, CloudStackError
from cloudgate.target import LoadedTarget


def find_leftovers(client: CloudStackClient, prefix: str) -> list[dict]:
    return [vm for vm in client.list("listVirtualMachines", listall=True) if str(vm.get("name", "")).startswith(f"{prefix}-")]


def sweep(loaded: LoadedTarget, client: CloudStackClient, dry_run: bool) -> list[str]:
    """Destroy (expunge) leftover VMs; returns one line per VM handled."""
    target = loaded.target
    if not target.environment.allows_destructive:
        raise CloudStackError(f"{target.name}: janitor refuses an environment: {target.environment.value} target")
    lines = []
    for vm in find_leftovers(client, target.deploy.name_prefix):
        if dry_run:
            lines.append(f"would destroy {vm.get('name')} ({vm.get('id')}, {vm.get('state')})")
            continue
        client.call("destroyVirtualMachine", id=vm["id"], expunge=True, fetch_result=True)
        lines.append(f"destroyed {vm.get('name')} ({vm.get('id')})")
    return lines
