"""The run ledger's safety net: whatever this process wrote to the ledger and did not undo, it undoes.

A check's own teardown (the `cloudstack_rw` Tracker, the latency check's `finally`) undoes what it
created. This part is for the cases where that did not happen or did not finish: a fixture
teardown cut short, an undo that failed once, an exception in another plugin's sessionfinish.
At the end of the session every entry of *this* process (pid and start time) still pending is
undone — xdist workers each sweep their own; entries of other processes are the janitor's.

After Ctrl-C, pytest tears fixtures down at session finish (runner's pytest_sessionfinish runs
SetupState.teardown_exact), so the undo happens inside pytest; from the KeyboardInterrupt to the
end of the safety net a second Ctrl-C is refused with one line on stderr. Under pytest-xdist the
terminal's SIGINT reaches the workers too and each undoes its own entries, but the controller
kills workers that have not exited 10 s after it was interrupted (xdist's EXIT_TIMEOUT): what a
killed worker leaves is in the ledger, for `cloudgate janitor`.

pytest captures fd 2 while tests run, so the refusal line goes to a copy of the terminal's stderr
taken before capturing starts.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator

import pytest

from cloudgate.ledger import Entry, Ledger, ProcessId, current_run_id, run_ledger_path
from cloudgate.ledger import read as ledger_read
from cloudgate.plugin.state import loaded_target_of
from cloudgate.undo import UndoError, notice, refusing_sigint, set_notice_fd

REFUSAL_KEY = pytest.StashKey[contextlib.ExitStack]()


def mine_pending() -> list[Entry]:
    """Entries of this process's ledger, written by this very process, not undone yet."""
    me = ProcessId.current()
    return [e for e in ledger_read(run_ledger_path()) if e.pending and e.written_by(me)]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, None, None]:
    """Keep a descriptor on the real stderr before pytest's capture replaces fd 2."""
    with contextlib.suppress(OSError):
        set_notice_fd(os.dup(2))
    return (yield)


@pytest.fixture
def run_ledger(request: pytest.FixtureRequest) -> Ledger:
    """This process's run ledger, for checks that create outside CloudStack (a Cassandra keyspace)."""
    loaded = loaded_target_of(request.config)
    target = loaded.target.name if loaded is not None else ""
    endpoint = loaded.target.cloudstack.endpoint if loaded is not None else ""
    return Ledger(run_ledger_path(), run=current_run_id(), target=target, endpoint=endpoint)


_configs: list[pytest.Config] = []  # pytest_keyboard_interrupt is given no config; pytester nests sessions


def pytest_configure(config: pytest.Config) -> None:
    _configs.append(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    if config in _configs:
        _configs.remove(config)


@pytest.hookimpl(tryfirst=True)
def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """From the first Ctrl-C on, a second one is refused while anything of this process is pending.

    Held until the safety net has run: it covers the fixture teardown that does the undo. First
    among this hook's implementations: the terminal reporter's (rendering the traceback) is slow
    enough for a second Ctrl-C to land in it."""
    config = _configs[-1] if _configs else None
    if config is None or REFUSAL_KEY in config.stash or not mine_pending():
        return
    stack = contextlib.ExitStack()
    stack.enter_context(refusing_sigint(lambda: len(mine_pending())))
    config.stash[REFUSAL_KEY] = stack


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
    """After every other sessionfinish (fixture teardown included): undo what this process left pending."""
    try:
        return (yield)
    finally:
        stack = session.config.stash.get(REFUSAL_KEY, None)
        try:
            _safety_net(session.config)
        finally:
            if stack is not None:
                stack.close()


def _safety_net(config: pytest.Config) -> None:
    left = mine_pending()
    if not left:
        return
    loaded = loaded_target_of(config)
    if loaded is None:
        notice(f"cloudgate: {len(left)} ledger entr(ies) of this run pending and no target to undo them on: "
               f"run `cloudgate janitor` ({run_ledger_path()})")
        return
    from cloudgate.cloudstack.client import CloudStackClient, CloudStackError
    from cloudgate.undo import Undoer

    ledger = Ledger(run_ledger_path(), run=current_run_id(), target=loaded.target.name,
                    endpoint=loaded.target.cloudstack.endpoint)
    with refusing_sigint(lambda: len(mine_pending())):
        try:
            undoer = Undoer(CloudStackClient.for_target(loaded, allow_mutations=True), loaded.target)
        except Exception as exc:  # noqa: BLE001 - a missing secret must not hide the leftovers
            notice(f"cloudgate: cannot undo {len(left)} pending ledger entr(ies): {exc}; run `cloudgate janitor`")
            return
        for entry in reversed(left):
            try:
                how = undoer.undo(entry)
            except (UndoError, CloudStackError) as exc:
                notice(f"cloudgate: left behind: {exc} (ledger {entry.path}; `cloudgate janitor` will retry)")
                continue
            ledger.undone(entry, how)
            notice(f"cloudgate: safety net: {how} {entry.describe()}")
