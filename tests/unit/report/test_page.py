"""The operators' page (reports/<run>/index.html): the answer at a glance at 3 a.m., from a run directory.

Synthetic run directories in tmp_path (small JSON files, a junit.xml, a PNG made with zlib). No cloud
needed.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
import zlib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from cloudgate.report.history import CheckRecord, MetricRecord, RunRecord, open_history, record_run
from cloudgate.report.page import (
    PageError,
    PageModel,
    build_page_model,
    headline,
    read_run_inputs,
    render_page,
    render_run_page,
)

REPO = Path(__file__).resolve().parents[3]
RUN_ID = "20261209T020000Z-preprod-nightly-4242"
STARTED = "2026-12-09T02:00:00Z"

HOST_CHECKS = {"CG-HOST-001": "test_os_release_matches_the_baseline", "CG-FIO-003": "test_fusion_io_card_is_healthy"}
HOSTS = [(dc, f"{dc}-r{r}", f"{dc}-r{r}-h{h}") for dc in ("dc1", "dc2") for r in (1, 2) for h in (1, 2)]


# --------------------------------------------------------------------------- building a run directory
def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A valid tiny PNG (red pixels), made with the standard library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def healthy_results() -> dict[str, tuple[str, str, str, str]]:
    """nodeid -> (outcome, check id, severity, message) of a small healthy nightly."""
    results = {}
    for _dc, _rack, host in HOSTS:
        for check_id, test in HOST_CHECKS.items():
            results[f"tests/infra/test_hypervisors.py::{test}[{host}]"] = ("passed", check_id, "major", "")
    for node in ("cass-dc1-1", "cass-dc2-1"):
        results[f"tests/infra/test_cassandra_nodes.py::test_cassandra_node_has_swap_off[{node}]"] = (
            "passed", "CG-NODE-002", "major", "")
    results["tests/infra/test_cassandra_dispersion.py::test_no_two_replicas_share_a_host"] = (
        "passed", "CG-CASS-002", "critical", "")
    results["tests/infra/test_cloudstack.py::test_cloudstack_api_answers"] = ("passed", "CG-CS-001", "critical", "")
    results["tests/infra/test_deploy_time.py::test_concurrent_vm_deploys_answer_ssh"] = (
        "passed", "CG-DEPLOY-001", "critical", "")
    results["tests/placement/test_placement_rules.py::test_the_ring_lands_on_distinct_hosts"] = ("passed", "", "", "")
    return results


def estate(cassandra: bool = True, live: bool = True) -> dict[str, Any]:
    source = {"live": live, "taken_at": "2026-12-09T02:00:00Z", "snapshot_file": None if live else "preprod.json",
              "problem": None if live else "CloudStack API: connection refused"}
    out: dict[str, Any] = {
        "schema_version": 1, "target": "preprod", "taken_at": "2026-12-09T02:00:00Z", "cloudstack": source,
        "hosts": [{"id": h, "name": h, "ip": "10.0.0.1", "zone": f"pp-{dc}", "datacenter": dc, "pod": rack,
                   "rack": rack, "cluster": f"{rack}-pool", "state": "Up", "resourcestate": "Enabled"}
                  for dc, rack, h in HOSTS],
        "vms": [{"id": "v1", "name": "cass-dc1-1", "state": "Running", "host_name": "dc1-r1-h1", "ips": ["10.1.0.1"]},
                {"id": "v2", "name": "cass-dc2-1", "state": "Running", "host_name": "dc2-r1-h1", "ips": ["10.2.0.1"]}],
    }
    if cassandra:
        nodes = [{"address": "10.1.0.1", "datacenter": "dc1", "rack": "dc1-r1", "vm": "cass-dc1-1",
                  "host": "dc1-r1-h1"},
                 {"address": "10.1.0.2", "datacenter": "dc1", "rack": "dc1-r2", "vm": "cass-dc1-2",
                  "host": "dc1-r1-h1"},  # the same physical host as cass-dc1-1: the bad placement
                 {"address": "10.2.0.1", "datacenter": "dc2", "rack": "dc2-r1", "vm": "cass-dc2-1",
                  "host": "dc2-r1-h1"}]
        ranges = [{"start": i, "end": i + 1, "replicas": ["10.1.0.1", "10.1.0.2", "10.2.0.1"]} for i in range(4)]
        out["cassandra"] = {"source": source, "nodes": nodes, "ring_problem": None,
                            "ring": {"keyspace": "cloudgate_probe", "replication": {"dc1": 2, "dc2": 1},
                                     "ranges": ranges}}
    return out


def metric(name: str, value: float, threshold: float | None = None, verdict: str = "info", unit: str = "ms") -> dict:
    return {"name": name, "unit": unit, "value": value, "threshold": threshold, "better": "lower",
            "verdict": verdict, "test": "tests/infra/test_cassandra_latency.py::test_p99"}


def write_junit(path: Path, results: dict[str, tuple[str, str, str, str]]) -> None:
    from cloudgate.report.page import junit_address

    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name="pytest", tests=str(len(results)))
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="cloudgate.run_id", value=RUN_ID)
    ET.SubElement(props, "property", name="cloudgate.target", value="preprod")
    for nodeid, (outcome, check_id, severity, message) in results.items():
        classname, name = junit_address(nodeid)
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0.1")
        if check_id:
            cprops = ET.SubElement(case, "properties")
            ET.SubElement(cprops, "property", name="check_id", value=check_id)
            ET.SubElement(cprops, "property", name="severity", value=severity)
        if outcome in ("failed", "error"):
            tag = "failure" if outcome == "failed" else "error"
            ET.SubElement(case, tag, message=message).text = f"{message}\nassert False\n  traceback..."
        elif outcome in ("waived", "not_run", "not_applicable"):
            ET.SubElement(case, "skipped", type="pytest.skip", message=message)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def make_run(root: Path, results: dict[str, tuple[str, str, str, str]] | None = None, *,
             metrics: list[dict] | None = None, history: dict | None = None, gate: dict | None = None,
             with_estate: bool = True, estate_doc: dict | None = None, plots: dict[str, bytes] | None = None,
             files: tuple[str, ...] = ("summary.json", "junit.xml", "metrics.json")) -> Path:
    """A run directory as the plugin writes it (only the files named in `files`, plus the optional ones)."""
    results = healthy_results() if results is None else results
    run_dir = root / RUN_ID
    run_dir.mkdir(parents=True)
    stamp = {"run_id": RUN_ID, "target": "preprod", "environment": "preproduction", "profile": "nightly",
             "revision": "abc123", "started": STARTED, "ended": "2026-12-09T02:40:00Z"}
    if "summary.json" in files:
        summary = {**stamp, "exitstatus": 0, "outcomes": {n: r[0] for n, r in results.items()},
                   "not_run": {n: r[3] for n, r in results.items() if r[0] in ("waived", "not_run", "not_applicable")},
                   "counts": {}}
        if history is not None:
            summary["history"] = history
        (run_dir / "summary.json").write_text(json.dumps(summary))
    if "junit.xml" in files:
        write_junit(run_dir / "junit.xml", results)
    if "metrics.json" in files:
        metrics = [metric("cassandra.write.server.p99", 0.7, 1.0, "pass")] if metrics is None else metrics
        (run_dir / "metrics.json").write_text(json.dumps({**stamp, "metrics": metrics}))
    if with_estate:
        (run_dir / "estate.json").write_text(json.dumps(estate_doc or estate()))
    if gate is not None:
        (run_dir / "gate-verdict.json").write_text(json.dumps(gate))
    for name, data in (plots or {}).items():
        (run_dir / name).write_bytes(data)
    return run_dir


def model_of(run_dir: Path, history_db: Path | None = None) -> PageModel:
    return build_page_model(read_run_inputs(run_dir, history_db))


def failing(results: dict, nodeid_part: str, outcome: str = "failed", message: str = "it broke") -> dict:
    """`results` with every check whose node id contains `nodeid_part` turned to `outcome`."""
    return {n: ((outcome, r[1], r[2], message) if nodeid_part in n else r) for n, r in results.items()}


# --------------------------------------------------------------------------- the verdicts
def test_a_cloud_that_runs_but_cannot_deploy_reads_production_runs_but_no_new_vm_can_be_added(tmp_path):
    results = failing(healthy_results(), "test_deploy_time", message="deploy of cg-probe-1 failed: no capacity")
    model = model_of(make_run(tmp_path, results))

    assert model.area("data_plane").state == "ok"
    assert model.area("control_plane").state == "fail"
    assert model.headline == "Production runs but no new VM can be added."
    assert model.headline_state == "fail"


def test_a_healthy_night_is_green_in_every_area_that_ran_and_says_new_vms_can_be_added(tmp_path):
    model = model_of(make_run(tmp_path))

    assert model.headline == "Production runs and new VMs can be added."
    assert {a.key: a.state for a in model.areas} == {"data_plane": "ok", "control_plane": "ok", "placement": "ok"}
    assert model.attention == []


def test_an_area_whose_checks_were_all_skipped_or_not_applicable_is_grey_not_run_never_green(tmp_path):
    results = failing(healthy_results(), "tests/infra/test_hypervisors", "not_run", "not run: host unreachable")
    results = failing(results, "tests/infra/test_cassandra", "not_applicable", "not run: not applicable, no Cassandra")
    model = model_of(make_run(tmp_path, results))

    data = model.area("data_plane")
    assert data.state == "not_run"
    assert data.state_words == "NOT RUN"
    assert "nothing ran" in data.words
    assert model.headline.startswith("Whether production runs was not checked")
    assert ("not run: host unreachable", 16) in model.not_run


def test_an_area_with_no_check_at_all_is_grey_and_a_drill_area_appears_only_when_a_drill_ran(tmp_path):
    results = {n: r for n, r in healthy_results().items() if "cloudstack" not in n and "deploy" not in n}
    results["tests/infra/test_failover_drills.py::test_losing_a_host"] = (
        "not_run", "CG-DRILL-001", "critical", "not run: destructive check needs --allow-destructive")
    model = model_of(make_run(tmp_path, results))

    assert model.area("control_plane").state == "not_run"
    assert model.area("drills") is None
    assert model.headline == "Production runs; whether a new VM can be added was not checked."
    assert model.headline_state == "warn"  # never a green headline over an unchecked plane

    results["tests/infra/test_failover_drills.py::test_losing_a_host"] = ("passed", "CG-DRILL-001", "critical", "")
    assert model_of(make_run(tmp_path / "again", results)).area("drills").state == "ok"


def test_a_waived_failure_is_amber_and_listed_with_its_justification_never_green(tmp_path):
    results = failing(healthy_results(), "test_fusion_io_card_is_healthy[dc2-r2-h1]", "waived",
                      "waived until 2026-12-31: card replacement ordered (INC-1234)")
    model = model_of(make_run(tmp_path, results))

    assert model.area("data_plane").state == "warn"
    [group] = model.attention
    [row] = group.rows
    assert (group.title, row.check_id, row.host, row.label) == ("Data plane", "CG-FIO-003", "dc2-r2-h1", "waived")
    assert row.message == "waived until 2026-12-31: card replacement ordered (INC-1234)"
    assert model.matrix.row("dc2-r2-h1").cell("CG-FIO-003").outcome == "waived"


def test_a_partly_run_area_is_not_green(tmp_path):
    results = failing(healthy_results(), "[dc1-r1-h2]", "not_run", "not run: interrupted (Ctrl-C) before it finished")
    assert model_of(make_run(tmp_path, results)).area("data_plane").state == "warn"


def test_placement_tests_without_a_check_id_go_to_the_placement_engine_area(tmp_path):
    results = failing(healthy_results(), "tests/placement", message="Falsifying example: place(...)")
    model = model_of(make_run(tmp_path, results))

    assert model.area("placement").state == "fail"
    assert model.area("data_plane").state == "ok"
    assert [g.title for g in model.attention] == ["Placement engine"]


def test_the_headline_names_each_plane_in_words_whatever_the_combination():
    assert headline("fail", "fail") == ("Production is hurt: running services fail their checks; "
                                        "no new VM can be added.")
    assert headline("fail", "ok").endswith("; new VMs can be added.")
    assert headline("not_run", "not_run").startswith("Whether production runs was not checked")


# --------------------------------------------------------------------------- what fails, where
def test_failing_checks_come_first_by_area_with_id_severity_host_and_a_one_line_message(tmp_path):
    results = failing(healthy_results(), "test_fusion_io_card_is_healthy[dc1-r2-h2]",
                      message="fct0 on dc1-r2-h2: reserve space 3 % (minimum 10 %)\nassert 3 >= 10")
    results = failing(results, "test_cloudstack_api_answers", "error", "CloudStackError: listZones: HTTP 503")
    model = model_of(make_run(tmp_path, results))

    assert [g.title for g in model.attention] == ["Data plane", "Control plane"]
    row = model.attention[0].rows[0]
    assert (row.check_id, row.severity, row.host, row.label) == ("CG-FIO-003", "major", "dc1-r2-h2", "fail")
    assert row.message == "fct0 on dc1-r2-h2: reserve space 3 % (minimum 10 %)"
    assert model.attention[1].rows[0].label == "error"


def test_a_cassandra_node_check_names_the_physical_host_its_vm_runs_on(tmp_path):
    results = failing(healthy_results(), "test_cassandra_node_has_swap_off[cass-dc2-1]", message="swap is on")
    [row] = model_of(make_run(tmp_path, results)).attention[0].rows

    assert (row.host, row.where) == ("cass-dc2-1", "cass-dc2-1 on dc2-r1-h1")


def test_the_host_matrix_shows_one_bad_card_in_its_rack_among_healthy_hosts(tmp_path):
    results = failing(healthy_results(), "test_fusion_io_card_is_healthy[dc1-r2-h1]", message="fct0 degraded")
    matrix = model_of(make_run(tmp_path, results)).matrix

    assert matrix.columns == ["CG-HOST-001", "CG-FIO-003"]
    assert [(g.datacenter, g.rack) for g in matrix.groups] == [
        ("dc1", "dc1-r1"), ("dc1", "dc1-r2"), ("dc2", "dc2-r1"), ("dc2", "dc2-r2")]
    assert {g.rack: g.bad_hosts for g in matrix.groups} == {"dc1-r1": 0, "dc1-r2": 1, "dc2-r1": 0, "dc2-r2": 0}
    bad = matrix.row("dc1-r2-h1")
    assert [(c.check_id, c.label) for c in bad.cells] == [("CG-HOST-001", "pass"), ("CG-FIO-003", "fail")]
    assert bad.cell("CG-FIO-003").message == "fct0 degraded"
    assert matrix.row("dc1-r1-h1").cassandra_vms == ["cass-dc1-1", "cass-dc1-2"]
    assert matrix.row("dc1-r1-h1").state == "Up/Enabled"


def test_a_host_the_estate_lists_without_a_result_reads_not_run_and_a_host_in_maintenance_n_a(tmp_path):
    results = {n: r for n, r in healthy_results().items() if "[dc2-r2-h2]" not in n}
    results = failing(results, "test_fusion_io_card_is_healthy[dc2-r2-h1]", "not_applicable",
                      "not run: not applicable, dc2-r2-h1 is in maintenance")
    matrix = model_of(make_run(tmp_path, results)).matrix

    assert [c.label for c in matrix.row("dc2-r2-h2").cells] == ["not run", "not run"]
    assert matrix.row("dc2-r2-h1").cell("CG-FIO-003").label == "n.a."


def test_a_narrowed_run_lists_only_the_hosts_it_checked_and_says_how_many_it_left_out(tmp_path):
    results = {n: r for n, r in healthy_results().items() if "[dc2-" not in n}
    run_dir = make_run(tmp_path, results)
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["selection"] = {"narrowed": True, "hosts_filter": ["dc=dc1"], "sample_per_rack": None,
                            "hosts_total": 8, "hosts_selected": 4, "racks_selected": 2,
                            "cassandra_nodes_total": 3, "cassandra_nodes_selected": 2}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    model = model_of(run_dir)

    assert {g.datacenter for g in model.matrix.groups} == {"dc1"}
    assert "4 of 8 hosts" in model.scope


def test_the_cassandra_ring_counts_replicas_per_physical_host_and_flags_a_host_holding_two(tmp_path):
    ring = model_of(make_run(tmp_path)).ring

    assert (ring.keyspace, ring.replication, ring.ranges) == ("cloudgate_probe", "dc1: 2, dc2: 1", 4)
    by_host = {h.host: h for h in ring.hosts}
    assert by_host["dc1-r1-h1"].vms == ("cass-dc1-1", "cass-dc1-2")
    assert (by_host["dc1-r1-h1"].replicas, by_host["dc1-r1-h1"].shared_ranges) == (8, 4)
    assert (by_host["dc2-r1-h1"].replicas, by_host["dc2-r1-h1"].shared_ranges) == (4, 0)
    assert by_host["dc1-r1-h1"].rack == "dc1-r1"


# --------------------------------------------------------------------------- gate and history
def test_a_gate_no_go_shows_its_reasons_and_a_go_is_green(tmp_path):
    no_go = {"go": False, "before": "r-before", "after": RUN_ID, "known": ["CG-CS-004 fails before and after"],
             "reasons": [{"kind": "canary", "detail": "canary VM cg-canary-1 is gone (stopped-vms-expunged?)"}]}
    gate = model_of(make_run(tmp_path, gate=no_go)).area("gate")

    assert (gate.state, gate.words.split(" —")[0]) == ("fail", "NO-GO")
    assert gate.details == ["canary: canary VM cg-canary-1 is gone (stopped-vms-expunged?)",
                            "known (failed before too): CG-CS-004 fails before and after"]
    go = {"go": True, "before": "r-before", "after": RUN_ID, "reasons": [], "known": []}
    assert model_of(make_run(tmp_path / "go", gate=go)).area("gate").state == "ok"


def test_a_metric_regression_flagged_in_the_summary_is_beside_its_figure_and_makes_history_red(tmp_path):
    detail = "cassandra.write.server.p99 = 0.73 ms, 0.21 ms (+40%) above the median of 5 run(s) (0.52 ms)"
    history = {"baseline_runs": ["a", "b", "c", "d", "e"], "fails_run": True, "not_compared": [],
               "flags": [{"kind": "metric_regression", "subject": "cassandra.write.server.p99", "detail": detail},
                         {"kind": "known_failure", "subject": "x", "detail": "CG-CS-004 fails, as on 2 of 5"}]}
    metrics = [metric("cassandra.write.server.p99", 0.73, 1.0, "pass"), metric("deploy.total.p95", 40, 300, "pass")]
    model = model_of(make_run(tmp_path, history=history, metrics=metrics))

    assert model.area("history").state == "fail"
    assert model.area("history").words == "1 regression(s) against the last 5 run(s)"
    assert model.area("history").details[0] == f"metric regression: {detail}"
    assert [(m.name, m.regression) for m in model.metrics] == [
        ("cassandra.write.server.p99", detail), ("deploy.total.p95", "")]


def test_a_night_compared_with_nothing_yet_is_grey_and_one_without_flags_green(tmp_path):
    first = model_of(make_run(tmp_path, history={"baseline_runs": [], "flags": []})).area("history")
    calm = model_of(make_run(tmp_path / "b", history={"baseline_runs": ["a"], "flags": []})).area("history")
    assert (first.state, calm.state) == ("not_run", "ok")


def record_nights(db: Path, values: list[float]) -> None:
    with open_history(db) as conn:
        for day, value in enumerate(values, start=1):
            record_run(conn, RunRecord(
                run_id=f"202612{day:02d}T020000Z-preprod-nightly-1", target="preprod", environment="preproduction",
                profile="nightly", revision="abc", started=f"2026-12-{day:02d}T02:00:00Z",
                ended=f"2026-12-{day:02d}T02:40:00Z", exitstatus=0,
                metrics=[MetricRecord("cassandra.write.server.p99", value, "ms", 1.0)]))


def test_the_sparkline_draws_the_last_nights_from_the_history_and_ends_on_tonight(tmp_path):
    db = tmp_path / "history.sqlite"
    record_nights(db, [0.5, 0.6, 0.5, 0.55])  # nights of 1 to 4 December; tonight is the 9th
    run_dir = make_run(tmp_path, metrics=[metric("cassandra.write.server.p99", 0.9, 1.0, "pass")])
    with open_history(db) as conn:  # tonight recorded too: it must be drawn once, at the right end
        record_run(conn, RunRecord(RUN_ID, "preprod", "preproduction", "nightly", "abc", STARTED, "x", 0,
                                   metrics=[MetricRecord("cassandra.write.server.p99", 0.9, "ms", 1.0)]))
    [row] = model_of(run_dir).metrics  # the database beside the run directory, found by default

    points = [tuple(map(float, p.split(","))) for p in row.spark.points.split()]
    assert len(points) == 5
    assert points[-1] == (row.spark.last_x, row.spark.last_y)
    assert points[-1][1] == min(y for _x, y in points)  # tonight is the highest value: the top of the box
    assert [x for x, _y in points] == sorted(x for x, _y in points)
    assert "over 5 runs" in row.spark.caption
    html = render_page(model_of(run_dir))
    assert f'points="{row.spark.points}"' in html


def test_a_history_database_without_this_run_says_so_and_still_draws_the_earlier_nights(tmp_path):
    db = tmp_path / "elsewhere" / "history.sqlite"
    record_nights(db, [0.5, 0.6])
    model = model_of(make_run(tmp_path), history_db=db)

    assert any("has no record of run " + RUN_ID in n for n in model.notes)
    assert model.metrics[0].spark is not None
    assert "over 3 runs" in model.metrics[0].spark.caption


def test_rendering_never_creates_migrates_or_moves_aside_the_history(tmp_path):
    run_dir = make_run(tmp_path)
    assert not (tmp_path / "history.sqlite").exists()
    render_run_page(run_dir)
    assert not (tmp_path / "history.sqlite").exists()

    corrupt = tmp_path / "history.sqlite"
    corrupt.write_bytes(b"this is not a database" * 100)
    model = model_of(run_dir)
    assert corrupt.read_bytes().startswith(b"this is not a database")
    assert list(tmp_path.glob("history.sqlite.corrupt-*")) == []
    assert any("history database" in n and "unusable" in n for n in model.notes)
    assert model.metrics[0].spark is None


# --------------------------------------------------------------------------- the HTML itself
def test_a_check_message_with_a_script_tag_is_shown_as_text(tmp_path):
    evil = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    results = failing(healthy_results(), "test_cloudstack_api_answers", message=evil)
    html = render_page(model_of(make_run(tmp_path, results)))

    assert "<script" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;" in html


def test_the_page_is_one_self_contained_file_with_its_plots_embedded_and_no_external_url(tmp_path):
    run_dir = make_run(tmp_path, plots={"drill-host-loss.png": png_bytes(), "cassandra-write-latency.png": png_bytes()})
    (run_dir / "drill-host-loss.txt").write_text("drill host-loss: fault at t=8 s\ndc1  100.00 %\n\nPASSED")
    path = render_run_page(run_dir)

    assert path == run_dir / "index.html"
    html = path.read_text()
    model = model_of(run_dir)
    drill = next(p for p in model.plots if p.name == "drill-host-loss.png")
    assert drill.data_uri.startswith("data:image/png;base64,iVBOR") and drill.data_uri in html
    assert drill.table.startswith("drill host-loss: fault at t=8 s")
    assert html.count("data:image/png;base64,") == 2
    assert "http://" not in html and "https://" not in html and "<link" not in html and "<script" not in html
    assert 'href="junit.xml"' in html and 'href="summary.json"' in html


def test_an_estate_read_from_the_last_good_snapshot_says_so_at_the_top(tmp_path):
    model = model_of(make_run(tmp_path, estate_doc=estate(live=False)))
    assert any("NOT read live because CloudStack API: connection refused" in n for n in model.notes)
    assert model.estate_lines[0].startswith("8 hosts and 2 VMs NOT read live")


# --------------------------------------------------------------------------- bad input
def test_a_run_without_summary_json_still_renders_from_junit_and_says_what_is_missing(tmp_path):
    results = failing(healthy_results(), "test_deploy_time", message="deploy timed out after 300 s")
    results = failing(results, "[dc1-r1-h1]", "waived", "waived until 2026-12-31: known")
    run_dir = make_run(tmp_path, results, files=("junit.xml", "metrics.json"))
    model = model_of(run_dir)

    assert any(n.startswith("summary.json is missing") for n in model.notes)
    assert model.headline == "Production runs, but not every check of it passed (waived or not run); " \
                             "no new VM can be added."
    assert model.run_id == RUN_ID and model.target == "preprod"
    assert model.attention[1].rows[0].message == "deploy timed out after 300 s"
    assert "summary.json is missing" in render_page(model)


def test_a_corrupt_metrics_json_is_named_and_the_rest_of_the_page_renders(tmp_path):
    run_dir = make_run(tmp_path)
    (run_dir / "metrics.json").write_text('{"metrics": [{"name": "x", "val')
    model = model_of(run_dir)

    assert any(n.startswith("metrics.json is unreadable") for n in model.notes)
    assert model.metrics == [] and model.area("data_plane").state == "ok"
    render_run_page(run_dir)


def test_metrics_json_of_the_wrong_shape_is_named_not_a_traceback(tmp_path):
    run_dir = make_run(tmp_path, metrics=[{"name": "a"}, "junk", metric("ok.metric", 1.0)])
    model = model_of(run_dir)
    assert [m.name for m in model.info_metrics] == ["ok.metric"]
    assert any("some records have no name or numeric value" in n for n in model.notes)
    (run_dir / "metrics.json").write_text("[1, 2]")
    assert any("metrics.json is not a JSON object" in n for n in model_of(run_dir).notes)


def test_an_unreadable_plot_is_named_and_the_other_plots_still_show(tmp_path):
    run_dir = make_run(tmp_path, plots={"placement-grid.png": png_bytes(), "drill-vm-loss.png": b"<html>oops"})
    (run_dir / "drill-dc-loss.txt").write_text("drill dc-loss table")
    (run_dir / "gone.png").symlink_to(run_dir / "nowhere.png")
    model = model_of(run_dir)

    by_name = {p.name: p for p in model.plots}
    assert by_name["placement-grid.png"].data_uri
    assert by_name["drill-vm-loss.png"].problem == "drill-vm-loss.png is not a PNG image (10 bytes): not shown"
    assert by_name["gone.png"].problem.startswith("gone.png is unreadable")
    assert by_name["drill-dc-loss.png"].table == "drill dc-loss table"
    assert "drill-dc-loss.png is missing: the drill's table is shown without its plot" in model.notes
    assert "drill-vm-loss.png is not a PNG image" in render_page(model)


def test_a_run_without_estate_lists_hosts_from_the_checks_parameters_and_says_the_estate_is_missing(tmp_path):
    model = model_of(make_run(tmp_path, with_estate=False))

    assert any(n.startswith("estate.json is missing") for n in model.notes)
    assert [(g.datacenter, g.rack) for g in model.matrix.groups] == [("?", "?")]
    assert len(model.matrix.groups[0].rows) == 8
    assert model.ring is None
    assert "not in the run directory: report.html, estate.json" in model.notes


def test_a_corrupt_gate_verdict_is_named_and_the_gate_area_left_out(tmp_path):
    run_dir = make_run(tmp_path)
    (run_dir / "gate-verdict.json").write_text("{not json")
    model = model_of(run_dir)
    assert model.area("gate") is None
    assert any(n.startswith("gate-verdict.json is unreadable") for n in model.notes)


def test_with_neither_summary_nor_junit_the_history_record_of_the_run_gives_the_outcomes(tmp_path):
    run_dir = make_run(tmp_path, files=())
    with open_history(tmp_path / "history.sqlite") as conn:
        record_run(conn, RunRecord(RUN_ID, "preprod", "preproduction", "nightly", "abc", STARTED, "x", 1, checks=[
            CheckRecord("tests/infra/test_cloudstack.py::test_cloudstack_api_answers", "failed", "CG-CS-001",
                        "critical", 0.1, "CloudStackError: listZones: HTTP 503\nmore"),
            CheckRecord("tests/infra/test_hypervisors.py::test_os[dc1-r1-h1]", "passed", "CG-HOST-001", "major")]))
    model = model_of(run_dir)

    assert model.headline == "Production runs but no new VM can be added."
    assert model.attention[0].rows[0].message == "CloudStackError: listZones: HTTP 503"
    assert model.counts == {"failed": 1, "passed": 1}


def test_an_empty_run_directory_renders_a_page_that_says_everything_is_missing(tmp_path):
    run_dir = tmp_path / "empty-run"
    run_dir.mkdir()
    model = model_of(run_dir)

    assert {a.key: a.state for a in model.areas} == {"data_plane": "not_run", "control_plane": "not_run"}
    assert model.run_id == "empty-run"
    assert any(n.startswith("no check results") for n in model.notes)
    assert render_run_page(run_dir).read_text().count("<li>") >= 5


def test_a_run_dir_that_is_not_a_directory_raises_one_line_page_error(tmp_path):
    with pytest.raises(PageError, match=r"^.*not-there: not a run directory \(absent\)$"):
        render_run_page(tmp_path / "not-there")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(PageError) as exc:
        render_run_page(tmp_path / "a-file")
    assert "\n" not in str(exc.value) and "not a directory" in str(exc.value)


# --------------------------------------------------------------------------- the runbooks beside the failures
def with_target_file(run_dir: Path, target_file: Path | str) -> Path:
    """The run's summary.json naming its target file, as the plugin's stamp does (`target_file`)."""
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "target_file": str(target_file)}))
    return run_dir


def test_a_failing_check_has_its_runbook_beside_it_open_when_critical(tmp_path):
    results = failing(healthy_results(), "test_no_two_replicas_share_a_host", message="host dc1-r1-h1 holds replicas")
    model = model_of(make_run(tmp_path, results))

    assert list(model.runbooks) == ["CG-CASS-002"]  # the failing check's, none for the checks that passed
    book = model.runbooks["CG-CASS-002"]
    assert book.title == "No two replicas of the same data share a physical host"
    assert "LOCAL_QUORUM" in book.means and 2 <= len(book.first_actions) <= 5
    assert book.escalate_to == "cassandra-dba" and book.contacts == (("cassandra-dba", ""),)
    html = render_page(model)
    block = html[html.index('<tr class="runbook" id="runbook-CG-CASS-002">'):]
    block = block[:block.index("</tr>")]
    assert "<details open>" in block and "What it means." in block and "escalate to <b>cassandra-dba</b>" in block
    assert "<code>cloudgate place</code>" in block  # the commands of a step as code, the rest as text
    assert "cassandra-dba</b> (no contact in the target file's escalation section)" in block


def test_a_waived_or_minor_check_has_its_runbook_folded_and_each_check_gets_one(tmp_path):
    results = failing(healthy_results(), "test_fusion_io_card_is_healthy[dc2-r2-h", "waived", "waived: INC-1234")
    results = failing(results, "test_cassandra_node_has_swap_off", message="swap is on")
    html = render_page(model_of(make_run(tmp_path, results)))

    assert html.count('<tr class="runbook" id="runbook-CG-FIO-003-waived">') == 1  # once for its two hosts
    assert html.count('<tr class="runbook" id="runbook-CG-NODE-002">') == 1
    assert "<details open>" not in html  # neither is a critical failure


def test_the_runbook_shows_each_roles_contact_from_the_runs_target_file(tmp_path):
    target = tmp_path / "preprod.yaml"
    target.write_text((REPO / "fixtures/targets/example-preprod.yaml").read_text().replace(
        '  cassandra-dba: "#dba-oncall (Slack), then +33 1 99 00 10 04"', '  cassandra-dba: "#dba <on call>"'))
    results = failing(healthy_results(), "test_no_two_replicas_share_a_host")
    run_dir = with_target_file(make_run(tmp_path / "runs", results), target)
    model = model_of(run_dir)

    assert model.runbooks["CG-CASS-002"].contacts == (("cassandra-dba", "#dba <on call>"),)
    assert "<b>cassandra-dba</b>: #dba &lt;on call&gt;" in render_page(model)  # escaped like everything else


def test_an_unreadable_target_file_is_a_note_only_when_a_runbook_is_shown(tmp_path):
    failing_run = with_target_file(make_run(tmp_path / "a", failing(healthy_results(), "test_cloudstack_api")),
                                   tmp_path / "gone.yaml")
    model = model_of(failing_run)
    assert model.runbooks["CG-CS-001"].contacts[0] == ("cloudstack-admin", "")
    assert any(n.startswith("escalation contacts not shown: ") and "gone.yaml" in n for n in model.notes)

    green = model_of(with_target_file(make_run(tmp_path / "b"), tmp_path / "gone.yaml"))
    assert green.runbooks == {} and not any("escalation" in n for n in green.notes)


# --------------------------------------------------------------------------- packaging and imports
def test_the_template_ships_as_package_data_and_jinja2_is_a_dependency():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["cloudgate.report"]
    assert any(fnmatch("templates/index.html.j2", p) for p in patterns)
    assert any(d.lower().startswith("jinja2") for d in project["project"]["dependencies"])


def test_importing_the_page_loads_neither_matplotlib_nor_pytest_nor_the_lab():
    code = ("import sys, cloudgate.report.page; "
            "print(sorted(m for m in ('matplotlib', 'pytest', 'cloudgate_lab', 'pydantic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_a_checks_plane_on_the_page_is_the_one_it_declares_not_its_ids_prefix():
    from cloudgate.report.page import area_of

    assert area_of("CG-DEPLOY-002", "tests/infra/test_anti_affinity_under_concurrency.py::t", "control") == "control_plane"
    assert area_of("CG-CS-099", "t", "data") == "data_plane"  # declared: the prefix does not decide
    assert area_of("CG-DRILL-005", "t", "data", "drill") == "drills"
    assert area_of("CG-CS-001", "t") == "control_plane"  # a run recorded before declarations: by prefix


# --------------------------------------------------------------------------- the front tier
FRONT_SAMPLE = Path(__file__).parent / "data" / "front-dc1.json"  # what CG-FRONT-004 wrote in the lab
NODE_A, NODE_B = "198.18.1.211", "198.18.1.212"


def front_doc(dc: str = "dc1") -> dict[str, Any]:
    """The lab's dc1 matrix (12 servers UP at layer 7 on both haproxy nodes), renamed to `dc`."""
    return json.loads(FRONT_SAMPLE.read_text().replace('"dc1"', f'"{dc}"'))


