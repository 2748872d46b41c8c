"""Stand-in commands and boot scripts for the lab's namespaced hosts and guests.

The files here are package data: `render.py` is a stdlib-only multi-call program that the per-node
wrappers in `<node dir>/bin/` run with `/usr/bin/python3 -IS` (no venv, no site: ~10 ms a call), and
`boot.sh` is the script that turns a fresh network namespace into a host or guest. Nothing in this
package imports `cloudgate`, because it runs inside the namespaces with the system interpreter.
"""

from pathlib import Path

STANDINS_DIR = Path(__file__).resolve().parent
