"""Narrowing a smoke test after an incident: by DC, rack, cluster, tag or name, or N hosts per rack."""

from __future__ import annotations

import pytest

from cloudgate.estate import CassandraNode, HostRecord
from cloudgate.selection import Selection, SelectionError


def host(dc: int, rack: int, h: int, tags: tuple[str, ...] = ()) -> HostRecord:
    name = f"dc{dc}-r{rack}-h{h}"
    return HostRecord(id=name, name=name, ip=f"198.18.{dc}.{10 * rack + h}", zone=f"z{dc}", datacenter=f"dc{dc}",
                      pod=f"dc{dc}-r{rack}", rack=f"dc{dc}-r{rack}", cluster=f"dc{dc}-r{rack}-pool", state="Up",
                      resourcestate="Enabled", tags=tags)


FLEET = [host(d, r, h, ("fio",) if h == 1 else ()) for d in (1, 2) for r in (1, 2, 3) for h in range(1, 6)]


def names(hosts: list[HostRecord]) -> list[str]:
    return [h.name for h in hosts]


def test_a_filter_keeps_the_hosts_matching_all_its_terms_and_repeated_filters_add_hosts():
    one_rack = Selection.from_options(["dc=dc1,rack=dc1-r2"], None)
    assert names(one_rack.hosts(FLEET)) == [f"dc1-r2-h{h}" for h in range(1, 6)]
    two = Selection.from_options(["name=dc1-r1-h[12]", "tag=fio,dc=dc2"], None)
    assert names(two.hosts(FLEET)) == ["dc1-r1-h1", "dc1-r1-h2", "dc2-r1-h1", "dc2-r2-h1", "dc2-r3-h1"]
    assert names(Selection.from_options(["cluster=dc2-r3-*"], None).hosts(FLEET))[0] == "dc2-r3-h1"


def test_a_sample_keeps_n_hosts_of_every_rack_and_the_same_ones_each_time():
    sample = Selection.from_options(None, 2)
    kept = sample.hosts(FLEET)
    assert len(kept) == 12 and {h.rack for h in kept} == {h.rack for h in FLEET}
    assert names(kept) == names(Selection.from_options(None, 2).hosts(list(reversed(FLEET)))[::-1])
    assert set(names(Selection.from_options(None, 1).hosts(FLEET))) <= set(names(kept))


def test_cassandra_nodes_follow_the_filter_through_the_host_their_vm_runs_on():
    nodes = [CassandraNode(address="198.18.1.201", datacenter="dc1", rack="r1", vm="cass-1", host="dc1-r1-h1"),
             CassandraNode(address="198.18.1.202", datacenter="dc1", rack="r2", vm="cass-2", host="dc1-r2-h1")]
    kept = Selection.from_options(["rack=dc1-r1"], None).cassandra_nodes(nodes, FLEET)
    assert [n.vm for n in kept] == ["cass-1"]
    summary = Selection.from_options(["rack=dc1-r1"], None).summary(FLEET, nodes)
    assert summary["hosts_selected"] == 5 and summary["hosts_total"] == 30 and summary["cassandra_nodes_selected"] == 1


@pytest.mark.parametrize(("filters", "sample", "message"), [
    (["rack"], None, "'rack' is not key=pattern"),
    (["zone=dc1"], None, "unknown key 'zone'"),
    (None, 0, "--sample 0: give at least 1 host per rack"),
])
def test_a_filter_the_run_cannot_apply_is_one_line_naming_it(filters, sample, message):
    with pytest.raises(SelectionError, match=message):
        Selection.from_options(filters, sample)
