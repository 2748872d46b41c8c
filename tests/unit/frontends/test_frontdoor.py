"""FT-04/FT-05: the front door's error budget, its steady state and its p99, judged on what the probe saw."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from cloudgate.frontends.frontdoor import error_problems, latency_problems, steady_state_problems
from cloudgate.frontends.httpprobe import ProbeFailure, ProbeResult, run_probe

URL = "http://vip.dc1.example/health.php"  # a name only: nothing here connects
DUE = datetime(2026, 12, 7, 10, 15, 2, 340000, tzinfo=UTC).timestamp()


def _result(ok: int = 1000, latency_ms: float = 2.0, slow: int = 0, slow_ms: float = 0.0, http_5xx: int = 0,
            served_5xx: dict[str, int] | None = None, errors: dict[str, int] | None = None, http_4xx: int = 0,
            overloaded: int = 0, failures: list[ProbeFailure] | None = None) -> ProbeResult:
    errors = errors or {}
    scheduled = ok + http_5xx + sum(errors.values()) + http_4xx + overloaded
    result = ProbeResult(URL, 50, scheduled / 50, 2.0, 50, scheduled=scheduled, ok=ok, http_5xx=http_5xx,
                         http_4xx=http_4xx, errors=errors, overloaded=overloaded,
                         served_by_5xx=served_5xx or {}, failures=failures or [])
    for i in range(ok):
        result.latency_ok.record_value(int((slow_ms if i < slow else latency_ms) * 1000))
    return result


def test_a_front_door_within_its_error_budget_over_enough_requests_passes():
    assert error_problems(_result(ok=999, http_5xx=1, served_5xx={"web-dc1-2": 1}), 0.001, "dc1") == []
    assert error_problems(_result(ok=3000), 0.001, "dc1") == []


def test_errors_above_the_budget_are_counted_by_class_with_the_servers_that_answered_5xx():
    result = _result(ok=983, http_5xx=8, served_5xx={"web-dc1-2": 8}, errors={"refused": 4, "timeout": 3}, http_4xx=2)
    assert error_problems(result, 0.001, "dc1") == [
        "dc1 front door: 15 of 1000 requests failed (1.50% > 0.10%): 5xx 8 (from web-dc1-2 8), refused 4, "
        "timeout 3, and 4xx 2 counted apart"]


def test_a_probe_too_short_to_resolve_the_budget_is_a_problem_not_a_pass():
    assert error_problems(_result(ok=200), 0.001, "dc2") == [
        "dc2 front door: only 200 requests sent, fewer than the 1000 needed to resolve an error budget of 0.10% "
        "(one failure in 1000): run the probe longer"]
    with pytest.raises(ValueError, match=r"a fraction in \[0, 1\)"):
        error_problems(_result(), 1.5, "dc1")


def test_a_promise_of_zero_errors_asks_for_no_minimum_and_fails_on_one_error():
    assert error_problems(_result(ok=10), 0.0, "dc1") == []
    assert error_problems(_result(ok=9, errors={"reset": 1}), 0.0, "dc1") == [
        "dc1 front door: 1 of 10 requests failed (10.00% > 0.00%): reset 1"]


def test_an_overloaded_probe_is_named_apart_and_left_out_of_the_ratio():
    result = _result(ok=1000, overloaded=40)
    assert result.error_ratio == 0.0
    assert error_problems(result, 0.001, "dc1") == [
        "dc1 front door: the probe itself was overloaded: 40 of 1040 requests not sent or not waited for "
        "(at most 50 in flight): they are left out of the ratio, so the verdict has holes (answers slower than "
        "50/50 s, or a starved client)"]


def test_a_p99_above_the_promise_is_named_with_the_distribution_and_a_fast_one_passes():
    assert latency_problems(_result(ok=1000, latency_ms=2.0), 50.0, "dc1") == []
    slow = _result(ok=1000, latency_ms=2.0, slow=20, slow_ms=180.0)  # 2 % of answers at 180 ms
    [line] = latency_problems(slow, 50.0, "dc1")
    # 180 ms read back as 180.1: the histogram keeps 3 significant digits and reports a bucket's top
    assert line == ("dc1 front door: p99 180.1 ms > 50 ms promised (p50 2.0, p99.9 180.1, max 180.1 ms over 1000 "
                    "successful requests, measured from when each was due)")


def test_too_few_or_no_successes_cannot_show_a_p99():
    assert latency_problems(_result(ok=40), 50.0, "dc1") == [
        "dc1 front door: only 40 successful requests, fewer than the 100 a p99 needs: run the probe longer"]
    assert latency_problems(_result(ok=0, errors={"refused": 100}), 50.0, "dc1") == [
        "dc1 front door: no successful request, so no latency to judge against p99 <= 50 ms"]


def test_in_steady_state_one_failed_request_is_named_with_when_it_was_due_and_why():
    assert steady_state_problems(_result(ok=1000), "dc1") == []
    refused = ProbeFailure(17, DUE, "refused", "connection refused on port 80 (nothing listening: Apache or haproxy down?)")
    bad = ProbeFailure(40, DUE + 0.46, "503", "", "web-dc1-3")
    result = _result(ok=998, http_5xx=1, served_5xx={"web-dc1-3": 1}, errors={"refused": 1}, failures=[bad, refused])
    assert steady_state_problems(result, "dc1") == [
        "dc1 front door in steady state: 2 of 1000 requests failed where the promise is 0: 5xx 1 (from web-dc1-3 1), "
        "refused 1; the first due at 10:15:02.340 UTC: refused: connection refused on port 80 "
        "(nothing listening: Apache or haproxy down?)"]


def test_in_steady_state_4xx_and_probe_overload_are_named_too():
    not_found = ProbeFailure(3, DUE, "404", "", "web-dc1-1")
    lines = steady_state_problems(_result(ok=997, http_4xx=3, overloaded=1, failures=[not_found]), "dc1")
    assert lines[0] == ("dc1 front door in steady state: 3 of 1000 answers were 4xx (counted apart from the error "
                        "ratio: the probe's URL or Host header, or the site's routing?); the first due at "
                        "10:15:02.340 UTC: 404 from web-dc1-1")
    assert lines[1].startswith("dc1 front door: the probe itself was overloaded: 1 of 1001 requests")
    assert steady_state_problems(_result(ok=0), "dc1") == [
        "dc1 front door in steady state: no request was sent, so nothing was shown"]


def test_a_dead_front_door_probed_for_real_fails_every_judge_in_its_own_words():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there once closed
    result = run_probe(f"http://127.0.0.1:{port}/health.php", 20, 0.5, 1.0, 10)
    [steady] = steady_state_problems(result, "dc1")
    assert "10 of 10 requests failed where the promise is 0: refused 10; the first due at" in steady
    assert "refused: connection refused on port" in steady
    too_short, failed = error_problems(result, 0.001, "dc1")
    assert "only 10 requests sent" in too_short and "10 of 10 requests failed (100.00% > 0.10%)" in failed
    assert latency_problems(result, 50.0, "dc1") == [
        "dc1 front door: no successful request, so no latency to judge against p99 <= 50 ms"]
