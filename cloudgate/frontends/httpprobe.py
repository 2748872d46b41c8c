"""The front door as a client sees it: an open-loop HTTP probe, and one request told apart by cause.

Open loop, as cloudgate.cassandra.latency does for CQL: request i is due at start + i/rate whatever
happened to request i-1, and its latency is measured from when it was *due*. A stalled front door
therefore shows up as the latency users would have seen instead of silently slowing the probe down
(coordinated omission). The probe is bounded in count (rate x seconds), in requests in flight, and
in time (seconds + timeout + GRACE_SECONDS): it always returns. A request that cannot be sent or
waited for (too many in flight, or the probe itself too late) is recorded at once as *overloaded*,
counted apart: that is the probe's fault, not the server's.

Each request is a fresh HTTP/1.1 connection with `Connection: close`, so haproxy balances every
request and a dead server's connect error is seen rather than hidden behind a kept-alive
connection. It is plain http.client on a socket this module opens itself (the connect, the TLS
handshake and the exchange each bounded by what is left of the request's timeout, and told apart).
Measured on loopback, 50 req/s for 5 s against a server in another process, median of 5 runs: the
probe used about 4 % of one core (3.6-4.4 % over runs, ~0.8 ms of CPU per request, of which ~0.3 ms
is the scheduling, the thread and the histograms; +0.5 % with the JSONL history; 7.7 % over HTTPS, a
full handshake each time); the same probe on `requests` used 8.5 %.

Error classes, each with a one-line detail: `refused` (nothing listening), `timeout` (no TCP answer,
or accepted and then silent), `reset` (closed or reset without a whole answer), `dns` (the name does
not resolve), `tls` (the handshake failed), `other`. HTTP answers are counted by class of status
(2xx/3xx ok, 4xx apart, 5xx) and by the `X-Served-By` header, which names the server that answered.

A server that trickles its answer (each byte within the timeout, the whole never) holds its request
past the timeout; the probe's end cuts it, and it is recorded then as a timeout (so is a resolver that
hangs: name resolution has its own timeouts, outside the request's).

Threads: one daemon thread per request in flight. On Ctrl-C the KeyboardInterrupt propagates at
once; the requests still in flight are abandoned (their threads are daemons, each bounded by its
socket timeout, and write nothing more) and the history file is closed.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from hdrh.histogram import HdrHistogram

US = 1_000_000
HISTOGRAM_MAX_US = 60 * US
BODY_KEPT = 4096  # get_once keeps the first 4 KiB of a body
BODY_READ_MAX = 1 << 20  # the probe reads (and drops) at most 1 MiB of a body, then closes
GRACE_SECONDS = 1.0
FAILURES_KEPT = 50  # failed requests kept in a ProbeResult (all are counted, all are in the history)
ERROR_CLASSES = ("refused", "timeout", "reset", "dns", "tls", "other")
USER_AGENT = "cloudgate-httpprobe/1"


class HttpProbeError(Exception):
    """One request that failed; str() is one line naming the cause. `cause` is an error class or `http`."""

    def __init__(self, cause: str, message: str, answer: HttpAnswer | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        self.answer = answer  # the answer, when the server answered with a 4xx or 5xx


@dataclass(frozen=True)
class HttpAnswer:
    """One answer: status, headers (names in lower case), the first 4 KiB of the body, latency."""

    url: str
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    latency_seconds: float

    @property
    def served_by(self) -> str | None:
        return self.headers.get("x-served-by")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass(frozen=True)
class ProbeFailure:
    """One request that did not get a 2xx/3xx: its status or error class, in operator's words."""

    seq: int
    intended_at: float  # epoch seconds: when it was due
    outcome: str  # "503", "404", an error class, or "overloaded"
    detail: str
    served_by: str | None = None


def _histogram() -> HdrHistogram:
    return HdrHistogram(1, HISTOGRAM_MAX_US, 3)


