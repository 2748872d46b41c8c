"""The generator: open-loop writers and readers per application, then the read-back.

Open loop, as in the latency check: operation i of a stream is due at start + i/rate whatever
happened to operation i-1, so an outage shows up as the requests the applications would have sent
and lost, not as a load that politely slowed down. Every stream is bounded in count (rate x
seconds), in time (it stops at its end even if the driver stalls) and in requests in flight
(beyond `max_in_flight` an operation fails at once, recorded as such: the application would have
been refused too).

Writes use unique keys (`<client>-<n>`) and write the operation's index as the value, so the
read-back can tell a lost write from a stale one. Readers read keys their own client had written
and seen acknowledged, so a read measures availability, not the absence of data.

The read-back runs after the heal, per datacenter, at LOCAL_QUORUM through a coordinator of that
datacenter only: every acknowledged write must be readable from each datacenter on its own (the
one that survives the next disaster). It reads in rounds, each round re-reading what the previous
ones did not find, until everything acknowledged was found or `convergence_seconds` are spent
(hints and read repair get that long to converge).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from typing import Any

from cassandra.cluster import ResponseFuture, Session

from cloudgate.drills.client import classify, connected, one_line
from cloudgate.drills.history import HistoryWriter
from cloudgate.target import CassandraClient, CassandraSection, Consistency, RetryPolicyName

READ_BACK_CONCURRENCY = 64
READ_BACK_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Shape:
    """One application's load in a drill."""

    seconds: float
    write_rate: int
    read_rate: int
    max_in_flight: int


def _coordinator(future: ResponseFuture) -> str | None:
    host = getattr(future, "coordinator_host", None)
    return str(getattr(host, "address", host)) if host is not None else None


@dataclass
class ClientLoad:
    """The load of one application: a writer and a reader stream, recorded into the history."""

    client: CassandraClient
    session: Session
    keyspace: str
    table: str
    history: HistoryWriter
    shape: Shape
    acked: list[str] = field(default_factory=list)  # keys acknowledged, in acknowledgement order
    in_flight: threading.Semaphore = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _outstanding: int = 0
    _idle: threading.Event = field(default_factory=threading.Event)
    _completed: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.in_flight = threading.Semaphore(self.shape.max_in_flight)
        self._idle.set()
        self.insert = self.session.prepare(f"INSERT INTO {self.keyspace}.{self.table} (k, v) VALUES (?, ?)")
        self.insert.is_idempotent = True  # a unique key written once: speculative execution may retry it
        self.select = self.session.prepare(f"SELECT v FROM {self.keyspace}.{self.table} WHERE k = ?")
        self.select.is_idempotent = True

    # -- one operation -------------------------------------------------------------------------
    def _complete(self, index: int, type_: str, **fields: Any) -> None:
        with suppress(ValueError):  # the history was closed: a driver callback after the drill's bounded wait
            self.history.complete(index, type_, **fields)
        with self._lock:
            # cassandra-driver 3.29/3.30 may call a callback again for a request it ran speculatively:
            # the history keeps every call (the checker counts the first), the accounting only one
            if index in self._completed:
                return
            self._completed.add(index)
            self._outstanding -= 1
            if self._outstanding == 0:
                self._idle.set()
        self.in_flight.release()

    def _issue(self, f: str, key: str, value: int | None) -> None:
        process = f"{self.client.name}/{'writer' if f == 'write' else 'reader'}"
        fields = {"f": f, "process": process, "client": self.client.name, "dc": self.client.dc, "key": key}
        if f == "write":
            fields["value"] = value
        if not self.in_flight.acquire(blocking=False):
            index = self.history.invoke(**fields)
            self.history.complete(index, "fail", error=f"client overloaded: {self.shape.max_in_flight} requests in flight")
            return
        with self._lock:
            self._outstanding += 1
            self._idle.clear()
        index = self.history.invoke(**fields)
        try:
            if f == "write":
                future = self.session.execute_async(self.insert, (key, value))
            else:
                future = self.session.execute_async(self.select, (key,))
        except Exception as exc:  # noqa: BLE001 - the driver refused synchronously: the op did not start
            self._complete(index, "fail", error=one_line(exc))
            return

        def ok(rows: Any, index: int = index, future: ResponseFuture = future) -> None:
            extra: dict[str, Any] = {}
            if f == "read":
                found = list(rows or [])
                extra["value"] = found[0].v if found else None
            else:
                with self._lock:
                    if index not in self._completed:
                        self.acked.append(key)
            self._complete(index, "ok", coordinator=_coordinator(future), **extra)

        def failed(exc: BaseException, index: int = index, future: ResponseFuture = future) -> None:
            self._complete(index, classify(f, exc), coordinator=_coordinator(future), error=one_line(exc))

        future.add_callbacks(ok, failed)

    # -- the streams ---------------------------------------------------------------------------
    def _stream(self, rate: int, start: float, stop: threading.Event, op: Callable[[int], None]) -> None:
        total = int(rate * self.shape.seconds)
        end = start + self.shape.seconds
        for i in range(total):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
            if time.monotonic() > end or stop.is_set():
                return
            op(i)

    def write_stream(self, start: float, stop: threading.Event) -> None:
        self._stream(self.shape.write_rate, start, stop, lambda i: self._issue("write", f"{self.client.name}-{i:07d}", i))

    def read_stream(self, start: float, stop: threading.Event) -> None:
        rng = random.Random(self.client.name)

        def read(_i: int) -> None:
            with self._lock:
                recent = self.acked[-200:]
            if recent:  # nothing acknowledged yet: an application would have nothing to read either
                self._issue("read", rng.choice(recent), None)

        if self.shape.read_rate:
            self._stream(self.shape.read_rate, start, stop, read)

    def wait_idle(self, timeout: float) -> bool:
        """Wait (bounded) for the requests still in flight; False if some never answered."""
        return self._idle.wait(timeout)


