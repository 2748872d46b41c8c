"""The front tier's failover drills judged (FT-D1…FT-D6): what the clients saw, what haproxy saw, and when.

Pure functions of plain data (no I/O, no clock), as cloudgate.drills.checker is for Cassandra after
Jepsen: a drill's files can be judged again later, by a newer checker, and every rule below is tested
on records written by hand. The small readers at the end turn the drill's files into that data.

Inputs, all on one clock: the meta record (the drill, `fault_at` and `heal_at` as measured when the
nemesis had finished injecting and healing, the `victims` it kills, haproxy's predicted worst case
`expected_down_seconds` and the promise `mark_down_seconds`, `qos`, `expect`); the probe histories of
cloudgate.frontends.httpprobe, one per (datacenter, service) label such as "dc1/www"; samples of
haproxy's `show stat` on each haproxy node every ~0.25–0.5 s; optionally samples of who holds each
datacenter's VIP. The probe's `intended` times and the samplers' `t` are epoch seconds taken on the
runner's clock (both run on the runner, the samplers reading the nodes over SSH): clock skew between
them is not modelled, and a sample's time is when the runner got the answer.

A request failed when its status is null or ≥ 500, or an error is set (httpprobe's classes); 4xx are
counted apart; `overloaded` is the probe's own fault: left out of every figure, and a problem of its
own (a verdict with holes is not a clean one, as in cloudgate.frontends.frontdoor). Availability is
ok (2xx/3xx) / sent, so a 4xx lowers it: a probe answered 404 throughout proves nothing and must not
pass.

Failed-request window, per label: the first and the last failed request's due time, relative to
`fault_at`, and their count. A request due before the fault that failed after it (in flight when it
hit: due + latency ≥ fault_at) is in the window, which then starts before 0, and a note says so; a
failure that ended before the fault is not (a note counts it; availability still does).

Detection, per victim server and haproxy node (and backend, the server's check is per backend): the
first sample at or after `fault_at` whose status word is DOWN ("DOWN", "DOWN 1/2"; "UP 1/2" is still
UP, going down), minus `fault_at`. Measured only when the sample before it is at most
`sample_gap_seconds` (meta, default MAX_SAMPLE_GAP_SECONDS) older: after a gap (the haproxy node
unreachable, or the sampler stalled) the moment is not known, and the detection is said to be
unknown with the bound the gap gives, never invented. Never DOWN while the node was read until the
end: a problem naming the server and the node. Already DOWN before the fault: unknown (it measures
nothing). Measured detections are compared with `expected_down_seconds` (a ratio) and with the promise
`mark_down_seconds` (a problem beyond it).

Errors after DOWN, per label: failed requests due after every haproxy node of the label's datacenter
(meta `haproxy`: {dc: [nodes]}; without it, every node that lists the victim) had marked every victim
DOWN, and before the heal. The promise is 0. When one of those detections is unknown or never came,
the count is not taken (None), and a note says why.

Back UP, per victim: the first sample after `heal_at` at which the latest sample of the victim on every
node (and backend) listing it is readable, taken after the heal, and UP; minus `heal_at`. Never seen:
a problem naming what was missing.

VIP (keepalived): per datacenter with VIP samples, the time from `fault_at` until exactly one node
other than the holder before the fault holds the VIP (judged for the datacenters of meta
`vip_failover`, and for every one when the drill has no victim server); every run of samples with two
or more holders (split-brain) and with none (outage), with its duration (to the next sample that
differs). Split-brain is always a problem; no holder is one unless it is the takeover's own gap.

Expectations per label (meta `expect`, by label or by datacenter; default "qos"): "qos" → availability
≥ qos; "all" → no failed request; "down" → the datacenter may go down (reported, not judged).
Optional budgets in the meta: `failed_window_seconds`, `expected_up_seconds`, `vip_takeover_seconds`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cloudgate.drills.checker import pct

OVERLOADED = "overloaded"
ERROR_CLASSES = ("refused", "timeout", "reset", "dns", "tls", "other", OVERLOADED)
EXPECTATIONS = ("qos", "all", "down")
MAX_SAMPLE_GAP_SECONDS = 1.0  # 2-4 sampling periods of 0.25-0.5 s
_TRANSITION = re.compile(r"^(?P<word>UP|DOWN|NOLB|DRAIN) \d+/\d+$")


class FrontDrillError(Exception):
    """A drill record that cannot be read as one: the message is one line naming where (file:line)."""


# --------------------------------------------------------------------------- the records
@dataclass(frozen=True)
class ProbeRequest:
    """One line of an httpprobe history: a request, when it was due, and how it ended."""

    seq: int
    intended: float  # epoch seconds: when it was due
    status: int | None = None
    error: str | None = None  # refused | timeout | reset | dns | tls | other | overloaded
    detail: str | None = None
    latency_us: int | None = None  # from its due time; None when overloaded
    served_by: str | None = None
    url: str | None = None

    @property
    def overloaded(self) -> bool:
        """Not sent or not waited for: the probe's fault, never the server's."""
        return self.error == OVERLOADED

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 400

    @property
    def http_4xx(self) -> bool:
        return self.error is None and self.status is not None and 400 <= self.status < 500

    @property
    def failed(self) -> bool:
        """No answer, an error, a 5xx (or a status that is not a final one); not 4xx, not overloaded."""
        return not (self.overloaded or self.ok or self.http_4xx)

    @property
    def ended(self) -> float:
        """When its outcome was known (due + latency); its due time when the latency is not known."""
        return self.intended + (self.latency_us or 0) / 1_000_000

    def cause(self) -> str:
        """'timeout: no TCP answer …', '503 from web-dc1-2', '404 from an unnamed server'."""
        if self.error is not None:
            return f"{self.error}: {self.detail}" if self.detail else self.error
        if self.status is None:
            return "no status"
        return f"{self.status} from {self.served_by or 'an unnamed server'}"

    @classmethod
    def of(cls, record: Mapping[str, Any], where: str) -> ProbeRequest:
        seq, intended, status = record.get("seq"), record.get("intended"), record.get("status")
        if not _is_int(seq):
            raise FrontDrillError(f"{where}: seq {seq!r} is not an integer")
        if not _is_number(intended):
            raise FrontDrillError(f"{where}: intended {intended!r} is not epoch seconds")
        if status is not None and not _is_int(status):
            raise FrontDrillError(f"{where}: status {status!r} is neither an integer nor null")
        error = record.get("error")
        if error is not None and not isinstance(error, str):
            raise FrontDrillError(f"{where}: error {error!r} is neither a string nor null")
        latency = record.get("latency_us")
        return cls(seq=seq, intended=float(intended), status=status, error=error,
                   detail=_text(record.get("detail")), latency_us=latency if _is_int(latency) else None,
                   served_by=_text(record.get("served_by")), url=_text(record.get("url")))


@dataclass(frozen=True)
class StateSample:
    """One server's state on one haproxy node at time t; or, with `error`, a node that could not be read."""

    t: float  # epoch seconds, when the runner got the answer
    node: str
    backend: str | None = None
    server: str | None = None
    status: str | None = None  # UP, DOWN, "UP 1/2", "DOWN 1/2", MAINT, DRAIN, "no check"; None: node unreachable
    check_status: str | None = None
    error: str | None = None  # why the node's state could not be read

    @property
    def readable(self) -> bool:
        return self.error is None and self.status is not None

    @property
    def word(self) -> str | None:
        """The status without its transition counts or detail: "UP 1/2" → UP, "MAINT (resolution)" → MAINT."""
        return status_word(self.status)

    @property
    def name(self) -> str:
        return f"{self.backend}/{self.server}" if self.backend else str(self.server)

    @classmethod
    def of(cls, record: Mapping[str, Any], where: str) -> StateSample:
        t, node = record.get("t"), record.get("node")
        if not _is_number(t):
            raise FrontDrillError(f"{where}: t {t!r} is not epoch seconds")
        if not isinstance(node, str) or not node:
            raise FrontDrillError(f"{where}: node {node!r} is not a haproxy node's name")
        error = record.get("error")
        if error is None and not isinstance(record.get("server"), str):
            raise FrontDrillError(f"{where}: a sample names its server (or says its node's error)")
        status = record.get("status")
        if status is not None and not isinstance(status, str):
            raise FrontDrillError(f"{where}: status {status!r} is neither a string nor null")
        return cls(t=float(t), node=node, backend=_text(record.get("backend")), server=_text(record.get("server")),
                   status=status, check_status=_text(record.get("check_status")),
                   error=None if error is None else str(error))


