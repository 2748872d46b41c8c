"""tools/check_layers.py: the product's imports of the lab must sit inside functions.

import-linter ignores the one edge the product may have into the lab (cli -> lab.commands) because
it cannot tell a lazy import from a top-level one; this checker is what keeps that edge lazy.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "check_layers.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_layers", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


check_layers = _load()


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in {"cloudgate/__init__.py": "", "cloudgate_lab/__init__.py": "", **files}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_repository_passes():
    assert check_layers.violations(ROOT) == []


def test_a_lazy_import_inside_a_function_or_method_is_allowed(tmp_path):
    root = _tree(tmp_path, {"cloudgate/cli.py": (
        "def cmd():\n    from cloudgate_lab import commands\n"
        "class C:\n    async def m(self):\n        import cloudgate_lab.control\n"
    )})
    found = check_layers.lab_imports(root / "cloudgate/cli.py", root)
    assert [(i.line, i.lazy) for i in found] == [(2, True), (5, True)]
    assert check_layers.violations(root) == []


def test_every_spelling_of_a_module_level_lab_import_is_refused(tmp_path):
    root = _tree(tmp_path, {
        "cloudgate/a.py": "import cloudgate_lab.control\n",
        "cloudgate/b.py": "from cloudgate_lab import commands\n",
        "cloudgate/c.py": "from cloudgate_lab.topology import LabTopology\n",
        "cloudgate/d/__init__.py": "import cloudgate_lab as lab\n",
        "cloudgate/e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cloudgate_lab import net\n",
    })
    lines = check_layers.violations(root)
    assert [line.split(":")[0] for line in lines] == [
        "cloudgate/a.py", "cloudgate/b.py", "cloudgate/c.py", "cloudgate/d/__init__.py", "cloudgate/e.py"]
    assert "`from cloudgate_lab import commands` at module level" in lines[1]


def test_imports_that_only_look_alike_and_the_lab_s_own_imports_are_not_counted(tmp_path):
    root = _tree(tmp_path, {
        "cloudgate/a.py": "import cloudgate.laboratory\nfrom cloudgate.target import lab\n",
        "cloudgate_lab/control.py": "from cloudgate_lab import paths\n",
    })
    assert check_layers.violations(root) == []


def test_the_script_exits_1_with_one_line_per_violation(tmp_path):
    root = _tree(tmp_path, {"cloudgate/a.py": "from cloudgate_lab import control\n"})
    done = subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "cloudgate/a.py:1: `from cloudgate_lab import control` at module level: the product may reach "
        "cloudgate_lab only from inside a function (see tools/check_layers.py)"]
