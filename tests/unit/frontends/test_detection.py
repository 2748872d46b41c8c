"""How long haproxy takes to mark a dead server DOWN: the arithmetic, and the times haproxy 2.6.12 took."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudgate.frontends.detection import (
    FAILURE_KINDS,
    CheckTiming,
    server_time_to_down,
    time_to_down,
    time_to_up,
)
from cloudgate.frontends.haproxycfg import parse_haproxy_cfg

DATA = Path(__file__).parent / "data" / "haproxy"
DEFAULTS = CheckTiming(inter_ms=2000, fastinter_ms=2000, fall=3)
FAST = CheckTiming(inter_ms=1000, fastinter_ms=250, fall=2, timeout_check_ms=500)


def _window(timing: CheckTiming, kind: str) -> tuple[float | None, float | None]:
    detection = time_to_down(timing, kind)  # type: ignore[arg-type]
    return detection.best_s, detection.worst_s


def test_haproxy_defaults_mark_a_refusing_server_down_in_4_to_6_s_and_a_silent_one_in_10_to_12_s():
    assert _window(DEFAULTS, "refused") == (4.0, 6.0)
    assert _window(DEFAULTS, "blackhole") == (10.0, 12.0)
    assert _window(DEFAULTS, "hung") == (10.0, 12.0)  # no timeout check: inter is the whole timeout
    assert time_to_down(DEFAULTS, "blackhole").explain() == (
        "inter 2s fastinter 2s fall 3, no timeout check: a silent server is marked DOWN after 10.0–12.0 s")


def test_fast_checks_take_a_quarter_to_1_25_s_on_rst_but_2_25_to_3_25_s_on_a_blackhole():
    # docs/front-tier.md §1 says 2–3 s for the blackhole: it leaves out the (fall − 1) × fastinter term
    assert _window(FAST, "refused") == (0.25, 1.25)
    assert _window(FAST, "blackhole") == (2.25, 3.25)
    assert time_to_down(FAST, "refused").explain() == (
        "inter 1s fastinter 250ms fall 2, timeout check 500ms, no timeout connect: "
        "a server refusing connections is marked DOWN after 0.25–1.25 s")


def test_a_hung_server_may_cost_up_to_the_connect_deadline_per_check_not_only_timeout_check():
    # haproxy shortens the check's expiry to `timeout check` without requeueing its timer (module docstring)
    assert _window(FAST, "hung") == (1.25, 3.25)
    longer = CheckTiming(inter_ms=1000, fastinter_ms=250, fall=2, timeout_check_ms=5000, timeout_connect_ms=2000)
    assert longer.connect_deadline_ms == 1000 and _window(longer, "hung") == (10.25, 11.25)
    assert _window(longer, "blackhole") == (2.25, 3.25)


def test_the_connect_deadline_is_inter_unless_timeout_check_and_timeout_connect_are_both_set():
    assert CheckTiming(inter_ms=2000, fastinter_ms=2000, fall=3, timeout_connect_ms=500).connect_deadline_ms == 2000
    assert CheckTiming(inter_ms=2000, fastinter_ms=2000, fall=3, timeout_check_ms=1).connect_deadline_ms == 2000
    both = CheckTiming(inter_ms=2000, fastinter_ms=2000, fall=3, timeout_check_ms=1, timeout_connect_ms=500)
    assert both.connect_deadline_ms == 500 and _window(both, "blackhole") == (5.5, 7.5)


def test_a_tcp_only_check_never_marks_a_hung_server_down_and_a_server_without_check_never_goes_down():
    tcp = CheckTiming(inter_ms=2000, fastinter_ms=2000, fall=3, layer="tcp")
    assert time_to_down(tcp, "hung").never and not time_to_down(tcp, "blackhole").never
    assert time_to_down(tcp, "hung").explain() == ("inter 2s fastinter 2s fall 3, no timeout check, TCP-only check: "
                                                   "a server that accepts and never answers passes its check (L4OK) "
                                                   "and is never marked DOWN")
    tls = CheckTiming(inter_ms=2000, fastinter_ms=2000, fall=3, layer="ssl")  # the handshake needs the application
    assert _window(tls, "hung") == (10.0, 12.0)
    unchecked = CheckTiming(inter_ms=2000, fastinter_ms=2000, fall=3, checked=False)
    assert all(time_to_down(unchecked, kind).never for kind in FAILURE_KINDS)
    assert time_to_down(unchecked, "refused").explain() == (
        "no `check` on the server line: a server refusing connections is never marked DOWN")


def test_spread_checks_widens_the_window_both_ways():
    spread = CheckTiming(inter_ms=2000, fastinter_ms=2000, fall=3, spread_checks=10)
    best, worst = _window(spread, "refused")
    assert best == pytest.approx(3.6) and worst == pytest.approx(6.6)
    assert "spread-checks 10" in time_to_down(spread, "refused").explain()


def test_settings_come_from_the_server_line_and_its_backend():
    config = parse_haproxy_cfg((DATA / "timing.cfg").read_text())
    fast = config.backends["be_fast"]
    timing = CheckTiming.of(fast, fast.server("blackhole"))
    assert timing == CheckTiming(inter_ms=1000, fastinter_ms=250, fall=2, timeout_check_ms=500,
                                 timeout_connect_ms=5000, layer="http")
    tcp = parse_haproxy_cfg("backend b\n    server s 10.0.0.1:443 check check-ssl\n").backends["b"]
    assert CheckTiming.of(tcp, tcp.servers[0]).layer == "ssl"


def _recorded_down_times() -> dict[str, float]:
    """From timing.log: seconds from the FAULT stamp to each "Server <backend>/<server> is DOWN"."""
    lines = (DATA / "timing.log").read_text().splitlines()
    fault = float(lines[0].split()[0])
    times = {}
    for line in lines:
        if m := re.match(r"^(?P<t>[\d.]+) .*Server (?P<name>\S+) is DOWN\.", line):
            times[m.group("name")] = float(m.group("t")) - fault
    return times


def test_the_times_haproxy_took_in_the_recording_fall_in_the_predicted_windows():
    recorded = _recorded_down_times()
    assert len(recorded) == 6
    config = parse_haproxy_cfg((DATA / "timing.cfg").read_text())
    kinds = {"rst": "refused", "blackhole": "blackhole", "hung": "hung"}
    for name, seconds in recorded.items():
        backend_name, server_name = name.split("/")
        backend = config.backends[backend_name]
        detection = server_time_to_down(backend, backend.server(server_name), kinds[server_name])  # type: ignore[arg-type]
        assert detection.best_s is not None and detection.worst_s is not None
        # 20 ms of slack: the stamps are taken by a pipe reader, the check durations are a few ms
        assert detection.best_s - 0.02 <= seconds <= detection.worst_s + 0.02, (name, seconds, detection.explain())
    # the blackhole of the fast backend took longer than the 2–3 s docs/front-tier.md gives
    assert recorded["be_fast/blackhole"] > 3.0


def test_a_recovered_server_comes_back_after_downinter_then_rise_minus_one_fastinters():
    config = parse_haproxy_cfg("backend b\n    server s 10.0.0.1:80 check rise 3 fastinter 500ms downinter 5s\n")
    assert time_to_up(config.backends["b"].servers[0]) == (1.0, 6.0)


_TIMING = st.builds(
    CheckTiming, inter_ms=st.integers(1, 60_000), fastinter_ms=st.integers(1, 60_000), fall=st.integers(1, 20),
    timeout_check_ms=st.one_of(st.none(), st.integers(1, 60_000)),
    timeout_connect_ms=st.one_of(st.none(), st.integers(1, 60_000)),
    layer=st.sampled_from(["tcp", "ssl", "http"]), spread_checks=st.integers(0, 50))


@settings(deadline=None)
@given(_TIMING)
def test_the_window_is_ordered_and_a_refused_connection_is_never_slower_than_a_silent_one(timing):
    refused, silent, hung = (time_to_down(timing, kind) for kind in FAILURE_KINDS)
    for detection in (refused, silent, hung):
        if not detection.never:
            assert 0 <= detection.best_s <= detection.worst_s  # type: ignore[operator]
            assert detection.worst_s - detection.best_s >= timing.inter_ms / 1000 - 1e-9  # type: ignore[operator]
    assert refused.worst_s <= silent.worst_s  # type: ignore[operator]
    assert hung.never == (timing.layer == "tcp")
    if not hung.never:
        assert hung.worst_s >= silent.worst_s - 1e-9  # type: ignore[operator]
