"""Every `cloudgate` command given a bad value, or reading a damaged file, refuses in one line.

Issue 26, parts 4 and 5: each row is a command line (and the files it finds, some corrupt) with the
exit status it must end with, never 0, and the words its one line of output must hold, the flag or
file and the value. Whatever the row, nothing is created, moved or removed in the working directory
(no run directory, no page, no `reports/`; a corrupt file is kept as it was), no lab state directory
appears, and no traceback or INTERNALERROR is printed.

The commands run in this process (`cloudgate.cli.main`), in a temporary directory with
CLOUDGATE_LAB_DIR pointing into it, except the few that only pytest itself can refuse (a plugin
option, a waivers file), which run as `python -m cloudgate.cli` / `python -m pytest`. No row builds,
changes or tears down a lab: the functions that would are replaced by ones that fail the test if a
refusal ever came too late. The only network is 127.0.0.1:9, where nothing listens.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cloudgate import cli
from cloudgate_lab import commands, control, hostbench, hostfaults, nightly, runners

REPO = Path(__file__).resolve().parents[2]
ESTATE = str(REPO / "fixtures/placement/estate-example.yaml")
REQUEST = str(REPO / "fixtures/placement/request-cassandra.yaml")
TARGET = """name: t
environment: preproduction
datacenters: [{name: dc1, zone: z1}]
cloudstack: {endpoint: "http://127.0.0.1:9/client/api", api_key_env: CG_BAD_KEY, secret_key_env: CG_BAD_SECRET}
ssh: {identity_file: /dev/null, known_hosts: /dev/null}
"""
GARBAGE = "\x00garbage {{{ not json, not yaml\n"
LAB_STATE = {"lab/topology.json": '{"hosts": []}\n', "lab/credentials.json": '{"api_key": "k", "secret_key": "s"}\n'}
ENV = {"CG_BAD_KEY": "k", "CG_BAD_SECRET": "s"}


@dataclass(frozen=True)
class Row:
    argv: list[str]
    rc: int
    words: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)  # relative path -> content, written beforehand
    via: str = "main"  # main: cloudgate.cli.main here; cloudgate / pytest: `python -m` in a subprocess

    def __str__(self) -> str:
        return " ".join(self.argv)[:80]


def row(argv: str | list[str], rc: int, *words: str, files: dict[str, str] | None = None, via: str = "main") -> Row:
    return Row(argv.split() if isinstance(argv, str) else argv, rc, words, files or {}, via)


ROWS = [
    # run: its reports directory (part 1), its paths, its runners, pytest's own options
    row("run --target t.yaml --reports-dir afile", 2, "--reports-dir afile: is a file, not a directory"),
    row("run --target t.yaml --reports-dir afile/sub", 2, "--reports-dir afile/sub: lies under afile, which is a file"),
    row(["run", "--target", "t.yaml", "--reports-dir", ""], 2, "--reports-dir '': empty"),
    row("run --target t.yaml --paths", 2, "--paths: give at least one test path"),
    row(["run", "--target", "t.yaml", "--runners", ""], 2, "--runners '': empty"),
    row(["run", "--target", ""], 2, "--target '': empty"),
    row("run --target missing.yaml", 2, "missing.yaml: target file not found"),
    row("run --target t.yaml --runners missing.yaml", 2, "missing.yaml: runners file not found"),
    row("run --target t.yaml --runners r.yaml", 2, "r.yaml: not valid YAML", files={"r.yaml": GARBAGE}),
    row("run --target t.yaml --runners r.yaml", 2, "r.yaml:1: runners: List should have at least 1 item",
        files={"r.yaml": "runners: []\n"}),
    row("run --target t.yaml --profile banana", 2, "argument --profile: invalid choice: 'banana'"),
    row("run --target t.yaml --sample banana", 4, "--sample 'banana': not a whole number", via="cloudgate"),
    row("run --target t.yaml --sample -1", 4, "--sample -1: give at least 1 host per rack", via="cloudgate"),
    row("run --target t.yaml --hosts-filter bogus", 4, "--hosts-filter 'bogus'", via="cloudgate"),
    row("run --target tw.yaml", 4, "wv.yaml: not valid YAML", via="cloudgate",
        files={"tw.yaml": TARGET + "waivers: wv.yaml\n", "wv.yaml": GARBAGE}),
    row("--target t.yaml --reports-dir afile test_one.py", 4, "--reports-dir afile: is a file, not a directory",
        via="pytest", files={"test_one.py": "def test_one():\n    pass\n"}),
    row(["target", "check", ""], 2, "FILE '': empty"),
    row("target check t2.yaml", 2, "t2.yaml: not valid YAML", files={"t2.yaml": GARBAGE}),
    row("target check t3.yaml", 2, "w.yaml:4: waivers[0].expires: 2026-01-01 is past",
        files={"t3.yaml": TARGET + "waivers: w.yaml\n",
               "w.yaml": "waivers:\n  - check: CG-FIO-004\n    justification: the card is swapped on Monday\n    expires: 2026-01-01\n"}),
    # janitor: its age and its reports directory, before the API is called
    row("janitor --target t.yaml --older-than-minutes -1", 2, "argument --older-than-minutes: -1: must be a number of minutes, 0 or more"),
    row("janitor --target t.yaml --older-than-minutes nan", 2, "argument --older-than-minutes: nan: must be"),
    row("janitor --target t.yaml --older-than-minutes inf", 2, "argument --older-than-minutes: inf: must be"),
    row("janitor --target t.yaml --older-than-minutes banana", 2, "argument --older-than-minutes: 'banana': not a number"),
    row("janitor --target t.yaml --reports-dir afile", 2, "--reports-dir afile: is a file"),
    row("janitor --target t.yaml --reports-dir nowhere", 2, "--reports-dir nowhere: no such directory"),
    # gate: the version (part 4), the reports directory, a damaged state or ledger
    row("gate before --target t.yaml --upgrade-to banana", 2, "--upgrade-to: malformed CloudStack version 'banana'"),
    row("gate before --target t.yaml --upgrade-to -1", 2, "--upgrade-to: malformed CloudStack version '-1'"),
    row(["gate", "before", "--target", "t.yaml", "--upgrade-to", ""], 2, "--upgrade-to '': empty"),
    row("gate before --target t.yaml --reports-dir afile", 2, "--reports-dir afile: is a file"),
    row("gate after --target t.yaml --reports-dir afile/x", 2, "--reports-dir afile/x: lies under afile"),
    row("gate destroy --target t.yaml --reports-dir afile", 2, "--reports-dir afile: is a file"),
    row("gate after --target t.yaml", 2, "gate-t/gate.json: corrupt, or not a gate state", "kept as it is",
        files={"reports/gate-t/gate.json": GARBAGE}),
    row("gate before --target t.yaml", 2, "gate-t/gate.json: corrupt", files={"reports/gate-t/gate.json": "{}"}),
    row("gate destroy --target t.yaml", 1, "gate-t/ledger.jsonl: corrupt, line(s) 1, 2", "the gate stays open",
        files={"reports/gate-t/ledger.jsonl": GARBAGE * 2}),
    # report: a run id or directory that is not there, a damaged history (kept, never moved aside here)
    row("report nosuchrun", 2, "nosuchrun: not a run directory (absent)"),
    row(["report", ""], 2, "RUN '': empty"),
    row("report nosuchrun --reports-dir afile", 2, "--reports-dir afile: is a file"),
    row("report nosuchrun --reports-dir nowhere", 2, "--reports-dir nowhere: no such directory"),
    row("report nosuchrun", 2, "nosuchrun: no run directory", "history.sqlite cannot be read (corrupt?",
        files={"reports/history.sqlite": "not a database " * 40}),
    # drill check: a history that is not there, empty or damaged
    row("drill check missing.jsonl", 2, "missing.jsonl: No such file"),
    row("drill check h.jsonl", 2, "h.jsonl: empty history", files={"h.jsonl": ""}),
    row("drill check h.jsonl", 2, "h.jsonl:1: not a JSON record", files={"h.jsonl": GARBAGE}),
    # place and deploy-plan: their files, named by their flags
    row(f"place --request {REQUEST}", 2, "give --target TARGET (the live estate) or --estate FILE"),
    row(f"place --estate {ESTATE} --request nope.yaml", 2, "--request nope.yaml: file not found"),
    row(f"place --estate nope.yaml --request {REQUEST}", 2, "--estate nope.yaml: file not found"),
    row(f"place --estate . --request {REQUEST}", 2, "--estate .: is a directory"),
    row(f"place --estate e.yaml --request {REQUEST}", 2, "e.yaml: line 1: not valid YAML", files={"e.yaml": "a: ["}),
    row(f"place --estate {ESTATE} --request r.yaml", 2, "r.yaml: line 1: not valid YAML", files={"r.yaml": "a: ["}),
    row(f"place --estate reports/estate/t.json --request {REQUEST}", 2, "reports/estate/t.json: line 1: not valid JSON",
        files={"reports/estate/t.json": '{"cloudstack": ' + GARBAGE}),
    row(f"place --estate {ESTATE} --request {REQUEST} --out afile/plan.json", 2, "--out afile: is a file"),
    row(f"place --estate {ESTATE} --request {REQUEST} --out .", 2, "--out .: is a directory"),
    row(f"place --estate {ESTATE} --request {REQUEST} --format banana", 2, "argument --format: invalid choice: 'banana'"),
    row("deploy-plan missing.json --target t.yaml", 2, "missing.json: file not found"),
    row("deploy-plan p.json --target t.yaml", 2, "p.json: line 1: not valid JSON", files={"p.json": GARBAGE}),
    row("deploy-plan p.json --target t.yaml", 2, "p.json: target: required field is missing", files={"p.json": "{}"}),
    row("deploy-plan p.json --target t.yaml --reports-dir afile/x", 2, "--reports-dir afile/x: lies under afile"),
    # bench: --out, and every number, before a directory is made or a lab built (part 5)
    row("bench placement --out afile", 2, "--out afile: is a file"),
    row(["bench", "placement", "--out", ""], 2, "--out '': empty"),
    row("bench placement --sizes 100", 2, "--sizes: only for `cloudgate bench hosts`"),
    row("bench placement --rounds 3", 2, "--rounds: only for `cloudgate bench hosts`"),
    row("bench hosts --sizes -5", 2, "--sizes '-5': -5: a lab size is an even number of hosts from 2 to 2,000"),
    row("bench hosts --sizes 0", 2, "--sizes '0': 0: a lab size"),
    row("bench hosts --sizes 101", 2, "--sizes '101': 101: a lab size is an even number"),
    row("bench hosts --sizes 3000", 2, "--sizes '3000': 3000: a lab size", "at most 1,000"),
    row("bench hosts --sizes 100,100", 2, "--sizes '100,100': 100 given twice"),
    row("bench hosts --sizes banana", 2, "--sizes 'banana': 'banana' is not a host count"),
    row(["bench", "hosts", "--sizes", ""], 2, "--sizes '': empty"),
    row("bench hosts --rounds 0", 2, "argument --rounds: 0: must be from 1 to 10"),
    row("bench hosts --rounds -1", 2, "argument --rounds: -1: must be from 1 to 10"),
    row("bench hosts --rounds 11", 2, "argument --rounds: 11: must be from 1 to 10"),
    row("bench hosts --rounds banana", 2, "argument --rounds: 'banana': not a whole number"),
    row("bench hosts --out afile --sizes 100", 2, "--out afile: is a file"),
    row("bench hosts --sizes 100", 2, "a lab is up", "`cloudgate bench hosts` builds and removes labs of its own",
        "cloudgate lab down", files=LAB_STATE),
    # lab: a lab in use is never rebuilt behind its user's back (part 3); arguments refused before the lab
    row("lab up", 2, "a lab is up", "`cloudgate lab up` would tear it down", "cloudgate lab down",
        "cloudgate lab up --rebuild", files=LAB_STATE),
    row("lab run", 2, "a lab is up", "`cloudgate lab run` builds its own lab", "cloudgate lab run --rebuild",
        files=LAB_STATE),
    row("lab run --reports-dir afile", 2, "--reports-dir afile: is a file"),
    row("lab up --placement banana", 2, "argument --placement: invalid choice: 'banana'"),
    row("lab runners up --count 0", 2, "argument --count: 0: must be at least 1"),
    row("lab runners up --count -1", 2, "argument --count: -1: must be at least 1"),
    row("lab runners up --count banana", 2, "argument --count: 'banana': not a whole number"),
    row("lab runners up --count 5", 2, "--count 5: must be 1-3"),
    row("lab upgrade --to banana", 2, "--to: malformed CloudStack version 'banana'"),
    row(["lab", "upgrade", "--to", ""], 2, "--to '': empty"),
    row("lab upgrade --to 4.21.0.0 --regression banana", 2, "--regression: unknown regression banana"),
    row("lab fault dc1-r1-h1 banana", 2, "unknown host fault 'banana'"),
    row("lab fault dc1-r1-h1 fio-hot --param temperature=hot", 2, "fault fio-hot: --param temperature=hot: not a value"),
    row("lab fault dc1-r1-h1 fio-hot --param colour=red", 2, "fault fio-hot: --param colour=red: not one of its parameters"),
    row("lab fault dc1-r1-h1 fio-hot --param temperature", 2, "--param 'temperature': give KEY=VALUE"),
    row("lab fault dc1-r1-h1 fio-hot --param temperature=1 --param temperature=2", 2, "temperature given twice"),
    row("lab fault cloud banana", 2, "unknown fault 'banana'"),
    row("lab fault cloud boot-delay --param seconds=-5", 2, "fault boot-delay: --param seconds=-5: must be a number >= 0"),
    row("lab fault cloud cql-write-delay --param ms=banana", 2, "--param ms=banana: must be a number >= 0"),
    row("lab fault cloud api-error --param code=5x", 2, "--param code=5x: must be a whole number"),
    row("lab fault cloud host-maintenance", 2, "fault host-maintenance: --param host=... is required"),
    row("lab env", 2, "credentials.json: corrupt", "kept as it is",
        files={"lab/topology.json": "{}", "lab/credentials.json": GARBAGE}),
]


def _tree(root: Path) -> dict[str, str]:
    """Every path under root with a digest of its content: a file made, moved, changed or removed shows."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def _never(*_args: object, **_kwargs: object) -> None:
    pytest.fail("reached a function that builds, changes or removes a lab: the refusal came too late")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory with a target file and a plain file, a lab state directory of its own (empty
    unless a row writes one), the target's secrets set, and every lab-changing function guarded."""
    (tmp_path / "t.yaml").write_text(TARGET)
    (tmp_path / "afile").write_text("a file where a directory is expected\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLOUDGATE_LAB_DIR", str(tmp_path / "lab"))
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    for module, name in ((control, "up"), (control, "down"), (control, "cloud_fault"), (control, "upgrade"),
                         (control, "mgmt_stop"), (control, "mgmt_start"), (nightly, "run"), (hostbench, "run"),
                         (hostfaults, "apply_fault"), (hostfaults, "clear_fault"), (runners, "teardown_runners")):
        monkeypatch.setattr(module, name, _never)
    yield tmp_path


