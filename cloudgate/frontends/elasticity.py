"""Scale a front service out and back in under load, with the operators' own commands, and time each phase.

The seed's "elastic front ends based on haproxy": the promise is that growing and shrinking the
front tier costs no client a single error, and that a new VM takes its share soon enough to matter.
The suite never guesses how the operators scale (the target's `frontends.scale` commands); it runs
them while an open-loop client goes through the VIP, and reads the phases off the client's history:

  command   the scale-out command, start to end (deploy, boot, registration: whatever it does)
  first     the first request the new VM answered (X-Served-By), from the command's start
  fair      the first 2-s window in which the new VM got at least 3/4 of a fair share (1/N)
  scale-in  the scale-in command of the VM the suite chose: the one it added (the fleet is left as found)
and the failed requests over the whole cycle (the promise: 0).

Before the scale-out runs, its undo is in the run ledger (kind `front_scale_out`: the scale-in
command for every VM of the service the run finds that was not there before), so a Ctrl-C or a
kill -9 leaves nothing the janitor cannot take back. The phase arithmetic is pure (`phases`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudgate.frontends.httpprobe import run_probe

WINDOW_SECONDS = 2.0
FAIR_FRACTION = 0.75
SEGMENT_SECONDS = 5.0  # the client runs in back-to-back segments until told to stop


@dataclass(frozen=True)
class Request:
    """One request of the client's history: when it was due, whether it failed, who answered."""

    intended: float
    failed: bool
    served_by: str | None
    detail: str = ""


def read_requests(path: Path) -> list[Request]:
    """The client's JSONL history (cloudgate.frontends.httpprobe); the probe's own overload is left out."""
    out = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("error") == "overloaded":
            continue
        status = r.get("status")
        failed = r.get("error") is not None or status is None or status >= 500
        out.append(Request(float(r["intended"]), failed, r.get("served_by"),
                           str(r.get("detail") or r.get("error") or status or "")))
    return sorted(out, key=lambda q: q.intended)


@dataclass(frozen=True)
class Phases:
    """What the cycle measured, in seconds from the scale-out command's start (None: never happened)."""

    command_seconds: float
    first_request_seconds: float | None
    fair_share_seconds: float | None
    scale_in_seconds: float | None
    requests: int
    failed: int
    first_failure: str | None
    new_vm: str
    servers_after: int

    def metrics(self) -> list[tuple[str, float, str]]:
        out = [("command", self.command_seconds, "s"), ("failed_requests", float(self.failed), "requests")]
        out += [(name, value, "s") for name, value in (("first_request", self.first_request_seconds),
                                                      ("fair_share", self.fair_share_seconds),
                                                      ("scale_in", self.scale_in_seconds)) if value is not None]
        return out


def phases(requests: Sequence[Request], new_vm: str, servers_after: int, out_start: float, out_end: float,
           in_start: float | None, in_end: float | None) -> Phases:
    """The cycle's phases from the client's history (pure)."""
    served = [q for q in requests if q.served_by == new_vm and q.intended >= out_start]
    first = served[0].intended - out_start if served else None
    fair = None
    if served:
        t, end = served[0].intended, in_start if in_start is not None else (requests[-1].intended if requests else 0)
        while t + WINDOW_SECONDS <= end + 1e-9:
            window = [q for q in requests if t <= q.intended < t + WINDOW_SECONDS and not q.failed]
            mine = sum(1 for q in window if q.served_by == new_vm)
            if window and mine / len(window) >= FAIR_FRACTION / max(1, servers_after):
                fair = t + WINDOW_SECONDS - out_start
                break
            t += WINDOW_SECONDS / 2
    failures = [q for q in requests if q.failed]
    return Phases(
        command_seconds=out_end - out_start, first_request_seconds=first, fair_share_seconds=fair,
        scale_in_seconds=(in_end - in_start) if in_start is not None and in_end is not None else None,
        requests=len(requests), failed=len(failures),
        first_failure=(f"{failures[0].detail} at +{failures[0].intended - out_start:.1f} s" if failures else None),
        new_vm=new_vm, servers_after=servers_after,
    )


def problems(p: Phases, promise_seconds: float, service: str, dc: str) -> list[str]:
    """One line per broken promise: any failed request; no share, or a fair share later than promised."""
    out = []
    if p.failed:
        out.append(f"{service} in {dc}: {p.failed} of {p.requests} requests failed while scaling out and in "
                   f"(the promise: 0); the first: {p.first_failure}")
    if p.first_request_seconds is None:
        out.append(f"{service} in {dc}: the new VM {p.new_vm} answered no request through the VIP")
    elif p.fair_share_seconds is None:
        out.append(f"{service} in {dc}: {p.new_vm} never took {FAIR_FRACTION:.0%} of a fair share (1/{p.servers_after})")
    elif p.fair_share_seconds > promise_seconds:
        out.append(f"{service} in {dc}: {p.new_vm} took its share {p.fair_share_seconds:.1f} s after the scale-out "
                   f"began, beyond the {promise_seconds:g} s promised")
    return out


@dataclass
class BackgroundClient:
    """The open-loop client through the VIP, in back-to-back segments until `stop()`; one JSONL history."""

    url: str
    rate: int
    timeout: float
    max_in_flight: int
    history: Path
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: str | None = None

    def start(self) -> None:
        self.history.unlink(missing_ok=True)

        def loop() -> None:
            try:
                while not self._stop.is_set():
                    run_probe(self.url, self.rate, SEGMENT_SECONDS, self.timeout, self.max_in_flight,
                              history_path=self.history)
            except Exception as exc:  # noqa: BLE001 - reported by the check in one line
                self.error = f"{type(exc).__name__}: {exc}"

        self._thread = threading.Thread(target=loop, name="cg-front-client", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=SEGMENT_SECONDS + self.timeout + 5)


def new_members(before: Iterable[str], now: Iterable[str]) -> list[str]:
    """VMs of the service now that were not there before the scale-out (sorted)."""
    known = set(before)
    return sorted(n for n in now if n not in known)


def wait_for(what: str, ready: Callable[[], Any], timeout: float, poll: float = 0.5) -> Any:
    """Poll until ready() returns something truthy; raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = ready()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not seen within {timeout:g} s")
        time.sleep(poll)
