"""The front door's promises judged on what the open-loop probe saw (FT-04, FT-05): pure functions.

Each judge returns one line per problem, naming the datacenter, the counts and, when known, the
servers (X-Served-By) that answered 5xx. A probe too short to resolve a promise is a problem of its
own, never a pass: at 0.1 % it takes 1,000 requests (20 s at 50 req/s) for one failure to count.
Requests the probe did not send or wait for (overloaded) are the probe's fault and stay out of the
ratio; they are named in a line of their own, because a verdict with holes is not a clean one.

Latency is judged on successful requests only (the SRE book's split: a fast error is not a fast
answer); failures, timeouts included, are the error judges' business.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from cloudgate.frontends.httpprobe import ProbeFailure, ProbeResult

MIN_SUCCESSES_FOR_P99 = 100


def error_problems(result: ProbeResult, max_ratio: float, dc: str) -> list[str]:
    """(5xx + errors + timeouts) / sent above `max_ratio`, a probe too short to resolve it, an overloaded probe.

    A promise of 0 (the target file allows it) is refuted by one failure and resolved by no count, so
    it asks for no minimum; steady_state_problems says more (4xx, which request first failed).
    """
    if not 0 <= max_ratio < 1:
        raise ValueError(f"max_ratio is a fraction in [0, 1), not {max_ratio!r}")
    problems = []
    needed = math.ceil(1 / max_ratio - 1e-9) if max_ratio else 0
    if result.sent < needed:
        problems.append(f"{dc} front door: only {result.sent} requests sent, fewer than the {needed} needed to "
                        f"resolve an error budget of {max_ratio:.2%} (one failure in {needed}): run the probe longer")
    if result.sent and result.error_ratio > max_ratio:
        problems.append(f"{dc} front door: {result.failed} of {result.sent} requests failed "
                        f"({result.error_ratio:.2%} > {max_ratio:.2%}): {_breakdown(result)}")
    problems += _overloaded(result, dc)
    return problems


def latency_problems(result: ProbeResult, p99_ms: float, dc: str) -> list[str]:
    """p99 of successful requests (from their due time) above `p99_ms`, or too few successes to know."""
    successes = result.latency_ok.get_total_count()
    if successes == 0:
        return [f"{dc} front door: no successful request, so no latency to judge against p99 <= {p99_ms:g} ms"]
    problems = []
    if successes < MIN_SUCCESSES_FOR_P99:
        problems.append(f"{dc} front door: only {successes} successful requests, fewer than the "
                        f"{MIN_SUCCESSES_FOR_P99} a p99 needs: run the probe longer")
    if result.p99_ms is not None and result.p99_ms > p99_ms:
        problems.append(f"{dc} front door: p99 {result.p99_ms:.1f} ms > {p99_ms:g} ms promised (p50 {result.p50_ms:.1f}, "
                        f"p99.9 {result.p999_ms:.1f}, max {result.max_ms:.1f} ms over {successes} successful requests, "
                        f"measured from when each was due)")
    return problems


def steady_state_problems(result: ProbeResult, dc: str) -> list[str]:
    """In steady state the promise is 0: every failed request is named, 4xx and probe overload included."""
    problems = []
    if result.sent == 0:
        problems.append(f"{dc} front door in steady state: no request was sent, so nothing was shown")
    if result.failed:
        first = _first(result, lambda f: not f.outcome.startswith("4") and f.outcome != "overloaded")
        problems.append(f"{dc} front door in steady state: {result.failed} of {result.sent} requests failed where "
                        f"the promise is 0: {_breakdown(result)}{first}")
    if result.http_4xx:
        first = _first(result, lambda f: f.outcome.startswith("4"))
        problems.append(f"{dc} front door in steady state: {result.http_4xx} of {result.sent} answers were 4xx "
                        f"(counted apart from the error ratio: the probe's URL or Host header, or the site's "
                        f"routing?){first}")
    problems += _overloaded(result, dc)
    return problems


def _breakdown(result: ProbeResult) -> str:
    parts = []
    if result.http_5xx:
        servers = ", ".join(f"{name} {n}" for name, n in sorted(result.served_by_5xx.items(), key=lambda kv: -kv[1]))
        parts.append(f"5xx {result.http_5xx}" + (f" (from {servers})" if servers else ""))
    parts += [f"{kind} {n}" for kind, n in sorted(result.errors.items(), key=lambda kv: (-kv[1], kv[0]))]
    if result.http_4xx:
        parts.append(f"and 4xx {result.http_4xx} counted apart")
    return ", ".join(parts)


def _overloaded(result: ProbeResult, dc: str) -> list[str]:
    if not result.overloaded:
        return []
    return [f"{dc} front door: the probe itself was overloaded: {result.overloaded} of {result.scheduled} requests "
            f"not sent or not waited for (at most {result.max_in_flight} in flight): they are left out of the "
            f"ratio, so the verdict has holes (answers slower than {result.max_in_flight}/"
            f"{result.rate_per_second} s, or a starved client)"]


def _first(result: ProbeResult, wanted) -> str:  # noqa: ANN001 - a predicate on ProbeFailure
    chosen = [f for f in result.failures if wanted(f)]
    if not chosen:
        return ""
    failure = min(chosen, key=lambda f: f.seq)
    return f"; the first due at {_clock(failure.intended_at)}: {_describe(failure)}"


def _describe(failure: ProbeFailure) -> str:
    if failure.outcome.isdigit():
        return f"{failure.outcome} from {failure.served_by or 'an unnamed server'}"
    return f"{failure.outcome}: {failure.detail}"


def _clock(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return f"{moment:%H:%M:%S}.{moment.microsecond // 1000:03d} UTC"
