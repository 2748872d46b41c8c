"""The load-balancing tier's judges, on recorded haproxy answers and on the drifts an operator meets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudgate.frontends.haproxycfg import parse_haproxy_cfg
from cloudgate.frontends.haproxystat import ShowInfo, StatRow, parse_show_stat
from cloudgate.frontends.lbjudge import (
    CounterDelta,
    Restarted,
    balance_problems,
    check_settings_problems,
    cloudstack_drift,
    delta_counters,
    pair_drift,
    servers_not_up,
    vip_holders,
    vip_problems,
)

DATA = Path(__file__).parent / "data" / "haproxy"


def _read(name: str) -> str:
    return (DATA / name).read_text()


def _server(backend: str, name: str, **fields: object) -> StatRow:
    values: dict[str, object] = {"type": 2, "status": "UP", "check_status": "L7OK", "check_code": 200,
                                 "weight": 1, "uweight": 1, "bck": 0}
    values.update(fields)
    return StatRow(pxname=backend, svname=name, **values)  # type: ignore[arg-type]


def _backend(name: str, status: str = "UP") -> StatRow:
    return StatRow(pxname=name, svname="BACKEND", type=1, status=status)


def test_a_server_in_maint_that_nobody_declared_is_named():
    rows = parse_show_stat(_read("show_stat.csv"))
    problems = servers_not_up(rows, "lb-dc1-a")
    assert ("lb-dc1-a: server be_php/web4 is in MAINT, which nobody declared: `set server be_php/web4 state ready` "
            "once it is healthy, or declare the maintenance") in problems
    declared = servers_not_up(rows, "lb-dc1-a", declared={"be_php/web4", "be_php/web6"})
    assert not any("web4" in p or "web6" in p for p in declared) and len(declared) == len(problems) - 2


def test_every_way_a_recorded_server_is_not_up_is_named_with_the_node_and_what_to_do():
    assert servers_not_up(parse_show_stat(_read("show_stat.csv")), "lb-dc1-a") == [
        "lb-dc1-a: server be_php/web3 is DOWN for 3 s, last check L4CON (Connection refused)",
        "lb-dc1-a: server be_php/web4 is in MAINT, which nobody declared: `set server be_php/web4 state ready` "
        "once it is healthy, or declare the maintenance",
        "lb-dc1-a: server be_php/web5 is DOWN for 3 s, last check L7STS 404 (File not found)",
        "lb-dc1-a: server be_php/web6 is DRAIN (no new traffic), which nobody declared: "
        "`set server be_php/web6 state ready`, or declare the drain",
        "lb-dc1-a: server be_php/flap is UP 44/50, going down: 6 check(s) in a row failed "
        "(last check L4CON (Connection refused)); 44 more mark it DOWN",
        "lb-dc1-a: server be_php/rising is DOWN, coming up (5 of 50 checks passed), last check L7OK 200",
        "lb-dc1-a: server be_tcp/tcp1 is UP on a layer-4 check only: a dead PHP-FPM behind a live Apache stays UP; "
        "add `option httpchk` with a URI that runs PHP and C++",
        "lb-dc1-a: server be_tcp/nochk has no health check (`no check`): haproxy would keep sending traffic to it "
        "dead; add `check` to its server line",
    ]


def test_a_healthy_node_has_no_problem_and_an_answer_without_servers_is_not_taken_for_health():
    healthy = [_backend("be"), _server("be", "web1"), _server("be", "web2", bck=1)]
    assert servers_not_up(healthy, "lb-a") == []
    assert servers_not_up([_backend("be")], "lb-a") == ["lb-a: `show stat` lists no server"]


def test_a_backup_server_is_judged_too_worded_as_backup_and_a_backend_without_server_up_is_named():
    rows = [_backend("be", "DOWN"), _server("be", "web1", status="DOWN", check_status="L4TOUT", check_code=None,
                                            lastchg=12),
            _server("be", "dc2-web1", bck=1, status="UP", check_status="L6OK"),
            _server("be", "dc2-web2", bck=1, status="MAINT (resolution)"),
            _server("be", "web2", status="NOLB", check_status="L7OKC", check_code=404),
            _server("be", "web3", status="UP", check_status="INI", check_code=None)]
    assert servers_not_up(rows, "lb-a") == [
        "lb-a: server be/web1 is DOWN for 12 s, last check L4TOUT",
        "lb-a: backup server be/dc2-web1 is UP on a layer-6 (TLS) check only: a dead PHP-FPM behind a live Apache "
        "stays UP; add `option httpchk` with a URI that runs PHP and C++",
        "lb-a: backup server be/dc2-web2 is MAINT (resolution): its address does not resolve; fix DNS or the server line",
        "lb-a: server be/web2 is NOLB: it takes no new traffic (404 with disable-on-404, or stopping), last check L7OKC 404",
        "lb-a: server be/web3 is UP without an L7 check result (last check INI)",
        "lb-a: backend be has no server UP: its requests fail",
    ]


def test_the_check_lint_names_missing_l7_checks_missing_redispatch_and_slow_detection():
    config = parse_haproxy_cfg("""
