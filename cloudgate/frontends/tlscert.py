"""The certificate a TLS endpoint serves (FT-11): read without verification, judged for expiry and sameness.

Reading is the point, not trusting: the handshake is made with verification off, so an expired,
self-signed or wrong-name certificate is still read and then judged. With verification off,
`SSLSocket.getpeercert()` returns an empty dict; the certificate is taken in its binary (DER) form
and parsed with `cryptography.x509`.

The judges are pure: expiry against a given `now`, and sameness across the nodes that should serve
one certificate (the two haproxy nodes of a VRRP pair, or every LB node of the site): a node left
with the old certificate after a renewal is found the day the VIP moves to it, unless it is checked.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID


class TlsProbeError(Exception):
    """The certificate could not be read; str() is one line naming the cause."""


@dataclass(frozen=True)
class CertInfo:
    """What one endpoint served: names, serial, SHA-256 fingerprint, validity (aware UTC), issuer."""

    host: str
    port: int
    server_name: str | None  # the SNI sent, None for none
    subject_cn: str | None
    sans: tuple[str, ...]  # DNS names and IP addresses, as served
    serial_hex: str  # upper-case hex, even length, as `openssl x509 -serial` and haproxy's `show ssl cert`
    sha256_fingerprint: str  # upper-case hex pairs joined by colons, as `openssl x509 -fingerprint -sha256`
    not_before: datetime
    not_after: datetime
    issuer: str  # RFC 4514
    subject: str  # RFC 4514

    @property
    def label(self) -> str:
        """`CN=front.example (serial 0A1B) on 10.0.0.5:443`: what an operator looks for on the node."""
        sni = f" for {self.server_name}" if self.server_name and self.server_name != self.host else ""
        return f"CN={self.subject_cn or '?'} (serial {self.serial_hex}) on {self.host}:{self.port}{sni}"


def fetch_certificate(host: str, port: int, server_name: str | None = None, timeout: float = 5.0) -> CertInfo:
    """Handshake with `host:port` (no verification) and read the certificate it serves.

    `server_name` is the SNI to send; by default the host's name, or none for an address. The connect
    and the handshake share `timeout`. Errors are TlsProbeError in one line.
    """
    if server_name is None and not _is_address(host):
        server_name = host
    where = f"{host}:{port}"
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise TlsProbeError(f"TLS on {where}: name {host!r} does not resolve ({exc.strerror or exc})") from None
    except ConnectionRefusedError:
        raise TlsProbeError(f"TLS on {where}: connection refused (nothing listening: haproxy or Apache down?)") from None
    except TimeoutError:
        raise TlsProbeError(f"TLS on {where}: no TCP answer within {timeout:g} s (VM, host or link down?)") from None
    except OSError as exc:
        raise TlsProbeError(f"TLS on {where}: cannot connect ({exc.strerror or exc})") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        with context.wrap_socket(sock, server_hostname=server_name) as tls:
            der = tls.getpeercert(binary_form=True)
    except TimeoutError:
        raise TlsProbeError(f"TLS on {where}: accepted the connection but no TLS handshake within {timeout:g} s "
                            f"(hung or overloaded?)") from None
    except ssl.SSLError as exc:
        raise TlsProbeError(f"TLS on {where}: TLS handshake failed: {exc.reason or exc} "
                            f"(not TLS on this port?)") from None
    except OSError as exc:
        raise TlsProbeError(f"TLS on {where}: TLS handshake failed: {exc.strerror or exc}") from None
    finally:
        sock.close()
    if not der:
        raise TlsProbeError(f"TLS on {where}: the server sent no certificate")
    try:
        return certificate_info(der, host, port, server_name)
    except ValueError as exc:
        raise TlsProbeError(f"TLS on {where}: the certificate served cannot be parsed ({exc})") from None


def certificate_info(der: bytes, host: str, port: int, server_name: str | None = None) -> CertInfo:
    """A DER certificate as CertInfo (pure; ValueError if it is not one)."""
    cert = x509.load_der_x509_certificate(der)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = tuple(san.get_values_for_type(x509.DNSName)) + tuple(
            str(a) for a in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        sans = ()
    serial = format(cert.serial_number, "X")
    return CertInfo(
        host=host, port=port, server_name=server_name,
        subject_cn=str(cns[0].value) if cns else None,
        sans=sans,
        serial_hex=serial.zfill(len(serial) + len(serial) % 2),
        sha256_fingerprint=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        issuer=cert.issuer.rfc4514_string(),
        subject=cert.subject.rfc4514_string(),
    )


def expiry_problems(cert: CertInfo, now: datetime, warn_days: float, fail_days: float) -> tuple[list[str], list[str]]:
    """(failures, warnings): expired, not yet valid, or fewer than fail_days left fail; fewer than warn_days warn."""
    if now.tzinfo is None:
        raise ValueError("expiry_problems needs an aware `now` (UTC), not a naive datetime")
    if now < cert.not_before:
        return [f"{cert.label} is not valid before {_when(cert.not_before)} "
                f"(installed early, or this machine's clock is behind?)"], []
    left_days = (cert.not_after - now).total_seconds() / 86400
    if left_days <= 0:
        return [f"{cert.label} expired on {_when(cert.not_after)} ({-left_days:.1f} days ago)"], []
    if left_days < fail_days:
        return [f"{cert.label} expires on {_when(cert.not_after)}, in {left_days:.1f} days "
                f"(fewer than {fail_days:g}: renew it now)"], []
    if left_days < warn_days:
        return [], [f"{cert.label} expires on {_when(cert.not_after)}, in {left_days:.0f} days "
                    f"(fewer than {warn_days:g}: renew it soon)"]
    return [], []


def same_certificate_problems(certs_by_node: dict[str, CertInfo]) -> list[str]:
    """One line per group of nodes serving another certificate than the most common one, naming both.

    Certificates are compared by SHA-256 fingerprint; each line gives both serials and expiry dates
    (and both fingerprints when the serials are equal). Ties go to the group of the first node by name.
    """
    groups: dict[str, list[str]] = {}
    for node in sorted(certs_by_node):
        groups.setdefault(certs_by_node[node].sha256_fingerprint, []).append(node)
    if len(groups) <= 1:
        return []
    ordered = sorted(groups.values(), key=lambda nodes: (-len(nodes), nodes[0]))
    reference_nodes = ordered[0]
    reference = certs_by_node[reference_nodes[0]]
    problems = []
    for nodes in ordered[1:]:
        other = certs_by_node[nodes[0]]
        verb = "serves" if len(nodes) == 1 else "serve"
        line = (f"{', '.join(nodes)} {verb} another certificate than {', '.join(reference_nodes)}: "
                f"serial {other.serial_hex} expiring {_when(other.not_after)} where "
                f"{'it' if len(reference_nodes) == 1 else 'they'} serve serial {reference.serial_hex} "
                f"expiring {_when(reference.not_after)}")
        if other.serial_hex == reference.serial_hex:
            line += (f" (same serial, fingerprints {other.sha256_fingerprint[:23]}... and "
                     f"{reference.sha256_fingerprint[:23]}...)")
        problems.append(line)
    return problems


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
