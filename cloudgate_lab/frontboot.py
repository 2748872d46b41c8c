"""What a front-tier guest does at boot: render its daemons' files from the front plan, then run them.

Why a module of its own, below the guest driver: a front VM (template `front-lb` or `front-web`) may
boot long after `lab up` (a guest restarted after its host failed, a scale-out), and each boot
renders its files again from the plan (`<lab>/front/plan.json`, written by `cloudgate_lab.front`),
so what a fault or a scale-out changed in the plan survives the restart. As on a real VM, the
daemons read their standard paths: the guest's own copies are bind-mounted over /etc/haproxy,
/etc/keepalived, /etc/apache2 and /etc/php/8.2/fpm inside the guest's private mount namespace (the
machine's own files are never touched), and their runtime files go to the guest's private /run.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from cloudgate_lab import paths
from cloudgate_lab.frontconf import (
    LB_TEMPLATE,
    WEB_TEMPLATE,
    FrontPlan,
    render_apache,
    render_fpm,
    render_haproxy,
    render_keepalived,
)

HAPROXY_UNIT = "haproxy"
KEEPALIVED_UNIT = "keepalived"
APACHE_UNIT = "apache2"
FPM_UNIT = "php8.2-fpm"
APP_UNIT = "cg-fcgi-app"
FRONT_TEMPLATES = (LB_TEMPLATE, WEB_TEMPLATE)
UNIT_DESCRIPTIONS = {
    HAPROXY_UNIT: "HAProxy Load Balancer",
    KEEPALIVED_UNIT: "Keepalive Daemon (LVS and VRRP)",
    APACHE_UNIT: "The Apache HTTP Server",
    FPM_UNIT: "The PHP 8.2 FastCGI Process Manager",
    APP_UNIT: "The C++ FastCGI responder of the api service",
}
# units whose processes rename themselves (php-fpm: "php-fpm: master process (...)"): found by pid file
UNIT_PIDFILES = {FPM_UNIT: "/run/php/php-fpm.pid"}


def front_dir() -> Path:
    return paths.lab_dir() / "front"


def plan_file() -> Path:
    return front_dir() / "plan.json"


def app_binary() -> Path:
    return front_dir() / "bin" / "cg-fcgi-app"


def cert_file(dc: str, variant: str = "") -> Path:
    return front_dir() / "certs" / f"{dc}{'-' + variant if variant else ''}.pem"


def read_plan() -> FrontPlan | None:
    try:
        return FrontPlan.from_json(plan_file().read_text())
    except (OSError, ValueError, KeyError):
        return None


@dataclass(frozen=True)
class FrontBoot:
    """What the guest driver does for a front guest once its sshd answers: dirs, binds, then units in order."""

    run_dirs: tuple[str, ...]
    binds: tuple[tuple[str, str], ...]  # (source on the machine, path inside the guest)
    units: tuple[tuple[str, tuple[str, ...]], ...]  # (unit, argv), started in this order

    def shell_script(self) -> str:
        """One script run inside the guest's namespaces: its /run dirs and its configuration binds."""
        lines = ["set -e"]
        lines += [f"mkdir -p -m 755 {d}" for d in self.run_dirs]
        lines += [f"mount --bind '{src}' '{dst}'" for src, dst in self.binds]
        return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def render_guest(plan: FrontPlan, vm_name: str, node_dir: Path) -> None:
    """(Re)write the guest's files under <node_dir>/front from the plan; the binds keep following them."""
    role = plan.role_of(vm_name)
    dc = plan.dc_of(vm_name)
    assert role is not None and dc is not None, vm_name
    base = node_dir / "front"
    log_dir = base / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    if role == "lb":
        _write(base / "etc-haproxy" / "haproxy.cfg", render_haproxy(plan, vm_name))
        variant = str(plan.override(vm_name).get("certificate", ""))
        source = cert_file(dc.name, variant)
        (base / "etc-haproxy" / "certs").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source if source.exists() else cert_file(dc.name), base / "etc-haproxy" / "certs" / "front.pem")
        _write(base / "etc-keepalived" / "keepalived.conf", render_keepalived(plan, vm_name))
    else:
        _write(base / "etc-apache2" / "apache2.conf", render_apache(plan, vm_name, str(log_dir)))
        _write(base / "etc-php-fpm" / "php-fpm.conf", render_fpm(plan, vm_name, str(log_dir)))


def boot_for(vm_name: str, template: str, node_dir: Path) -> FrontBoot | None:
    """The front guest's boot, its files rendered; None when the VM is not a front VM of the plan."""
    if template not in FRONT_TEMPLATES:
        return None
    plan = read_plan()
    if plan is None or plan.role_of(vm_name) is None:
        return None
    render_guest(plan, vm_name, node_dir)
    base = node_dir / "front"
    if plan.role_of(vm_name) == "lb":
        return FrontBoot(
            run_dirs=("/run/haproxy", "/run/keepalived"),
            binds=((str(base / "etc-haproxy"), "/etc/haproxy"), (str(base / "etc-keepalived"), "/etc/keepalived")),
            units=(
                (HAPROXY_UNIT, ("/usr/sbin/haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg")),
                (KEEPALIVED_UNIT, ("/usr/sbin/keepalived", "-n", "-l", "-P", "-f", "/etc/keepalived/keepalived.conf",
                                   "-p", "/run/keepalived/keepalived.pid", "-r", "/run/keepalived/vrrp.pid")),
            ),
        )
    return FrontBoot(
        run_dirs=("/run/apache2", "/run/php"),
        binds=((str(base / "etc-apache2"), "/etc/apache2"), (str(base / "etc-php-fpm"), "/etc/php/8.2/fpm")),
        units=(
            (FPM_UNIT, ("/usr/sbin/php-fpm8.2", "-F", "-R", "-y", "/etc/php/8.2/fpm/php-fpm.conf")),
            (APP_UNIT, (str(app_binary()), "127.0.0.1:9001", "4")),
            (APACHE_UNIT, ("/usr/sbin/apache2", "-f", "/etc/apache2/apache2.conf", "-DFOREGROUND")),
        ),
    )