@dataclass(frozen=True)
class VipSample:
    """Who held a datacenter's VIP at time t (an empty tuple: nobody); None with `error`: not known."""

    t: float
    dc: str
    holders: tuple[str, ...] | None
    error: str | None = None

    @classmethod
    def of(cls, record: Mapping[str, Any], where: str) -> VipSample:
        t, dc, holders = record.get("t"), record.get("dc"), record.get("holders")
        if not _is_number(t):
            raise FrontDrillError(f"{where}: t {t!r} is not epoch seconds")
        if not isinstance(dc, str) or not dc:
            raise FrontDrillError(f"{where}: dc {dc!r} is not a datacenter's name")
        error = record.get("error")
        if holders is None and error is None:
            raise FrontDrillError(f"{where}: a VIP sample lists its holders (or says its error)")
        if holders is not None and (not isinstance(holders, list) or not all(isinstance(h, str) for h in holders)):
            raise FrontDrillError(f"{where}: holders {holders!r} is not a list of node names")
        return cls(t=float(t), dc=dc, holders=None if holders is None else tuple(sorted(set(holders))),
                   error=None if error is None else str(error))


def status_word(status: str | None) -> str | None:
    """haproxy's status without transition counts or detail (as cloudgate.frontends.haproxystat reads it)."""
    if status is None:
        return None
    if m := _TRANSITION.match(status):
        return m.group("word")
    if status.startswith("MAINT"):
        return "MAINT"
    return status.split(" (")[0]


# --------------------------------------------------------------------------- reading the files
def read_meta(path: Path | str) -> dict[str, Any]:
    """The meta record: the first line of `drill-<name>.meta.json` (a JSONL file), or the whole file as JSON."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    first = next((line for line in text.splitlines() if line.strip()), None)
    if first is None:
        raise FrontDrillError(f"{path}: empty: no meta record")
    try:
        record = json.loads(first)
    except ValueError:
        try:
            record = json.loads(text)
        except ValueError as e:
            raise FrontDrillError(f"{path}:1: the meta record is not JSON ({_first_line(e)})") from None
    if not isinstance(record, dict):
        raise FrontDrillError(f"{path}:1: the meta record is a JSON object, not {type(record).__name__}")
    return record


def read_probe_history(path: Path | str) -> tuple[ProbeRequest, ...]:
    """An httpprobe history (`run_probe(history_path=…)`): one request a line; a torn last line is ignored."""
    return tuple(ProbeRequest.of(record, where) for where, record in _records(path))


def read_state_samples(path: Path | str) -> tuple[StateSample, ...]:
    """haproxy state samples, one server (or one unreadable node) a line; a torn last line is ignored."""
    return tuple(StateSample.of(record, where) for where, record in _records(path))


def read_vip_samples(path: Path | str) -> tuple[VipSample, ...]:
    """VIP holder samples, one datacenter a line; a torn last line is ignored."""
    return tuple(VipSample.of(record, where) for where, record in _records(path))


def _records(path: Path | str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file:line, record) of every JSON object line; only a torn *last* line is forgiven (a writer killed)."""
    path = Path(path)
    lines = path.read_bytes().split(b"\n")
    last = len(lines) if lines[-1].strip() else None  # only what follows the last newline can be torn
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode())
        except (UnicodeDecodeError, ValueError) as e:
            if n == last:
                return
            raise FrontDrillError(f"{path}:{n}: not a JSON record ({_first_line(e)})") from None
        if not isinstance(record, dict):
            raise FrontDrillError(f"{path}:{n}: a record is a JSON object, not {type(record).__name__}")
        yield f"{path}:{n}", record