defaults
    mode http
    timeout connect 5s
backend php
    option httpchk GET /health.php
    option redispatch
    timeout check 500ms
    default-server inter 1s fastinter 250ms fall 2
    server fast 10.0.1.1:80 check
    server default 10.0.1.2:80 check inter 2s fastinter 2s fall 3
    server unchecked 10.0.1.4:80
backend vr_like
    mode tcp
    server vm1 10.0.1.5:80 check
""")
    assert check_settings_problems(config, "lb-dc1-a", budget_seconds=10) == [
        "lb-dc1-a: backend php server default: inter 2s fastinter 2s fall 3, timeout check 500ms, timeout connect 5s: "
        "a silent server is marked DOWN after 10.0–12.0 s, beyond the 10 s budget",
        "lb-dc1-a: backend php server unchecked: no `check` on the server line: a silent server is never marked DOWN, "
        "beyond the 10 s budget",
        "lb-dc1-a: backend vr_like has no L7 check (a TCP connect only, layer-4 check only: a dead PHP-FPM behind a "
        "live Apache stays UP); add `option httpchk GET <a URI that runs PHP and C++>`",
        "lb-dc1-a: backend vr_like has no `option redispatch`: a request whose server died retries it 3 time(s) "
        "and fails; add `option redispatch`",
        "lb-dc1-a: backend vr_like server vm1: inter 2s fastinter 2s fall 3, no timeout check: a silent server is "
        "marked DOWN after 10.0–12.0 s, beyond the 10 s budget",
    ]
    assert config.warnings == ()


def test_a_read_timeout_longer_than_the_connect_deadline_gets_its_own_line():
    config = parse_haproxy_cfg("backend b\n    option httpchk\n    option redispatch\n    timeout connect 1s\n"
                               "    timeout check 4s\n    server s 10.0.0.1:80 check inter 1s fall 2\n")
    assert check_settings_problems(config, "lb", budget_seconds=5) == [
        "lb: backend b server s: inter 1s fastinter 1s fall 2, timeout check 4s, timeout connect 1s: "
        "a server that accepts and never answers is marked DOWN after 9.0–10.0 s, beyond the 5 s budget"]


def test_the_recorded_configuration_passes_the_lint_but_its_tcp_backend():
    problems = check_settings_problems(parse_haproxy_cfg(_read("recorded.cfg")), "lb", budget_seconds=10)
    assert problems and all("backend be_tcp" in p for p in problems)


def test_two_nodes_of_a_datacenter_that_balance_differently_are_named_with_both_values():
    a = [_backend("php"), _server("php", "web1", addr="10.0.1.1:80"), _server("php", "web2", addr="10.0.1.2:80"),
         _server("php", "dc2-web1", addr="10.0.2.1:80", bck=1), _backend("cpp"), _server("cpp", "c1", addr="10.0.1.1:9000")]
    b = [_backend("php"), _server("php", "web1", addr="10.0.1.1:80", uweight=2),
         _server("php", "web2", addr="10.0.1.9:80", status="MAINT"),
         _server("php", "dc2-web1", addr="10.0.2.1:80", bck=0), _server("php", "web3", addr="10.0.1.3:80")]
    assert pair_drift({"lb-dc1-b": b, "lb-dc1-a": a}) == [
        "backend cpp is on lb-dc1-a but not on lb-dc1-b",
        "server php/dc2-web1: backup flag differs: lb-dc1-a backup, lb-dc1-b active",
        "server php/web1: weight differs: lb-dc1-a 1, lb-dc1-b 2",
        "server php/web2: address differs: lb-dc1-a 10.0.1.2:80, lb-dc1-b 10.0.1.9:80",
        "server php/web2: admin state differs: lb-dc1-a ready, lb-dc1-b MAINT",
        "server php/web3 is on lb-dc1-b but not on lb-dc1-a",
    ]
    assert pair_drift({"lb-dc1-a": a, "lb-dc1-b": a}) == []


def test_a_reload_that_forgot_the_runtime_maint_and_drain_shows_as_drift_from_the_other_node():
    before, after = parse_show_stat(_read("show_stat.csv")), parse_show_stat(_read("show_stat_after_reload.csv"))
    assert pair_drift({"lb-a": before, "lb-b": after}) == [
        "server be_php/web4: admin state differs: lb-a MAINT, lb-b ready",
        "server be_php/web6: admin state differs: lb-a DRAIN, lb-b ready",
    ]


def test_servers_cloudstack_does_not_list_and_vms_haproxy_lacks_are_named_by_address():
    rows = [_backend("php"), _server("php", "web1", addr="10.0.1.1:80"), _server("php", "old", addr="10.0.1.7:80"),
            _server("php", "web2", addr="10.0.1.2:8080"), _server("php", "dc2-web1", addr="10.0.2.1:80", bck=1),
            _server("php", "dc2-gone", addr="10.0.2.9:80", bck=1), _server("cpp", "c1", addr="10.0.1.1:9000")]
    expected = {"10.0.1.1": "web-dc1-1", "10.0.1.2": "web-dc1-2", "10.0.1.3": "web-dc1-3"}
    assert cloudstack_drift(rows, "lb-dc1-a", "php", expected, 80, allowed_backups={"10.0.2.1"}) == [
        "lb-dc1-a: server php/old balances to 10.0.1.7:80, which CloudStack does not list for the service (stale): "
        "remove it (`set server php/old state maint`, `del server php/old`, and from haproxy.cfg)",
        "lb-dc1-a: server php/web2 (web-dc1-2) balances to port 8080, the service's port is 80",
        "lb-dc1-a: backup server php/dc2-gone balances to 10.0.2.9:80, which CloudStack does not list for the service "
        "(stale): remove it (`set server php/dc2-gone state maint`, `del server php/dc2-gone`, and from haproxy.cfg)",
        "lb-dc1-a: CloudStack lists web-dc1-3 (10.0.1.3) for the service, but backend php has no server at "
        "10.0.1.3:80 (missing: it gets no traffic)",
    ]
    assert cloudstack_drift(rows, "lb-dc1-a", "api", expected, 80) == [
        "lb-dc1-a: has no backend api, CloudStack lists 3 VM(s) for it"]
    in_sync = [_server("php", "web1", addr="10.0.1.1:80")]
    assert cloudstack_drift(in_sync, "lb-dc1-a", "php", {"10.0.1.1": "web-dc1-1"}, 80) == []


def test_balance_passes_within_tolerance_and_names_starved_and_skewed_servers():
    assert balance_problems({"web1": 100, "web2": 110, "web3": 90}, tolerance=0.25) == []
    assert balance_problems({"web1": 200, "web2": 100, "web3": 0}, tolerance=0.25) == [
        "web3 got no request of 300",
        "web1 got 200 of 300 requests (66.7%), outside 25.0%–41.7% (expected 33.3% ± 25%)",
    ]


def test_a_probe_too_small_to_tell_is_a_problem_and_not_a_pass():
    assert balance_problems({"web1": 10, "web2": 10}, tolerance=0.25) == [
        "the probe was too small to judge the balance: 20 request(s) for 2 server(s), 200 needed (≥ 100 per server)"]
    assert balance_problems({}, tolerance=0.25) == ["no UP server to balance to"]


def test_weights_set_the_expected_shares():
    assert balance_problems({"web1": 100, "web2": 200}, 0.1, 50, weights={"web1": 1, "web2": 2}) == []
    assert balance_problems({"web1": 150, "web2": 150}, 0.1, 50, weights={"web1": 1, "web2": 2}) == [
        "web1 got 150 of 300 requests (50.0%), outside 30.0%–36.7% (expected 33.3% ± 10%)",
        "web2 got 150 of 300 requests (50.0%), outside 60.0%–73.3% (expected 66.7% ± 10%)",
    ]


@settings(deadline=None)
@given(st.integers(1, 12), st.integers(100, 10_000))
def test_an_exactly_even_spread_always_passes_and_one_starved_server_never_does(n, each):
    assert balance_problems({f"web{i}": each for i in range(n)}, tolerance=0.0) == []
    starved = {f"web{i}": each for i in range(n)} | {"late": 0}
    assert "late got no request" in balance_problems(starved, tolerance=1.0)[0]


def test_the_vip_is_held_by_exactly_one_node_of_a_datacenter():
    holder, other = _read("ip_addr_vip_holder.txt"), _read("ip_addr_no_vip.txt")
    assert vip_holders({"lb-dc1-b": other, "lb-dc1-a": holder}, "198.18.1.50") == ["lb-dc1-a"]
    assert vip_holders({"lb-dc1-a": holder}, "198.18.1.5") == []  # 198.18.1.50 and .150 are not .5
    assert vip_problems(["lb-dc1-a"], "198.18.1.50", "dc1") == []
    assert vip_problems([], "198.18.1.50", "dc1") == [
        "dc1: no node holds VIP 198.18.1.50: the datacenter's front door is down (outage); "
        "is keepalived running on its haproxy nodes?"]
    both = vip_holders({"lb-dc1-a": holder, "lb-dc1-b": holder}, "198.18.1.50")
    assert vip_problems(both, "198.18.1.50", "dc1") == [
        "dc1: VIP 198.18.1.50 is held by lb-dc1-a and lb-dc1-b at once (split-brain): VRRP adverts do not get "
        "through (protocol 112 blocked?) and clients reach either node"]


def test_counter_deltas_are_refused_across_a_reload():
    before, after = parse_show_stat(_read("show_stat.csv")), parse_show_stat(_read("show_stat_after_reload.csv"))
    info_before, info_after = ShowInfo.parse(_read("show_info.txt")), ShowInfo.parse(_read("show_info_after_reload.txt"))
    result = delta_counters(before, after, info_before, info_after)
    assert isinstance(result, Restarted)
    assert result.problem == ("haproxy restarted or reloaded between the reads (Pid 307 up 3 s, then Pid 526 up 1 s): "
                              "counters were reset, no delta")


def test_counter_deltas_within_one_process_name_each_server():
    info = ShowInfo.parse(_read("show_info.txt"))
    later = ShowInfo.parse(_read("show_info.txt").replace("Uptime_sec: 3", "Uptime_sec: 63"))
    before = [_backend("be"), _server("be", "web1", hrsp_5xx=2, chkdown=0, cli_abrt=1, srv_abrt=0, wredis=0),
              _server("be", "web2", hrsp_5xx=5, chkdown=1, cli_abrt=0, srv_abrt=0, wredis=0)]
    after = [_backend("be"), replace(before[1], hrsp_5xx=7, chkdown=1, wredis=3),
             replace(before[2], hrsp_5xx=1),  # went down: deleted and added again in between
             _server("be", "web4", hrsp_5xx=1, chkdown=0, cli_abrt=0, srv_abrt=0)]  # added; wredis unknown
    deltas = delta_counters(before, after, info, later)
    assert deltas == {
        "be/web1": CounterDelta("be/web1", hrsp_5xx=5, chkdown=1, cli_abrt=0, srv_abrt=0, wredis=3),
        "be/web2": CounterDelta("be/web2", hrsp_5xx=None, chkdown=None, cli_abrt=None, srv_abrt=None, wredis=None,
                                reset=True),
        "be/web4": CounterDelta("be/web4", hrsp_5xx=1, chkdown=0, cli_abrt=0, srv_abrt=0, wredis=None),
    }
