"""Host monitor: what the management server learns from its hypervisor agents' pings.

Every round it asks the guest driver for each host's status. A host leaving Up gets a `disconnected`
date; a host going Down loses its guests (Stopped, no host), as in a cloud without HA: their guests are
stopped forced (silently: a dead hypervisor sends no FIN for its VMs). The same loop
expunges destroyed VMs once `expunge.delay` has passed, like the expunge thread, with the expunge the
simulator hands it (commands.vms.expunge_vm: the command modules sit above this one).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .context import SimContext
from .driver import stop_guest

log = logging.getLogger(__name__)

HOST_STATES = ("Up", "Down", "Alert")

Expunge = Callable[[SimContext, str], None]  # (simulator, vm id): remove a destroyed VM for good


class HostMonitor:
    def __init__(self, sim: SimContext, expunge: Expunge) -> None:
        self.sim = sim
        self._expunge = expunge
        self._thread = threading.Thread(target=self._loop, name="cs-host-monitor", daemon=True)
        self._last_expunge = 0.0

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self.sim.stopping.is_set():
            try:
                self.tick()
            except Exception:
                if self.sim.stopping.is_set():
                    return
                log.exception("host monitor round failed")
            interval = max(0.05, self.sim.config.number("lab.hostmonitor.interval.seconds"))
            self.sim.stopping.wait(interval)

    def tick(self) -> None:
        """One ping round plus, when due, one expunge sweep."""
        now = time.time()
        for host in self.sim.db.all("SELECT id, name, state FROM hosts ORDER BY seq"):
            try:
                status = self.sim.driver.host_status(host["name"])
            except Exception:
                log.exception("host_status(%s) failed; treating the host as Alert", host["name"])
                status = "Alert"
            if status not in HOST_STATES:
                status = "Alert"
            self._apply(host, status, now)
        if now - self._last_expunge >= self.sim.config.number("expunge.interval"):
            self._last_expunge = now
            self.expunge_due(now)

    def _apply(self, host, status: str, now: float) -> None:
        db = self.sim.db
        evicted: list[str] = []
        with db.tx():
            if status == "Up":
                db.run("UPDATE hosts SET state='Up', lastpinged=? WHERE id=?", (now, host["id"]))
            elif host["state"] != status:
                if host["state"] == "Up":
                    db.run("UPDATE hosts SET state=?, disconnected=? WHERE id=?", (status, now, host["id"]))
                else:
                    db.run("UPDATE hosts SET state=? WHERE id=?", (status, host["id"]))
            if status == "Down":
                evicted = [r["id"] for r in db.all(
                    "SELECT id FROM vms WHERE host_id=? AND removed IS NULL", (host["id"],))]
                db.run("UPDATE vms SET state='Stopped', last_host_id=host_id, host_id=NULL, migrate_host_id=NULL, "
                       "updated=? WHERE host_id=? AND removed IS NULL", (now, host["id"]))
                db.run("UPDATE vms SET migrate_host_id=NULL WHERE migrate_host_id=?", (host["id"],))
        for vm_id in evicted:
            try:
                stop_guest(self.sim.driver, vm_id, forced=True)
            except Exception:
                log.exception("stop_guest(%s) after host %s went Down failed", vm_id, host["name"])

    def expunge_due(self, now: float) -> None:
        delay = self.sim.config.number("expunge.delay")
        for vm in self.sim.db.all("SELECT id FROM vms WHERE state='Destroyed' AND removed IS NULL AND updated<=?",
                                  (now - delay,)):
            self._expunge(self.sim, vm["id"])
