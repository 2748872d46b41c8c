"""haproxy.cfg read as haproxy 2.6 reads it: inheritance, check settings, words, time values."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudgate.frontends.haproxycfg import (
    MAX_TIME_MS,
    HttpCheckRequest,
    QuoteError,
    format_time,
    parse_haproxy_cfg,
    parse_time,
    split_words,
)
from cloudgate.frontends.haproxystat import parse_show_servers_state, parse_show_stat

DATA = Path(__file__).parent / "data" / "haproxy"


def test_the_recorded_configuration_reads_as_haproxy_itself_reported_it():
    config = parse_haproxy_cfg((DATA / "recorded.cfg").read_text())
    assert config.warnings == ()
    assert sorted(config.backends) == ["be_php", "be_tcp"] and list(config.frontends) == ["fe_web"]
    assert config.frontends["fe_web"].default_backend == "be_php"
    assert config.frontends["fe_web"].binds == ("127.0.0.1:8080",)
    php, tcp = config.backends["be_php"], config.backends["be_tcp"]
    assert (php.defaults, php.mode, php.check_path, php.http_expect) == ("web", "http", "/health.php", ("status 200",))
    assert php.redispatch and php.timeout_connect_ms == 1000 and php.timeout_check_ms is None
    assert (tcp.defaults, tcp.mode, tcp.check_type, tcp.check_path, tcp.redispatch) == ("tcpdef", "tcp", "tcp", None, False)

    stat = {r.name: r for r in parse_show_stat((DATA / "show_stat.csv").read_text()) if r.is_server}
    ports = {s.name: s.port for s in parse_show_servers_state((DATA / "show_servers_state.txt").read_text())}
    configured = {f"{b.name}/{s.name}": s for b in config.backends.values() for s in b.servers}
    assert sorted(configured) == sorted(stat)
    for name, server in configured.items():
        row = stat[name]
        assert (server.host, server.port) == (row.ip, ports[name]), name
        assert server.weight == row.uweight and server.backup == row.is_backup, name
        if not server.check:
            assert row.status == "no check", name
        elif not row.in_maint:  # MAINT pauses the checks: their fields are empty
            assert (server.rise, server.fall) == (row.check_rise, row.check_fall), name
    assert configured["be_php/flap"].inter_ms == 100 and configured["be_php/web1"].inter_ms == 200


def test_a_backend_starts_from_the_last_defaults_before_it_or_the_one_named_after_from():
    config = parse_haproxy_cfg("""
defaults base
    timeout connect 4s
    option redispatch
    option httpchk GET /base
defaults
    mode http
    timeout check 1s
backend implicit
    server a 10.0.0.1:80 check
backend explicit from base
    server a 10.0.0.1:80 check
defaults child from base
    retries 1
backend grandchild
    server a 10.0.0.1:80 check
""")
    implicit, explicit, grandchild = (config.backends[n] for n in ("implicit", "explicit", "grandchild"))
    # an anonymous defaults resets everything to haproxy's defaults: nothing of `base` survives
    assert (implicit.defaults, implicit.mode, implicit.timeout_check_ms, implicit.timeout_connect_ms) == ("", "http", 1000, None)
    assert (implicit.redispatch, implicit.check_path) == (False, None)
    assert (explicit.defaults, explicit.mode, explicit.timeout_connect_ms, explicit.redispatch) == ("base", "tcp", 4000, True)
    assert explicit.check_path == "/base"
    assert (grandchild.defaults, grandchild.retries, grandchild.timeout_connect_ms, grandchild.check_path) == (
        "child", 1, 4000, "/base")


def test_default_server_lines_add_up_and_apply_only_to_the_servers_after_them():
    config = parse_haproxy_cfg("""
defaults
    default-server inter 3s fall 5
backend be
    server early 10.0.0.1:80 check
    default-server rise 4 fastinter 500ms
    server late 10.0.0.2:80 check weight 7
    default-server no-check
    server unchecked 10.0.0.3:80
    server rechecked 10.0.0.4:80 check inter 1s downinter 10s