def with_front(run_dir: Path, *docs: dict[str, Any]) -> Path:
    for doc in docs:
        (run_dir / f"front-{doc['dc']}.json").write_text(json.dumps(doc))
    return run_dir


def server(doc: dict[str, Any], backend: str, name: str) -> dict[str, Any]:
    return next(s for s in doc["servers"] if (s["backend"], s["server"]) == (backend, name))


def test_a_run_without_front_files_has_no_front_tier_section_at_all(tmp_path):
    model = model_of(make_run(tmp_path, metrics=[metric("front.dc1.www.p99", 80, 250, "pass")]))

    assert model.front == []
    html = render_page(model)
    assert "Front tier" not in html and 'class="matrix front"' not in html
    assert "front.dc1.www.p99" in html  # the figure still in the metrics, as any other


def test_each_datacenter_has_its_matrix_in_order_backups_after_the_active_servers(tmp_path):
    model = model_of(with_front(make_run(tmp_path), front_doc("dc2"), front_doc("dc1")))

    assert [(f.dc, f.vip, f.taken_at) for f in model.front] == [
        ("dc1", "198.18.1.210", "2026-12-07T16:19:34+00:00"), ("dc2", "198.18.1.210", "2026-12-07T16:19:34+00:00")]
    dc1 = model.front[0]
    assert dc1.nodes == [NODE_A, NODE_B]
    assert [(b.name, b.backups) for b in dc1.backends] == [("api", 3), ("www", 3)]
    assert [(r.server, r.backup) for r in dc1.backends[0].rows] == [
        ("web-dc1-1", False), ("web-dc1-2", False), ("web-dc1-3", False),
        ("web-dc2-1", True), ("web-dc2-2", True), ("web-dc2-3", True)]
    active, backup = dc1.row("api", "web-dc1-1"), dc1.row("api", "web-dc2-1")
    assert [(c.node, c.state, c.words) for c in active.cells] == [(NODE_A, "ok", "UP · L7OK"), (NODE_B, "ok", "UP · L7OK")]
    assert [c.words for c in backup.cells] == ["UP · L7OK · weight 1"] * 2  # not haproxy's default 100
    assert (dc1.drifting, dc1.bad, active.drift) == (0, 0, [])
    html = render_page(model)
    assert html.index('id="front-dc1"') < html.index('id="front-dc2"')
    assert html.index("<h2>Hosts</h2>") < html.index('<h2 id="front">Front tier</h2>') < html.index("<h2>Metrics</h2>")
    assert html.count('<span class="tag">backup</span>') == 12
    assert 'href="front-dc1.json"' in html and 'href="front-dc2.json"' in html  # the raw matrix, a click away
    assert "disagree" not in html.split('id="front-dc1"')[1].split("</h3>")[0]


