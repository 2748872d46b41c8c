"""What the commands, their jobs, the views and the host monitor see of the simulator: `SimContext`.

simulator.py wires everything together (state, configuration, accounts, guest driver, job manager, host
monitor, the command registry), so it imports all of them; none of them may import it back (a cycle,
refused by the importlinter contracts in pyproject.toml). They are typed against this protocol instead,
which `simulator.Simulator` implements; the simulator hands itself to them (a `Request.sim`, a job
runner's first argument, `Catalog(sim)`, `JobManager(sim, ...)`, `HostMonitor(sim, ...)`).
Members are read-only properties: a part reads the simulator's collaborators, it never replaces them.
"""

from __future__ import annotations

import threading
from typing import Protocol

from .accounts import Account
from .config import Config
from .db import Database
from .driver import GuestDriver
from .upgrade import Release


class JobQueue(Protocol):
    """Where an async command's handler queues its job (jobs.JobManager)."""

    def submit(self, command: str, params: dict[str, str], account: Account,
               instance_type: str | None = None, instance_id: str | None = None) -> str: ...


class SimContext(Protocol):
    @property
    def db(self) -> Database: ...

    @property
    def config(self) -> Config: ...

    @property
    def driver(self) -> GuestDriver: ...

    @property
    def jobs(self) -> JobQueue: ...

    @property
    def release(self) -> Release: ...  # the running release (read once at start, see upgrade.py)

    @property
    def started_at(self) -> float: ...

    @property
    def stopping(self) -> threading.Event: ...

    def sleep(self, seconds: float) -> None: ...  # inside a job; raises jobs.Interrupted when stopping

    def regressed(self, name: str) -> bool: ...

    def account_named(self, name: str) -> Account | None: ...