@dataclass
class ProbeResult:
    """What an open-loop probe saw. `sent` is what the verdict covers: every scheduled request the
    probe did send and wait for; `overloaded` ones are the probe's own failures, counted apart."""

    url: str
    rate_per_second: int
    seconds: float
    timeout_seconds: float
    max_in_flight: int
    scheduled: int
    ok: int = 0  # 2xx and 3xx
    http_4xx: int = 0
    http_5xx: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # by class: refused, timeout, reset, dns, tls, other
    overloaded: int = 0
    served_by: dict[str, int] = field(default_factory=dict)  # X-Served-By of every HTTP answer
    served_by_5xx: dict[str, int] = field(default_factory=dict)
    latency_ok: HdrHistogram = field(default_factory=_histogram)  # µs from due time, 2xx/3xx only
    latency_all: HdrHistogram = field(default_factory=_histogram)  # µs from due time, every sent request
    failures: list[ProbeFailure] = field(default_factory=list)  # the first FAILURES_KEPT
    started_at: float = 0.0  # epoch seconds: when request 0 was due
    wall_seconds: float = 0.0

    @property
    def sent(self) -> int:
        return self.scheduled - self.overloaded

    @property
    def failed(self) -> int:
        """5xx and errors of every class (timeouts included); 4xx are counted apart."""
        return self.http_5xx + sum(self.errors.values())

    @property
    def error_ratio(self) -> float:
        """(5xx + errors + timeouts) / sent; NaN if nothing was sent."""
        return self.failed / self.sent if self.sent else float("nan")

    def percentile_ms(self, q: float) -> float | None:
        """Latency of successful requests at percentile q, in ms; None if none succeeded."""
        if self.latency_ok.get_total_count() == 0:
            return None
        return self.latency_ok.get_value_at_percentile(q) / 1000.0

    @property
    def p50_ms(self) -> float | None:
        return self.percentile_ms(50)

    @property
    def p90_ms(self) -> float | None:
        return self.percentile_ms(90)

    @property
    def p99_ms(self) -> float | None:
        return self.percentile_ms(99)

    @property
    def p999_ms(self) -> float | None:
        return self.percentile_ms(99.9)

    @property
    def max_ms(self) -> float | None:
        if self.latency_ok.get_total_count() == 0:
            return None
        return self.latency_ok.get_max_value() / 1000.0

    def summary(self) -> str:
        """One line: counts, error ratio, latency percentiles of successes, who answered, overload."""
        errors = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items(), key=lambda kv: -kv[1])) or "0"
        bad = f" ({_counts(self.served_by_5xx)})" if self.served_by_5xx else ""
        ratio = "n/a" if not self.sent else f"{self.error_ratio:.2%}"
        latency = ("no success" if self.p50_ms is None else
                   f"p50 {_ms(self.p50_ms)} p90 {_ms(self.p90_ms)} p99 {_ms(self.p99_ms)} "
                   f"p99.9 {_ms(self.p999_ms)} max {_ms(self.max_ms)} ms")
        line = (f"{self.url}: {self.sent} sent ({self.rate_per_second}/s for {self.seconds:g} s, "
                f"{self.wall_seconds:.1f} s wall): {self.ok} ok, 5xx {self.http_5xx}{bad}, 4xx {self.http_4xx}, "
                f"errors {errors}; error ratio {ratio}; {latency}; "
                f"served by {_counts(self.served_by) if self.served_by else 'nobody named'}")
        if self.overloaded:
            line += (f"; {self.overloaded} of {self.scheduled} not sent or not waited for: client overloaded "
                     f"(the probe's fault, not the server's)")
        return line


# -- one request ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str
    host_header: str
    server_name: str  # the TLS name (SNI, unless an address)


class _Failure(Exception):
    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(detail)
        self.cause = cause
        self.detail = detail


def _target(url: str, host_header: str | None) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http:// or https:// URL with a host: {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValueError(f"bad port in {url!r}") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    header = host_header or parts.netloc.rpartition("@")[2]
    # the TLS name: the Host header's host when one is given (the site), else the URL's; Python sends
    # no SNI for an address, but still checks it against the certificate's IP SANs when verifying
    name = urlsplit(f"//{host_header}").hostname if host_header else parts.hostname
    return _Target(parts.scheme, parts.hostname, port, path, header, name or parts.hostname)


def _tls_context(verify: bool) -> ssl.SSLContext:
    if verify:
        return ssl.create_default_context()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


