"""Solving with CP-SAT leaves Ctrl-C to Python: the solving process still gets KeyboardInterrupt after.

OR-Tools catches SIGINT during a solve by default and leaves the C default behind: `cloudgate lab run`
then died outright on Ctrl-C after its placement benchmark, its lab left up (found by hand).
"""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import os, signal, time
from cloudgate.placement.exact import solve_exact
from cloudgate.placement.generator import gadgets
g = next(iter(gadgets()))
solve_exact(g.estate, g.request)
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(2)
    print("no KeyboardInterrupt")
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""


def test_after_a_cp_sat_solve_ctrl_c_is_still_a_keyboard_interrupt():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "KeyboardInterrupt"), (done.returncode, done.stderr[-500:])
