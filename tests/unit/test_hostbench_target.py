"""The fleet benchmark's lab target: hypervisors only (a fleet-size lab deploys no Cassandra, no front tier)."""

from __future__ import annotations

from pathlib import Path

import yaml

from cloudgate.target import load_target
from cloudgate_lab.hostbench import fleet_target


def test_the_fleet_benchmarks_target_has_hosts_only_and_still_validates(tmp_path: Path) -> None:
    path = fleet_target(100, tmp_path)
    raw = yaml.safe_load(path.read_text())
    assert "cassandra" not in raw and "frontends" not in raw
    target = load_target(path).target
    assert target.cassandra is None and target.frontends is None and target.lab.cassandra_nodes_per_dc == 0
