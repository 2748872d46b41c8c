"""Importing the placement engine does not load OR-Tools or pandas.

Only the exact solver needs OR-Tools (and OR-Tools brings pandas): together they cost about a
second at import, which every `import cloudgate.placement` — hence the pytest plugin, hence every
suite run, the after-incident smoke run included — paid before this was made lazy.
A fresh interpreter, because this test session has long imported both.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("ortools", "pandas")


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_importing_the_placement_package_loads_neither_ortools_nor_pandas():
    loaded = _modules_after("import cloudgate.placement")
    assert not _heavy(loaded), f"import cloudgate.placement loaded {_heavy(loaded)[:5]}"


def test_the_public_solve_exact_name_is_still_there_and_loads_ortools_on_first_use():
    loaded = _modules_after(
        "from cloudgate.placement import solve_exact\n"
        "from cloudgate.placement.generator import gadgets\n"
        "g = next(g for g in gadgets() if g.name == 'g4-groups-and-holes')\n"
        "assert solve_exact(g.estate, g.request).feasible"
    )
    assert "ortools" in loaded