def test_a_server_the_nodes_see_differently_is_highlighted_with_what_differs(tmp_path):
    doc = front_doc()
    server(doc, "api", "web-dc1-2")["states"][NODE_B].update(weight=50, scur=3)
    server(doc, "www", "web-dc1-3")["states"][NODE_A].update(status="MAINT", check="")
    server(doc, "www", "web-dc1-1")["states"][NODE_B].update(status="DOWN", check="L7STS")  # its own check: no drift
    front = model_of(with_front(make_run(tmp_path), doc)).front[0]

    weighted = front.row("api", "web-dc1-2")
    assert weighted.drift == [f"weight differs: {NODE_A} 100, {NODE_B} 50"]
    assert [c.words for c in weighted.cells] == ["UP · L7OK · weight 100", "UP · L7OK · weight 50 · scur 3"]
    maint = front.row("www", "web-dc1-3")
    assert maint.drift == [f"admin state differs: {NODE_A} MAINT, {NODE_B} ready"]
    assert [(c.state, c.words) for c in maint.cells] == [("warn", "MAINT"), ("ok", "UP · L7OK")]
    down = front.row("www", "web-dc1-1")
    assert (down.drift, [c.state for c in down.cells]) == ([], ["ok", "fail"])
    assert (front.drifting, front.bad) == (2, 2)
    html = render_page(model_of(tmp_path / RUN_ID))
    assert html.count('<tr class="drift">') == 2
    assert f'<div class="flag">weight differs: {NODE_A} 100, {NODE_B} 50</div>' in html
    assert "the haproxy nodes disagree on 2 of 12 server(s)" in html
    assert "2 of 12 server(s) not UP at layer 7 on every node" in html


