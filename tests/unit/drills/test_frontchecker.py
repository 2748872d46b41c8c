"""The front drills' checker on records written by hand: each rule of cloudgate/drills/frontchecker.py.

The drill in these tests: web-dc1-2 is killed silently at T0 (epoch seconds, exact in binary) and
healed 20 s later; dc1/www is probed at 10 requests a second (50 in the lab; fewer keeps the counts
readable) from 10 s before the fault to 30 s after it; both haproxy nodes of dc1 are sampled every
0.25 s. haproxy's settings predict 3.25 s at worst; the promise is 3.5 s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cloudgate.drills.frontchecker import (
    BackUp,
    FailedWindow,
    FrontDrillError,
    FrontDrillVerdict,
    ProbeRequest,
    StateSample,
    VipSample,
    check,
    read_meta,
    read_probe_history,
    read_state_samples,
    read_vip_samples,
    status_word,
)

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
