"""Bring-up time of the full-size labs (14 and 18 hosts) and teardown that leaves nothing behind."""

from __future__ import annotations

import shutil
import time

import pytest
from hosts_labkit import leftovers, running_lab, ssh_run, teardown_everything, topology_for

from cloudgate_lab import guests, hosts, net, paths

pytestmark = pytest.mark.lab

BUDGET_SECONDS = 30.0  # `lab up` for 18 hosts, everything included; hosts + network must be far below


@pytest.mark.parametrize(("extra_first_racks", "expected_hosts"), [(1, 14), (3, 18)])
def test_bringup_time_and_clean_teardown(extra_first_racks: int, expected_hosts: int,
                                         record_property: pytest.RecordProperty) -> None:
    topology = topology_for(3, 2, extra_first_racks)
    assert len(topology.hosts) == expected_hosts
    with running_lab(topology) as lab:
        lab_dir = lab.dir
        hosts.wait_ssh([h.ip for h in topology.hosts], timeout=5)
        assert all(hosts.host_status(h.name) == "Up" for h in topology.hosts)
        t0 = time.perf_counter()
    teardown_seconds = time.perf_counter() - t0
    record_property(f"bringup_seconds_{expected_hosts}", round(lab.bringup_seconds, 3))
    print(f"\n{expected_hosts} hosts: bring-up {lab.bringup_seconds:.2f} s, teardown {teardown_seconds:.2f} s")
    assert lab.bringup_seconds < BUDGET_SECONDS / 3
    assert leftovers(lab_dir) == []


def test_teardown_by_prefix_after_a_crash() -> None:
    """A 'crashed' lab: its state dir is gone (no pid files, no state), guests still run. Prefixes suffice."""
    with running_lab(topology_for(1, 1, 0)) as lab:
        guests.start_guest(guests.GuestSpec("1", "crash-vm", lab.topology.hosts[0].name, "198.18.1.140", "guest"))
        shutil.rmtree(paths.lab_dir())  # lose every pid file and state file
        assert teardown_everything() == []
        assert leftovers(lab.dir) == []
    assert net.list_netns() == [] and net.list_root_links() == []


def test_a_lab_larger_than_the_24_plan_puts_its_hosts_in_198_19_and_every_one_answers_ssh() -> None:
    """9 racks a DC is past the /24 plan: hosts move to 198.19.0.0/16, neighbours are pinned, SSH works."""
    topology = topology_for(9, 3, 0)
    assert len(topology.hosts) == 54
    assert all(h.ip.startswith("198.19.") for h in topology.hosts)
    with running_lab(topology) as lab:
        hosts.wait_ssh([h.ip for h in topology.hosts], timeout=10)
        far = topology.hosts[-1]
        rc, out, _ = ssh_run(lab, far.ip, "uname -r; fio-status -a | head -3; ip neigh show dev xenbr0 nud permanent")
        assert rc == 0, out
        dc = next(d for d in topology.datacenters if d.name == far.dc)
        assert hosts.HOST_KERNEL in out and "Found 1 ioMemory device" in out
        assert f"{dc.hosts_gateway} " in out and f"{dc.hosts_root_ip} " in out  # pinned, not learnt by ARP
        lab_dir = lab.dir
    assert leftovers(lab_dir) == []