def _first_line(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------- the verdict
@dataclass(frozen=True)
class FailedWindow:
    """The failed requests from the fault on: the first and the last one's due time (seconds relative to
    fault_at) and how many; `in_flight` of them were due before the fault and failed after it."""

    first_s: float
    last_s: float
    count: int
    in_flight: int = 0

    @property
    def seconds(self) -> float:
        return self.last_s - self.first_s


@dataclass(frozen=True)
class LabelResult:
    """What one probe (one datacenter's VIP, one service) saw during the drill."""

    label: str  # "dc1/www"
    dc: str
    sent: int  # overloaded requests excluded
    ok: int  # 2xx/3xx
    failed: int
    http_4xx: int
    overloaded: int
    availability: float | None  # ok / sent; None when nothing was sent
    window: FailedWindow | None  # None: no failure from the fault on
    failed_before_fault: int = 0  # ended before fault_at: not in the window
    failed_after_heal: int = 0  # due after heal_at: in the window
    errors_after_down: int | None = None  # None: not counted (no victim behind it, or a detection unknown)
    first_error_after_down: ProbeRequest | None = None
    all_down_s: float | None = None  # when every node of its datacenter had marked every victim DOWN
    expectation: str = "qos"
    met: bool | None = None  # None: not judged


@dataclass(frozen=True)
class Detection:
    """When one haproxy node marked one victim DOWN, relative to fault_at.

    outcome "down": measured (`seconds`; the moment lies within `resolution_s` before it); "never": the
    node was read from before the fault to the end and never said DOWN; "unknown": a gap in the samples,
    a node never read, or a server already DOWN before the fault (`reason`; `at_most_s` when a gap
    still bounds it).
    """

    server: str
    node: str
    backend: str | None
    outcome: str
    seconds: float | None = None
    resolution_s: float | None = None
    at_most_s: float | None = None
    reason: str | None = None
    expected_s: float | None = None  # haproxy's settings' worst case (expected_down_seconds)
    promise_s: float | None = None  # mark_down_seconds

    @property
    def where(self) -> str:
        return f"{self.node}: {self.qualified}"

    @property
    def qualified(self) -> str:
        """backend/server, once: a victim already written backend/server is not prefixed again."""
        if not self.backend or self.server.startswith(f"{self.backend}/"):
            return self.server
        return f"{self.backend}/{self.server}"

    @property
    def ratio(self) -> float | None:
        """seconds / expected_s: above 1, slower than haproxy's settings predict."""
        if self.seconds is None or not self.expected_s:
            return None
        return self.seconds / self.expected_s

    @property
    def beyond_promise(self) -> bool:
        return self.seconds is not None and self.promise_s is not None and self.seconds > self.promise_s

    def describe(self) -> str:
        """'198.18.1.211: www/web-dc1-2 DOWN after 2.9 s, 0.89 of the 3.25 s haproxy's settings promise'."""
        if self.outcome == "never":
            return f"{self.where} never marked DOWN ({self.reason})"
        if self.seconds is None:
            return f"{self.where}: when it was marked DOWN is not known ({self.reason})"
        text = f"{self.where} DOWN after {self.seconds:.1f} s"
        if self.ratio is not None:
            text += f", {self.ratio:.2f} of the {self.expected_s:g} s haproxy's settings promise"
        return text


@dataclass(frozen=True)
class BackUp:
    """When a victim was UP again on every haproxy node listing it, relative to heal_at (None: not seen)."""

    server: str
    seconds: float | None
    nodes: tuple[str, ...]  # where it had to be UP ("node: backend/server")
    missing: tuple[str, ...] = ()  # when not seen: what was missing, one phrase per node


@dataclass(frozen=True)
class VipEpisode:
    """A run of VIP samples with no holder, or with two or more (split-brain), until the next that differs."""

    holders: tuple[str, ...]
    start_s: float  # relative to fault_at
    seconds: float
    open: bool = False  # still so at the last sample


@dataclass(frozen=True)
class VipResult:
    dc: str
    judged: bool  # must the VIP move in this drill?
    holder_before: str | None  # the only holder at the last sample before the fault
    holder_after: str | None
    takeover_s: float | None  # fault_at → exactly one other node holds it
    split_brain: tuple[VipEpisode, ...] = ()
    no_holder: tuple[VipEpisode, ...] = ()
    samples: int = 0


@dataclass(frozen=True)
class FrontDrillVerdict:
    drill: str
    fault: str | None  # the fault's description
    fault_at: float | None  # epoch seconds
    heal_at: float | None
    victims: tuple[str, ...]
    per_label: dict[str, LabelResult]
    sent: int
    ok: int
    failed: int
    availability: float | None  # over every label
    detections: tuple[Detection, ...]
    back_up: tuple[BackUp, ...]
    vip: dict[str, VipResult]
    problems: tuple[str, ...] = ()  # one line each; empty: the drill passed
    notes: tuple[str, ...] = ()  # worth reading, not failing the drill
    qos: float | None = None
    expected_down_s: float | None = None
    mark_down_s: float | None = None
    origin: float = 0.0  # relative times count from it: fault_at, or the first record without one

    @property
    def passed(self) -> bool:
        return not self.problems

    def detection(self, server: str, node: str, backend: str | None = None) -> Detection | None:
        """The detection of `server` on `node` (in `backend` when the server is in several)."""
        return next((d for d in self.detections if d.server == server and d.node == node
                     and (backend is None or d.backend == backend)), None)

    def summary(self) -> str:
        """One line: PASSED/FAILED, availability and failed window per label, detection, errors after DOWN,
        back UP, the VIP; and how many problems."""
        parts = []
        for label, r in self.per_label.items():
            window = (f" ({r.window.count} failed {r.window.first_s:+.1f}…{r.window.last_s:+.1f} s)"
                      if r.window else "")
            parts.append(f"{label} {pct(r.availability)}{window}")
        for victim in self.victims:
            measured = [d.seconds for d in self.detections if d.server == victim and d.seconds is not None]
            total = sum(1 for d in self.detections if d.server == victim)
            if measured:
                on = f" on {len(measured)} of {total} nodes" if len(measured) < total else ""
                parts.append(f"{victim} DOWN after {max(measured):.1f} s at worst{on}")
            else:
                parts.append(f"{victim} not seen DOWN")
        counted = [r.errors_after_down for r in self.per_label.values() if r.errors_after_down is not None]
        if counted:
            parts.append(f"{sum(counted)} error(s) after DOWN")
        back = [b.seconds for b in self.back_up]
        if back:
            parts.append("not seen UP again after the heal" if None in back
                         else f"back UP {max(s for s in back if s is not None):.1f} s after the heal")
        for dc, v in self.vip.items():
            if v.takeover_s is not None:
                parts.append(f"{dc} VIP to {v.holder_after} in {v.takeover_s:.1f} s")
            if v.split_brain:
                parts.append(f"{dc} VIP split-brain ×{len(v.split_brain)}")
        verdict = "PASSED" if self.passed else f"FAILED ({len(self.problems)} problem(s))"
        return f"drill {self.drill} {verdict}: " + "; ".join(parts)

    def findings(self) -> list[str]:
        """What was measured, one line each, in an operator's words (the problems and notes say what is wrong)."""
        lines = []
        for label, r in self.per_label.items():
            window = (f"{r.window.count} failed from {r.window.first_s:+.1f} s to {r.window.last_s:+.1f} s"
                      if r.window else "no failure from the fault on" if self.fault_at is not None else "")
            after = (f"; {r.errors_after_down} failed after every node had marked the victims DOWN "
                     f"(by {r.all_down_s:+.1f} s)" if r.errors_after_down is not None and r.all_down_s is not None
                     else "")
            lines.append(f"{label}: availability {pct(r.availability)} ({r.ok} ok of {r.sent} sent)"
                         + (f"; {window}" if window else "") + after)
        lines += [d.describe() for d in self.detections]
        for b in self.back_up:
            lines.append(f"{b.server} UP again on every haproxy node {b.seconds:.1f} s after the heal"
                         if b.seconds is not None else f"{b.server} not seen UP again on every haproxy node")
        for dc, v in self.vip.items():
            if v.takeover_s is not None:
                lines.append(f"{dc}: the VIP moved from {v.holder_before} to {v.holder_after} "
                             f"{v.takeover_s:.1f} s after the fault")
            lines += [f"{dc}: the VIP held by {' and '.join(e.holders)} (split-brain) from {e.start_s:+.1f} s for "
                      f"{e.seconds:.1f} s" for e in v.split_brain]
            lines += [f"{dc}: the VIP held by nobody from {e.start_s:+.1f} s for {e.seconds:.1f} s"
                      for e in v.no_holder]
        return lines

    def metrics(self) -> list[tuple[str, float, str]]:
        """(name, value, unit) for the report; absent values are left out."""
        out: list[tuple[str, float, str]] = []

        def put(name: str, value: float | None, unit: str) -> None:
            if value is not None:
                out.append((name, float(value), unit))

        for label, r in self.per_label.items():
            put(f"availability.{label}", r.availability, "ratio")
            put(f"failed_requests.{label}", r.window.count if r.window else 0, "requests")
            put(f"failed_window_s.{label}", r.window.seconds if r.window else None, "s")
            put(f"errors_after_down.{label}", r.errors_after_down, "requests")
        put("availability.overall", self.availability, "ratio")
        for d in self.detections:
            put(f"detection_s.{d.qualified}@{d.node}", d.seconds, "s")
        for b in self.back_up:
            put(f"back_up_s.{b.server}", b.seconds, "s")
        for dc, v in self.vip.items():
            put(f"vip_takeover_s.{dc}", v.takeover_s, "s")
            put(f"vip_split_brain_s.{dc}", sum(e.seconds for e in v.split_brain), "s")
            put(f"vip_no_holder_s.{dc}", sum(e.seconds for e in v.no_holder), "s")
        return out


# --------------------------------------------------------------------------- the meta record
@dataclass(frozen=True)
class _Settings:
    drill: str
    dcs: tuple[str, ...]
    fault_at: float | None
    heal_at: float | None
    fault: str | None
    victims: tuple[str, ...]
    expected_down: float | None
    mark_down: float | None
    qos: float | None
    expect: dict[str, str]
    haproxy: dict[str, tuple[str, ...]]  # dc -> its haproxy nodes
    vip_failover: tuple[str, ...] | None
    window_budget: float | None
    up_budget: float | None
    vip_budget: float | None
    gap: float
    problems: tuple[str, ...]


def _settings(meta: Mapping[str, Any]) -> _Settings:
    fault = meta.get("fault")
    fault_map = fault if isinstance(fault, Mapping) else {}
    description = fault_map.get("description", meta.get("description"))
    if description is None and isinstance(fault, str):
        description = fault
    raw_victims = meta.get("victims", fault_map.get("victims", []))
    problems = []
    if not isinstance(raw_victims, list | tuple) or not all(isinstance(v, str) for v in raw_victims):
        problems.append(f"victims {raw_victims!r} in the meta record is not a list of haproxy server names")
        raw_victims = []
    fault_at, heal_at = _number(meta.get("fault_at")), _number(meta.get("heal_at"))
    if fault_at is None:
        problems.append("no fault_at in the meta record: when the fault was injected is not known, so nothing "
                        "can be timed from it; the drill proves nothing")
    if heal_at is None:
        problems.append("the fault was never healed: no heal_at in the meta record (the nemesis did not finish "
                        "healing, or did not say when)")
    elif fault_at is not None and heal_at < fault_at:
        problems.append(f"heal_at is {fault_at - heal_at:.1f} s before fault_at in the meta record: the drill's "
                        "times cannot both be right")
    dcs = meta.get("dcs", meta.get("dc", []))
    haproxy = meta.get("haproxy")
    vip_failover = meta.get("vip_failover")
    expect = meta.get("expect")
    return _Settings(
        drill=str(meta.get("drill", meta.get("name", "?"))),
        dcs=(dcs,) if isinstance(dcs, str) else tuple(str(d) for d in dcs) if isinstance(dcs, list | tuple) else (),
        fault_at=fault_at, heal_at=heal_at, fault=None if description is None else str(description),
        victims=tuple(dict.fromkeys(raw_victims)),
        expected_down=_number(meta.get("expected_down_seconds")), mark_down=_number(meta.get("mark_down_seconds")),
        qos=_number(meta.get("qos")),
        expect={str(k): str(v) for k, v in expect.items()} if isinstance(expect, Mapping) else {},
        haproxy={str(dc): tuple(str(n) for n in nodes) for dc, nodes in haproxy.items()
                 if isinstance(nodes, list | tuple)} if isinstance(haproxy, Mapping) else {},
        vip_failover=tuple(str(d) for d in vip_failover) if isinstance(vip_failover, list | tuple) else None,
        window_budget=_number(meta.get("failed_window_seconds")), up_budget=_number(meta.get("expected_up_seconds")),
        vip_budget=_number(meta.get("vip_takeover_seconds")),
        gap=_number(meta.get("sample_gap_seconds")) or MAX_SAMPLE_GAP_SECONDS, problems=tuple(problems))


# --------------------------------------------------------------------------- the check
def check(meta: Mapping[str, Any], histories: Mapping[str, Iterable[ProbeRequest | Mapping[str, Any]]],
          samples: Iterable[StateSample | Mapping[str, Any]],
          vip_samples: Iterable[VipSample | Mapping[str, Any]] = ()) -> FrontDrillVerdict:
    """Judge a front drill (see the module's docstring for every rule); records may be given as dicts."""
    s = _settings(meta)
    requests = {label: sorted((r if isinstance(r, ProbeRequest) else ProbeRequest.of(r, f"{label} #{i}")
                               for i, r in enumerate(reqs)), key=lambda r: (r.intended, r.seq))
                for label, reqs in histories.items()}
    rows = sorted((x if isinstance(x, StateSample) else StateSample.of(x, f"sample #{i}")
                   for i, x in enumerate(samples)), key=lambda x: x.t)
    vips = sorted((x if isinstance(x, VipSample) else VipSample.of(x, f"VIP sample #{i}")
                   for i, x in enumerate(vip_samples)), key=lambda x: x.t)
    times = [r.intended for reqs in requests.values() for r in reqs] + [x.t for x in rows] + [x.t for x in vips]
    origin = s.fault_at if s.fault_at is not None else min(times, default=0.0)
    problems, notes = list(s.problems), []

    if not requests:
        problems.append("no probe history: what the clients saw is not known")
    labels_dcs = {_dc_of(label) for label in requests}
    for dc in s.dcs:
        if dc not in labels_dcs:
            problems.append(f"{dc} is under load in the meta record but no probe history of {dc} was given")

    per_label = {label: _load(label, reqs, s, origin) for label, reqs in requests.items()}
    detections: list[Detection] = []
    if s.fault_at is not None and s.victims:
        detections = _detections(rows, s)
        problems += _detection_problems(detections, s, notes)
        for label, reqs in requests.items():
            per_label[label] = _errors_after_down(per_label[label], reqs, detections, s, notes)
    back_up: list[BackUp] = []
    if s.heal_at is not None and s.victims:
        back_up = _back_up(rows, s)
        for b in back_up:
            if b.seconds is None:
                problems.append(f"{b.server} not seen UP again on every haproxy node after the heal: "
                                + "; ".join(b.missing))
            elif s.up_budget is not None and b.seconds > s.up_budget:
                problems.append(f"{b.server} UP again on every haproxy node {b.seconds:.1f} s after the heal, "
                                f"beyond the {s.up_budget:g} s budget (expected_up_seconds)")
    for label, reqs in requests.items():
        r, label_problems = _judge(per_label[label], reqs, s, origin, notes)
        per_label[label] = r
        problems += label_problems

    vip: dict[str, VipResult] = {}
    for dc in dict.fromkeys(x.dc for x in vips):
        judged = dc in s.vip_failover if s.vip_failover is not None else not s.victims
        vip[dc], vip_problems = _vip(dc, [x for x in vips if x.dc == dc], s, judged, origin, notes)
        problems += vip_problems

    sent = sum(r.sent for r in per_label.values())
    ok = sum(r.ok for r in per_label.values())
    return FrontDrillVerdict(
        drill=s.drill, fault=s.fault, fault_at=s.fault_at, heal_at=s.heal_at, victims=s.victims,
        per_label=per_label, sent=sent, ok=ok, failed=sum(r.failed for r in per_label.values()),
        availability=ok / sent if sent else None, detections=tuple(detections), back_up=tuple(back_up), vip=vip,
        problems=tuple(problems), notes=tuple(notes), qos=s.qos, expected_down_s=s.expected_down,
        mark_down_s=s.mark_down, origin=origin)


def _dc_of(label: str) -> str:
    return label.split("/", 1)[0]


def _service_of(label: str) -> str | None:
    return label.split("/", 1)[1] if "/" in label else None


# --------------------------------------------------------------------------- what the clients saw
def _load(label: str, reqs: Sequence[ProbeRequest], s: _Settings, origin: float) -> LabelResult:
    sent = [r for r in reqs if not r.overloaded]
    failed = [r for r in sent if r.failed]
    window = before = after_heal = None
    if s.fault_at is not None:
        in_window = [r for r in failed if r.ended >= s.fault_at]
        before = len(failed) - len(in_window)
        if in_window:
            window = FailedWindow(first_s=in_window[0].intended - origin,
                                  last_s=max(r.intended for r in in_window) - origin, count=len(in_window),
                                  in_flight=sum(1 for r in in_window if r.intended < s.fault_at))
        if s.heal_at is not None:
            after_heal = sum(1 for r in failed if r.intended >= s.heal_at)
    ok = sum(1 for r in sent if r.ok)
    return LabelResult(label=label, dc=_dc_of(label), sent=len(sent), ok=ok, failed=len(failed),
                       http_4xx=sum(1 for r in sent if r.http_4xx), overloaded=len(reqs) - len(sent),
                       availability=ok / len(sent) if sent else None, window=window,
                       failed_before_fault=before or 0, failed_after_heal=after_heal or 0,
                       expectation=s.expect.get(label, s.expect.get(_dc_of(label), "qos")))


def _judge(r: LabelResult, reqs: Sequence[ProbeRequest], s: _Settings, origin: float,
           notes: list[str]) -> tuple[LabelResult, list[str]]:
    """The label's expectation judged, and the lines its figures call for (problems; notes appended)."""
    label = r.label
    problems = []
    failed = [x for x in reqs if x.failed]
    w = r.window
    span = (f"failed from {w.first_s:+.1f} s to {w.last_s:+.1f} s" if w else
            "no failure from the fault on" if s.fault_at is not None else "no fault_at to time them from")
    met: bool | None = None
    if not r.sent:
        problems.append(f"{label}: no request was sent: nothing shows what the clients saw")
    elif r.expectation == "qos":
        if s.qos is None:
            notes.append(f"{label}: no qos in the meta record: its availability {pct(r.availability)} is not judged")
        else:
            met = r.availability is not None and r.availability >= s.qos
            if not met:
                problems.append(f"{label}: availability {pct(r.availability)} < qos {s.qos * 100:.10g} % "
                                f"({r.failed} failed, {r.http_4xx} 4xx of {r.sent} sent; {span})")
    elif r.expectation == "all":
        met = r.failed == 0
        if not met:
            problems.append(f"{label}: {r.failed} of {r.sent} requests failed, none was expected to ({span}); "
                            f"the first due at {_rel(failed[0].intended - origin)}: {failed[0].cause()}")
    elif r.expectation != "down":
        problems.append(f"{label}: unknown expectation {r.expectation!r} in the meta record "
                        f"(one of {', '.join(EXPECTATIONS)})")
    if w and s.window_budget is not None and w.seconds > s.window_budget:
        problems.append(f"{label}: {w.count} failed requests from {w.first_s:+.1f} s to {w.last_s:+.1f} s after "
                        f"the fault: a {w.seconds:.1f} s window, beyond the {s.window_budget:g} s budget "
                        f"(failed_window_seconds)")
    if r.errors_after_down:
        first = r.first_error_after_down
        assert first is not None and r.all_down_s is not None
        nodes = f"of {r.dc}" if r.dc in s.haproxy else "listing them"
        problems.append(f"{label}: {r.errors_after_down} failed request(s) due after every haproxy node {nodes} "
                        f"had marked {', '.join(s.victims)} DOWN (by {_rel(r.all_down_s)}), where the promise "
                        f"is 0: the first due at {_rel(first.intended - origin)} (seq {first.seq}): {first.cause()}")
    if r.overloaded:
        over = [x for x in reqs if x.overloaded]
        problems.append(f"{label}: the probe itself was overloaded: {r.overloaded} of {len(reqs)} requests not "
                        f"sent or not waited for (due from {_rel(over[0].intended - origin)} to "
                        f"{_rel(over[-1].intended - origin)}): left out of the availability and the window, "
                        f"so the verdict has holes")
    if w and w.in_flight:
        notes.append(f"{label}: {w.in_flight} of the {w.count} failed requests were due before the fault and "
                     f"failed after it (in flight when it hit, the first due at {w.first_s:+.1f} s): "
                     f"counted in the window")
    if r.failed_before_fault and s.fault_at is not None:
        first = next(x for x in failed if x.ended < s.fault_at)
        notes.append(f"{label}: {r.failed_before_fault} request(s) failed before the fault (the first due at "
                     f"{_rel(first.intended - origin)}: {first.cause()}): not in the window, counted in the "
                     f"availability")
    if r.failed_after_heal and s.heal_at is not None:
        first = next(x for x in failed if x.intended >= s.heal_at)
        notes.append(f"{label}: {r.failed_after_heal} request(s) failed after the heal (the first due at "
                     f"{_rel(first.intended - origin)}: {first.cause()})")
    if r.http_4xx:
        first = next(x for x in reqs if x.http_4xx)
        notes.append(f"{label}: {r.http_4xx} answer(s) were 4xx, neither ok nor failed: they lower the "
                     f"availability, not the window (the probe's URL or Host header?); the first due at "
                     f"{_rel(first.intended - origin)}: {first.cause()}")
    return replace(r, met=met), problems


# --------------------------------------------------------------------------- what haproxy saw
def victim_timelines(rows: Sequence[StateSample], victim: str) -> dict[tuple[str, str | None], list[StateSample]]:
    """Per (node, backend) listing `victim`: its samples and its node's unreadable ones, in time order.

    A victim written `backend/server` is that server in that backend only (a fault that kills one
    service of a VM, PHP-FPM behind an Apache that still serves the C++ one)."""
    only_backend, _, server = victim.rpartition("/")
    node_errors: dict[str, list[StateSample]] = {}
    out: dict[tuple[str, str | None], list[StateSample]] = {}
    for x in rows:
        if x.server is None:
            node_errors.setdefault(x.node, []).append(x)
        elif x.server == server and (not only_backend or x.backend == only_backend):
            out.setdefault((x.node, x.backend), []).append(x)
    return {key: sorted([*line, *node_errors.get(key[0], [])], key=lambda x: x.t)
            for key, line in sorted(out.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))}