def test_a_server_one_node_lacks_reads_absent_in_red_and_a_layer_4_check_or_no_check_amber(tmp_path):
    doc = front_doc()
    del server(doc, "api", "web-dc1-3")["states"][NODE_B]
    server(doc, "www", "web-dc1-2")["states"][NODE_A]["check"] = "L4OK"
    server(doc, "www", "web-dc1-2")["states"][NODE_B].update(status="no check", check="")
    front = model_of(with_front(make_run(tmp_path), doc)).front[0]

    gone = front.row("api", "web-dc1-3")
    assert [(c.state, c.words) for c in gone.cells] == [("ok", "UP · L7OK"), ("fail", "absent")]
    assert gone.drift == [f"absent on {NODE_B}"]
    shallow = front.row("www", "web-dc1-2")
    assert [(c.state, c.words) for c in shallow.cells] == [("warn", "UP · L4OK"), ("warn", "no check")]
    assert "layer-4 check only" in shallow.cells[0].why and "`no check`" in shallow.cells[1].why
    assert shallow.drift == []
    html = render_page(model_of(tmp_path / RUN_ID))
    assert '<td class="cell o-failed" title="198.18.1.212 does not list api/web-dc1-3">absent</td>' in html
    assert ">UP · L4OK</td>" in html and 'class="cell o-waived"' in html


