"""The front tier's faults: what the front-tier checks must be seen failing on (tests/self/proofs.py).

Each is what goes wrong on a real front tier, made the way it happens there: a configuration change
on one or both haproxy nodes (rendered into the plan's overrides, then a hitless reload, as
`systemctl reload haproxy` does), a daemon stopped inside its VM (`systemctl stop php8.2-fpm`), a
firewall rule dropping VRRP, a certificate that expires tomorrow, workers held by slow requests.
`clear` puts the plan back, reloads, and waits until every server is UP again on every haproxy node.
`cloudgate lab fault front FAULT [--param k=v] [--clear]`.
"""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Callable
from typing import Any

from cloudgate.frontends.haproxystat import RuntimeAnswerError, parse_show_stat
from cloudgate_lab import frontboot, guests, hosts, net
from cloudgate_lab.front.certs import write_certificate
from cloudgate_lab.front.deploy import wait_ready, write_plan
from cloudgate_lab.frontconf import FrontPlan
from cloudgate_lab.net import LabError

FAULTS: dict[str, str] = {
    "fpm-stopped": "PHP-FPM stopped behind a live Apache on web VM VM (param vm=web-dc1-2)",
    "layer4-checks": "both haproxy nodes of DC check their servers at layer 4 only (param dc=dc1)",
    "server-absent": "web VM VM is missing from both haproxy nodes of its DC (param vm=web-dc1-3)",
    "weight-drift": "haproxy node LB gives web VM VM weight W, its peer 100 (params lb=lb-dc1-b vm=web-dc1-2 weight=50)",
    "wrong-weight": "both haproxy nodes of VM's DC give it weight W (params vm=web-dc1-1 weight=20)",
    "vrrp-blocked": "VRRP dropped on both haproxy nodes of DC: each believes it is alone (param dc=dc1)",
    "haproxy-stopped": "haproxy stopped on both haproxy nodes of DC (param dc=dc1)",
    "certificate-expiring": "the front door's certificate of DC expires in DAYS days (params dc=dc1 days=1)",
    "certificate-drift": "haproxy node LB serves another certificate than its peer (param lb=lb-dc1-b)",
    "apache-workers-exhausted": "Apache of VM limited to 4 workers, all held by slow requests (param vm=web-dc1-1 "
                                "seconds=300)",
    "fpm-children-exhausted": "PHP-FPM of VM limited to 1 child, its PHP answers 100 ms slower (param vm=web-dc1-1)",
    "slow-app": "every PHP answer of VM takes MS ms more (params vm=web-dc1-1 ms=400)",
    "slow-checks": "both haproxy nodes of DC check every 4 s, fall 3: a silent server stays UP 10-16 s (param dc=dc1)",
    "keepalived-stopped": "keepalived stopped on haproxy node LB: it can no longer take the VIP over (param lb=lb-dc1-b)",
}
PARAMS: dict[str, dict[str, str]] = {
    "fpm-stopped": {"vm": "web-dc1-2"}, "layer4-checks": {"dc": "dc1"}, "server-absent": {"vm": "web-dc1-3"},
    "weight-drift": {"lb": "lb-dc1-b", "vm": "web-dc1-2", "weight": "50"},
    "wrong-weight": {"vm": "web-dc1-1", "weight": "20"}, "vrrp-blocked": {"dc": "dc1"},
    "haproxy-stopped": {"dc": "dc1"}, "certificate-expiring": {"dc": "dc1", "days": "1"},
    "certificate-drift": {"lb": "lb-dc1-b"}, "apache-workers-exhausted": {"vm": "web-dc1-1", "seconds": "300"},
    "fpm-children-exhausted": {"vm": "web-dc1-1"}, "slow-app": {"vm": "web-dc1-1", "ms": "400"},
    "slow-checks": {"dc": "dc1"}, "keepalived-stopped": {"lb": "lb-dc1-b"},
}
HEALTHY_TIMEOUT = 30.0
APACHE_WORKERS = 4  # the Apache fault's MaxRequestWorkers: 3 held by slow requests, 1 left for the checks' read
HELD_REQUESTS = 3


class FrontFaultError(Exception):
    """One line for the operator."""