def _run(r: Row, where: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    if r.via == "main":
        try:
            rc = cli.main(r.argv)
        except SystemExit as exc:  # argparse's refusals end the process
            rc = int(exc.code or 0)
        out = capsys.readouterr()
        return rc, out.out + out.err
    module = "cloudgate.cli" if r.via == "cloudgate" else "pytest"
    extra = ["-p", "no:cacheprovider"] if r.via == "pytest" else []
    done = subprocess.run([sys.executable, "-m", module, *r.argv, *extra], cwd=where, capture_output=True, text=True,
                          env={**os.environ, **ENV, "CLOUDGATE_LAB_DIR": str(where / "lab")}, timeout=120)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("r", ROWS, ids=str)
def test_a_bad_value_or_a_damaged_file_is_one_line_naming_it_and_nothing_is_made(
        r: Row, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for relative, text in r.files.items():
        (workdir / relative).parent.mkdir(parents=True, exist_ok=True)
        (workdir / relative).write_text(text)
    before = _tree(workdir)
    rc, output = _run(r, workdir, capsys)
    assert "Traceback" not in output and "INTERNALERROR" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    for words in r.words:
        assert words in lines[0], lines[0]
    assert rc == r.rc != 0, lines[0]
    assert _tree(workdir) == before  # no run directory, page, reports/ or lab state; damaged files kept
    assert (workdir / "lab").exists() == any(p.startswith("lab/") for p in r.files)


def test_lab_up_and_run_with_rebuild_go_on_past_a_lab_that_is_up(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--rebuild is the explicit way to replace a lab in use (control.up then cleans it, as before)."""
    for relative, text in LAB_STATE.items():
        (workdir / relative).parent.mkdir(parents=True, exist_ok=True)
        (workdir / relative).write_text(text)
    called: list[str] = []
    monkeypatch.setattr(control, "up", lambda target, placement: called.append("up"))
    monkeypatch.setattr(nightly, "run", lambda target, reports, placement: called.append("run") or 0)
    assert cli.main(["lab", "up", "--rebuild"]) == 0
    assert cli.main(["lab", "run", "--rebuild", "--reports-dir", str(workdir / "reports")]) == 0
    assert called == ["up", "run"]


def test_with_no_lab_state_lab_up_is_not_refused(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control, "up", lambda target, placement: None)
    assert commands.lab_in_use() is None
    assert cli.main(["lab", "up"]) == 0


def test_the_janitor_reports_a_damaged_ledger_as_a_problem_never_as_an_empty_one(workdir: Path) -> None:
    from datetime import timedelta

    from cloudgate.janitor import sweep
    from cloudgate.target import load_target

    ledger = workdir / "reports" / "run1" / "ledger.jsonl"
    ledger.parent.mkdir(parents=True)
    ledger.write_text('{"v":1,"event":"undone","key":"k"}\n' + GARBAGE + '{"torn')
    before = ledger.read_bytes()

    class NoCloud:  # the API has nothing of ours: only the ledger can say something was left
        def list(self, *_args: object, **_kwargs: object) -> list[object]:
            return []

    result = sweep(load_target("t.yaml"), NoCloud(), dry_run=True, older_than=timedelta(hours=1),  # type: ignore[arg-type]
                   reports_root=workdir / "reports")
    assert [p for p in result.problems if "ledger.jsonl: corrupt, line(s) 2 are not ledger records" in p]
    assert ledger.read_bytes() == before


@pytest.mark.parametrize(("argv", "words"), [
    (["run", "--target", "t.yaml", "--reports-dir", "ro"], "--reports-dir ro: not writable (read-only, or not this user's)"),
    (["gate", "before", "--target", "t.yaml", "--reports-dir", "ro/new"],
     "--reports-dir ro/new: cannot be made: ro is not writable"),
    (["bench", "placement", "--out", "ro/bench"], "--out ro/bench: cannot be made: ro is not writable"),
])
def test_a_read_only_reports_dir_is_refused_naming_it(argv: list[str], words: str, workdir: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """As root a mode-0555 directory is writable, so read-only is what access(2) says (EROFS included)."""
    (workdir / "ro").mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path).name != "ro" and real_access(path, mode))
    before = _tree(workdir)
    assert cli.main(argv) == 2
    (line,) = [x for x in (capsys.readouterr().err.splitlines()) if x.strip()]
    assert words in line
    assert _tree(workdir) == before