""")
    early, late, unchecked, rechecked = config.backends["be"].servers
    assert (early.inter_ms, early.fall, early.rise, early.fastinter_ms, early.downinter_ms) == (3000, 5, 2, 3000, 3000)
    assert (late.inter_ms, late.fall, late.rise, late.fastinter_ms, late.weight) == (3000, 5, 4, 500, 7)
    assert not unchecked.check and rechecked.check
    assert (rechecked.inter_ms, rechecked.fastinter_ms, rechecked.downinter_ms) == (1000, 500, 10_000)


def test_haproxy_defaults_apply_to_a_bare_server_line():
    (server,) = parse_haproxy_cfg("backend be\n    server s 10.0.0.1:8080 check\n").backends["be"].servers
    assert (server.inter_ms, server.fastinter_ms, server.downinter_ms, server.rise, server.fall, server.weight) == (
        2000, 2000, 2000, 2, 3, 1)
    assert not server.backup and not server.disabled and server.slowstart_ms is None


def test_every_server_option_the_judges_use_is_read():
    (server,) = parse_haproxy_cfg(
        "backend be\n    server s [2001:db8::1]:443 check backup disabled slowstart 30s observe layer7 "
        "on-error mark-down on-marked-down shutdown-sessions ssl verify none check-ssl port 8443 "
        "maxconn 100 source 10.0.0.9 usesrc clientip error-limit 10\n").backends["be"].servers
    assert (server.host, server.port, server.check, server.backup, server.disabled) == ("2001:db8::1", 443, True, True, True)
    assert (server.slowstart_ms, server.observe, server.on_error, server.on_marked_down) == (
        30_000, "layer7", "mark-down", "shutdown-sessions")
    assert (server.ssl, server.check_ssl, server.check_port) == (True, True, 8443)


@pytest.mark.parametrize("lines, expected", [
    (["option httpchk"], HttpCheckRequest("OPTIONS", "/", "HTTP/1.0")),
    (["option httpchk /health.php"], HttpCheckRequest("OPTIONS", "/health.php", "HTTP/1.0")),
    (["option httpchk GET /health.php"], HttpCheckRequest("GET", "/health.php", "HTTP/1.0")),
    (["option httpchk HEAD /h HTTP/1.1"], HttpCheckRequest("HEAD", "/h", "HTTP/1.1")),
    (["option httpchk", "http-check send meth GET uri /health.php ver HTTP/1.1 hdr Host www"],
     HttpCheckRequest("GET", "/health.php", "HTTP/1.1")),
    (["http-check send uri /cpp/health", "option httpchk GET /ignored"], HttpCheckRequest("GET", "/cpp/health", "HTTP/1.0")),
])
def test_the_l7_check_request_comes_from_option_httpchk_and_http_check_send(lines, expected):
    body = "".join(f"    {line}\n" for line in lines)
    backend = parse_haproxy_cfg(f"backend be\n{body}    server s 10.0.0.1:80 check\n").backends["be"]
    assert backend.http_request == expected and backend.check_path == expected.uri


def test_a_backend_with_check_rules_of_its_own_does_not_inherit_the_defaults_ones():
    config = parse_haproxy_cfg("""
defaults
    option httpchk GET /from-defaults
    http-check expect status 200
backend inherits
    server s 10.0.0.1:80 check
backend own_send
    http-check send uri /own
    server s 10.0.0.1:80 check
backend own_option
    option httpchk /own-option
    server s 10.0.0.1:80 check
""")
    inherits, own_send, own_option = (config.backends[n] for n in ("inherits", "own_send", "own_option"))
    assert (inherits.check_path, inherits.http_expect) == ("/from-defaults", ("status 200",))
    assert (own_send.http_request, own_send.http_expect) == (HttpCheckRequest("OPTIONS", "/own"), ())
    assert (own_option.check_path, own_option.http_expect) == ("/own-option", ())


def test_another_check_option_replaces_the_http_check_and_leaves_a_non_http_check():
    config = parse_haproxy_cfg("""
defaults
    option httpchk GET /h
backend tcpcheck
    option tcp-check
    server s 10.0.0.1:80 check
backend hello
    option ssl-hello-chk
    server s 10.0.0.1:443 check
""")
    assert config.backends["tcpcheck"].check_type == "tcp-check" and config.backends["tcpcheck"].check_path is None
    assert config.backends["hello"].check_type == "ssl-hello-chk" and config.backends["hello"].check_path is None


def test_redispatch_is_turned_off_by_no_option_redispatch_or_an_interval_of_zero():
    config = parse_haproxy_cfg("""
defaults
    option redispatch
backend off
    no option redispatch
backend zero
    option redispatch 0
backend every_retry
    option redispatch 1
backend inherited
""")
    assert not config.backends["off"].redispatch and not config.backends["off"].redispatches
    assert config.backends["zero"].redispatch and not config.backends["zero"].redispatches
    assert config.backends["every_retry"].redispatch_interval == 1 and config.backends["every_retry"].redispatches
    assert config.backends["inherited"].redispatches and config.backends["inherited"].redispatch_interval == -1


def test_a_listen_section_is_both_a_frontend_and_a_backend_and_balance_and_retries_are_read():
    config = parse_haproxy_cfg("""