def _plan() -> FrontPlan:
    plan = frontboot.read_plan()
    if plan is None:
        raise FrontFaultError("the lab has no front tier (`cloudgate lab up` with a frontends section)")
    return plan


def _node(name: str) -> hosts.Node:
    node = guests.guest_node_by_name(name)
    if node is None:
        raise FrontFaultError(f"front VM {name} is not running in the lab")
    return node


def _exec(name: str, script: str, what: str, timeout: float = 30.0) -> None:
    try:
        hosts.node_exec(_node(name), ["bash", "-c", script], what=what, timeout=timeout)
    except LabError as exc:
        raise FrontFaultError(str(exc)) from None


def _reload(plan: FrontPlan, name: str) -> None:
    """Render the guest's files again from the plan, then reload its daemons as an operator would."""
    node = _node(name)
    frontboot.render_guest(plan, name, node.dir)
    if plan.role_of(name) == "lb":
        _exec(name, "kill -USR2 $(cat /run/haproxy/haproxy.pid) && kill -HUP $(cat /run/keepalived/keepalived.pid)",
              "reload haproxy and keepalived")
        _wait_reloaded(node)
    else:
        _exec(name, "systemctl restart php8.2-fpm apache2", "restart PHP-FPM and Apache")


def _haproxy_processes(node: hosts.Node) -> int:
    count = 0
    for pid in net.netns_pids(node.netns):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if fh.read().startswith(b"/usr/sbin/haproxy\0"):
                    count += 1
        except OSError:
            continue
    return count


def _wait_reloaded(node: hosts.Node, timeout: float = 15.0) -> None:
    """Until the reload is over: the master and one worker left. An old worker still listening would hand
    some new connections the configuration (the certificate) the fault just replaced."""
    time.sleep(0.2)  # the master forks the new worker, then tells the old one to stop
    deadline = time.monotonic() + timeout
    while _haproxy_processes(node) > 2:
        if time.monotonic() > deadline:
            raise FrontFaultError(f"{node.name}: haproxy still runs an old worker {timeout:g} s after a reload")
        time.sleep(0.1)


