"""The checker on histories written by hand: each rule of cloudgate/drills/checker.py, figure by figure.

The drill in these tests: two DCs, one writer per DC at 4 writes a second (times exact in binary)
from t=0 to t=30, dc1 lost at t=10 and healed at t=25, read-back rounds after the heal.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cloudgate.drills.checker import check, client_hints, longest_outage, pct
from cloudgate.drills.history import History, HistoryWriter, Op
from cloudgate.drills.verdict_text import check_history_file, render

RATE = 4  # writes per second per client
T_FAULT, T_HEAL, T_END = 10.0, 25.0, 30.0


def client(dc: str, **settings: Any) -> dict[str, Any]:
    return {"dc": dc, "local_dc": dc, "used_hosts_per_remote_dc": 3, "consistency": "LOCAL_QUORUM",
            "request_timeout_seconds": 2.0, "idle_heartbeat_interval_seconds": 5, "retry": "default",
            "speculative_execution": None, "load_balancing": "token_aware", **settings}


class Drill:
    """A history built op by op: `op` records an invoke and, unless `outcome` is None, its completion."""

    def __init__(self, **meta: Any) -> None:
        self.meta: dict[str, Any] = {
            "type": "meta", "v": 1, "drill": "dc-loss", "target": "lab", "dcs": ["dc1", "dc2"], "qos": 0.999,
            "failover_seconds": 10, "expect": {"dc1": "failover", "dc2": "qos"},
            "clients": {"dc1-app": client("dc1"), "dc2-app": client("dc2")},
            "fault": {"kind": "dc_loss", "description": "force-stop every Cassandra VM of dc1",
                      "dcs_down": ["dc1"], "nodes_down": ["198.18.1.201"]},
            **meta}
        self.ops: list[Op] = []
        self.next = 0
        self.keys: dict[str, list[str]] = {}  # client -> keys of its acknowledged writes

    def op(self, f: str, t: float, outcome: str | None = "ok", *, done: float | None = None,
           client: str | None = "dc1-app", dc: str | None = "dc1", key: str | None = None, value: Any = None,
           read: Any = None, rnd: int | None = None, process: str | None = None) -> int:
        index, self.next = self.next, self.next + 1
        reads = f in ("read", "read-back")
        ident = dict(f=f, process=process or f"{client}/{f}", client=client, dc=dc, key=key, round=rnd)
        self.ops.append(Op(index=index, type="invoke", time=t, value=None if reads else value, **ident))
        if outcome is not None:
            self.ops.append(Op(index=index, type=outcome, time=t + 0.01 if done is None else done,
                               value=read if reads else value, error=None if outcome == "ok" else "boom",
                               **ident))
        return index

    def load(self, client: str, dc: str, outcome: Any = lambda t: "ok", start: float = 0.0,
             end: float = T_END) -> None:
        """Fixed-rate writes, each to a key of its own; outcome(t) says how each completes."""
        for i in range(int(start * RATE), int(end * RATE)):
            t = i / RATE
            key = f"k-{client}-{i:06d}"
            result = outcome(t)
            self.op("write", t, result, client=client, dc=dc, key=key, value=i)
            if result == "ok":
                self.keys.setdefault(client, []).append(key)

    def nemesis(self, start: str = "ok", heal: bool = True) -> None:
        self.op("start", T_FAULT, start, done=T_FAULT + 0.5, client=None, dc=None, process="nemesis",
                value="force-stop every Cassandra VM of dc1")
        if heal:
            self.op("stop", T_HEAL, "ok", done=T_HEAL + 1, client=None, dc=None, process="nemesis",
                    value="start them again")

    def read_back(self, rnd: int, t: float, *, missing: dict[str, set[str]] | None = None,
                  outcome: dict[tuple[str, str], str] | None = None,
                  dcs: tuple[str, ...] = ("dc1", "dc2")) -> None:
        """Read every written key (ok or not) back from each DC: found, unless listed missing in that DC."""
        values = {op.key: op.value for op in self.ops if op.f == "write" and op.type == "invoke"}
        for dc in dcs:
            for key, value in values.items():
                result = (outcome or {}).get((dc, key), "ok")
                found = None if key in (missing or {}).get(dc, set()) else value
                self.op("read-back", t, result, client="checker", dc=dc, key=key, read=found, rnd=rnd,
                        process=f"read-back/{dc}")
                t += 0.001

    def history(self) -> History:
        return History(meta=dict(self.meta), ops=list(self.ops))


def failing(t0: float, t1: float, how: str = "fail") -> Any:
    return lambda t: how if t0 <= t < t1 else "ok"


def healthy() -> Drill:
    d = Drill()
    d.nemesis()
    d.load("dc1-app", "dc1")
    d.load("dc2-app", "dc2")
    d.read_back(1, 31.0)
    return d


# --------------------------------------------------------------------------- availability and time
def test_a_healthy_drill_passes_with_everything_available() -> None:
    v = check(healthy().history())
    assert v.passed, v.problems
    assert v.availability == 1.0
    assert v.per_dc["dc1"].availability == 1.0 and v.per_dc["dc2"].availability == 1.0
    assert v.per_dc["dc1"].invoked == 120 and v.invoked == 240
    assert (v.t_fault, v.t_heal) == (T_FAULT, T_HEAL)
    assert v.per_dc["dc1"].reroute_s == 0.0 and v.per_dc["dc1"].longest_outage_s == 0.0
    assert v.per_dc["dc1"].longest_outage_from is None
    assert v.acknowledged == 240 and v.lost == () and v.unverified == 0
    assert v.convergence_s == pytest.approx(31.0 + 0.001 * 479 + 0.01 - T_HEAL)
    assert v.per_dc["dc1"].met is True and v.per_dc["dc2"].met is True


def test_an_outage_streak_gives_the_longest_outage_and_the_reroute_time_exactly() -> None:
    d = Drill()
    d.nemesis()
    d.load("dc1-app", "dc1", failing(10.0, 13.5))
    d.load("dc2-app", "dc2")
    v = check(d.history())
    dc1 = v.per_dc["dc1"]
    assert (dc1.failed, dc1.ok, dc1.indeterminate) == (14, 106, 0)
    assert dc1.longest_outage_s == 3.5 and dc1.longest_outage_from == 10.0  # to the next ok's invoke at 13.5
    assert dc1.reroute_s == 3.5  # first ok after the last error (13.5) minus t_fault (10.0)
    assert v.per_client["dc1-app"] == replace(dc1, name="dc1-app", expectation=None, met=None)
    assert v.passed, v.problems  # 3.5 s <= failover 10 s; dc2 untouched
    assert v.metrics()["reroute_s.dc1"] == 3.5 and v.metrics()["longest_outage_s.dc1"] == 3.5


def test_a_dc_aggregates_its_clients_and_is_out_only_while_all_of_them_are() -> None:
    d = Drill()
    d.nemesis()
    d.load("dc1-app", "dc1", failing(10.0, 14.0))
    for i in range(int(10 * RATE), int(30 * RATE)):  # a reader in dc1, out a little later
        t = i / RATE + 0.125
        d.op("read", t, "fail" if 11.0 <= t < 16.0 else "ok", client="dc1-reader", key=f"r{i}", read=None)
    v = check(d.history())
    assert v.per_client["dc1-app"].longest_outage_s == 4.0
    assert v.per_client["dc1-reader"].longest_outage_s == pytest.approx(16.125 - 11.125)
    # the reader's oks break the writer's errors until 10.875; then both fail until the writer's ok at 14.0
    assert v.per_dc["dc1"].longest_outage_from == 11.0 and v.per_dc["dc1"].longest_outage_s == 3.0
    # the last error is the reader's at 15.875, the writer's next write (16.0) is ok
    assert v.per_dc["dc1"].reroute_s == 6.0 and v.per_client["dc1-reader"].reroute_s == pytest.approx(6.125)
    assert v.per_dc["dc1"].invoked == 120 + 80


def test_never_rerouted_is_a_problem_with_the_client_setting_that_explains_it() -> None:
    d = Drill(clients={"dc1-app": client("dc1", used_hosts_per_remote_dc=0), "dc2-app": client("dc2")})
    d.nemesis()
    d.load("dc1-app", "dc1", failing(10.0, 26.0))
    d.load("dc2-app", "dc2")
    v = check(d.history())
    assert v.per_dc["dc1"].reroute_s is None and v.per_dc["dc1"].met is False
    assert v.problems == (
        "dc1: never rerouted while dc1 was down (errors from t=10.0 s to the heal at t=25.0 s); "
        "dc1-app has used_hosts_per_remote_dc 0: it never uses another datacenter, so losing dc1 cost it "
        "53.33 % of its requests for 16.0 s",)
    assert client_hints(d.meta, v) == [v.problems[0].split("; ", 1)[1]]
    assert "reroute_s.dc1" not in v.metrics()


def test_a_slow_reroute_names_the_timeouts_at_least_the_failover_budget() -> None:
    slow = client("dc1", request_timeout_seconds=12, idle_heartbeat_interval_seconds=30)
    d = Drill(clients={"dc1-app": slow})
    d.nemesis()
    d.load("dc1-app", "dc1", failing(10.0, 22.0))
    d.load("dc2-app", "dc2")
    (problem,) = check(d.history()).problems
    assert problem.startswith("dc1: rerouted after 12.0 s > failover 10 s "
                              "(errors from t=10.0 s to t=22.0 s); ")
    assert "dc1-app has request_timeout_seconds 12 ≥ failover 10 s" in problem
    assert "dc1-app has idle_heartbeat_interval_seconds 30 ≥ failover 10 s" in problem
    assert "used_hosts_per_remote_dc" not in problem


def test_timeouts_are_indeterminate_neither_failed_nor_ok() -> None:
    d = Drill()
    d.nemesis()
    d.load("dc1-app", "dc1")
    d.load("dc2-app", "dc2", lambda t: "info" if t in (12.0, 12.25, 12.5) else failing(15, 16)(t))
    v = check(d.history())
    dc2 = v.per_dc["dc2"]
    assert (dc2.ok, dc2.failed, dc2.indeterminate, dc2.invoked) == (113, 4, 3, 120)
    assert dc2.availability == pytest.approx(113 / 120)
    assert v.problems == ("dc2: availability 94.17 % < qos 99.9 % (4 failed, 3 indeterminate "
                          "of 120 operations; longest outage 1.0 s from t=15.0 s)",)
    assert v.metrics()["ops.indeterminate"] == 3 and v.metrics()["ops.failed"] == 4
    second_12, second_15 = v.timeline["dc2"][12], v.timeline["dc2"][15]
    assert (second_12.ok, second_12.info, second_15.fail) == (1, 3, 4)


def test_expectation_all_wants_every_operation_ok() -> None:
    d = Drill(expect={"dc1": "none", "dc2": "all"})
    d.nemesis()
    d.load("dc1-app", "dc1", failing(10, 30))
    d.load("dc2-app", "dc2", lambda t: "info" if t == 20.0 else "ok")
    v = check(d.history())
    assert v.per_dc["dc1"].met is None
    assert v.problems == ("dc2: 1 of 120 operations did not succeed, all were expected to "
                          "(0 failed, 1 indeterminate; longest outage 0.2 s from t=20.0 s)",)


def test_a_duplicate_completion_counts_once() -> None:
    d = healthy()
    first = next(op for op in d.ops if op.f == "write" and op.type == "ok")
    d.ops.append(first)  # the same ok line twice
    d.ops.append(Op(index=first.index, type="fail", time=first.time + 1, f="write"))  # a contradicting one
    v = check(d.history())
    assert v.per_dc["dc1"].ok == 120 and v.per_dc["dc1"].failed == 0 and v.acknowledged == 240
    assert any("2 duplicate completion(s) ignored" in n for n in v.notes)


def test_an_invoke_never_completed_is_indeterminate() -> None:
    d = Drill()
    d.nemesis()
    d.load("dc2-app", "dc2")
    d.op("write", 30.0, None, client="dc2-app", dc="dc2", key="k-last", value=999)  # the drill was killed
    v = check(d.history())
    assert v.per_dc["dc2"].indeterminate == 1 and v.per_dc["dc2"].failed == 0 and v.acknowledged == 120
    assert v.per_dc["dc2"].longest_outage_s == 0.0 and v.per_dc["dc2"].longest_outage_from == 30.0
    assert any("1 operation(s) never completed" in n for n in v.notes)


def test_a_late_acknowledgement_is_an_acknowledgement_placed_at_its_invoke() -> None:
    d = Drill(expect={})
    d.nemesis()
    d.op("write", 11.0, "ok", done=40.0, client="dc2-app", dc="dc2", key="k-late", value=7)
    d.read_back(1, 41.0, missing={"dc1": {"k-late"}})
    v = check(d.history())
    assert v.acknowledged == 1 and v.per_dc["dc2"].ok == 1
    assert v.timeline["dc2"][11].ok == 1 and len(v.timeline["dc2"]) == 12
    assert v.lost == (("dc1", "k-late"),)


# --------------------------------------------------------------------------- the fault itself
def test_a_fault_never_injected_makes_the_drill_invalid() -> None:
    d = Drill()
    d.nemesis(start="fail")
    d.load("dc1-app", "dc1")
    d.load("dc2-app", "dc2")
    v = check(d.history())
    assert v.t_fault is None and v.per_dc["dc1"].reroute_s is None
    assert v.problems == ("the fault was never injected: the nemesis start failed: boom; "
                          "this drill is invalid",)


def test_a_fault_never_healed_is_a_problem_and_runs_to_the_end() -> None:
    d = Drill(expect={"dc1": "failover"})
    d.nemesis(heal=False)
    d.load("dc1-app", "dc1", failing(10, 12))
    v = check(d.history())
    assert v.t_heal is None and v.window_end == pytest.approx(29.76)
    assert v.per_dc["dc1"].reroute_s == 2.0 and v.per_dc["dc1"].met is True
    assert v.problems == ("the fault was never healed: no nemesis stop in the history "
                          "(the drill ended at t=29.8 s with the fault in place)",)


def test_a_control_run_without_fault_is_judged_on_availability() -> None:
    d = Drill(expect={"dc2": "all"})
    del d.meta["fault"]
    d.load("dc2-app", "dc2")
    v = check(d.history())
    assert v.passed and v.t_fault is None and v.per_dc["dc2"].reroute_s is None
    assert any("control run" in n for n in v.notes)


def test_a_heal_that_failed_is_a_problem() -> None:
    d = healthy()
    d.ops = [op if not (op.f == "stop" and op.type == "ok") else replace(op, type="fail", error="vm stuck")
             for op in d.ops]
    assert check(d.history()).problems == ("the heal failed: nemesis stop at t=25.0 s failed: vm stuck; "
                                           "the target may still be faulted",)


def test_a_dc_silent_during_the_whole_fault_cannot_show_it_rerouted() -> None:
    d = Drill(expect={"dc1": "failover"})
    d.nemesis()
    d.load("dc1-app", "dc1", end=T_FAULT)
    d.load("dc1-app", "dc1", start=26.0)
    v = check(d.history())
    assert v.per_dc["dc1"].reroute_s is None
    assert v.problems == ("dc1: no operation of dc1 was invoked while dc1 was down (t=10.0 s to the heal at "
                          "t=25.0 s): failover cannot be judged",)


def test_thresholds_given_to_check_win_over_the_meta() -> None:
    d = Drill()
    d.nemesis()
    d.load("dc1-app", "dc1", failing(10.0, 13.0))
    d.load("dc2-app", "dc2", failing(12.0, 12.5))
    assert check(d.history()).problems[0].startswith("dc2: availability 98.33 % < qos 99.9 %")
    assert check(d.history(), qos=0.98, failover_seconds=3.0).passed
    (problem,) = check(d.history(), qos=0.98, failover_seconds=2.5).problems
    assert problem.startswith("dc1: rerouted after 3.0 s > failover 2.5 s")


def test_unknown_expectations_and_broken_pairing_are_said() -> None:
    d = healthy()
    d.meta["expect"] = {"dc1": "sometimes", "dc3": "qos"}
    d.ops.append(Op(index=10_000, type="ok", time=3.0))  # no invoke
    d.ops.append(Op(index=0, type="invoke", time=3.0, f="write"))  # an index reused
    v = check(d.history())
    assert v.problems == (
        "dc1: unknown expectation 'sometimes' in meta (one of qos, failover, all, none)",
        "dc3: no load operation of dc3 in the history: expectation 'qos' cannot be judged")
    assert {"1 completion(s) with no invoke ignored",
            "1 invoke(s) reusing an index ignored: an index is allocated once"} <= set(v.notes)


# --------------------------------------------------------------------------- writes
def test_a_write_lost_in_dc2_only_is_reported_by_key() -> None:
    d = healthy()
    gone = set(d.keys["dc1-app"][40:43])
    d.read_back(2, 40.0, missing={"dc2": gone})
    v = check(d.history())
    assert v.lost == tuple(("dc2", k) for k in sorted(gone))
    assert v.problems == (f"3 acknowledged writes lost in dc2: {', '.join(sorted(gone))}",)
    assert v.convergence_s is not None  # round 1 had found everything: loss came later
    assert v.metrics()["writes.lost"] == 3


def test_many_lost_keys_are_listed_ten_then_counted() -> None:
    d = healthy()
    d.read_back(2, 40.0, missing={"dc1": set(d.keys["dc2-app"][:25])})
    (problem,) = check(d.history()).problems
    assert problem.startswith("25 acknowledged writes lost in dc1: k-dc2-app-000000, ")
    assert problem.endswith(", k-dc2-app-000009 +15 more")


def test_a_value_other_than_the_one_acknowledged_is_lost() -> None:
    d = Drill(expect={})
    d.op("write", 1.0, "ok", client="dc1-app", key="k", value=1)
    d.op("read-back", 5.0, "ok", client="checker", key="k", read=2, rnd=1)
    assert check(d.history()).lost == (("dc1", "k"),)


def test_unverified_read_backs_are_noted_not_lost() -> None:
    d = healthy()
    k1, k2 = d.keys["dc1-app"][0], d.keys["dc1-app"][1]
    d.read_back(2, 40.0, outcome={("dc2", k1): "info", ("dc1", k2): "fail"})
    d.op("write", 29.9, "ok", client="dc2-app", dc="dc2", key="k-never-read", value=1)
    v = check(d.history())
    assert v.passed, v.problems
    never = {("dc1", "k-never-read"), ("dc2", "k-never-read")}
    assert set(v.unverified_keys) == {("dc2", k1), ("dc1", k2), *never}
    assert v.unverified == 4 and v.lost == ()
    assert any(n.startswith("4 acknowledged keys unverified") for n in v.notes)


def test_convergence_is_found_in_round_two() -> None:
    d = Drill()
    d.nemesis()
    d.load("dc1-app", "dc1")
    d.load("dc2-app", "dc2")
    d.read_back(1, 31.0, missing={"dc2": set(d.keys["dc1-app"][-3:])})  # hints not replayed yet
    d.read_back(2, 36.0)
    v = check(d.history())
    assert v.passed and v.lost == ()
    assert v.convergence_s == pytest.approx(36.0 + 0.001 * 479 + 0.01 - T_HEAL)


def test_convergence_counts_a_round_that_re_reads_only_what_was_missing() -> None:
    """The generator's read-back re-reads, in round 2, only the keys round 1 did not find."""
    d = Drill()
    d.nemesis()
    d.load("dc1-app", "dc1")
    d.load("dc2-app", "dc2")
    late = sorted(d.keys["dc1-app"][-3:])
    d.read_back(1, 31.0, missing={"dc2": set(late)})
    values = {op.key: op.value for op in d.ops if op.f == "write" and op.type == "invoke"}
    for i, key in enumerate(late):
        d.op("read-back", 36.0 + i, "ok", client="checker", dc="dc2", key=key, read=values[key], rnd=2,
             process="read-back/dc2")
    v = check(d.history())
    assert v.passed and v.lost == ()
    assert v.convergence_s == pytest.approx(38.0 + 0.01 - T_HEAL)


