"""Loading the pytest plugin loads neither OR-Tools nor pandas, nor any of the lab.

Every suite run pays the plugin's import, the after-incident smoke run included; only the exact
placement solver needs OR-Tools (which brings pandas), and the lab is a target, never a library of
the suite. A fresh interpreter loads the plugin as pytest does (the package, then each part it
lists in pytest_plugins).
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import importlib, json, sys
import cloudgate.plugin
for part in cloudgate.plugin.pytest_plugins:
    importlib.import_module(part)
print(json.dumps(sorted(sys.modules)))
"""


def test_loading_the_plugin_loads_neither_ortools_pandas_nor_the_lab() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    loaded = json.loads(out.stdout.splitlines()[-1])
    heavy = sorted(m for m in loaded if m.split(".")[0] in ("ortools", "pandas") or m.startswith("cloudgate.lab"))
    assert not heavy, f"loading the plugin loaded {heavy[:6]}"
