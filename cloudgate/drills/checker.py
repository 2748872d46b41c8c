"""The checker: what a drill's history says about availability, rerouting and lost writes.

Pure functions of a `History` (no I/O, no clock), so a history can be judged again later, by a newer
checker, and every rule below can be tested with a history written by hand.

Pairing (Jepsen's rules). Invokes and completions are paired by `index`. A second completion of
the same index is ignored (the first counts): a driver that calls back twice must not make one
write two. An invoke never completed by the end of the history is `info`. `info` (a timeout) is
indeterminate: it is neither a failure nor a success, and is counted apart. `fail` means certainly
not applied. An operation is placed in time by its *invoke*: a late acknowledgement is still
an acknowledgement, and counts where the application issued it.

Availability, as the applications see it: over the load operations (f `write` and `read`; the
checker's own `read-back` is not load), ok / invoked, per client, per DC (all the clients of that
DC together) and overall.

Fault window: t_fault is the invoke time of the nemesis `start` (the fault acts before it completes),
t_heal the invoke time of the first nemesis `stop` after it. A start that failed means the fault
was never injected: the drill proves nothing and says so. A fault never healed runs to the end of
the history (and is a problem: the heal is part of the drill). Only the first start is judged.

Longest outage, per client and per DC: the longest run of consecutive not-ok load operations
(ordered by invoke time), from the first one's invoke to the invoke of the next ok operation, or to
the last time the history knows of that client/DC (an invoke or a completion) if none follows.

Reroute time, per client and per DC: among load operations invoked in [t_fault, t_heal], none
not-ok -> 0.0; otherwise the invoke time of the first ok operation after the last not-ok one,
minus t_fault; None if no ok operation follows before the heal (never rerouted), and None too when
no load operation at all was invoked in the window (nothing shows it rerouted).

Lost writes, from the read-back rounds after the heal. A key is judged in each DC that has
read-back operations, on its last read-back there (highest round): ok with an acknowledged or
indeterminate value of that key -> found; ok with null or any other value -> lost, recorded as
(dc, key); fail or info, or never read back in that DC -> unverified (a note, not a loss). Keys are
written once by the load; if a key is written more than once, any of its acknowledged or
indeterminate values counts as found (an overwrite is not a loss). An indeterminate write found
applied in any read-back is fine (counted); a failed write found applied is an anomaly worth a note
(Cassandra's Unavailable means not applied: the client misclassified an error), not a loss.

Convergence: the completion time of the last operation of the first read-back round in which every
acknowledged key was found in every DC that reads back, minus t_heal; None if never.

Expectations per DC, from meta["expect"]: "qos" -> availability >= qos; "failover" -> reroute time
<= failover_seconds (None fails); "all" -> every load operation ok (no failed, no indeterminate);
"none" -> not judged. Always: no acknowledged write lost. Each broken expectation is one line of
`problems`, worded for an operator, with the client settings that explain it (`client_hints`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cloudgate.drills.history import INVOKE, LOAD, READ_BACK, START, STOP, History, Op

EXPECTATIONS = ("qos", "failover", "all", "none")
MAX_KEYS_LISTED = 10
HINT_TIMEOUTS = {
    "request_timeout_seconds": "a request sent to a silent node waits that long before another is tried",
    "idle_heartbeat_interval_seconds": "connections to a silent node stay up until a heartbeat fails",
}


# --------------------------------------------------------------------------- the verdict
@dataclass(frozen=True)
class LoadResult:
    """What one client, or one DC's clients together, saw of the load."""

    name: str
    invoked: int
    ok: int
    failed: int  # certainly not applied
    indeterminate: int  # info, or never completed
    availability: float | None  # ok / invoked; None with no operation
    longest_outage_s: float
    longest_outage_from: float | None  # invoke time of its first not-ok operation; None without any
    reroute_s: float | None
    dc: str | None = None  # the DC (a client's own)
    expectation: str | None = None  # a DC's, from meta["expect"]
    met: bool | None = None  # None: not judged


@dataclass(frozen=True)
class Bucket:
    """Load operations invoked in one whole second of the drill, by outcome."""

    second: int
    ok: int = 0
    fail: int = 0
    info: int = 0


