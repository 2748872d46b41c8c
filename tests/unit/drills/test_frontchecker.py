"""The front drills' checker on records written by hand: each rule of cloudgate/drills/frontchecker.py,
then the picture of cloudgate/drills/frontplot.py (a PNG is produced; no pixel is asserted).

The drill in these tests: web-dc1-2 is killed silently at T0 (epoch seconds, exact in binary) and
healed 20 s later; dc1/www is probed at 8 requests a second (50 in the lab; fewer keeps the counts
readable) from 10 s before the fault to 30 s after it; both haproxy nodes of dc1 are sampled every
0.25 s. haproxy's settings predict 3.25 s at worst; the promise is 3.5 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cloudgate.drills.frontchecker import (
    BackUp,
    Detection,
    FailedWindow,
    FrontDrillError,
    FrontDrillVerdict,
    ProbeRequest,
    StateSample,
    VipEpisode,
    VipResult,
    VipSample,
    check,
    read_meta,
    read_probe_history,
    read_state_samples,
    read_vip_samples,
    status_word,
)
from cloudgate.drills.frontplot import Bucket, buckets, plot_front_timeline, state_intervals

T0 = 1_800_000_000.0  # fault_at


# --------------------------------------------------------------------------- records and readers
def test_a_request_is_ok_4xx_failed_or_overloaded_as_the_probe_counts_it() -> None:
    def r(status: int | None, error: str | None = None) -> ProbeRequest:
        return ProbeRequest(seq=0, intended=T0, status=status, error=error, latency_us=1000)

    assert r(200).ok and r(302).ok and not r(200).failed
    assert r(404).http_4xx and not r(404).failed and not r(404).ok
    assert r(500).failed and r(503).failed and r(None, "timeout").failed and r(None).failed
    assert r(101, "other").failed  # "answered 101, not a final status"
    assert r(None, "overloaded").overloaded and not r(None, "overloaded").failed
    assert r(None, "timeout").ended == T0 + 0.001
    assert ProbeRequest(seq=1, intended=T0, error="overloaded").ended == T0
    assert r(503).cause() == "503 from an unnamed server"
    assert ProbeRequest(seq=1, intended=T0, error="refused", detail="connection refused").cause() == \
        "refused: connection refused"


def test_status_words_drop_transition_counts_and_details() -> None:
    assert [status_word(s) for s in ("UP", "UP 1/2", "DOWN", "DOWN 1/2", "MAINT (resolution)", "no check",
                                     "DRAIN", None)] == \
        ["UP", "UP", "DOWN", "DOWN", "MAINT", "no check", "DRAIN", None]


def test_the_readers_read_what_the_probe_and_the_samplers_write(tmp_path: Path) -> None:
    meta = tmp_path / "drill-vm-loss.meta.json"
    meta.write_text(json.dumps({"drill": "vm-loss", "fault_at": T0}) + "\n")
    probe = tmp_path / "dc1-www.jsonl"
    probe.write_text(
        '{"seq":0,"intended":1800000000.5,"url":"http://198.18.1.210/","status":200,"error":null,'
        '"detail":null,"latency_us":1500,"served_by":"web-dc1-1"}\n'
        '{"seq":1,"intended":1800000000.6,"url":"http://198.18.1.210/","status":null,"error":"timeout",'
        '"detail":"no TCP answer","latency_us":2000000,"served_by":null}\n'
        '{"seq":2,"intended":18000')  # a probe killed mid-line
    samples = tmp_path / "haproxy.jsonl"
    samples.write_text(
        '{"t":1800000000.25,"node":"198.18.1.211","backend":"www","server":"web-dc1-2","status":"UP 1/2",'
        '"check_status":"L4TOUT"}\n'
        '{"t":1800000000.5,"node":"198.18.1.212","error":"ssh: connection timed out"}\n')
    vip = tmp_path / "vip.jsonl"
    vip.write_text('{"t":1800000000.25,"dc":"dc1","holders":["198.18.1.212","198.18.1.211"]}\n')

    assert read_meta(meta) == {"drill": "vm-loss", "fault_at": T0}
    ok, timeout = read_probe_history(probe)
    assert ok == ProbeRequest(seq=0, intended=1800000000.5, status=200, latency_us=1500, served_by="web-dc1-1",
                              url="http://198.18.1.210/")
    assert timeout.failed and timeout.detail == "no TCP answer"
    row, dead = read_state_samples(samples)
    assert row == StateSample(t=T0 + 0.25, node="198.18.1.211", backend="www", server="web-dc1-2",
                              status="UP 1/2", check_status="L4TOUT")
    assert row.word == "UP" and row.readable and not dead.readable and dead.error == "ssh: connection timed out"
    assert read_vip_samples(vip) == (VipSample(t=T0 + 0.25, dc="dc1", holders=("198.18.1.211", "198.18.1.212")),)


def test_a_pretty_printed_meta_file_is_read_whole(tmp_path: Path) -> None:
    meta = tmp_path / "drill-vip.meta.json"
    meta.write_text(json.dumps({"drill": "vip", "victims": []}, indent=2))
    assert read_meta(meta) == {"drill": "vip", "victims": []}


def test_a_damaged_line_is_named_by_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "probe.jsonl"
    bad.write_text('{"seq":0,"intended":1}\nnot json\n{"seq":2,"intended":3}\n')
    with pytest.raises(FrontDrillError, match=r"probe.jsonl:2: not a JSON record"):
        read_probe_history(bad)
    bad.write_text('{"seq":"zero","intended":1}\n')
    with pytest.raises(FrontDrillError, match=r"probe.jsonl:1: seq 'zero' is not an integer"):
        read_probe_history(bad)
    bad.write_text('{"t":1,"node":"198.18.1.211","status":"UP"}\n')
    with pytest.raises(FrontDrillError, match=r":1: a sample names its server"):
        read_state_samples(bad)
    bad.write_text('{"t":1,"dc":"dc1"}\n')
    with pytest.raises(FrontDrillError, match=r":1: a VIP sample lists its holders"):
        read_vip_samples(bad)
    bad.write_text("")
    with pytest.raises(FrontDrillError, match="empty: no meta record"):
        read_meta(bad)
    bad.write_text("[1, 2]\n")
    with pytest.raises(FrontDrillError, match="a JSON object, not list"):
        read_meta(bad)


# --------------------------------------------------------------------------- the drill, written by hand
RATE = 8  # requests per second: due times exact in binary
PERIOD = 0.25  # haproxy sampled every 0.25 s
A, B = "198.18.1.211", "198.18.1.212"  # dc1's haproxy nodes
VICTIM = "web-dc1-2"
HEAL = 20.0  # heal_at - fault_at
TIMEOUT = {"status": None, "error": "timeout", "detail": "no TCP answer on port 80 within 2 s (VM, host or link down?)",
           "latency_us": 2_000_000}
OK = {"status": 200, "latency_us": 3000, "served_by": "web-dc1-1"}


def meta(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "type": "meta", "drill": "front-vm-silent", "dcs": ["dc1"], "fault_at": T0, "heal_at": T0 + HEAL,
        "fault": {"description": "veth of web-dc1-2 down (silent)"}, "victims": [VICTIM],
        "expected_down_seconds": 3.25, "mark_down_seconds": 3.5, "qos": 0.99,
        "haproxy": {"dc1": [A, B]}, "urls": {"dc1/www": "http://198.18.1.210/"}}
    record.update(changes)
    return {k: v for k, v in record.items() if v is not None}


def probe(outcome: Callable[[float], dict[str, Any] | None] = lambda t: None, start: float = -10.0,
          end: float = 30.0) -> list[dict[str, Any]]:
    """Requests due every 1/RATE s from start to end (relative to the fault); outcome(t) overrides an ok."""
    out = []
    for seq, i in enumerate(range(int(start * RATE), int(end * RATE))):
        t = i / RATE
        out.append({"seq": seq, "intended": T0 + t, "url": "http://198.18.1.210/", "error": None, "detail": None,
                    "served_by": None, **(outcome(t) or OK)})
    return out


def silent_kill(t: float) -> dict[str, Any] | None:
    """The requests haproxy sent to web-dc1-2 before it marked it DOWN: three timeouts."""
    return TIMEOUT if t in (0.5, 1.25, 2.0) else None


def victim_state(down_at: float, up_at: float = HEAL + 1.5) -> Callable[[float], str | None]:
    """UP, then going down from the fault (UP 1/2), DOWN from down_at, coming up after the heal, UP from up_at."""
    def status(t: float) -> str | None:
        if t < 0.5 or t >= up_at:
            return "UP"
        if t < down_at:
            return "UP 1/2"
        return "DOWN 1/2" if t >= HEAL + 0.5 else "DOWN"
    return status


def states(by_node: dict[str, Callable[[float], str | None]], server: str = VICTIM, backend: str = "www",
           start: float = -10.0, end: float = 30.0) -> list[dict[str, Any]]:
    """Samples every PERIOD; a status function returns None for no sample, "!why" for an unreadable node."""
    out = []
    for node, status_of in by_node.items():
        for i in range(int(start / PERIOD), int(end / PERIOD) + 1):
            t = i * PERIOD
            status = status_of(t)
            if status is None:
                continue
            if status.startswith("!"):
                out.append({"t": T0 + t, "node": node, "error": status[1:]})
                continue
            check = "L7OK" if status.startswith("UP") and status != "UP 1/2" else "L4TOUT"
            out.append({"t": T0 + t, "node": node, "backend": backend, "server": server, "status": status,
                        "check_status": check})
    return out


def healthy_states() -> list[dict[str, Any]]:
    return states({A: victim_state(2.75), B: victim_state(3.0, up_at=HEAL + 1.75)})


def drill(history: list[dict[str, Any]] | None = None, samples: list[dict[str, Any]] | None = None,
          vip: list[dict[str, Any]] = (), **changes: Any) -> FrontDrillVerdict:  # type: ignore[assignment]
    return check(meta(**changes), {"dc1/www": probe(silent_kill) if history is None else history},
                 healthy_states() if samples is None else samples, vip)


# --------------------------------------------------------------------------- availability and the window
def test_a_clean_failover_passes_with_every_figure_timed() -> None:
    v = drill()
    assert v.passed, v.problems
    r = v.per_label["dc1/www"]
    assert (r.sent, r.ok, r.failed, r.http_4xx, r.overloaded) == (320, 317, 3, 0, 0)
    assert r.availability == pytest.approx(317 / 320) and r.met is True
    assert r.window == FailedWindow(first_s=0.5, last_s=2.0, count=3, in_flight=0) and r.window.seconds == 1.5
    a, b = v.detection(VICTIM, A), v.detection(VICTIM, B)
    assert a is not None and b is not None
    assert (a.outcome, a.seconds, a.resolution_s) == ("down", 2.75, 0.25)
    assert (b.outcome, b.seconds) == ("down", 3.0) and b.ratio == pytest.approx(3.0 / 3.25)
    assert r.all_down_s == 3.0 and r.errors_after_down == 0 and r.first_error_after_down is None
    assert v.back_up == (BackUp(VICTIM, 1.75, (f"{A}: www/{VICTIM}", f"{B}: www/{VICTIM}")),)
    assert v.notes == ()
    assert v.summary() == ("drill front-vm-silent PASSED: dc1/www 99.06 % (3 failed +0.5…+2.0 s); "
                           "web-dc1-2 DOWN after 3.0 s at worst; 0 error(s) after DOWN; back UP 1.8 s after the heal")


def test_findings_say_each_figure_in_one_line() -> None:
    assert drill().findings() == [
        "dc1/www: availability 99.06 % (317 ok of 320 sent); 3 failed from +0.5 s to +2.0 s; 0 failed after every "
        "node had marked the victims DOWN (by +3.0 s)",
        "198.18.1.211: www/web-dc1-2 DOWN after 2.8 s, 0.85 of the 3.25 s haproxy's settings promise",
        "198.18.1.212: www/web-dc1-2 DOWN after 3.0 s, 0.92 of the 3.25 s haproxy's settings promise",
        "web-dc1-2 UP again on every haproxy node 1.8 s after the heal"]


def test_metrics_name_each_figure_with_its_unit() -> None:
    assert drill().metrics() == [
        ("availability.dc1/www", pytest.approx(317 / 320), "ratio"),
        ("failed_requests.dc1/www", 3.0, "requests"),
        ("failed_window_s.dc1/www", 1.5, "s"),
        ("errors_after_down.dc1/www", 0.0, "requests"),
        ("availability.overall", pytest.approx(317 / 320), "ratio"),
        (f"detection_s.www/{VICTIM}@{A}", 2.75, "s"),
        (f"detection_s.www/{VICTIM}@{B}", 3.0, "s"),
        (f"back_up_s.{VICTIM}", 1.75, "s"),
    ]


def test_no_failure_at_all_has_no_window() -> None:
    v = drill(probe())
    r = v.per_label["dc1/www"]
    assert v.passed, v.problems
    assert r.window is None and r.failed == 0 and r.availability == 1.0 and r.errors_after_down == 0
    names = [name for name, _, _ in v.metrics()]
    assert "failed_requests.dc1/www" in names and "failed_window_s.dc1/www" not in names
    assert "dc1/www 100.00 %;" in v.summary()


def test_requests_in_flight_across_the_fault_count_in_the_window_and_are_said() -> None:
    crossing = {"status": None, "error": "reset", "detail": "connection reset before answering", "latency_us": 400_000}
    early = {"status": 503, "served_by": "web-dc1-3", "latency_us": 1000}
    v = drill(probe(lambda t: crossing if t == -0.25 else early if t == -5.0 else silent_kill(t)))
    r = v.per_label["dc1/www"]
    assert r.window == FailedWindow(first_s=-0.25, last_s=2.0, count=4, in_flight=1)
    assert r.failed == 5 and r.failed_before_fault == 1  # ended before the fault: not in the window
    assert v.notes == (
        "dc1/www: 1 of the 4 failed requests were due before the fault and failed after it (in flight when it "
        "hit, the first due at -0.2 s): counted in the window",
        "dc1/www: 1 request(s) failed before the fault (the first due at -5.0 s: 503 from web-dc1-3): not in the "
        "window, counted in the availability")


def test_overloaded_requests_are_left_out_of_every_figure_and_make_a_problem() -> None:
    overloaded = {"status": None, "error": "overloaded", "detail": "client overloaded: 50 requests already in "
                  "flight", "latency_us": None}
    v = drill(probe(lambda t: overloaded if 1.5 <= t < 2.0 else silent_kill(t)))
    r = v.per_label["dc1/www"]
    assert (r.sent, r.overloaded, r.failed) == (316, 4, 3) and r.availability == pytest.approx(313 / 316)
    assert v.problems == (
        "dc1/www: the probe itself was overloaded: 4 of 320 requests not sent or not waited for (due from +1.5 s "
        "to +1.9 s): left out of the availability and the window, so the verdict has holes",)


def test_availability_below_qos_fails_unless_the_datacenter_may_go_down() -> None:
    lost = probe(lambda t: TIMEOUT if 0 <= t < HEAL else None)  # the whole of dc1 lost (FT-D6)
    v = drill(lost, victims=[], qos=0.999)
    assert v.problems == ("dc1/www: availability 50.00 % < qos 99.9 % (160 failed, 0 4xx of 320 sent; failed "
                          "from +0.0 s to +19.9 s)",)
    assert v.per_label["dc1/www"].met is False
    v = drill(lost, victims=[], qos=0.999, expect={"dc1": "down"})
    assert v.passed and v.per_label["dc1/www"].met is None and v.per_label["dc1/www"].expectation == "down"
    assert v.per_label["dc1/www"].window == FailedWindow(0.0, 19.875, 160)


def test_expectation_all_wants_no_failed_request_at_all() -> None:
    v = drill(expect={"dc1/www": "all"})
    assert v.problems == ("dc1/www: 3 of 320 requests failed, none was expected to (failed from +0.5 s to "
                          "+2.0 s); the first due at +0.5 s: timeout: no TCP answer on port 80 within 2 s (VM, "
                          "host or link down?)",)
    assert drill(expect={"dc1": "always"}).problems == (
        "dc1/www: unknown expectation 'always' in the meta record (one of qos, all, down)",)


def test_a_failed_window_beyond_its_budget_is_a_problem() -> None:
    assert drill(failed_window_seconds=1.0).problems == (
        "dc1/www: 3 failed requests from +0.5 s to +2.0 s after the fault: a 1.5 s window, beyond the 1 s budget "
        "(failed_window_seconds)",)


def test_4xx_lower_the_availability_without_being_failures() -> None:
    v = drill(probe(lambda t: {"status": 404, "served_by": "web-dc1-1", "latency_us": 900} if t == 10.0
                    else silent_kill(t)))
    r = v.per_label["dc1/www"]
    assert (r.ok, r.failed, r.http_4xx) == (316, 3, 1) and r.window is not None and r.window.count == 3
    assert v.notes == ("dc1/www: 1 answer(s) were 4xx, neither ok nor failed: they lower the availability, not "
                       "the window (the probe's URL or Host header?); the first due at +10.0 s: 404 from web-dc1-1",)


def test_a_probe_that_sent_nothing_or_a_dc_without_a_probe_is_a_problem() -> None:
    v = check(meta(dcs=["dc1", "dc2"]), {"dc1/www": []}, healthy_states())
    assert v.problems == ("dc2 is under load in the meta record but no probe history of dc2 was given",
                          "dc1/www: no request was sent: nothing shows what the clients saw")
    assert check(meta(), {}, healthy_states()).problems[0] == "no probe history: what the clients saw is not known"


# --------------------------------------------------------------------------- detection
def test_detection_is_said_against_haproxys_settings_and_its_promise() -> None:
    d = Detection(VICTIM, A, "www", "down", seconds=2.9, expected_s=3.25, promise_s=3.5)
    assert d.describe() == "198.18.1.211: www/web-dc1-2 DOWN after 2.9 s, 0.89 of the 3.25 s haproxy's settings promise"
    assert not d.beyond_promise
    assert Detection(VICTIM, A, None, "down", seconds=2.9).describe() == "198.18.1.211: web-dc1-2 DOWN after 2.9 s"


def test_a_detection_beyond_the_promise_is_a_problem() -> None:
    v = drill(samples=states({A: victim_state(2.75), B: victim_state(4.0, up_at=HEAL + 1.75)}))
    assert v.problems == (
        "198.18.1.212: www/web-dc1-2 DOWN after 4.0 s, 1.23 of the 3.25 s haproxy's settings promise: "
        "beyond the 3.5 s promise (mark_down_seconds)",)
    assert v.per_label["dc1/www"].all_down_s == 4.0


def test_a_detection_slower_than_the_settings_but_within_the_promise_is_a_note() -> None:
    v = drill(samples=states({A: victim_state(2.75), B: victim_state(3.5, up_at=HEAL + 1.75)}))
    assert v.passed, v.problems
    assert v.notes == ("198.18.1.212: www/web-dc1-2 DOWN after 3.5 s, 1.08 of the 3.25 s haproxy's settings "
                       "promise: slower than haproxy's settings predict (within the promise)",)


def test_going_down_is_not_down_and_a_server_never_marked_down_is_a_problem_naming_it_and_the_node() -> None:
    # a TCP-only check on a hung server: failing once (UP 1/2), then passing again, never DOWN
    stuck = states({A: victim_state(2.75), B: lambda t: "UP 1/2" if 1.0 <= t < 1.5 else "UP"})
    v = drill(samples=stuck)
    b = v.detection(VICTIM, B)
    assert b is not None and b.outcome == "never" and b.seconds is None
    assert v.problems == (
        "198.18.1.212: www/web-dc1-2 never marked DOWN (read until +30.0 s, last UP L7OK: a dead server kept "
        "in rotation)",)
    assert v.per_label["dc1/www"].errors_after_down is None
    assert v.notes == ("dc1/www: errors after DOWN not counted: 198.18.1.212: www/web-dc1-2 never marked DOWN",)
    assert "web-dc1-2 DOWN after 2.8 s at worst on 1 of 2 nodes" in v.summary()


def test_a_dead_haproxy_node_leaves_its_detection_unknown_with_the_bound_the_gap_gives() -> None:
    dead = victim_state(3.0, up_at=HEAL + 1.75)
    samples = states({A: victim_state(2.75), B: lambda t: "!ssh: connection timed out" if 1.0 <= t < 6.0 else dead(t)})
    v = drill(samples=samples)
    b = v.detection(VICTIM, B)
    assert b is not None and (b.outcome, b.seconds, b.at_most_s) == ("unknown", None, 6.0)
    assert b.reason == ("no readable sample from +0.8 s to +6.0 s (198.18.1.212 unreachable: ssh: connection "
                        "timed out), then DOWN: when, between them, is not known")
    assert v.passed, v.problems  # A timed it; B's is said, not invented
    assert v.notes == (
        f"198.18.1.212: www/web-dc1-2: when it was marked DOWN is not known ({b.reason})",
        "dc1/www: errors after DOWN not counted: 198.18.1.212: www/web-dc1-2 DOWN at an unknown time")
    assert f"detection_s.www/{VICTIM}@{B}" not in [name for name, _, _ in v.metrics()]


def test_a_haproxy_node_dead_to_the_end_is_unknown_and_the_heal_not_seen_on_it() -> None:
    samples = states({A: victim_state(2.75), B: lambda t: "UP" if t < 1.0 else "!ssh: no route to host"})
    v = drill(samples=samples)
    b = v.detection(VICTIM, B)
    assert b is not None and b.outcome == "unknown" and b.at_most_s is None
    assert b.reason == ("no readable sample from +0.8 s to the end (+30.0 s) (198.18.1.212 unreachable: ssh: "
                        "no route to host)")
    assert v.back_up[0].seconds is None
    assert v.problems == ("web-dc1-2 not seen UP again on every haproxy node after the heal: 198.18.1.212 "
                          "unreachable at the end (ssh: no route to host)",)


def test_a_stretch_without_samples_forbids_never() -> None:
    v = drill(samples=states({A: victim_state(2.75), B: lambda t: None if 5.0 <= t < 8.0 else "UP"}))
    b = v.detection(VICTIM, B)
    assert b is not None and b.outcome == "unknown"
    assert b.reason == ("never seen DOWN, but no readable sample from +4.8 s to +8.0 s (no sample at all: the "
                        "sampler stalled?): it may have been DOWN then")


def test_when_no_node_could_time_it_the_victim_is_a_problem() -> None:
    samples = states({A: lambda t: "UP" if t < 0 else "!ssh: timed out", B: lambda t: "UP" if t < 0 else None})
    v = drill(samples=samples)
    assert v.problems[0].startswith("web-dc1-2: when it was marked DOWN could not be measured on any haproxy node "
                                    "(198.18.1.211: no readable sample from -0.2 s to the end")
    assert "web-dc1-2 not seen DOWN" in v.summary()


def test_a_node_never_read_is_said_not_skipped() -> None:
    never = {"t": T0 + 1.0, "node": "198.18.1.213", "error": "ssh: connection refused"}
    v = drill(samples=[*healthy_states(), never], haproxy={"dc1": [A, B, "198.18.1.213"]})
    d = v.detection(VICTIM, "198.18.1.213")
    assert d is not None and d.outcome == "unknown" and d.backend is None
    assert d.reason == "no state of 198.18.1.213 could be read during the drill: ssh: connection refused"
    assert v.per_label["dc1/www"].errors_after_down is None


def test_a_server_already_down_before_the_fault_measures_nothing() -> None:
    v = drill(samples=states({A: lambda t: "DOWN" if t < HEAL + 1 else "UP", B: victim_state(3.0)}))
    assert v.problems == ("198.18.1.211: www/web-dc1-2 was already DOWN before the fault (at -0.2 s): the drill "
                          "measures nothing there",)


def test_a_victim_no_sample_lists_is_a_problem() -> None:
    v = drill(victims=["web-dc1-9"])
    assert v.problems == ("web-dc1-9: no haproxy sample lists it (is it the server's name in haproxy.cfg?): when "
                          "it was marked DOWN cannot be measured",)


def test_a_server_in_two_backends_is_timed_in_each_and_the_probe_counts_its_own() -> None:
    cpp = states({A: victim_state(2.5), B: victim_state(2.5)}, backend="cpp")
    v = drill(samples=[*healthy_states(), *cpp])
    assert [(d.node, d.backend, d.seconds) for d in v.detections] == [
        (A, "cpp", 2.5), (A, "www", 2.75), (B, "cpp", 2.5), (B, "www", 3.0)]
    assert v.per_label["dc1/www"].all_down_s == 3.0  # www's own backend, not cpp's
    assert check(meta(), {"dc1/cpp": probe(silent_kill)}, [*healthy_states(), *cpp]
                 ).per_label["dc1/cpp"].all_down_s == 2.5


# --------------------------------------------------------------------------- errors after DOWN, back UP
def test_errors_after_every_node_marked_the_victim_down_break_the_promise_of_zero() -> None:
    bad = {"status": 503, "served_by": "web-dc1-3", "latency_us": 5000}
    # the timeout due at +3.0 s, when the last node marked it DOWN, is not after it
    v = drill(probe(lambda t: bad if t in (5.0, 9.5) else TIMEOUT if t == 3.0 else silent_kill(t)), qos=0.98)
    r = v.per_label["dc1/www"]
    assert r.errors_after_down == 2 and r.first_error_after_down is not None
    assert r.first_error_after_down.seq == (10 + 5) * RATE
    assert v.problems == (
        "dc1/www: 2 failed request(s) due after every haproxy node of dc1 had marked web-dc1-2 DOWN (by +3.0 s), "
        "where the promise is 0: the first due at +5.0 s (seq 120): 503 from web-dc1-3",)


def test_errors_after_the_heal_are_in_the_window_not_after_down() -> None:
    v = drill(probe(lambda t: TIMEOUT if t == 21.0 else silent_kill(t)))
    r = v.per_label["dc1/www"]
    assert r.errors_after_down == 0 and r.failed_after_heal == 1 and r.window is not None
    assert r.window.last_s == 21.0
    assert v.notes == ("dc1/www: 1 request(s) failed after the heal (the first due at +21.0 s: timeout: no TCP "
                       "answer on port 80 within 2 s (VM, host or link down?))",)


def test_without_the_nodes_of_each_datacenter_every_node_listing_the_victim_counts() -> None:
    v = drill(haproxy=None)
    assert v.per_label["dc1/www"].all_down_s == 3.0 and v.per_label["dc1/www"].errors_after_down == 0
    bad = {"status": 502, "served_by": "web-dc1-1", "latency_us": 5000}
    v = drill(probe(lambda t: bad if t == 4.0 else silent_kill(t)), haproxy=None, qos=0.98)
    assert "after every haproxy node listing them had marked web-dc1-2 DOWN" in v.problems[0]


def test_a_heal_never_observed_is_a_problem() -> None:
    v = drill(samples=states({A: victim_state(2.75), B: victim_state(3.0, up_at=99.0)}))
    assert v.back_up == (BackUp(VICTIM, None, (f"{A}: www/{VICTIM}", f"{B}: www/{VICTIM}"),
                                (f"{B}: www/{VICTIM} still DOWN 1/2 at +10.0 s after the heal",)),)
    assert v.problems == ("web-dc1-2 not seen UP again on every haproxy node after the heal: 198.18.1.212: "
                          "www/web-dc1-2 still DOWN 1/2 at +10.0 s after the heal",)
    assert "not seen UP again after the heal" in v.summary()


def test_a_fault_never_healed_is_a_problem_and_nothing_is_timed_from_a_heal() -> None:
    v = drill(heal_at=None, samples=states({A: victim_state(2.75, up_at=99), B: victim_state(3.0, up_at=99)}))
    assert v.problems == ("the fault was never healed: no heal_at in the meta record (the nemesis did not finish "
                          "healing, or did not say when)",)
    assert v.back_up == () and v.per_label["dc1/www"].errors_after_down == 0


def test_back_up_beyond_its_budget_is_a_problem() -> None:
    assert drill(expected_up_seconds=1.5).problems == (
        "web-dc1-2 UP again on every haproxy node 1.8 s after the heal, beyond the 1.5 s budget "
        "(expected_up_seconds)",)


def test_a_drill_without_fault_at_proves_nothing() -> None:
    v = drill(fault_at=None)
    assert v.problems == ("no fault_at in the meta record: when the fault was injected is not known, so nothing can "
                          "be timed from it; the drill proves nothing",)
    assert v.detections == () and v.per_label["dc1/www"].window is None
    assert v.origin == T0 - 10  # relative times count from the first record


def test_records_may_be_given_as_objects_or_as_dicts() -> None:
    as_dicts = drill()
    as_objects = check(meta(), {"dc1/www": [ProbeRequest.of(r, "test") for r in probe(silent_kill)]},
                       [StateSample.of(x, "test") for x in healthy_states()])
    assert as_objects == as_dicts
    with pytest.raises(FrontDrillError, match=r"dc1/www #0: intended None is not epoch seconds"):
        check(meta(), {"dc1/www": [{"seq": 0}]}, [])


# --------------------------------------------------------------------------- the VIP (FT-D4)
def holders(of: Callable[[float], list[str]], dc: str = "dc1", start: float = -10.0,
            end: float = 30.0) -> list[dict[str, Any]]:
    return [{"t": T0 + i * PERIOD, "dc": dc, "holders": of(i * PERIOD)}
            for i in range(int(start / PERIOD), int(end / PERIOD) + 1)]


def master_lost(t: float) -> list[str]:
    """A holds the VIP until its link goes down; nobody for 3.5 s; then B (3 x advert_int + skew)."""
    return [A] if t < 0 else [] if t < 3.5 else [B]


def vip_drill(vip: list[dict[str, Any]], **changes: Any) -> FrontDrillVerdict:
    return drill(probe(lambda t: TIMEOUT if t in (0.5, 1.0) else None), samples=[], vip=vip, victims=[],
                 fault={"description": "link of the MASTER haproxy node of dc1 down"}, **changes)


def test_a_vip_takeover_is_timed_and_its_own_gap_is_not_an_outage() -> None:
    v = vip_drill(holders(master_lost))
    assert v.passed, v.problems
    assert v.vip["dc1"] == VipResult(dc="dc1", judged=True, holder_before=A, holder_after=B, takeover_s=3.5,
                                     no_holder=(VipEpisode((), 0.0, 3.5),), samples=161)
    assert ("vip_takeover_s.dc1", 3.5, "s") in v.metrics() and ("vip_no_holder_s.dc1", 3.5, "s") in v.metrics()
    assert v.summary().endswith(f"dc1 VIP to {B} in 3.5 s")
    assert v.findings()[1:] == ["dc1: the VIP moved from 198.18.1.211 to 198.18.1.212 3.5 s after the fault",
                                "dc1: the VIP held by nobody from +0.0 s for 3.5 s"]
    assert v.detections == () and v.back_up == ()


def test_split_brain_and_a_later_outage_are_problems_with_their_durations() -> None:
    def flapping(t: float) -> list[str]:
        return [A, B] if 10 <= t < 12 else [] if 15 <= t < 15.5 else [B, A] if t >= 29 else master_lost(t)

    v = vip_drill(holders(flapping))
    assert v.problems == (
        "dc1: the VIP was held by 198.18.1.211 and 198.18.1.212 at once (split-brain) from +10.0 s for 2.0 s: "
        "VRRP adverts do not get through",
        "dc1: the VIP was held by 198.18.1.211 and 198.18.1.212 at once (split-brain) from +29.0 s for 1.0 s until "
        "the end: VRRP adverts do not get through",
        "dc1: no node held the VIP from +15.0 s for 0.5 s: the datacenter's front door was down")
    assert [e.seconds for e in v.vip["dc1"].split_brain] == [2.0, 1.0]
    assert ("vip_split_brain_s.dc1", 3.0, "s") in v.metrics()


def test_a_vip_never_taken_over_or_beyond_its_budget_is_a_problem() -> None:
    v = vip_drill(holders(lambda t: [A] if t < 0 else []))
    assert v.problems == (
        "dc1: no node held the VIP from +0.0 s for 30.0 s until the end: the datacenter's front door was down",
        "dc1: no other node took the VIP over after the fault (held by 198.18.1.211 before it; at the end by "
        "nobody)")
    assert vip_drill(holders(master_lost), vip_takeover_seconds=3.0).problems == (
        "dc1: the VIP moved from 198.18.1.211 to 198.18.1.212 3.5 s after the fault, beyond the 3 s budget "
        "(vip_takeover_seconds)",)
    assert vip_drill(holders(lambda t: [] if t < 0 else [B])).problems[-1] == (
        "dc1: who held the VIP before the fault is not known (no sample with one holder before it): the "
        "takeover cannot be timed")


def test_the_vip_must_move_only_where_the_drill_says_so() -> None:
    steady = holders(lambda t: [A])
    v = drill(vip=steady)  # a server drill watching the VIP: not judged, and it never moved
    assert v.passed and v.vip["dc1"].judged is False and v.vip["dc1"].takeover_s is None
    v = drill(vip=steady, vip_failover=["dc1"])
    assert v.problems == ("dc1: no other node took the VIP over after the fault (held by 198.18.1.211 before it; "
                          "at the end by 198.18.1.211)",)


def test_an_unreadable_vip_sample_is_noted_and_skipped() -> None:
    vip = [*holders(master_lost), {"t": T0 + 1.1, "dc": "dc1", "error": "ssh: timed out"}]
    v = vip_drill(vip)
    assert v.passed and v.vip["dc1"].takeover_s == 3.5
    assert v.notes == ("dc1: 1 VIP sample(s) could not be read (ssh: timed out)",)


# --------------------------------------------------------------------------- the picture (frontplot)
PNG = b"\x89PNG\r\n\x1a\n"


def test_requests_are_counted_per_half_second_by_outcome_overloaded_left_out() -> None:
    def r(seq: int, t: float, status: int | None, error: str | None = None) -> ProbeRequest:
        return ProbeRequest(seq=seq, intended=T0 + t, status=status, error=error, latency_us=1000)

    got = buckets([r(0, -0.5, 200), r(1, -0.25, 404), r(2, 0.0, None, "timeout"), r(3, 0.25, 200),
                   r(4, 1.5, None, "overloaded"), r(5, 1.75, 503)], origin=T0)
    assert got == [Bucket(-0.5, ok=1, http_4xx=1), Bucket(0.0, ok=1, failed=1), Bucket(0.5), Bucket(1.0),
                   Bucket(1.5, failed=1)]
    assert buckets([], origin=T0) == []


def test_a_server_state_is_drawn_as_runs_each_sample_holding_until_the_next() -> None:
    line = [StateSample(T0 + t, A, "www", "web-dc1-2", status) for t, status in
            ((0.0, "UP"), (0.25, "UP"), (0.5, "UP 1/2"), (1.0, "DOWN"), (1.25, "DOWN 1/2"))]
    line.insert(4, StateSample(T0 + 1.125, A, error="ssh: timed out"))
    assert state_intervals(line, T0) == [
        (0.0, 0.5, "UP"), (0.5, 0.5, "going down"), (1.0, 0.125, "DOWN"), (1.125, 0.125, "unreadable"),
        (1.25, 0.25, "coming up")]


def test_plot_front_timeline_writes_a_png(tmp_path: Path) -> None:
    history = {"dc1/www": probe(silent_kill),
               "dc1/cpp": probe(lambda t: TIMEOUT if t == 1.0 else {"status": 404, "latency_us": 900}
                                if t == 5.0 else None)}
    samples = healthy_states()
    verdict = check(meta(), history, samples)
    out = plot_front_timeline(verdict, history, samples, tmp_path / "front.png")
    assert out == tmp_path / "front.png"
    data = out.read_bytes()
    assert data.startswith(PNG) and len(data) > 5000


def test_plot_front_timeline_of_a_vip_drill_and_of_nothing(tmp_path: Path) -> None:
    vip = holders(lambda t: [A, "198.18.1.212"] if 10 <= t < 11 else master_lost(t))
    history = {"dc1/www": probe()}
    verdict = check(meta(victims=[]), history, [], vip)
    assert plot_front_timeline(verdict, history, [], tmp_path / "vip.png", vip).read_bytes().startswith(PNG)
    empty = check({"drill": "empty"}, {}, [])
    assert plot_front_timeline(empty, {}, [], tmp_path / "empty.png").read_bytes().startswith(PNG)


def test_importing_the_front_drill_modules_does_not_import_matplotlib() -> None:
    probe_code = ("import json, sys\nimport cloudgate.drills.frontchecker, cloudgate.drills.frontplot\n"
                  "print(json.dumps(sorted(m for m in sys.modules if m.startswith('matplotlib'))))")
    out = subprocess.run([sys.executable, "-c", probe_code], capture_output=True, text=True, timeout=60,
                         check=True)
    assert json.loads(out.stdout) == []


def test_a_victim_named_backend_slash_server_is_judged_in_that_backend_only():
    from cloudgate.drills.frontchecker import StateSample, victim_timelines

    rows = [StateSample(t=1.0, node="n1", backend="www", server="web-1", status="DOWN"),
            StateSample(t=1.0, node="n1", backend="api", server="web-1", status="UP")]
    assert list(victim_timelines(rows, "www/web-1")) == [("n1", "www")]
    assert sorted(victim_timelines(rows, "web-1")) == [("n1", "api"), ("n1", "www")]
