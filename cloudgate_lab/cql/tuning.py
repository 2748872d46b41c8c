"""Process-level tuning of one node: event loop implementation, CPU scheduling, GC.

Why this exists: the lab runs six node processes plus the client on two shared cores, so the
server-side latency of a LOCAL_QUORUM write is dominated by how soon a replica, and then the
coordinator again, gets a CPU after a message wakes it, not by Python execution time.

* Event loop: uvloop when installed (libuv; roughly halves the per-message loop overhead of
  the pure-Python selector loop), else the standard asyncio loop.
* Scheduling (``CLOUDGATE_CQL_SCHED``): ``fifo`` (default, and needed: see below) runs the node under SCHED_FIFO at
  low real-time priority: a node woken by a message then preempts ordinary (CFS) processes at
  once and is never time-sliced away by them, while nodes among themselves never preempt each
  other (same priority, so a woken replica goes to the other core instead of interrupting the
  coordinator that woke it). Safe because a node never busy-loops and the kernel's real-time
  throttling (95 %) still applies. ``nice`` uses nice -10 instead, ``none`` changes nothing.
  Without the privilege (not root) it falls back to ``nice``, then to nothing, silently.
  Why it stays the default (2026-12-01, the suite's latency check on the lab, 500 writes/s,
  coordinator p99, A/B/C interleaved in one session, 2 rounds): CFS nodes gave 3.5 and 4.7 ms
  idle and 26.5 and 9.0 ms beside one CPU-bound process; FIFO nodes 0.9-2.0 ms idle and
  1.4-2.0 ms beside it. A shared 2-core machine always has someone else's process running.
* Idle CPUs (``CLOUDGATE_CQL_IDLE``): ``halt`` (default) leaves the machine's idle states alone.
  ``poll`` holds a PM QoS request
  (``/dev/cpu_dma_latency`` = 0, what tuned's latency-performance profile does) for as long as
  the node lives, so an idle CPU polls instead of halting. On a virtual machine a halted vCPU
  is woken through the hypervisor, which costs tens of microseconds per message hop; a
  LOCAL_QUORUM write makes several hops. Measured on this 2-core VM, loopback bench interleaved
  A/B: coordinator p99 0.45-0.58 ms polling vs 0.51-0.75 ms halted; on the lab (netns, veth,
  bridges) 24 runs of the suite's check at 0.56-0.95 ms vs 0.79-1.30 ms halted. The kernel drops
  the request when the process exits, however it exits, so nothing outlives the lab. It is no
  longer the default, so the lab does not make every idle CPU of the host burn cycles: the lab's
  own write promise (20 ms, fixtures/targets/lab.yaml) does not need it. It does cost latency:
  in the interleaved session above FIFO nodes gave 0.9-2.0 ms polling and 1.2-2.0 ms halted
  (4 pairs, within the noise), but over a day's `make run`s with halting CPUs the idle runs gave
  3.2-11.1 ms and the runs beside a CPU-bound process (a CPU kept awake) 1.7-7.2 ms.
* GC: stored rows never form reference cycles but count as GC-tracked allocations; with the
  default thresholds a full collection walks the whole memtable every few thousand writes
  (milliseconds of pause). ``tune_gc`` freezes what startup/replay built and collects rarely
  (``CLOUDGATE_CQL_GC=default`` keeps Python's defaults).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import struct
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

RT_PRIORITY = 1
PM_QOS_DEVICE = "/dev/cpu_dma_latency"
_qos_fds: list[int] = []  # held open for the life of the process: closing one ends its request


def run(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """``asyncio.run`` on uvloop when available (``CLOUDGATE_CQL_LOOP=asyncio`` forces the stdlib loop)."""
    if os.environ.get("CLOUDGATE_CQL_LOOP", "uvloop") == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(main())
    return asyncio.run(main())


def loop_name() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def tune_scheduling(mode: str | None = None) -> str:
    """Apply the scheduling mode; returns what was actually applied (for the log)."""
    mode = mode or os.environ.get("CLOUDGATE_CQL_SCHED", "fifo")
    if mode == "fifo" and hasattr(os, "sched_setscheduler"):
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))
            return "fifo"
        except OSError:
            mode = "nice"
    if mode in ("nice", "fifo"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, -10)
            return "nice"
    return "none"


def hold_idle_polling(mode: str | None = None, device: str = PM_QOS_DEVICE) -> str:
    """Apply the idle mode; returns what was actually applied (for the log)."""
    mode = mode or os.environ.get("CLOUDGATE_CQL_IDLE", "halt")
    if mode != "poll":
        return "halt"
    try:
        fd = os.open(device, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return "halt"  # not root, or no PM QoS device: run without it
    try:
        os.write(fd, struct.pack("i", 0))
    except OSError:
        os.close(fd)
        return "halt"
    _qos_fds.append(fd)
    return "poll"


def idle_polling_holders(device: str = PM_QOS_DEVICE) -> list[int]:
    """PIDs holding the PM QoS device open (what `cloudgate lab status` reports)."""
    holders = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(fd.path) == device:
                        holders.append(int(entry.name))
                        break
    return sorted(holders)


def tune_gc() -> None:
    if os.environ.get("CLOUDGATE_CQL_GC") == "default":
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
