"""Request signature verification, the way ApiServer.verifyRequest does it.

The string to sign is rebuilt from the params *as received* (names keep their case and are sorted
case-sensitively, values Java-URL-encoded with `+` turned into `%20`), lowercased whole, then HMAC-SHA1
with the user's secret. With signatureVersion=3 the `expires` stamp is mandatory and must be in the future.
Every failure is the same 401 so a caller learns nothing about which check failed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

from .envelope import ApiError, unauthorized

_JAVA_UNRESERVED = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*_")

T = TypeVar("T")


def java_urlencode(value: str) -> str:
    """java.net.URLEncoder.encode(value, "UTF-8"): keeps a-zA-Z0-9 . - * _, space becomes '+'."""
    out: list[str] = []
    for byte in value.encode("utf-8"):
        if byte in _JAVA_UNRESERVED:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def first_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Servlet parameter map semantics: each name keeps its first value."""
    out: dict[str, str] = {}
    for name, value in pairs:
        out.setdefault(name, value)
    return out


def string_to_sign(params: dict[str, str]) -> str:
    names = sorted((n for n in params if n.lower() != "signature"), key=lambda n: n.encode("utf-16-be"))
    joined = "&".join(f"{n}={java_urlencode(params[n]).replace('+', '%20')}" for n in names)
    return joined.lower()


def compute_signature(secret: str, params: dict[str, str]) -> str:
    digest = hmac.new(secret.encode("utf-8"), string_to_sign(params).encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_expires(value: str) -> float | None:
    """SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ssZ"), e.g. 2026-11-26T16:47:54+0000; None if unparsable."""
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return None


def verify_request(params: dict[str, str], secret_for_key: Callable[[str], tuple[T, str] | None],
                   now: float | None = None) -> T:
    """Return the user owning the apiKey, or raise the 401 ApiError."""
    lower = {}
    for name, value in params.items():
        lower.setdefault(name.lower(), value)
    api_key, signature = lower.get("apikey"), lower.get("signature")
    if not api_key or not signature:
        raise unauthorized()
    found = secret_for_key(api_key)
    if found is None:
        raise unauthorized()
    user, secret = found
    if lower.get("signatureversion") == "3":
        expires = parse_expires(lower.get("expires", ""))
        if expires is None or expires < (time.time() if now is None else now):
            raise unauthorized()
    expected = compute_signature(secret, params)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise unauthorized()
    return user


__all__ = ["ApiError", "compute_signature", "first_values", "java_urlencode", "string_to_sign", "verify_request"]
