"""The operators' page: reports/<run>/index.html, the answer at a glance after a 3 a.m. page.

pytest-html lists hundreds of test ids; an operator woken by an incident needs four answers first:
do the running services run (data plane), can a new VM be added (control plane), did the drills
and the upgrade gate hold, and is tonight worse than the last nights. Then what exactly fails, on
which host, rack or card, and the figures and plots behind it.

Three steps, so each can be tested alone:
- `read_run_inputs(run_dir, history_db)` reads what the run directory and the history hold. It
  never raises for a missing or corrupt piece: it notes, in one line, what is missing and goes on
  (only a run_dir that is not a directory raises PageError); the page of a broken run is the one
  most needed.
- `build_page_model(inputs)` is pure: everything the page shows, as dataclasses, so tests assert
  on verdicts and matrix cells instead of parsing HTML.
- `render_page(model)` renders the Jinja2 template with autoescape on (a check message is text,
  never markup); `render_run_page` writes run_dir/index.html.

The file is self-contained (CSS inline, plots as data URIs, sparklines as inline SVG, no script,
no external URL) because it is read from a mail attachment, with no server and no network.
Only the standard library and Jinja2 are imported: no matplotlib, no pydantic models, no lab.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import statistics
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import jinja2

from cloudgate.checkdecl import DECLARED
from cloudgate.frontends.haproxystat import StatRow
from cloudgate.frontends.lbjudge import servers_not_up
from cloudgate.frontends.matrix import MATRIX_GLOB
from cloudgate.report.history import HISTORY_FILE, SCHEMA_VERSION, RunRecord, get_run, metric_series
from cloudgate.report.runbookview import RunbookSource, RunbookView, read_runbook_source, views_for
from cloudgate.report.skips import skip_kind

PAGE_FILE = "index.html"
TEMPLATE = "index.html.j2"
SPARK_RUNS = 14  # the last two weeks of nightlies: enough to see a trend, short enough to read
SPARK_WIDTH, SPARK_HEIGHT = 120, 24
MESSAGE_CHARS = 240
IMAGE_MAX_BYTES = 8 * 1024 * 1024  # a plot bigger than this is linked, not embedded (mail size)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# The skip reasons' prefixes, as cloudgate.plugin.outcomes / plugin.state write them (not imported:
# the page must not load pytest and the plugin to read a run directory).

OUTCOME_LABELS = {"passed": "pass", "failed": "fail", "error": "error", "waived": "waived",
                  "not_applicable": "n.a.", "not_run": "not run"}
OUTCOME_RANK = {"passed": 0, "not_applicable": 1, "not_run": 2, "waived": 3, "failed": 4, "error": 5}
SEVERITY_RANK = {"critical": 0, "major": 1, "minor": 2}
BLOCKING_FLAGS = ("metric_regression", "new_failure")  # as cloudgate.report.regression.BLOCKING
MATRIX_PREFIXES = ("CG-HOST-", "CG-FIO-")  # checks parametrized by physical host: the matrix columns

# state -> the words beside the colour; the colour itself is the CSS class of the state
STATE_WORDS = {"ok": "OK", "fail": "FAILING", "warn": "INCOMPLETE", "not_run": "NOT RUN"}


class PageError(Exception):
    """The page cannot be made at all (the run directory is unusable); str() is one line."""


# --------------------------------------------------------------------------- the areas
@dataclass(frozen=True)
class Area:
    key: str
    title: str
    what: str  # what the area promises, in an operator's words
    prefixes: tuple[str, ...]
    always: bool  # shown even when it has no check (data and control plane: "not run" is news)


AREAS: tuple[Area, ...] = (
    Area("data_plane", "Data plane", "running services: hypervisor hosts, Fusion-IO, Cassandra, the front tier",
         ("CG-HOST-", "CG-FIO-", "CG-CASS-", "CG-NODE-"), True),
    Area("control_plane", "Control plane", "CloudStack answers and can deploy a new VM",
         ("CG-CS-", "CG-DEPLOY-"), True),
    Area("drills", "Failover drills", "the cloud survives a lost host, VM, datacenter, partition",
         ("CG-DRILL-",), False),
    Area("placement", "Placement engine", "the allocator's own tests (no target needed)", (), False),
    Area("other", "Other checks", "checks of no known area (a new id prefix, a module that did not import)",
         (), False),
)
AREA_BY_KEY = {a.key: a for a in AREAS}


PLANE_AREAS = {"data": "data_plane", "control": "control_plane"}


def area_of(check_id: str, test: str, plane: str = "", kind: str = "") -> str:
    """The area a result belongs to: a drill's, else the plane its check declares (cloudgate.checkdecl);
    by its id's prefix only for a run recorded before checks declared a plane; tests/placement has no id."""
    if kind == "drill":
        return "drills"
    if plane in PLANE_AREAS:
        return PLANE_AREAS[plane]
    for area in AREAS:
        if check_id and any(check_id.startswith(p) for p in area.prefixes):
            return area.key
    if not check_id and re.match(r"tests[/.]placement", test):
        return "placement"
    return "other"


# --------------------------------------------------------------------------- the inputs
@dataclass(frozen=True)
class JunitCase:
    """One <testcase>: what junit.xml adds to summary.json's outcomes (id, severity, message)."""

    classname: str
    name: str
    check_id: str = ""
    severity: str = ""
    outcome: str = "passed"
    message: str = ""
    plane: str = ""  # what the check declares (cloudgate.checkdecl)
    kind: str = ""


@dataclass(frozen=True)
class ImageFile:
    name: str
    data: bytes | None  # None: could not be embedded, see problem
    problem: str = ""


@dataclass
class RunInputs:
    """Everything read from the run directory and the history; None where a piece is missing."""

    run_dir: Path
    files: list[str] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    metrics: list[dict[str, Any]] | None = None
    metrics_stamp: dict[str, Any] | None = None
    estate: dict[str, Any] | None = None
    junit: list[JunitCase] | None = None
    junit_stamp: dict[str, str] = field(default_factory=dict)
    gate: dict[str, Any] | None = None
    history_run: RunRecord | None = None
    series: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    images: list[ImageFile] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # drill-<name>.txt -> its table
    notes: list[str] = field(default_factory=list)  # one line per missing or unreadable piece
    # nodeid -> what its check declares (check_id, severity, tier, plane, kind), from selected.json:
    # known for every selected check, also one that never started
    declared: dict[str, dict[str, str]] = field(default_factory=dict)
    runbooks: RunbookSource = field(default_factory=RunbookSource)  # the catalogue, the target's contacts
    # front-<dc>.json (CG-FRONT-004's server x haproxy-node matrix), sorted by datacenter: (file name,
    # its JSON object, None when unreadable: the notes say why)
    fronts: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)


# --------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class CheckRow:
    nodeid: str
    test: str  # the test function's name with its parameter
    check_id: str
    severity: str
    outcome: str
    host: str  # the test's parameter (a host, a Cassandra node), "" when it has none
    where: str  # the host, or "node on host" for a Cassandra node
    message: str
    area: str

    @property
    def label(self) -> str:
        return OUTCOME_LABELS.get(self.outcome, self.outcome)


