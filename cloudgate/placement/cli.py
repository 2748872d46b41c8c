"""Command-line entry points (the lead wires them into the ``cloudgate`` console script).

Exit codes are part of the contract so scripts can branch on them: 0 placed, 1 no placement exists
(the reason is printed), 2 bad input (one line on stderr, never a traceback).
"""

from __future__ import annotations

import sys
from pathlib import Path

from .engine import place
from .errors import PlacementInputError
from .loading import load_estate, load_request
from .model import Estate
from .plan import plan_to_json, plan_to_table

EXIT_PLACED = 0
EXIT_INFEASIBLE = 1
EXIT_BAD_INPUT = 2


def run_place(estate_path: str, request_path: str, fmt: str = "table", out: str | None = None,
              estate: Estate | None = None) -> int:
    """Place a request file onto an estate file (or an estate the caller read); print or write the plan."""
    if fmt not in ("table", "json"):
        print(f"cloudgate place: --format must be 'table' or 'json', not {fmt!r}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        estate = estate if estate is not None else load_estate(estate_path)
        request = load_request(request_path, estate)
        result = place(estate, request)
    except PlacementInputError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    text = plan_to_json(result, estate, request) if fmt == "json" else plan_to_table(result, estate, request)
    if out:
        try:
            Path(out).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"{out}: cannot write plan ({exc.strerror or exc})", file=sys.stderr)
            return EXIT_BAD_INPUT
        if not result.feasible:
            print(f"NO PLACEMENT: {result.reason}", file=sys.stderr)
    else:
        print(text)
    return EXIT_PLACED if result.feasible else EXIT_INFEASIBLE


def run_bench(out_dir: str, quick: bool = False) -> int:
    """Run the placement benchmark; writes placement-bench.{json,md} and placement-grid.png."""
    from .bench import run  # imported lazily: matplotlib is only needed here

    try:
        report = run(out_dir, quick=quick)
    except OSError as exc:
        print(f"{out_dir}: cannot write benchmark output ({exc.strerror or exc})", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(Path(out_dir) / "placement-bench.md")
    for line in report["targets"]:
        print(f"{'PASS' if line['passed'] else 'FAIL'}  {line['target']}: {line['measured']}")
    return 0
