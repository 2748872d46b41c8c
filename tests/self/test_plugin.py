"""The plugin's rules, proven on throwaway suites run by pytester (no cloud needed)."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

SUITE = """
import pytest

@pytest.mark.smoke
def test_read_only_check():
    pass

def test_nightly_only_check():
    pass

@pytest.mark.slow
def test_long_drill():
    pass

@pytest.mark.destructive
def test_deploys_vms():
    pass

def test_records_a_figure(metric):
    m = metric("deploy.p95", 12.5, "s", 300)
    assert m.verdict == "pass"
    metric("write.p99", 2.0, "ms", 1.0)
"""


def run_suite(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, object]:
    pytester.makepyfile(test_suite=SUITE)
    reports = pytester.path / "reports"
    result = pytester.runpytest_subprocess(*args, f"--reports-dir={reports}", "-p", "no:cacheprovider")
    return result, reports / "latest"


@pytest.mark.usefixtures("secrets_set")
def test_destructive_check_on_a_production_target_is_skipped_with_the_reason_in_junit(pytester, make_target):
    target = make_target(pytester.path / "prod.yaml", environment="production")
    result, latest = run_suite(pytester, f"--target={target}", "--allow-destructive")
    result.assert_outcomes(passed=4, skipped=1)
    junit = ET.parse(latest / "junit.xml").getroot()
    case = next(c for c in junit.iter("testcase") if c.get("name") == "test_deploys_vms")
    skipped = case.find("skipped")
    assert skipped is not None
    assert "refused on an environment: production target" in skipped.get("message", "")


@pytest.mark.usefixtures("secrets_set")
def test_destructive_check_needs_the_explicit_flag_even_on_preproduction(pytester, make_target):
    target = make_target(pytester.path / "pp.yaml", environment="preproduction")
    result, _ = run_suite(pytester, f"--target={target}")
    result.assert_outcomes(passed=4, skipped=1)
    result.stdout.fnmatch_lines(["*not run x1: not run: destructive check needs --allow-destructive*"])
    result, _ = run_suite(pytester, f"--target={target}", "--allow-destructive")
    result.assert_outcomes(passed=5)


@pytest.mark.usefixtures("secrets_set")
def test_smoke_profile_runs_only_read_only_checks_and_gate_drops_long_drills(pytester, make_target):
    target = make_target(pytester.path / "t.yaml", environment="lab")
    result, _ = run_suite(pytester, f"--target={target}", "--profile=smoke")
    result.assert_outcomes(passed=1, deselected=4)
    result, _ = run_suite(pytester, f"--target={target}", "--profile=gate", "--allow-destructive")
    result.assert_outcomes(passed=4, deselected=1)


@pytest.mark.usefixtures("secrets_set")
def test_every_run_writes_stamped_junit_html_and_metrics(pytester, make_target):
    target = make_target(pytester.path / "t.yaml", name="stamp-me", environment="lab")
    result, latest = run_suite(pytester, f"--target={target}", "--profile=nightly", "--allow-destructive")
    result.assert_outcomes(passed=5)
    assert latest.is_symlink()
    metrics = json.loads((latest / "metrics.json").read_text())
    assert metrics["target"] == "stamp-me" and metrics["profile"] == "nightly"
    assert metrics["revision"] and metrics["started"] and metrics["ended"]
    by_name = {m["name"]: m for m in metrics["metrics"]}
    assert by_name["deploy.p95"] == {**by_name["deploy.p95"], "value": 12.5, "unit": "s", "threshold": 300, "verdict": "pass"}
    assert by_name["write.p99"]["verdict"] == "fail"
    props = {p.get("name"): p.get("value") for p in ET.parse(latest / "junit.xml").getroot().iter("property")}
    assert props["cloudgate.target"] == "stamp-me" and props["cloudgate.profile"] == "nightly"
    assert "cloudgate.ended" in props and "cloudgate.revision" in props
    html = (latest / "report.html").read_text()
    assert "stamp-me" in html and "write.p99" in html


@pytest.mark.usefixtures("secrets_set")
def test_a_skipped_check_is_counted_as_not_run_never_as_passed(pytester, make_target):
    target = make_target(pytester.path / "t.yaml", environment="production")
    result, latest = run_suite(pytester, f"--target={target}")
    summary = json.loads((latest / "summary.json").read_text())
    assert summary["counts"]["not_run"] == 1 and summary["counts"]["passed"] == 4
    result.stdout.fnmatch_lines(["*4 passed, 0 failed, 0 error, 1 not run (a check not run is not a pass)*"])


def test_every_test_gets_a_timeout_by_marker(pytester):
    pytester.makepyfile(
        test_t="""