def _detections(rows: Sequence[StateSample], s: _Settings) -> list[Detection]:
    assert s.fault_at is not None
    end = max((x.t for x in rows), default=s.fault_at)
    listed = {x.node for x in rows if x.server is not None}
    errors: dict[str, list[StateSample]] = {}
    for x in rows:
        if x.server is None:
            errors.setdefault(x.node, []).append(x)
    never_read = sorted((set(errors) | {n for nodes in s.haproxy.values() for n in nodes}) - listed)
    out = []
    for victim in s.victims:
        for (node, backend), line in victim_timelines(rows, victim).items():
            out.append(_detect(Detection(victim, node, backend, "unknown", expected_s=s.expected_down,
                                         promise_s=s.mark_down), line, s.fault_at, end, s.gap))
        for node in never_read:
            why = f": {errors[node][0].error}" if node in errors else ""
            out.append(Detection(victim, node, None, "unknown", reason=f"no state of {node} could be read during "
                                 f"the drill{why}", expected_s=s.expected_down, promise_s=s.mark_down))
    return out


def _detect(base: Detection, line: Sequence[StateSample], fault_at: float, end: float, gap: float) -> Detection:
    """The first DOWN sample from the fault on, when the readable sample before it is close enough to time it.

    A stretch without a readable sample (longer than `gap`) before the first DOWN leaves its moment
    unknown; one followed by a sample still UP does not (not DOWN yet), but forbids "never": the server
    may have gone DOWN and come back inside it.
    """
    readable = [x for x in line if x.readable]
    before = [x for x in readable if x.t < fault_at]
    prev = before[-1] if before else None
    if prev is not None and prev.word == "DOWN":
        return replace(base, reason=f"already DOWN before the fault (at {_rel(prev.t - fault_at)}): "
                                    "the drill measures nothing there")
    hole: tuple[StateSample, StateSample] | None = None  # the first stretch without a readable sample
    for x in (x for x in readable if x.t >= fault_at):
        if x.word == "DOWN":
            if prev is None or x.t - prev.t > gap:
                since = _rel(prev.t - fault_at) if prev is not None else "the start"
                return replace(base, at_most_s=x.t - fault_at,
                               reason=f"no readable sample from {since} to {_rel(x.t - fault_at)}"
                                      f"{_unreadable(line, prev, x)}, then DOWN: when, between them, is not known")
            return replace(base, outcome="down", seconds=x.t - fault_at, resolution_s=x.t - max(prev.t, fault_at))
        if prev is not None and x.t - prev.t > gap and hole is None:
            hole = (prev, x)
        prev = x
    if prev is None or prev.t < fault_at or end - prev.t > gap:
        since = _rel(prev.t - fault_at) if prev is not None else "the start"
        return replace(base, reason=f"no readable sample from {since} to the end ({_rel(end - fault_at)})"
                                    f"{_unreadable(line, prev, None)}")
    if hole is not None:
        a, b = hole
        return replace(base, reason=f"never seen DOWN, but no readable sample from {_rel(a.t - fault_at)} to "
                                    f"{_rel(b.t - fault_at)}{_unreadable(line, a, b)}: it may have been DOWN then")
    check = f" {prev.check_status}" if prev.check_status else ""
    return replace(base, outcome="never", reason=f"read until {_rel(prev.t - fault_at)}, last {prev.status}"
                                                 f"{check}: a dead server kept in rotation")


