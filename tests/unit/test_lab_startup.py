"""Start-up figures of `make run` (cloudgate_lab.startup), measured on stand-in commands.

The collection against a running lab is what `make run` measures; here the commands are replaced
by small Python one-liners, so the timing, the failure path and the metric records are checked
without a lab.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import cloudgate.plugin
from cloudgate_lab import startup


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_the_collect_command_is_the_suite_as_cloudgate_run_starts_it_stopped_after_collection():
    argv = startup.collect_only_argv("/t/lab.yaml")
    assert argv[:3] == [sys.executable, "-m", "pytest"]
    assert argv[3:5] == ["tests/infra", "tests/placement"]
    for flag in (["--target", "/t/lab.yaml"], ["--profile", "nightly"], ["--collect-only"], ["-q"]):
        i = argv.index(flag[0])
        assert argv[i:i + len(flag)] == flag
    assert (startup.PROJECT_ROOT / "tests" / "infra").is_dir()


def test_timed_run_is_the_wall_time_of_the_subprocess():
    assert 0.2 <= startup.timed_run(_python("import time; time.sleep(0.2)")) < 5


def test_a_failing_command_raises_with_its_last_error_line():
    with pytest.raises(startup.StartupMeasureError, match=r"exited 3: boom$"):
        startup.timed_run(_python("import sys; print('noise', file=sys.stderr); print('boom', file=sys.stderr); "
                                  "sys.exit(3)"))


def test_importing_the_plugin_in_a_fresh_interpreter_is_measurable():
    assert 0 < startup.plugin_import_seconds(repeats=1) < 60


def test_figures_are_metrics_named_for_the_report(monkeypatch):
    monkeypatch.setattr(startup, "plugin_import_argv", lambda: _python("pass"))
    seen: list[list[str]] = []

    def collect(target: str, profile: str) -> list[str]:
        seen.append([target, profile])
        return _python("pass")

    monkeypatch.setattr(startup, "collect_only_argv", collect)
    figures = {m.name: m for m in startup.startup_figures("fixtures/targets/lab.yaml", profile="nightly")}
    assert set(figures) == {"suite.plugin_import.seconds", "suite.collect_only.seconds"}
    assert all(m.unit == "s" and m.verdict == "info" and m.value > 0 for m in figures.values())
    assert seen == [[str(Path("fixtures/targets/lab.yaml").resolve()), "nightly"]]  # relative to the caller


def test_a_collection_that_fails_is_a_failed_figure_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(startup, "plugin_import_argv", lambda: _python("pass"))
    monkeypatch.setattr(startup, "collect_only_argv",
                        lambda target, profile: _python("import sys; sys.exit('ERROR: no such target')"))
    figures = {m.name: m for m in startup.startup_figures("t.yaml")}
    failed = figures["suite.collect_only.seconds"]
    assert math.isnan(failed.value) and failed.verdict == "fail"
    assert figures["suite.plugin_import.seconds"].verdict == "info"
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["cloudgate lab: suite.collect_only.seconds not measured: "
                   f"{sys.executable} -c import sys; sys.exit('ERROR: no such target')... exited 1: ERROR: no such target"]



def test_the_plugin_command_loads_every_part_pytest_would_load():
    argv = startup.plugin_import_argv()
    probe = argv[-1] + "import json, sys; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([*argv[:-1], probe], capture_output=True, text=True, timeout=120, check=True).stdout
    assert set(getattr(cloudgate.plugin, "pytest_plugins", ())) <= set(json.loads(out))


def test_a_broken_plugin_import_fails_in_one_line(monkeypatch):
    monkeypatch.setattr(startup, "PLUGIN_IMPORT", "import importlib\nimport cloudgate.no_such_plugin\n")
    with pytest.raises(startup.StartupMeasureError) as raised:
        startup.timed_run(startup.plugin_import_argv())
    assert "\n" not in str(raised.value) and "ModuleNotFoundError" in str(raised.value)