@dataclass(frozen=True)
class DrillVerdict:
    drill: str
    per_dc: dict[str, LoadResult]
    per_client: dict[str, LoadResult]
    availability: float | None
    invoked: int
    failed: int
    indeterminate: int
    acknowledged: int
    lost: tuple[tuple[str, str], ...]  # (dc, key)
    unverified: int
    unverified_keys: tuple[tuple[str, str], ...]
    indeterminate_found_applied: int
    failed_found_applied: int
    convergence_s: float | None
    t_fault: float | None
    t_heal: float | None
    timeline: dict[str, tuple[Bucket, ...]]  # per DC, one bucket per second from 0, all DCs alike
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # worth reading, not failing the drill
    qos: float | None = None
    failover_seconds: float | None = None
    fault: str | None = None  # the fault's description
    window_end: float | None = None  # t_heal, or the end of the history when never healed

    @property
    def passed(self) -> bool:
        return not self.problems

    def metrics(self) -> dict[str, float]:
        """Flat figures for trends and comparisons between runs; absent values are left out."""
        out: dict[str, float] = {}
        for dc, r in self.per_dc.items():
            _put(out, f"availability.{dc}", r.availability)
            _put(out, f"longest_outage_s.{dc}", r.longest_outage_s)
            _put(out, f"reroute_s.{dc}", r.reroute_s)
        _put(out, "availability.overall", self.availability)
        _put(out, "ops.invoked", self.invoked)
        _put(out, "ops.failed", self.failed)
        _put(out, "ops.indeterminate", self.indeterminate)
        _put(out, "writes.acknowledged", self.acknowledged)
        _put(out, "writes.lost", len(self.lost))
        _put(out, "writes.unverified", self.unverified)
        _put(out, "writes.indeterminate_found_applied", self.indeterminate_found_applied)
        _put(out, "writes.failed_found_applied", self.failed_found_applied)
        _put(out, "convergence_s", self.convergence_s)
        return out


def _put(out: dict[str, float], name: str, value: float | None) -> None:
    if value is not None:
        out[name] = float(value)


# --------------------------------------------------------------------------- pairing
@dataclass(frozen=True)
class Done:
    """An operation with its outcome: the invoke's identity, the first completion's result."""

    index: int
    f: str
    t: float  # invoke time
    type: str  # ok | fail | info
    t_done: float | None  # None: never completed
    process: str | None = None
    client: str | None = None
    dc: str | None = None
    key: str | None = None
    value: Any = None  # write/nemesis: from the invoke; read: from an ok completion
    round: int = 0
    error: str | None = None

    @property
    def last_time(self) -> float:
        return self.t if self.t_done is None else max(self.t, self.t_done)


def pair(ops: Iterable[Op]) -> tuple[list[Done], list[str]]:
    """Operations ordered by invoke time, and notes on what pairing had to ignore or assume."""
    invokes: dict[int, Op] = {}
    completions: dict[int, Op] = {}
    duplicates = extra_invokes = 0
    for op in ops:
        if op.type == INVOKE:
            if op.index in invokes:
                extra_invokes += 1
            else:
                invokes[op.index] = op
        elif op.index in completions:
            duplicates += 1
        else:
            completions[op.index] = op
    done: list[Done] = []
    for index, inv in invokes.items():
        c = completions.get(index)
        reads = inv.f in ("read", READ_BACK)
        value = _hashable((c.value if c is not None and c.type == "ok" else None) if reads else inv.value)
        done.append(Done(index=index, f=inv.f or "", t=inv.time, type=c.type if c else "info",
                         t_done=c.time if c else None, process=inv.process, client=inv.client, dc=inv.dc,
                         key=inv.key, value=value, round=inv.round or 0, error=c.error if c else None))
    done.sort(key=lambda d: (d.t, d.index))
    notes = []
    if duplicates:
        notes.append(f"{duplicates} duplicate completion(s) ignored: an operation's first completion counts")
    if extra_invokes:
        notes.append(f"{extra_invokes} invoke(s) reusing an index ignored: an index is allocated once")
    orphans = len(completions.keys() - invokes.keys())
    if orphans:
        notes.append(f"{orphans} completion(s) with no invoke ignored")
    never = sum(1 for d in done if d.t_done is None)
    if never:
        notes.append(f"{never} operation(s) never completed: counted indeterminate")
    return done, notes