def _unreadable(line: Sequence[StateSample], after: StateSample | None, until: StateSample | None) -> str:
    """Why a stretch had no readable sample, from the unreadable ones in it: ': 198.18.1.212 unreachable (…)'."""
    lo = after.t if after is not None else -math.inf
    hi = until.t if until is not None else math.inf
    bad = [x for x in line if not x.readable and lo < x.t < hi]
    if not bad:
        return " (no sample at all: the sampler stalled?)"
    return f" ({bad[0].node} unreachable: {bad[0].error or 'status null'})"


def _detection_problems(detections: Sequence[Detection], s: _Settings, notes: list[str]) -> list[str]:
    problems = []
    for victim in s.victims:
        mine = [d for d in detections if d.server == victim]
        if not mine:
            problems.append(f"{victim}: no haproxy sample lists it (is it the server's name in haproxy.cfg?): "
                            "when it was marked DOWN cannot be measured")
            continue
        for d in mine:
            if d.outcome == "never":
                problems.append(d.describe())
            elif d.beyond_promise:
                problems.append(f"{d.describe()}: beyond the {d.promise_s:g} s promise (mark_down_seconds)")
            elif d.reason and d.reason.startswith("already DOWN"):
                problems.append(f"{d.where} was {d.reason}")
            elif d.outcome == "unknown":
                notes.append(f"{d.describe()}")
            elif d.ratio is not None and d.ratio > 1:
                notes.append(f"{d.describe()}: slower than haproxy's settings predict (within the promise)")
        if all(d.outcome == "unknown" for d in mine) and not any(
                d.reason and d.reason.startswith("already DOWN") for d in mine):
            problems.append(f"{victim}: when it was marked DOWN could not be measured on any haproxy node "
                            f"({'; '.join(f'{d.node}: {d.reason}' for d in mine)})")
    return problems


