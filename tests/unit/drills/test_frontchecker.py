"""The front drills' checker on records written by hand: each rule of cloudgate/drills/frontchecker.py.

The drill in these tests: web-dc1-2 is killed silently at T0 (epoch seconds, exact in binary) and
healed 20 s later; dc1/www is probed at 10 requests a second (50 in the lab; fewer keeps the counts
readable) from 10 s before the fault to 30 s after it; both haproxy nodes of dc1 are sampled every
0.25 s. haproxy's settings predict 3.25 s at worst; the promise is 3.5 s.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudgate.drills.frontchecker import (
    FrontDrillError,
    ProbeRequest,
    StateSample,
    VipSample,
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
