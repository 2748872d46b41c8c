"""Measurements get the machine to themselves, also when pytest-xdist runs checks in parallel.

A latency or deploy-time figure taken while another worker runs SSH checks measures the runner,
not the cloud (on the lab's 2 cores, `-n 2` turned a 0.8 ms write p99 into 2.4 ms). So every
check's call phase holds a lock on one file of the run directory: a shared lock for ordinary
checks, an exclusive one for checks marked ``measurement``. A measurement therefore starts only
when no other check is running, and nothing else starts until it ends. `flock` locks are
released by the kernel when their process dies, so a killed worker cannot wedge the run.
Without xdist there is one process and no lock is taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".measurement.lock"


@contextlib.contextmanager
def machine_share(lock_file: Path, exclusive: bool) -> Iterator[float]:
    """Hold the run's lock (exclusive for a measurement) for the body; yields the seconds waited."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        started = time.monotonic()
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)  # pytest-timeout interrupts a wait too long
        yield time.monotonic() - started
    finally:
        os.close(fd)  # closing releases the lock
