"""A run in the Prometheus text format, for node_exporter's textfile collector (Grafana trends).

Why a file and not a push: the teams that graph in Grafana already run node_exporter on the
runner; its textfile collector reads `*.prom` files from one directory, which must be written
whole (write to a temporary name, then rename). So every run writes `reports/<run>/cloudgate.prom`
and replaces `reports/prometheus/cloudgate-<target>-<profile>.prom`, the stable path to point
`--collector.textfile.directory` at — unless the run was cut short: then the last complete run's file
stays (a Ctrl-C at 2 a.m. must not turn a known red dashboard green, nor blank it). Written with `prometheus_client` (its own registry, its own
escaping of label values), read back in the self-test with its parser.

Series (labels: target, profile, and per series area / check_id / metric):
- cloudgate_area_ok{area}          1 the area held, 0 it failed, absent when it did not run; in a run
                                   cut short (Ctrl-C, a crash) only a failure is written: a pass not earned
                                   is absent, never 1;
- cloudgate_run_complete           1 every selected check finished, 0 the run was cut short;
- cloudgate_check_ok{check_id}     1 every result of that check id passed (or n/a), 0 any failed;
- cloudgate_metric{metric, unit}   every figure of metrics.json;
- cloudgate_metric_threshold{...}  its promise, where it has one;
- cloudgate_run_exit_status, cloudgate_run_end_timestamp_seconds.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from cloudgate.report.page import PageModel, RunInputs, build_page_model, incomplete_of, read_run_inputs

PROM_FILE = "cloudgate.prom"
TEXTFILE_DIR = "prometheus"
AREA_VALUE = {"ok": 1.0, "warn": 1.0, "fail": 0.0}  # warn: waived or partly run, not broken; not_run: absent
FAILED = ("failed", "error")


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _timestamp(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return None


def exposition(inputs: RunInputs, model: PageModel) -> bytes:
    """The run's series in the text format (a pure function of what the page was built from)."""
    registry = CollectorRegistry()
    base = ("target", "profile")
    who = (model.target, model.profile)
    area = Gauge("cloudgate_area_ok", "1 when the area's checks held, 0 when one failed", (*base, "area"),
                 registry=registry)
    complete = incomplete_of(inputs.summary or {}) is None
    for verdict in model.areas:
        if verdict.state in AREA_VALUE and (complete or verdict.state == "fail"):
            area.labels(*who, verdict.key).set(AREA_VALUE[verdict.state])
    Gauge("cloudgate_run_complete", "1 when every selected check finished, 0 when the run was cut short", base,
          registry=registry).labels(*who).set(1.0 if complete else 0.0)
    check = Gauge("cloudgate_check_ok", "1 when every result of the check passed, 0 when one failed",
                  (*base, "check_id"), registry=registry)
    ran: dict[str, bool] = {}
    for case in inputs.junit or []:
        if case.check_id and case.outcome in ("passed", *FAILED):
            ran[case.check_id] = ran.get(case.check_id, True) and case.outcome not in FAILED
    for check_id, ok in sorted(ran.items()):
        check.labels(*who, check_id).set(1.0 if ok else 0.0)
    value = Gauge("cloudgate_metric", "a figure the run measured", (*base, "metric", "unit"), registry=registry)
    limit = Gauge("cloudgate_metric_threshold", "the promise the figure is held to", (*base, "metric", "unit"),
                  registry=registry)
    for metric in inputs.metrics or []:
        try:
            labels = (*who, str(metric["name"]), str(metric.get("unit", "")))
            value.labels(*labels).set(float(metric["value"]))
            if metric.get("threshold") is not None:
                limit.labels(*labels).set(float(metric["threshold"]))
        except (KeyError, TypeError, ValueError):
            continue  # the page names a malformed metrics.json; one bad record costs only itself
    status = Gauge("cloudgate_run_exit_status", "the run's exit status (0 passed)", base, registry=registry)
    code = str(model.exitstatus).split(" ", 1)[0]  # the page shows "1 (failed)"
    if code.lstrip("-").isdigit():
        status.labels(*who).set(float(code))
    ended = _timestamp(model.ended)
    if ended is not None:
        Gauge("cloudgate_run_end_timestamp_seconds", "when the run ended", base, registry=registry).labels(*who).set(ended)
    return generate_latest(registry)


def write_prometheus(run_dir: Path, reports_root: Path, history_db: Path | None = None) -> Path:
    """reports/<run>/cloudgate.prom, and the textfile collector's copy under reports/prometheus/."""
    inputs = read_run_inputs(run_dir, history_db)
    model = build_page_model(inputs)
    data = exposition(inputs, model)
    own = run_dir / PROM_FILE
    _atomic_write(own, data)
    if incomplete_of(inputs.summary or {}) is not None:
        return own  # the collector keeps serving the last complete run
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{model.target}-{model.profile}")
    _atomic_write(reports_root / TEXTFILE_DIR / f"cloudgate-{safe}.prom", data)
    return own