def _errors_after_down(r: LabelResult, reqs: Sequence[ProbeRequest], detections: Sequence[Detection],
                       s: _Settings, notes: list[str]) -> LabelResult:
    """Failed requests of the label due after every node of its datacenter had marked every victim DOWN."""
    assert s.fault_at is not None
    nodes = s.haproxy.get(r.dc)
    service = _service_of(r.label)
    relevant: list[Detection] = []
    for victim in s.victims:
        mine = [d for d in detections if d.server == victim and (nodes is None or d.node in nodes)]
        for node in dict.fromkeys(d.node for d in mine):
            on_node = [d for d in mine if d.node == node]
            same = [d for d in on_node if d.backend == service]
            relevant += same or on_node
    if not relevant:
        return r
    pending = [d for d in relevant if d.outcome != "down"]
    if pending:
        why = "; ".join(f"{d.where} {'never marked DOWN' if d.outcome == 'never' else 'DOWN at an unknown time'}"
                        for d in pending)
        notes.append(f"{r.label}: errors after DOWN not counted: {why}")
        return r
    all_down = max(d.seconds for d in relevant if d.seconds is not None)
    since = s.fault_at + all_down
    until = s.heal_at if s.heal_at is not None else math.inf
    errors = [x for x in reqs if x.failed and since < x.intended < until]
    return replace(r, errors_after_down=len(errors), first_error_after_down=errors[0] if errors else None,
                    all_down_s=all_down)