# --------------------------------------------------------------------------- load figures
def longest_outage(ops: Sequence[Done]) -> tuple[float, float | None]:
    """(duration, start) of the longest run of not-ok operations; (0.0, None) without one."""
    best, best_from = 0.0, None
    streak: float | None = None
    for op in ops:
        if op.type != "ok":
            streak = op.t if streak is None else streak
            continue
        if streak is not None and (best_from is None or op.t - streak > best):
            best, best_from = op.t - streak, streak
        streak = None
    if streak is not None:
        end = max(op.last_time for op in ops)
        if best_from is None or end - streak > best:
            best, best_from = end - streak, streak
    return best, best_from


def reroute_time(ops: Sequence[Done], t_fault: float | None, t_end: float | None) -> float | None:
    """Seconds from the fault to the first ok after the last error inside the window (see module doc)."""
    if t_fault is None or t_end is None:
        return None
    window = [op for op in ops if t_fault <= op.t <= t_end]
    if not window:
        return None
    bad = [i for i, op in enumerate(window) if op.type != "ok"]
    if not bad:
        return 0.0
    after = window[bad[-1] + 1:]  # everything after the last error is ok
    return after[0].t - t_fault if after else None


def _result(name: str, ops: Sequence[Done], t_fault: float | None, t_end: float | None,
            dc: str | None = None) -> LoadResult:
    ok = sum(1 for op in ops if op.type == "ok")
    failed = sum(1 for op in ops if op.type == "fail")
    outage, outage_from = longest_outage(ops)
    return LoadResult(name=name, invoked=len(ops), ok=ok, failed=failed, indeterminate=len(ops) - ok - failed,
                      availability=ok / len(ops) if ops else None, longest_outage_s=outage,
                      longest_outage_from=outage_from, reroute_s=reroute_time(ops, t_fault, t_end), dc=dc)


def timeline(load: Sequence[Done], dcs: Sequence[str]) -> dict[str, tuple[Bucket, ...]]:
    """Per DC, per whole second since the start (by invoke time), ok / fail / info counts."""
    last = max((math.floor(op.t) for op in load), default=-1)
    counts = {dc: [[0, 0, 0] for _ in range(last + 1)] for dc in dcs}
    slot = {"ok": 0, "fail": 1, "info": 2}
    for op in load:
        if op.dc in counts and op.t >= 0:
            counts[op.dc][math.floor(op.t)][slot[op.type]] += 1
    return {dc: tuple(Bucket(s, *c) for s, c in enumerate(rows)) for dc, rows in counts.items()}


# --------------------------------------------------------------------------- the fault window
@dataclass(frozen=True)
class Window:
    t_fault: float | None
    t_heal: float | None
    end: float | None  # t_heal, or the end of the history when never healed
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def fault_window(done: Sequence[Done], meta: Mapping[str, Any]) -> Window:
    starts = [op for op in done if op.f == START]
    fault = _mapping(meta.get("fault"))
    described = f" ({fault['description']})" if fault.get("description") else ""
    if not starts:
        if fault:
            problem = f"no fault was injected: the history has no nemesis start{described}"
            return Window(None, None, None, (problem,))
        return Window(None, None, None, notes=("no fault in this drill (no nemesis start): a control run",))
    start = starts[0]
    notes = []
    if len(starts) > 1:
        notes.append(f"{len(starts) - 1} later nemesis start(s) ignored: one fault window is judged")
    if start.type == "fail":
        why = f": {start.error}" if start.error else ""
        return Window(None, None, None, (f"the fault was never injected: the nemesis start failed{why}; "
                                         "this drill is invalid",), tuple(notes))
    # from the invoke: a fault acts while the nemesis is still at work (the first of three VMs is
    # already down when the third is being stopped); from its completion, reroute would look shorter
    t_fault = start.t
    if start.type != "ok":
        why = start.error or ("never completed" if start.t_done is None else "info")
        notes.append(f"nemesis start indeterminate ({why}): the fault counts from its invoke, "
                     f"t={start.t:.1f} s")
    stops = [op for op in done if op.f == STOP and op.t >= start.t]
    if not stops:
        end = max(op.last_time for op in done)
        problem = (f"the fault was never healed: no nemesis stop in the history (the drill ended at "
                   f"t={end:.1f} s with the fault in place)")
        return Window(t_fault, None, end, (problem,), tuple(notes))
    stop = stops[0]
    problems = []
    if stop.type == "fail":
        problems.append(f"the heal failed: nemesis stop at t={stop.t:.1f} s failed"
                        f"{': ' + stop.error if stop.error else ''}; the target may still be faulted")
    return Window(t_fault, stop.t, stop.t, tuple(problems), tuple(notes))


