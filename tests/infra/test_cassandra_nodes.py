"""Settings of every Cassandra VM, over SSH: what Cassandra's production checklist asks of a host.

Nodes are those the driver finds in the ring (not a hand list). Read-only: in the smoke profile.
"""

from __future__ import annotations

import pytest

from cloudgate.ssh.facts import chrony_tracking

pytestmark = pytest.mark.smoke


@pytest.fixture(scope="session")
def wanted(cassandra_config):
    return cassandra_config.node_settings


@pytest.mark.check(id="CG-NODE-001", severity="major", tier="cassandra", plane="data")
def test_cassandra_node_clock_is_synchronised(cassandra_node, cassandra_facts, thresholds):
    out = cassandra_facts["chrony"]
    assert out.rc == 0, f"{cassandra_node}: `chronyc tracking` failed (rc {out.rc}) — is chronyd running?"
    tracking = chrony_tracking(out.stdout)
    assert tracking.leap_status == "Normal" and abs(tracking.offset_ms) <= thresholds.ntp_offset_ms, (
        f"{cassandra_node}: clock not synchronised (leap status {tracking.leap_status}, offset {tracking.offset_ms:.1f} ms): "
        "Cassandra resolves concurrent writes by timestamp"
    )


@pytest.mark.check(id="CG-NODE-002", severity="major", tier="cassandra", plane="data")
def test_cassandra_node_has_swap_off(cassandra_node, cassandra_facts):
    swaps = cassandra_facts.output("swaps").strip()
    assert not swaps, f"{cassandra_node}: swap is on ({swaps.splitlines()[0]}) — `swapoff -a` and remove it from fstab"


@pytest.mark.check(id="CG-NODE-003", severity="major", tier="cassandra", plane="data")
def test_cassandra_node_open_files_and_memlock_limits(cassandra_node, cassandra_facts, wanted):
    nofile = cassandra_facts.output("nofile").strip()
    memlock = cassandra_facts.output("memlock").strip()
    problems = []
    if not (nofile == "unlimited" or (nofile.isdigit() and int(nofile) >= wanted.nofile_min)):
        problems.append(f"nofile {nofile} (wanted >= {wanted.nofile_min})")
    if memlock != wanted.memlock:
        problems.append(f"memlock {memlock} (wanted {wanted.memlock})")
    assert not problems, f"{cassandra_node}: limits too low: {', '.join(problems)} — see limits.d/cassandra.conf"


@pytest.mark.check(id="CG-NODE-004", severity="major", tier="cassandra", plane="data")
def test_cassandra_node_vm_max_map_count(cassandra_node, cassandra_facts, wanted):
    value = cassandra_facts.output("max_map_count").strip()
    assert value.isdigit() and int(value) >= wanted.max_map_count_min, (
        f"{cassandra_node}: vm.max_map_count is {value} (wanted >= {wanted.max_map_count_min})"
    )


@pytest.mark.check(id="CG-NODE-005", severity="minor", tier="cassandra", plane="data")
def test_cassandra_node_transparent_huge_pages_are_off(cassandra_node, cassandra_facts):
    thp = cassandra_facts.output("thp").strip()
    assert "[never]" in thp, f"{cassandra_node}: transparent huge pages are '{thp}' (wanted [never]): GC pauses"


@pytest.mark.check(id="CG-NODE-006", severity="critical", tier="cassandra", plane="data")
def test_cassandra_data_directory_is_on_the_fast_device(cassandra_node, cassandra_facts, wanted):
    out = cassandra_facts["data_dir_source"]
    lines = out.stdout.strip().splitlines()
    source = lines[-1] if lines else ""  # with mounts stacked on the directory, the last one is what it sees
    assert out.rc == 0 and source == wanted.data_device, (
        f"{cassandra_node}: {wanted.data_directory} is on {source or 'nothing (' + out.stderr.strip() + ')'}, "
        f"not on {wanted.data_device}"
    )
