"""`cloudgate lab ACTION`: the lab's command-line glue, from parsed arguments to an exit status.

Why apart from control.py: `lab run` (nightly.py) drives control.py, so a dispatcher living in
control.py had to import nightly.py from inside a function to dodge the control <-> nightly
import cycle. Here, above both, it imports them plainly, and the lab layers contract keeps it so.
This is also the lab's only entry from the product: cloudgate/cli.py imports this module inside
`cmd_lab` (the one import the product contract lets cross into cloudgate_lab).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cloudgate.target import TargetError
from cloudgate_lab import control, hostbench, nightly, paths, runners
from cloudgate_lab.cloudstack import upgrade as cs_upgrade
from cloudgate_lab.extra import LabExtraMissing
from cloudgate_lab.extra import require as require_extra
from cloudgate_lab.net import LabError

LAB_TARGET = Path(__file__).resolve().parents[1] / "fixtures/targets/lab.yaml"


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


def lab_in_use() -> str | None:
    """Why a lab counts as up (its state directory has the topology `lab up` writes first), or None.

    Only the state directory is read: the refusal below must cost nothing and touch nothing.
    """
    topology = paths.topology_file()
    try:
        if not topology.exists():
            return None
    except OSError:  # unreadable state directory: someone's lab, not ours to judge
        return f"a lab's state directory {paths.lab_dir()} exists and cannot be read"
    return f"a lab is up (its state is in {paths.lab_dir()})"


def refuse_if_up(command: str, why: str, *, rebuild_flag: bool = True) -> None:
    """`lab up`, `lab run` and `bench hosts` would tear down a lab that is up, silently, and rebuild it
    with new API credentials: a gate's canaries and every exported key would break under whoever uses it."""
    up = lab_in_use()
    if up is not None:
        raise control.LabControlError(f"{up}: `{command}` {why}; run `cloudgate lab down` first"
                                      + (f" (or `{command} --rebuild`)" if rebuild_flag else ""))


def refuse_to_rebuild(args: argparse.Namespace, why: str) -> None:
    """`lab up` / `lab run` without --rebuild while a lab is up: refused, after the extra's own check
    (a lab without its extra is refused first, whatever is up)."""
    require_extra()
    if not getattr(args, "rebuild", False):
        refuse_if_up(f"cloudgate lab {args.lab_command}", why)


def upgrade(args: argparse.Namespace) -> int:
    """`cloudgate lab upgrade --to VERSION [--regression NAME]... | --list`; the arguments checked before the lab."""
    if args.list:
        print(control.list_regressions())
        return 0
    if not args.to:
        raise control.LabControlError("to which version? `cloudgate lab upgrade --to VERSION [--regression NAME]...`; "
                                      "`--list` lists the regressions")
    for flag, check in (("--to", lambda: cs_upgrade.parse_version(args.to)),
                        ("--regression", lambda: cs_upgrade.check_regressions(args.regression))):
        try:
            check()
        except cs_upgrade.UpgradeError as exc:
            raise control.LabControlError(f"{flag}: {exc}") from None
    report = control.upgrade(args.to, args.regression)
    print(f"lab {report.summary()}; guests keep running, API answering")
    return 0


def bench_hosts(out: str, sizes: str | None, *, quick: bool, rounds: int) -> int:
    """`cloudgate bench hosts`: labs of 100, 300, 1,000 hosts timed (hostbench.py); errors one line, each
    before a directory is made or a lab built."""
    try:
        chosen = hostbench.parse_sizes(sizes) if sizes is not None else (
            list(hostbench.QUICK_SIZES) if quick else list(hostbench.FULL_SIZES))
        hostbench.check_rounds(rounds)
        refuse_if_up("cloudgate bench hosts", "builds and removes labs of its own", rebuild_flag=False)
    except (ValueError, control.LabControlError) as exc:
        print(f"cloudgate bench hosts: error: {exc}", file=sys.stderr)
        return 2
    try:
        return hostbench.print_report(hostbench.run(out, chosen, rounds=rounds))
    except (control.LabControlError, LabExtraMissing, TargetError) as exc:
        print(f"cloudgate bench hosts: error: {exc}", file=sys.stderr)
        return 2


def front(args: argparse.Namespace) -> int:
    """`cloudgate lab front scale-out|scale-in`: the lab's own elasticity commands (the target's frontends.scale)."""
    from cloudgate_lab.front import scale

    try:
        if args.front_action == "scale-out":
            print(scale.scale_out(control.lab_client(), args.service, args.dc, forget_enable=args.forget_enable))
        else:
            if not args.vm:
                raise control.LabControlError("scale-in needs --vm NAME (the VM the suite chose to remove)")
            print(scale.scale_in(control.lab_client(), args.service, args.dc, args.vm))
    except scale.ScaleError as exc:
        raise control.LabControlError(str(exc)) from None
    return 0


def fault_params(given: list[str]) -> dict[str, str]:
    """--param KEY=VALUE, each key once: a malformed or repeated one is refused, never dropped or overwritten."""
    params: dict[str, str] = {}
    for text in given:
        key, sep, value = text.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise control.LabControlError(f"--param {text!r}: give KEY=VALUE (e.g. --param seconds=5)")
        if key in params:
            raise control.LabControlError(f"--param {text!r}: {key} given twice ({key}={params[key]} first)")
        params[key] = value
    return params


def main(args: argparse.Namespace) -> int:
    """Run one `cloudgate lab` action; operator errors are one line on stderr and exit status 2."""
    try:
        if args.lab_command == "run":
            refuse_to_rebuild(args, "builds its own lab and removes it at the end")
            return nightly.run(args.target, args.reports_dir, args.placement)
        if args.lab_command == "up":
            refuse_to_rebuild(args, "would tear it down and rebuild it with new API credentials (open gate "
                                    "canaries and exported keys would break)")
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
        elif args.lab_command == "front":
            return front(args)
        elif args.lab_command == "fault":
            if args.list:
                print(control.list_faults())
                return 0
            control.fault(args.host, args.fault, fault_params(args.param), args.clear)
        return 0
    except (control.LabControlError, LabError, LabExtraMissing, TargetError) as exc:
        print(f"cloudgate lab: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"cloudgate lab: error: the lab is not up ({exc.filename} missing); run `cloudgate lab up`", file=sys.stderr)
        return 2