def _exchange(target: _Target, timeout: float, context: ssl.SSLContext | None,
              keep: int, read_max: int) -> tuple[int, str, dict[str, str], bytes]:
    """GET the target on a new connection; the status, reason, headers and the first `keep` bytes of the body.

    Raises _Failure with an error class and a one-line detail. The whole exchange is bounded by `timeout`
    (each step gets what is left of it), except name resolution, which the resolver bounds itself.
    """
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
    except socket.gaierror as exc:
        raise _Failure("dns", f"name {target.host!r} does not resolve ({exc.strerror or exc})") from None
    except ConnectionRefusedError:
        raise _Failure("refused", f"connection refused on port {target.port} "
                                  f"(nothing listening: Apache or haproxy down?)") from None
    except TimeoutError:
        raise _Failure("timeout", f"no TCP answer on port {target.port} within {timeout:g} s "
                                  f"(VM, host or link down?)") from None
    except OSError as exc:
        raise _Failure("other", f"cannot connect to port {target.port}: {exc.strerror or exc}") from None
    try:
        if context is not None:
            sock = _handshake(sock, context, target, deadline, timeout)
        return _get(sock, target, deadline, timeout, keep, read_max)
    finally:
        sock.close()


def _handshake(sock: socket.socket, context: ssl.SSLContext, target: _Target, deadline: float,
               timeout: float) -> ssl.SSLSocket:
    try:
        sock.settimeout(_remaining(deadline))
        return context.wrap_socket(sock, server_hostname=target.server_name)
    except ssl.SSLCertVerificationError as exc:
        raise _Failure("tls", f"TLS handshake failed: certificate not trusted ({exc.verify_message})") from None
    except TimeoutError:
        raise _Failure("timeout", f"accepted the connection but did not finish the TLS handshake within "
                                  f"{timeout:g} s (hung or overloaded?)") from None
    except ssl.SSLError as exc:
        raise _Failure("tls", f"TLS handshake failed: {exc.reason or exc} (not TLS on this port?)") from None
    except OSError as exc:
        raise _Failure("tls", f"TLS handshake failed: {exc.strerror or exc}") from None