import pytest
def test_plain(request):
    assert request.node.get_closest_marker("timeout").args[0] == 300
@pytest.mark.smoke
def test_smoke(request):
    assert request.node.get_closest_marker("timeout").args[0] == 120
@pytest.mark.timeout(7)
def test_explicit(request):
    assert request.node.get_closest_marker("timeout").args[0] == 7
"""
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_malformed_target_stops_pytest_with_one_line(pytester):
    bad = pytester.path / "bad.yaml"
    bad.write_text("name: x\nenvironment: staging\n")
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess(f"--target={bad}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"ERROR: {bad}:2: environment: Input should be 'lab', 'preproduction' or 'production'")


def test_missing_secret_variable_stops_pytest_with_one_line(pytester, monkeypatch, make_target):
    monkeypatch.delenv("CG_SELFTEST_KEY", raising=False)
    target = make_target(pytester.path / "t.yaml")
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess(f"--target={target}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [ln for ln in result.stderr.lines if ln.strip()] == [
        f"ERROR: {target}: environment variable CG_SELFTEST_KEY is not set (the target file names it as a secret)"
    ]


def test_pytest_help_lists_the_cloudgate_options_and_markers():
    out = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True, timeout=60).stdout
    for option in ("--target=FILE", "--profile={smoke,nightly,gate}", "--allow-destructive"):
        assert option in out
    markers = subprocess.run([sys.executable, "-m", "pytest", "--markers"], capture_output=True, text=True, timeout=60).stdout
    for marker in ("@pytest.mark.smoke:", "@pytest.mark.destructive:", "@pytest.mark.slow:"):
        assert marker in markers


def test_cloudgate_help_lists_its_commands():
    out = subprocess.run([sys.executable, "-m", "cloudgate.cli", "--help"], capture_output=True, text=True, timeout=60).stdout
    for command in ("run", "lab", "place", "bench", "target"):
        assert command in out


@pytest.mark.usefixtures("secrets_set")
def test_cloudgate_run_without_its_suite_says_so_in_one_line(tmp_path, make_target):
    target = make_target(tmp_path / "pp.yaml", environment="preproduction")
    out = subprocess.run([sys.executable, "-m", "cloudgate.cli", "run", "--target", str(target),
                          "--paths", str(tmp_path / "no-suite-here")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip().splitlines() == [
        f"cloudgate: error: suite path(s) not found: {tmp_path / 'no-suite-here'}: run from a checkout or pass --paths"]


WAIVED_SUITE = """
import pytest

@pytest.mark.check(id="CG-FIO-004", severity="major", tier="hypervisor", plane="data")
@pytest.mark.parametrize("host", ["dc1-r2-h1", "dc1-r3-h1"])
def test_card_temperature(host):
    assert False, f"{host}: Fusion-IO at 85 degC"
