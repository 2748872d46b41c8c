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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
