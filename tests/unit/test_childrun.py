"""Ctrl-C while the suite runs as a child: the child gets exactly one SIGINT and time to finish."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

CHILD = textwrap.dedent("""
    import signal, sys, time
    from pathlib import Path
    out = Path(sys.argv[1])
    got = []
    signal.signal(signal.SIGINT, lambda *_: got.append(1))
    out.with_suffix(".ready").write_text("ready")
    deadline = time.monotonic() + 20
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(float(sys.argv[2]))  # undoing, writing its reports
    out.write_text(f"{len(got)} SIGINT, finished")
    sys.exit(2)
""")
PARENT = textwrap.dedent("""
    import sys
    from cloudgate.childrun import run_child
    try:
        run_child([sys.executable, "-c", sys.argv[1], sys.argv[2], sys.argv[3]], what="the test run", grace_s=10)
    except KeyboardInterrupt:
        sys.exit(130)
""")


def _start(tmp_path: Path, finish_s: float) -> tuple[subprocess.Popen[str], Path]:
    out = tmp_path / "child.txt"
    with open(tmp_path / "parent.err", "w") as err:
        parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD, str(out), str(finish_s)], stderr=err, text=True)
    deadline = time.monotonic() + 15
    while not out.with_suffix(".ready").exists():
        assert time.monotonic() < deadline and parent.poll() is None, "the child never started"
        time.sleep(0.02)
    return parent, out


def test_ctrl_c_reaches_the_child_once_and_the_wrapper_waits_for_it_to_finish(tmp_path):
    parent, out = _start(tmp_path, 0.5)
    parent.send_signal(signal.SIGINT)  # a terminal's Ctrl-C: the child is in its own session, it gets ours only
    parent.wait(timeout=20)
    err = (tmp_path / "parent.err").read_text()
    assert parent.returncode == 130
    assert out.read_text() == "1 SIGINT, finished"
    assert "the test run undoes what it made and writes its reports" in err and "Traceback" not in err


def test_a_second_ctrl_c_stops_the_wait(tmp_path):
    parent, out = _start(tmp_path, 30)
    parent.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 10
    while "Ctrl-C again" not in (tmp_path / "parent.err").read_text():  # the wrapper is in its grace wait
        assert time.monotonic() < deadline, "the wrapper never said it waits"
        time.sleep(0.02)
    parent.send_signal(signal.SIGINT)
    parent.wait(timeout=20)
    assert parent.returncode == 130 and not out.exists(), "the child was not stopped by the second Ctrl-C"


def test_the_child_is_interrupted_if_its_wrapper_is_killed_outright(tmp_path):
    parent, out = _start(tmp_path, 0.3)
    parent.kill()  # kill -9: no KeyboardInterrupt, no wait; Linux tells the child with SIGINT
    parent.wait(timeout=10)
    deadline = time.monotonic() + 15
    while not out.exists():
        assert time.monotonic() < deadline, "the child went on alone after its wrapper was killed"
        time.sleep(0.05)
    assert out.read_text() == "1 SIGINT, finished"


CHILD_WITH_PYTHONS_OWN_HANDLER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    out = Path(sys.argv[1])
    out.with_suffix(".ready").write_text("ready")
    try:
        time.sleep(20)
        out.write_text("never interrupted")
    except KeyboardInterrupt:  # what pytest relies on: Python's own handler, installed only if not ignored
        out.write_text("1 SIGINT, finished")
""")


def test_the_child_hears_the_ctrl_c_passed_on_even_when_the_wrapper_was_started_with_it_ignored(tmp_path):
    out = tmp_path / "child.txt"
    with open(tmp_path / "parent.err", "w") as err:
        parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD_WITH_PYTHONS_OWN_HANDLER, str(out), "0"],
                                  stderr=err, text=True,
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # like nohup
    deadline = time.monotonic() + 15
    while not out.with_suffix(".ready").exists():
        assert time.monotonic() < deadline and parent.poll() is None, "the child never started"
        time.sleep(0.02)
    parent.kill()  # the wrapper itself ignores Ctrl-C here; killed, it passes SIGINT on through the kernel
    parent.wait(timeout=10)
    while not out.exists():
        assert time.monotonic() < deadline + 15, "the child inherited SIG_IGN and went on alone"
        time.sleep(0.05)
    assert out.read_text() == "1 SIGINT, finished"
