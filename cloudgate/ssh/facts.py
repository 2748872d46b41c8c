"""Parsers for what hosts print (os-release, chrony), kept pure so they are unit-tested on samples."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass


def os_release(text: str) -> dict[str, str]:
    """/etc/os-release as a dict (quotes removed, comments ignored)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError:
            parts = [raw.strip("\"'")]
        values[key.strip()] = parts[0] if parts else ""
    return values


@dataclass(frozen=True)
class ChronyTracking:
    leap_status: str
    offset_ms: float  # System time offset; positive = fast


_FIELD = re.compile(r"^\s*([A-Za-z ]+?)\s*:\s*(.*)$")


def chrony_tracking(text: str) -> ChronyTracking:
    """`chronyc -n tracking`: leap status and the system clock's offset from NTP time."""
    fields = {}
    for line in text.splitlines():
        m = _FIELD.match(line)
        if m:
            fields[m.group(1).strip()] = m.group(2).strip()
    leap = fields.get("Leap status", "unknown")
    offset = float("nan")
    m = re.match(r"([0-9.]+) seconds (fast|slow)", fields.get("System time", ""))
    if m:
        offset = float(m.group(1)) * 1000.0 * (1 if m.group(2) == "fast" else -1)
    return ChronyTracking(leap, offset)
