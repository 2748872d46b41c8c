"""The seam between the CloudStack simulator and whatever plays the guests.

The simulator decides *where* a VM runs and *when* it changes state, like a management server; it does
not build guests itself. A guest driver does: the real one (cloudgate_lab/guests.py) boots a network
namespace on the chosen lab host, `NullGuestDriver` only records calls so tests can drive host health.
The same driver answers "is this hypervisor alive?" for the host monitor, as a XenServer agent would.

A guest stops one of two ways, as on real hardware (`stop_guest(vm_id, forced=...)`):
- graceful (forced=False: stopVirtualMachine, reboot, migrate): an ACPI shutdown; the guest's processes
  get SIGTERM and close their connections, so peers see FIN/RST at once;
- forced (forced=True: stopVirtualMachine forced=true, destroy, expunge, a host going Down, cleanup of
  a failed boot): pulling the plug; the guest's link is cut *before* its processes die, so no FIN or RST
  reaches a peer, whose connections hang until their own timeouts (what a failover drill must see).
A driver written before `forced` existed (stop_guest(vm_id) only) keeps working: the simulator calls
every driver through `stop_guest()` below, which passes `forced` only to a driver that accepts it.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class GuestSpec:
    vm_id: str
    name: str
    host_name: str
    ip: str
    template: str  # template tag: "guest" | "cassandra"


class GuestDriver(Protocol):
    def start_guest(self, spec: GuestSpec) -> None: ...  # create/boot it on that host (blocking, seconds at most)

    def stop_guest(self, vm_id: str, forced: bool = False) -> None: ...  # idempotent; forced = silent (see above)

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
        self.stops: list[tuple[str, bool]] = []  # (vm_id, forced) of every stop_guest, in order

    def start_guest(self, spec: GuestSpec) -> None:
        with self._lock:
            self.running[spec.vm_id] = spec
            self.calls.append(("start", spec.vm_id))

    def stop_guest(self, vm_id: str, forced: bool = False) -> None:
        with self._lock:
            self.running.pop(vm_id, None)
            self.calls.append(("stop", vm_id))
            self.stops.append((vm_id, forced))

    def host_status(self, host_name: str) -> str:
        with self._lock:
            return self._status.get(host_name, "Up")

    def power_host(self, host_name: str, on: bool) -> None:
        """Out-of-band power: off reports the host Down, on reports it Up again."""
        with self._lock:
            self.calls.append(("power-on" if on else "power-off", host_name))
            self._status[host_name] = "Up" if on else "Down"

    def set_host_status(self, host_name: str, status: str) -> None:
        """Test hook: what the 'hypervisor agent' of that host reports from now on."""
        with self._lock:
            self._status[host_name] = status


def _accepts_forced(method: Any) -> bool:
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "forced" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def stop_guest(driver: GuestDriver, vm_id: str, *, forced: bool) -> None:
    """Ask `driver` to stop a guest the given way; an older driver without `forced` gets stop_guest(vm_id)."""
    method = driver.stop_guest
    if _accepts_forced(method):
        method(vm_id, forced=forced)
    else:
        method(vm_id)


def power_host(driver: GuestDriver, host_name: str, *, on: bool) -> None:
    """Out-of-band power of a host (IPMI/iLO in a real cloud); a driver without it answers an API error."""
    method = getattr(driver, "power_host", None)
    if method is None:
        from .envelope import INTERNAL_ERROR, ApiError

        raise ApiError(INTERNAL_ERROR, f"Out-of-band management is not configured or enabled for host {host_name}")
    method(host_name, on)


def host_powered(driver: GuestDriver, host_name: str) -> bool:
    """What the BMC's STATUS says: a host the agent reports Down is taken as powered off."""
    return driver.host_status(host_name) != "Down"
