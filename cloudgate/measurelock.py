"""Measurements get the machine to themselves, also when pytest-xdist runs checks in parallel.

A latency or deploy-time figure taken while another worker runs SSH checks measures the runner,
not the cloud (on the lab's 2 cores, `-n 2` turned a 0.8 ms write p99 into 2.4 ms). So every
check, from its setup to its teardown, holds a lock on one file of the run directory: a shared
lock for ordinary checks, an exclusive one for checks marked ``measurement``. A measurement
therefore starts only when no other check is running, and nothing else starts until it ends.

Linux keeps granting shared `flock` locks while an exclusive request waits, so with three or more
workers a measurement could wait forever; a second lock, the turnstile, queues everyone: each
check passes through it on its way in, and a waiting measurement holds it until it gets in.
The plugin takes these locks before pytest-timeout starts a check's clock, so waiting is not
counted against the check. `flock` locks die with their process: a killed worker wedges nothing.
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
TURNSTILE_NAME = ".measurement.turnstile"


@contextlib.contextmanager
def machine_share(run_dir: Path, exclusive: bool) -> Iterator[float]:
    """Hold the run's lock (exclusive for a measurement) for the body; yields the seconds waited."""
    gate = os.open(run_dir / TURNSTILE_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    lock = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        started = time.monotonic()
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        yield time.monotonic() - started
    finally:
        os.close(lock)  # closing releases the lock
        os.close(gate)
