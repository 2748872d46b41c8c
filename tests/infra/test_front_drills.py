"""Front-tier failover drills: a front VM lost silently, the VIP holder lost, PHP-FPM dead behind Apache, a
datacenter's front VMs all lost.

Each drives an open-loop client through the datacenter's VIP (every service), samples what each
haproxy node sees, injects the fault through CloudStack and heals it through the ledger
(cloudgate.drills.frontdrill), then judges the three records with the pure checker
(cloudgate.drills.frontchecker): time until haproxy marks the dead server DOWN against what its own
settings promise, the window of failed requests, availability against qos, errors after DOWN (0),
time back UP after the heal; for the VIP, the takeover time and no split-brain. A timeline plot per
drill goes in the run directory and on the page.
"""

from __future__ import annotations

import pytest

from cloudgate.drills import frontnemesis
from cloudgate.drills.frontdrill import run_front_drill
from cloudgate.frontends import detection, haproxycfg
from cloudgate.plugin.front import node_facts

pytestmark = [pytest.mark.destructive, pytest.mark.measurement, pytest.mark.drill, pytest.mark.slow]


def _first_dc(frontends) -> str:  # noqa: ANN001
    return next(iter(frontends.datacenters))


def _worst_silent_down(frontends, host_pool, dc: str, server: str, kind: str = "blackhole",  # noqa: ANN001
                       backend: str | None = None) -> float:
    """What haproxy's own settings promise for a dead server (the first node's configuration): silent
    (`blackhole`) or answering an error at once (`refused`: an L7 check failing on a 503 costs no wait)."""
    address = frontends.datacenters[dc].haproxy[0]
    facts = node_facts(host_pool, frontends, address, f"haproxy node {address} ({dc})")
    config = haproxycfg.parse_haproxy_cfg(facts.output("config"))
    worst = [detection.server_time_to_down(b, s, kind).worst_s
             for name, b in config.backends.items() if backend in (None, name) for s in b.servers if s.name == server]
    worst = [w for w in worst if w is not None]
    if not worst:
        pytest.fail(f"haproxy node {address} ({dc}): no server {server} in {frontends.haproxy.config}", pytrace=False)
    return max(worst)


def _report(result, metric, name: str) -> None:  # noqa: ANN001
    verdict = result.verdict
    for metric_name, value, unit in verdict.metrics():
        metric(f"drill.{name}.{metric_name}", value, unit)
    problems = list(verdict.problems)
    if result.inject_problem:
        problems.insert(0, f"the fault could not be injected: {result.inject_problem}")
    problems += result.heal_problems
    assert not problems, f"{name}: {'; '.join(problems)} ({verdict.summary()})"


@pytest.mark.check(id="CG-FRONT-017", severity="critical", tier="frontends", plane="data")
def test_losing_a_front_vm_silently_keeps_the_front_door_within_its_promise(
        frontends, target, estate, drill_context, host_pool, run_dir, metric):
    dc = _first_dc(frontends)
    fault = frontnemesis.front_vm_loss(target, estate, dc)
    assert fault.vm is not None
    expected = _worst_silent_down(frontends, host_pool, dc, fault.vm.name)
    result = run_front_drill("front-vm-loss", fault, [dc], [fault.vm.name], expected, target, drill_context, run_dir)
    _report(result, metric, "front-vm-loss")


@pytest.mark.check(id="CG-FRONT-018", severity="critical", tier="frontends", plane="data")
def test_losing_the_haproxy_node_that_holds_the_vip_moves_it_to_its_peer(
        frontends, target, estate, drill_context, host_pool, run_dir, metric):
    if not frontends.keepalived:
        pytest.skip("not applicable: the VIP is not held by keepalived (frontends.keepalived false)")
    dc = _first_dc(frontends)
    door = frontends.datacenters[dc]
    holders = [a for a in door.haproxy if f" {door.vip}/" in host_pool.get(a).run("ip -o -4 addr show").stdout]
    if len(holders) != 1:
        pytest.fail(f"{dc}: {len(holders)} haproxy nodes hold the VIP {door.vip} before the drill "
                    f"({', '.join(holders) or 'none'}): CG-FRONT-005 says why", pytrace=False)
    fault = frontnemesis.vip_holder_loss(estate, dc, holders[0])
    # the front door is down while the VIP moves (3 missed VRRP adverts): judged by that window against the
    # failover promise, its availability reported beside it
    result = run_front_drill("vip-holder-loss", fault, [dc], [], target.thresholds.failover_seconds, target,
                             drill_context, run_dir, expect={dc: "down"},
                             failed_window_seconds=target.thresholds.failover_seconds)
    _report(result, metric, "vip-holder-loss")


@pytest.mark.check(id="CG-FRONT-019", severity="critical", tier="frontends", plane="data")
def test_php_fpm_dead_behind_a_live_apache_is_taken_out_within_the_promise(
        frontends, target, estate, drill_context, host_pool, run_dir, metric):
    dc = _first_dc(frontends)
    chosen = frontnemesis.service_loss(target, estate, dc)
    if chosen is None:
        pytest.skip("not applicable: no service of the target names its unit (frontends.services[].unit)")
    fault, victim = chosen
    backend, _, server = victim.partition("/")
    expected = _worst_silent_down(frontends, host_pool, dc, server, "refused", backend)
    result = run_front_drill("front-service-loss", fault, [dc], [victim], expected, target, drill_context, run_dir)
    _report(result, metric, "front-service-loss")


@pytest.mark.check(id="CG-FRONT-020", severity="critical", tier="frontends", plane="data")
def test_losing_every_front_vm_of_a_datacenter_sends_its_users_to_the_other_datacenter(
        frontends, target, estate, drill_context, host_pool, run_dir, metric):
    if len(frontends.datacenters) < 2:
        pytest.skip("not applicable: one front datacenter (nowhere to send its users)")
    dc = _first_dc(frontends)
    fault = frontnemesis.dc_fronts_loss(target, estate, dc)
    victims = [v.name for v in (fault.vm, *fault.more) if v is not None]
    expected = max(_worst_silent_down(frontends, host_pool, dc, name) for name in victims)
    # until haproxy has marked every local server DOWN, requests fail (their retries find dead servers too):
    # judged by that window against the failover promise, availability reported beside it
    result = run_front_drill("dc-fronts-loss", fault, [dc], victims, expected, target, drill_context, run_dir,
                             expect={dc: "down"}, failed_window_seconds=target.thresholds.failover_seconds)
    _report(result, metric, "dc-fronts-loss")