# --------------------------------------------------------------------------- writes
@dataclass(frozen=True)
class Writes:
    acknowledged: int
    lost: tuple[tuple[str, str], ...]
    unverified: tuple[tuple[str, str], ...]
    indeterminate_found_applied: int
    failed_found_applied: tuple[tuple[str, str], ...]  # (dc, key) where a failed write was read back
    convergence_at: float | None  # completion of the last op of the first round where all was found
    read_back_dcs: tuple[str, ...]


def judge_writes(done: Sequence[Done]) -> Writes:
    writes = [op for op in done if op.f == "write"]
    acked = [op for op in writes if op.type == "ok"]
    found_ok: dict[str, set[Any]] = {}  # key -> the values a read-back may show without loss
    for op in writes:
        if op.type in ("ok", "info") and op.key is not None:
            found_ok.setdefault(op.key, set()).add(op.value)
    acked_keys = list(dict.fromkeys(op.key for op in acked if op.key is not None))
    reads = [op for op in done if op.f == READ_BACK and op.dc is not None and op.key is not None]
    dcs = tuple(dict.fromkeys(op.dc for op in reads if op.dc is not None))
    last: dict[tuple[str, str], Done] = {}
    for op in sorted(reads, key=lambda o: (o.round, o.t, o.index)):
        last[(op.dc, op.key)] = op  # type: ignore[index]

    def found(op: Done | None, key: str) -> bool:
        return (op is not None and op.type == "ok" and op.value is not None
                and op.value in found_ok.get(key, ()))

    lost, unverified = [], []
    for dc in dcs:
        for key in acked_keys:
            op = last.get((dc, key))
            if op is None or op.type != "ok":
                unverified.append((dc, key))
            elif not found(op, key):
                lost.append((dc, key))
    applied = {(op.key, op.value): op.dc for op in reads if op.type == "ok" and op.value is not None}
    info_found = sum(1 for op in writes if op.type == "info" and (op.key, op.value) in applied)
    failed_found = tuple((applied[(op.key, op.value)] or "?", op.key or "?") for op in writes
                         if op.type == "fail" and (op.key, op.value) in applied)
    return Writes(len(acked), tuple(lost), tuple(unverified), info_found, failed_found,
                  _converged_at(reads, dcs, acked_keys, found), dcs)


def _converged_at(reads: Sequence[Done], dcs: Sequence[str], keys: Sequence[str],
                  found: Callable[[Done | None, str], bool]) -> float | None:
    """End of the first round after which every acknowledged write reads back in every DC.

    Cumulative: a round may re-read only what earlier rounds did not find (the generator's
    read-back does), so each key counts by its latest read up to that round."""
    latest: dict[tuple[str | None, str | None], Done] = {}
    ended = 0.0
    for rnd in sorted({op.round for op in reads}, key=lambda r: (r is None, r or 0)):
        for op in sorted((o for o in reads if o.round == rnd), key=lambda o: (o.t, o.index)):
            latest[(op.dc, op.key)] = op
            ended = max(ended, op.last_time)
        if all(found(latest.get((dc, key)), key) for dc in dcs for key in keys):
            return ended
    return None


