"""`cloudgate` command line: run the suite, drive the lab, place VMs, run benchmarks.

Every command fails with one line on stderr naming the cause and exit status 2 for bad input;
no traceback reaches an operator unless CLOUDGATE_DEBUG=1.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

from cloudgate.target import TargetError, load_target

SUITE_PATHS = ("tests/infra", "tests/placement")


class CliError(Exception):
    """One-line error for the operator; exit status 2."""


def _project_root() -> Path:
    return Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- argument checks
class _Parser(argparse.ArgumentParser):
    """argparse with the project's one-line errors (`cloudgate lab runners: error: argument --count: ...`).

    argparse prints its usage before the error, a screen of text around the one line that matters;
    the usage stays one `--help` away.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` (to `high`); the error names the value given."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: not a whole number") from None
        if value < low or (high is not None and value > high):
            limit = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{text}: must be {limit}")
        return value

    return parse


def _minutes(text: str) -> float:
    """--older-than-minutes: a finite number of minutes, 0 or more.

    0 is an operator's "every orphan now" (after an incident): the age rule never takes a VM whose
    name carries a live process's pid, nor one a pending ledger entry names, so a run still going
    keeps its VMs whatever the age."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a number of minutes") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be a number of minutes, 0 or more")
    return value


def _writable_dir(value: str | None, flag: str, default: str = "reports") -> Path:
    """The directory a command writes into (`flag`, else `default`), checked before anything is made."""
    from cloudgate.report.rundir import ReportsDirError, check_output_dir

    try:
        return check_output_dir(default if value is None else value, flag)
    except ReportsDirError as exc:
        raise CliError(str(exc)) from None


def _existing_dir(value: str | None, flag: str, default: str = "reports") -> Path:
    """A directory a command reads from: given, it must exist (a typo would read as "nothing there")."""
    path = _writable_dir(value, flag, default)
    if value is not None and not path.is_dir():
        raise CliError(f"{flag} {value}: no such directory")
    return path


def _existing_file(value: str, flag: str) -> str:
    """An input file named by `flag`: absent or a directory is one line naming the flag."""
    if not Path(value).exists():
        raise CliError(f"{flag} {value}: file not found")
    if Path(value).is_dir():
        raise CliError(f"{flag} {value}: is a directory, not a file")
    return value


def _output_file(value: str | None, flag: str) -> None:
    """A file a command will write: its directory must be writable, and it must not be a directory."""
    if value is None:
        return
    if Path(value).is_dir():
        raise CliError(f"{flag} {value}: is a directory; give a file to write")
    _writable_dir(str(Path(value).parent), flag)


# --------------------------------------------------------------------------- run
def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    import pytest

    load_target(args.target)  # fail in one line before pytest starts
    if args.paths == []:
        raise CliError("--paths: give at least one test path (leave --paths out to run the whole suite)")
    _writable_dir(args.reports_dir, "--reports-dir")  # before pytest: its INTERNALERROR would be the message
    paths = args.paths or [str(_project_root() / p) for p in SUITE_PATHS]
    missing = [p for p in paths if not Path(p.split("::")[0]).exists()]
    if missing:
        where = "" if args.paths else f" (the suite ships with the source tree; this cloudgate runs from {_project_root()})"
        raise CliError(f"suite path(s) not found: {', '.join(missing)}{where}: run from a checkout or pass --paths")
    argv = [*paths, f"--target={args.target}", f"--profile={args.profile}", "-p", "no:cacheprovider",
            "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    if args.allow_destructive:
        argv.append("--allow-destructive")
    if args.reports_dir is not None:
        argv.append(f"--reports-dir={args.reports_dir}")
    if args.runners:  # the same run, its workers on the runner machines (cloudgate/runners/)
        from cloudgate.runners.run import run_on_runners

        return run_on_runners(args.runners, argv[len(paths):], paths, extra, _project_root())
    return int(pytest.main([*argv, *extra]))


def cmd_target_check(args: argparse.Namespace, _extra: list[str]) -> int:
    loaded = load_target(args.file)
    loaded.check_environment()
    t = loaded.target
    if t.waivers:  # a waiver already expired when the file is reviewed is a typo, or is to be removed
        from datetime import date

        from cloudgate.waivers import load_waivers

        load_waivers(loaded.resolve(t.waivers), today=date.today())
    print(f"{loaded.path}: ok — target {t.name} ({t.environment.value}), {len(t.datacenters)} datacenter(s)")
    return 0


def cmd_janitor(args: argparse.Namespace, _extra: list[str]) -> int:
    from cloudgate.cloudstack.client import CloudStackClient, CloudStackError
    from cloudgate.janitor import sweep

    loaded = load_target(args.target)
    reports = _existing_dir(args.reports_dir, "--reports-dir")
    try:
        result = sweep(loaded, CloudStackClient.for_target(loaded, allow_mutations=not args.dry_run), dry_run=args.dry_run,
                       older_than=timedelta(minutes=args.older_than_minutes), reports_root=reports)
    except CloudStackError as exc:
        raise CliError(str(exc)) from None
    if result.lines or not result.problems:
        print("\n".join(result.lines) if result.lines else f"{loaded.target.name}: nothing left behind by cloudgate")
    for problem in result.problems:
        print(f"cloudgate: error: {problem}", file=sys.stderr)
    return 1 if result.problems else 0


# --------------------------------------------------------------------------- explain
def cmd_explain(args: argparse.Namespace, _extra: list[str]) -> int:
    """A check's level-1 runbook (what it means, first actions, whom to call), the list, or docs/runbook.md."""
    from cloudgate.runbook import check_refs, explain, listing, load_runbooks, lookup, markdown

    modes = [flag for flag, on in (("CHECK_ID", args.check_id is not None), ("--list", args.list),
                                   ("--markdown", args.markdown)) if on]
    if len(modes) != 1:
        raise CliError("explain: give one CHECK_ID (e.g. CG-FIO-002), or --list, or --markdown"
                       + (f", not {' and '.join(modes)}" if modes else ""))
    if args.markdown and args.target is not None:
        raise CliError("--target: not with --markdown (docs/runbook.md names roles; each target has its contacts)")
    runbooks = load_runbooks()
    refs = check_refs(_project_root() / SUITE_PATHS[0])  # {} for an installed cloudgate without its suite
    if args.markdown:
        print(markdown(runbooks, refs), end="")
        return 0
    contacts = dict(load_target(args.target).target.escalation) if args.target is not None else None
    if args.list:
        print(listing(runbooks, refs, contacts))
        return 0
    check_id, _book = lookup(args.check_id, runbooks)  # an unknown id: one line with the closest ones, exit 2
    print(explain(check_id, contacts, runbooks=runbooks, ref=refs.get(check_id)))
    return 0


# --------------------------------------------------------------------------- gate
def cmd_gate(args: argparse.Namespace, extra: list[str]) -> int:
    from cloudgate.gate import flow

    loaded = load_target(args.target)
    loaded.check_environment()
    reports = _writable_dir(args.reports_dir, "--reports-dir").resolve()
    paths = [str(_project_root() / p) for p in SUITE_PATHS]
    extra = extra[1:] if extra[:1] == ["--"] else extra  # `gate before --target T -- -k deploy`
    try:
        if args.gate_command == "before":
            return flow.before(loaded, reports, paths, extra, args.upgrade_to)
        if args.gate_command == "during":
            return flow.during(loaded, reports, paths, extra)
        if args.gate_command == "after":
            return flow.after(loaded, reports, paths, extra)
        return flow.destroy(loaded, reports)
    except flow.GateError as exc:
        raise CliError(str(exc)) from None


# --------------------------------------------------------------------------- report
def cmd_report(args: argparse.Namespace, _extra: list[str]) -> int:
    """Re-render the operators' page of a past run (its directory under the reports dir, or a path)."""
    from cloudgate.report.page import PageError, render_run_page

    reports = _existing_dir(args.reports_dir, "--reports-dir")
    history = reports / "history.sqlite"
    run_dir = Path(args.run) if Path(args.run).is_dir() else reports / args.run
    if not run_dir.exists() and history.exists() and _in_history(history, args.run):
        run_dir.mkdir(parents=True)  # its directory was cleaned away: the page from the history alone
    try:
        print(render_run_page(run_dir, history if history.exists() else None))
    except PageError as exc:
        raise CliError(f"{exc} (nor is {args.run} in {history})" if not run_dir.exists() else str(exc)) from None
    return 0


def _in_history(history: Path, run_id: str) -> bool:
    """Whether the history records `run_id`, read-only: `report` must never create, migrate or move aside
    the nightly's history. A corrupt one is named corrupt (not "the run is not in it") and kept as it is."""
    import sqlite3

    from cloudgate.report.history import HistoryError, get_run

    try:
        conn = sqlite3.connect(f"{history.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            return get_run(conn, run_id) is not None
        finally:
            conn.close()
    except (sqlite3.Error, HistoryError, ValueError) as exc:
        raise CliError(f"{run_id}: no run directory of that name, and the history {history} cannot be read "
                       f"(corrupt? {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                       "kept as it is") from None


# --------------------------------------------------------------------------- lab
def cmd_lab(args: argparse.Namespace, _extra: list[str]) -> int:
    # The product's only way into the embedded lab, and a lazy one on purpose: the suite, the plugin
    # and `cloudgate run` against a real cloud never load cloudgate_lab (import-linter's product
    # contract ignores exactly this edge; tools/check_layers.py checks that it stays inside a function).
    if args.lab_command == "run":
        _writable_dir(args.reports_dir, "--reports-dir")
    from cloudgate_lab import commands

    return int(commands.main(args))


# --------------------------------------------------------------------------- drills
def cmd_drill(args: argparse.Namespace, _extra: list[str]) -> int:
    from cloudgate.drills.verdict_text import check_history_file

    return int(check_history_file(args.history))


# --------------------------------------------------------------------------- placement
def cmd_place(args: argparse.Namespace, _extra: list[str]) -> int:
    if (args.estate is None) == (args.target is None):
        raise CliError("place: give --target TARGET (the live estate) or --estate FILE (a saved one), not both")
    _existing_file(args.request, "--request")
    if args.estate is not None:
        _existing_file(args.estate, "--estate")
    _output_file(args.out, "--out")
    if args.target is not None:
        from cloudgate.allocate.commands import run_place_on_target

        return int(run_place_on_target(args.target, args.request, args.out, args.format))
    from cloudgate.placement.cli import run_place

    return int(run_place(args.estate, args.request, fmt=args.format, out=args.out, estate=_snapshot_estate(args.estate)))


def cmd_deploy_plan(args: argparse.Namespace, _extra: list[str]) -> int:
    from cloudgate.allocate.commands import run_deploy_plan

    _writable_dir(args.reports_dir, "--reports-dir")
    return int(run_deploy_plan(args.plan, args.target, args.reports_dir))


def _snapshot_estate(path: str):  # noqa: ANN202 - cloudgate.placement.model.Estate | None
    """A run's estate.json (or a target's last good snapshot) as the engine's estate; None for other files.

    So an operator plans onto the cloud exactly as the last run saw it, with no hand-kept inventory.
    """
    from cloudgate.estate import EstateSnapshot

    try:
        text = Path(path).read_text()
    except OSError:
        return None  # run_place names the unreadable file
    if not path.endswith(".json") or '"cloudstack"' not in text:
        return None
    try:
        return EstateSnapshot.model_validate_json(text).placement_estate()
    except ValueError:
        return None


def cmd_bench(args: argparse.Namespace, _extra: list[str]) -> int:
    """Every option checked before a directory is made or a lab built; each benchmark makes --out itself."""
    out = _writable_dir(args.out, "--out")
    if args.what == "placement":
        given = [flag for flag, value in (("--sizes", args.sizes), ("--rounds", args.rounds)) if value is not None]
        if given:
            raise CliError(f"{' and '.join(given)}: only for `cloudgate bench hosts` (the placement benchmark has "
                           "fixed instances; --quick makes them fewer)")
        from cloudgate.placement.cli import run_bench

        return int(run_bench(str(out), quick=args.quick))
    if args.what == "hosts":
        # the lab's benchmark: through the lab's one entry, like `cloudgate lab ...` (cmd_lab)
        from cloudgate_lab import commands

        return int(commands.bench_hosts(str(out), args.sizes, quick=args.quick,
                                        rounds=2 if args.rounds is None else args.rounds))
    raise CliError(f"unknown benchmark {args.what!r}")


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cloudgate",
        description="Infrastructure non-regression suite for a CloudStack + Xen + Cassandra cloud.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the suite against a target (extra args go to pytest)")
    run.add_argument("--target", required=True, help="target file (YAML)")
    run.add_argument("--profile", choices=("smoke", "nightly", "gate"), default="nightly")
    run.add_argument("--allow-destructive", action="store_true")
    run.add_argument("--reports-dir", default=None)
    run.add_argument("--paths", nargs="*", default=None, help="test paths (default: the suite)")
    run.add_argument("--runners", metavar="FILE", default=None,
                     help="spread the run over the runner machines of FILE (pytest-xdist over SSH; see README)")
    run.set_defaults(func=cmd_run)

    tgt = sub.add_parser("target", help="validate a target file")
    tgt_sub = tgt.add_subparsers(dest="target_command", required=True, metavar="ACTION")
    chk = tgt_sub.add_parser("check", help="validate a target file and its secret variables")
    chk.add_argument("file")
    chk.set_defaults(func=cmd_target_check)

    jan = sub.add_parser("janitor", help="undo what killed runs left behind (from the run ledgers, then by name prefix)")
    jan.add_argument("--target", required=True)
    jan.add_argument("--dry-run", action="store_true")
    jan.add_argument("--reports-dir", default=None,
                     help="where the runs' ledgers are (reports/*/ledger*.jsonl; default ./reports); entries of a "
                          "live process are left alone")
    jan.add_argument("--older-than-minutes", type=_minutes, default=60.0,
                     help="for probe VMs no ledger names: only those created longer ago than this (above 0)")
    jan.set_defaults(func=cmd_janitor)

    lab = sub.add_parser("lab", help="the embedded lab: up | down | status | fault | env | cloudstack | upgrade")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True, metavar="ACTION")
    up = lab_sub.add_parser("up", help="build the lab (2 datacenters, hosts, CloudStack simulator)")
    up.add_argument("--target", default=str(_project_root() / "fixtures/targets/lab.yaml"))
    up.add_argument("--placement", choices=("firstfit", "cloudgate", "none"), default="cloudgate",
                    help="how the lab's Cassandra VMs are placed")
    up.add_argument("--rebuild", action="store_true",
                    help="tear down a lab that is up (new API credentials: open gates and exported keys break) "
                         "and build it again; without it, `lab up` refuses while a lab is up")
    lrun = lab_sub.add_parser("run", help="lab up, smoke + nightly profiles, benchmarks, lab down (what `make run` does)")
    lrun.add_argument("--target", default=str(_project_root() / "fixtures/targets/lab.yaml"))
    lrun.add_argument("--reports-dir", default="reports")
    lrun.add_argument("--placement", choices=("firstfit", "cloudgate", "none"), default="cloudgate")
    lrun.add_argument("--rebuild", action="store_true",
                      help="run even if a lab is up: it is torn down first (and the run's own lab at the end)")
    lab_sub.add_parser("down", help="remove everything the lab made")
    lrn = lab_sub.add_parser("runners", help="runner namespaces for `cloudgate run --runners`: runners up [--count N] | down")
    lrn.add_argument("runners_action", choices=("up", "down"), metavar="up|down")
    lrn.add_argument("--count", type=_whole(1), default=3, help="how many runners (1-3)")
    lab_sub.add_parser("status", help="show what runs")
    lab_sub.add_parser("env", help="print the lab's API credentials as shell exports")
    fault = lab_sub.add_parser("fault", help="inject or clear a fault: fault HOST FAULT | fault --clear HOST | fault --list")
    fault.add_argument("host", nargs="?")
    fault.add_argument("fault", nargs="?")
    fault.add_argument("--clear", action="store_true")
    fault.add_argument("--list", action="store_true")
    fault.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    lfront = lab_sub.add_parser("front", help="the lab's own front-tier elasticity: front scale-out|scale-in "
                                               "--service S --dc D [--vm NAME] (the target's frontends.scale commands)")
    lfront.add_argument("front_action", choices=("scale-out", "scale-in"), metavar="scale-out|scale-in")
    lfront.add_argument("--service", required=True, help="the front service (the lab's web VMs serve www and api)")
    lfront.add_argument("--dc", required=True, help="the datacenter (dc1, dc2)")
    lfront.add_argument("--vm", default=None, help="scale-in: the web VM to drain and remove")
    lfront.add_argument("--forget-enable", action="store_true",
                        help="scale-out as a careless orchestrator does it: `add server` without `enable "
                             "server` (haproxy 2.6 creates it in maintenance): the elasticity check's proof")
    mgmt = lab_sub.add_parser("cloudstack", help="stop or start the lab's management server (the outage drill's commands)")
    mgmt.add_argument("cloudstack_action", choices=("stop", "start"), metavar="stop|start")
    upg = lab_sub.add_parser("upgrade", help="upgrade the lab's CloudStack, clean or with regressions: "
                                             "upgrade --to VERSION [--regression NAME]... | upgrade --list")
    upg.add_argument("--to", metavar="VERSION", help="the CloudStack version to upgrade to (digits and dots)")
    upg.add_argument("--regression", action="append", default=[], metavar="NAME",
                     help="a regression the new version ships (repeatable; replaces the active set)")
    upg.add_argument("--list", action="store_true", help="list the regressions and what each does")
    lab.set_defaults(func=cmd_lab)

    gate = sub.add_parser("gate", help="the upgrade gate: before | during | after | destroy (GO / NO-GO)")
    gate_sub = gate.add_subparsers(dest="gate_command", required=True, metavar="STEP")
    steps = {
        "before": "before the upgrade: the gate profile, then canary resources (VMs, group, tag, rows)",
        "during": "optional, while the management server is down: the data plane and the canaries without the API",
        "after": "after the upgrade: canaries still there and usable, the profile again, GO / NO-GO (exit 0 / 1)",
        "destroy": "remove the canaries and close the gate",
    }
    for step, help_text in steps.items():
        p = gate_sub.add_parser(step, help=help_text, description=help_text + ". Extra arguments go to pytest "
                                "(e.g. `-- -k deploy`); `after` reuses those `before` was given.")
        p.add_argument("--target", required=True)
        p.add_argument("--reports-dir", default=None, help="where runs and the gate's state live (default ./reports)")
        if step == "before":
            p.add_argument("--upgrade-to", default=None, metavar="VERSION",
                           help="the CloudStack version the upgrade installs: `after` is NO-GO unless it reports it")
    gate.set_defaults(func=cmd_gate)

    explain_help = "a check's level-1 runbook: what its failure means, first safe actions, whom to call"
    exp = sub.add_parser("explain", help=explain_help, description=explain_help + ". The runbooks are "
                         "cloudgate/runbooks.yaml; docs/runbook.md is `explain --markdown`.")
    exp.add_argument("check_id", nargs="?", default=None, metavar="CHECK_ID", help="e.g. CG-FIO-002")
    exp.add_argument("--target", default=None,
                     help="target file: each role is shown with its contact from the file's escalation section")
    exp.add_argument("--list", action="store_true", help="every check id with its title, then the roles")
    exp.add_argument("--markdown", action="store_true", help="every runbook as Markdown (docs/runbook.md)")
    exp.set_defaults(func=cmd_explain)

    report = sub.add_parser("report", help="re-render the operators' page (index.html) of a past run")
    report.add_argument("run", help="a run id under the reports dir (e.g. 20261202T0200Z-lab-nightly-42), or a path")
    report.add_argument("--reports-dir", default=None, help="default ./reports")
    report.set_defaults(func=cmd_report)

    drill = sub.add_parser("drill", help="failover drills: check HISTORY judges a drill's history again, offline")
    drill_sub = drill.add_subparsers(dest="drill_command", required=True, metavar="ACTION")
    dchk = drill_sub.add_parser("check", help="judge a drill history (reports/<run>/drill-*.history.jsonl)")
    dchk.add_argument("history")
    drill.set_defaults(func=cmd_drill)

    place = sub.add_parser("place", help="place VMs so replicas never share a host (prints a plan)")
    place.add_argument("--target", default=None, help="plan onto this target's live estate (CloudStack + fio-status)")
    place.add_argument("--estate", default=None, help="plan onto a saved estate (YAML/JSON, or a run's estate.json)")
    place.add_argument("--request", required=True)
    place.add_argument("--format", choices=("table", "json"), default="table")
    place.add_argument("--out", default=None)
    place.set_defaults(func=cmd_place)

    dplan = sub.add_parser("deploy-plan", help="deploy a plan from `place --target` (preproduction/lab only)")
    dplan.add_argument("plan")
    dplan.add_argument("--target", required=True)
    dplan.add_argument("--reports-dir", default=None, help="where its ledger lives (default ./reports)")
    dplan.set_defaults(func=cmd_deploy_plan)

    bench = sub.add_parser("bench", help="benchmarks that write their figures to reports/")
    bench.add_argument("what", choices=("placement", "hosts"))
    bench.add_argument("--out", default="reports/latest")
    bench.add_argument("--quick", action="store_true")
    bench.add_argument("--sizes", default=None, metavar="N,N,...",
                       help="hosts: lab sizes to time (default 100,300,1000; --quick: 100); needs root, brings labs up")
    bench.add_argument("--rounds", type=_whole(1, 10), default=None,
                       help="hosts: suite/floor rounds per size, interleaved (1-10, default 2)")
    bench.set_defaults(func=cmd_bench)
    return parser


POSITIONALS = ("file", "run", "history", "plan", "host", "fault", "check_id")  # named as in each command's usage


def _refuse_empty(args: argparse.Namespace) -> None:
    """An empty value (`--runners=`, `--target ''`) is refused naming its flag: read as "not given", it
    silently changed the command (`run --runners=` ran the suite on this machine alone)."""
    for dest, value in vars(args).items():
        if any(isinstance(v, str) and not v.strip() for v in (value if isinstance(value, list) else [value])):
            flag = dest.upper() if dest in POSITIONALS else "--" + dest.replace("_", "-")
            raise CliError(f"{flag} '': empty; give a value")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in ("run", "gate"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        _refuse_empty(args)
        return int(args.func(args, extra))
    except (CliError, TargetError) as exc:
        print(f"cloudgate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cloudgate: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head`: not an error worth a line
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if os.environ.get("CLOUDGATE_DEBUG"):
            raise
        from cloudgate.cloudstack.client import scrub

        print(f"cloudgate: error: {type(exc).__name__}: {scrub(str(exc)).splitlines()[0] if str(exc) else ''}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
