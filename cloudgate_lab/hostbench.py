"""`cloudgate bench hosts`: the smoke profile against 100, 300 and 1,000 lab hosts, beside its floor.

For each size a host-only lab comes up (no guests: the hypervisor checks are what scale with the
fleet), then, interleaved in the same lab:
- the suite: `cloudgate run --profile smoke` as an operator runs it after an incident, in one
  process (its facts gathered 16 hosts at a time, cloudgate.ssh.hosts.HostPool.prefetch), and with
  `-n 2` (one worker per core, each gathering its share of the hosts; cloudgate.plugin.shards);
- the floor: raw paramiko fetching the same facts (the hypervisor probe's commands, one exec per
  host over one connection each, 16 threads per process, one process per core): what any Python
  tool must pay on this machine for these facts, with no pytest, no reports.
Wall time, hosts per second, CPU seconds per host (the run's processes, children included) and
peak RSS go to hosts-bench.json, with the suite/floor ratio and a plot. The lab's own sshds share
the two cores with the client here, so both figures are pessimistic for a runner whose targets
are remote machines; their ratio is what carries over (shared/reference/ssh-fanout.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from cloudgate.report.metrics import Metric
from cloudgate_lab import control

LAB_TARGET = Path(__file__).resolve().parents[1] / "fixtures" / "targets" / "lab.yaml"
FULL_SIZES = (100, 300, 1000)
QUICK_SIZES = (100,)
#: Targets on this 2-core machine (issue 18): 1,000 hosts' smoke in a minute, within 2x the floor.
SMOKE_1000_BUDGET_S = 60.0
FLOOR_RATIO_BUDGET = 2.0
#: The suite/floor ratio is judged from this size up. Below it both runs last a few seconds and the
#: ratio moves with this shared machine's noise (1.83 measured at 100 hosts on a quiet day, 2.2 in a
#: `make run`): at 100 and 300 hosts it is reported for information, never as a pass or a fail.
RATIO_JUDGED_FROM = 1000
FLOOR_THREADS = 16
SHAPES = {100: (5, 10), 300: (10, 15), 1000: (20, 25)}  # hosts -> (racks per DC, hosts per rack), 2 DCs
DATACENTERS = 2  # the lab target's (fixtures/targets/lab.yaml)
#: The lab's largest datacenter (cloudgate.target.LabSection: one Linux bridge, 1,024 ports).
MAX_HOSTS_PER_DC = 1000
MAX_HOSTS = DATACENTERS * MAX_HOSTS_PER_DC
MAX_ROUNDS = 10


def shape(hosts: int) -> tuple[int, int]:
    """Racks per DC and hosts per rack giving `hosts` over the lab's two DCs (the first racks of each
    DC take one host more when the racks do not divide it: `extra_racks`)."""
    if hosts in SHAPES:
        return SHAPES[hosts]
    per_dc = max(1, hosts // DATACENTERS)
    racks = max(1, min(20, round(per_dc ** 0.5)))
    return racks, max(1, per_dc // racks)


def extra_racks(hosts: int) -> int:
    """Racks (from the first, in each DC) given one host more, so the lab has exactly `hosts` hosts."""
    racks, per_rack = shape(hosts)
    return hosts // DATACENTERS - racks * per_rack


def parse_sizes(text: str) -> list[int]:
    """--sizes: distinct even host counts the lab can build (2 to MAX_HOSTS); ValueError naming the bad one.

    Checked before any lab is built: a size the lab cannot hold was built smaller and reported as asked
    (`-5 hosts`), and none at all ended in a traceback.
    """
    sizes: list[int] = []
    for part in text.split(","):
        item = part.strip()
        try:
            hosts = int(item)
        except ValueError:
            raise ValueError(f"--sizes {text!r}: {item!r} is not a host count (give counts like 100,300,1000)") from None
        if not DATACENTERS <= hosts <= MAX_HOSTS or hosts % DATACENTERS:
            raise ValueError(f"--sizes {text!r}: {hosts}: a lab size is an even number of hosts from {DATACENTERS} "
                             f"to {MAX_HOSTS:,} (two datacenters of at most {MAX_HOSTS_PER_DC:,})")
        if hosts in sizes:
            raise ValueError(f"--sizes {text!r}: {hosts} given twice")
        sizes.append(hosts)
    return sizes


def check_rounds(rounds: int) -> None:
    """--rounds: 1 to MAX_ROUNDS (each round times the suite twice and the floor once, at every size)."""
    if not 1 <= rounds <= MAX_ROUNDS:
        raise ValueError(f"--rounds {rounds}: must be from 1 to {MAX_ROUNDS}")


def fleet_target(hosts: int, directory: Path) -> Path:
    """The lab target at fleet size: same cloud and SSH settings, hypervisors only, no Cassandra, no front tier."""
    raw = yaml.safe_load(LAB_TARGET.read_text())
    racks, per_rack = shape(hosts)
    raw.pop("cassandra", None)
    raw.pop("frontends", None)
    raw["name"] = f"lab-fleet-{hosts}"
    raw["lab"] = {**(raw.get("lab") or {}), "racks_per_dc": racks, "hosts_per_rack": per_rack,
                  "extra_hosts_first_racks": extra_racks(hosts), "cassandra_nodes_per_dc": 0}
    path = directory / f"lab-fleet-{hosts}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _timed(argv: Sequence[str], env: dict[str, str], out: Path, timeout: float = 1800) -> dict[str, Any]:
    """Run one process to its end: wall time, CPU (its reaped children included) and peak RSS (os.wait4)."""
    started = time.monotonic()
    with open(out, "w") as fh:
        proc = subprocess.Popen(list(argv), env=env, stdout=fh, stderr=subprocess.STDOUT, text=True)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": round(time.monotonic() - started, 3), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "peak_rss_mib": round(usage.ru_maxrss / 1024.0, 1), "exit": proc.returncode}


def run_suite(target: Path, env: dict[str, str], reports: Path, workers: int = 0) -> dict[str, Any]:
    """The smoke profile as an operator runs it; CPU and peak RSS of its processes (workers included).

    workers=0 is one pytest process whose facts are gathered by SSH_FANOUT threads; workers=2 is
    pytest-xdist's `-n 2`, one worker per core, each gathering its share of the hosts.
    """
    argv = [sys.executable, "-m", "cloudgate.cli", "run", "--target", str(target), "--profile", "smoke",
            "--reports-dir", str(reports), "-q", *([f"--numprocesses={workers}"] if workers else [])]
    reports.mkdir(parents=True, exist_ok=True)
    measured = _timed(argv, env, reports / "run.log")
    summary_path = reports / "latest" / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    tail = (reports / "run.log").read_text(errors="replace").strip().splitlines()[-3:] if measured["exit"] else []
    return {**measured, "counts": summary.get("counts", {}), "tail": tail}


def _floor_process(ips: Sequence[str], target: Path) -> dict[str, Any]:
    """One floor process: the hypervisor probe over one paramiko connection per host, 16 at a time."""
    from cloudgate.hypervisor.baselines import load_hypervisor_baseline
    from cloudgate.roles import hypervisor_probe
    from cloudgate.ssh.gather import new_token, parse, script
    from cloudgate.ssh.hosts import SshSettings, open_client
    from cloudgate.target import load_target

    loaded = load_target(str(target))
    settings = SshSettings.from_target(loaded.target)
    probe = hypervisor_probe(load_hypervisor_baseline(loaded))

    def one(ip: str) -> bool:
        client = open_client(ip, settings)
        try:
            token = new_token()
            _, stdout, _ = client.exec_command(script(probe, settings.command_timeout, token),
                                               timeout=settings.command_timeout)
            results = parse(probe, stdout.read().decode(errors="replace"), token)
            return all(r.rc == 0 for r in results.values())
        finally:
            client.close()

    with ThreadPoolExecutor(FLOOR_THREADS) as pool:
        ok = sum(pool.map(one, ips))
    return {"hosts": len(ips), "ok": ok}


def run_floor(target: Path, ips: Sequence[str], env: dict[str, str], out_dir: Path, processes: int = 2) -> dict[str, Any]:
    """The floor in `processes` processes (one per core, as the suite's workers), measured the same way."""
    shares = [list(ips[i::processes]) for i in range(processes)]
    started = time.monotonic()
    with ThreadPoolExecutor(processes) as pool:
        runs = list(pool.map(lambda n: _timed(
            [sys.executable, "-m", "cloudgate_lab.hostbench", "floor", str(target), str(out_dir / f"floor-{n}.json"),
             *shares[n]], env, out_dir / f"floor-{n}.log"), range(processes)))
    wall = time.monotonic() - started
    outs = [json.loads((out_dir / f"floor-{n}.json").read_text() or "{}") if (out_dir / f"floor-{n}.json").exists()
            else {} for n in range(processes)]
    return {"wall_s": round(wall, 3), "cpu_s": round(sum(r["cpu_s"] for r in runs), 3),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs), "hosts_ok": sum(o.get("ok", 0) for o in outs)}


