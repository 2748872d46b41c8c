"""The lab's front tier on paper: its plan (who runs what where) and the daemons' configuration files.

Why a module apart from the deployment: a front guest renders its files at every boot (a guest that
comes back after its host failed starts its daemons again), so the guest driver needs the renderers
while the deployment (VMs through the CloudStack API) sits above it. Everything here is pure: the
plan in, configuration text out; no lab import, no I/O but reading the plan file.

What runs (Debian's own packages, in each guest's namespaces, in the foreground, with their own paths):
- `lb-<dc>-a|b`: haproxy 2.6 (master-worker; frontend on :80 and :443, backends `www` (PHP) and `api`
  (C++), the datacenter's web VMs active and the other datacenter's as `backup`; an operator-level
  stats socket for the checks and an admin-level one for drills) and keepalived (VRRP for the
  datacenter's VIP; the `a` node has the higher priority);
- `web-<dc>-N`: Apache 2.4 (event MPM, mod_proxy_fcgi, mod_status), PHP-FPM 8.2 (dynamic pool,
  status and ping pages), the C++ FastCGI responder (app.cpp, built at `lab up`).
A fault changes the plan's `overrides` for one guest; the guest's files are rendered again and its
daemons reloaded, as an operator's configuration change would be.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ASSETS_DIR = Path(__file__).resolve().parent
APP_SOURCE = ASSETS_DIR / "app.cpp"
DOCROOT = ASSETS_DIR / "www"
LB_TEMPLATE = "front-lb"  # GuestSpec.template of a haproxy + keepalived guest
WEB_TEMPLATE = "front-web"  # GuestSpec.template of an Apache + PHP-FPM + C++ guest
FPM_ADDRESS = "127.0.0.1:9000"
APP_ADDRESS = "127.0.0.1:9001"
STATUS_NETWORK = "198.18.0.0/15"  # who may read mod_status / FPM status (the lab's own range: the suite)


@dataclass(frozen=True)
class FrontVm:
    name: str
    ip: str


@dataclass(frozen=True)
class FrontDc:
    name: str
    index: int
    vip: str
    lbs: tuple[FrontVm, ...]
    webs: tuple[FrontVm, ...]

    @property
    def vrid(self) -> int:
        return 50 + self.index


@dataclass(frozen=True)
class HealthSettings:
    """haproxy's check timing for every server: the lab promises a silent server DOWN within 3 s."""

    inter_ms: int = 1000
    fastinter_ms: int = 250
    downinter_ms: int = 1000
    rise: int = 2
    fall: int = 2
    timeout_check_ms: int = 500
    timeout_connect_ms: int = 1000


@dataclass
class FrontPlan:
    """The front tier as deployed: datacenters with their VMs, plus per-guest overrides (the faults)."""

    dcs: list[FrontDc]
    health: HealthSettings = field(default_factory=HealthSettings)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FrontPlan:
        raw = json.loads(text)
        dcs = [FrontDc(name=d["name"], index=d["index"], vip=d["vip"],
                       lbs=tuple(FrontVm(**v) for v in d["lbs"]), webs=tuple(FrontVm(**v) for v in d["webs"]))
               for d in raw["dcs"]]
        return cls(dcs=dcs, health=HealthSettings(**raw.get("health", {})), overrides=raw.get("overrides", {}))

    def dc_of(self, vm_name: str) -> FrontDc | None:
        for dc in self.dcs:
            if any(v.name == vm_name for v in dc.lbs + dc.webs):
                return dc
        return None

    def role_of(self, vm_name: str) -> str | None:
        dc = self.dc_of(vm_name)
        if dc is None:
            return None
        return "lb" if any(v.name == vm_name for v in dc.lbs) else "web"

    def override(self, vm_name: str) -> dict[str, Any]:
        return self.overrides.get(vm_name, {})


# -- haproxy -----------------------------------------------------------------------------------------

SERVICES = (("www", "/health.php"), ("api", "/api/health"))  # backend, the layer-7 check's URI


