"""What the nemesis breaks, chosen from the estate snapshot, and how it heals: no cloud needed.

The heal is tested with a recording undoer and ledger: entries are written before the change,
healed last-first, and what cannot be restored stays pending with a line saying how to restore it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cloudgate.cassandra.ring import RingView, ranges_without_quorum
from cloudgate.drills import nemesis
from cloudgate.drills.client import classify, load_balancing_policy
from cloudgate.estate import (
    CassandraNode,
    CassandraPart,
    EstateSnapshot,
    HostRecord,
    Ring,
    Source,
    TokenRange,
)
from cloudgate.ledger import Ledger, pending, read
from cloudgate.target import CassandraClient
from cloudgate.undo import UndoError

NOW = "2026-12-02T00:00:00Z"


def _host(name: str, dc: str) -> HostRecord:
    return HostRecord(id=f"id-{name}", name=name, ip="198.18.1.10", zone=f"zone-{dc}", datacenter=dc, rack="r1",
                      state="Up", resourcestate="Enabled")


def _node(address: str, dc: str, host: str) -> CassandraNode:
    return CassandraNode(address=address, datacenter=dc, rack="r1", vm=f"vm-{address[-3:]}", vm_id=f"uuid-{address[-3:]}",
                         host=host, host_id=f"id-{host}", host_rack="r1", host_dc=dc)


def _estate(shared: bool) -> EstateSnapshot:
    """Three nodes per DC; with `shared`, two dc1 nodes sit on host h1 (a FirstFit placement)."""
    nodes = [
        _node("198.18.1.201", "dc1", "h1"), _node("198.18.1.202", "dc1", "h1" if shared else "h2"),
        _node("198.18.1.203", "dc1", "h3"),
        _node("198.18.2.201", "dc2", "h4"), _node("198.18.2.202", "dc2", "h5"), _node("198.18.2.203", "dc2", "h6"),
    ]
    ranges = (
        TokenRange(start=0, end=10, replicas=("198.18.1.201", "198.18.1.202", "198.18.1.203",
                                              "198.18.2.201", "198.18.2.202", "198.18.2.203")),
        TokenRange(start=10, end=20, replicas=("198.18.1.203", "198.18.1.201", "198.18.1.202",
                                               "198.18.2.202", "198.18.2.203", "198.18.2.201")),
    )
    hosts = tuple(_host(f"h{i}", "dc1" if i <= 3 else "dc2") for i in range(1, 7))
    return EstateSnapshot(
        target="t", taken_at=NOW, cloudstack=Source(live=True, taken_at=NOW), hosts=hosts,
        cassandra=CassandraPart(source=Source(live=True, taken_at=NOW), nodes=tuple(nodes),
                                ring=Ring(keyspace="ks", replication={"dc1": 3, "dc2": 3}, ranges=ranges)),
    )


def test_the_host_loss_drill_powers_off_the_host_holding_the_most_replicas():
    fault = nemesis.host_loss(_estate(shared=True))
    assert fault.host_name == "h1"
    assert set(fault.nodes_down) == {"198.18.1.201", "198.18.1.202"}
    assert "the host holding the most Cassandra replicas (4" in fault.description


def test_with_one_replica_per_host_the_choice_is_stable_by_name():
    assert nemesis.host_loss(_estate(shared=False)).host_name == "h1"


def test_ranges_that_lose_quorum_with_a_host_are_named_with_what_is_left():
    estate = _estate(shared=True)
    view = RingView.of(estate)
    assert isinstance(view, RingView)
    lost = ranges_without_quorum(view, {"198.18.1.201", "198.18.1.202"})
    assert [(str(r), dc, left, needed) for r, dc, left, needed in lost] == [
        (str(estate.cassandra.ring.ranges[0]), "dc1", 1, 2), (str(estate.cassandra.ring.ranges[1]), "dc1", 1, 2)]
    assert ranges_without_quorum(view, {"198.18.1.201"}) == []


def test_a_dc_loss_stops_every_cassandra_vm_of_that_dc_and_a_vm_loss_one():
    estate = _estate(shared=False)
    dc = nemesis.dc_loss(estate, "dc1")
    assert dc.dcs_down == ("dc1",) and [n.address for n in dc.vms] == ["198.18.1.201", "198.18.1.202", "198.18.1.203"]
    vm = nemesis.vm_loss(estate, "dc2")
    assert vm.nodes_down == ("198.18.2.201",)
    with pytest.raises(nemesis.NemesisError, match="no Cassandra VM of dc3"):
        nemesis.dc_loss(estate, "dc3")


def test_a_partition_drops_both_directions_on_one_side_with_a_rule_tagged_by_the_run():
    fault = nemesis.partition(_estate(shared=False), "dc1", "dc2", "20261202T0000Z-lab-nightly-1")
    rules = fault.rules()
    assert len(rules) == 6
    assert "INPUT -s 198.18.2.201 -j DROP -m comment --comment cloudgate-drill-20261202T0000Z-lab-nightly-1" in rules
    assert "OUTPUT -d 198.18.2.203 -j DROP -m comment --comment cloudgate-drill-20261202T0000Z-lab-nightly-1" in rules


class _Undoer:
    def __init__(self, fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.fail = fail
        self.order: list[str] = []

    def undo(self, entry: Any) -> str:
        self.order.append(entry.name)
        if entry.name in self.fail:
            raise UndoError(f"{entry.kind} {entry.name}: CloudStack API unreachable")
        return "healed"


def _ctx(tmp_path: Path, undoer: _Undoer) -> nemesis.FaultContext:
    ledger = Ledger(tmp_path / "ledger.jsonl", run="r1", target="t")
    return nemesis.FaultContext(client=None, target=None, ledger=ledger, undoer=undoer, scope="drill")  # type: ignore[arg-type]


def test_every_heal_is_in_the_ledger_before_the_fault_and_the_heal_runs_last_first(tmp_path):
    commands: list[tuple[str, str]] = []

    def ssh(address: str, command: str) -> tuple[int, str]:
        entries = read(tmp_path / "ledger.jsonl")
        assert any(e.attrs.get("address") == address for e in entries), "the rule was inserted before its undo was written"
        commands.append((address, command))
        return 0, ""

    fault = nemesis.partition(_estate(shared=False), "dc1", "dc2", "run")
    fault.ssh = ssh
    undoer = _Undoer()
    ctx = _ctx(tmp_path, undoer)
    fault.inject(ctx)
    assert [a for a, _ in commands] == ["198.18.1.201", "198.18.1.202", "198.18.1.203"]
    assert commands[0][1].startswith("iptables -w 5 -I INPUT -s 198.18.2.201 -j DROP")
    assert len(pending(read(ctx.ledger.path))) == 3
    assert fault.heal(ctx) == []
    assert undoer.order == ["vm-203", "vm-202", "vm-201"]
    assert pending(read(ctx.ledger.path)) == []


def test_what_the_heal_cannot_restore_stays_in_the_ledger_and_says_how_to_restore_it(tmp_path):
    fault = nemesis.partition(_estate(shared=False), "dc1", "dc2", "run")
    fault.ssh = lambda _a, _c: (0, "")
    ctx = _ctx(tmp_path, _Undoer(fail={"vm-202"}))
    fault.inject(ctx)
    problems = fault.heal(ctx)
    assert len(problems) == 1 and "vm-202" in problems[0] and "cloudgate janitor" in problems[0]
    assert [e.name for e in pending(read(ctx.ledger.path))] == ["vm-202"]


def test_a_rule_that_cannot_be_inserted_fails_the_injection_in_one_line_and_is_settled(tmp_path):
    fault = nemesis.partition(_estate(shared=False), "dc1", "dc2", "run")
    fault.ssh = lambda _a, _c: (4, "iptables v1.8.9 (nf_tables): Could not fetch rule set generation id\n")
    ctx = _ctx(tmp_path, _Undoer())
    with pytest.raises(nemesis.NemesisError, match="iptables on vm-201 exited 4: iptables v1.8.9"):
        fault.inject(ctx)


def test_a_timeout_is_indeterminate_for_a_write_and_an_unavailable_a_certain_failure():
    from cassandra import OperationTimedOut, Unavailable, WriteTimeout
    from cassandra.cluster import NoHostAvailable

    assert classify("write", WriteTimeout("timeout", write_type=0)) == "info"
    assert classify("write", OperationTimedOut("client timeout")) == "info"
    assert classify("write", Unavailable("not enough replicas")) == "fail"
    assert classify("write", NoHostAvailable("none", {})) == "fail"  # no host to send it to
    assert classify("read", OperationTimedOut("client timeout")) == "fail"


def test_the_clients_policies_are_the_ones_the_application_declares():
    from cassandra.policies import DCAwareRoundRobinPolicy, RoundRobinPolicy, TokenAwarePolicy

    default = load_balancing_policy(CassandraClient(name="a", dc="dc1"))
    assert isinstance(default, TokenAwarePolicy)
    assert default._child_policy.used_hosts_per_remote_dc == 0 and default._child_policy.local_dc == "dc1"
    remote = load_balancing_policy(CassandraClient(name="b", dc="dc2", load_balancing="dc_aware",
                                                   used_hosts_per_remote_dc=3))
    assert isinstance(remote, DCAwareRoundRobinPolicy) and remote.used_hosts_per_remote_dc == 3
    assert isinstance(load_balancing_policy(CassandraClient(name="c", dc="dc1", load_balancing="round_robin")),
                      RoundRobinPolicy)


class _Client:
    """Records API calls; `fail` names a command that answers an error."""

    def __init__(self, fail: str = "") -> None:
        self.calls: list[tuple[str, dict]] = []
        self.fail = fail

    def call(self, command: str, **params: Any) -> dict:
        from cloudgate.cloudstack.client import CloudStackError

        self.calls.append((command, params))
        if command == self.fail:
            raise CloudStackError(f"lab: {command} failed: 431 host is in resource state Maintenance")
        return {}


def test_host_maintenance_is_in_the_ledger_before_the_call_and_a_refusal_is_one_line(tmp_path):
    fault = nemesis.host_maintenance(_estate(shared=True))
    assert fault.host_name == "h1" and "4 Cassandra replicas" in fault.description
    client = _Client()
    ctx = nemesis.FaultContext(client=client, target=None, ledger=Ledger(tmp_path / "l.jsonl", run="r", target="t"),  # type: ignore[arg-type]
                               undoer=_Undoer())
    fault.inject(ctx)
    assert client.calls == [("prepareHostForMaintenance", {"id": "id-h1", "fetch_result": True})]
    (entry,) = pending(read(ctx.ledger.path))
    assert entry.kind == "host_maintenance" and entry.attrs == {"host_id": "id-h1"}
    refused = nemesis.host_maintenance(_estate(shared=True))
    ctx.client = _Client(fail="prepareHostForMaintenance")  # type: ignore[assignment]
    with pytest.raises(nemesis.NemesisError, match="maintenance of h1: lab: prepareHostForMaintenance failed: 431"):
        refused.inject(ctx)


def test_the_host_loss_drill_starts_again_every_vm_the_host_ran_not_only_cassandras():
    from cloudgate.estate import VmRecord

    estate = _estate(shared=True)
    front = VmRecord(id="uuid-web", name="web-dc1-1", state="Running", zone="zone-dc1", host_id="id-h1", host_name="h1",
                     ips=("198.18.1.221",))
    stopped = VmRecord(id="uuid-old", name="old-vm", state="Stopped", zone="zone-dc1", host_id="id-h1", host_name="h1")
    elsewhere = VmRecord(id="uuid-web2", name="web-dc1-2", state="Running", zone="zone-dc1", host_id="id-h3")
    fault = nemesis.host_loss(estate.model_copy(update={"vms": (front, stopped, elsewhere)}))
    assert [v.name for v in fault.others] == ["web-dc1-1"]
    assert "also on it: web-dc1-1" in fault.description
