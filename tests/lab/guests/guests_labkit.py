"""Helpers for the whole-lab guest tests (a module of its own so test files can import it by name)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudgate_lab import control
from cloudgate_lab.topology import LabTopology

REPO = Path(__file__).resolve().parents[3]
LAB_TARGET = REPO / "fixtures" / "targets" / "lab.yaml"


def root_ruleset() -> str:
    """The root namespace's iptables rules (nft and legacy backends), without counters and dates."""
    out = []
    for cmd in ("iptables-nft-save", "iptables-legacy-save"):
        if shutil.which(cmd):
            text = subprocess.run([cmd], capture_output=True, text=True, timeout=10, check=False).stdout
            out += [re.sub(r"\[\d+:\d+\]", "", line) for line in text.splitlines() if not line.startswith("#")]
    return "\n".join(out)


@dataclass
class FullLab:
    topology: LabTopology
    timings: dict[str, Any]
    dir: Path

    def client(self) -> Any:
        return control.lab_client(self.topology)
