"""The simulator as one object: state, configuration, accounts, guest driver, jobs and host monitor.

HTTP threads, job workers and the monitor all hold a reference to it; nothing else is global, so
several simulators (tests) can run in one process on different state directories and ports.

This module wires the parts together and so sits above all of them: the commands, the job manager,
the views and the monitor see it as a context.SimContext, which `Simulator` implements, and get what
they need from the layer above them passed in (the job runners, the monitor's expunge).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from cloudgate_lab.topology import LabTopology

from . import inventory
from .accounts import Account, accounts_from
from .commands import REGISTRY, runner_for
from .commands.vms import expunge_vm
from .config import Config
from .db import DB_FILE, Database
from .driver import GuestDriver
from .jobs import Interrupted, JobManager
from .monitor import HostMonitor
from .upgrade import Release, read_release

API_LOG_FILE = "api.log"


class Simulator:
    def __init__(self, state_dir: Path, topology: LabTopology, credentials: dict[str, Any], driver: GuestDriver,
                 *, workers: int = 8) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.topology = topology
        self.driver = driver
        self.accounts = accounts_from(credentials)
        self._by_key = {a.api_key: a for a in self.accounts}
        self.stopping = threading.Event()
        self.started_at = time.time()
        self.db = Database(self.state_dir / DB_FILE)
        self.config = Config(self.db, lambda: set(REGISTRY))
        inventory.seed(self.db, topology)
        self.config.seed(topology.boot_delay_seconds)
        self.release: Release = read_release(self.db)  # read once: an upgrade is stop, apply_upgrade, start
        self.jobs = JobManager(self, runner_for, workers)
        self.monitor = HostMonitor(self, expunge_vm)
        self._log_lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        self.jobs.resume_pending()
        self.monitor.start()

    def stop(self) -> None:
        self.stopping.set()
        self.monitor.join()
        self.jobs.shutdown()
        self.db.close()

    def sleep(self, seconds: float) -> None:
        """Wait inside a job; a stopping simulator interrupts it (the job resumes after restart)."""
        if seconds > 0 and self.stopping.wait(seconds):
            raise Interrupted()
        if self.stopping.is_set():
            raise Interrupted()

    def regressed(self, name: str) -> bool:
        """Whether the running release ships regression `name` (see upgrade.py)."""
        return self.release.has(name)

    # -- accounts -----------------------------------------------------------------------------------
    def credentials_for_key(self, api_key: str) -> tuple[Account, str] | None:
        account = self._by_key.get(api_key)
        return (account, account.secret_key) if account else None

    def account_named(self, name: str) -> Account | None:
        return next((a for a in self.accounts if a.name == name), None)

    # -- request log (never keys or signatures) -----------------------------------------------------
    def log_request(self, command: str | None, status: int, seconds: float, account: str | None) -> None:
        line = (f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())}Z command={command or '-'} status={status} "
                f"ms={seconds * 1000:.1f} account={account or '-'}\n")
        with self._log_lock, open(self.state_dir / API_LOG_FILE, "a", encoding="utf-8") as fh:
            fh.write(line)