"""


@pytest.mark.usefixtures("secrets_set")
@pytest.mark.parametrize(
    ("match", "expires", "outcome"),
    [("dc1-r2-h1", "2999-01-01", "waived"), ("dc1-r2-h1", "2020-01-01", "failed"), ("dc1-r2-h", "2999-01-01", "failed")],
    ids=["valid", "expired", "match-is-exact-not-a-prefix"],
)
def test_a_waived_failure_is_reported_as_waived_until_its_waiver_expires(pytester, make_target, match, expires, outcome):
    (pytester.path / "waivers.yaml").write_text(
        "waivers:\n"
        "  - check: CG-FIO-004\n"
        f"    match: {match}\n"
        "    justification: card replacement ordered, ticket OPS-1234\n"
        f"    expires: {expires}\n"
    )
    target = make_target(pytester.path / "t.yaml", environment="lab", extra="waivers: waivers.yaml\n")
    pytester.makepyfile(test_suite=WAIVED_SUITE)
    reports = pytester.path / "reports"
    result = pytester.runpytest_subprocess(f"--target={target}", f"--reports-dir={reports}", "-p", "no:cacheprovider")
    summary = json.loads((reports / "latest" / "summary.json").read_text())
    waived = summary["outcomes"]["test_suite.py::test_card_temperature[dc1-r2-h1]"]
    other = summary["outcomes"]["test_suite.py::test_card_temperature[dc1-r3-h1]"]
    assert (waived, other) == (outcome, "failed")
    if outcome == "waived":
        assert summary["counts"]["waived"] == 1 and summary["counts"]["passed"] == 0
        result.stdout.fnmatch_lines(["*waived x1: waived until 2999-01-01: card replacement ordered, ticket OPS-1234*"])
    elif expires.startswith("2020"):
        result.stdout.fnmatch_lines(["*waiver for CG-FIO-004 expired on 2020-01-01*"])


@pytest.mark.usefixtures("secrets_set")
def test_a_bad_waiver_file_stops_the_run_with_one_line(pytester, make_target):
    (pytester.path / "waivers.yaml").write_text("waivers:\n  - check: CG-FIO-004\n    justification: short\n")
    target = make_target(pytester.path / "t.yaml", environment="lab", extra="waivers: waivers.yaml\n")
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess(f"--target={target}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [ln for ln in result.stderr.lines if ln.strip()]
    assert len(lines) == 1 and "waivers.yaml:3: waivers[0].justification" in lines[0], lines


@pytest.mark.usefixtures("secrets_set")
@pytest.mark.parametrize(("profile", "expected"), [("nightly", "nightly"), ("gate", "ci")])
def test_a_nightly_suite_run_selects_the_nightly_hypothesis_profile_before_conftests_load(pytester, make_target, profile, expected):
    target = make_target(pytester.path / "t.yaml", environment="lab")
    pytester.makeconftest("import os\nPROFILE = os.environ.get('CLOUDGATE_HYPOTHESIS_PROFILE', 'ci')\n")
    pytester.makepyfile(test_p=f"import conftest\ndef test_p():\n    assert conftest.PROFILE == {expected!r}\n")
    result = pytester.runpytest_subprocess(f"--target={target}", f"--profile={profile}",
                                           f"--reports-dir={pytester.path / 'r'}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


@pytest.mark.usefixtures("secrets_set")
def test_a_run_that_checked_nothing_is_not_green(pytester, make_target):
    target = make_target(pytester.path / "t.yaml", environment="production")
    pytester.makepyfile(test_d="import pytest\n@pytest.mark.destructive\ndef test_d():\n    pass\n")
    result = pytester.runpytest_subprocess(f"--target={target}", f"--reports-dir={pytester.path / 'r'}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    summary = json.loads((pytester.path / "r" / "latest" / "summary.json").read_text())
    assert summary["counts"] == {"passed": 0, "failed": 0, "error": 0, "waived": 0, "not_applicable": 0, "not_run": 1}


@pytest.mark.usefixtures("secrets_set")
def test_a_module_that_cannot_be_imported_counts_as_an_error(pytester, make_target):
    target = make_target(pytester.path / "t.yaml", environment="lab")
    pytester.makepyfile(test_ok="def test_ok():\n    pass\n", test_broken="import no_such_module_here\n")
    pytester.runpytest_subprocess(f"--target={target}", f"--reports-dir={pytester.path / 'r'}", "-p", "no:cacheprovider")
    summary = json.loads((pytester.path / "r" / "latest" / "summary.json").read_text())
    assert summary["counts"]["error"] == 1


@pytest.mark.usefixtures("secrets_set")
def test_figures_measured_by_a_wrapper_before_the_run_join_its_metrics(pytester, make_target, monkeypatch):
    extra = pytester.path / "extra.json"
    extra.write_text(json.dumps([{"name": "lab.up.seconds", "unit": "s", "value": 5.2, "threshold": 30.0,
                                  "better": "lower", "verdict": "pass", "test": "cloudgate lab up"}]))
    monkeypatch.setenv("CLOUDGATE_EXTRA_METRICS", str(extra))
    target = make_target(pytester.path / "t.yaml", environment="lab")
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    pytester.runpytest_subprocess(f"--target={target}", f"--reports-dir={pytester.path / 'r'}", "-p", "no:cacheprovider")
    latest = pytester.path / "r" / "latest"
    names = [m["name"] for m in json.loads((latest / "metrics.json").read_text())["metrics"]]
    assert names == ["lab.up.seconds"] and "lab.up.seconds" in (latest / "report.html").read_text()


TIMED_SUITE = """
import json, os, time
import pytest