def test_no_convergence_when_a_round_never_finds_everything() -> None:
    d = healthy()
    d.ops = [op for op in d.ops if op.f != "read-back"]
    d.read_back(1, 31.0, missing={"dc2": {d.keys["dc1-app"][0]}})
    v = check(d.history())
    assert v.convergence_s is None and v.lost == (("dc2", d.keys["dc1-app"][0]),)
    assert "convergence_s" not in v.metrics()


def test_an_indeterminate_write_found_applied_or_not_is_fine() -> None:
    d = Drill()
    d.nemesis()
    d.load("dc1-app", "dc1", lambda t: "info" if t in (11.0, 11.25) else "ok")
    d.load("dc2-app", "dc2")
    d.read_back(1, 31.0, missing={"dc1": {"k-dc1-app-000045"}, "dc2": {"k-dc1-app-000045"}})
    v = check(d.history())
    assert v.passed, v.problems
    assert v.indeterminate_found_applied == 1 and v.lost == ()


def test_a_failed_write_found_applied_is_a_note_not_a_loss() -> None:
    d = Drill()
    d.nemesis()
    d.load("dc1-app", "dc1", lambda t: "fail" if t == 11.0 else "ok")
    d.load("dc2-app", "dc2")
    d.read_back(1, 31.0)  # reads the failed write's value back too
    v = check(d.history())
    assert v.passed, v.problems
    assert v.failed_found_applied == 1 and v.lost == ()
    assert any(n.startswith("1 failed write found applied") and "Unavailable" in n for n in v.notes)