def _server_lines(plan: FrontPlan, dc: FrontDc, lb: str, backend: str) -> list[str]:
    over = plan.override(lb)
    weights: dict[str, int] = over.get("weights", {})
    lines = []
    for web in dc.webs:
        if web.name in over.get("absent_servers", []):
            continue
        weight = weights.get(web.name, 100)
        lines.append(f"    server {web.name} {web.ip}:80 check weight {weight}")
    for other in plan.dcs:
        if other.name != dc.name:
            lines.extend(f"    server {web.name} {web.ip}:80 check weight 100 backup" for web in other.webs)
    return lines


def render_haproxy(plan: FrontPlan, lb: str) -> str:
    """haproxy.cfg of one LB guest. Health checking as the lab promises it (HealthSettings), redispatch on."""
    dc = plan.dc_of(lb)
    assert dc is not None, lb
    h = plan.health
    over = plan.override(lb)
    if over.get("slow_checks"):  # the default's pace: a silent server takes 10-16 s to be marked DOWN
        h = HealthSettings(inter_ms=4000, fastinter_ms=4000, downinter_ms=4000, rise=2, fall=3,
                           timeout_check_ms=h.timeout_check_ms, timeout_connect_ms=h.timeout_connect_ms)
    check = "" if over.get("layer4_checks") else "    option httpchk\n    http-check send meth GET uri {uri} ver HTTP/1.1 hdr Host lab\n    http-check expect status 200\n"
    out = [
        "# rendered by cloudgate_lab.frontconf: the lab's haproxy, in its guest's namespaces",
        "global",
        "    master-worker",
        "    pidfile /run/haproxy/haproxy.pid",
        "    stats socket /run/haproxy/stats.sock mode 660 level operator",
        "    stats socket /run/haproxy/admin.sock mode 600 level admin expose-fd listeners",
        "    stats timeout 30s",
        "    hard-stop-after 5s",  # an old worker still holding a session after a reload is gone within 5 s
        "    maxconn 2000",
        "    nbthread 1",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    option redispatch 1",
        "    retries 2",
        # a connection refused or a 503 (PHP-FPM dead behind a live Apache) is retried on another
        # server, before the checks take the server out: the client sees no error
        "    retry-on conn-failure empty-response 503",
        f"    timeout connect {h.timeout_connect_ms}ms",
        f"    timeout check {h.timeout_check_ms}ms",
        "    timeout client 30s",
        "    timeout server 30s",
        f"    default-server inter {h.inter_ms}ms fastinter {h.fastinter_ms}ms downinter {h.downinter_ms}ms "
        f"rise {h.rise} fall {h.fall}",
        "",
        "frontend front",
        "    bind :80",
        "    bind :443 ssl crt /etc/haproxy/certs/front.pem",
        "    use_backend api if { path_beg /api/ }",
        "    default_backend www",
        "",
    ]
    for backend, uri in SERVICES:
        out.append(f"backend {backend}")
        out.append("    balance roundrobin")
        if check:
            out.append(check.format(uri=uri).rstrip("\n"))
        out.extend(_server_lines(plan, dc, lb, backend))
        out.append("")
    return "\n".join(out) + "\n"


def render_keepalived(plan: FrontPlan, lb: str) -> str:
    """keepalived.conf: VRRP for the datacenter's VIP, haproxy tracked by a TCP connect to its :80."""
    dc = plan.dc_of(lb)
    assert dc is not None, lb
    first = dc.lbs[0].name == lb
    return "\n".join([
        "# rendered by cloudgate_lab.frontconf: VRRP for the datacenter's front-door VIP",
        "global_defs {",
        f"    router_id {lb}",
        "    enable_script_security",
        "    script_user root",
        "}",
        "vrrp_script haproxy_alive {",
        "    script \"/bin/bash -c '</dev/tcp/127.0.0.1/80'\"",
        "    interval 1",
        "    fall 2",
        "    rise 2",
        "}",
        f"vrrp_instance front_{dc.name} {{",
        "    state BACKUP",
        "    nopreempt",  # a node coming back does not take the VIP back: one move per failure, not two
        "    interface eth0",
        f"    virtual_router_id {dc.vrid}",
        f"    priority {150 if first else 100}",
        "    advert_int 1",
        "    virtual_ipaddress {",
        f"        {dc.vip}/24 dev eth0",
        "    }",
        "    track_script {",
        "        haproxy_alive",
        "    }",
        "}",
        "",
    ])