def _fresh(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _lab_env(target: Path) -> dict[str, str]:
    exports = control.env_exports(str(target))
    return {**os.environ, **dict(line.removeprefix("export ").split("=", 1) for line in exports.splitlines() if line)}


def _lab_hosts(target: Path) -> list[Any]:
    """The lab hosts the target file describes (their names and addresses), built once per size."""
    from cloudgate.target import load_target
    from cloudgate_lab.topology import build_topology

    return build_topology(load_target(str(target)).target).hosts


def bench_size(hosts: int, workdir: Path, rounds: int) -> dict[str, Any]:
    """One lab size: up, then suite and floor interleaved `rounds` times, then down."""
    target = fleet_target(hosts, workdir)
    timings = control.up(str(target), quiet=True)
    try:
        env = _lab_env(target)
        hosts_of_lab = _lab_hosts(target)
        ips = [h.ip for h in hosts_of_lab]
        standins = _standin_figures(hosts_of_lab[0].name)
        suites, xdists, floors = [], [], []
        for r in range(rounds):  # interleaved, so a drift of this shared machine hits all three alike
            suites.append(run_suite(target, env, workdir / f"reports-{hosts}-{r}"))
            xdists.append(run_suite(target, env, workdir / f"reports-{hosts}-{r}-n2", workers=2))
            floors.append(run_floor(target, ips, env, _fresh(workdir / f"floor-{hosts}-{r}")))
    finally:
        control.down(quiet=True)
    best_suite = min(suites, key=lambda s: s["wall_s"])
    best_xdist = min(xdists, key=lambda s: s["wall_s"])
    best_floor = min(floors, key=lambda f: f["wall_s"])
    return {
        "hosts": hosts, "shape": dict(zip(("racks_per_dc", "hosts_per_rack"), shape(hosts), strict=True)),
        "lab_up_s": timings.get("lab_up_seconds"), "lab_memory_per_host_mib": timings.get("memory_per_host_mib"),
        "standin_ms_per_call": standins,
        "suite": suites, "suite_n2": xdists, "floor": floors,
        "suite_wall_s": best_suite["wall_s"], "floor_wall_s": best_floor["wall_s"],
        "suite_n2_wall_s": best_xdist["wall_s"], "suite_n2_exit": best_xdist["exit"],
        "hosts_per_s": round(hosts / best_suite["wall_s"], 1),
        "cpu_s_per_host": round(best_suite["cpu_s"] / hosts, 4),
        "floor_cpu_s_per_host": round(best_floor["cpu_s"] / hosts, 4),
        "peak_rss_mib": best_suite["peak_rss_mib"],
        "ratio_to_floor": round(best_suite["wall_s"] / best_floor["wall_s"], 2),
        "checks_passed": best_suite["counts"].get("passed", 0),
        "floor_hosts_ok": min(f["hosts_ok"] for f in floors),
        "suite_exit": best_suite["exit"],
    }


STANDIN_CALLS = (("fio-status", "-a"), ("xe", "host-list"), ("chronyc", "-n", "tracking"), ("lsmod",),
                 ("uname", "-r"))
STANDIN_REPEATS = 50


def _standin_figures(host_name: str) -> dict[str, float]:
    """Milliseconds per call of each stand-in the hypervisor probe runs, timed on the host itself.

    The loop runs inside the host's namespaces (as the probe's shell does), STANDIN_REPEATS calls per
    command, timed by the shell around the loop; the figure is the mean, fork and exec included.
    """
    from cloudgate_lab import hosts

    node = hosts.host_node(host_name)
    figures = {}
    for call in STANDIN_CALLS:
        loop = (f's=$(date +%s%N); i=0; while [ $i -lt {STANDIN_REPEATS} ]; do {" ".join(call)} >/dev/null; '
                'i=$((i+1)); done; e=$(date +%s%N); echo $((e-s))')
        done = hosts.node_exec(node, ["/bin/sh", "-c", f"PATH={hosts.NODE_PATH}; {loop}"],
                               what=f"time {call[0]}", timeout=60)
        figures[" ".join(call)] = round(int(done.stdout.strip()) / STANDIN_REPEATS / 1e6, 2)
    return figures


def _target(metric: Metric, target: str, measured: Any, why: str = "") -> dict[str, Any]:
    """One line of the report from its metric, so the line's word and the metric's verdict cannot disagree:
    a metric with a threshold is judged (PASS / FAIL), one without is information (INFO, with why)."""
    verdict = metric.verdict
    return {"target": target, "measured": measured, "verdict": verdict,
            "passed": None if verdict == "info" else verdict == "pass", "why": why, "metric": metric.model_dump()}


def judge(sizes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, each judged only at the size it is set for (a target needing a size not run is
    not judged); what is measured at another size is reported as information, saying where it is judged."""
    test = "cloudgate bench hosts"
    targets = []
    by_size = {s["hosts"]: s for s in sizes}
    if 1000 in by_size:
        s = by_size[1000]
        targets.append(_target(Metric.measure("lab.fleet.1000.smoke.seconds", s["suite_wall_s"], "s",
                                              SMOKE_1000_BUDGET_S, test=test),
                               f"1,000 hosts smoke <= {SMOKE_1000_BUDGET_S:g} s", s["suite_wall_s"]))
        targets.append(_target(Metric.measure("lab.fleet.3000.extrapolated.seconds", round(3 * s["suite_wall_s"], 1),
                                              "s", 180.0, test=test),
                               "3,000 hosts by extrapolation <= 180 s", round(3 * s["suite_wall_s"], 1)))
    for s in sizes:
        n = s["hosts"]
        whole = s["suite_exit"] == 0 and s["floor_hosts_ok"] == n
        targets.append(_target(Metric.measure(f"lab.fleet.{n}.complete", 1.0 if whole else 0.0, "bool", 1.0,
                                              better="higher", test=test),
                               f"{n} hosts: every smoke check passed and the floor read every host",
                               f"suite exit {s['suite_exit']}, {s['checks_passed']} passed; floor read "
                               f"{s['floor_hosts_ok']} of {n}"))
        targets.append(_ratio_target(s, test))
    return targets


def _ratio_target(s: dict[str, Any], test: str) -> dict[str, Any]:
    """suite <= 2 x floor, judged from RATIO_JUDGED_FROM hosts up; below, the ratio for information."""
    n, ratio = s["hosts"], s["ratio_to_floor"]
    if n >= RATIO_JUDGED_FROM:
        return _target(Metric.measure(f"lab.fleet.{n}.ratio_to_floor", ratio, "x", FLOOR_RATIO_BUDGET, test=test),
                       f"{n} hosts: suite <= {FLOOR_RATIO_BUDGET:g} x floor", ratio)
    why = (f"target <= {FLOOR_RATIO_BUDGET:g} judged at {RATIO_JUDGED_FROM:,} hosts in the full bench; at {n} hosts "
           "the ratio is within this machine's noise")
    return _target(Metric.measure(f"lab.fleet.{n}.ratio_to_floor", ratio, "x", test=test),
                   f"{n} hosts: suite/floor", ratio, why)


def failed(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The judged targets that do not hold: any one of them fails the benchmark (and `make run`)."""
    return [t for t in report["targets"] if t.get("verdict") == "fail"]


def plot(sizes: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [s["hosts"] for s in sizes]
    ax.plot(xs, [s["suite_wall_s"] for s in sizes], "o-", label="cloudgate smoke (one process)")
    ax.plot(xs, [s["suite_n2_wall_s"] for s in sizes], "^:", label="cloudgate smoke (-n 2)")
    ax.plot(xs, [s["floor_wall_s"] for s in sizes], "s--", label="floor: raw paramiko, same facts")
    ax.set_xlabel("lab hypervisor hosts")
    ax.set_ylabel("wall time (s), best of the rounds")
    ax.set_title("Smoke test of the fleet on one 2-core runner")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(out_dir: str, sizes: Sequence[int] = FULL_SIZES, rounds: int = 2) -> dict[str, Any]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="cg-hostbench-") as tmp:
        for hosts in sizes:
            print(f"bench hosts: {hosts} lab hosts ...", flush=True)
            results.append(bench_size(hosts, Path(tmp), rounds))
            s = results[-1]
            print(f"  lab up {s['lab_up_s']} s; smoke {s['suite_wall_s']} s ({s['hosts_per_s']} hosts/s, "
                  f"{s['checks_passed']} checks passed), -n 2 {s['suite_n2_wall_s']} s; floor {s['floor_wall_s']} s; "
                  f"ratio {s['ratio_to_floor']}", flush=True)
    report = {"sizes": results, "targets": judge(results), "rounds": rounds,
              "machine": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()}}
    (out / "hosts-bench.json").write_text(json.dumps(report, indent=1))
    plot(results, out / "hosts-bench.png")
    return report


def report_line(t: dict[str, Any]) -> str:
    """`PASS|FAIL  target: measured`, or `INFO  what: measured (why it is not judged here)`."""
    word = {"pass": "PASS", "fail": "FAIL"}.get(t.get("verdict", ""), "INFO")
    return f"{word}  {t['target']}: {t['measured']}" + (f" ({t['why']})" if t.get("why") else "")


def print_report(report: dict[str, Any]) -> int:
    """The targets, one per line; exit 1 if a judged target fails (never a FAIL line and exit 0)."""
    for t in report["targets"]:
        print(report_line(t))
    return 1 if failed(report) else 0


def main(argv: Sequence[str]) -> int:
    if argv and argv[0] == "floor":  # one floor process (run_floor starts them)
        Path(argv[2]).write_text(json.dumps(_floor_process(list(argv[3:]), Path(argv[1]))))
        return 0
    raise SystemExit("usage: python -m cloudgate_lab.hostbench floor TARGET OUT.json IP...")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