listen web
    bind :80
    bind :8080
    balance leastconn
    retries 2
    server s 10.0.0.1:80 check
frontend fe
    use_backend api if { path_beg /api }
    default_backend web
""")
    assert config.frontends["web"].binds == (":80", ":8080") and config.backends["web"].section == "listen"
    assert (config.backends["web"].balance, config.backends["web"].retries) == ("leastconn", 2)
    assert config.frontends["fe"].use_backends == ("api",) and config.frontends["fe"].default_backend == "web"


def test_server_template_expands_to_numbered_servers():
    servers = parse_haproxy_cfg(
        "backend be\n    server-template web 1-3 web.dc1.internal:80 check inter 1s\n"
        "    server-template api 2 api.internal:8080\n").backends["be"].servers
    assert [(s.name, s.address, s.check, s.inter_ms) for s in servers] == [
        ("web1", "web.dc1.internal:80", True, 1000), ("web2", "web.dc1.internal:80", True, 1000),
        ("web3", "web.dc1.internal:80", True, 1000), ("api1", "api.internal:8080", False, 2000),
        ("api2", "api.internal:8080", False, 2000)]


def test_servers_of_a_peers_section_and_global_settings_are_not_taken_for_backend_servers():
    config = parse_haproxy_cfg("""
global
    spread-checks 5
    stats socket /run/haproxy/admin.sock mode 660 level admin
peers lbpair
    peer lb-a 10.0.0.1:10000
    server lb-b 10.0.0.2:10000
backend be
    server s 10.0.0.1:80 check
""")
    assert list(config.backends) == ["be"] and config.spread_checks == 5 and config.warnings == ()


def test_what_cannot_be_read_is_warned_about_by_line_and_parsing_goes_on():
    config = parse_haproxy_cfg("""
server stray 10.0.0.1:80
backend be
    timeout check 1.5s
    server bad 10.0.0.1:80 check inter fast rise 0 frobnicate
    server 'unterminated 10.0.0.2:80
    server ok 10.0.0.3:80 check
    server "${WEB_ADDR}" "${WEB_ADDR}:80" check
    server lonely
backend
    server s 10.0.0.9:80