@pytest.fixture
def span(request):
    start = time.monotonic()  # from setup to teardown: fixtures are part of a check's load
    time.sleep(0.05)
    yield
    time.sleep(0.05)
    with open(os.environ["CG_TIMELINE"], "a") as f:
        f.write(json.dumps([request.node.name, start, time.monotonic()]) + "\\n")

@pytest.mark.parametrize("i", range(6))
def test_ordinary_check_before(i, span):
    time.sleep(0.1)

@pytest.mark.measurement
def test_write_latency(span):
    time.sleep(0.5)

@pytest.mark.parametrize("i", range(6))
def test_ordinary_check_after(i, span):
    time.sleep(0.1)
"""


@pytest.mark.usefixtures("secrets_set")
@pytest.mark.parametrize("workers", ["2", "3"])
def test_under_xdist_a_measurement_runs_while_no_other_check_runs(pytester, make_target, tmp_path, monkeypatch, workers):
    timeline = tmp_path / "timeline.jsonl"
    monkeypatch.setenv("CG_TIMELINE", str(timeline))
    pytester.makepyfile(test_timed=TIMED_SUITE)
    target = make_target(pytester.path / "pp.yaml", environment="preproduction")
    result = pytester.runpytest_subprocess(f"--target={target}", "-n", workers, "-p", "no:randomly",
                                           f"--reports-dir={pytester.path / 'reports'}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=13)
    spans = {name: (start, end) for name, start, end in map(json.loads, timeline.read_text().splitlines())}
    m_start, m_end = spans.pop("test_write_latency")
    overlapping = [n for n, (s, e) in spans.items() if s < m_end and e > m_start]
    assert not overlapping, f"ran beside the measurement: {overlapping}"
    assert len(spans) == 12


@pytest.mark.usefixtures("secrets_set")
def test_a_check_cut_short_by_ctrl_c_is_not_run_never_passed(pytester, make_target):
    target = make_target(pytester.path / "t.yaml", environment="lab")
    pytester.makepyfile(test_i="def test_ok():\n    pass\n\ndef test_cut_short():\n    raise KeyboardInterrupt\n")
    pytester.runpytest_subprocess(f"--target={target}", f"--reports-dir={pytester.path / 'r'}", "-p", "no:cacheprovider")
    summary = json.loads((pytester.path / "r" / "latest" / "summary.json").read_text())
    assert summary["outcomes"]["test_i.py::test_cut_short"] == "not_run"
    assert summary["not_run"]["test_i.py::test_cut_short"].startswith("not run: cut short, interrupted")
    assert summary["counts"]["passed"] == 1