@dataclass
class AreaVerdict:
    key: str
    title: str
    what: str
    state: str  # ok | fail | warn | not_run (the colour: green, red, amber, grey)
    words: str  # the verdict in words, e.g. "12 of 150 failed"
    details: list[str] = field(default_factory=list)  # gate reasons, history flags

    @property
    def state_words(self) -> str:
        return STATE_WORDS[self.state]


@dataclass
class AreaChecks:
    title: str
    rows: list[CheckRow]


@dataclass(frozen=True)
class MatrixCell:
    check_id: str
    outcome: str  # passed | failed | error | waived | not_applicable | not_run
    message: str = ""

    @property
    def label(self) -> str:
        return OUTCOME_LABELS.get(self.outcome, self.outcome)


@dataclass
class MatrixRow:
    host: str
    datacenter: str
    rack: str
    state: str  # CloudStack's state/resourcestate, "" when the estate is unknown
    cells: list[MatrixCell]
    cassandra_vms: list[str] = field(default_factory=list)

    @property
    def bad(self) -> bool:
        return any(c.outcome in ("failed", "error") for c in self.cells)

    def cell(self, check_id: str) -> MatrixCell | None:
        return next((c for c in self.cells if c.check_id == check_id), None)


@dataclass
class RackGroup:
    datacenter: str
    rack: str
    rows: list[MatrixRow]

    @property
    def bad_hosts(self) -> int:
        return sum(1 for r in self.rows if r.bad)


@dataclass
class HostMatrix:
    columns: list[str]
    groups: list[RackGroup]

    def row(self, host: str) -> MatrixRow | None:
        return next((r for g in self.groups for r in g.rows if r.host == host), None)


@dataclass(frozen=True)
class RingHost:
    host: str
    datacenter: str
    rack: str
    vms: tuple[str, ...]
    replicas: int  # token-range replicas this physical host holds
    shared_ranges: int  # ranges of which it holds two replicas or more (one host loss costs two copies)


@dataclass
class CassandraRing:
    keyspace: str
    replication: str
    ranges: int
    nodes: list[dict[str, str]]  # vm, address, datacenter, rack, host
    hosts: list[RingHost]
    problem: str = ""


@dataclass(frozen=True)
class FrontCell:
    """One server as one haproxy node sees it."""

    node: str
    state: str  # ok | warn | fail (green, amber, red)
    words: str  # "UP · L7OK", "MAINT · weight 0", "absent"
    why: str = ""  # what the colour means, for the cell's title


@dataclass
class FrontRow:
    backend: str
    server: str
    addr: str
    backup: bool
    cells: list[FrontCell]
    drift: list[str] = field(default_factory=list)  # where the nodes disagree (admin state, weight, presence)

    @property
    def bad(self) -> bool:
        return any(c.state != "ok" for c in self.cells)


@dataclass
class FrontBackend:
    name: str
    rows: list[FrontRow]  # the active servers, then the backups

    @property
    def backups(self) -> int:
        return sum(1 for r in self.rows if r.backup)


@dataclass
class FrontMatrix:
    """A datacenter's front door: each haproxy server as each haproxy node sees it, and its figures."""

    dc: str
    source: str  # front-<dc>.json
    vip: str
    taken_at: str
    nodes: list[str]
    backends: list[FrontBackend]
    metrics: list[MetricRow] = field(default_factory=list)  # front.<dc>.*, the p99s first
    problem: str = ""  # the file could not be read: no matrix, the figures still shown

    @property
    def rows(self) -> list[FrontRow]:
        return [r for b in self.backends for r in b.rows]

    def row(self, backend: str, server: str) -> FrontRow | None:
        return next((r for r in self.rows if (r.backend, r.server) == (backend, server)), None)

    @property
    def drifting(self) -> int:
        return sum(1 for r in self.rows if r.drift)

    @property
    def bad(self) -> int:
        return sum(1 for r in self.rows if r.bad)


@dataclass(frozen=True)
class Sparkline:
    points: str  # SVG polyline points, numbers only
    last_x: float
    last_y: float
    width: int
    height: int
    caption: str  # "0.52 .. 0.73 over 8 runs"


@dataclass(frozen=True)
class MetricRow:
    name: str
    value: str
    unit: str
    threshold: str
    verdict: str  # pass | fail | info
    test: str
    spark: Sparkline | None
    regression: str  # the flag's line, "" when not flagged


@dataclass(frozen=True)
class Plot:
    name: str
    data_uri: str  # "" when the image could not be embedded
    problem: str
    table: str  # the drill's table beside its plot, "" when it has none


@dataclass(frozen=True)
class Link:
    name: str
    href: str


@dataclass
class PageModel:
    """Everything the page shows, top to bottom."""

    run_id: str
    target: str
    environment: str
    profile: str
    revision: str
    started: str
    ended: str
    exitstatus: str
    counts: dict[str, int]
    headline: str
    headline_state: str
    areas: list[AreaVerdict]
    attention: list[AreaChecks]  # failing and waived checks, by area
    not_run: list[tuple[str, int]]  # (reason, how many checks)
    matrix: HostMatrix
    ring: CassandraRing | None
    metrics: list[MetricRow]  # with a threshold, failing or flagged
    info_metrics: list[MetricRow]  # the rest: figures without a promise
    plots: list[Plot]
    links: list[Link]
    estate_lines: list[str]
    notes: list[str]
    scope: str = ""  # a narrowed run (--hosts-filter, --sample): what it covered; "" for the whole fleet
    runbooks: dict[str, RunbookView] = field(default_factory=dict)  # check id -> its runbook, for `attention`
    front: list[FrontMatrix] = field(default_factory=list)  # one per front-<dc>.json; [] hides the section

    def area(self, key: str) -> AreaVerdict | None:
        return next((a for a in self.areas if a.key == key), None)


# =========================================================================== reading
T = TypeVar("T")
READ_ERRORS = (OSError, ValueError, TypeError, KeyError, AttributeError, IndexError, ET.ParseError, sqlite3.Error)


def _guard(notes: list[str], what: str, read: Callable[[], T], default: T) -> T:
    """Run one reader; a failure becomes one visible line instead of a traceback on the page."""
    try:
        return read()
    except READ_ERRORS as exc:
        notes.append(f"{what}: {type(exc).__name__}: {_one_line(str(exc))}")
        return default


