"""Failover drills: the service keeps its QoS through the loss of a host, a VM, a datacenter, the link
between datacenters, a Cassandra node's service and the management server, and loses no acknowledged
write.

Each drill runs the applications' own load (cassandra.clients: their policies, timeouts, consistency)
open-loop in both datacenters, injects one fault through the cloud's own protocols inside it, heals
it, reads every write back from each datacenter, and judges the history (cloudgate.drills.checker).
The history (JSONL), a timeline plot and the figures go into the run's reports; a history can be
judged again offline with `cloudgate drill check HISTORY`.

Destructive: lab and preproduction only, with --allow-destructive. Every fault's heal is in the
run ledger before the fault: Ctrl-C, a crash or kill -9 leave nothing `cloudgate janitor` cannot
restore. Drills run after every other check, alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from cloudgate.cassandra.ring import ranges_without_quorum
from cloudgate.cassandra.session import CassandraError
from cloudgate.cloudstack.client import CloudStackError
from cloudgate.drills import nemesis
from cloudgate.drills.client import DrillClientError
from cloudgate.drills.drill import Drill, DrillResult, run_drill
from cloudgate.drills.plot import plot_timeline
from cloudgate.drills.verdict_text import render

# slow: the upgrade gate (profile gate) leaves them to the nightly; they break the cloud for minutes
pytestmark = [pytest.mark.destructive, pytest.mark.measurement, pytest.mark.drill, pytest.mark.slow]

UNITS = {"availability": "ratio", "longest_outage_s": "s", "reroute_s": "s", "convergence_s": "s"}


def _record(result: DrillResult, name: str, metric, run_dir, thresholds) -> None:  # noqa: ANN001
    """Figures to metrics.json (judged where a promise applies), the timeline plot beside the history."""
    verdict = result.verdict
    plot_timeline(verdict, run_dir / f"drill-{name}.png")
    (run_dir / f"drill-{name}.txt").write_text(render(verdict) + "\n")
    for key, value in verdict.metrics().items():
        family = key.split(".", 1)[0]
        unit = UNITS.get(family, "operations")
        threshold, better = None, ("higher" if family == "availability" else "lower")
        dc = key.split(".", 1)[1] if "." in key else ""
        expectation = verdict.per_dc[dc].expectation if dc in verdict.per_dc else None
        if family == "availability" and expectation in ("qos", "all"):
            threshold, better = (thresholds.qos if expectation == "qos" else 1.0), "higher"
        elif family == "reroute_s" and expectation == "failover":
            threshold = thresholds.failover_seconds
        elif key == "writes.lost":
            threshold = 0.0
        metric(f"drill.{name}.{key}", value, unit, threshold, better)


def _fail_message(target_name: str, name: str, result: DrillResult, extra: str = "") -> str:
    return f"{target_name}: drill {name} ({result.verdict.fault}): " + "; ".join(result.problems) + extra + (
        f" (history: {result.history.name})")


@contextlib.contextmanager
def _one_line() -> Iterator[None]:
    """A drill that cannot start (no ring, no client connects, no Cassandra VM known) fails in one line."""
    problem = None
    try:
        yield
    except (nemesis.NemesisError, DrillClientError, CassandraError, CloudStackError) as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(problem, pytrace=False)


def _drill(name: str, fault: nemesis.Fault, expect: dict[str, str], target, ctx, run_dir, metric,  # noqa: ANN001
           thresholds, during=None) -> DrillResult:  # noqa: ANN001
    with _one_line():
        result = run_drill(Drill(name, fault, expect, during), target, ctx, run_dir)
    _record(result, name, metric, run_dir, thresholds)
    return result


def _dcs(cassandra_config) -> list[str]:  # noqa: ANN001
    return list(cassandra_config.contact_points)


@pytest.mark.check(id="CG-DRILL-001", severity="critical", tier="cassandra", plane="data")
def test_losing_the_host_with_the_most_replicas_keeps_qos_in_both_datacenters(
        target, cassandra_config, estate, cassandra_ring, drill_context, run_dir, metric, thresholds):
    with _one_line():
        fault = nemesis.host_loss(estate)
    result = _drill("host-loss", fault, {dc: "qos" for dc in _dcs(cassandra_config)}, target, drill_context,
                    run_dir, metric, thresholds)
    lost_quorum = ranges_without_quorum(cassandra_ring, set(fault.nodes_down))
    extra = ""
    if lost_quorum:
        shown = ", ".join(f"{rng} in {dc} ({left} of {needed} replicas left)" for rng, dc, left, needed in lost_quorum[:5])
        extra = (f"; {len(lost_quorum)} token range(s) lost quorum with {fault.host_name}: {shown}"
                 f"{' ...' if len(lost_quorum) > 5 else ''} — replicas of one range share that host")
    assert not result.problems, _fail_message(target.name, "host-loss", result, extra)


@pytest.mark.check(id="CG-DRILL-002", severity="critical", tier="cassandra", plane="data")
def test_losing_one_cassandra_vm_keeps_qos_in_both_datacenters(
        target, cassandra_config, estate, drill_context, run_dir, metric, thresholds):
    # in the last datacenter: the host and datacenter drills break the first, so both are exercised
    with _one_line():
        fault = nemesis.vm_loss(estate, _dcs(cassandra_config)[-1])
    result = _drill("vm-loss", fault, {dc: "qos" for dc in _dcs(cassandra_config)}, target, drill_context,
                    run_dir, metric, thresholds)
    assert not result.problems, _fail_message(target.name, "vm-loss", result)


@pytest.mark.check(id="CG-DRILL-003", severity="critical", tier="cassandra", plane="data")
def test_losing_a_datacenter_keeps_qos_in_the_other_and_its_clients_fail_over_in_time(
        target, cassandra_config, estate, drill_context, run_dir, metric, thresholds):
    lost = cassandra_config.local_dc
    with _one_line():
        fault = nemesis.dc_loss(estate, lost)
    expect = {dc: ("failover" if dc == lost else "qos") for dc in _dcs(cassandra_config)}
    result = _drill("dc-loss", fault, expect, target, drill_context, run_dir, metric, thresholds)
    assert not result.problems, _fail_message(target.name, "dc-loss", result)


@pytest.mark.check(id="CG-DRILL-004", severity="critical", tier="cassandra", plane="data")
def test_a_partition_between_datacenters_keeps_qos_on_each_side_and_loses_no_acknowledged_write(
        target, cassandra_config, estate, drill_context, run_dir, metric, thresholds):
    dcs = _dcs(cassandra_config)
    if len(dcs) < 2:
        pytest.skip(f"not applicable: {target.name} has one Cassandra datacenter")
    with _one_line():
        fault = nemesis.partition(estate, dcs[0], dcs[1], drill_context.ledger.run)
    result = _drill("partition", fault, {dc: "qos" for dc in dcs}, target, drill_context, run_dir, metric, thresholds)
    assert not result.problems, _fail_message(target.name, "partition", result)


@pytest.mark.check(id="CG-DRILL-006", severity="critical", tier="cassandra", plane="data")
def test_stopping_the_cassandra_service_on_one_node_keeps_qos_in_both_datacenters(
        target, cassandra_config, estate, drill_context, run_dir, metric, thresholds):
    # a rolling restart's step, over SSH with the target's own command (drills.cassandra_service); in
    # the last datacenter, as the VM loss: the host and datacenter drills break the first
    with _one_line():
        fault = nemesis.service_stop(estate, _dcs(cassandra_config)[-1], target.drills.cassandra_service,
                                     port=cassandra_config.port)
    result = _drill("service-stop", fault, {dc: "qos" for dc in _dcs(cassandra_config)}, target, drill_context,
                    run_dir, metric, thresholds)
    assert not result.problems, _fail_message(target.name, "service-stop", result)


@pytest.mark.check(id="CG-DRILL-005", severity="critical", tier="cassandra", plane="data")
def test_a_management_server_outage_leaves_the_data_plane_whole(
        target, cassandra_config, estate, drill_context, cloudstack, run_dir, metric, thresholds):
    if target.drills.management_server is None:
        pytest.skip(f"not applicable: {target.name} names no drills.management_server stop/start commands "
                    "(the suite never guesses how a management server is stopped)")
    with _one_line():
        fault = nemesis.management_server_outage(target)
    assert estate.cassandra is not None
    vms = [n.address for n in estate.cassandra.nodes]

    def during() -> dict[str, object]:
        from cloudgate.drills.planes import control_plane_state, vms_answering

        # new connections: the session's pooled ones may lead to VM instances an earlier drill restarted
        return {"control_plane": control_plane_state(cloudstack), "vms_answering": vms_answering(target, vms)}

    result = _drill("management-server", fault, {dc: "all" for dc in _dcs(cassandra_config)}, target, drill_context,
                    run_dir, metric, thresholds, during=during)
    seen = result.during
    metric("drill.management-server.vms_answering", float(len(seen.get("vms_answering", {}).get("answered", []))),
           "VMs", float(len(vms)), "higher")
    problems = list(result.problems)
    answering = seen.get("vms_answering", {})
    if answering.get("silent"):
        problems.append(f"data plane: Cassandra VMs stopped answering SSH while the management server was down: "
                        f"{', '.join(answering['silent'])}")
    control = seen.get("control_plane", "")
    if control.startswith("up"):
        problems.append(f"the management server still answered after `{target.drills.management_server.stop_command}` "
                        f"({control}): the outage was not simulated")
    assert not problems, (f"{target.name}: drill management-server: " + "; ".join(problems)
                          + f" (control plane during the outage: {control}; history: {result.history.name})")