# --------------------------------------------------------------------------- the check
def check(history: History, qos: float | None = None, failover_seconds: float | None = None) -> DrillVerdict:
    """Judge a drill's history; thresholds not given come from its meta record."""
    meta = history.meta
    qos = _number(meta.get("qos")) if qos is None else qos
    failover_seconds = _number(meta.get("failover_seconds")) if failover_seconds is None else failover_seconds
    done, notes = pair(history.ops)
    window = fault_window(done, meta)
    load = [op for op in done if op.f in LOAD]
    expect = _mapping(meta.get("expect"))
    dcs = list(dict.fromkeys([*_strings(meta.get("dcs")), *(op.dc for op in load if op.dc), *expect]))
    per_dc = {dc: _result(dc, [op for op in load if op.dc == dc], window.t_fault, window.end, dc)
              for dc in dcs}
    clients: dict[str, list[Done]] = {}
    for op in load:
        clients.setdefault(op.client or op.process or "?", []).append(op)
    per_client = {name: _result(name, ops, window.t_fault, window.end, dc=ops[0].dc)
                  for name, ops in clients.items()}
    writes = judge_writes(done)
    ok = sum(1 for op in load if op.type == "ok")
    failed = sum(1 for op in load if op.type == "fail")
    invoked = len(load)

    lines: list[tuple[str | None, str]] = []  # (the DC whose expectation failed, for its hints; the line)
    for dc, kind in expect.items():
        line, met = _judge(per_dc[dc], kind, qos, failover_seconds, window, done, meta)
        per_dc[dc] = replace(per_dc[dc], expectation=str(kind), met=met)
        if line:
            lines.append((dc if met is False else None, line))
    for dc in dict.fromkeys(lost_dc for lost_dc, _ in writes.lost):
        keys = [key for lost_dc, key in writes.lost if lost_dc == dc]
        lines.append((None, f"{_count(len(keys), 'acknowledged write')} lost in {dc}: {_keys(keys)}"))
    notes.extend(_write_notes(writes))
    verdict = DrillVerdict(
        drill=str(meta.get("drill", "?")), per_dc=per_dc, per_client=per_client,
        availability=ok / invoked if invoked else None, invoked=invoked, failed=failed,
        indeterminate=invoked - ok - failed, acknowledged=writes.acknowledged, lost=writes.lost,
        unverified=len(writes.unverified), unverified_keys=writes.unverified,
        indeterminate_found_applied=writes.indeterminate_found_applied,
        failed_found_applied=len(writes.failed_found_applied),
        convergence_s=(writes.convergence_at - window.t_heal
                       if writes.convergence_at is not None and window.t_heal is not None else None),
        t_fault=window.t_fault, t_heal=window.t_heal, timeline=timeline(load, dcs),
        notes=(*window.notes, *notes),
        qos=qos, failover_seconds=failover_seconds, fault=_mapping(meta.get("fault")).get("description"),
        window_end=window.end)
    problems = [*window.problems, *("; ".join([line, *(_dc_hints(meta, verdict, dc) if dc else [])])
                                    for dc, line in lines)]
    return replace(verdict, problems=tuple(problems))


def _judge(r: LoadResult, kind: Any, qos: float | None, failover_seconds: float | None, window: Window,
           done: Sequence[Done], meta: Mapping[str, Any]) -> tuple[str | None, bool | None]:
    """The problem line for one DC's expectation (None when met), and whether it was met (None: unjudged)."""
    dc = r.name
    if kind == "none":
        return None, None
    if kind not in EXPECTATIONS:
        return f"{dc}: unknown expectation {kind!r} in meta (one of {', '.join(EXPECTATIONS)})", None
    if not r.invoked:
        return f"{dc}: no load operation of {dc} in the history: expectation {kind!r} cannot be judged", None
    outage = (f"longest outage {r.longest_outage_s:.1f} s from t={r.longest_outage_from:.1f} s"
              if r.longest_outage_from is not None else "no outage")
    tally = f"{r.failed} failed, {r.indeterminate} indeterminate of {r.invoked} operations; {outage}"
    if kind == "qos":
        if qos is None:
            return f"{dc}: expectation qos but no qos threshold (meta qos, or pass one)", None
        if r.availability is not None and r.availability >= qos:
            return None, True
        return f"{dc}: availability {pct(r.availability)} < qos {qos * 100:.10g} % ({tally})", False
    if kind == "all":
        if r.ok == r.invoked:
            return None, True
        return (f"{dc}: {r.invoked - r.ok} of {r.invoked} operations did not succeed, all were expected to "
                f"({r.failed} failed, {r.indeterminate} indeterminate; {outage})"), False
    # failover
    if window.t_fault is None or window.end is None:
        if window.problems:  # the fault's own problem says why
            return None, None
        return f"{dc}: expectation failover but no fault was injected in this drill", None
    if failover_seconds is None:
        return f"{dc}: expectation failover but no failover_seconds threshold (meta, or pass one)", None
    if r.reroute_s is not None and r.reroute_s <= failover_seconds:
        return None, True
    down = _strings(_mapping(meta.get("fault")).get("dcs_down"))
    was = "was" if len(down) == 1 else "were"
    during = f"while {' and '.join(down)} {was} down" if down else "during the fault"
    until = (f"the heal at t={window.t_heal:.1f} s" if window.t_heal is not None
             else f"the end at t={window.end:.1f} s")
    in_window = [op for op in done if op.f in LOAD and op.dc == dc and window.t_fault <= op.t <= window.end]
    if not in_window:
        return (f"{dc}: no operation of {dc} was invoked {during} (t={window.t_fault:.1f} s to {until}): "
                f"failover cannot be judged"), False
    first_error = next(op.t for op in in_window if op.type != "ok")
    if r.reroute_s is None:
        return f"{dc}: never rerouted {during} (errors from t={first_error:.1f} s to {until})", False
    return (f"{dc}: rerouted after {r.reroute_s:.1f} s > failover {failover_seconds:g} s "
            f"(errors from t={first_error:.1f} s to t={window.t_fault + r.reroute_s:.1f} s)"), False


