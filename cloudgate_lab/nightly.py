"""`cloudgate lab run` (what `make run` calls): the nightly profile against a fresh lab, then down.

Order: lab up (timed) → smoke profile (timed: the after-incident promise is "under a minute") →
placement benchmark → suite start-up (plugin import, --collect-only on the lab; startup.py) →
nightly profile with destructive drills (reports/latest), which records the
lab and benchmark figures beside its own (metrics.json and the HTML table) and receives the
benchmark's files → lab down, whatever happened before → the fleet benchmark at its quick size
(hostbench.py: it brings its own host-only lab up and down), whose files and figures join the run.
The exit status is the nightly run's, or 1 if a later step failed: the fleet benchmark too when it
could not run or a target it judges at its quick size fails (what it measures there for information
fails nothing, and says where it is judged).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from cloudgate.childrun import run_child
from cloudgate.report.metrics import Metric
from cloudgate.report.rundir import write_json
from cloudgate_lab import control, hostbench, startup
from cloudgate_lab.extra import require as require_lab_extra

LAB_UP_BUDGET_S = 30.0
SMOKE_BUDGET_S = 60.0


def _suite(target: str, profile: str, reports: Path, env: dict[str, str], destructive: bool) -> tuple[int, float, Path]:
    argv = [sys.executable, "-m", "cloudgate.cli", "run", "--target", target, "--profile", profile,
            "--reports-dir", str(reports)]
    if destructive:
        argv.append("--allow-destructive")
    announce = reports / f".run-dir-{os.getpid()}-{profile}"
    announce.unlink(missing_ok=True)
    started = time.monotonic()
    rc = run_child(argv, {**env, "CLOUDGATE_RUN_DIR_FILE": str(announce)}, what=f"the {profile} run")
    elapsed = time.monotonic() - started
    if not announce.exists():
        raise RuntimeError(f"the {profile} run (exit {rc}) stopped before creating its report directory")
    run_dir = Path(announce.read_text())
    announce.unlink()
    return rc, elapsed, run_dir


def merge_metrics(run_dir: Path, extra: list[Metric]) -> None:
    """Add figures measured outside pytest (lab bring-up, smoke duration) to a run's metrics.json."""
    path = run_dir / "metrics.json"
    data = json.loads(path.read_text()) if path.exists() else {"metrics": [], "failed_metrics": []}
    data["metrics"].extend(m.model_dump() for m in extra)
    data["failed_metrics"] = [m["name"] for m in data["metrics"] if m["verdict"] == "fail"]
    write_json(path, data)


def placement_figures(run_dir: Path) -> list[Metric]:
    """The placement benchmark's target figures, as metrics of the run."""
    path = run_dir / "placement-bench.json"
    if not path.exists():
        return []
    figures = []
    for t in json.loads(path.read_text()).get("targets", []):
        m = t.get("metric")
        if m:
            figures.append(Metric.measure(m["name"], m["value"], m["unit"], m["threshold"], test="cloudgate bench placement"))
    return figures


def machine_floor_figures(rate: float = 500.0, count: int = 2000) -> list[Metric]:
    """One loopback message round trip between two processes, at the latency check's rate: how fast
    this machine is right now. Its speed drifts with the host (p50 0.07-0.12 ms seen on the same
    day), so a lab write p99 near the promise is read beside it: machine or code."""
    from cloudgate_lab.cql.bench import machine_floor

    rtt = machine_floor(rate, count)
    return [Metric.measure(f"lab.machine.echo_rtt.{p}", rtt[f"{p}_ms"], "ms", test="loopback echo, 500/s")
            for p in ("p50", "p99")]


