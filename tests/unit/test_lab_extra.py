"""The `lab` extra: the product imports without it, the lab refuses in one line naming it.

Nothing here builds a lab: the refusal comes before anything needs root, and the function that
would go on (the root check, the teardown) is replaced by one that fails the test if reached.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cloudgate_lab import commands, control, extra, nightly

ROOT = Path(__file__).resolve().parents[2]
ABSENT = "cloudgate_test_absent_package"


def _reached(*_args: object, **_kwargs: object) -> None:
    pytest.fail("went past the extra check: this test must never build or tear down a lab")


@pytest.fixture
def extra_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extra, "PACKAGES", {**extra.PACKAGES, ABSENT: "a package this test pretends the lab needs"})
    monkeypatch.setattr(control, "_require_root", _reached)
    monkeypatch.setattr(control, "down", _reached)


def test_the_extra_in_pyproject_is_what_the_check_knows_and_not_a_core_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {d.split(">")[0].split("=")[0].split("[")[0].strip() for d in project["optional-dependencies"][extra.EXTRA]}
    core = {d.split(">")[0].split("=")[0].split("[")[0].strip() for d in project["dependencies"]}
    assert names == set(extra.PACKAGES)
    assert not names & core


def test_nothing_is_missing_in_this_venv():
    assert extra.missing() == []
    extra.require()


def test_the_stdlib_loop_on_purpose_needs_no_uvloop():
    assert "uvloop" in extra.needed({})
    assert "uvloop" not in extra.needed({"CLOUDGATE_CQL_LOOP": "asyncio"})


def test_a_blocked_uvloop_is_reported_missing():
    code = ("import sys; sys.modules['uvloop'] = None\n"
            "from cloudgate_lab import extra; print(extra.missing({}), extra.missing({'CLOUDGATE_CQL_LOOP': 'asyncio'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "['uvloop'] []"


@pytest.mark.usefixtures("extra_missing")
@pytest.mark.parametrize("action", ["up", "run"])
def test_lab_up_and_run_without_the_extra_say_so_in_one_line(action, capsys, tmp_path):
    args = argparse.Namespace(lab_command=action, target=str(ROOT / "fixtures/targets/lab.yaml"),
                              placement="cloudgate", reports_dir=str(tmp_path / "reports"))
    assert commands.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("cloudgate lab: error: the lab needs the 'lab' extra, missing " + ABSENT)
    assert "pip install 'cloudgate[lab]'" in err[0]


@pytest.mark.usefixtures("extra_missing")
def test_lab_run_refuses_before_its_teardown_so_another_lab_stays_up(tmp_path):
    with pytest.raises(extra.LabExtraMissing):
        nightly.run(str(ROOT / "fixtures/targets/lab.yaml"), str(tmp_path / "reports"))
    assert not (tmp_path / "reports").exists()


def _product_modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "cloudgate").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[1:2] == ["lab"] or parts[-1] == "__main__":  # __main__ runs a command when imported
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_product_module_imports_without_the_extra_and_without_loading_the_lab():
    code = (
        "import importlib, json, sys\n"
        "for name in extra_packages: sys.modules[name] = None  # import raises ImportError\n"
        "for name in modules: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'cloudgate_lab' or m.startswith('cloudgate_lab.'))))\n"
    )
    prelude = f"extra_packages = {sorted(extra.PACKAGES)!r}\nmodules = {_product_modules()!r}\n"
    done = subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]
    assert json.loads(done.stdout.splitlines()[-1]) == []
