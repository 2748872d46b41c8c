"""What one destructive check creates: on the run ledger before it exists, undone newest first after.

Why its own module: it sits above both the CloudStack client (which it creates through) and
cloudgate.undo (how each ledger entry is undone, itself through the client). Inside the client
module it made a circle (client -> undo -> client), bound late to dodge the import.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cloudgate.cloudstack.client import CloudStackClient, first_line, scrub
from cloudgate.ledger import Entry, Ledger, run_ledger_path
from cloudgate.ledger import read as ledger_read
from cloudgate.undo import Undoer, refusing_sigint


@dataclass
class Tracker:
    """What one destructive check creates, on the run ledger, and its undo, newest first, whatever happens.

    Every resource is written to the ledger *before* the call that creates it (`intend`, or the
    `creating` block), then its id once CloudStack answers, then `undone`. So an interrupt at any
    instant leaves either nothing or an entry naming it, and undo resolves an entry whose create
    call was in flight by name. `cleanup` first waits (bounded) for creations still in flight —
    undoing before a create call lands would miss what it creates — then undoes, refusing Ctrl-C.
    Entries are read back from the ledger file, so one written an instant before an interrupt is
    undone too. `cancel` is set when the check is interrupted: workers check it between steps.
    """

    client: CloudStackClient
    run_tag: str
    ledger: Ledger | None = None
    undoer: Callable[[Entry], str] | None = None
    scope: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    settle_timeout: float = 0.0  # 0: the client's HTTP timeout plus a margin
    cancel: threading.Event = field(default_factory=threading.Event)
    _undo: list[tuple[str, Callable[[], Any]] | Entry] = field(default_factory=list, repr=False)
    _settled: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def __post_init__(self) -> None:
        if self.ledger is None:
            self.ledger = Ledger(run_ledger_path(), run=self.run_tag, target=self.client.target_name,
                                 endpoint=self.client.endpoint)
        if self.undoer is None:

            self.undoer = Undoer(self.client).undo

    # -- recording ---------------------------------------------------------------------------
    def intend(self, kind: str, name: str, *, attrs: dict[str, Any] | None = None,
               undo: dict[str, Any] | None = None) -> Entry:
        """Write the entry before creating `name`; returns it for `created` / `settled`."""
        assert self.ledger is not None
        entry = self.ledger.intend(kind, name, scope=self.scope, attrs=attrs, undo=undo)
        with self._settled:
            self._undo.append(entry)
        return entry

    def created(self, entry: Entry, resource_id: str | None, job: str | None = None) -> None:
        assert self.ledger is not None
        self.ledger.created(entry, resource_id, job)
        with self._settled:
            self._settled.notify_all()

    def settled(self, entry: Entry, error: str = "") -> None:
        assert self.ledger is not None
        self.ledger.settled(entry, error)
        with self._settled:
            self._settled.notify_all()

    @contextmanager
    def creating(self, kind: str, name: str, *, attrs: dict[str, Any] | None = None,
                 undo: dict[str, Any] | None = None) -> Iterator[Entry]:
        """`with tracker.creating("vm", name) as entry: ...create...; tracker.created(entry, id, job)`.

        A block that ends without `created` (an error, a timeout: the resource may exist or not)
        settles the entry, so undo stops waiting for it and looks it up by name.
        """
        entry = self.intend(kind, name, attrs=attrs, undo=undo)
        try:
            yield entry
        except BaseException as exc:
            if entry.in_flight:
                self.settled(entry, scrub(first_line(exc)))
            raise
        if entry.in_flight:
            self.settled(entry)

    def add(self, description: str, undo: Callable[[], Any]) -> None:
        """An undo action kept in memory only (no janitor can sweep it): prefer `intend` for resources."""
        with self._settled:
            self._undo.append((description, undo))

    def release(self, how: str) -> None:
        """Hand everything recorded over to the operator: closed in the ledger as `how`, never undone."""
        assert self.ledger is not None
        for entry in self.pending():
            self.ledger.undone(entry, how)
        with self._settled:
            self._undo.clear()

    # -- undoing -----------------------------------------------------------------------------
    def pending(self) -> list[Entry]:
        """This tracker's entries not undone yet, as the ledger file tells them, oldest first.

        The file, not memory, is the truth: an entry written an instant before an interrupt is there."""
        assert self.ledger is not None
        on_file = {e.key: e for e in ledger_read(self.ledger.path) if e.scope == self.scope}
        with self._settled:
            memory = [e for e in self._undo if isinstance(e, Entry)]
        return [e for e in on_file.values() if e.pending] + [e for e in memory if e.key not in on_file and e.pending]

    def wait_in_flight(self) -> list[Entry]:
        """Wait (bounded) until no create call of this tracker is in flight; return those still in flight."""
        deadline = time.monotonic() + (self.settle_timeout or self.client.timeout + 5.0)
        with self._settled:
            while True:
                flying = [e for e in self._undo if isinstance(e, Entry) and e.in_flight and e.pending]
                left = deadline - time.monotonic()
                if not flying or left <= 0:
                    return flying
                self._settled.wait(timeout=min(left, 0.5))

    def cleanup(self) -> list[str]:
        """Undo everything this tracker recorded, newest first; one line per failure (never raises)."""
        self.cancel.set()
        problems: list[str] = []
        with refusing_sigint(lambda: len(self.pending()) + sum(isinstance(a, tuple) for a in self._undo)):
            self.wait_in_flight()
            pending = {e.key: e for e in self.pending()}
            with self._settled:
                actions = list(self._undo)
                self._undo.clear()
            listed = {a.key for a in actions if isinstance(a, Entry)}
            actions += [e for key, e in pending.items() if key not in listed]  # on file only: the newest
            for action in reversed(actions):
                if isinstance(action, Entry):
                    entry = pending.get(action.key)
                    if entry is None:
                        continue  # undone already
                    problem = self._undo_entry(entry)
                else:
                    problem = _run_legacy(*action)
                if problem:
                    problems.append(problem)
        return problems

    def _undo_entry(self, entry: Entry) -> str | None:
        assert self.ledger is not None and self.undoer is not None
        try:
            how = self.undoer(entry)
        except Exception as exc:  # noqa: BLE001 - cleanup must try every entry
            return f"cleanup of {entry.describe()} failed: {scrub(first_line(exc))} (left in {self.ledger.path})"
        self.ledger.undone(entry, how)
        return None


def _run_legacy(description: str, undo: Callable[[], Any]) -> str | None:
    try:
        undo()
    except Exception as exc:  # noqa: BLE001 - cleanup must try every action
        return f"cleanup of {description} failed: {scrub(first_line(exc))}"
    return None


@contextmanager
def tracked(client: CloudStackClient, run_tag: str) -> Iterator[Tracker]:
    tracker = Tracker(client, run_tag)
    try:
        yield tracker
    finally:
        tracker.cleanup()
