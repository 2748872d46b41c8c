"""The whole lab (`cloudgate lab up`'s own code) in a temp CLOUDGATE_LAB_DIR, once for the module, always removed.

Skips, rather than tramples it, when another lab runs on this machine (as tests/lab/hosts does). The
teardown is `cloudgate lab down`'s, then checks that nothing is left and that the root namespace's
iptables rules are exactly what they were before the lab (in-guest drill rules die with the guests).
Helpers: guests_labkit.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from guests_labkit import LAB_TARGET, FullLab, root_ruleset

from cloudgate_lab import control, net, paths
from cloudgate_lab.topology import LabTopology


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: builds lab namespaces on this machine (needs root)")


@pytest.fixture(scope="module")
def full_lab() -> Iterator[FullLab]:
    if os.geteuid() != 0:
        pytest.skip("lab tests need root (network namespaces, mounts)")
    others = net.list_netns() + net.list_root_links()
    if others:
        pytest.skip(f"another lab is running on this machine ({', '.join(others[:3])}…); `cloudgate lab down` first")
    rules_before = root_ruleset()
    base = Path(tempfile.mkdtemp(prefix="cg-guests-test-"))
    mp = pytest.MonkeyPatch()
    mp.setenv("CLOUDGATE_LAB_DIR", str(base / "lab"))
    problems: list[str] = []
    try:
        timings = control.up(str(LAB_TARGET), quiet=True)
        yield FullLab(LabTopology.load(paths.topology_file()), timings, paths.lab_dir())
    finally:
        try:
            control.down(quiet=True)
        except Exception as exc:  # noqa: BLE001 - report it below, after cleaning what we can
            problems.append(str(exc))
        mp.undo()
        shutil.rmtree(base, ignore_errors=True)
    assert not problems, problems
    assert root_ruleset() == rules_before, "the lab left iptables rules in the root namespace"
