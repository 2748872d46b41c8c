"""Ctrl-C while the run writes its reports: noted in one line, the reports finished, exit 2.

Why: pytest is not safe against a KeyboardInterrupt inside its own shutdown. One landing in a
plugin's `pytest_unconfigure` (junitxml unregistering itself) left pytest to unconfigure again and
print `AssertionError: plugin is not registered` with a traceback, and one landing while the page
renders would leave half a run directory. From the first sessionfinish to the last unconfigure the
run is only writing what it already knows, in well under a second, so a Ctrl-C there is *deferred*:
one line on the terminal, the reports completed, and the run exits 2 (interrupted) as the operator
asked. After the last unconfigure Python's own handler is back: whatever the process does next
(`cloudgate run --runners` runs pytest twice, a wrapper tears a lab down) can be interrupted again.

The undo's own refusal (cleanup: "undoing what this run created...") takes precedence while it
holds the handler: this part installs its handler again once the undo is over.

A Ctrl-C that lands early (CI saw one during pytest_sessionstart) can leave a frame that CPython 3.11
gives no line number; pytest then fails while rendering where it was interrupted and prints its own
traceback instead of one line. This part drops such frames before pytest renders them, and if the
rendering fails anyway, says so in one line: the run is interrupted either way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Generator
from types import FrameType

import pytest

from cloudgate.plugin.state import RUN_KEY

LINE = "cloudgate: Ctrl-C while the run writes its reports: they are finished first, then the run exits 2"
SESSION_KEY = pytest.StashKey[pytest.Session]()
_noted: list[bool] = []  # non-empty once a Ctrl-C was deferred in this process


def _notice(line: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, (line + "\n").encode())


def _defer(_signum: int, _frame: FrameType | None) -> None:
    if not _noted:
        _noted.append(True)
        _notice(LINE)


def _guarding(config: pytest.Config) -> bool:
    return config.stash.get(RUN_KEY, None) is not None and threading.current_thread() is threading.main_thread()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[SESSION_KEY] = session


def _without_lineless_frames(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """Drop traceback entries CPython left without a line number (pytest's rendering subtracts from it)."""
    with contextlib.suppress(Exception):
        if any(getattr(entry._rawentry, "tb_lineno", 0) is None for entry in excinfo.traceback):
            excinfo.traceback = excinfo.traceback.filter(
                lambda entry: getattr(entry._rawentry, "tb_lineno", 0) is not None)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> Generator[None, None, None]:
    """Outermost around the terminal reporter's rendering of where the run was interrupted."""
    _without_lineless_frames(excinfo)
    try:
        return (yield)
    except Exception as exc:  # noqa: BLE001 - pytest's own rendering failed: one line, never its traceback
        _notice(f"cloudgate: interrupted (where could not be shown: {type(exc).__name__}: {exc})")
        return None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, None, None]:
    """Outermost: deferred from the first sessionfinish on, and again after the undo's refusal ended."""
    if not _guarding(session.config):
        return (yield)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # else the undo's refusal holds it
        signal.signal(signal.SIGINT, _defer)
    try:
        return (yield)
    finally:
        signal.signal(signal.SIGINT, _defer)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Last: a deferred Ctrl-C turns the exit status into 2 (interrupted); Python's handler is back."""
    if not _guarding(config):
        return
    session = config.stash.get(SESSION_KEY, None)
    if _noted and session is not None and session.exitstatus in (0, 1, 5):
        session.exitstatus = pytest.ExitCode.INTERRUPTED
    _noted.clear()
    signal.signal(signal.SIGINT, signal.default_int_handler)
