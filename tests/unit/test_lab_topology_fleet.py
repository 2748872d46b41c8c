"""The lab's addressing: the small labs keep their /24 plan; a fleet-size lab's hosts live in 198.19.0.0/16."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from cloudgate.errors import TargetError
from cloudgate.target import LabSection, load_target, parse_target
from cloudgate_lab.topology import build_topology, pod_ip_range

LAB_YAML = Path(__file__).resolve().parents[2] / "fixtures/targets/lab.yaml"


def _topology(racks: int, per_rack: int, extra: int = 0):  # noqa: ANN202 - a LabTopology
    target = load_target(LAB_YAML).target
    section = (target.lab or LabSection()).model_copy(
        update={"racks_per_dc": racks, "hosts_per_rack": per_rack, "extra_hosts_first_racks": extra})
    return build_topology(target.model_copy(update={"lab": section}))


def test_the_small_labs_keep_their_addresses() -> None:
    topology = _topology(3, 2, 3)
    assert [h.ip for h in topology.hosts[:3]] == ["198.18.1.11", "198.18.1.12", "198.18.1.13"]
    assert all(d.host_prefix == 24 and d.hosts_gateway == d.gateway and not d.fleet_addressing
               for d in topology.datacenters)
    assert pod_ip_range(topology.datacenters[0], 2) == ("198.18.1.21", "198.18.1.29")


def test_a_thousand_hosts_get_distinct_addresses_inside_their_datacenters_block_and_pod_range() -> None:
    topology = _topology(20, 25)
    assert len(topology.hosts) == 1000
    assert len({h.ip for h in topology.hosts}) == 1000
    for dc in topology.datacenters:
        block = ipaddress.ip_network(f"{dc.hosts_gateway}/{dc.host_prefix}", strict=False)
        assert ipaddress.ip_address(dc.hosts_root_ip) in block
        for r, rack in enumerate(dc.racks, start=1):
            low, high = (ipaddress.ip_address(a) for a in pod_ip_range(dc, r))
            for h in (h for h in topology.hosts if h.rack == rack):
                assert ipaddress.ip_address(h.ip) in block and low <= ipaddress.ip_address(h.ip) <= high
    # nothing of a fleet lab's hosts collides with the guests' /24s or the runners' addresses
    assert not any(h.ip.startswith("198.18.") for h in topology.hosts)


def test_a_datacenter_larger_than_one_bridge_is_refused_in_one_line() -> None:
    text = LAB_YAML.read_text() + "\n"
    text = text.replace("racks_per_dc: 3", "racks_per_dc: 40").replace("hosts_per_rack: 3 ", "hosts_per_rack: 30 ")
    with pytest.raises(TargetError, match=r"1200 hosts per datacenter; the lab takes at most 1000"):
        parse_target(text, "lab.yaml")