# --------------------------------------------------------------------------- wording and metrics
def test_percentages_never_round_up_to_a_perfect_score() -> None:
    assert pct(0.98625) in ("98.62 %", "98.63 %")
    assert pct(0.99999) == "99.999 %" and pct(1.0) == "100.00 %" and pct(None) == "n/a"


def test_longest_outage_of_nothing_is_nothing() -> None:
    assert longest_outage([]) == (0.0, None)


def test_metrics_are_flat_and_complete() -> None:
    m = check(healthy().history()).metrics()
    assert m["availability.dc1"] == 1.0 and m["availability.overall"] == 1.0
    assert m["writes.acknowledged"] == 240 and m["writes.lost"] == 0 and m["ops.failed"] == 0
    assert {"longest_outage_s.dc1", "reroute_s.dc2", "convergence_s", "ops.indeterminate"} <= m.keys()
    assert all(isinstance(x, float) for x in m.values())


# --------------------------------------------------------------------------- `cloudgate drill check`
def _write(path: Path, d: Drill) -> Path:
    with HistoryWriter(path) as w:
        w.meta({k: v for k, v in d.meta.items() if k not in ("type", "v")})
        for op in d.ops:
            fields = {k: v for k, v in op.__dict__.items() if k not in ("index", "type")}
            if op.type == "invoke":
                w.invoke(**fields)
            else:
                w.complete(op.index, op.type, **fields)
    return path


