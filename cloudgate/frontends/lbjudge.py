"""The load-balancing tier judged: pure functions from what was read to one-line problems.

Each judge returns a list of problems (empty = pass), one line each, naming the haproxy node, the
backend and the server, and what to do when it is obvious, so that a failing check reads as the
operator's next step. Why pure: the same rules are unit-tested on recorded haproxy answers
(tests/unit/frontends/data/haproxy/) and run unchanged on what the suite reads over SSH.

An empty read is never taken for health: a node whose `show stat` lists no server, a probe too
small to tell a balance, reads of two different haproxy processes: each is a problem of its own.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from cloudgate.frontends.detection import CheckTiming, time_to_down
from cloudgate.frontends.haproxycfg import HaproxyConfig
from cloudgate.frontends.haproxystat import ShowInfo, StatRow

L4_ONLY = "layer-4 check only: a dead PHP-FPM behind a live Apache stays UP"


def _server_label(node: str, row: StatRow) -> str:
    return f"{node}: {'backup ' if row.is_backup else ''}server {row.name}"


def _last_check(row: StatRow) -> str:
    parts = [p for p in (row.check_status, str(row.check_code) if row.check_code is not None else None) if p]
    detail = f" ({row.last_chk})" if row.last_chk else ""
    return f"last check {' '.join(parts)}{detail}" if parts else "no check result"


def servers_not_up(rows: list[StatRow], node: str, declared: Collection[str] = frozenset()) -> list[str]:
    """Every server of every backend should be UP with an L7 check result (L7OK).

    Problems: DOWN (and coming up: "DOWN 1/2"), going down ("UP 1/3": checks are failing now),
    MAINT and DRAIN that nobody declared (`declared`: "backend/server" names whose admin state is
    known and wanted, e.g. a drill's), NOLB, `no check` (haproxy would send traffic to it dead),
    and checks that stop at layer 4 or 6 (L4OK, L6OK): a TCP connect succeeds on Apache while
    PHP-FPM behind it is dead. Backup servers are judged too (they are the other datacenter's
    rescue), worded as backup. A backend with no server UP is named as well: its requests fail.
    """
    servers = [r for r in rows if r.is_server]
    if not servers:
        return [f"{node}: `show stat` lists no server"]
    problems: list[str] = []
    for row in servers:
        label = _server_label(node, row)
        word = row.status_word
        if row.name in declared and word in ("MAINT", "DRAIN"):
            continue
        if word == "MAINT":
            status = row.status or "MAINT"
            if "resolution" in status:
                problems.append(f"{label} is {status}: its address does not resolve; fix DNS or the server line")
            elif "via" in status:
                problems.append(f"{label} is {status}: it tracks a server in maintenance; nobody declared it")
            else:
                problems.append(f"{label} is in MAINT, which nobody declared: `set server {row.name} state ready` "
                                f"once it is healthy, or declare the maintenance")
        elif word == "DRAIN":
            problems.append(f"{label} is {row.status} (no new traffic), which nobody declared: "
                            f"`set server {row.name} state ready`, or declare the drain")
        elif word == "DOWN":
            if row.transition:
                n, rise = row.transition
                problems.append(f"{label} is DOWN, coming up ({n} of {rise} checks passed), {_last_check(row)}")
            else:
                since = f" for {row.lastchg} s" if row.lastchg is not None else ""
                problems.append(f"{label} is DOWN{since}, {_last_check(row)}")
        elif word == "NOLB":
            problems.append(f"{label} is {row.status}: it takes no new traffic (404 with disable-on-404, "
                            f"or stopping), {_last_check(row)}")
        elif word == "no check":
            problems.append(f"{label} has no health check (`no check`): haproxy would keep sending traffic "
                            f"to it dead; add `check` to its server line")
        elif word == "UP":
            if row.transition:
                failed = row.failed_checks_in_a_row
                n, fall = row.transition
                problems.append(f"{label} is {row.status}, going down: {failed} check(s) in a row failed "
                                f"({_last_check(row)}); {n} more mark it DOWN")
            elif row.check_layer in (4, 6):
                shallow = L4_ONLY if row.check_layer == 4 else L4_ONLY.replace("layer-4", "layer-6 (TLS)")
                problems.append(f"{label} is UP on a {shallow}; add `option httpchk` with a URI that runs PHP and C++")
            elif row.check_status not in ("L7OK",):
                problems.append(f"{label} is UP without an L7 check result ({_last_check(row)})")
        else:
            problems.append(f"{label} is {row.status!r}, {_last_check(row)}")
    for row in rows:
        if row.kind == "backend" and row.status_word == "DOWN":
            problems.append(f"{node}: backend {row.pxname} has no server UP: its requests fail")
    return problems


def check_settings_problems(config: HaproxyConfig, node: str, budget_seconds: float) -> list[str]:
    """The health-check lint of one node's haproxy.cfg (FT-02).

    Per backend: no L7 check (no `option httpchk`: a dead PHP-FPM behind a live Apache passes a TCP
    check), no `option redispatch` (a retried request stays on its dead server), and per server the
    worst-case time to mark it DOWN beyond the budget, for a silent server (blackhole) and, with an
    L7 check, for a hung one (whose read timeout `timeout check` can be longer than the connect's).
    A server without `check` is never marked DOWN: beyond any budget.
    """
    problems: list[str] = []
    for backend in config.backends.values():
        where = f"{node}: backend {backend.name}"
        if backend.check_type != "httpchk":
            kind = "a TCP connect" if backend.check_type == "tcp" else f"`option {backend.check_type}`"
            problems.append(f"{where} has no L7 check ({kind} only, {L4_ONLY}); "
                            f"add `option httpchk GET <a URI that runs PHP and C++>`")
        if not backend.redispatches:
            problems.append(f"{where} has no `option redispatch`: a request whose server died retries it "
                            f"{backend.retries} time(s) and fails; add `option redispatch`")
        for server in backend.servers:
            timing = CheckTiming.of(backend, server, config.spread_checks)
            silent = time_to_down(timing, "blackhole")
            detections = [silent]
            if timing.layer == "http" and not silent.never:
                hung = time_to_down(timing, "hung")
                if hung.worst_s is not None and hung.worst_s > (silent.worst_s or 0):
                    detections.append(hung)  # a read timeout longer than the connect's: its own line
            for detection in detections:
                if detection.worst_s is None or detection.worst_s > budget_seconds:
                    problems.append(f"{where} server {server.name}: {detection.explain()}, "
                                    f"beyond the {budget_seconds:g} s budget")
    return problems


def _admin(row: StatRow) -> str:
    return row.status_word if row.status_word in ("MAINT", "DRAIN") else "ready"


def pair_drift(rows_by_node: Mapping[str, list[StatRow]]) -> list[str]:
    """The haproxy nodes of one datacenter (behind one VIP) must balance alike.

    Same backends, same servers, and per server the same address, weight (the user weight: the
    effective one moves with slowstart), backup flag and admin state (MAINT/DRAIN/ready). Whichever
    node holds the VIP serves the clients: a difference is a failover that changes the service.
    Each difference names every node's value. UP/DOWN is not compared (checks run per node).
    """
    nodes = sorted(rows_by_node)
    servers: dict[str, dict[str, dict[str, StatRow]]] = {}  # backend -> node -> server -> row
    for node in nodes:
        for row in rows_by_node[node]:
            if row.kind == "backend":
                servers.setdefault(row.pxname, {}).setdefault(node, {})
            elif row.is_server:
                servers.setdefault(row.pxname, {}).setdefault(node, {})[row.svname] = row
    problems: list[str] = []
    for backend in sorted(servers):
        by_node = servers[backend]
        lacking = [n for n in nodes if n not in by_node]
        if lacking:
            problems.append(f"backend {backend} is on {', '.join(n for n in nodes if n in by_node)} "
                            f"but not on {', '.join(lacking)}")
            continue
        names = sorted({s for node_servers in by_node.values() for s in node_servers})
        for name in names:
            lacking = [n for n in nodes if name not in by_node[n]]
            if lacking:
                having = [n for n in nodes if name in by_node[n]]
                problems.append(f"server {backend}/{name} is on {', '.join(having)} but not on {', '.join(lacking)}")
                continue
            rows = {n: by_node[n][name] for n in nodes}
            attributes = {
                "address": lambda r: r.addr,
                "weight": lambda r: r.uweight if r.uweight is not None else r.weight,
                "backup flag": lambda r: "backup" if r.is_backup else "active",
                "admin state": _admin,
            }
            for attribute, read in attributes.items():
                values = {n: read(r) for n, r in rows.items()}
                if len(set(values.values())) > 1:
                    problems.append(f"server {backend}/{name}: {attribute} differs: "
                                    + ", ".join(f"{n} {values[n]}" for n in nodes))
    return problems


def cloudstack_drift(rows: list[StatRow], node: str, backend: str, expected: Mapping[str, str], port: int,
                     allowed_backups: Collection[str] = frozenset()) -> list[str]:
    """haproxy's servers for a service against the VMs CloudStack lists for it (by IP).

    `expected`: VM address -> VM name (the LB rule's or AutoScale group's instances). Stale: a server
    at an address CloudStack does not list (an expunged VM whose address may be reused by someone
    else's), except backup servers at `allowed_backups` (the other datacenter's fronts); missing: a
    listed VM without a server (it gets no traffic); and a server on the wrong port.
    """
    servers = [r for r in rows if r.is_server and r.pxname == backend]
    if not any(r.pxname == backend for r in rows):
        return [f"{node}: has no backend {backend}, CloudStack lists {len(expected)} VM(s) for it"]
    problems: list[str] = []
    seen: set[str] = set()
    for row in servers:
        ip = row.ip
        if ip is None:
            problems.append(f"{node}: server {row.name} has no address in `show stat` (addr field)")
            continue
        seen.add(ip)
        if ip not in expected:
            if row.is_backup and ip in allowed_backups:
                continue
            kind = "backup server" if row.is_backup else "server"
            problems.append(f"{node}: {kind} {row.name} balances to {row.addr}, which CloudStack does not list "
                            f"for the service (stale): remove it (`set server {row.name} state maint`, "
                            f"`del server {row.name}`, and from haproxy.cfg)")
        elif (addr_port := row.addr.rsplit(":", 1)[-1] if row.addr else "") != str(port):
            problems.append(f"{node}: server {row.name} ({expected[ip]}) balances to port {addr_port}, "
                            f"the service's port is {port}")
    for ip in sorted(set(expected) - seen):
        problems.append(f"{node}: CloudStack lists {expected[ip]} ({ip}) for the service, but backend {backend} "
                        f"has no server at {ip}:{port} (missing: it gets no traffic)")
    return problems


def balance_problems(counts: Mapping[str, int], tolerance: float, min_requests_per_server: int = 100,
                     weights: Mapping[str, int] | None = None) -> list[str]:
    """Were the requests spread over the UP servers as haproxy should spread them (FT-06)?

    Octavia's check (all counts equal, over 20 requests) is too strict for a weighted or random
    balance and too weak to see a skew; here: every UP server got at least one request, and, once
    the probe is large enough (≥ min_requests_per_server per server), each share is within
    ±tolerance (relative: 0.25 = ±25 %) of its expected share, 1/N or weight/Σweights. A probe too
    small to tell is a problem, not a pass. `counts` holds every UP server, with 0 for those that
    got nothing (from the probe's X-Served-By).
    """
    if not counts:
        return ["no UP server to balance to"]
    total = sum(counts.values())
    n = len(counts)
    problems = [f"{server} got no request of {total}" for server, count in sorted(counts.items()) if count == 0]
    needed = min_requests_per_server * n
    if total < needed:
        problems.append(f"the probe was too small to judge the balance: {total} request(s) for {n} server(s), "
                        f"{needed} needed (≥ {min_requests_per_server} per server)")
        return problems
    weight = {s: (weights or {}).get(s, 1) for s in counts}
    weight_total = sum(weight.values()) or 1
    for server, count in sorted(counts.items()):
        if count == 0:
            continue
        expected = weight[server] / weight_total
        share = count / total
        if abs(share / expected - 1) > tolerance:
            lo, hi = expected * (1 - tolerance), expected * (1 + tolerance)
            problems.append(f"{server} got {count} of {total} requests ({share:.1%}), outside "
                            f"{lo:.1%}–{hi:.1%} (expected {expected:.1%} ± {tolerance:.0%})")
    return problems


_INET = re.compile(r"\binet\s+(?P<addr>\d+\.\d+\.\d+\.\d+)(?:/\d+)?")


def vip_holders(addr_output_by_node: Mapping[str, str], vip: str) -> list[str]:
    """The nodes whose `ip -o -4 addr show` lists `vip` (one address per line: "2: eth0 inet A/len …")."""
    holders = []
    for node, output in sorted(addr_output_by_node.items()):
        if any(m.group("addr") == vip for m in _INET.finditer(output)):
            holders.append(node)
    return holders


def vip_problems(holders: list[str], vip: str, dc: str) -> list[str]:
    """Exactly one node of a datacenter holds its VIP (FT-12): none is an outage, two is a split-brain."""
    if not holders:
        return [f"{dc}: no node holds VIP {vip}: the datacenter's front door is down (outage); "
                f"is keepalived running on its haproxy nodes?"]
    if len(holders) > 1:
        return [f"{dc}: VIP {vip} is held by {' and '.join(holders)} at once (split-brain): VRRP adverts "
                f"do not get through (protocol 112 blocked?) and clients reach either node"]
    return []


COUNTERS = ("hrsp_5xx", "chkdown", "cli_abrt", "srv_abrt", "wredis")


@dataclass(frozen=True)
class CounterDelta:
    """One server's counters between two reads of the same haproxy process (None: not in the answer).

    `reset` is set when a counter went down: the server was deleted and added again between the reads
    (`del server`/`add server`), its counters started over; its deltas are then None.
    """

    name: str
    hrsp_5xx: int | None
    chkdown: int | None
    cli_abrt: int | None
    srv_abrt: int | None
    wredis: int | None
    reset: bool = False


@dataclass(frozen=True)
class Restarted:
    """The two reads come from two haproxy processes: counters start at zero with each (a reload
    starts a new worker), so no delta can be taken. CloudStack's VR hit this: apache/cloudstack#6849."""

    before: ShowInfo
    after: ShowInfo

    @property
    def problem(self) -> str:
        return (f"haproxy restarted or reloaded between the reads (Pid {self.before.pid} up {self.before.uptime_sec} s, "
                f"then Pid {self.after.pid} up {self.after.uptime_sec} s): counters were reset, no delta")


def delta_counters(before: list[StatRow], after: list[StatRow], info_before: ShowInfo,
                   info_after: ShowInfo) -> dict[str, CounterDelta] | Restarted:
    """Per server ("backend/server"): Δhrsp_5xx, Δchkdown, Δcli_abrt, Δsrv_abrt, Δwredis.

    Refused across a restart (a Restarted marker is returned, whose `.problem` says why): counters of
    a new process start at zero, and a delta would read as "nothing happened". A server present only
    in `after` was added in between: its counters started at zero, so its delta is its value.
    """
    if not info_before.same_process(info_after):
        return Restarted(info_before, info_after)
    old = {r.name: r for r in before if r.is_server}
    deltas: dict[str, CounterDelta] = {}
    for row in after:
        if not row.is_server:
            continue
        previous = old.get(row.name)
        values: dict[str, int | None] = {}
        reset = False
        for counter in COUNTERS:
            now = getattr(row, counter)
            then = getattr(previous, counter) if previous is not None else 0
            if now is None or then is None:
                values[counter] = None
            elif now < then:
                reset = True
            else:
                values[counter] = now - then
        if reset:
            values = dict.fromkeys(COUNTERS)
        deltas[row.name] = CounterDelta(name=row.name, reset=reset, **values)
    return deltas