# -- Apache and PHP-FPM ------------------------------------------------------------------------------

APACHE_MODULES = ("mpm_event", "authz_core", "authz_host", "proxy", "proxy_fcgi", "status")


def render_apache(plan: FrontPlan, web: str, log_dir: str) -> str:
    """apache2.conf: the event MPM in front of PHP-FPM (*.php) and the C++ responder (/api/)."""
    over = plan.override(web)
    workers = int(over.get("max_request_workers", 50))
    threads = min(25, workers)
    servers = max(1, -(-workers // threads))
    modules = [f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so" for m in APACHE_MODULES]
    return "\n".join([
        "# rendered by cloudgate_lab.frontconf: the lab's Apache, in its guest's namespaces",
        *modules,
        f"ServerName {web}",
        "ServerRoot /etc/apache2",
        "Listen 80",
        "User www-data",
        "Group www-data",
        "PidFile /run/apache2/apache2.pid",
        "DefaultRuntimeDir /run/apache2",
        "Mutex file:/run/apache2 default",
        f"ErrorLog {log_dir}/apache-error.log",
        "LogLevel warn",
        "ExtendedStatus On",
        "KeepAlive On",
        "StartServers 1",
        f"ServerLimit {servers}",
        f"ThreadsPerChild {threads}",
        f"ThreadLimit {threads}",
        f"MaxRequestWorkers {workers}",
        f"MinSpareThreads {min(threads, 5)}",
        f"MaxSpareThreads {max(threads, 10)}",
        f"DocumentRoot {DOCROOT}",
        f'<Directory "{DOCROOT}">',
        "    Require all granted",
        "</Directory>",
        "<Location /server-status>",
        "    SetHandler server-status",
        f"    Require ip 127.0.0.1 {STATUS_NETWORK}",
        "</Location>",
        "ProxyTimeout 35",
        f"ProxyPass /fpm-status fcgi://{FPM_ADDRESS}/fpm-status",
        f"ProxyPass /fpm-ping fcgi://{FPM_ADDRESS}/fpm-ping",
        f"ProxyPass /api/ fcgi://{APP_ADDRESS}/api/",
        f"ProxyPassMatch ^/$ fcgi://{FPM_ADDRESS}{DOCROOT}/index.php",
        f"ProxyPassMatch ^/(.*\\.php)$ fcgi://{FPM_ADDRESS}{DOCROOT}/$1",
        "",
    ])


def render_fpm(plan: FrontPlan, web: str, log_dir: str) -> str:
    """php-fpm.conf: one dynamic pool (max children reached is counted only for dynamic/ondemand)."""
    over = plan.override(web)
    children = int(over.get("fpm_max_children", 8))
    delay = int(over.get("delay_ms", 0))
    return "\n".join([
        "; rendered by cloudgate_lab.frontconf: the lab's PHP-FPM, in its guest's namespaces",
        "[global]",
        "pid = /run/php/php-fpm.pid",
        f"error_log = {log_dir}/fpm.log",
        "daemonize = no",
        "[www]",
        "user = root",
        "group = root",
        f"listen = {FPM_ADDRESS}",
        "pm = dynamic",
        f"pm.max_children = {children}",
        f"pm.start_servers = {min(2, children)}",
        "pm.min_spare_servers = 1",
        f"pm.max_spare_servers = {min(2, children)}",
        "pm.status_path = /fpm-status",
        "ping.path = /fpm-ping",
        "request_slowlog_timeout = 5s",
        f"slowlog = {log_dir}/fpm-slow.log",
        "catch_workers_output = yes",
        f"env[CG_DELAY_MS] = {delay}",
        "",
    ])
