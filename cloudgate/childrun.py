"""Running the suite as a child process (the gate's runs, the lab's nightly) so that Ctrl-C ends it well.

Why not subprocess.run: on Ctrl-C it gives the child 0.25 s and then SIGKILLs it, so a run that was
undoing what it made (probe VMs, a drill's stopped node, canaries) or writing its reports is cut
down mid-way: its ledger is left to the janitor and its page never says it was interrupted. And a
terminal's Ctrl-C reaches the whole process group, so a child in ours gets it at the same moment as
we do, then again if we pass it on — a second SIGINT landing in pytest's own interrupt handling.

So the child runs in its own session (a terminal's Ctrl-C reaches only us), and on Ctrl-C it gets
exactly one SIGINT and a bounded time to end as interrupted; a second Ctrl-C stops the wait. If we
are killed outright (kill -9), Linux sends the child that same SIGINT (PR_SET_PDEATHSIG), so it does
not go on alone: it undoes what it made and writes its reports as interrupted.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

GRACE_SECONDS = 120.0  # a run undoes what it made (drills, probe VMs, canaries) and writes its reports


PR_SET_PDEATHSIG = 1  # prctl(2)


def _interrupted_when_parent_dies() -> None:
    """In the child, before exec: Ctrl-C honoured even if we were started with it ignored (nohup, a
    background job: the child would inherit SIG_IGN and never hear the SIGINT we pass on), and SIGINT
    when the thread that started it dies (Linux; elsewhere nothing).

    run_child is called from the main thread (the gate, the lab's nightly), so that is the wrapper's death."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Python in the child then installs its own handler
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGINT), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def run_child(argv: Sequence[str], env: Mapping[str, str] | None = None, *, what: str,
              grace_s: float = GRACE_SECONDS) -> int:
    """Run `argv` to its end and return its exit status; on Ctrl-C see the module's docstring."""
    current = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is threading.main_thread() and current != signal.SIG_IGN:
        # set again at the C level: a C library may have left SIGINT at its default behind Python's back
        # (OR-Tools did), and then this wait would die without its KeyboardInterrupt
        signal.signal(signal.SIGINT, current if callable(current) else signal.default_int_handler)
    proc = subprocess.Popen(list(argv), env=dict(env) if env is not None else None, start_new_session=True,
                            preexec_fn=_interrupted_when_parent_dies)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        print(f"cloudgate: interrupted: {what} undoes what it made and writes its reports "
              f"(up to {grace_s:g} s; Ctrl-C again to stop waiting)", file=sys.stderr, flush=True)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=grace_s)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            proc.kill()
            proc.wait()
        raise