def _get(sock: socket.socket, target: _Target, deadline: float, timeout: float, keep: int,
         read_max: int) -> tuple[int, str, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(target.host, target.port)
    conn.sock = sock  # ours: connected (and TLS-wrapped) above, each step timed apart
    status = 0
    try:
        sock.settimeout(_remaining(deadline))
        conn.request("GET", target.path, headers={
            "Host": target.host_header, "Connection": "close", "User-Agent": USER_AGENT, "Accept": "*/*"})
        sock.settimeout(_remaining(deadline))
        response = conn.getresponse()
        status = response.status
        headers = {k.lower(): v for k, v in response.getheaders()}
        body = bytearray()
        read = 0
        while read < read_max:
            sock.settimeout(_remaining(deadline))
            chunk = response.read1(min(65536, read_max - read))
            if not chunk:
                break
            read += len(chunk)
            if len(body) < keep:
                body += chunk[: keep - len(body)]
        return status, response.reason, headers, bytes(body)
    except TimeoutError:
        if status:
            raise _Failure("timeout", f"answered {status} but the body did not end within {timeout:g} s") from None
        raise _Failure("timeout", f"accepted the connection but sent no answer within {timeout:g} s "
                                  f"(Apache or its backend hung or overloaded?)") from None
    except http.client.RemoteDisconnected:
        raise _Failure("reset", "closed the connection without answering "
                                "(Apache or its backend died mid-request?)") from None
    except http.client.IncompleteRead as exc:
        raise _Failure("reset", f"answered {status} but closed the connection after {len(exc.partial)} bytes "
                                f"of the body") from None
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
        raise _Failure("reset", "closed the TLS connection without a whole answer") from None
    except ssl.SSLError as exc:
        raise _Failure("tls", f"TLS failed during the exchange: {exc.reason or exc}") from None
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as exc:
        stage = f"after answering {status}" if status else "before answering"
        raise _Failure("reset", f"connection reset {stage} ({exc.strerror or exc})") from None
    except http.client.HTTPException as exc:
        raise _Failure("other", f"not an HTTP answer ({type(exc).__name__}: {str(exc)[:80]})") from None
    except OSError as exc:
        raise _Failure("other", f"failed during the exchange: {exc.strerror or exc}") from None


def get_once(url: str, timeout: float, host_header: str | None = None, verify_tls: bool = False) -> HttpAnswer:
    """One GET on a new connection; the answer if its status is below 400, else HttpProbeError (one line).

    The error names the cause as an operator reads it: connection refused (nothing listening), no
    answer within N s (VM, host or link down, or a server that accepted and hung), a name that does
    not resolve, a TLS handshake that failed, or "answered 503 ...: <the first line of the body>".
    """
    target = _target(url, host_header)
    context = _tls_context(verify_tls) if target.scheme == "https" else None
    started = time.perf_counter()
    try:
        status, reason, headers, body = _exchange(target, timeout, context, BODY_KEPT, BODY_KEPT)
    except _Failure as failure:
        raise HttpProbeError(failure.cause, f"GET {url}: {failure.detail}") from None
    answer = HttpAnswer(url, status, reason, headers, body, time.perf_counter() - started)
    if status >= 400:
        by = f" (served by {answer.served_by})" if answer.served_by else ""
        raise HttpProbeError("http", f"GET {url}: answered {status} {reason}{by}: {first_line(body)!r}", answer)
    return answer


def first_line(body: bytes) -> str:
    """The first line of a body with text in it, HTML tags dropped, at most 120 characters."""
    for line in body.decode("utf-8", "replace").splitlines():
        text = " ".join(re.sub(r"<[^>]*>", " ", line).split())
        if text:
            return text[:120]
    return ""


# -- the open-loop probe -------------------------------------------------------------------------------------

class _Run:
    """The probe's shared state: counts, histograms, requests in flight, the history file."""

    def __init__(self, result: ProbeResult, history_path: Path | None) -> None:
        self.result = result
        self.cond = threading.Condition()
        self.in_flight: dict[int, tuple[float, float, float]] = {}  # seq -> (due, intended, send deadline)
        self.closed = False
        self.fd: int | None = None
        if history_path is not None:
            self.fd = os.open(history_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def finish(self, seq: int, due: float, intended: float, end: float, status: int | None,
               served_by: str | None, error: str | None, detail: str) -> None:
        """Record one request's outcome (under the lock); a request already settled or abandoned is ignored."""
        with self.cond:
            if self.closed or seq not in self.in_flight:
                return
            self.in_flight.pop(seq, None)
            self._record(seq, due, intended, end, status, served_by, error, detail)
            self.cond.notify_all()

    def _record(self, seq: int, due: float, intended: float, end: float, status: int | None,
                served_by: str | None, error: str | None, detail: str) -> None:
        r = self.result
        latency_us = min(HISTOGRAM_MAX_US, max(1, int((end - due) * US)))
        outcome = None
        if status is not None:
            if served_by:
                r.served_by[served_by] = r.served_by.get(served_by, 0) + 1
            if 200 <= status < 400:
                r.ok += 1
                r.latency_ok.record_value(latency_us)
            elif 400 <= status < 500:
                r.http_4xx += 1
                outcome = str(status)
            elif status >= 500:
                r.http_5xx += 1
                outcome = str(status)
                if served_by:
                    r.served_by_5xx[served_by] = r.served_by_5xx.get(served_by, 0) + 1
            else:
                error, detail = "other", f"answered {status}, not a final status"
        if error == "overloaded":
            r.overloaded += 1
            outcome = error
        elif error is not None:
            r.errors[error] = r.errors.get(error, 0) + 1
            outcome = error
        if error != "overloaded":
            r.latency_all.record_value(latency_us)
        if outcome is not None and len(r.failures) < FAILURES_KEPT:
            r.failures.append(ProbeFailure(seq, intended, outcome, detail, served_by))
        if self.fd is not None:
            line = json.dumps({
                "seq": seq, "intended": round(intended, 6), "url": r.url, "status": status, "error": error,
                "detail": detail or None, "latency_us": None if error == "overloaded" else latency_us,
                "served_by": served_by}, separators=(",", ":")) + "\n"
            os.write(self.fd, line.encode())  # one write per line, O_APPEND: lines never interleave

    def close(self) -> None:
        with self.cond:
            self.closed = True
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None


def run_probe(url: str, rate_per_second: int, seconds: float, timeout_seconds: float, max_in_flight: int,
              host_header: str | None = None, verify_tls: bool = False,
              history_path: Path | None = None) -> ProbeResult:
    """GET `url` open loop, `rate_per_second` for `seconds`, each request bounded by `timeout_seconds`.

    Returns within seconds + timeout_seconds + GRACE_SECONDS. With `history_path`, every request is
    also appended to it as one JSON line (seq, intended epoch time, status or error class, detail,
    latency in µs, X-Served-By). Ctrl-C propagates; the requests in flight are abandoned.
    """
    if rate_per_second < 1 or seconds <= 0 or timeout_seconds <= 0 or max_in_flight < 1:
        raise ValueError(f"run_probe needs rate >= 1, seconds > 0, timeout > 0, max_in_flight >= 1 "
                         f"(got {rate_per_second}, {seconds}, {timeout_seconds}, {max_in_flight})")
    target = _target(url, host_header)
    context = _tls_context(verify_tls) if target.scheme == "https" else None
    total = max(1, int(rate_per_second * seconds + 1e-9))
    result = ProbeResult(url, rate_per_second, seconds, timeout_seconds, max_in_flight, scheduled=total)
    run = _Run(result, history_path)
    interval = 1.0 / rate_per_second
    start = time.perf_counter() + 0.005
    result.started_at = time.time() + 0.005
    hard_end = start + seconds + timeout_seconds + GRACE_SECONDS

    def request(seq: int, due: float, intended: float) -> None:
        status = served_by = error = None
        detail = ""
        try:
            status, _reason, headers, _body = _exchange(target, timeout_seconds, context, 0, BODY_READ_MAX)
            served_by = headers.get("x-served-by")
        except _Failure as failure:
            error, detail = failure.cause, failure.detail
        except Exception as exc:  # noqa: BLE001 - a request is never lost: it is counted as `other`
            error, detail = "other", f"{type(exc).__name__}: {exc}"
        run.finish(seq, due, intended, time.perf_counter(), status, served_by, error, detail)

    try:
        for seq in range(total):
            due = start + seq * interval
            intended = result.started_at + seq * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            now = time.perf_counter()
            with run.cond:
                if now + timeout_seconds > hard_end:
                    run._record(seq, due, intended, now, None, None, "overloaded",
                                f"client overloaded: {now - due:.1f} s late, too late to send")
                    continue
                if len(run.in_flight) >= max_in_flight:
                    run._record(seq, due, intended, now, None, None, "overloaded",
                                f"client overloaded: {max_in_flight} requests already in flight")
                    continue
                run.in_flight[seq] = (due, intended, now + timeout_seconds)
            thread = threading.Thread(target=request, args=(seq, due, intended), daemon=True,
                                      name=f"httpprobe-{seq}")
            try:
                thread.start()
            except RuntimeError as exc:  # no thread to be had: the probe's fault
                with run.cond:
                    run.in_flight.pop(seq, None)
                    run._record(seq, due, intended, time.perf_counter(), None, None, "overloaded",
                                f"client overloaded: cannot start a thread ({exc})")
        with run.cond:
            run.cond.wait_for(lambda: not run.in_flight, timeout=max(0.0, hard_end - time.perf_counter()))
            now = time.perf_counter()
            for seq, (due, intended, deadline) in sorted(run.in_flight.items()):
                if now >= deadline:  # its own timeout passed and its thread never reported: a timeout
                    run._record(seq, due, intended, now, None, None, "timeout",
                                f"no whole answer within {timeout_seconds:g} s (abandoned at the probe's end)")
                else:  # sent so late that the probe ended first: the probe's fault
                    run._record(seq, due, intended, now, None, None, "overloaded",
                                "client overloaded: sent too late to be waited for")
            run.in_flight.clear()
        result.wall_seconds = time.perf_counter() - start
        return result
    finally:
        run.close()


# -- helpers -------------------------------------------------------------------------------------------------

def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if value < 1000 else f"{value:.0f}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