""")
    warnings = config.warnings
    assert warnings[0] == "line 2: outside any section, skipped: server stray 10.0.0.1:80"
    assert any(w.startswith("line 4: '1.5s' is not a haproxy time") for w in warnings)
    assert any(w.startswith("line 5: inter 'fast'") for w in warnings)
    assert any(w.startswith("line 5: rise '0'") for w in warnings)
    assert "line 5: unknown server keyword 'frobnicate' skipped" in warnings
    assert any(w.startswith("line 6: unmatched quote") for w in warnings)
    assert any(w.startswith("line 8: server address '${WEB_ADDR}:80' uses an environment variable") for w in warnings)
    assert any(w.startswith("line 9: a server line needs a name and an address") for w in warnings)
    assert "line 10: a backend without a name: its lines are skipped" in warnings
    be = config.backends["be"]
    assert [s.name for s in be.servers] == ["bad", "ok", "${WEB_ADDR}"]
    assert (be.servers[0].inter_ms, be.servers[0].rise, be.servers[0].check) == (2000, 2, True)  # defaults kept
    assert be.timeout_check_ms is None


def test_a_trailing_backslash_is_no_line_continuation_in_haproxy_2_6():
    config = parse_haproxy_cfg("backend be\n    server s 10.0.0.1:80 check \\\n        inter 1s\n")
    (server,) = config.backends["be"].servers
    assert server.inter_ms == 2000  # `inter 1s` is a line of its own, which haproxy would refuse
    assert config.warnings[0].startswith("line 2: ends with a backslash: haproxy 2.6 has no line continuation")


def test_conditional_blocks_are_read_whole_with_a_warning():
    config = parse_haproxy_cfg("backend be\n.if defined(FAST)\n    server a 10.0.0.1:80 check inter 1s\n"
                               ".else\n    server b 10.0.0.2:80 check\n.endif\n")
    assert [s.name for s in config.backends["be"].servers] == ["a", "b"]
    assert config.warnings == ("line 2: conditional blocks (.if) are not evaluated: every branch is read",)


@pytest.mark.parametrize("line, words", [
    ("server web1 10.0.0.1:80 check # the first", ["server", "web1", "10.0.0.1:80", "check"]),
    ("  http-check send hdr Host 'www example'", ["http-check", "send", "hdr", "Host", "www example"]),
    ('log-format "%t # %s"', ["log-format", "%t # %s"]),
    (r"log-format %t\ %s\#1", ["log-format", "%t %s#1"]),
    ("""word "x"'y'z \\x41 'a\\b' "\\$HOME" "it's" """, ["word", "xyz", "A", "a\\b", "$HOME", "it's"]),
    (r"path \1 tail\\", ["path", "\\1", "tail\\"]),
    ("\t\t# only a comment", []),
    ("", []),
])
def test_words_are_cut_as_haproxy_cuts_them(line, words):
    assert split_words(line) == words


def test_an_unmatched_quote_is_refused():
    with pytest.raises(QuoteError):
        split_words("server 'web1 10.0.0.1:80")


@pytest.mark.parametrize("text, ms", [
    ("0", 0), ("2", 2), ("2000", 2000), ("250ms", 250), ("2s", 2000), ("1m", 60_000), ("1h", 3_600_000),
    ("1d", 86_400_000), ("1us", 1), ("500us", 1), ("1500us", 2), ("2000us", 2), ("24d", 24 * 86_400_000),
])
def test_time_values_read_as_haproxy_reads_them_bare_numbers_being_milliseconds(text, ms):
    assert parse_time(text) == ms


@pytest.mark.parametrize("text", ["", "1.5s", "2 s", "-1", "s", "10x", "1sec", "25d", "3000000000"])
def test_time_values_haproxy_refuses_are_refused(text):
    with pytest.raises(ValueError):
        parse_time(text)


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=MAX_TIME_MS))
def test_a_time_written_back_reads_the_same(ms):
    assert parse_time(format_time(ms)) == ms


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["ms", "s", "m", "h", "d", ""]))
def test_each_unit_multiplies_as_documented(value, unit):
    ms = value * {"": 1, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[unit]
    if ms > MAX_TIME_MS:
        with pytest.raises(ValueError):
            parse_time(f"{value}{unit}")
    else:
        assert parse_time(f"{value}{unit}") == ms


_SERVER = st.fixed_dictionaries({
    "name": st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=10),
    "ip": st.ip_addresses(v=4).map(str),
    "port": st.integers(1, 65535),
    "check": st.booleans(),
    "backup": st.booleans(),
    "inter": st.one_of(st.none(), st.integers(1, 120_000)),
    "fastinter": st.one_of(st.none(), st.integers(1, 120_000)),
    "rise": st.one_of(st.none(), st.integers(1, 20)),
    "fall": st.one_of(st.none(), st.integers(1, 20)),
    "weight": st.one_of(st.none(), st.integers(0, 256)),
})


@settings(max_examples=100, deadline=None)
@given(servers=st.lists(_SERVER, min_size=1, max_size=5, unique_by=lambda s: s["name"]),
       uri=st.one_of(st.none(), st.from_regex(r"\A/[a-z0-9/._-]{0,20}\Z")),
       timeout_check=st.one_of(st.none(), st.integers(1, 60_000)), redispatch=st.booleans())
def test_a_written_configuration_reads_back_the_same(servers, uri, timeout_check, redispatch):
    lines = ["defaults", "    mode http", "backend be"]
    if uri is not None:
        lines.append(f"    option httpchk GET {uri}")
    if timeout_check is not None:
        lines.append(f"    timeout check {format_time(timeout_check)}")
    if redispatch:
        lines.append("    option redispatch")
    for s in servers:
        options = ["check"] if s["check"] else []
        options += ["backup"] if s["backup"] else []
        options += [f"{key} {format_time(s[key]) if key.endswith('inter') else s[key]}"
                    for key in ("inter", "fastinter", "rise", "fall", "weight") if s[key] is not None]
        lines.append(f"    server {s['name']} {s['ip']}:{s['port']} {' '.join(options)}")
    config = parse_haproxy_cfg("\n".join(lines) + "\n")
    assert config.warnings == ()
    backend = config.backends["be"]
    assert backend.check_path == uri and backend.timeout_check_ms == timeout_check and backend.redispatch == redispatch
    for s, read in zip(servers, backend.servers, strict=True):
        assert (read.name, read.host, read.port, read.check, read.backup) == (s["name"], s["ip"], s["port"], s["check"], s["backup"])
        inter = s["inter"] or 2000
        assert (read.inter_ms, read.fastinter_ms) == (inter, s["fastinter"] or inter)
        assert (read.rise, read.fall, read.weight) == (s["rise"] or 2, s["fall"] or 3,
                                                       1 if s["weight"] is None else s["weight"])
