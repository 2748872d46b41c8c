"""FT-04/05/06/10's client: the open-loop front-door probe and the single request, against loopback servers.

Every server here listens on 127.0.0.1 with an ephemeral port; nothing leaves the machine (a name
that does not resolve is simulated, not looked up). Times are asserted as bounds with wide margins
and as orderings, so the tests hold on a loaded 2-core machine.
"""

from __future__ import annotations

import datetime
import itertools
import json
import signal
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloudgate.frontends.httpprobe import GRACE_SECONDS, HttpProbeError, get_once, run_probe

APACHE_503 = b"""<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">
<html><head>
<title>503 Service Unavailable</title>
</head><body>
<h1>Service Unavailable</h1>
<p>The server is temporarily unable to service your
request due to maintenance downtime or capacity
problems. Please try again later.</p>
</body></html>
"""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.names = itertools.cycle(["web-dc1-1", "web-dc1-2", "web-dc1-3"])
        self.counter = itertools.count()
        self.release = threading.Event()  # set at teardown: every sleeping handler ends
        self.gate = threading.Event()  # /stall waits for it
        self.slow_seconds = 0.4


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?")[0]
        if path == "/ok":
            self._answer(200, b"OK\n", next(self.server.names))
        elif path == "/host":
            self._answer(200, self.headers["Host"].encode(), None)
        elif path == "/503":
            self._answer(503, APACHE_503, "web-dc1-2")
        elif path == "/mixed":  # one 503 and one 404 in every 10 requests, the rest 200
            n = next(self.server.counter) % 10
            status = {0: 503, 1: 404}.get(n, 200)
            self._answer(status, b"x\n", "web-dc1-2" if status == 503 else next(self.server.names))
        elif path == "/slow":
            self.server.release.wait(self.server.slow_seconds)
            self._answer(200, b"late\n", "web-dc1-1")
        elif path == "/stall":
            self.server.gate.wait(10)
            self._answer(200, b"after the stall\n", "web-dc1-1")
        elif path == "/trickle":  # a status line, then one byte of a header every 0.1 s, never done
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while not self.server.release.wait(0.1):
                    self.wfile.write(b"z")
            except OSError:
                pass
            self.close_connection = True
        elif path == "/close":
            self.close_connection = True  # read the request, then close without a word
        else:
            self._answer(404, b"no such page\n", None)

    def _answer(self, status: int, body: bytes, served_by: str | None) -> None:
        try:
            self.send_response(status)
            if served_by:
                self.send_header("X-Served-By", served_by)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (a timeout test): nothing to tell it

    def log_message(self, *args: object) -> None:
        pass


