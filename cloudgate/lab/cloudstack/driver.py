"""The seam between the CloudStack simulator and whatever plays the guests.

The simulator decides *where* a VM runs and *when* it changes state, like a management server; it does
not build guests itself. A guest driver does: the real one (cloudgate/lab/guests.py) boots a network
namespace on the chosen lab host, `NullGuestDriver` only records calls so tests can drive host health.
The same driver answers "is this hypervisor alive?" for the host monitor, as a XenServer agent would.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class GuestSpec:
    vm_id: str
    name: str
    host_name: str
    ip: str
    template: str  # template tag: "guest" | "cassandra"


class GuestDriver(Protocol):
    def start_guest(self, spec: GuestSpec) -> None: ...  # create/boot it on that host (blocking, seconds at most)

    def stop_guest(self, vm_id: str) -> None: ...  # idempotent

    def host_status(self, host_name: str) -> str: ...  # "Up" | "Down" | "Alert" — what the hypervisor agent would report


class NullGuestDriver:
    """A driver with no guests: remembers what it was asked and reports host health set by the test.

    `start_guest` may be called again for a VM that is already started (a job resumed after a simulator
    restart), so the real driver must treat it as idempotent too.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: dict[str, str] = {}
        self.running: dict[str, GuestSpec] = {}
        self.calls: list[tuple[str, str]] = []  # ("start", vm_id) / ("stop", vm_id), in order

    def start_guest(self, spec: GuestSpec) -> None:
        with self._lock:
            self.running[spec.vm_id] = spec
            self.calls.append(("start", spec.vm_id))

    def stop_guest(self, vm_id: str) -> None:
        with self._lock:
            self.running.pop(vm_id, None)
            self.calls.append(("stop", vm_id))

    def host_status(self, host_name: str) -> str:
        with self._lock:
            return self._status.get(host_name, "Up")

    def set_host_status(self, host_name: str, status: str) -> None:
        """Test hook: what the 'hypervisor agent' of that host reports from now on."""
        with self._lock:
            self._status[host_name] = status
