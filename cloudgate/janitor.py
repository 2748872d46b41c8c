"""Sweep what a killed run left behind: VMs whose name carries the suite's prefix.

The deploy probe names every VM `<deploy.name_prefix>-<run>-<n>` before creating it, so leftovers
are found by name, never by "looks unused" guessing; only VMs older than a deploy check can last
are taken, so a janitor run never destroys the VMs of a check still going. Refuses production targets: the suite never
creates anything there, so there is nothing of ours to remove.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloudgate.cloud import CloudStackClient, CloudStackError
from cloudgate.target import LoadedTarget


def _created(vm: dict) -> datetime | None:
    try:
        return datetime.strptime(str(vm.get("created")), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def find_leftovers(client: CloudStackClient, prefix: str, older_than: timedelta) -> list[dict]:
    """Probe VMs older than `older_than`: a run still going has younger ones (a deploy check lasts minutes)."""
    cutoff = datetime.now(UTC) - older_than
    found = []
    for vm in client.list("listVirtualMachines", listall=True):
        if not str(vm.get("name", "")).startswith(f"{prefix}-"):
            continue
        created = _created(vm)
        if created is None or created <= cutoff:
            found.append(vm)
    return found


def sweep(loaded: LoadedTarget, client: CloudStackClient, dry_run: bool, older_than: timedelta = timedelta(hours=1)) -> list[str]:
    """Destroy (expunge) leftover VMs; returns one line per VM handled."""
    target = loaded.target
    if not target.environment.allows_destructive:
        raise CloudStackError(f"{target.name}: janitor refuses an environment: {target.environment.value} target")
    lines = []
    for vm in find_leftovers(client, target.deploy.name_prefix, older_than):
        if dry_run:
            lines.append(f"would destroy {vm.get('name')} ({vm.get('id')}, {vm.get('state')})")
            continue
        client.call("destroyVirtualMachine", id=vm["id"], expunge=True, fetch_result=True)
        lines.append(f"destroyed {vm.get('name')} ({vm.get('id')})")
    return lines