def _back_up(rows: Sequence[StateSample], s: _Settings) -> list[BackUp]:
    assert s.heal_at is not None
    out = []
    for victim in s.victims:
        lines = victim_timelines(rows, victim)
        if not lines:
            continue
        names = {key: f"{key[0]}: {key[1] + '/' if key[1] else ''}{victim}" for key in lines}
        events = sorted(((x, key) for key, line in lines.items() for x in line if x.t >= s.heal_at),
                        key=lambda e: e[0].t)
        latest: dict[tuple[str, str | None], StateSample] = {}
        seconds = None
        for x, key in events:
            latest[key] = x
            if len(latest) == len(lines) and all(y.readable and y.word == "UP" for y in latest.values()):
                seconds = x.t - s.heal_at
                break
        missing = []
        if seconds is None:
            for key in lines:
                y = latest.get(key)
                if y is not None and y.readable and y.word == "UP":
                    continue
                if y is None:
                    missing.append(f"{names[key]}: no sample after the heal")
                elif not y.readable:
                    missing.append(f"{key[0]} unreachable at the end ({y.error or 'status null'})")
                else:
                    missing.append(f"{names[key]} still {y.status} at {_rel(y.t - s.heal_at)} after the heal")
        out.append(BackUp(victim, seconds, tuple(names.values()), tuple(missing)))
    return out


