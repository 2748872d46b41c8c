"""`cloudgate lab ACTION`: the lab's command-line glue, from parsed arguments to an exit status.

Why apart from control.py: `lab run` (nightly.py) drives control.py, so a dispatcher living in
control.py had to import nightly.py from inside a function to dodge the control <-> nightly
import cycle. Here, above both, it imports them plainly, and the lab layers contract keeps it so.
This is also the lab's only entry from the product: cloudgate/cli.py imports this module inside
`cmd_lab` (the one import the product contract lets cross into cloudgate.lab).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cloudgate.lab import control, hostbench, nightly, runners
from cloudgate.lab.extra import LabExtraMissing
from cloudgate.target import TargetError

LAB_TARGET = Path(__file__).resolve().parents[2] / "fixtures/targets/lab.yaml"


def cloudstack(action: str) -> int:
    """`cloudgate lab cloudstack stop|start`: the management server down or up, guests untouched.

    Raises control.LabControlError (one line) like the other actions; main() turns it into exit 2.
    """
    if action == "stop":
        changed = control.mgmt_stop()
        print("lab CloudStack: stopped (guests keep running)" if changed else "lab CloudStack: already stopped")
    elif action == "start":
        changed = control.mgmt_start()
        print("lab CloudStack: started, API answering" if changed else "lab CloudStack: already running")
    else:
        raise control.LabControlError(f"unknown cloudstack action {action!r} (stop | start)")
    return 0


def upgrade(args: argparse.Namespace) -> int:
    """`cloudgate lab upgrade --to VERSION [--regression NAME]... | --list`."""
    if args.list:
        print(control.list_regressions())
        return 0
    if not args.to:
        raise control.LabControlError("to which version? `cloudgate lab upgrade --to VERSION [--regression NAME]...`; "
                                      "`--list` lists the regressions")
    report = control.upgrade(args.to, args.regression)
    print(f"lab {report.summary()}; guests keep running, API answering")
    return 0


def bench_hosts(out: str, sizes: str | None, *, quick: bool, rounds: int) -> int:
    """`cloudgate bench hosts`: labs of 100, 300, 1,000 hosts timed (hostbench.py); errors one line."""
    try:
        chosen = [int(n) for n in sizes.split(",")] if sizes else (
            list(hostbench.QUICK_SIZES) if quick else list(hostbench.FULL_SIZES))
    except ValueError:
        print(f"cloudgate bench hosts: error: --sizes {sizes!r}: give host counts like 100,300,1000", file=sys.stderr)
        return 2
    try:
        return hostbench.print_report(hostbench.run(out, chosen, rounds=rounds))
    except (control.LabControlError, LabExtraMissing, TargetError) as exc:
        print(f"cloudgate bench hosts: error: {exc}", file=sys.stderr)
        return 2


def main(args: argparse.Namespace) -> int:
    """Run one `cloudgate lab` action; operator errors are one line on stderr and exit status 2."""
    try:
        if args.lab_command == "run":
            return nightly.run(args.target, args.reports_dir, args.placement)
        if args.lab_command == "up":
            control.up(args.target, args.placement)
        elif args.lab_command == "down":
            control.down()
        elif args.lab_command == "runners":
            return int(runners.main(args))
        elif args.lab_command == "status":
            return control.status()
        elif args.lab_command == "cloudstack":
            return cloudstack(args.cloudstack_action)
        elif args.lab_command == "upgrade":
            return upgrade(args)
        elif args.lab_command == "env":
            sys.stdout.write(control.env_exports(str(LAB_TARGET)))
        elif args.lab_command == "fault":
            if args.list:
                print(control.list_faults())
                return 0
            params = dict(p.split("=", 1) for p in args.param if "=" in p)
            control.fault(args.host, args.fault, params, args.clear)
        return 0
    except (control.LabControlError, LabExtraMissing, TargetError) as exc:
        print(f"cloudgate lab: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"cloudgate lab: error: the lab is not up ({exc.filename} missing); run `cloudgate lab up`", file=sys.stderr)
        return 2