def test_the_front_doors_figures_are_under_its_matrix_with_their_sparklines(tmp_path):
    db = tmp_path / "history.sqlite"
    with open_history(db) as conn:
        for day, value in enumerate([90.0, 110.0, 95.0], start=1):
            record_run(conn, RunRecord(
                f"202612{day:02d}T020000Z-preprod-nightly-1", "preprod", "preproduction", "nightly", "abc",
                f"2026-12-{day:02d}T02:00:00Z", "x", 0, metrics=[MetricRecord("front.dc1.www.p99", value, "ms", 250)]))
    metrics = [metric("front.dc1.www.p99", 120, 250, "pass"), metric("front.dc1.api.p99", 300, 250, "fail"),
               metric("front.dc1.www.error_ratio", 0.0, unit="ratio"), metric("front.dc2.www.p99", 70, 250, "pass"),
               metric("cassandra.write.server.p99", 0.7, 1.0, "pass")]
    model = model_of(with_front(make_run(tmp_path, metrics=metrics), front_doc()))

    [dc1] = model.front
    assert [m.name for m in dc1.metrics] == ["front.dc1.api.p99", "front.dc1.www.p99", "front.dc1.www.error_ratio"]
    p99 = dc1.metrics[1]
    assert (p99.value, p99.unit, p99.threshold) == ("120", "ms", "250") and "over 4 runs" in p99.spark.caption
    html = render_page(model)
    section = html[html.index('id="front-dc1"'):html.index("<h2>Metrics</h2>")]
    assert f'points="{p99.spark.points}"' in section and '<td class="v-fail">fail</td>' in section
    assert "front.dc2.www.p99" not in section and "cassandra.write" not in section