def _set_override(plan: FrontPlan, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    over = dict(plan.overrides.get(name, {}))
    change(over)
    if over:
        plan.overrides[name] = over
    else:
        plan.overrides.pop(name, None)


def _lbs_of(plan: FrontPlan, dc_name: str) -> list[str]:
    for dc in plan.dcs:
        if dc.name == dc_name:
            return [v.name for v in dc.lbs]
    raise FrontFaultError(f"no front datacenter {dc_name!r} (the lab has {', '.join(d.name for d in plan.dcs)})")


def _dc_of_vm(plan: FrontPlan, vm: str) -> str:
    dc = plan.dc_of(vm)
    if dc is None:
        raise FrontFaultError(f"{vm} is not a front VM of the lab")
    return dc.name


def _overrides(plan: FrontPlan, names: list[str], key: str, value: Any, clear: bool) -> None:
    for name in names:
        def change(over: dict[str, Any], name: str = name) -> None:
            if clear:
                over.pop(key, None)
            else:
                over[key] = value
        _set_override(plan, name, change)
    write_plan(plan)
    for name in names:
        _reload(plan, name)


def _weights(plan: FrontPlan, lbs: list[str], vm: str, weight: int | None) -> None:
    for lb in lbs:
        def change(over: dict[str, Any]) -> None:
            weights = dict(over.get("weights", {}))
            if weight is None:
                weights.pop(vm, None)
            else:
                weights[vm] = weight
            if weights:
                over["weights"] = weights
            else:
                over.pop("weights", None)
        _set_override(plan, lb, change)
    write_plan(plan)
    for lb in lbs:
        _reload(plan, lb)


HOLDER = """
import sys, threading, time, urllib.request
url, count, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
def hold():
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=40).read()
        except OSError:
            time.sleep(0.5)
threads = [threading.Thread(target=hold, daemon=True) for _ in range(count)]
[t.start() for t in threads]
time.sleep(max(0.0, deadline - time.monotonic()))
"""


def _holder_marker(vm: str) -> str:
    return f"cg-front-hold-{vm}"


def _hold_requests(vm: str, count: int, seconds: float) -> None:
    """`count` slow PHP requests kept in flight on the VM, from inside it, for at most `seconds`."""
    argv = ["python3", "-c", HOLDER, "http://127.0.0.1/slow.php?ms=30000", str(count), str(seconds),
            _holder_marker(vm)]
    hosts.node_spawn_detached(_node(vm), argv, what="hold Apache workers with slow requests")


def _stop_holders(vm: str) -> None:
    with contextlib.suppress(FrontFaultError):
        _exec(vm, f"pkill -f -- {shlex.quote(_holder_marker(vm))}; true", "stop the held requests")


def apply(name: str, params: dict[str, str], clear: bool = False, wait: bool = True) -> None:
    """Inject (or clear) one front fault. A clear waits until the whole front tier is healthy again, unless
    wait=False (other faults still in place: whoever clears the last one waits)."""
    if name not in FAULTS:
        raise FrontFaultError(f"unknown front fault {name!r}; `cloudgate lab fault --list` lists them")
    unknown = sorted(set(params) - set(PARAMS[name]))
    if unknown:
        raise FrontFaultError(f"front fault {name}: --param {unknown[0]}: not one of its parameters "
                              f"({', '.join(PARAMS[name])})")
    p = {**PARAMS[name], **params}
    plan = _plan()
    if name == "fpm-stopped":
        _dc_of_vm(plan, p["vm"])
        _exec(p["vm"], f"systemctl {'start' if clear else 'stop'} php8.2-fpm", "PHP-FPM")
    elif name == "layer4-checks":
        _overrides(plan, _lbs_of(plan, p["dc"]), "layer4_checks", True, clear)
    elif name == "server-absent":
        lbs = _lbs_of(plan, _dc_of_vm(plan, p["vm"]))
        _overrides(plan, lbs, "absent_servers", [p["vm"]], clear)
    elif name == "weight-drift":
        _dc_of_vm(plan, p["lb"])
        _weights(plan, [p["lb"]], p["vm"], None if clear else int(p["weight"]))
    elif name == "wrong-weight":
        _weights(plan, _lbs_of(plan, _dc_of_vm(plan, p["vm"])), p["vm"], None if clear else int(p["weight"]))
    elif name == "vrrp-blocked":
        action = "-D" if clear else "-I"
        for lb in _lbs_of(plan, p["dc"]):
            _exec(lb, f"iptables {action} INPUT -p vrrp -j DROP" + (" 2>/dev/null || true" if clear else ""),
                  "VRRP firewall rule")
        if not clear:  # the backup declares itself master after 3 missed adverts (~3.6 s)
            _wait_holders(plan, p["dc"], lambda n: n == 2, "both haproxy nodes to hold the VIP")
    elif name == "haproxy-stopped":
        for lb in _lbs_of(plan, p["dc"]):
            _exec(lb, f"systemctl {'start' if clear else 'stop'} haproxy", "haproxy")
            if clear:  # until it answers on its socket (and its pid file is its own): a reload may follow
                _wait_answering(lb)
        if not clear:  # keepalived's track script fails twice, then the VIP is released
            _wait_holders(plan, p["dc"], lambda n: n == 0, "the VIP to be released")
    elif name == "certificate-expiring":
        dc = plan.dc_of(_lbs_of(plan, p["dc"])[0])
        assert dc is not None
        if not clear:
            write_certificate(frontboot.cert_file(dc.name, "expiring"), "front.lab", dc.vip, days=float(p["days"]))
        _overrides(plan, [v.name for v in dc.lbs], "certificate", "expiring", clear)
    elif name == "certificate-drift":
        dc = plan.dc_of(p["lb"])
        if dc is None:
            raise FrontFaultError(f"{p['lb']} is not a haproxy node of the lab")
        if not clear:
            write_certificate(frontboot.cert_file(dc.name, "other"), "front.lab", dc.vip, days=365)
        _overrides(plan, [p["lb"]], "certificate", "other", clear)
    elif name == "apache-workers-exhausted":
        vm = p["vm"]
        if clear:
            _stop_holders(vm)
        _overrides(plan, [vm], "max_request_workers", APACHE_WORKERS, clear)
        if not clear:
            _hold_requests(vm, HELD_REQUESTS, float(p["seconds"]))
            time.sleep(1.5)  # the held requests reach their workers
    elif name == "fpm-children-exhausted":
        # one child, and each PHP answer 100 ms longer: the front door's own load overlaps on it
        _set_override(plan, p["vm"], lambda over: over.pop("delay_ms", None) if clear else over.update(delay_ms=100))
        _overrides(plan, [p["vm"]], "fpm_max_children", 1, clear)
    elif name == "slow-app":
        _overrides(plan, [p["vm"]], "delay_ms", int(p["ms"]), clear)
    elif name == "slow-checks":
        _overrides(plan, _lbs_of(plan, p["dc"]), "slow_checks", True, clear)
    elif name == "keepalived-stopped":
        if plan.role_of(p["lb"]) != "lb":
            raise FrontFaultError(f"{p['lb']} is not a haproxy node of the lab")
        _exec(p["lb"], f"systemctl {'start' if clear else 'stop'} keepalived", "keepalived")
    if clear and wait:
        wait_healthy(plan)


def _all_up(lb: str) -> bool:
    try:
        out = hosts.node_exec(_node(lb), ["bash", "-c", "echo 'show stat' | socat -t 5 - UNIX-CONNECT:/run/haproxy/stats.sock"],
                              what="show stat", timeout=10, check=False).stdout
    except (LabError, FrontFaultError):
        return False
    try:
        rows = parse_show_stat(out)
    except RuntimeAnswerError:
        return False
    servers = [r for r in rows if r.svname not in ("FRONTEND", "BACKEND")]
    return bool(servers) and all(r.status == "UP" for r in servers)


def _wait_answering(lb: str, timeout: float = 15.0) -> None:
    node = _node(lb)
    script = ("kill -0 $(cat /run/haproxy/haproxy.pid) && "
              "echo 'show info' | socat -t 2 - UNIX-CONNECT:/run/haproxy/stats.sock | grep -q '^Pid: '")
    deadline = time.monotonic() + timeout
    while hosts.node_exec(node, ["bash", "-c", script], what="haproxy answering", timeout=10, check=False).returncode:
        if time.monotonic() > deadline:
            raise FrontFaultError(f"{lb}: haproxy started but does not answer on its stats socket after {timeout:g} s")
        time.sleep(0.2)


def _holds_vip(lb: str, vip: str) -> bool:
    try:
        out = hosts.node_exec(_node(lb), ["ip", "-o", "-4", "addr", "show", "dev", "eth0"], what="addresses",
                              timeout=10, check=False).stdout
    except (LabError, FrontFaultError):
        return False
    return f" {vip}/" in out


def _wait_holders(plan: FrontPlan, dc_name: str, wanted: Callable[[int], bool], what: str,
                  timeout: float = 15.0) -> None:
    dc = next(d for d in plan.dcs if d.name == dc_name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if wanted(sum(_holds_vip(v.name, dc.vip) for v in dc.lbs)):
            return
        time.sleep(0.25)
    raise FrontFaultError(f"{dc_name}: waited {timeout:g} s for {what}")


def wait_healthy(plan: FrontPlan, timeout: float = HEALTHY_TIMEOUT) -> None:
    """Every server UP on every haproxy node, one VIP holder per datacenter, every VIP serving: the lab as
    the next test expects it."""
    deadline = time.monotonic() + timeout
    lbs = [v.name for dc in plan.dcs for v in dc.lbs]
    split = [dc.name for dc in plan.dcs]
    while (lbs or split) and time.monotonic() < deadline:
        lbs = [lb for lb in lbs if not _all_up(lb)]
        split = [dc.name for dc in plan.dcs if sum(_holds_vip(v.name, dc.vip) for v in dc.lbs) != 1]
        if lbs or split:
            time.sleep(0.25)
    if lbs or split:
        raise FrontFaultError(f"front tier not healthy {timeout:g} s after the fault was cleared: "
                              + "; ".join([f"{', '.join(lbs)} still see a server not UP"] * bool(lbs)
                                          + [f"{', '.join(split)}: not exactly one VIP holder"] * bool(split)))
    wait_ready(plan, timeout=max(1.0, deadline - time.monotonic()))