def run(target: str, reports_dir: str = "reports", placement: str = "cloudgate") -> int:
    reports = Path(reports_dir).resolve()
    require_lab_extra()  # before the try: a refusal must not tear down a lab someone else has up
    control.load_lab_target(target)  # likewise: a bad target file reached the `finally` below, and its lab down
    reports.mkdir(parents=True, exist_ok=True)
    rc = 1
    run_dir: Path | None = None
    try:
        timings = control.up(target, placement)
        exports = control.env_exports(target)
        env = {**os.environ, **dict(line.removeprefix("export ").split("=", 1) for line in exports.splitlines() if line)}

        print("\n== smoke profile (read-only, after an incident) ==", flush=True)
        smoke_rc, smoke_s, smoke_dir = _suite(target, "smoke", reports, env, destructive=False)

        print("\n== placement benchmark ==", flush=True)
        from cloudgate.placement.cli import run_bench

        bench_dir = reports / f".bench-{os.getpid()}"
        shutil.rmtree(bench_dir, ignore_errors=True)
        bench_dir.mkdir()
        bench_rc = run_bench(str(bench_dir))
        floor = machine_floor_figures()
        print("\n== suite start-up (plugin import, collection against the lab) ==", flush=True)
        figures = [
            *startup.startup_figures(target, env),
            *floor,
            Metric.measure("lab.up.seconds", timings["lab_up_seconds"], "s", LAB_UP_BUDGET_S, test="cloudgate lab up"),
            Metric.measure("lab.hosts", timings["hosts"], "hosts", test="cloudgate lab up"),
            Metric.measure("lab.smoke.seconds", smoke_s, "s", SMOKE_BUDGET_S, test="smoke profile"),
            *placement_figures(bench_dir),
        ]
        extra = bench_dir / "extra-metrics.json"
        extra.write_text(json.dumps([m.model_dump() for m in figures]))

        print("\n== nightly profile (everything, destructive drills included) ==", flush=True)
        env["CLOUDGATE_EXTRA_METRICS"] = str(extra)
        rc, nightly_s, run_dir = _suite(target, "nightly", reports, env, destructive=True)
        for artifact in bench_dir.iterdir():
            if artifact.name != extra.name:
                shutil.move(str(artifact), run_dir / artifact.name)
        shutil.rmtree(bench_dir, ignore_errors=True)
        merge_metrics(run_dir, [Metric.measure("lab.nightly.seconds", nightly_s, "s", test="nightly profile")])
        write_json(run_dir / "lab-bench.json", {
            **timings, "smoke_seconds": round(smoke_s, 3), "smoke_exit": smoke_rc, "smoke_run": smoke_dir.name,
            "nightly_seconds": round(nightly_s, 3),
            "budgets": {"lab_up_seconds": LAB_UP_BUDGET_S, "smoke_seconds": SMOKE_BUDGET_S},
        })
        rc = rc or smoke_rc or bench_rc
        print(f"\nlab up {timings['lab_up_seconds']:.1f} s for {timings['hosts']} hosts (budget {LAB_UP_BUDGET_S:g} s); "
              f"smoke {smoke_s:.1f} s (budget {SMOKE_BUDGET_S:g} s); nightly {nightly_s:.1f} s")
        print(f"HTML report: {run_dir / 'report.html'}")
    finally:
        try:
            control.down()
        except control.LabControlError as exc:
            print(f"cloudgate lab: error: {exc}", file=sys.stderr)
            rc = rc or 1
    if run_dir is not None:
        rc = hosts_bench(run_dir, reports) or rc
    return rc


def hosts_bench(run_dir: Path, reports: Path) -> int:
    """The fleet benchmark at its quick size (hostbench.py), after the nightly's lab is down: its files
    join the run directory, its figures the run's metrics, and the page is re-rendered. Each target is
    a metric with the verdict of its line: judged at this size (a threshold; a FAIL fails the run, and
    the run's summary says so), or information (no threshold, the line says where it is judged).
    Returns 1 if the benchmark could not run or a judged target fails, else 0."""
    print("\n== fleet benchmark, quick size (cloudgate bench hosts --quick) ==", flush=True)
    try:
        report = hostbench.run(str(run_dir), hostbench.QUICK_SIZES, rounds=1)
    except (control.LabControlError, OSError, ValueError) as exc:
        print(f"cloudgate lab: fleet benchmark not run: {exc}", file=sys.stderr)
        mark_failed(run_dir, [f"fleet benchmark not run: {exc}"])
        return 1
    hostbench.print_report(report)
    merge_metrics(run_dir, fleet_figures(report))
    failing = hostbench.failed(report)
    if failing:
        mark_failed(run_dir, [hostbench.report_line(t) for t in failing])
    from cloudgate.report.page import PageError, render_run_page

    history = reports / "history.sqlite"
    try:
        render_run_page(run_dir, history if history.exists() else None)
    except PageError as exc:
        print(f"cloudgate lab: page not re-rendered with the fleet benchmark: {exc}", file=sys.stderr)
    return 1 if failing else 0


def fleet_figures(report: dict[str, Any]) -> list[Metric]:
    """The targets' own metrics (their verdicts are the report's lines), then the other figures for information."""
    figures = [Metric.model_validate(t["metric"]) for t in report["targets"]]
    have = {m.name for m in figures}
    for size in report["sizes"]:
        n = size["hosts"]
        for name, key in (("smoke.seconds", "suite_wall_s"), ("floor.seconds", "floor_wall_s"),
                          ("up.seconds", "lab_up_s")):
            if f"lab.fleet.{n}.{name}" not in have and size.get(key) is not None:
                figures.append(Metric.measure(f"lab.fleet.{n}.{name}", size[key], "s", test="cloudgate bench hosts"))
    return figures


def mark_failed(run_dir: Path, why: list[str]) -> None:
    """The run's summary.json says it failed after pytest ended (the page reads its exit status there)."""
    path = run_dir / "summary.json"
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return  # the page names a missing or unreadable summary itself
    if summary.get("exitstatus") == 0:
        summary["exitstatus"] = 1
    summary["failed_after_run"] = [*summary.get("failed_after_run", []), *why]
    write_json(path, summary)