def _write_notes(w: Writes) -> list[str]:
    notes = []
    if w.acknowledged and not w.read_back_dcs:
        notes.append("no read-back in this history: lost writes were not checked")
    if w.unverified:
        notes.append(f"{_count(len(w.unverified), 'acknowledged key')} unverified (last read-back failed, "
                     f"timed out or never happened): {_keys([f'{dc}/{key}' for dc, key in w.unverified])}")
    if w.failed_found_applied:
        notes.append(f"{_count(len(w.failed_found_applied), 'failed write')} found applied: "
                     f"{_keys([f'{dc}/{key}' for dc, key in w.failed_found_applied])}; a fail must mean not "
                     "applied (Cassandra's Unavailable): check how the client classifies its errors")
    return notes


# --------------------------------------------------------------------------- client hints
def client_hints(meta: Mapping[str, Any], verdict: DrillVerdict) -> list[str]:
    """Client settings that explain the DCs whose expectation failed, one line each."""
    return [hint for dc, r in verdict.per_dc.items() if r.met is False
            for hint in _dc_hints(meta, verdict, dc)]


def _dc_hints(meta: Mapping[str, Any], verdict: DrillVerdict, dc: str) -> list[str]:
    down = set(_strings(_mapping(meta.get("fault")).get("dcs_down")))
    hints = []
    for name, cfg in _mapping(meta.get("clients")).items():
        cfg = _mapping(cfg)
        if cfg.get("dc") != dc:
            continue
        local = cfg.get("local_dc", dc)
        seen = verdict.per_client.get(name) or verdict.per_dc[dc]
        if cfg.get("used_hosts_per_remote_dc") == 0 and local in down and seen.availability is not None:
            hints.append(f"{name} has used_hosts_per_remote_dc 0: it never uses another datacenter, so "
                         f"losing {local} cost it {pct(1 - seen.availability)} of its requests for "
                         f"{seen.longest_outage_s:.1f} s")
        budget = verdict.failover_seconds
        for setting, why in HINT_TIMEOUTS.items():
            value = _number(cfg.get(setting))
            if value is not None and budget is not None and value >= budget:
                hints.append(f"{name} has {setting} {value:g} ≥ failover {budget:g} s: {why}, "
                             "a likely cause of slow rerouting")
        nodes_down = _strings(_mapping(meta.get("fault")).get("nodes_down"))
        if nodes_down and not down and not cfg.get("speculative_execution") and seen.failed + seen.indeterminate:
            timeout = _number(cfg.get("request_timeout_seconds"))
            hints.append(f"{name} has no speculative_execution: each request routed to a silent node waited "
                         f"request_timeout_seconds ({timeout:g} s) and failed, until the driver marked the node down"
                         if timeout is not None else
                         f"{name} has no speculative_execution: requests routed to a silent node failed until the "
                         "driver marked it down")
    return hints


# --------------------------------------------------------------------------- wording
def pct(x: float | None) -> str:
    """A fraction as a percentage an operator can compare: 0.98625 -> '98.62 %', never '100.00 %' below 1."""
    if x is None:
        return "n/a"
    for digits in range(2, 7):
        text = f"{x * 100:.{digits}f}"
        if x >= 1 or float(text) < 100:
            break
    return f"{text} %"


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _keys(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:MAX_KEYS_LISTED])
    return shown + (f" +{len(keys) - MAX_KEYS_LISTED} more" if len(keys) > MAX_KEYS_LISTED else "")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def _hashable(value: Any) -> Any:
    """A value as a set member: JSON lists and objects (never written by the load) compare by their text."""
    return json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else value


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
