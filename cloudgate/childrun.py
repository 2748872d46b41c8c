"""Running the suite as a child process (the gate's runs, the lab's nightly) so that Ctrl-C ends it well.

Why not subprocess.run: on Ctrl-C it gives the child 0.25 s and then SIGKILLs it, so a run that was
undoing what it made (probe VMs, a drill's stopped node, canaries) or writing its reports is cut
down mid-way: its ledger is left to the janitor and its page never says it was interrupted. And a
terminal's Ctrl-C reaches the whole process group, so a child in ours gets it at the same moment as
we do, then again if we pass it on — a second SIGINT landing in pytest's own interrupt handling.

So the child runs in its own session (a terminal's Ctrl-C reaches only us), and on Ctrl-C it gets
exactly one SIGINT and a bounded time to end as interrupted; a second Ctrl-C stops the wait.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

GRACE_SECONDS = 120.0  # a run undoes what it made (drills, probe VMs, canaries) and writes its reports


def run_child(argv: Sequence[str], env: Mapping[str, str] | None = None, *, what: str,
              grace_s: float = GRACE_SECONDS) -> int:
    """Run `argv` to its end and return its exit status; on Ctrl-C see the module's docstring."""
    current = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is threading.main_thread() and current != signal.SIG_IGN:
        # set again at the C level: a C library may have left SIGINT at its default behind Python's back
        # (OR-Tools did), and then this wait would die without its KeyboardInterrupt
        signal.signal(signal.SIGINT, current if callable(current) else signal.default_int_handler)
    proc = subprocess.Popen(list(argv), env=dict(env) if env is not None else None, start_new_session=True)
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