def _one_line(text: str, limit: int = MESSAGE_CHARS) -> str:
    """The first non-empty line, without Python's assertion prefix, cut to `limit` characters."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    first = lines[0].removeprefix("AssertionError: ").removeprefix("Failed: ") if lines else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _json_file(run_dir: Path, name: str, notes: list[str], why: str) -> Any:
    """A JSON file of the run, or None with a line saying it is missing (and what that costs)."""
    path = run_dir / name
    if not path.exists():
        notes.append(f"{name} is missing: {why}")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        notes.append(f"{name} is unreadable ({_one_line(str(exc))}): {why}")
        return None


def _dict_or_none(value: Any, name: str, notes: list[str]) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    notes.append(f"{name} is not a JSON object: ignored")
    return None


def _read_metrics(inputs: RunInputs) -> None:
    raw = _dict_or_none(_json_file(inputs.run_dir, "metrics.json", inputs.notes, "no metrics shown"),
                        "metrics.json", inputs.notes)
    if raw is None:
        return
    good = [m for m in raw.get("metrics", []) if isinstance(m, dict) and "name" in m and _is_number(m.get("value"))]
    if len(good) != len(raw.get("metrics", [])):
        inputs.notes.append("metrics.json: some records have no name or numeric value: left out")
    inputs.metrics = good
    inputs.metrics_stamp = {k: v for k, v in raw.items() if k not in ("metrics", "failed_metrics")}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _junit_outcome(case: ET.Element) -> tuple[str, str]:
    """(outcome, one-line message) of a <testcase>, the skip reasons read as the plugin wrote them."""
    for tag, outcome in (("error", "error"), ("failure", "failed")):
        child = case.find(tag)
        if child is not None:
            return outcome, _one_line(child.get("message") or child.text or "")
    skipped = case.find("skipped")
    if skipped is not None:
        reason = _one_line(skipped.get("message") or "", limit=10_000).removeprefix("Skipped: ")
        return skip_kind(reason), _one_line(reason)
    return "passed", ""



def _read_junit(inputs: RunInputs) -> None:
    path = inputs.run_dir / "junit.xml"
    if not path.exists():
        inputs.notes.append("junit.xml is missing: check ids, severities and failure messages are not known")
        return
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        inputs.notes.append(f"junit.xml is unreadable ({_one_line(str(exc))}): check ids and messages not known")
        return
    cases = []
    for case in root.iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        outcome, message = _junit_outcome(case)
        cases.append(JunitCase(case.get("classname", ""), case.get("name", ""), props.get("check_id", ""),
                               props.get("severity", ""), outcome, message, props.get("plane", ""),
                               props.get("kind", "")))
    inputs.junit = cases
    for prop in root.iter("property"):  # the run stamp, as cloudgate.report.rundir.stamp_junit writes it
        name = prop.get("name", "")
        if name.startswith("cloudgate.") and name.count(".") == 1:
            inputs.junit_stamp[name.removeprefix("cloudgate.")] = prop.get("value", "")




def _read_declared(inputs: RunInputs) -> None:
    path = inputs.run_dir / "selected.json"
    if path.exists():
        raw = json.loads(path.read_text())
        inputs.declared = {str(n): dict(zip(DECLARED, map(str, v), strict=False)) for n, v in raw.items()
                           if isinstance(v, list)}


def _read_images(inputs: RunInputs) -> None:
    """Every plot of the run (and each drill's table), embedded; one that cannot be read says so."""
    run_dir = inputs.run_dir
    for path in sorted(run_dir.glob("*.png")):
        inputs.images.append(_read_image(path))
    for path in sorted(run_dir.glob("drill-*.txt")):
        inputs.texts[path.name] = _guard(inputs.notes, path.name, lambda p=path: p.read_text(errors="replace"), "")


def _read_image(path: Path) -> ImageFile:
    try:
        size = path.stat().st_size
        if size > IMAGE_MAX_BYTES:
            return ImageFile(path.name, None, f"{path.name} is {size // 1024} KiB: not embedded, see the file")
        data = path.read_bytes()
    except OSError as exc:
        return ImageFile(path.name, None, f"{path.name} is unreadable: {exc.strerror or exc}")
    if not data.startswith(PNG_MAGIC):
        return ImageFile(path.name, None, f"{path.name} is not a PNG image ({len(data)} bytes): not shown")
    return ImageFile(path.name, data)


def _natural(text: str) -> list[Any]:
    """Sort key reading digits as numbers: dc2 before dc10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]


def _front_dc(name: str) -> str:
    return name.removeprefix("front-").removesuffix(".json")


def _read_fronts(inputs: RunInputs) -> None:
    """Each front-<dc>.json CG-FRONT-004 wrote, by datacenter; one that cannot be read is a note."""
    for path in sorted(inputs.run_dir.glob(MATRIX_GLOB), key=lambda p: _natural(p.name)):
        why = f"the front tier matrix of {_front_dc(path.name)} is not shown"
        doc = _json_file(inputs.run_dir, path.name, inputs.notes, why)
        if doc is not None and not isinstance(doc, dict):
            inputs.notes.append(f"{path.name} is not a JSON object: {why}")
            doc = None
        inputs.fronts.append((path.name, doc))


def _open_history_read_only(path: Path) -> sqlite3.Connection:
    """Read-only: rendering a page must never create, migrate or move aside the nightly's history."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version == 0:
        conn.close()
        raise ValueError("not a cloudgate history (schema version 0)")
    if version > SCHEMA_VERSION:  # newer columns may exist; the ones read here are still there
        conn.execute("SELECT run_id, kind FROM runs LIMIT 0")
    return conn


def _history_path(inputs: RunInputs, history_db: Path | None) -> Path | None:
    if history_db is not None:
        if not history_db.is_file():
            inputs.notes.append(f"history database {history_db} not found: no sparklines")
            return None
        return history_db
    beside = inputs.run_dir.parent / HISTORY_FILE
    if not beside.is_file():
        inputs.notes.append(f"no history database beside the run directory ({beside}): no sparklines")
        return None
    return beside


def _read_history(inputs: RunInputs, history_db: Path | None) -> None:
    path = _history_path(inputs, history_db)
    if path is None:
        return
    stamp = _stamp(inputs)
    try:
        conn = _open_history_read_only(path)
    except (sqlite3.Error, ValueError) as exc:
        inputs.notes.append(f"history database {path} is unusable ({_one_line(str(exc))}): no sparklines")
        return
    try:
        _read_history_rows(inputs, conn, path, stamp)
    except sqlite3.Error as exc:
        inputs.notes.append(f"history database {path}: {_one_line(str(exc))}: sparklines incomplete")
    finally:
        conn.close()


def _read_history_rows(inputs: RunInputs, conn: sqlite3.Connection, path: Path, stamp: dict[str, str]) -> None:
    run_id = stamp.get("run_id", "")
    inputs.history_run = get_run(conn, run_id) if run_id else None
    if inputs.history_run is None:
        inputs.notes.append(f"the history database {path.name} has no record of run {run_id or '(unknown)'}: "
                            "sparklines show the earlier runs and tonight's value from metrics.json")
    run = inputs.history_run
    target, profile = (run.target, run.profile) if run else (stamp.get("target", ""), stamp.get("profile", ""))
    kind = run.kind if run else ("gate-after" if inputs.gate is not None else "run")
    started = run.started if run else stamp.get("started", "")
    for metric in inputs.metrics or []:
        series = metric_series(conn, target, profile, str(metric["name"]), limit=SPARK_RUNS * 4, kind=kind)
        earlier = [(s, v) for s, v in series if not started or s < started]
        inputs.series[str(metric["name"])] = earlier[-(SPARK_RUNS - 1):]


def _stamp(inputs: RunInputs) -> dict[str, str]:
    """Who/what/when of the run: summary.json, else metrics.json, else junit's properties, else the dir name."""
    stamp: dict[str, str] = {"run_id": inputs.run_dir.name}
    keys = ("run_id", "target", "environment", "profile", "revision", "started", "ended")
    for source in (inputs.junit_stamp, inputs.metrics_stamp or {}, inputs.summary or {}):
        stamp.update({k: str(source[k]) for k in keys if source.get(k)})
    return stamp


def read_run_inputs(run_dir: Path, history_db: Path | None = None) -> RunInputs:
    """Read a run directory (and the history beside it, or `history_db`); raises PageError only when
    `run_dir` is not a directory. Every missing or unreadable piece is a line in `notes`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PageError(f"{run_dir}: not a run directory ({'not a directory' if run_dir.exists() else 'absent'})")
    inputs = RunInputs(run_dir)
    notes = inputs.notes
    inputs.files = _guard(notes, "listing the run directory", lambda: sorted(p.name for p in run_dir.iterdir()), [])
    inputs.summary = _dict_or_none(_json_file(run_dir, "summary.json", notes,
                                              "outcomes come from junit.xml or the history"), "summary.json", notes)
    _guard(notes, "metrics.json", lambda: _read_metrics(inputs), None)
    inputs.estate = _dict_or_none(_json_file(run_dir, "estate.json", notes,
                                             "hosts without datacenter and rack, no Cassandra ring"),
                                  "estate.json", notes)
    _guard(notes, "junit.xml", lambda: _read_junit(inputs), None)
    _guard(notes, "selected.json", lambda: _read_declared(inputs), None)
    if (run_dir / "gate-verdict.json").exists():
        inputs.gate = _dict_or_none(_json_file(run_dir, "gate-verdict.json", notes, "the gate's verdict is unknown"),
                                    "gate-verdict.json", notes)
    _guard(notes, "plots", lambda: _read_images(inputs), None)
    _guard(notes, "front tier", lambda: _read_fronts(inputs), None)
    _guard(notes, "history database", lambda: _read_history(inputs, history_db), None)
    inputs.runbooks = _guard(notes, "runbooks", lambda: read_runbook_source((inputs.summary, inputs.metrics_stamp)),
                             RunbookSource())
    return inputs


# =========================================================================== the checks
def junit_address(nodeid: str) -> tuple[str, str]:
    """(classname, name) pytest's junitxml gives a node id (its mangle_test_address)."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def parameter_of(test: str) -> str:
    """The test's parameter, `test_x[dc1-r2-h1]` -> `dc1-r2-h1` (the host or node it checked)."""
    match = re.search(r"\[(.*)\]$", test)
    return match.group(1) if match else ""


@dataclass(frozen=True)
class _Result:
    nodeid: str
    outcome: str
    check_id: str = ""
    severity: str = ""
    message: str = ""
    plane: str = ""
    kind: str = ""


def _results(inputs: RunInputs) -> list[_Result]:
    """Each check's outcome: summary.json's (the plugin's own accounting: waived, n.a., not run), with
    id, severity and message from junit.xml, else from the history; junit or the history alone when
    summary.json is missing."""
    junit = {(c.classname, c.name): c for c in inputs.junit or []}
    history = {c.nodeid: c for c in (inputs.history_run.checks if inputs.history_run else [])}
    outcomes = (inputs.summary or {}).get("outcomes")
    declared = inputs.declared
    if isinstance(outcomes, dict) and outcomes:
        reasons = (inputs.summary or {}).get("not_run") or {}
        return [_merge(str(n), str(o), junit.get(junit_address(str(n))), history.get(str(n)), reasons,
                       declared.get(str(n), {})) for n, o in outcomes.items()]
    if inputs.junit:
        return [_Result(f"{c.classname}::{c.name}", c.outcome, c.check_id, c.severity, c.message, c.plane, c.kind)
                for c in inputs.junit]
    return [_Result(c.nodeid, c.outcome, c.check_id, c.severity, _one_line(c.message)) for c in history.values()]


def _merge(nodeid: str, outcome: str, case: JunitCase | None, past: Any, reasons: dict[str, Any],
           declared: dict[str, str]) -> _Result:
    check_id = (case.check_id if case else "") or declared.get("check_id", "") or (past.check_id if past else "")
    severity = (case.severity if case else "") or declared.get("severity", "") or (past.severity if past else "")
    plane = (case.plane if case else "") or declared.get("plane", "")
    kind = (case.kind if case else "") or declared.get("kind", "")
    message = (case.message if case else "") or _one_line(str(reasons.get(nodeid, "")))
    message = message or (_one_line(past.message) if past else "")
    return _Result(nodeid, outcome, check_id, severity, message if outcome != "passed" else "", plane, kind)


def _host_of_vm(estate: dict[str, Any] | None) -> dict[str, str]:
    """VM (and Cassandra node) name -> the physical host it runs on."""
    out: dict[str, str] = {}
    for vm in _list(estate, "vms"):
        if vm.get("name") and vm.get("host_name"):
            out[str(vm["name"])] = str(vm["host_name"])
    for node in _list((estate or {}).get("cassandra"), "nodes"):
        if node.get("vm") and node.get("host"):
            out.setdefault(str(node["vm"]), str(node["host"]))
    return out


def _list(container: Any, key: str) -> list[dict[str, Any]]:
    """container[key] when it is a list of objects, else [] (a hand-edited or truncated file)."""
    value = container.get(key) if isinstance(container, dict) else None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _check_rows(inputs: RunInputs) -> list[CheckRow]:
    vm_hosts = _host_of_vm(inputs.estate)
    rows = []
    for r in _results(inputs):
        test = r.nodeid.split("::")[-1]
        host = parameter_of(test)
        where = f"{host} on {vm_hosts[host]}" if host in vm_hosts else host
        rows.append(CheckRow(r.nodeid, test, r.check_id, r.severity, r.outcome, host, where, r.message,
                             area_of(r.check_id, r.nodeid, r.plane, r.kind)))
    return rows


# =========================================================================== verdicts
def _count_words(counts: Counter[str]) -> str:
    order = ("failed", "error", "waived", "not_run", "not_applicable", "passed")
    return ", ".join(f"{counts[o]} {OUTCOME_LABELS[o] if o != 'passed' else 'passed'}" for o in order if counts[o])


def check_area_verdict(area: Area, rows: list[CheckRow]) -> AreaVerdict:
    """Green only when something ran and everything passed or was not applicable; red on any failure
    or error; grey when nothing ran; amber for waived or partly run (a skip is never a pass)."""
    counts = Counter(r.outcome for r in rows)
    ran = counts["passed"] + counts["failed"] + counts["error"] + counts["waived"]
    if counts["failed"] or counts["error"]:
        state = "fail"
    elif not ran:
        state = "not_run"
    elif counts["waived"] or counts["not_run"]:
        state = "warn"
    else:
        state = "ok"
    words = "nothing ran" if not rows else f"{_count_words(counts)} of {len(rows)}"
    if state == "not_run" and rows:
        words = f"nothing ran ({_count_words(counts)})"
    return AreaVerdict(area.key, area.title, area.what, state, words)


def _gate_verdict(gate: dict[str, Any]) -> AreaVerdict:
    go = gate.get("go")
    reasons = [f"{r.get('kind', '?')}: {r.get('detail', '')}" for r in gate.get("reasons") or [] if isinstance(r, dict)]
    known = [f"known (failed before too): {k}" for k in gate.get("known") or []]
    compared = f"after {gate.get('after', '?')} compared with before {gate.get('before', '?')}"
    if go is True:
        return AreaVerdict("gate", "Upgrade gate", "what worked before the upgrade works after it", "ok",
                           f"GO — {compared}", known)
    if go is False:
        return AreaVerdict("gate", "Upgrade gate", "what worked before the upgrade works after it", "fail",
                           f"NO-GO — {len(reasons)} reason(s); {compared}", reasons + known)
    return AreaVerdict("gate", "Upgrade gate", "what worked before the upgrade works after it", "not_run",
                       "gate-verdict.json has no go/no-go", [])


def _history_verdict(history: dict[str, Any]) -> AreaVerdict:
    title, what = "History", "tonight against the last nights"
    if history.get("error"):
        return AreaVerdict("history", title, what, "not_run", f"not recorded: {_one_line(str(history['error']))}")
    if history.get("interrupted"):
        return AreaVerdict("history", title, what, "not_run", "run cut short: recorded, not compared")
    flags = [f for f in history.get("flags") or [] if isinstance(f, dict)]
    baseline = history.get("baseline_runs") or []
    blocking = [f for f in flags if f.get("kind") in BLOCKING_FLAGS]
    details = [f"{str(f.get('kind', '')).replace('_', ' ')}: {f.get('detail', '')}" for f in blocking]
    details += [f"{str(f.get('kind', '')).replace('_', ' ')}: {f.get('detail', '')}" for f in flags
                if f not in blocking]
    against = f"against the last {len(baseline)} run(s)"
    if blocking:
        return AreaVerdict("history", title, what, "fail", f"{len(blocking)} regression(s) {against}", details)
    if flags:
        return AreaVerdict("history", title, what, "warn", f"{len(flags)} flag(s), none blocking, {against}", details)
    if not baseline:
        return AreaVerdict("history", title, what, "not_run", "no earlier run to compare with yet")
    return AreaVerdict("history", title, what, "ok", f"no regression {against}")


def area_verdicts(rows: list[CheckRow], gate: dict[str, Any] | None,
                  history: dict[str, Any] | None) -> list[AreaVerdict]:
    by_area: dict[str, list[CheckRow]] = defaultdict(list)
    for row in rows:
        by_area[row.area].append(row)
    verdicts = []
    for area in AREAS:
        mine = by_area.get(area.key, [])
        if area.always or _any_ran(mine):
            verdicts.append(check_area_verdict(area, mine))
    if gate is not None:
        verdicts.append(_gate_verdict(gate))
    if history:
        verdicts.append(_history_verdict(history))
    return verdicts


def _any_ran(rows: Iterable[CheckRow]) -> bool:
    return any(r.outcome in ("passed", "failed", "error", "waived") for r in rows)


DATA_WORDS = {"ok": "Production runs", "fail": "Production is hurt: running services fail their checks",
              "warn": "Production runs, but not every check of it passed (waived or not run)",
              "not_run": "Whether production runs was not checked"}
CONTROL_WORDS = {"ok": "new VMs can be added", "fail": "no new VM can be added",
                 "warn": "new VMs can be added, but not every control-plane check passed",
                 "not_run": "whether a new VM can be added was not checked"}


def headline(data_state: str, control_state: str) -> str:
    """The one sentence at the top, from the two planes' verdicts."""
    if data_state == "ok" and control_state == "fail":
        return "Production runs but no new VM can be added."
    if data_state == "ok" and control_state == "ok":
        return "Production runs and new VMs can be added."
    return f"{DATA_WORDS[data_state]}; {CONTROL_WORDS[control_state]}."


ALSO_WORDS = {"gate": "the upgrade gate says NO-GO", "drills": "a failover drill failed",
              "history": "the night regressed against the last ones", "placement": "the placement engine's tests fail",
              "other": "other checks fail"}


def _also_failing(areas: list[AreaVerdict]) -> str:
    """What else is red besides the two planes, in words: a red headline must say why it is red."""
    also = [ALSO_WORDS[a.key] for a in areas if a.state == "fail" and a.key in ALSO_WORDS]
    return f" But {', and '.join(also)}." if also else ""


def _headline_state(areas: list[AreaVerdict]) -> str:
    """The headline's colour: the worst area; green only when both planes were checked and passed."""
    states = {a.state for a in areas}
    for state in ("fail", "warn"):
        if state in states:
            return state
    planes = {a.key: a.state for a in areas}
    if planes.get("data_plane") != "ok":
        return "not_run"
    return "ok" if planes.get("control_plane") == "ok" else "warn"


def incomplete_of(summary: dict[str, Any]) -> dict[str, Any] | None:
    """summary.json's account of a run cut short, or None for a run that finished every selected check."""
    if summary.get("complete") is not False:
        return None
    info = summary.get("incomplete")
    return info if isinstance(info, dict) else {}


def incomplete_headline(info: dict[str, Any], areas: list[AreaVerdict]) -> tuple[str, str]:
    """A run cut short says so first: what it did not run it cannot vouch for, whatever passed before.

    Red when a check already failed (that finding is earned), amber otherwise — never green."""
    why = str(info.get("why") or "cut short")
    selected, unfinished = info.get("selected"), info.get("not_finished")
    if _is_number(selected) and _is_number(unfinished):
        counted = f"{unfinished} of {selected} selected checks did not finish"
    elif "selected" in info and selected is None:
        counted = "it stopped before its checks were selected, so nothing was checked"
    else:
        counted = "some selected checks did not finish"
    failing = [a.title for a in areas if a.state == "fail"]
    text = f"Run incomplete ({why}): {counted}; it is no evidence about them."
    if failing:
        text += f" Already failing: {', '.join(failing)}."
    return text, "fail" if failing else "warn"


def _attention(rows: list[CheckRow]) -> list[AreaChecks]:
    """Failing and waived checks, by area, the critical ones first."""
    out = []
    for area in AREAS:
        mine = [r for r in rows if r.area == area.key and r.outcome in ("failed", "error", "waived")]
        mine.sort(key=lambda r: (r.outcome == "waived", SEVERITY_RANK.get(r.severity, 9), r.check_id, r.nodeid))
        if mine:
            out.append(AreaChecks(area.title, mine))
    return out


def _not_run_reasons(rows: list[CheckRow]) -> list[tuple[str, int]]:
    counts = Counter(r.message or "no reason recorded" for r in rows if r.outcome == "not_run")
    return counts.most_common()


# =========================================================================== hosts and ring
def _estate_hosts(estate: dict[str, Any] | None) -> list[dict[str, str]]:
    hosts = []
    for h in _list(estate, "hosts"):
        if h.get("name"):
            state = "/".join(str(h[k]) for k in ("state", "resourcestate") if h.get(k))
            hosts.append({"name": str(h["name"]), "datacenter": str(h.get("datacenter") or h.get("zone") or "?"),
                          "rack": str(h.get("rack") or h.get("pod") or "?"), "state": state})
    return hosts


def host_matrix(rows: list[CheckRow], estate: dict[str, Any] | None, narrowed: bool = False) -> HostMatrix:
    """Physical hosts by datacenter and rack, one column per host check id, one cell per result, so a
    bad rack or one bad card stands out. Hosts only the checks name (no estate) are listed as unknown.
    A narrowed run (--hosts-filter, --sample) lists only the hosts it checked: the others were left
    out on purpose (the page's banner says how many), not left unchecked."""
    host_rows = [r for r in rows if r.check_id.startswith(MATRIX_PREFIXES) and r.host]
    columns = sorted({r.check_id for r in host_rows}, key=lambda c: (not c.startswith(MATRIX_PREFIXES[0]), c))
    results: dict[tuple[str, str], CheckRow] = {}
    for r in host_rows:
        key = (r.host, r.check_id)
        if key not in results or OUTCOME_RANK.get(r.outcome, 0) > OUTCOME_RANK.get(results[key].outcome, 0):
            results[key] = r
    hosts = _estate_hosts(estate)
    if narrowed:
        checked = {r.host for r in host_rows}
        hosts = [h for h in hosts if h["name"] in checked]
    known = {h["name"] for h in hosts}
    hosts += [{"name": n, "datacenter": "?", "rack": "?", "state": ""}
              for n in sorted({r.host for r in host_rows} - known)]
    vms_on = _vms_on_hosts(estate)
    groups: dict[tuple[str, str], list[MatrixRow]] = defaultdict(list)
    for h in sorted(hosts, key=lambda h: (h["datacenter"], h["rack"], h["name"])):
        cells = [_cell(results.get((h["name"], c)), c) for c in columns]
        groups[(h["datacenter"], h["rack"])].append(
            MatrixRow(h["name"], h["datacenter"], h["rack"], h["state"], cells, vms_on.get(h["name"], [])))
    return HostMatrix(columns, [RackGroup(dc, rack, rs) for (dc, rack), rs in groups.items()])


def _cell(row: CheckRow | None, check_id: str) -> MatrixCell:
    if row is None:
        return MatrixCell(check_id, "not_run", "no result for this host")
    return MatrixCell(check_id, row.outcome, row.message)


def _vms_on_hosts(estate: dict[str, Any] | None) -> dict[str, list[str]]:
    """Cassandra VMs per physical host (the ring's nodes; CloudStack's VM list when there is no ring)."""
    out: dict[str, list[str]] = defaultdict(list)
    nodes = _list((estate or {}).get("cassandra"), "nodes")
    for node in nodes:
        if node.get("host"):
            out[str(node["host"])].append(str(node.get("vm") or node.get("address") or "?"))
    return dict(out)


def cassandra_ring(estate: dict[str, Any] | None) -> CassandraRing | None:
    """Which Cassandra VMs run on which hosts, and how many replicas each physical host holds."""
    cass = (estate or {}).get("cassandra")
    if not isinstance(cass, dict):
        return None
    nodes = [{"vm": str(n.get("vm") or "?"), "address": str(n.get("address") or "?"),
              "datacenter": str(n.get("datacenter") or "?"), "rack": str(n.get("rack") or "?"),
              "host": str(n.get("host") or "unknown")} for n in _list(cass, "nodes")]
    ring = cass.get("ring") if isinstance(cass.get("ring"), dict) else None
    problem = str(cass.get("ring_problem") or "") if ring is None else ""
    if ring is None and not problem:
        problem = "no ring was read"
    ranges = _list(ring, "ranges")
    replication = ring.get("replication") if ring else None
    replication_words = ", ".join(f"{dc}: {rf}" for dc, rf in sorted(replication.items())) \
        if isinstance(replication, dict) else ""
    return CassandraRing(str(ring.get("keyspace") or "") if ring else "", replication_words, len(ranges), nodes,
                         _ring_hosts(nodes, ranges, estate), problem)


def _ring_hosts(nodes: list[dict[str, str]], ranges: list[dict[str, Any]],
                estate: dict[str, Any] | None) -> list[RingHost]:
    host_of = {n["address"]: n["host"] for n in nodes}
    place = {h["name"]: h for h in _estate_hosts(estate)}
    replicas: Counter[str] = Counter()
    shared: Counter[str] = Counter()
    for rng in ranges:
        per_host = Counter(host_of.get(str(a), "unknown") for a in rng.get("replicas") or [])
        replicas.update(per_host)
        shared.update(h for h, n in per_host.items() if n > 1)
    vms: dict[str, list[str]] = defaultdict(list)
    for n in nodes:
        vms[n["host"]].append(n["vm"])
    out = []
    for host in sorted(set(vms) | set(replicas)):
        where = place.get(host, {})
        dc = where.get("datacenter") or next((n["datacenter"] for n in nodes if n["host"] == host), "?")
        out.append(RingHost(host, dc, where.get("rack", "?"), tuple(vms.get(host, [])), replicas[host], shared[host]))
    return sorted(out, key=lambda h: (h.datacenter, h.rack, h.host))


def _source_line(what: str, source: Any) -> tuple[str, bool]:
    """(one line, is it live) for a part of the estate."""
    if not isinstance(source, dict):
        return f"{what}: where it came from is not recorded", False
    if source.get("live"):
        return f"{what} read live at {source.get('taken_at', '?')}", True
    problem = f" because {source['problem']}" if source.get("problem") else ""
    return (f"{what} NOT read live{problem}: taken from the last good snapshot "
            f"{source.get('snapshot_file') or ''} of {source.get('taken_at', '?')}", False)


def estate_lines(estate: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    """(provenance lines, warnings): a check that read an old snapshot must say so at the top."""
    if estate is None:
        return [], []
    lines, warnings = [], []
    hosts, vms = len(_list(estate, "hosts")), len(_list(estate, "vms"))
    parts = [(f"{hosts} hosts and {vms} VMs", estate.get("cloudstack"))]
    cass = estate.get("cassandra")
    if isinstance(cass, dict):
        parts.append((f"{len(_list(cass, 'nodes'))} Cassandra nodes", cass.get("source")))
    else:
        lines.append("no Cassandra in this target")
    for what, source in parts:
        line, live = _source_line(what, source)
        lines.append(line)
        if not live:
            warnings.append(f"estate: {line}")
    return lines, warnings


# =========================================================================== metrics
def _fmt(value: Any) -> str:
    return f"{value:.4g}" if _is_number(value) else ""


def sparkline(values: list[float], width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT) -> Sparkline | None:
    """An SVG polyline of the last nights (oldest left, tonight the dot); None under two points."""
    values = [v for v in values if v == v]  # NaN is not a point
    if len(values) < 2:
        return None
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    pad = 2.0
    step = (width - 2 * pad) / (len(values) - 1)
    coords = [(pad + i * step, pad + (height - 2 * pad) * (1 - (v - low) / span)) for i, v in enumerate(values)]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    median = statistics.median(values[:-1])
    caption = f"{low:.4g} .. {high:.4g} over {len(values)} runs (median before tonight {median:.4g})"
    return Sparkline(points, round(coords[-1][0], 1), round(coords[-1][1], 1), width, height, caption)


def _regressions(inputs: RunInputs) -> dict[str, str]:
    """metric name -> its regression flag: summary.json's, else the history's record of the run."""
    history = (inputs.summary or {}).get("history")
    flags = history.get("flags") if isinstance(history, dict) else None
    if isinstance(flags, list):
        return {str(f.get("subject")): str(f.get("detail", "")) for f in flags
                if isinstance(f, dict) and f.get("kind") == "metric_regression"}
    run = inputs.history_run
    return {f.subject: f.detail for f in run.flags if f.kind == "metric_regression"} if run else {}


def _metric_rank(row: MetricRow) -> int:
    """Failing first, then flagged as regressed, then the promises kept, then the figures for information."""
    if row.verdict == "fail":
        return 0
    if row.regression:
        return 1
    return 2 if row.verdict == "pass" else 3


def metric_rows(inputs: RunInputs) -> tuple[list[MetricRow], list[MetricRow]]:
    """(figures held to a promise or flagged, failing and flagged first; figures for information)."""
    flagged = _regressions(inputs)
    rows = []
    for m in inputs.metrics or []:
        name = str(m["name"])
        past = [v for _s, v in inputs.series.get(name, [])]
        spark = sparkline(past + [float(m["value"])])
        rows.append(MetricRow(name, _fmt(m["value"]), str(m.get("unit", "")), _fmt(m.get("threshold")),
                              str(m.get("verdict", "info")), str(m.get("test", "")), spark, flagged.get(name, "")))
    rows.sort(key=_metric_rank)
    main = [r for r in rows if r.threshold or r.verdict == "fail" or r.regression]
    return main, [r for r in rows if r not in main]


# =========================================================================== the front tier
FRONT_WEIGHT = 100  # haproxy's default weight: a cell names its weight only when it is another, or the nodes differ


def _front_row(entry: dict[str, Any], nodes: list[str]) -> FrontRow:
    """One server across the haproxy nodes, judged per node by the check's own rules (lbjudge): green
    when UP at layer 7, red when DOWN or absent, amber for the rest (MAINT, DRAIN, NOLB, no check, a
    layer-4 or layer-6 check only, going down). The nodes disagree on presence, admin state or weight
    (as CG-FRONT-004 compares them; UP/DOWN is each node's own check, not a disagreement)."""
    backend, server, backup = entry["backend"], entry["server"], bool(entry.get("backup"))
    states = entry.get("states")
    if not (isinstance(backend, str) and backend and isinstance(server, str) and server):
        raise ValueError("a server record without its backend and server names")
    if not isinstance(states, dict) or not all(isinstance(v, dict) for v in states.values()):
        raise ValueError(f"{backend}/{server}: states is not an object of objects")
    rows = {n: StatRow(backend, server, type=2, status=str(st.get("status") or ""),
                       check_status=str(st.get("check") or "") or None, weight=_int_or_none(st.get("weight")),
                       scur=_int_or_none(st.get("scur")), bck=int(backup))
            for n, st in states.items() if n in nodes}
    weights = {n: r.weight for n, r in rows.items()}
    weights_differ = len(set(weights.values())) > 1
    cells = []
    for node in nodes:
        row = rows.get(node)
        if row is None:
            cells.append(FrontCell(node, "fail", "absent", f"{node} does not list {backend}/{server}"))
            continue
        words = [row.status or "no status"] + ([row.check_status] if row.check_status else [])
        if row.weight is not None and (row.weight != FRONT_WEIGHT or weights_differ):
            words.append(f"weight {row.weight}")
        if row.scur:
            words.append(f"scur {row.scur}")
        problems = servers_not_up([row], node)
        state = "fail" if row.status_word == "DOWN" else "warn" if problems else "ok"
        cells.append(FrontCell(node, state, " · ".join(words), "; ".join(problems)))
    drift = []
    lacking = [n for n in nodes if n not in rows]
    if lacking:
        drift.append(f"absent on {', '.join(lacking)}")
    admin = {n: r.status_word if r.status_word in ("MAINT", "DRAIN") else "ready" for n, r in rows.items()}
    for what, values in (("admin state", admin), ("weight", weights)):
        if len(set(values.values())) > 1:
            drift.append(f"{what} differs: " + ", ".join(f"{n} {v if v is not None else '?'}"
                                                         for n, v in values.items()))
    return FrontRow(backend, server, str(entry.get("addr") or ""), backup, cells, drift)


def _int_or_none(value: Any) -> int | None:
    return int(value) if _is_number(value) else None


def front_matrix(name: str, doc: dict[str, Any] | None, metrics: list[MetricRow]) -> tuple[FrontMatrix, list[str]]:
    """(a datacenter's front-door matrix, lines for what in its file is malformed): one row per
    (backend, server), the active servers then the backups of each backend; one column per haproxy
    node; the datacenter's front.<dc>.* figures under it, the p99s first."""
    dc = str((doc or {}).get("dc") or _front_dc(name))
    prefix = f"front.{dc}."
    mine = sorted((m for m in metrics if m.name.startswith(prefix)),
                  key=lambda m: (not m.name.endswith(".p99"), _natural(m.name)))
    vip, taken_at = str((doc or {}).get("vip") or "?"), str((doc or {}).get("taken_at") or "not recorded")
    if doc is None:
        return FrontMatrix(dc, name, vip, taken_at, [], [], mine, f"{name} could not be read: see the notes above"), []
    servers, nodes = doc.get("servers"), doc.get("nodes")
    if not isinstance(servers, list) or not isinstance(nodes, list):
        problem = f"{name} is malformed (no list of {'servers' if not isinstance(servers, list) else 'nodes'})"
        return FrontMatrix(dc, name, vip, taken_at, [], [], mine, problem), [f"{problem}: its matrix is not shown"]
    columns = list(dict.fromkeys(str(n) for n in nodes))
    for entry in servers:  # a node that answered for a server without being listed still gets its column
        states = entry.get("states") if isinstance(entry, dict) else None
        columns += [n for n in (states if isinstance(states, dict) else {}) if n not in columns]
    rows, bad = [], 0
    for entry in servers:
        try:
            rows.append(_front_row(entry, columns))
        except (KeyError, TypeError, ValueError, AttributeError):
            bad += 1
    notes = [f"{name}: {bad} of {len(servers)} server record(s) malformed: left out of the matrix"] if bad else []
    by_backend: dict[str, list[FrontRow]] = defaultdict(list)
    for row in rows:
        by_backend[row.backend].append(row)
    backends = [FrontBackend(b, sorted(by_backend[b], key=lambda r: (r.backup, _natural(r.server))))
                for b in sorted(by_backend, key=_natural)]
    return FrontMatrix(dc, name, vip, taken_at, columns, backends, mine), notes


def front_matrices(inputs: RunInputs, metrics: list[MetricRow]) -> tuple[list[FrontMatrix], list[str]]:
    """One matrix per front-<dc>.json in the run, by datacenter; none when the run has no such file."""
    out, notes = [], []
    for name, doc in inputs.fronts:
        matrix, lines = front_matrix(name, doc, metrics)
        out.append(matrix)
        notes += lines
    return out, notes


# =========================================================================== plots and links
def plots(inputs: RunInputs) -> tuple[list[Plot], list[str]]:
    """Every plot inline, each drill's table beside its plot; (plots, lines for what is missing)."""
    out, notes = [], []
    for image in inputs.images:
        table = inputs.texts.get(image.name.removesuffix(".png") + ".txt", "")
        uri = f"data:image/png;base64,{base64.b64encode(image.data).decode('ascii')}" if image.data else ""
        out.append(Plot(image.name, uri, image.problem, table))
        if image.problem:
            notes.append(image.problem)
    have = {i.name for i in inputs.images}
    for txt, table in sorted(inputs.texts.items()):
        png = txt.removesuffix(".txt") + ".png"
        if png not in have:
            out.append(Plot(png, "", f"{png} is missing", table))
            notes.append(f"{png} is missing: the drill's table is shown without its plot")
    return out, notes


CORE_FILES = ("junit.xml", "report.html", "metrics.json", "summary.json", "estate.json")
HISTORY_PATTERNS = (r".*\.history\.jsonl$", r".*\.hlog$", r"^ledger\.jsonl$", r"^gate-verdict\.(json|txt)$",
                    r"^placement-bench\.(json|md)$", r"^lab-bench\.json$", r"^front-.+\.json$")


def links(files: list[str]) -> tuple[list[Link], list[str]]:
    """Relative links to the run's own files (no URL leaves the directory); missing core files named."""
    present = set(files)
    out = [Link(name, quote(name)) for name in CORE_FILES if name in present]
    out += [Link(name, quote(name)) for name in files if any(re.match(p, name) for p in HISTORY_PATTERNS)]
    missing = [name for name in CORE_FILES if name not in present]
    notes = [f"not in the run directory: {', '.join(missing)}"] if missing else []
    return out, notes


# =========================================================================== the page
def _exitstatus_words(summary: dict[str, Any] | None) -> str:
    code = (summary or {}).get("exitstatus")
    if code is None:
        return "unknown"
    words = {0: "passed", 1: "checks failed or regressed", 2: "interrupted", 3: "internal error",
             4: "usage error, e.g. the history could not be recorded", 5: "nothing was checked"}
    return f"{code} ({words[code]})" if code in words else str(code)


def build_page_model(inputs: RunInputs) -> PageModel:
    """Everything the page shows, from what was read (pure: no file, no database, no clock)."""
    rows = _check_rows(inputs)
    summary = inputs.summary or {}
    history = summary.get("history") if isinstance(summary.get("history"), dict) else None
    areas = area_verdicts(rows, inputs.gate, history)
    data = next(a.state for a in areas if a.key == "data_plane")
    control = next(a.state for a in areas if a.key == "control_plane")
    metrics, info = metric_rows(inputs)
    front, front_notes = front_matrices(inputs, metrics + info)
    plot_list, plot_notes = plots(inputs)
    link_list, link_notes = links(inputs.files)
    provenance, estate_warnings = estate_lines(inputs.estate)
    notes = list(inputs.notes) + front_notes + link_notes + plot_notes + estate_warnings
    if not rows:
        notes.append("no check results: summary.json and junit.xml are missing or empty, and the history has none")
    stamp = _stamp(inputs)
    counts = summary.get("counts") if isinstance(summary.get("counts"), dict) else {}
    counts = counts or dict(Counter(r.outcome for r in rows))
    title, title_state = headline(data, control) + _also_failing(areas), _headline_state(areas)
    cut_short = incomplete_of(summary)
    if cut_short is not None:
        title, title_state = incomplete_headline(cut_short, areas)
    attention = _attention(rows)
    runbooks = views_for(inputs.runbooks, (r.check_id for group in attention for r in group.rows))
    if runbooks:  # a green night shows no runbook, so nothing about the contacts either
        notes += inputs.runbooks.problems
    return PageModel(
        run_id=stamp["run_id"], target=stamp.get("target", "?"), environment=stamp.get("environment", "?"),
        profile=stamp.get("profile", "?"), revision=stamp.get("revision", "?"), started=stamp.get("started", "?"),
        ended=stamp.get("ended", "not recorded"), exitstatus=_exitstatus_words(summary),
        counts={str(k): int(v) for k, v in counts.items() if _is_number(v)},
        headline=title, headline_state=title_state, areas=areas,
        attention=attention, not_run=_not_run_reasons(rows), matrix=host_matrix(rows, inputs.estate, narrowed=bool(_scope(summary))),
        ring=cassandra_ring(inputs.estate), metrics=metrics, info_metrics=info, plots=plot_list, links=link_list,
        estate_lines=provenance, notes=_dedupe(notes), scope=_scope(summary), runbooks=runbooks, front=front)


def _scope(summary: dict[str, Any]) -> str:
    selection = summary.get("selection")
    if not isinstance(selection, dict) or not selection.get("narrowed"):
        return ""
    from cloudgate.selection import scope_line

    return scope_line(selection)


def _dedupe(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(lines))


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,  # every value is text: a check message with <script> shows as text
        undefined=jinja2.StrictUndefined,  # a template typo fails the tests, not the operator's page
        trim_blocks=True, lstrip_blocks=True,
    )


def render_page(model: PageModel) -> str:
    return _environment().get_template(TEMPLATE).render(page=model, labels=OUTCOME_LABELS)


def render_run_page(run_dir: Path, history_db: Path | None = None) -> Path:
    """Write run_dir/index.html and return its path; PageError (one line) only for an unusable run_dir."""
    run_dir = Path(run_dir)
    html = render_page(build_page_model(read_run_inputs(run_dir, history_db)))
    path = run_dir / PAGE_FILE
    tmp = path.with_name(f".{PAGE_FILE}.tmp")
    try:
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise PageError(f"{path}: cannot write the page: {exc.strerror or exc}") from None
    return path


__all__ = ["PageError", "PageModel", "RunInputs", "build_page_model", "read_run_inputs", "render_page",
           "render_run_page"]
