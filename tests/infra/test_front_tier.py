"""The front tier: PHP and C++ front ends behind Apache and haproxy, a VIP per datacenter.

Where the users meet the 99.9 % promise. Each check reads the front tier through what operators
read: haproxy's operator-level stats socket and its configuration over SSH, the VIP and each front
VM over HTTP(S), keepalived's VIP through `ip addr`, and CloudStack's list of the service's VMs. The
read-only ones are in the smoke; the open-loop load through each VIP (its error ratio, p99, balance
and the saturation it causes) is in the nightly. Without a `frontends` section in the target, every
one is not applicable.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest

from cloudgate.frontends import (
    dispersion,
    frontdoor,
    haproxycfg,
    haproxystat,
    lbjudge,
    members,
    tlscert,
    webstatus,
)
from cloudgate.frontends.httpprobe import HttpProbeError, get_once
from cloudgate.frontends.matrix import write_server_matrix
from cloudgate.plugin.front import front_door_load, node_facts


def _get_all(urls: list[tuple[str, str | None]], timeout: float) -> dict[str, object]:
    """GET each URL at once (one thread each, at most 16): a dead front door costs one timeout, not one per URL.
    Returns url -> HttpAnswer or the HttpProbeError it raised."""
    def one(url: str, host: str | None) -> object:
        try:
            return get_once(url, timeout=timeout, host_header=host)
        except HttpProbeError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, min(16, len(urls)))) as pool:
        futures = {url: pool.submit(one, url, host) for url, host in urls}
        return {url: f.result() for url, f in futures.items()}


def _stat(facts, node) -> list[haproxystat.StatRow]:  # noqa: ANN001 - HostFacts, HaproxyNode
    try:
        return haproxystat.parse_show_stat(facts.output("show_stat"))
    except haproxystat.RuntimeAnswerError as exc:
        pytest.fail(f"{node}: {exc}", pytrace=False)


def _service_members(frontends, target, estate, dc_name: str):  # noqa: ANN001, ANN202
    dc = next(d for d in target.datacenters if d.name == dc_name)
    return {s.name: members.members(s, dc, estate.vms) for s in frontends.services}


# --------------------------------------------------------------------------- each haproxy node
@pytest.mark.smoke
@pytest.mark.check(id="CG-FRONT-001", severity="critical", tier="frontends", plane="data")
def test_every_haproxy_server_is_up_with_a_layer_7_check(haproxy_node, haproxy_facts):
    problems = lbjudge.servers_not_up(_stat(haproxy_facts, haproxy_node), haproxy_node.address)
    assert not problems, f"{haproxy_node}: {'; '.join(problems)}"


@pytest.mark.smoke
@pytest.mark.check(id="CG-FRONT-002", severity="major", tier="frontends", plane="data")
def test_haproxy_checks_each_service_at_layer_7_and_marks_a_silent_server_down_within_the_promise(
        haproxy_node, haproxy_facts, frontends):
    config = haproxycfg.parse_haproxy_cfg(haproxy_facts.output("config"))
    budget = frontends.promises.mark_down_seconds
    problems = lbjudge.check_settings_problems(config, haproxy_node.address, budget)
    for service in frontends.services:
        backend = config.backends.get(service.backend)
        if backend is None:
            problems.append(f"no backend {service.backend!r} for service {service.name} in {frontends.haproxy.config}")
        elif backend.check_path is not None and backend.check_path.split("?")[0] != service.health_path:
            problems.append(f"backend {service.backend}: the layer-7 check requests {backend.check_path}, not the "
                            f"service's health page {service.health_path}: it does not prove {service.runtime.value} answers")
    assert not problems, f"{haproxy_node}: {'; '.join(problems)}"


@pytest.mark.smoke
@pytest.mark.check(id="CG-FRONT-003", severity="major", tier="frontends", plane="data")
def test_haproxy_balances_to_exactly_the_vms_cloudstack_lists_for_each_service(
        haproxy_node, haproxy_facts, frontends, target, estate):
    rows = _stat(haproxy_facts, haproxy_node)
    others = {m.ip for dc in frontends.datacenters if dc != haproxy_node.dc
              for ms in _service_members(frontends, target, estate, dc).values() for m in ms}
    mine = _service_members(frontends, target, estate, haproxy_node.dc)
    problems = []
    for service in frontends.services:
        expected = {m.ip: m.name for m in mine[service.name] if m.ip}
        problems += lbjudge.cloudstack_drift(rows, haproxy_node.address, service.backend, expected, service.port,
                                             allowed_backups=frozenset(others))
    assert not problems, f"{haproxy_node}: {'; '.join(problems)}"


# --------------------------------------------------------------------------- each datacenter's front door
@pytest.mark.smoke
@pytest.mark.check(id="CG-FRONT-004", severity="critical", tier="frontends", plane="data")
def test_the_haproxy_nodes_of_a_datacenter_agree_with_each_other(front_dc, frontends, host_pool, run_dir):
    rows = {}
    for address in front_dc.door.haproxy:
        label = f"haproxy node {address} ({front_dc.name})"
        rows[address] = _stat(node_facts(host_pool, frontends, address, label), label)
    write_server_matrix(run_dir, front_dc.name, front_dc.door.vip, rows)  # the operators' page shows it
    if len(rows) < 2:
        pytest.skip(f"not applicable: {front_dc.name} has one haproxy node")
    problems = lbjudge.pair_drift(rows)
    assert not problems, f"{front_dc}: {'; '.join(problems)}"


@pytest.mark.smoke
@pytest.mark.check(id="CG-FRONT-005", severity="critical", tier="frontends", plane="data")
def test_exactly_one_haproxy_node_holds_the_vip_and_keepalived_runs_on_each(front_dc, frontends, host_pool):
    if not frontends.keepalived:
        pytest.skip(f"not applicable: {front_dc.name}'s VIP is not held by keepalived (frontends.keepalived false)")
    outputs, problems = {}, []
    for address in front_dc.door.haproxy:
        facts = node_facts(host_pool, frontends, address, f"haproxy node {address} ({front_dc.name})")
        outputs[address] = facts.output("addresses")
        state = facts["keepalived"].stdout.strip() or "no answer"
        if state != "active":
            problems.append(f"keepalived on {address} is {state}")
    holders = lbjudge.vip_holders(outputs, front_dc.door.vip)
    problems = lbjudge.vip_problems(holders, front_dc.door.vip, front_dc.name) + problems
    assert not problems, f"{front_dc}: {'; '.join(problems)}"


@pytest.mark.smoke
@pytest.mark.check(id="CG-FRONT-006", severity="critical", tier="frontends", plane="data")
def test_every_service_answers_through_the_vip(front_dc, frontends):
    urls: list[tuple[str, str | None]] = [(f"http://{front_dc.door.vip}{s.probe_path}", None) for s in frontends.services]
    if frontends.tls is not None:
        urls += [(f"https://{front_dc.door.vip}:{frontends.tls.port}{s.probe_path}", frontends.tls.server_name)
                 for s in frontends.services]
    problems = []
    for url, answer in _get_all(urls, frontends.probe.timeout_seconds).items():
        if isinstance(answer, HttpProbeError):
            problems.append(str(answer))
        elif not 200 <= answer.status < 400:  # type: ignore[attr-defined]
            problems.append(f"{url}: answered {answer.status}")  # type: ignore[attr-defined]
    assert not problems, f"{front_dc}: {'; '.join(problems)}"


@pytest.mark.smoke
@pytest.mark.check(id="CG-FRONT-010", severity="critical", tier="frontends", plane="data")
def test_a_datacenters_front_vms_are_spread_so_losing_one_host_keeps_the_promised_capacity(
        front_dc, frontends, target, estate):
    dc_hosts = [h for h in estate.hosts if h.datacenter == front_dc.name]
    rack_of = {h.id: h.rack for h in dc_hosts}
    usable = sum(1 for h in dc_hosts if h.enabled and h.state == "Up")
    problems = []
    for service, found in _service_members(frontends, target, estate, front_dc.name).items():
        running = [m for m in found if m.state == "Running"]
        problems += dispersion.dispersion_problems(front_dc.name, service, running, rack_of, usable,
                                                   frontends.promises.min_servers_per_dc)
    host_of = {}
    for address in front_dc.door.haproxy:
        vm = members.vm_with_address(estate.vms, address)
        host_of[address] = (vm.host_name or vm.host_id) if vm else None
    problems += dispersion.pair_on_distinct_hosts(front_dc.name, host_of)
    assert not problems, f"{front_dc}: {'; '.join(problems)}"


def _web_ips(frontends, target, estate, dc: str) -> dict[str, str]:  # noqa: ANN001
    return {m.ip: m.name for ms in _service_members(frontends, target, estate, dc).values() for m in ms if m.ip}


@pytest.mark.smoke
@pytest.mark.check(id="CG-FRONT-011", severity="critical", tier="frontends", plane="data")
def test_every_front_vm_answers_each_services_health_page_directly(front_dc, frontends, target, estate):
    by_service = _service_members(frontends, target, estate, front_dc.name)
    wanted: list[tuple[str, str, str, str | None, str]] = []  # vm, path, url, expected body, runtime
    for service in frontends.services:
        for member in by_service[service.name]:
            if member.state != "Running":
                continue
            pages = [(service.health_path, service.health_body)]
            if service.runtime.value == "php" and frontends.status.fpm_ping:
                pages.append((frontends.status.fpm_ping, "pong"))
            wanted += [(member.name, path, f"http://{member.ip}:{service.port}{path}", body, service.runtime.value)
                       for path, body in pages]
    answers = _get_all([(url, None) for _, _, url, _, _ in wanted], 5.0)
    problems = []
    for vm, path, url, body, runtime in wanted:
        answer = answers[url]
        if isinstance(answer, HttpProbeError):
            problems.append(f"{vm} {path}: {answer}")
        elif answer.status != 200 or (body and body not in answer.text):  # type: ignore[attr-defined]
            first = answer.text.strip().splitlines()[0][:80] if answer.text.strip() else "(empty)"  # type: ignore[attr-defined]
            problems.append(f"{vm} {path}: answered {answer.status} {first}"  # type: ignore[attr-defined]
                            + (f" (a {runtime} health page says {body!r})" if body else ""))
    assert not problems, f"{front_dc}: {'; '.join(problems)}"


@pytest.mark.smoke
@pytest.mark.check(id="CG-FRONT-012", severity="major", tier="frontends", plane="data")
def test_every_front_vm_has_idle_apache_workers_and_no_php_fpm_listen_queue(front_dc, frontends, target, estate):
    if not frontends.status.apache and not frontends.status.fpm:
        pytest.skip("not applicable: frontends.status names no Apache or PHP-FPM status page")
    port = frontends.services[0].port
    problems = []
    for ip, name in sorted(_web_ips(frontends, target, estate, front_dc.name).items(), key=lambda kv: kv[1]):
        if frontends.status.apache:
            try:
                text = get_once(f"http://{ip}:{port}{frontends.status.apache}?auto", timeout=5.0).text
                problems += webstatus.apache_saturation(webstatus.parse_apache_status(text),
                                                        frontends.promises.busy_workers_ratio, name)
            except (HttpProbeError, webstatus.StatusPageError) as exc:
                problems.append(f"{name}: Apache status unreadable: {exc}")
        if frontends.status.fpm and any(s.runtime.value == "php" for s in frontends.services):
            try:
                fpm = webstatus.parse_fpm_status(get_once(f"http://{ip}:{port}{frontends.status.fpm}", timeout=5.0).text)
                if fpm.listen_queue:
                    problems.append(f"{name}: {fpm.listen_queue} request(s) waiting in PHP-FPM's listen queue "
                                    f"(pool {fpm.pool}, {fpm.active_processes} of {fpm.total_processes} children busy)")
            except (HttpProbeError, webstatus.StatusPageError) as exc:
                problems.append(f"{name}: PHP-FPM status unreadable: {exc}")
    assert not problems, f"{front_dc}: {'; '.join(problems)}"


@pytest.mark.smoke
@pytest.mark.check(id="CG-FRONT-014", severity="major", tier="frontends", plane="data")
def test_the_front_doors_certificate_is_not_about_to_expire(front_dc, frontends):
    if frontends.tls is None:
        pytest.skip("not applicable: no TLS at the front door (frontends.tls)")
    now = dt.datetime.now(dt.UTC)
    failures = []
    for address in front_dc.door.haproxy:
        try:
            cert = tlscert.fetch_certificate(address, frontends.tls.port, frontends.tls.server_name)
        except tlscert.TlsProbeError as exc:
            failures.append(f"haproxy node {address}: {exc}")
            continue
        bad, _warnings = tlscert.expiry_problems(cert, now, frontends.promises.cert_warn_days,
                                                  frontends.promises.cert_fail_days)
        failures += [f"haproxy node {address}: {p}" for p in bad]
    assert not failures, f"{front_dc}: {'; '.join(failures)}"


@pytest.mark.smoke
@pytest.mark.check(id="CG-FRONT-015", severity="major", tier="frontends", plane="data")
def test_every_haproxy_node_of_a_datacenter_serves_the_same_certificate(front_dc, frontends):
    if frontends.tls is None:
        pytest.skip("not applicable: no TLS at the front door (frontends.tls)")
    certs, problems = {}, []
    for address in front_dc.door.haproxy:
        try:
            certs[address] = tlscert.fetch_certificate(address, frontends.tls.port, frontends.tls.server_name)
        except tlscert.TlsProbeError as exc:
            problems.append(f"haproxy node {address}: {exc}")
    problems += tlscert.same_certificate_problems(certs)
    assert not problems, f"{front_dc}: {'; '.join(problems)}"


# --------------------------------------------------------------------------- under the front-door load (nightly)
def _load(request, front_dc, frontends, target, estate):  # noqa: ANN001, ANN202
    ips = {dc: sorted(_web_ips(frontends, target, estate, dc)) for dc in frontends.datacenters}
    return front_door_load(request.config, front_dc.name, frontends, ips)


@pytest.mark.check(id="CG-FRONT-007", severity="critical", tier="frontends", plane="data")
def test_the_front_door_fails_no_request_in_steady_state(request, front_dc, frontends, target, estate, metric):
    load = _load(request, front_dc, frontends, target, estate)
    problems = [f"{s}: probe could not run: {p}" for s, p in load.problems.items()]
    for service, result in load.results.items():
        metric(f"front.{front_dc.name}.{service}.error_ratio", result.error_ratio, "ratio",
               threshold=frontends.promises.error_ratio)
        metric(f"front.{front_dc.name}.{service}.requests", float(result.sent), "requests", better="higher")
        problems += [f"{service}: {p}" for p in frontdoor.error_problems(result, frontends.promises.error_ratio, front_dc.name)]
        problems += [f"{service}: {p}" for p in frontdoor.steady_state_problems(result, front_dc.name)]
    assert not problems, f"{front_dc}: {'; '.join(dict.fromkeys(problems))}"


@pytest.mark.check(id="CG-FRONT-008", severity="major", tier="frontends", plane="data")
def test_the_front_doors_p99_is_within_the_promise(request, front_dc, frontends, target, estate, metric):
    load = _load(request, front_dc, frontends, target, estate)
    problems = [f"{s}: probe could not run: {p}" for s, p in load.problems.items()]
    for service, result in load.results.items():
        if result.p99_ms is not None:
            metric(f"front.{front_dc.name}.{service}.p99", result.p99_ms, "ms", threshold=frontends.promises.p99_ms)
        problems += [f"{service}: {p}" for p in frontdoor.latency_problems(result, frontends.promises.p99_ms, front_dc.name)]
    assert not problems, f"{front_dc}: {'; '.join(problems)}"


@pytest.mark.check(id="CG-FRONT-009", severity="major", tier="frontends", plane="data")
def test_the_front_door_shares_requests_fairly_among_up_servers(request, front_dc, frontends, target, estate):
    load = _load(request, front_dc, frontends, target, estate)
    names = _web_ips(frontends, target, estate, front_dc.name)
    problems = [f"{s}: probe could not run: {p}" for s, p in load.problems.items()]
    for service, result in load.results.items():
        local = {name: result.served_by.get(name, 0) for name in names.values()}
        elsewhere = {k: v for k, v in result.served_by.items() if k not in local}
        if elsewhere:
            problems.append(f"{service}: {sum(elsewhere.values())} request(s) answered outside {front_dc.name} "
                            f"({', '.join(sorted(elsewhere))}) while its own servers are UP")
        min_each = max(1, int(result.sent // max(1, len(local)) // 2))
        problems += [f"{service}: {p}" for p in lbjudge.balance_problems(
            local, frontends.promises.balance_tolerance, min_requests_per_server=min(100, min_each))]
    assert not problems, f"{front_dc}: {'; '.join(problems)}"


@pytest.mark.check(id="CG-FRONT-013", severity="major", tier="frontends", plane="data")
def test_no_php_fpm_pool_reached_its_limit_under_the_front_door_load(request, front_dc, frontends, target, estate):
    if not frontends.status.fpm or not any(s.runtime.value == "php" for s in frontends.services):
        pytest.skip("not applicable: no PHP service, or no PHP-FPM status page (frontends.status.fpm)")
    load = _load(request, front_dc, frontends, target, estate)
    names = _web_ips(frontends, target, estate, front_dc.name)
    problems = []
    for ip, name in sorted(names.items(), key=lambda kv: kv[1]):
        before, after = load.status_before.get(ip, {}).get("fpm", ""), load.status_after.get(ip, {}).get("fpm", "")
        if not before or not after:
            problems.append(f"{name}: PHP-FPM status unreadable {'before' if not before else 'after'} the load")
            continue
        problems += webstatus.fpm_saturation(webstatus.parse_fpm_status(before), webstatus.parse_fpm_status(after), name)
    assert not problems, f"{front_dc}: {'; '.join(problems)}"
