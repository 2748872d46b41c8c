"""Helpers shared by the simulator tests (a module of its own so test files can import it by name)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cs import CloudStack

from cloudgate_lab.cloudstack import NullGuestDriver, SimulatorHandle, start_in_thread
from cloudgate_lab.cloudstack.upgrade import UpgradeReport, apply_upgrade
from cloudgate_lab.topology import LabTopology

CREDENTIALS = {
    "api_key": "lab-admin-key",
    "secret_key": "lab-admin-secret",
    "user": {"api_key": "lab-user-key", "secret_key": "lab-user-secret"},
}


@dataclass
class Lab:
    """One running simulator plus what tests need to talk to it and to play the hypervisors."""

    handle: SimulatorHandle
    driver: NullGuestDriver
    state_dir: Path
    topology: LabTopology

    def client(self, *, user: bool = False, **kwargs: Any) -> CloudStack:
        creds = CREDENTIALS["user"] if user else CREDENTIALS
        return CloudStack(endpoint=self.handle.endpoint, key=creds["api_key"], secret=creds["secret_key"],
                          poll_interval=0.05, job_timeout=20, **kwargs)

    def restart(self) -> None:
        port = self.handle.port
        self.handle.stop()
        self.handle = start_in_thread(self.state_dir, self.topology, port, CREDENTIALS, self.driver)

    def upgrade(self, version: str, *regressions: str) -> UpgradeReport:
        """What `cloudgate lab upgrade` does, in-process: stop the management server, migrate its database,
        start it again on the same state and port. The driver (the guests) carries over, as in the lab."""
        port = self.handle.port
        self.handle.stop()
        try:
            return apply_upgrade(self.state_dir, version, regressions)
        finally:
            self.handle = start_in_thread(self.state_dir, self.topology, port, CREDENTIALS, self.driver)


@dataclass(frozen=True)
class Ids:
    zone: dict[str, Any]  # lab-dc1
    small: str
    cassandra: str
    guest_template: str
    cassandra_template: str
    hosts: list[dict[str, Any]]  # hosts of lab-dc1 in DB order


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until predicate() is truthy; fail the test with a clear message on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(interval)


def deploy(client: CloudStack, ids: Ids, *, wait: bool = True, offering: str | None = None,
           **params: Any) -> dict[str, Any]:
    """deployVirtualMachine in lab-dc1 with the guest template; returns the VM (or {id, jobid} if not waiting)."""
    args = {"zoneid": ids.zone["id"], "serviceofferingid": offering or ids.small, "templateid": ids.guest_template}
    args.update(params)
    if wait:
        return client.deployVirtualMachine(fetch_result=True, **args)["virtualmachine"]
    return client.deployVirtualMachine(**args)


def vm(client: CloudStack, vm_id: str) -> dict[str, Any]:
    return client.listVirtualMachines(id=vm_id, listall=True)["virtualmachine"][0]