# --------------------------------------------------------------------------- the VIP
def _vip(dc: str, samples: Sequence[VipSample], s: _Settings, judged: bool, origin: float,
         notes: list[str]) -> tuple[VipResult, list[str]]:
    known = [x for x in samples if x.holders is not None]
    if len(known) < len(samples):
        notes.append(f"{dc}: {len(samples) - len(known)} VIP sample(s) could not be read "
                     f"({next(x.error for x in samples if x.holders is None)})")
    problems = []
    fault_at = s.fault_at
    before = [x for x in known if fault_at is not None and x.t < fault_at]
    holder_before = before[-1].holders[0] if before and len(before[-1].holders or ()) == 1 else None  # type: ignore[index]
    takeover = None
    if fault_at is not None and holder_before is not None:
        takeover = next((x for x in known if x.t >= fault_at and len(x.holders or ()) == 1
                         and (x.holders or ())[0] != holder_before), None)
    split, empty = [], []
    i = 0
    while i < len(known):
        kind = min(len(known[i].holders or ()), 2)
        j = i
        while j + 1 < len(known) and min(len(known[j + 1].holders or ()), 2) == kind:
            j += 1
        if kind != 1:
            run = known[i:j + 1]
            end = known[j + 1].t if j + 1 < len(known) else run[-1].t
            holders = tuple(sorted({h for x in run for h in x.holders or ()}))
            episode = VipEpisode(holders, run[0].t - origin, end - run[0].t, open=j + 1 == len(known))
            (split if kind == 2 else empty).append((episode, end))
        i = j + 1
    for episode, _ in split:
        problems.append(f"{dc}: the VIP was held by {' and '.join(episode.holders)} at once (split-brain) from "
                        f"{_rel(episode.start_s)} for {_lasting(episode)}: VRRP adverts do not get through")
    for episode, end in empty:
        if judged and takeover is not None and end == takeover.t:
            continue  # the takeover's own gap, timed by takeover_s
        problems.append(f"{dc}: no node held the VIP from {_rel(episode.start_s)} for {_lasting(episode)}: "
                        "the datacenter's front door was down")
    takeover_s = takeover.t - fault_at if takeover is not None and fault_at is not None else None
    if judged and fault_at is not None:
        if not known:
            problems.append(f"{dc}: no VIP sample could be read: the takeover cannot be timed")
        elif holder_before is None:
            problems.append(f"{dc}: who held the VIP before the fault is not known (no sample with one holder "
                            "before it): the takeover cannot be timed")
        elif takeover is None:
            last = known[-1].holders or ()
            problems.append(f"{dc}: no other node took the VIP over after the fault (held by {holder_before} "
                            f"before it; at the end by {' and '.join(last) if last else 'nobody'})")
        elif s.vip_budget is not None and takeover_s is not None and takeover_s > s.vip_budget:
            problems.append(f"{dc}: the VIP moved from {holder_before} to {(takeover.holders or ('?',))[0]} "
                            f"{takeover_s:.1f} s after the fault, beyond the {s.vip_budget:g} s budget "
                            "(vip_takeover_seconds)")
    result = VipResult(dc=dc, judged=judged, holder_before=holder_before,
                       holder_after=(takeover.holders or (None,))[0] if takeover is not None else None,
                       takeover_s=takeover_s, split_brain=tuple(e for e, _ in split),
                       no_holder=tuple(e for e, _ in empty), samples=len(samples))
    return result, problems


def _lasting(e: VipEpisode) -> str:
    return f"{e.seconds:.1f} s" + (" until the end" if e.open else "")


# --------------------------------------------------------------------------- wording
def _rel(seconds: float) -> str:
    """A time relative to the fault, signed: '+2.9 s', '-0.4 s'."""
    return f"{seconds:+.1f} s"


def _number(value: Any) -> float | None:
    return float(value) if _is_number(value) else None
