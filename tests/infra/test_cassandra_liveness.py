"""Every Cassandra node the target or the ring names is alive: it answers CQL, and its peers see it Up.

The first question after an incident. A node whose service stopped keeps its VM, its SSH and its
settings, so every other Cassandra check still passes; a paused or hung node even accepts TCP
connections. These checks ask the native port itself (one OPTIONS frame, bounded by the target's
`cassandra.connect_timeout_seconds`) and each node's own gossip view (`nodetool status` over SSH,
gathered with the node's other facts). Read-only and cheap: in the smoke profile.
"""

from __future__ import annotations

import pytest

from cloudgate.cassandra.cqlprobe import CqlAnswer, probe_cql, probe_many
from cloudgate.cassandra.nodestatus import parse_nodetool_status, view_problems

pytestmark = pytest.mark.smoke


@pytest.mark.check(id="CG-CASS-006", severity="critical", tier="cassandra", plane="data")
def test_every_cassandra_node_of_the_ring_answers_cql(cassandra_node, cassandra_config):
    answer = probe_cql(cassandra_node.address, cassandra_config.port, cassandra_config.connect_timeout_seconds)
    assert answer.ok, f"{cassandra_node}: does not answer CQL: {answer.problem}"


@pytest.mark.check(id="CG-CASS-007", severity="critical", tier="cassandra", plane="data")
def test_every_cassandra_node_sees_every_node_of_the_ring_up(cassandra_node, cassandra_facts, estate):
    result = cassandra_facts["nodetool_status"]
    if result.timed_out:
        pytest.fail(f"{cassandra_node}: `nodetool status` hung (stopped by the command timeout): "
                    "its JVM is paused, hung or out of memory", pytrace=False)
    if result.rc != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        pytest.fail(f"{cassandra_node}: `nodetool status` failed (rc {result.rc})"
                    + (f": {detail[0][:200]}" if detail else "") + " — is Cassandra running on it?", pytrace=False)
    assert estate.cassandra is not None
    ring = {n.address: n.datacenter for n in estate.cassandra.nodes}
    problems = view_problems(parse_nodetool_status(result.stdout), ring)
    assert not problems, f"{cassandra_node}: {'; '.join(problems)} (nodetool status)"


@pytest.mark.check(id="CG-CASS-008", severity="critical", tier="cassandra", plane="data")
def test_every_contact_point_of_the_target_resolves_and_answers_cql(cassandra_config, target):
    contact = [(dc, a) for dc, addresses in sorted(cassandra_config.contact_points.items()) for a in addresses]
    answers = probe_many([a for _, a in contact], cassandra_config.port, cassandra_config.connect_timeout_seconds)
    dead = [f"{address} ({dc}): {answers[address].problem}" for dc, address in contact if not answers[address].ok]
    by_dc = _dead_datacenters(contact, answers)
    assert not dead, (
        f"{target.name}: {len(dead)} of {len(contact)} Cassandra contact point(s) unusable: {'; '.join(dead)}"
        + (f" — no contact point of {', '.join(by_dc)} answers: clients configured with them cannot start there"
           if by_dc else "")
    )


def _dead_datacenters(contact: list[tuple[str, str]], answers: dict[str, CqlAnswer]) -> list[str]:
    dcs = sorted({dc for dc, _ in contact})
    return [dc for dc in dcs if not any(answers[a].ok for d, a in contact if d == dc)]
