"""Fixtures: a small lab (2 datacenters x 2 racks x 2 hosts of 8 cores / 32 GiB) served by the simulator
in-process on a free loopback port, reached only through the real `cs` client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cs import CloudStack
from cs_lab_helpers import CREDENTIALS, Ids, Lab

from cloudgate.target import load_target
from cloudgate_lab.cloudstack import NullGuestDriver, start_in_thread
from cloudgate_lab.topology import LabTopology, build_topology

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def topology() -> LabTopology:
    loaded = load_target(REPO / "fixtures" / "targets" / "lab.yaml")
    target = loaded.target
    small = target.lab.model_copy(update={
        "racks_per_dc": 2, "hosts_per_rack": 2, "extra_hosts_first_racks": 0,
        "host_cpu_cores": 8, "host_memory_mib": 32768, "boot_delay_seconds": 0.2,
    })
    return build_topology(target.model_copy(update={"lab": small}))


@pytest.fixture
def lab(tmp_path: Path, topology: LabTopology) -> Iterator[Lab]:
    driver = NullGuestDriver()
    handle = start_in_thread(tmp_path / "cloudstack", topology, 0, CREDENTIALS, driver)
    the_lab = Lab(handle, driver, tmp_path / "cloudstack", topology)
    yield the_lab
    the_lab.handle.stop()


@pytest.fixture
def admin(lab: Lab) -> CloudStack:
    return lab.client()


@pytest.fixture
def ids(admin: CloudStack) -> Ids:
    zone = admin.listZones(name="lab-dc1")["zone"][0]
    offerings = {o["name"]: o["id"] for o in admin.listServiceOfferings()["serviceoffering"]}
    templates = {t["templatetag"]: t["id"] for t in admin.listTemplates(templatefilter="featured",
                                                                       zoneid=zone["id"])["template"]}
    hosts = admin.listHosts(zoneid=zone["id"], type="Routing")["host"]
    return Ids(zone, offerings["Small Instance"], offerings["Cassandra"], templates["guest"], templates["cassandra"],
               hosts)
