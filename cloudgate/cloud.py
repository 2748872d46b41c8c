"""CloudStack client for the suite, on top of `cs`: read-only by default, one-line errors, cleanup.

Why a wrapper and not `cs` directly:
- a smoke run on production must never change anything, and that is enforced here, in code: any
  command that is not a read (list*/query*/get*) raises `MutationRefused` unless the client was
  built for a destructive run;
- every failure becomes one `CloudStackError` line naming the target and the cause (unreachable,
  credentials refused, an API error code) — never a traceback wall, never a URL that carries the
  API key or the signature;
- what a destructive check creates is written to the run ledger before it is created and removed
  afterwards, even when the check fails or is interrupted (`Tracker`, on cloudgate.ledger).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from cs import CloudStack, CloudStackApiException, CloudStackException
from pydantic import SecretStr

from cloudgate.errors import CloudStackError  # defined there: the plugin must not load cs and requests
from cloudgate.ledger import Entry, Ledger, run_ledger_path
from cloudgate.ledger import read as ledger_read
from cloudgate.target import LoadedTarget

READ_PREFIXES = ("list", "query", "get")
MUTATING_DESPITE_PREFIX = ("getUploadParams",)  # get* commands that create records


class MutationRefused(CloudStackError):
    """A mutating command was attempted by a read-only (non-destructive) run."""


_SECRET_QS = re.compile(r"(?i)(apikey|signature|secretkey|expires)=[^&\s'\"]*")


def scrub(text: str) -> str:
    """Remove API keys and signatures from text bound for a log or a report."""
    return _SECRET_QS.sub(lambda m: f"{m.group(1)}=***", text)


def is_read_only(command: str) -> bool:
    return command.startswith(READ_PREFIXES) and not command.startswith(MUTATING_DESPITE_PREFIX)


@dataclass
class CloudStackClient:
    """The suite's handle on one CloudStack endpoint."""

    target_name: str
    endpoint: str
    api_key: str
    secret: SecretStr
    timeout: float = 10.0
    job_timeout: float = 600.0
    verify_tls: bool = True
    allow_mutations: bool = False
    key_variable: str = "the API key variable"
    _cs: CloudStack = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._cs = CloudStack(
            endpoint=self.endpoint,
            key=self.api_key,
            secret=self.secret.get_secret_value(),
            timeout=self.timeout,
            job_timeout=int(self.job_timeout),
            poll_interval=0.2,
            verify=self.verify_tls,
            # POST: the API key and signature travel in the body, never in a URL a proxy or a
            # DEBUG log (urllib3) could record
            method="post",
        )

    @classmethod
    def for_target(cls, loaded: LoadedTarget, *, allow_mutations: bool = False) -> CloudStackClient:
        """The client a target file describes (its secrets from the variables it names)."""
        cs = loaded.target.cloudstack
        key, secret = loaded.api_credentials()
        return cls(
            target_name=loaded.target.name, endpoint=cs.endpoint, api_key=key, secret=secret,
            timeout=cs.timeout_seconds, job_timeout=cs.job_timeout_seconds, verify_tls=cs.verify_tls,
            allow_mutations=allow_mutations, key_variable=cs.api_key_env,
        )

    def __repr__(self) -> str:  # never print the key or the secret
        return f"CloudStackClient({self.target_name!r}, {self.endpoint!r}, mutations={self.allow_mutations})"

    # -- calls ------------------------------------------------------------------------------
    def call(self, command: str, **params: Any) -> dict[str, Any]:
        """One API call; async commands are waited for (fetch_result) and return the job result."""
        if not is_read_only(command) and not self.allow_mutations:
            raise MutationRefused(
                f"{self.target_name}: refused to send {command}: this run is read-only "
                "(mutating commands need a destructive test, --allow-destructive and a lab/preproduction target)",
                command=command,
            )
        method = getattr(self._cs, command)
        try:
            return method(**params)
        except CloudStackApiException as exc:
            raise self._api_error(command, exc) from None
        except requests.exceptions.Timeout:
            raise CloudStackError(
                f"{self.target_name}: CloudStack API at {self.endpoint} did not answer {command} within {self.timeout:g} s",
                command=command,
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise CloudStackError(
                f"{self.target_name}: CloudStack API unreachable at {self.endpoint} ({_root_cause(exc)})",
                command=command,
            ) from None
        except CloudStackException as exc:
            raise CloudStackError(
                f"{self.target_name}: {command} failed: {scrub(_first_line(exc))}", command=command
            ) from None

    def list(self, command: str, **params: Any) -> list[dict[str, Any]]:
        """A list* call with every page fetched; always a list (empty when CloudStack says {})."""
        result = self.call(command, fetch_list=True, **params)
        return result if isinstance(result, list) else []

    def wait_job(self, jobid: str, timeout: float | None = None,
                 stop: Callable[[], bool] | None = None) -> dict[str, Any]:
        """Poll queryAsyncJobResult until the job ends; a failed job raises with its errortext.

        `stop` (checked between polls) abandons the wait — the job goes on — when the run is interrupted."""
        deadline = time.monotonic() + (timeout or self.job_timeout)
        while True:
            if stop is not None and stop():
                raise CloudStackError(f"{self.target_name}: stopped waiting for job {jobid}: the run was interrupted")
            job = self.call("queryAsyncJobResult", jobid=jobid)
            status = int(job.get("jobstatus", 0))
            if status == 1:
                return job.get("jobresult", {})
            if status == 2:
                result = job.get("jobresult", {}) or {}
                code = result.get("errorcode") or job.get("jobresultcode")
                raise CloudStackError(
                    f"{self.target_name}: job {jobid} ({job.get('cmd', '?').rsplit('.', 1)[-1]}) failed: "
                    f"{code} {result.get('errortext', '')}".strip(),
                    errorcode=int(code) if code else None,
                )
            if time.monotonic() > deadline:
                raise CloudStackError(f"{self.target_name}: job {jobid} still pending after {timeout or self.job_timeout:g} s")
            time.sleep(0.2)

    def _api_error(self, command: str, exc: CloudStackApiException) -> CloudStackError:
        error = exc.error if isinstance(getattr(exc, "error", None), dict) else {}
        code = error.get("errorcode")
        text = scrub(str(error.get("errortext") or _first_line(exc)))
        if code == 401:
            text = (
                f"API credentials refused (401: {text}); check the key and secret in ${self.key_variable} "
                "and its secret variable"
            )
        elif code == 432:
            text = f"command not available (432: {text})"
        else:
            text = f"{code} {text}" if code else text
        return CloudStackError(f"{self.target_name}: {command} failed: {text}", errorcode=code, command=command)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a requests ConnectionError ('Connection refused'), scrubbed."""
    cause: BaseException | None = exc
    while cause is not None and (cause.__cause__ or cause.__context__):
        cause = cause.__cause__ or cause.__context__
    text = str(cause or exc)
    m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    return scrub(m.group(1).strip() if m else text.splitlines()[0])[:160]


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
            from cloudgate.undo import Undoer  # undo imports this module: bound late

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
                self.settled(entry, scrub(_first_line(exc)))
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
        from cloudgate.undo import refusing_sigint

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
            return f"cleanup of {entry.describe()} failed: {scrub(_first_line(exc))} (left in {self.ledger.path})"
        self.ledger.undone(entry, how)
        return None


def _run_legacy(description: str, undo: Callable[[], Any]) -> str | None:
    try:
        undo()
    except Exception as exc:  # noqa: BLE001 - cleanup must try every action
        return f"cleanup of {description} failed: {scrub(_first_line(exc))}"
    return None


@contextmanager
def tracked(client: CloudStackClient, run_tag: str) -> Iterator[Tracker]:
    tracker = Tracker(client, run_tag)
    try:
        yield tracker
    finally:
        tracker.cleanup()
