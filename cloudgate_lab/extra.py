"""The `lab` extra: the third-party packages only the embedded lab needs (pyproject.toml's
`[project.optional-dependencies] lab`), and the one-line refusal when they are missing.

Why refuse instead of carrying on: the CQL node emulator quietly falls back to the stdlib event
loop without uvloop (cql/tuning.py), and its write latencies then roughly double. A lab built
that way comes up fine and the latency check fails for a reason nobody sees, so `lab up` and
`lab run` name the missing extra first. `CLOUDGATE_CQL_LOOP=asyncio` says the slower loop is
wanted on purpose, and then uvloop is not required.
"""

from __future__ import annotations

import importlib.util
import os

EXTRA = "lab"
# distribution name -> what it is for; keep in step with pyproject.toml's `lab` extra
PACKAGES: dict[str, str] = {"uvloop": "the CQL nodes' event loop", "cqlsh": "the operators' CQL shell, against the lab"}
# what a package is imported as, where that differs from its name on PyPI
IMPORT_NAMES: dict[str, str] = {"cqlsh": "cqlshlib"}
# in the extra, but a lab comes up and runs without them (cqlsh is for people and tests/lab/cql)
NOT_NEEDED_TO_RUN: frozenset[str] = frozenset({"cqlsh"})


class LabExtraMissing(Exception):
    """One line for the operator: which packages of the `lab` extra are missing, how to get them."""


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(IMPORT_NAMES.get(name, name)) is not None
    except (ImportError, ValueError):  # a parent package missing, or sys.modules[name] = None
        return False


def needed(environ: dict[str, str] | None = None) -> list[str]:
    """The lab's packages this run needs: all of them unless the CQL nodes are told to use asyncio."""
    env = os.environ if environ is None else environ
    stdlib_loop = env.get("CLOUDGATE_CQL_LOOP", "uvloop") != "uvloop"
    return [name for name in PACKAGES
            if name not in NOT_NEEDED_TO_RUN and not (stdlib_loop and name == "uvloop")]


def missing(environ: dict[str, str] | None = None) -> list[str]:
    return [name for name in needed(environ) if not _installed(name)]


def require(environ: dict[str, str] | None = None) -> None:
    """Raise LabExtraMissing naming the extra if a package this lab run needs is not installed."""
    absent = missing(environ)
    if absent:
        raise LabExtraMissing(
            f"the lab needs the '{EXTRA}' extra, missing {', '.join(absent)}: pip install 'cloudgate[{EXTRA}]' "
            f"(in a checkout: make setup), or set CLOUDGATE_CQL_LOOP=asyncio for a slower lab on the stdlib loop"
        )