def test_check_history_file_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_history_file(str(_write(tmp_path / "good.jsonl", healthy()))) == 0
    out = capsys.readouterr().out
    assert "PASSED (qos 99.9 %, failover 10 s)" in out
    assert out.splitlines()[0].startswith("drill dc-loss: fault at")

    bad = healthy()
    bad.read_back(2, 40.0, missing={"dc2": {bad.keys["dc1-app"][0]}})
    assert check_history_file(str(_write(tmp_path / "bad.jsonl", bad))) == 1
    assert "FAILED" in capsys.readouterr().out

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"type":"meta","v":1}\n{oops\n{"type":"invoke","index":0,"f":"write","time":0}\n')
    assert check_history_file(str(broken)) == 2
    err = capsys.readouterr().err
    assert err == (f"cloudgate drill check: {broken}:2: not a JSON record (Expecting property name "
                   "enclosed in double quotes: line 1 column 2 (char 1))\n")

    assert check_history_file(str(tmp_path / "absent.jsonl")) == 2  # OSError: one line, no traceback
    absent = tmp_path / "absent.jsonl"
    assert capsys.readouterr().err == f"cloudgate drill check: {absent}: No such file or directory\n"


def test_render_lists_the_clients_of_a_dc_that_has_several() -> None:
    d = healthy()
    d.op("read", 5.0, "info", client="dc1-reader", key="k-dc1-app-000000")
    lines = render(check(d.history())).splitlines()
    rows = [line.split()[:5] for line in lines[2:6]]
    assert rows == [["dc1", "121", "120", "0", "1"], ["dc1-app", "120", "120", "0", "0"],
                    ["dc1-reader", "1", "0", "0", "1"], ["dc2", "120", "120", "0", "0"]]


def test_render_shows_the_table_the_writes_and_the_problems() -> None:
    d = Drill(clients={"dc1-app": client("dc1", used_hosts_per_remote_dc=0), "dc2-app": client("dc2")})
    d.nemesis()
    d.load("dc1-app", "dc1", failing(10.0, 26.0))
    d.load("dc2-app", "dc2")
    d.read_back(1, 31.0)
    text = render(check(d.history()))
    lines = text.splitlines()
    assert lines[0] == ("drill dc-loss: fault at t=10.0 s, healed at t=25.0 s "
                        "(force-stop every Cassandra VM of dc1)")
    assert lines[1].split() == ["ops", "ok", "failed", "indet.", "availability", "longest", "outage",
                                "reroute", "expect"]
    assert lines[2].split() == ["dc1", "120", "56", "64", "0", "46.67", "%", "16.0", "s", "from", "t=10.0",
                                "never", "failover", "FAILED"]
    assert lines[3].split()[:2] == ["dc2", "120"]  # one client per DC: no client rows
    assert lines[4].split() == ["all", "240", "176", "64", "0", "73.33", "%"]
    assert "writes: 176 acknowledged, 0 lost, 0 unverified" in text
    assert "\nFAILED (qos 99.9 %, failover 10 s)\n  - dc1: never rerouted" in text


def test_a_silent_node_loss_without_speculative_execution_names_that_setting() -> None:
    d = Drill(expect={"dc1": "qos", "dc2": "qos"})
    d.meta["fault"] = {"kind": "vm_loss", "description": "force-stop cass-dc2-1", "dcs_down": [],
                       "nodes_down": ["198.18.2.201"]}
    d.nemesis()
    d.load("dc1-app", "dc1")
    d.load("dc2-app", "dc2", outcome=failing(12.0, 15.0, "info"))
    d.read_back(1, 31.0)
    (problem,) = check(d.history()).problems
    assert problem.startswith("dc2: availability")
    assert "dc2-app has no speculative_execution: each request routed to a silent node waited" in problem


def test_cloudgate_drill_check_judges_a_history_file_from_the_command_line(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from cloudgate.cli import main

    assert main(["drill", "check", str(_write(tmp_path / "good.jsonl", healthy()))]) == 0
    assert "PASSED" in capsys.readouterr().out
    assert main(["drill", "check", str(tmp_path / "absent.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cloudgate drill check: ") and "absent.jsonl" in err and err.count("\n") == 1
