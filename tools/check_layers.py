"""The layering rule import-linter cannot check: the product reaches the lab only lazily.

import-linter (pyproject.toml, `[tool.importlinter]`) checks the import graph, and a graph has no
notion of *where* in a module an import sits. Its product contract therefore ignores the one
import that may cross into the lab (`cloudgate.cli -> cloudgate_lab.commands`), and this script
checks what that exception stands for: every import of `cloudgate_lab` in a product module
(`cloudgate/`; the lab is the package beside it, `cloudgate_lab/`) is inside a function body, so importing the product —
the pytest plugin, `cloudgate run` against a real cloud — never loads the lab. An import under a
module-level `if TYPE_CHECKING:` does not count as lazy: the product should not name the lab at all.

Why a script in tools/ rather than a module of the package: it checks the source tree it ships
with, is run by `make lint` next to ruff and lint-imports, and the installed product has no use
for it. (tests/infra needs no script: import-linter reads it as a portion of the `tests`
namespace package, see pyproject.toml.) Test: tests/unit/test_check_layers.py.

Usage: python tools/check_layers.py [REPO_ROOT]   (exit 1 and one line per violation)
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "cloudgate"
LAB = "cloudgate_lab"
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class LabImport:
    path: Path
    line: int
    statement: str  # as written, e.g. "from cloudgate_lab import commands"
    lazy: bool  # inside a function body


def module_name(path: Path, root: Path) -> str:
    """`cloudgate/cli.py` -> `cloudgate.cli`, `cloudgate/report/__init__.py` -> `cloudgate.report`."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module a `from ... import` names (resolving `from .x import y` against the importer)."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop] if drop else base
    return ".".join([*base, node.module] if node.module else base)


def _under_lab(name: str) -> bool:
    return name == LAB or name.startswith(LAB + ".")


def _imported(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    module = _absolute(node, importer, is_package)
    yield module
    yield from (f"{module}.{alias.name}" for alias in node.names)  # `from cloudgate import lab`


def lab_imports(path: Path, root: Path) -> list[LabImport]:
    """Every import of cloudgate_lab (or below) in one file, and whether it sits in a function."""
    importer = module_name(path, root)
    found: list[LabImport] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [n for n in _imported(node, importer, _is_package(path)) if _under_lab(n)]
            if names:
                found.append(LabImport(path, node.lineno, ast.unparse(node), in_function))
        for child in ast.iter_child_nodes(node):
            visit(child, in_function or isinstance(node, FUNCTIONS))

    visit(ast.parse(path.read_text(), filename=str(path)), False)
    return found


def product_files(root: Path) -> list[Path]:
    """The product's sources: cloudgate/**.py (the lab is its own package beside it)."""
    return sorted((root / PACKAGE).rglob("*.py"))


def violations(root: Path) -> list[str]:
    """One line per module-level import of the lab in a product module."""
    return [
        f"{imp.path.relative_to(root)}:{imp.line}: `{imp.statement}` at module level: the product may "
        f"reach {LAB} only from inside a function (see tools/check_layers.py)"
        for path in product_files(root)
        for imp in lab_imports(path, root)
        if not imp.lazy
    ]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else Path(__file__).resolve().parents[1]).resolve()
    problems = violations(root)
    for line in problems:
        print(line, file=sys.stderr)
    if not problems:
        print(f"check_layers: the product reaches {LAB} only lazily ({len(product_files(root))} modules)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
