"""Errors raised by the placement engine.

Only one error type crosses the public API: bad input (a malformed file, an unknown host or
datacenter, a negative size). It carries a single line that names the file and the problem, so the
CLI can print it as-is and operators never see a traceback for a typo in a YAML file.
"""

from __future__ import annotations


class PlacementInputError(ValueError):
    """The estate or request cannot be used; nothing was placed.

    ``str(err)`` is one line: ``"<source>: <where>: <problem>"``, e.g.
    ``"estate.yaml: hosts[3].memory_mib: must be >= 0"``.
    """

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = " ".join(problem.split())  # force a single line
        super().__init__(f"{source}: {self.problem}")
