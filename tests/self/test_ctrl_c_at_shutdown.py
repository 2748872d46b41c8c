"""A Ctrl-C at any moment of pytest's own shutdown ends with one line and exit 2, the reports whole
(pytester, no cloud needed). CI once caught one landing in junitxml's unconfigure: a traceback."""

from __future__ import annotations

import pytest

SUITE = "def test_one():\n    pass\n"
# a Ctrl-C delivered from inside the hook named by CTRL_C_IN (the signal is handled before the hook returns)
SIGNALLER = """
import os
import signal
import time

import pytest


def _ctrl_c(where):
    if os.environ.get("CTRL_C_IN") == where:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    _ctrl_c("sessionfinish-first")


class _Late:
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        _ctrl_c("sessionfinish-last")


def pytest_configure(config):
    config.pluginmanager.register(_Late(), "late-ctrl-c")


def pytest_unconfigure(config):
    _ctrl_c("unconfigure")
"""


@pytest.mark.usefixtures("secrets_set")
@pytest.mark.parametrize("where", ["sessionfinish-first", "sessionfinish-last", "unconfigure"])
def test_ctrl_c_while_the_run_writes_its_reports_is_one_line_exit_2_and_the_reports_are_whole(
        pytester, make_target, monkeypatch, where):
    target = make_target(pytester.path / "t.yaml", environment="lab")
    pytester.makepyfile(test_suite=SUITE)
    pytester.makeconftest(SIGNALLER)
    monkeypatch.setenv("CTRL_C_IN", where)
    result = pytester.runpytest_subprocess(f"--target={target}", f"--reports-dir={pytester.path / 'reports'}",
                                           "-p", "no:cacheprovider")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED, output
    assert "Traceback" not in output and "INTERNALERROR" not in output, output
    assert output.count("cloudgate: Ctrl-C while the run writes its reports") == 1, output
    latest = pytester.path / "reports" / "latest"
    for name in ("junit.xml", "summary.json", "metrics.json", "index.html", "cloudgate.prom"):
        assert (latest / name).stat().st_size > 0, f"{name} missing after a Ctrl-C in {where}"


BROKEN_RENDERING = """
def pytest_keyboard_interrupt(excinfo):
    # what CI saw: pytest rendering where it was interrupted, a frame without a line number
    raise TypeError("unsupported operand type(s) for -: 'NoneType' and 'int'")
"""


def test_a_ctrl_c_whose_place_pytest_cannot_render_is_one_line_and_exit_2(pytester):
    pytester.makepyfile(test_cut="def test_cut():\n    raise KeyboardInterrupt\n")
    pytester.makeconftest(BROKEN_RENDERING)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED, output
    assert "Traceback" not in output, output
    assert "cloudgate: interrupted (where could not be shown: TypeError: unsupported operand" in output


def test_frames_without_a_line_number_are_dropped_before_pytest_renders_them():
    from types import SimpleNamespace

    from _pytest._code import Traceback, TracebackEntry

    from cloudgate.plugin.shutdown import _without_lineless_frames

    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        excinfo = pytest.ExceptionInfo.from_current()
    real = list(excinfo.traceback)
    lineless = TracebackEntry(SimpleNamespace(tb_frame=real[0]._rawentry.tb_frame, tb_lineno=None, tb_next=None))
    excinfo.traceback = Traceback([*real, lineless])
    _without_lineless_frames(excinfo)
    assert len(excinfo.traceback) == len(real)
    excinfo.getrepr()  # renders: no frame left to subtract from
