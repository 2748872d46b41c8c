"""One directory per run under reports/, stamped so a file found later says where it came from.

reports/<run-id>/ holds junit.xml, report.html, metrics.json and whatever a check or benchmark
adds (plots, histograms). reports/latest always points at the newest run, which is what the
Makefile prints and what an operator opens first.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def git_revision(cwd: Path | None = None) -> str:
    """Short git revision of the suite itself (plus '-dirty'), or 'unknown' outside a checkout."""
    try:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=cwd, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        return rev or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_run_id(target: str, profile: str, when: datetime) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", target)[:40] or "target"
    return f"{when.strftime('%Y%m%dT%H%M%SZ')}-{safe}-{profile}-{os.getpid()}"


@dataclass
class RunStamp:
    """Who/what/when of a run, written into every report file."""

    run_id: str
    target: str
    environment: str
    profile: str
    revision: str
    started: datetime
    ended: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "target": self.target,
            "environment": self.environment,
            "profile": self.profile,
            "revision": self.revision,
            "started": iso(self.started),
            "ended": iso(self.ended) if self.ended else None,
            **self.extra,
        }


class ReportsDirError(ValueError):
    """A reports directory (or an --out directory) nothing can be written in; str() is one line."""


def check_output_dir(path: str | Path, flag: str = "--reports-dir") -> Path:
    """`path` if it is, or can be made, a directory this process may write in; else ReportsDirError.

    Checked before a run makes anything, so a run refused for its reports directory leaves nothing
    behind (no run directory, no page, no lab, no canary) and says so in one line naming `flag`,
    instead of an INTERNALERROR from the mkdir deep inside pytest's start-up. Nothing is created here.
    """
    if str(path) == "":
        raise ReportsDirError(f"{flag} '': empty; give a directory")
    wanted = Path(path)
    existing = wanted
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == wanted else f"lies under {existing}, which is a file"
        if os.path.islink(existing) and not existing.exists():
            where = "is a dangling symlink" if existing == wanted else f"lies under {existing}, a dangling symlink"
        raise ReportsDirError(f"{flag} {path}: {where}, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "not writable" if existing == wanted else f"cannot be made: {existing} is not writable"
        raise ReportsDirError(f"{flag} {path}: {where} (read-only, or not this user's)")
    return wanted


def create_run_dir(reports_root: Path, run_id: str) -> Path:
    run_dir = reports_root / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    return run_dir


def point_latest(reports_root: Path, run_dir: Path) -> None:
    """Atomically repoint reports/latest at run_dir (a relative symlink, so the tree can move)."""
    link = reports_root / "latest"
    tmp = reports_root / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)


def write_json(path: Path, payload: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def stamp_junit(path: Path, stamp: RunStamp, outcomes: dict[str, int]) -> None:
    """Add the run stamp as <properties> on every <testsuite> of a junit file pytest wrote."""
    if not path.exists():
        return
    tree = ET.parse(path)
    root = tree.getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    values = {f"cloudgate.{k}": v for k, v in stamp.as_dict().items() if v is not None}
    values.update({f"cloudgate.outcome.{k}": n for k, n in outcomes.items()})
    for suite in suites:
        props = suite.find("properties")
        if props is None:
            props = ET.Element("properties")
            suite.insert(0, props)
        for name, value in values.items():
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            ET.SubElement(props, "property", name=name, value=text)
    tree.write(path, encoding="utf-8", xml_declaration=True)
