"""FT-11: the certificate each LB node serves, read over TLS on loopback, judged for expiry and sameness.

The certificates are made in the test with `cryptography`; the servers listen on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloudgate.frontends.tlscert import (
    TlsProbeError,
    expiry_problems,
    fetch_certificate,
    same_certificate_problems,
)


def _certificate(tmp_path: Path, cn: str, days: float, serial: int, tag: str) -> tuple[Path, Path, x509.Certificate]:
    """A certificate for `cn` valid from 60 days ago until `days` from now, written as PEM with its key."""
    now = datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cloudgate test CA"),
                        x509.NameAttribute(NameOID.COMMON_NAME, "cloudgate test CA")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now - timedelta(days=60)).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(cn), x509.DNSName(f"www.{cn}"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / f"{tag}.crt", tmp_path / f"{tag}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path, cert


def _context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def tls_node() -> Iterator[Callable[[ssl.SSLContext], int]]:
    """Start TLS listeners on 127.0.0.1 (handshake, then close); returns a starter giving the port."""
    stop = threading.Event()
    listeners: list[socket.socket] = []

    def start(context: ssl.SSLContext) -> int:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.05)
        listeners.append(listener)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                conn.settimeout(5)
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)  # until the client goes
                except OSError:
                    pass
                finally:
                    conn.close()

        threading.Thread(target=serve, daemon=True).start()
        return listener.getsockname()[1]

    yield start
    stop.set()
    for listener in listeners:
        listener.close()


def test_the_certificate_served_is_read_without_verification_names_serial_fingerprint_and_validity(tmp_path, tls_node):
    cert_path, key_path, cert = _certificate(tmp_path, "front.example", 90, 0xA1B2C3, "a")
    port = tls_node(_context(cert_path, key_path))
    info = fetch_certificate("127.0.0.1", port, timeout=5.0)
    assert info.subject_cn == "front.example"
    assert info.sans == ("front.example", "www.front.example", "127.0.0.1")
    assert info.serial_hex == "A1B2C3"
    der = cert.public_bytes(serialization.Encoding.DER)
    assert info.sha256_fingerprint.replace(":", "") == hashlib.sha256(der).hexdigest().upper()
    assert info.not_after == cert.not_valid_after_utc and info.not_after.tzinfo is not None
    assert info.not_before == cert.not_valid_before_utc
    assert info.issuer == "CN=cloudgate test CA,O=cloudgate test CA"
    assert info.server_name is None  # no SNI for an address
    assert info.label == f"CN=front.example (serial A1B2C3) on 127.0.0.1:{port}"


def test_the_server_name_is_sent_so_the_certificate_of_that_site_is_read(tmp_path, tls_node):
    default_cert, default_key, _ = _certificate(tmp_path, "default.example", 90, 1, "d")
    site_cert, site_key, _ = _certificate(tmp_path, "shop.example", 90, 2, "s")
    site = _context(site_cert, site_key)
    context = _context(default_cert, default_key)

    def by_name(tls: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        if name == "shop.example":
            tls.context = site

    context.sni_callback = by_name
    port = tls_node(context)
    assert fetch_certificate("127.0.0.1", port).subject_cn == "default.example"
    shop = fetch_certificate("127.0.0.1", port, server_name="shop.example")
    assert (shop.subject_cn, shop.server_name, shop.serial_hex) == ("shop.example", "shop.example", "02")


def test_a_certificate_expiring_tomorrow_fails_and_one_expiring_within_the_warning_window_warns(tmp_path, tls_node):
    cert_path, key_path, _ = _certificate(tmp_path, "front.example", 1, 0x1D, "tomorrow")
    tomorrow = fetch_certificate("127.0.0.1", tls_node(_context(cert_path, key_path)))
    now = datetime.now(UTC)
    failures, warnings = expiry_problems(tomorrow, now, warn_days=30, fail_days=14)
    assert warnings == []
    assert failures == [f"{tomorrow.label} expires on {tomorrow.not_after:%Y-%m-%d %H:%M} UTC, in 1.0 days "
                        f"(fewer than 14: renew it now)"]

    in_20_days = dataclasses.replace(tomorrow, not_after=now + timedelta(days=20, hours=1))
    assert expiry_problems(in_20_days, now, 30, 14)[0] == []
    [warning] = expiry_problems(in_20_days, now, 30, 14)[1]
    assert "in 20 days (fewer than 30: renew it soon)" in warning
    assert expiry_problems(dataclasses.replace(tomorrow, not_after=now + timedelta(days=31)), now, 30, 14) == ([], [])


def test_an_expired_or_not_yet_valid_certificate_fails_and_a_naive_now_is_refused(tmp_path, tls_node):
    cert_path, key_path, _ = _certificate(tmp_path, "front.example", 100, 7, "c")
    info = fetch_certificate("127.0.0.1", tls_node(_context(cert_path, key_path)))
    now = datetime.now(UTC)
    expired = dataclasses.replace(info, not_after=now - timedelta(days=2, hours=2))
    [line] = expiry_problems(expired, now, 30, 14)[0]
    assert "expired on" in line and "(2.1 days ago)" in line
    early = dataclasses.replace(info, not_before=now + timedelta(hours=3))
    [line] = expiry_problems(early, now, 30, 14)[0]
    assert "is not valid before" in line
    with pytest.raises(ValueError, match="aware"):
        expiry_problems(info, datetime.now(), 30, 14)  # naive: the mistake under test


def test_two_lb_nodes_serving_different_certificates_are_named_with_both_serials_and_expiry_dates(tmp_path, tls_node):
    old_cert, old_key, _ = _certificate(tmp_path, "front.example", 1, 0x0FEE, "old")
    new_cert, new_key, _ = _certificate(tmp_path, "front.example", 365, 0x2A2A, "new")
    renewed = _context(new_cert, new_key)
    a, b, c = tls_node(renewed), tls_node(_context(old_cert, old_key)), tls_node(renewed)
    certs = {node: fetch_certificate("127.0.0.1", port)
             for node, port in (("lb-dc1-a", a), ("lb-dc1-b", b), ("lb-dc2-a", c))}
    old, new = certs["lb-dc1-b"], certs["lb-dc1-a"]
    assert same_certificate_problems(certs) == [
        f"lb-dc1-b serves another certificate than lb-dc1-a, lb-dc2-a: serial 0FEE expiring "
        f"{old.not_after:%Y-%m-%d %H:%M} UTC where they serve serial 2A2A expiring {new.not_after:%Y-%m-%d %H:%M} UTC"]
    assert same_certificate_problems({"lb-dc1-a": new, "lb-dc2-a": certs["lb-dc2-a"]}) == []
    assert same_certificate_problems({}) == []


def test_same_serial_with_another_fingerprint_shows_both_fingerprints(tmp_path, tls_node):
    cert_path, key_path, _ = _certificate(tmp_path, "front.example", 90, 5, "x")
    info = fetch_certificate("127.0.0.1", tls_node(_context(cert_path, key_path)))
    twin = dataclasses.replace(info, sha256_fingerprint="00:" + info.sha256_fingerprint[3:])
    [line] = same_certificate_problems({"lb-dc1-a": info, "lb-dc1-b": twin})
    assert "(same serial, fingerprints" in line


def test_refused_plain_and_silent_ports_are_one_line_errors():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(TlsProbeError, match=r"connection refused \(nothing listening"):
        fetch_certificate("127.0.0.1", port, timeout=1.0)

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)

        def answer_in_clear() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        threading.Thread(target=answer_in_clear, daemon=True).start()
        with pytest.raises(TlsProbeError) as plain:
            fetch_certificate("127.0.0.1", listener.getsockname()[1], timeout=2.0)
    assert "TLS handshake failed" in str(plain.value) and "(not TLS on this port?)" in str(plain.value)

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        with pytest.raises(TlsProbeError) as hung:
            fetch_certificate("127.0.0.1", silent.getsockname()[1], timeout=0.3)
    assert "accepted the connection but no TLS handshake within 0.3 s" in str(hung.value)
    assert "\n" not in str(hung.value)