def _serve(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        getattr(server, "release", threading.Event()).set()
        getattr(server, "gate", threading.Event()).set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def web() -> Iterator[_Server]:
    yield from _serve(_Server())  # type: ignore[misc]


def _url(server: ThreadingHTTPServer, path: str, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{server.server_address[1]}{path}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed on return: nothing listens there


# -- the open-loop probe ---------------------------------------------------------------------------------------

def test_a_healthy_front_door_answers_every_request_and_names_the_servers_that_answered(web):
    started = time.monotonic()
    result = run_probe(_url(web, "/ok"), rate_per_second=40, seconds=1.0, timeout_seconds=2.0, max_in_flight=20)
    elapsed = time.monotonic() - started
    assert (result.scheduled, result.sent, result.ok, result.failed, result.overloaded) == (40, 40, 40, 0, 0)
    assert result.error_ratio == 0.0 and result.errors == {} and result.failures == []
    assert set(result.served_by) == {"web-dc1-1", "web-dc1-2", "web-dc1-3"}
    assert sum(result.served_by.values()) == 40
    assert 0 < result.p50_ms <= result.p90_ms <= result.p99_ms <= result.p999_ms <= result.max_ms
    assert result.latency_all.get_total_count() == 40
    assert elapsed < 1.0 + 2.0 + GRACE_SECONDS + 3  # its bound, with a wide margin
    line = result.summary()
    assert "\n" not in line
    assert "40 sent (40/s for 1 s" in line and "40 ok, 5xx 0, 4xx 0, errors 0; error ratio 0.00%" in line
    assert "not sent" not in line


def test_the_probe_is_open_loop_a_slow_answer_does_not_delay_the_next_request(web):
    web.slow_seconds = 0.4
    started = time.monotonic()
    result = run_probe(_url(web, "/slow"), rate_per_second=20, seconds=1.0, timeout_seconds=3.0, max_in_flight=50)
    elapsed = time.monotonic() - started
    assert result.ok == 20
    assert elapsed < 20 * 0.4  # a closed loop would need 20 x 0.4 s; open loop, about 1.4 s
    assert result.p50_ms >= 400  # measured from when each was due, so never below the server's delay


def test_a_stall_beyond_max_in_flight_is_counted_as_the_probe_overloaded_not_as_server_errors(web):
    opener = threading.Timer(0.8, web.gate.set)  # the front door answers nothing for 0.8 s
    opener.start()
    try:
        result = run_probe(_url(web, "/stall"), rate_per_second=20, seconds=1.0, timeout_seconds=5.0,
                           max_in_flight=4)
    finally:
        opener.cancel()
    # 16 requests were due during the stall and only 4 could be in flight: the rest were not sent
    assert 8 <= result.overloaded <= 16
    assert result.sent == result.scheduled - result.overloaded == result.ok
    assert result.errors == {} and result.failed == 0 and result.error_ratio == 0.0
    assert result.max_ms >= 700  # the first request waited out the stall, measured from its due time
    assert {f.outcome for f in result.failures} == {"overloaded"}
    assert "4 requests already in flight" in result.failures[0].detail
    assert "client overloaded (the probe's fault, not the server's)" in result.summary()


def test_a_server_that_answers_after_the_timeout_counts_timeouts_and_the_probe_still_ends_in_time(web):
    web.slow_seconds = 30
    started = time.monotonic()
    result = run_probe(_url(web, "/slow"), rate_per_second=10, seconds=0.5, timeout_seconds=0.3, max_in_flight=20)
    elapsed = time.monotonic() - started
    assert elapsed < 0.5 + 0.3 + GRACE_SECONDS + 2
    assert result.errors == {"timeout": 5} and result.ok == 0 and result.error_ratio == 1.0
    assert "sent no answer within 0.3 s" in result.failures[0].detail
    assert result.p99_ms is None and "no success" in result.summary()
    assert result.latency_all.get_total_count() == 5
    assert result.latency_all.get_min_value() >= 300_000  # each timed out after 0.3 s, from its due time


def test_a_server_trickling_its_answer_past_the_timeout_is_cut_at_the_probes_end_as_a_timeout(web):
    started = time.monotonic()
    result = run_probe(_url(web, "/trickle"), rate_per_second=10, seconds=0.3, timeout_seconds=0.5, max_in_flight=10)
    elapsed = time.monotonic() - started
    assert elapsed < 0.3 + 0.5 + GRACE_SECONDS + 2  # each byte came within the timeout, the whole never did
    assert result.errors == {"timeout": 3} and result.overloaded == 0
    assert all("abandoned at the probe's end" in f.detail for f in result.failures)


def test_a_refused_port_and_a_server_closing_without_answering_are_told_apart(web):
    refused = run_probe(f"http://127.0.0.1:{_free_port()}/", 10, 0.5, 1.0, 10)
    closed = run_probe(_url(web, "/close"), 10, 0.5, 1.0, 10)
    assert refused.errors == {"refused": 5}
    assert "connection refused on port" in refused.failures[0].detail
    assert closed.errors == {"reset": 5}
    assert "closed the connection without answering" in closed.failures[0].detail
    assert refused.served_by == closed.served_by == {}


def test_5xx_count_against_the_promise_with_the_server_that_answered_them_and_4xx_are_counted_apart(web):
    result = run_probe(_url(web, "/mixed"), rate_per_second=40, seconds=0.5, timeout_seconds=2.0, max_in_flight=20)
    assert (result.sent, result.ok, result.http_5xx, result.http_4xx) == (20, 16, 2, 2)
    assert result.error_ratio == pytest.approx(2 / 20)
    assert result.served_by_5xx == {"web-dc1-2": 2}
    assert sum(result.served_by.values()) == 20
    assert sorted(f.outcome for f in result.failures) == ["404", "404", "503", "503"]
    assert "5xx 2 (web-dc1-2 2), 4xx 2" in result.summary()


def test_the_history_has_one_json_line_per_request_appended(web, tmp_path: Path):
    history = tmp_path / "probe.jsonl"
    run_probe(_url(web, "/ok"), 20, 0.5, 2.0, 10, history_path=history)
    run_probe(f"http://127.0.0.1:{_free_port()}/", 20, 0.25, 1.0, 10, history_path=history)
    lines = [json.loads(line) for line in history.read_text().splitlines()]
    assert len(lines) == 10 + 5
    first = sorted(lines[:10], key=lambda r: r["seq"])
    assert [r["seq"] for r in first] == list(range(10))
    assert all(r["status"] == 200 and r["error"] is None and r["latency_us"] > 0 for r in first)
    assert all(r["served_by"] in {"web-dc1-1", "web-dc1-2", "web-dc1-3"} for r in first)
    gaps = [b["intended"] - a["intended"] for a, b in itertools.pairwise(first)]
    assert all(g == pytest.approx(0.05, abs=1e-3) for g in gaps)  # scheduled, not measured, times
    assert {r["error"] for r in lines[10:]} == {"refused"}
    assert all(r["status"] is None and r["detail"] for r in lines[10:])


def test_ctrl_c_propagates_at_once_and_the_abandoned_requests_write_nothing_more(web, tmp_path: Path):
    web.slow_seconds = 2.0
    history = tmp_path / "probe.jsonl"
    main = threading.main_thread().ident
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    ctrl_c = threading.Timer(0.5, signal.pthread_kill, args=(main, signal.SIGINT))
    started = time.monotonic()
    ctrl_c.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_probe(_url(web, "/slow"), rate_per_second=20, seconds=5.0, timeout_seconds=3.0, max_in_flight=50,
                      history_path=history)
        elapsed = time.monotonic() - started
    finally:
        ctrl_c.cancel()
        signal.signal(signal.SIGINT, previous)
    assert elapsed < 2.0  # not the 5 s of the run, nor the 3 s of a timeout
    probes = [t for t in threading.enumerate() if t.name.startswith("httpprobe-")]
    assert probes and all(t.daemon for t in probes)  # none can hold the interpreter's exit
    web.release.set()  # the server answers: the abandoned requests finish, and record nothing
    for thread in probes:
        thread.join(5)
    assert not any(t.is_alive() for t in probes)
    assert not history.exists() or history.read_text() == ""


def test_the_probe_refuses_arguments_it_cannot_bound():
    with pytest.raises(ValueError, match="max_in_flight >= 1"):
        run_probe("http://127.0.0.1:1/", 10, 1.0, 1.0, 0)
    with pytest.raises(ValueError, match="not an http:// or https:// URL"):
        run_probe("ftp://127.0.0.1/", 10, 1.0, 1.0, 5)


# -- one request -----------------------------------------------------------------------------------------------

def test_one_request_returns_status_headers_body_and_the_server_that_answered(web):
    answer = get_once(_url(web, "/ok"), timeout=2.0)
    assert (answer.status, answer.text, answer.headers["connection"]) == (200, "OK\n", "close")
    assert answer.served_by in {"web-dc1-1", "web-dc1-2", "web-dc1-3"}
    assert 0 < answer.latency_seconds < 2.0


def test_the_host_header_names_the_site_while_the_connection_goes_to_the_address(web):
    answer = get_once(_url(web, "/host"), timeout=2.0, host_header="front.example")
    assert answer.text == "front.example"


def test_a_5xx_is_an_error_naming_the_status_the_server_and_the_first_line_of_the_body(web):
    with pytest.raises(HttpProbeError) as caught:
        get_once(_url(web, "/503"), timeout=2.0)
    assert str(caught.value) == (f"GET {_url(web, '/503')}: answered 503 Service Unavailable "
                                 f"(served by web-dc1-2): '503 Service Unavailable'")
    assert caught.value.cause == "http" and caught.value.answer.status == 503


def test_one_request_tells_refused_closed_silent_and_unresolvable_apart(web, monkeypatch):
    port = _free_port()
    with pytest.raises(HttpProbeError) as refused:
        get_once(f"http://127.0.0.1:{port}/health.php", timeout=1.0)
    assert refused.value.cause == "refused"
    assert str(refused.value) == (f"GET http://127.0.0.1:{port}/health.php: connection refused on port {port} "
                                  f"(nothing listening: Apache or haproxy down?)")

    with pytest.raises(HttpProbeError) as closed:
        get_once(_url(web, "/close"), timeout=1.0)
    assert closed.value.cause == "reset" and "closed the connection without answering" in str(closed.value)

    with socket.socket() as silent:  # accepts (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        with pytest.raises(HttpProbeError) as hung:
            get_once(f"http://127.0.0.1:{silent.getsockname()[1]}/", timeout=0.3)
        assert time.monotonic() - started < 0.3 + 2
    assert hung.value.cause == "timeout"
    assert "accepted the connection but sent no answer within 0.3 s" in str(hung.value)

    def no_such_name(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)  # no resolver is asked
    with pytest.raises(HttpProbeError) as unresolved:
        get_once("http://front.invalid/", timeout=1.0)
    assert unresolved.value.cause == "dns"
    assert str(unresolved.value) == ("GET http://front.invalid/: name 'front.invalid' does not resolve "
                                     "(Name or service not known)")


def test_a_port_whose_backlog_is_full_gives_no_tcp_answer_like_a_dead_vm():
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        fillers = []
        try:
            for _ in range(4):  # fill the accept queue: Linux then drops the next SYNs
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
                fillers.append(filler)
            time.sleep(0.2)
            with pytest.raises(HttpProbeError) as dead:
                get_once(f"http://127.0.0.1:{port}/", timeout=0.5)
        finally:
            for filler in fillers:
                filler.close()
    assert dead.value.cause == "timeout"
    assert "no TCP answer on port" in str(dead.value) and "(VM, host or link down?)" in str(dead.value)


# -- TLS -------------------------------------------------------------------------------------------------------

def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "front.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("front.example")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_web(tmp_path: Path) -> Iterator[_Server]:
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _Server()
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)  # type: ignore[misc]


def test_https_is_probed_without_verification_and_an_untrusted_certificate_is_named_when_verifying(tls_web):
    answer = get_once(_url(tls_web, "/host", "https"), timeout=2.0, host_header="front.example")
    assert (answer.status, answer.text) == (200, "front.example")
    result = run_probe(_url(tls_web, "/ok", "https"), 20, 0.5, 2.0, 10)
    assert result.ok == 10 and result.errors == {}
    with pytest.raises(HttpProbeError) as untrusted:
        get_once(_url(tls_web, "/ok", "https"), timeout=2.0, host_header="front.example", verify_tls=True)
    assert untrusted.value.cause == "tls"
    assert "TLS handshake failed: certificate not trusted (self-signed certificate)" in str(untrusted.value)


def test_https_to_a_plain_http_port_is_a_failed_tls_handshake():
    with socket.socket() as plain:
        plain.bind(("127.0.0.1", 0))
        plain.listen(4)

        def answer_in_clear() -> None:
            conn, _ = plain.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

        threading.Thread(target=answer_in_clear, daemon=True).start()
        with pytest.raises(HttpProbeError) as caught:
            get_once(f"https://127.0.0.1:{plain.getsockname()[1]}/", timeout=2.0)
    assert caught.value.cause == "tls"
    assert "TLS handshake failed:" in str(caught.value) and "(not TLS on this port?)" in str(caught.value)
