"""``python -m cloudgate.placement place|bench`` - the CLI without the lead's console script."""

from __future__ import annotations

import argparse
import sys

from .cli import run_bench, run_place


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cloudgate.placement", description="cloudgate placement engine"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("place", help="place a request onto an estate")
    p.add_argument("--estate", required=True, help="estate file (YAML or JSON)")
    p.add_argument("--request", required=True, help="request file (YAML or JSON)")
    p.add_argument("--format", default="table", choices=("table", "json"))
    p.add_argument("--out", default=None, help="write the plan here instead of stdout")
    b = sub.add_parser("bench", help="run the placement benchmark")
    b.add_argument("--out", required=True, help="output directory")
    b.add_argument("--quick", action="store_true", help="small sizes only (about a minute)")
    args = parser.parse_args(argv)
    if args.command == "place":
        return run_place(args.estate, args.request, args.format, args.out)
    return run_bench(args.out, args.quick)


if __name__ == "__main__":
    sys.exit(main())