def run_load(loads: list[ClientLoad], start: float, stop: threading.Event) -> list[threading.Thread]:
    """Start every stream of every application; returns the threads (join them)."""
    threads = []
    for load in loads:
        for stream in (load.write_stream, load.read_stream):
            t = threading.Thread(target=stream, args=(start, stop), name=f"drill-{load.client.name}-{stream.__name__}",
                                 daemon=True)
            t.start()
            threads.append(t)
    return threads


# --------------------------------------------------------------------------- read-back
def read_back_client(dc: str) -> CassandraClient:
    """How the read-back reads: LOCAL_QUORUM in `dc` only, no remote DC, no retry elsewhere."""
    return CassandraClient(name=f"read-back-{dc}", dc=dc, used_hosts_per_remote_dc=0,
                           consistency=Consistency.LOCAL_QUORUM, request_timeout_seconds=READ_BACK_TIMEOUT_S,
                           idle_heartbeat_interval_seconds=5, retry=RetryPolicyName.fallthrough,
                           connect_timeout_seconds=5)


def _read_round(session: Session, statement: Any, keys: Iterable[tuple[str, int]], dc: str, round_: int,
                history: HistoryWriter, deadline: float) -> set[str]:
    """Read `keys` once, bounded in concurrency; returns the keys found with their written value."""
    found: set[str] = set()
    slots = threading.Semaphore(READ_BACK_CONCURRENCY)
    lock = threading.Lock()
    outstanding = [0]
    completed: set[int] = set()
    done = threading.Event()
    done.set()

    def finish(index: int, type_: str, key: str | None, **fields: Any) -> None:
        with suppress(ValueError):
            history.complete(index, type_, **fields)
        with lock:
            if key is not None:
                found.add(key)
            if index in completed:  # a second callback for one request (see ClientLoad._complete)
                return
            completed.add(index)
            outstanding[0] -= 1
            if outstanding[0] == 0:
                done.set()
        slots.release()

    for key, value in keys:
        if time.monotonic() > deadline:
            break
        slots.acquire()
        with lock:
            outstanding[0] += 1
            done.clear()
        index = history.invoke(f="read-back", process=f"read-back/{dc}", dc=dc, key=key, round=round_)
        try:
            future = session.execute_async(statement, (key,))
        except Exception as exc:  # noqa: BLE001
            finish(index, "fail", None, error=one_line(exc))
            continue

        def ok(rows: Any, index: int = index, key: str = key, value: int = value,
               future: ResponseFuture = future) -> None:
            got = list(rows or [])
            read = got[0].v if got else None
            finish(index, "ok", key if read == value else None, value=read, coordinator=_coordinator(future))

        def failed(exc: BaseException, index: int = index, future: ResponseFuture = future) -> None:
            finish(index, "fail", None, error=one_line(exc), coordinator=_coordinator(future))

        future.add_callbacks(ok, failed)
    done.wait(READ_BACK_TIMEOUT_S * 3)
    return found


@dataclass(frozen=True)
class ReadBackResult:
    rounds: int
    missing: dict[str, int]  # dc -> acknowledged writes still not found
    seconds: float


def read_back(cfg: CassandraSection, target_name: str, keyspace: str, table: str, acked: dict[str, int],
              others: dict[str, int], history: HistoryWriter, convergence_seconds: float,
              pause: float = 1.0) -> ReadBackResult:
    """Read every written key back from each DC until everything acknowledged is found (bounded).

    `acked`: key -> value of the acknowledged writes; `others`: the indeterminate and failed ones,
    read once (round 1) so the checker can say which of them were applied after all."""
    started = time.monotonic()
    deadline = started + convergence_seconds
    missing = {dc: dict(acked) for dc in cfg.contact_points}
    rounds = 0
    sessions: dict[str, tuple[Session, Any]] = {}
    with ExitStack() as stack:
        while time.monotonic() < deadline and any(missing.values()):
            rounds += 1
            for dc in cfg.contact_points:
                if not missing[dc]:
                    continue
                if dc not in sessions:
                    try:
                        _, sess = stack.enter_context(connected(cfg, read_back_client(dc), target_name, keyspace))
                    except Exception:  # noqa: BLE001 - not reachable yet: the next round tries again
                        continue
                    stmt = sess.prepare(f"SELECT v FROM {keyspace}.{table} WHERE k = ?")
                    sessions[dc] = (sess, stmt)
                sess, stmt = sessions[dc]
                keys = list(missing[dc].items())
                if rounds == 1:
                    keys += list(others.items())
                found = _read_round(sess, stmt, keys, dc, rounds, history, deadline)
                for key in found:
                    missing[dc].pop(key, None)
            if any(missing.values()) and time.monotonic() + pause < deadline:
                time.sleep(pause)
    return ReadBackResult(rounds, {dc: len(m) for dc, m in missing.items()}, time.monotonic() - started)