@pytest.mark.parametrize(("content", "note"), [
    ('{"dc": "dc1", "servers": [', "front-dc1.json is unreadable ("),
    ("[1, 2]", "front-dc1.json is not a JSON object: the front tier matrix of dc1 is not shown"),
    ('{"dc": "dc1", "vip": "198.18.1.210", "servers": {"api": 1}, "nodes": []}',
     "front-dc1.json is malformed (no list of servers): its matrix is not shown"),
])
def test_a_malformed_front_file_is_one_note_and_the_page_still_renders(tmp_path, content, note):
    run_dir = with_front(make_run(tmp_path, metrics=[metric("front.dc1.www.p99", 80, 250, "pass")]), front_doc("dc2"))
    (run_dir / "front-dc1.json").write_text(content)
    model = model_of(run_dir)

    assert [n for n in model.notes if "front-dc1.json" in n] == [next(n for n in model.notes if n.startswith(note))]
    assert [(f.dc, bool(f.problem), len(f.rows)) for f in model.front] == [("dc1", True, 0), ("dc2", False, 12)]
    assert [m.name for m in model.front[0].metrics] == ["front.dc1.www.p99"]  # its figures still shown
    assert model.area("data_plane").state == "ok"
    html = render_run_page(run_dir).read_text()
    assert html.count('class="matrix front"') == 1 and 'class="problem">front-dc1.json' in html


def test_a_malformed_server_record_is_left_out_with_a_note_and_the_rest_of_the_matrix_shown(tmp_path):
    doc = front_doc()
    doc["servers"][0] = {"backend": "api", "states": "UP"}
    doc["servers"][1]["states"][NODE_A] = ["UP"]
    doc["servers"].append("junk")
    model = model_of(with_front(make_run(tmp_path), doc))

    assert len(model.front[0].rows) == 10
    assert "front-dc1.json: 3 of 13 server record(s) malformed: left out of the matrix" in model.notes
    render_page(model)


def test_server_and_backend_names_are_escaped_in_the_front_matrix(tmp_path):
    doc = front_doc()
    evil = server(doc, "api", "web-dc1-1")
    evil.update(server='<script>alert("x")</script>', backend="<b>api</b>")
    evil["states"][NODE_B]["status"] = "<img src=x onerror=alert(1)>"
    html = render_page(model_of(with_front(make_run(tmp_path), doc)))

    assert "<script" not in html and "<img src=x" not in html and "<b>api</b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html and "backend &lt;b&gt;api&lt;/b&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
