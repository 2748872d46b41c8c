"""Every bad input of the target file and the waiver file is refused in one line, before anything is created.

One table: each row is a small mutation of a valid target (the documented example,
fixtures/targets/example-preprod.yaml, or the lab's) and the field and value its single error line
must name, as `file:line: field: problem`. The line number is checked against the file: the line
it points at holds the field. Then the waiver file's table, and rows proving the documented
targets, and the inputs that must stay accepted (a name that merely does not resolve), still load;
and what an optional section gives when it is left short (the front tier's defaults).
Nothing here resolves a name, opens a socket or needs the lab.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from cloudgate.target import (
    FrontendsSection,
    FrontProbe,
    FrontPromises,
    FrontStatusPaths,
    FrontTls,
    FrontVmSelector,
    HaproxySettings,
    TargetError,
    load_target,
)
from cloudgate.waivers import load_waivers

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "fixtures/targets/example-preprod.yaml"
LAB = REPO / "fixtures/targets/lab.yaml"
SECRETS = ("CLOUDGATE_PREPROD_API_KEY", "CLOUDGATE_PREPROD_SECRET_KEY", "CLOUDGATE_LAB_API_KEY",
           "CLOUDGATE_LAB_SECRET_KEY", "CG_CQL_USER", "CG_CQL_PASSWORD")

Edit = Callable[[dict[str, Any]], None]


def _parts(path: str) -> list[str | int]:
    """`cassandra.clients[0].dc` -> ['cassandra', 'clients', 0, 'dc'] (the error lines' own notation)."""
    return [int(p[1:-1]) if p.startswith("[") else p for p in re.findall(r"\[\d+\]|[^.\[\]]+", path)]


def _parent(data: dict[str, Any], path: str) -> tuple[Any, str | int]:
    *parents, last = _parts(path)
    node: Any = data
    for part in parents:
        node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]
    return node, last


def put(path: str, value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        node, last = _parent(data, path)
        node[last] = value
    return edit


def drop(path: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        node, last = _parent(data, path)
        del node[last]
    return edit


def both(*edits: Edit) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        for e in edits:
            e(data)
    return edit


@dataclass(frozen=True)
class Bad:
    id: str
    edit: Edit | None  # on the base target's data, before it is written as YAML
    field: str  # the field the line names, right after `file:line: `
    shows: str  # the bad value (or the contradiction) the line must show
    base: str = "example"  # or "lab"
    text: Callable[[str], str] | None = None  # on the written YAML text (duplicate keys, bad dates...)
    line_has: str | None = ""  # what the line pointed at holds; "" = the field's last key; None = no check
    env: bool = False  # refused by check_environment (files, the waiver file), after the schema


DUP_THRESHOLDS = "thresholds:\n  deploy_seconds: 300\n"


def _dup_key(text: str) -> str:
    return text.replace("  write_p99_ms: 1.0\n", "  write_p99_ms: 1.0\n  qos: 0.99\n  write_p99_ms: 2.0\n", 1)


BAD: list[Bad] = [
    # -- top level ---------------------------------------------------------------------------------------------
    Bad("name-empty", put("name", ""), "name", "''"),
    Bad("name-blank", put("name", "   "), "name", "'   '"),
    Bad("name-a-path", put("name", "../preprod"), "name", "'../preprod'"),
    Bad("environment-unknown", put("environment", "staging"), "environment", "'staging'"),
    Bad("environment-missing", drop("environment"), "environment", "Field required", line_has=None),
    Bad("unknown-key", put("thresholdz", {}), "thresholdz", "unknown key"),
    Bad("duplicate-section", None, "thresholds", "given twice", text=lambda t: t + DUP_THRESHOLDS,
        line_has="thresholds:"),
    Bad("duplicate-key", None, "thresholds.write_p99_ms", "given twice", text=_dup_key, line_has="write_p99_ms: 2.0"),
    Bad("bad-date-scalar", None, "name", "'2026-13-45' is not a valid date",
        text=lambda t: t.replace("name: preprod-paris", "name: 2026-13-45"), line_has="2026-13-45"),
    Bad("baselines-empty", put("baselines", ""), "baselines", "''"),
    Bad("waivers-empty", put("waivers", ""), "waivers", "''"),
    Bad("escalation-unknown-role", put("escalation.dba-oncall", "#dba"), "escalation.dba-oncall",
        "unknown role 'dba-oncall' (the runbooks' roles: virtualization,"),
    Bad("escalation-contact-blank", put("escalation.network", "  "), "escalation.network", "'  '"),
    Bad("escalation-contact-a-number", put("escalation.network", 33199001005), "escalation.network", "33199001005"),
    Bad("escalation-contact-two-lines", put("escalation.network", "NOC\n+33 1 99 00 10 05\n"), "escalation.network",
        "must be one line"),
    Bad("escalation-a-list", put("escalation", ["cassandra-dba"]), "escalation", "valid dictionary"),
    # -- cloudstack ---------------------------------------------------------------------------------------------
    Bad("endpoint-empty", put("cloudstack.endpoint", ""), "cloudstack.endpoint", "''"),
    Bad("endpoint-no-scheme", put("cloudstack.endpoint", "cs.example:8443/client/api"), "cloudstack.endpoint",
        "'cs.example:8443/client/api'"),
    Bad("endpoint-port-out-of-range", put("cloudstack.endpoint", "https://cs.example:99999/client/api"),
        "cloudstack.endpoint", "99999"),
    Bad("endpoint-blank-inside", put("cloudstack.endpoint", "https://cs example/client/api"), "cloudstack.endpoint",
        "has a blank"),
    Bad("api-key-env-empty", put("cloudstack.api_key_env", ""), "cloudstack.api_key_env", "NAME of an environment"),
    Bad("api-key-env-a-secret", put("cloudstack.api_key_env", "AKIA+x/y="), "cloudstack.api_key_env",
        "NAME of an environment"),
    Bad("secret-env-same-as-key-env", put("cloudstack.secret_key_env", "CLOUDGATE_PREPROD_API_KEY"),
        "cloudstack.secret_key_env", "CLOUDGATE_PREPROD_API_KEY is also api_key_env"),
    Bad("timeout-zero", put("cloudstack.timeout_seconds", 0), "cloudstack.timeout_seconds", "(got 0)"),
    Bad("timeout-negative", put("cloudstack.timeout_seconds", -1), "cloudstack.timeout_seconds", "(got -1)"),
    Bad("timeout-not-a-number", put("cloudstack.timeout_seconds", "ten"), "cloudstack.timeout_seconds", "'ten'"),
    Bad("timeout-infinite", put("cloudstack.timeout_seconds", float("inf")), "cloudstack.timeout_seconds", "inf"),
    Bad("timeout-boolean", put("cloudstack.timeout_seconds", True), "cloudstack.timeout_seconds", "not a yes/no value (got true)"),
    Bad("job-timeout-zero", put("cloudstack.job_timeout_seconds", 0), "cloudstack.job_timeout_seconds", "(got 0)"),
    Bad("verify-tls-not-a-bool", put("cloudstack.verify_tls", "maybe"), "cloudstack.verify_tls", "'maybe'"),
    # -- ssh ----------------------------------------------------------------------------------------------------
    Bad("user-empty", put("ssh.user", ""), "ssh.user", "''"),
    Bad("identity-file-empty", put("ssh.identity_file", ""), "ssh.identity_file", "''"),
    Bad("identity-file-unset-variable", put("ssh.identity_file", "${CG_NO_SUCH_VARIABLE}"), "ssh.identity_file",
        "expands to an empty path"),
    Bad("known-hosts-empty", put("ssh.known_hosts", ""), "ssh.known_hosts", "''"),
    Bad("known-hosts-missing-outside-the-lab", drop("ssh.known_hosts"), "ssh.known_hosts", "required outside the lab",
        line_has="ssh:"),
    Bad("ssh-port-zero", put("ssh.port", 0), "ssh.port", "(got 0)"),
    Bad("ssh-port-too-big", put("ssh.port", 65536), "ssh.port", "(got 65536)"),
    Bad("ssh-port-not-a-number", put("ssh.port", "ssh"), "ssh.port", "'ssh'"),
    Bad("ssh-port-boolean", put("ssh.port", True), "ssh.port", "(got true)"),
    Bad("connect-timeout-negative", put("ssh.connect_timeout_seconds", -5), "ssh.connect_timeout_seconds", "-5"),
    Bad("fanout-zero", put("ssh.fanout_workers", 0), "ssh.fanout_workers", "(got 0)"),
    # -- datacenters --------------------------------------------------------------------------------------------
    Bad("datacenters-empty", put("datacenters", []), "datacenters", "at least 1 item"),
    Bad("datacenter-name-empty", put("datacenters[1].name", ""), "datacenters[1].name", "''"),
    Bad("datacenter-zone-empty", put("datacenters[1].zone", ""), "datacenters[1].zone", "''"),
    Bad("datacenter-name-twice", put("datacenters[1].name", "dc1"), "datacenters[1].name", "'dc1' is listed twice"),
    Bad("two-datacenters-one-zone", put("datacenters[1].zone", "PAR-ZONE-1"), "datacenters[1].zone",
        "'PAR-ZONE-1' is already datacenters[0]'s"),
    # -- racks --------------------------------------------------------------------------------------------------
    Bad("rack-pattern-missing", drop("racks.pattern"), "racks", "needs 'pattern'"),
    Bad("rack-pattern-not-a-regex", put("racks.pattern", "(?P<rack>"), "racks", "not a valid regex",
        line_has="racks:"),
    Bad("rack-pattern-without-group", put("racks.pattern", r"^xen-\d+$"), "racks", "(?P<rack>...)",
        line_has="racks:"),
    Bad("rack-pattern-with-source-pod", put("racks.source", "pod"), "racks.pattern", "source is pod"),
    Bad("rack-tag-prefix-empty", put("racks", {"source": "host_tag", "tag_prefix": ""}), "racks.tag_prefix",
        "must not be empty"),
    # -- cassandra: contact points, datacenters, zones ---------------------------------------------------------
    Bad("contact-points-empty", put("cassandra.contact_points", {}), "cassandra.contact_points", "is empty"),
    Bad("contact-points-unknown-dc", put("cassandra.contact_points.dc3", ["192.0.2.30"]),
        "cassandra.contact_points.dc3", "unknown datacenter 'dc3' (the target has ['dc1', 'dc2'])"),
    Bad("contact-list-empty", put("cassandra.contact_points.dc2", []), "cassandra.contact_points.dc2",
        "no contact point for dc2"),
    Bad("contact-twice-in-a-list", put("cassandra.contact_points.dc1[1]", "192.0.2.10"),
        "cassandra.contact_points.dc1[1]", "'192.0.2.10' is listed twice in this list", line_has="192.0.2.10"),
    Bad("contact-in-two-dcs", put("cassandra.contact_points.dc2[0]", "192.0.2.10"),
        "cassandra.contact_points.dc2[0]", "'192.0.2.10' is listed also under dc1", line_has="192.0.2.10"),
    Bad("contact-in-two-dcs-by-name", both(put("cassandra.contact_points.dc1[0]", "cass1.example"),
                                           put("cassandra.contact_points.dc2[0]", "CASS1.example.")),
        "cassandra.contact_points.dc2[0]", "also under dc1", line_has="CASS1.example."),
    Bad("contact-empty-label", put("cassandra.contact_points.dc1[0]", "cass1..bad"),
        "cassandra.contact_points.dc1[0]", "'cass1..bad' is not a valid host name", line_has="cass1..bad"),
    Bad("contact-bad-ipv4", put("cassandra.contact_points.dc1[0]", "300.1.1.1"),
        "cassandra.contact_points.dc1[0]", "'300.1.1.1' is not a valid IPv4 address", line_has="300.1.1.1"),
    Bad("contact-a-url", put("cassandra.contact_points.dc1[0]", "https://cass1.example"),
        "cassandra.contact_points.dc1[0]", "'https://cass1.example' is a URL", line_has="cass1.example"),
    Bad("contact-port-glued-on", put("cassandra.contact_points.dc1[0]", "cass1.example:9042"),
        "cassandra.contact_points.dc1[0]", "'cass1.example:9042' has a port glued on", line_has="9042"),
    Bad("contact-ipv6-port-glued-on", put("cassandra.contact_points.dc1[0]", "[2001:db8::10]:9042"),
        "cassandra.contact_points.dc1[0]", "has a port glued on", line_has="9042"),
    Bad("contact-bad-ipv6", put("cassandra.contact_points.dc1[0]", "2001:db8:::10"),
        "cassandra.contact_points.dc1[0]", "not a valid IPv6 address", line_has="2001"),
    Bad("contact-empty-string", put("cassandra.contact_points.dc1[0]", ""), "cassandra.contact_points.dc1[0]",
        "'' is empty", line_has="''"),
    Bad("contact-label-underscore-dash", put("cassandra.contact_points.dc1[0]", "-cass1.example"),
        "cassandra.contact_points.dc1[0]", "label '-cass1'", line_has="-cass1"),
    Bad("contact-not-a-list", put("cassandra.contact_points.dc1", "192.0.2.10"), "cassandra.contact_points.dc1",
        "valid list"),
    Bad("local-dc-unknown", put("cassandra.local_dc", "dc3"), "cassandra.local_dc", "'dc3' has no contact_points"),
    Bad("local-dc-empty", put("cassandra.local_dc", ""), "cassandra.local_dc", "'' has no contact_points"),
    Bad("dc-without-contacts-yet-a-client-starts-there", drop("cassandra.contact_points.dc2"),
        "cassandra.clients[1].dc", "'dc2' has no cassandra.contact_points"),
    # -- cassandra: the rest ------------------------------------------------------------------------------------
    Bad("cql-port-zero", put("cassandra.port", 0), "cassandra.port", "(got 0)"),
    Bad("keyspace-empty", put("cassandra.probe_keyspace", ""), "cassandra.probe_keyspace", "''"),
    Bad("keyspace-not-an-identifier", put("cassandra.probe_keyspace", "probe; DROP KEYSPACE prod"),
        "cassandra.probe_keyspace", "'probe; DROP KEYSPACE prod'"),
    Bad("keyspace-system", put("cassandra.probe_keyspace", "system_auth"), "cassandra.probe_keyspace",
        "Cassandra's own"),
    Bad("keyspace-too-long", put("cassandra.probe_keyspace", "p" * 27), "cassandra.probe_keyspace", "at most 26"),
    Bad("replication-factor-zero", put("cassandra.replication_factor", 0), "cassandra.replication_factor", "(got 0)"),
    Bad("username-env-empty", put("cassandra.username_env", ""), "cassandra.username_env", "NAME of an environment"),
    Bad("username-without-password", put("cassandra.username_env", "CG_CQL_USER"), "cassandra.username_env",
        "without password_env"),
    Bad("username-env-same-as-password", both(put("cassandra.username_env", "CG_CQL_USER"),
                                              put("cassandra.password_env", "CG_CQL_USER")),
        "cassandra.password_env", "is also username_env"),
    Bad("latency-rate-zero", put("cassandra.latency_rate_per_second", 0), "cassandra.latency_rate_per_second",
        "(got 0)"),
    Bad("latency-seconds-negative", put("cassandra.latency_seconds", -1), "cassandra.latency_seconds", "(got -1)"),
    Bad("nofile-zero", put("cassandra.node_settings.nofile_min", 0), "cassandra.node_settings.nofile_min", "(got 0)"),
    Bad("memlock-empty", put("cassandra.node_settings.memlock", ""), "cassandra.node_settings.memlock", "''"),
    Bad("memlock-words", put("cassandra.node_settings.memlock", "lots"), "cassandra.node_settings.memlock",
        "'lots'"),
    Bad("data-directory-relative", put("cassandra.node_settings.data_directory", "var/lib/cassandra"),
        "cassandra.node_settings.data_directory", "'var/lib/cassandra' is not an absolute path"),
    Bad("data-device-empty", put("cassandra.node_settings.data_device", ""), "cassandra.node_settings.data_device",
        "'' is not an absolute path"),
    Bad("client-name-empty", put("cassandra.clients[0].name", ""), "cassandra.clients[0].name", "''"),
    Bad("client-name-twice", put("cassandra.clients[1].name", "php-dc1"), "cassandra.clients[1].name",
        "'php-dc1' is used twice"),
    Bad("client-dc-dangling", put("cassandra.clients[1].dc", "paris"), "cassandra.clients[1].dc",
        "unknown datacenter 'paris'"),
    Bad("client-dc-empty", put("cassandra.clients[1].dc", ""), "cassandra.clients[1].dc", "''"),
    Bad("client-local-dc-dangling", put("cassandra.clients[0].local_dc", "dc9"), "cassandra.clients[0].local_dc",
        "unknown datacenter 'dc9'"),
    Bad("client-remote-hosts-negative", put("cassandra.clients[0].used_hosts_per_remote_dc", -1),
        "cassandra.clients[0].used_hosts_per_remote_dc", "(got -1)"),
    Bad("client-timeout-zero", put("cassandra.clients[0].request_timeout_seconds", 0),
        "cassandra.clients[0].request_timeout_seconds", "(got 0)"),
    Bad("client-consistency-unknown", put("cassandra.clients[0].consistency", "MOST"),
        "cassandra.clients[0].consistency", "'MOST'"),
    Bad("speculative-delay-zero", put("cassandra.clients[0].speculative_execution.delay_ms", 0),
        "cassandra.clients[0].speculative_execution.delay_ms", "(got 0)"),
    Bad("speculative-attempts-zero", put("cassandra.clients[0].speculative_execution.max_attempts", 0),
        "cassandra.clients[0].speculative_execution.max_attempts", "(got 0)"),
    # -- thresholds ---------------------------------------------------------------------------------------------
    Bad("deploy-seconds-zero", put("thresholds.deploy_seconds", 0), "thresholds.deploy_seconds", "(got 0)"),
    Bad("write-p99-not-a-number", put("thresholds.write_p99_ms", "fast"), "thresholds.write_p99_ms", "'fast'"),
    Bad("write-p99-nan", put("thresholds.write_p99_ms", float("nan")), "thresholds.write_p99_ms", "nan"),
    Bad("qos-zero", put("thresholds.qos", 0), "thresholds.qos", "(got 0)"),
    Bad("qos-above-one", put("thresholds.qos", 99.9), "thresholds.qos", "(got 99.9)"),
    Bad("capacity-above-100", put("thresholds.capacity_percent", 101), "thresholds.capacity_percent", "(got 101)"),
    Bad("ntp-offset-negative", put("thresholds.ntp_offset_ms", -100), "thresholds.ntp_offset_ms", "(got -100)"),
    Bad("fio-reserve-negative", put("thresholds.fio_min_reserve_percent", -1), "thresholds.fio_min_reserve_percent",
        "(got -1)"),
    Bad("deploy-vm-count-zero", put("thresholds.deploy_vm_count", 0), "thresholds.deploy_vm_count", "(got 0)"),
    Bad("anti-affinity-one", put("thresholds.anti_affinity_vm_count", 1), "thresholds.anti_affinity_vm_count",
        "(got 1)"),
    # -- deploy -------------------------------------------------------------------------------------------------
    Bad("deploy-zone-dangling", put("deploy.zone", "LYO-ZONE-1"), "deploy.zone", "'LYO-ZONE-1' is no datacenter's zone"),
    Bad("deploy-zone-empty", put("deploy.zone", ""), "deploy.zone", "''"),
    Bad("deploy-offering-empty", put("deploy.service_offering", ""), "deploy.service_offering", "''"),
    Bad("deploy-template-blank", put("deploy.template", " "), "deploy.template", "' '"),
    Bad("deploy-prefix-capitals", put("deploy.name_prefix", "CG"), "deploy.name_prefix", "'CG'"),
    # -- drills -------------------------------------------------------------------------------------------------
    Bad("fault-at-heal", put("drills.fault_at_seconds", 25), "drills.fault_at_seconds",
        "25 is not before heal_at_seconds 25"),
    Bad("fault-after-load", put("drills.fault_at_seconds", 45), "drills.fault_at_seconds",
        "45 is not before heal_at_seconds 25"),
    Bad("fault-and-heal-after-load", both(put("drills.fault_at_seconds", 45), put("drills.heal_at_seconds", 50)),
        "drills.heal_at_seconds", "50 is after load_seconds 40"),
    Bad("heal-after-load", put("drills.heal_at_seconds", 41), "drills.heal_at_seconds", "41 is after load_seconds 40"),
    Bad("fault-at-negative", put("drills.fault_at_seconds", -1), "drills.fault_at_seconds", "(got -1)"),
    Bad("load-seconds-zero", put("drills.load_seconds", 0), "drills.load_seconds", "(got 0)"),
    Bad("write-rate-zero", put("drills.write_rate_per_second", 0), "drills.write_rate_per_second", "(got 0)"),
    Bad("max-in-flight-zero", put("drills.max_in_flight", 0), "drills.max_in_flight", "(got 0)"),
    Bad("stop-command-blank", put("drills.management_server.stop_command", "  "),
        "drills.management_server.stop_command", "must not be empty"),
    Bad("mgmt-timeout-zero", put("drills.management_server.timeout_seconds", 0),
        "drills.management_server.timeout_seconds", "(got 0)"),
    Bad("service-start-command-empty", put("drills.cassandra_service.start_command", ""),
        "drills.cassandra_service.start_command", "''"),
    # -- history, placement -------------------------------------------------------------------------------------
    Bad("compare-last-zero", put("history.compare_last", 0), "history.compare_last", "(got 0)"),
    Bad("min-runs-above-compare-last", put("history.min_runs", 8), "history.min_runs",
        "8 is more than compare_last 7"),
    Bad("tolerance-pattern-empty", put("history.tolerances", {"": 0}), "history.tolerances.''", "must not be empty",
        line_has="''"),
    Bad("tolerance-not-one", put("history.tolerances", {"deploy.total.p95": "lots"}),
        "history.tolerances.deploy.total.p95", "'lots'", line_has="deploy.total.p95"),
    Bad("offering-flash-negative", put("placement.offering_flash_gib", {"Cassandra 8c/32G": -800}),
        "placement.offering_flash_gib.Cassandra 8c/32G", "-800 GiB", line_has="Cassandra 8c/32G"),
    Bad("offering-name-empty", put("placement.offering_flash_gib", {"": 800}), "placement.offering_flash_gib.''",
        "must not be empty", line_has="''"),
    Bad("flash-reserve-negative", put("placement.flash_reserve_gib", -1), "placement.flash_reserve_gib", "(got -1)"),
    Bad("ssh-workers-zero", put("placement.ssh_workers", 0), "placement.ssh_workers", "(got 0)"),
    # -- frontends: services --------------------------------------------------------------------------------
    Bad("front-unknown-key", put("frontends.haproxies", {}), "frontends.haproxies", "unknown key"),
    Bad("front-services-empty", put("frontends.services", []), "frontends.services", "at least 1 item"),
    Bad("front-service-unknown-key", put("frontends.services[0].health", "/health.php"), "frontends.services[0].health",
        "unknown key"),
    Bad("front-service-name-capitals", put("frontends.services[0].name", "WWW"), "frontends.services[0].name", "'WWW'"),
    Bad("front-service-name-twice", put("frontends.services[1].name", "www"), "frontends.services[1].name",
        "service name 'www' is used twice (services[0])"),
    Bad("front-runtime-unknown", put("frontends.services[0].runtime", "java"), "frontends.services[0].runtime",
        "'php' or 'cpp' (got 'java')"),
    Bad("front-runtime-missing", drop("frontends.services[1].runtime"), "frontends.services[1].runtime",
        "Field required", line_has="name: api"),
    Bad("front-backend-blank-inside", put("frontends.services[0].backend", "www backend"),
        "frontends.services[0].backend", "'www backend'"),
    Bad("front-backend-empty", put("frontends.services[0].backend", ""), "frontends.services[0].backend", "''"),
    Bad("front-port-zero", put("frontends.services[0].port", 0), "frontends.services[0].port", "(got 0)"),
    Bad("front-port-too-big", put("frontends.services[1].port", 65536), "frontends.services[1].port", "(got 65536)"),
    Bad("front-health-path-relative", put("frontends.services[0].health_path", "health.php"),
        "frontends.services[0].health_path", "'health.php' must start with '/'"),
    Bad("front-health-path-a-url", put("frontends.services[0].health_path", "http://web1/health.php"),
        "frontends.services[0].health_path", "'http://web1/health.php' must start with '/' (a path on the server"),
    Bad("front-health-path-blank-inside", put("frontends.services[1].health_path", "/api/health check"),
        "frontends.services[1].health_path", "'/api/health check' has a blank in it"),
    Bad("front-health-path-missing", drop("frontends.services[0].health_path"), "frontends.services[0].health_path",
        "Field required", line_has="name: www"),
    Bad("front-health-body-blank", put("frontends.services[0].health_body", "  "), "frontends.services[0].health_body",
        "must not be empty (got '  ')"),
    Bad("front-probe-path-relative", put("frontends.services[1].probe_path", "api/health"),
        "frontends.services[1].probe_path", "'api/health' must start with '/'"),
    # -- frontends: how a service's VMs are found ----------------------------------------------------------------
    Bad("front-vms-missing", drop("frontends.services[0].vms"), "frontends.services[0].vms", "Field required",
        line_has="name: www"),
    Bad("front-vms-no-selector", put("frontends.services[0].vms", {}), "frontends.services[0].vms",
        "needs exactly one of affinity_group, name_pattern, tag"),
    Bad("front-vms-two-selectors", put("frontends.services[0].vms.tag", "role=web"), "frontends.services[0].vms.tag",
        "tag with affinity_group: give exactly one way"),
    Bad("front-vms-unknown-selector", put("frontends.services[0].vms", {"group": "front-web-{dc}"}),
        "frontends.services[0].vms.group", "unknown key"),
    Bad("front-name-pattern-not-a-regex", put("frontends.services[1].vms.name_pattern", "^api-(dc[12]-\\d+$"),
        "frontends.services[1].vms.name_pattern", "is not a valid regex: missing ), unterminated subpattern"),
    Bad("front-group-unknown-placeholder", put("frontends.services[0].vms.affinity_group", "front-web-{zone}"),
        "frontends.services[0].vms.affinity_group",
        "'front-web-{zone}': unknown placeholder {zone} (the placeholders are {dc};"),
    Bad("front-group-positional-placeholder", put("frontends.services[0].vms.affinity_group", "front-web-{}"),
        "frontends.services[0].vms.affinity_group", "unknown placeholder {} (the placeholders are {dc};"),
    Bad("front-group-malformed-brace", put("frontends.services[0].vms.affinity_group", "front-web-{dc"),
        "frontends.services[0].vms.affinity_group", "'front-web-{dc' has a malformed brace (expected '}' before end"),
    Bad("front-group-format-spec", put("frontends.services[0].vms.affinity_group", "front-web-{dc!r}"),
        "frontends.services[0].vms.affinity_group", "placeholder {dc!r} is written plain, {dc}"),
    Bad("front-group-one-datacenters-of-two", put("frontends.services[0].vms.affinity_group", "front-web-dc1"),
        "frontends.services[0].vms.affinity_group", "'front-web-dc1' is dc1's group, but the front tier also has dc2: "
                                                    "write {dc} where the datacenter's name goes ('front-web-{dc}')"),
    Bad("front-group-empty", put("frontends.services[0].vms.affinity_group", ""),
        "frontends.services[0].vms.affinity_group", "must not be empty"),
    Bad("front-tag-not-key-value", put("frontends.services[0].vms", {"tag": "web"}), "frontends.services[0].vms.tag",
        "'web' is not key=value"),
    Bad("front-tag-value-empty", put("frontends.services[0].vms", {"tag": "role="}), "frontends.services[0].vms.tag",
        "'role=' is not key=value"),
    Bad("front-tag-key-blank", put("frontends.services[0].vms", {"tag": " =web"}), "frontends.services[0].vms.tag",
        "' =web' is not key=value"),
    Bad("front-tag-blanks-around", put("frontends.services[0].vms", {"tag": "role = web"}),
        "frontends.services[0].vms.tag", "'role = web' has blanks around its key or value"),
    # -- frontends: datacenters ----------------------------------------------------------------------------------
    Bad("front-datacenters-empty", put("frontends.datacenters", {}), "frontends.datacenters", "at least 1 item"),
    Bad("front-datacenter-unknown", put("frontends.datacenters.dc3", {"vip": "192.0.2.130", "haproxy": ["192.0.2.131"]}),
        "frontends.datacenters.dc3", "unknown datacenter 'dc3' (the target has ['dc1', 'dc2'])"),
    Bad("front-datacenter-by-zone", put("frontends.datacenters", {"PAR-ZONE-1": {"vip": "192.0.2.130",
                                                                                  "haproxy": ["192.0.2.131"]}}),
        "frontends.datacenters.PAR-ZONE-1", "unknown datacenter 'PAR-ZONE-1' (the target has ['dc1', 'dc2'])"),
    Bad("front-vip-missing", drop("frontends.datacenters.dc2.vip"), "frontends.datacenters.dc2.vip", "Field required",
        line_has="dc2:"),
    Bad("front-vip-port-glued-on", put("frontends.datacenters.dc1.vip", "198.51.100.10:80"),
        "frontends.datacenters.dc1.vip", "'198.51.100.10:80' has a port glued on: write the address alone"),
    Bad("front-vip-a-url", put("frontends.datacenters.dc1.vip", "https://www.preprod.example.com/"),
        "frontends.datacenters.dc1.vip", "is a URL or a path"),
    Bad("front-vip-bad-ipv4", put("frontends.datacenters.dc2.vip", "203.0.113.300"), "frontends.datacenters.dc2.vip",
        "'203.0.113.300' is not a valid IPv4 address"),
    Bad("front-vip-is-a-node", put("frontends.datacenters.dc1.haproxy[1]", "198.51.100.10"),
        "frontends.datacenters.dc1.haproxy[1]", "'198.51.100.10' is the vip: the VIP moves between the haproxy nodes",
        line_has="- 198.51.100.10"),
    Bad("front-vip-is-a-node-by-name", both(put("frontends.datacenters.dc1.vip", "www.preprod.example.com"),
                                            put("frontends.datacenters.dc1.haproxy[0]", "WWW.preprod.example.com.")),
        "frontends.datacenters.dc1.haproxy[0]", "is the vip", line_has="WWW.preprod"),
    Bad("front-haproxy-twice", put("frontends.datacenters.dc2.haproxy[1]", "203.0.113.11"),
        "frontends.datacenters.dc2.haproxy[1]", "'203.0.113.11' is listed twice (haproxy[0])", line_has="203.0.113.11"),
    Bad("front-haproxy-in-two-datacenters", put("frontends.datacenters.dc2.haproxy[0]", "198.51.100.11"),
        "frontends.datacenters.dc2.haproxy[0]", "'198.51.100.11' is also dc1's haproxy node", line_has="198.51.100.11"),
    Bad("front-vip-in-two-datacenters", put("frontends.datacenters.dc2.vip", "198.51.100.10"),
        "frontends.datacenters.dc2.vip", "'198.51.100.10' is also dc1's vip"),
    Bad("front-haproxy-empty", put("frontends.datacenters.dc1.haproxy", []), "frontends.datacenters.dc1.haproxy",
        "at least 1 item"),
    Bad("front-haproxy-nine", put("frontends.datacenters.dc1.haproxy", [f"198.51.100.{i}" for i in range(11, 20)]),
        "frontends.datacenters.dc1.haproxy", "at most 8 items"),
    Bad("front-haproxy-port-glued-on", put("frontends.datacenters.dc1.haproxy[0]", "198.51.100.11:22"),
        "frontends.datacenters.dc1.haproxy[0]", "has a port glued on: write the address alone (ssh.port is the port)",
        line_has="198.51.100.11:22"),
    Bad("front-haproxy-not-a-list", put("frontends.datacenters.dc1.haproxy", "198.51.100.11"),
        "frontends.datacenters.dc1.haproxy", "valid list"),
    # -- frontends: haproxy, keepalived, status, tls -------------------------------------------------------------
    Bad("front-config-relative", put("frontends.haproxy.config", "etc/haproxy/haproxy.cfg"), "frontends.haproxy.config",
        "'etc/haproxy/haproxy.cfg' is not an absolute path"),
    Bad("front-stats-socket-relative", put("frontends.haproxy.stats_socket", "stats.sock"),
        "frontends.haproxy.stats_socket", "'stats.sock' is not an absolute path"),
    Bad("front-stats-socket-blank-inside", put("frontends.haproxy.stats_socket", "/run/haproxy/stats sock"),
        "frontends.haproxy.stats_socket", "has a blank in it (it is pasted into a command run over SSH)"),
    Bad("front-admin-socket-relative", put("frontends.haproxy.admin_socket", "run/haproxy/admin.sock"),
        "frontends.haproxy.admin_socket", "'run/haproxy/admin.sock' is not an absolute path"),
    Bad("front-socket-command-without-socket", put("frontends.haproxy.socket_command",
                                                   "socat - UNIX-CONNECT:/run/haproxy/stats.sock"),
        "frontends.haproxy.socket_command", "must contain {socket}"),
    Bad("front-socket-command-literal-socket-only", put("frontends.haproxy.socket_command",
                                                        "socat - UNIX-CONNECT:{{socket}}"),
        "frontends.haproxy.socket_command", "must contain {socket}"),
    Bad("front-socket-command-unknown-placeholder", put("frontends.haproxy.socket_command",
                                                        "socat -t {timeout} - UNIX-CONNECT:{socket}"),
        "frontends.haproxy.socket_command", "unknown placeholder {timeout} (the placeholders are {socket};"),
    Bad("front-socket-command-lone-brace", put("frontends.haproxy.socket_command", "socat - UNIX-CONNECT:{socket}}"),
        "frontends.haproxy.socket_command", "has a malformed brace (Single '}' encountered"),
    Bad("front-keepalived-not-a-bool", put("frontends.keepalived", "maybe"), "frontends.keepalived", "'maybe'"),
    Bad("front-status-apache-with-query", put("frontends.status.apache", "/server-status?auto"),
        "frontends.status.apache", "'/server-status?auto': write the path alone (the checks append ?auto)"),
    Bad("front-status-fpm-relative", put("frontends.status.fpm", "fpm-status"), "frontends.status.fpm",
        "'fpm-status' must start with '/'"),
    Bad("front-status-ping-empty", put("frontends.status.fpm_ping", ""), "frontends.status.fpm_ping",
        "'' must start with '/'"),
    Bad("front-tls-port-zero", put("frontends.tls.port", 0), "frontends.tls.port", "(got 0)"),
    Bad("front-tls-server-name-an-ip", put("frontends.tls.server_name", "198.51.100.10"), "frontends.tls.server_name",
        "'198.51.100.10' is an IP address: SNI carries a host name only"),
    Bad("front-tls-server-name-with-port", put("frontends.tls.server_name", "www.preprod.example.com:443"),
        "frontends.tls.server_name", "has a port glued on: write the address alone (tls.port is the port)"),
    # -- frontends: probe, promises ------------------------------------------------------------------------------
    Bad("front-probe-rate-zero", put("frontends.probe.rate_per_second", 0), "frontends.probe.rate_per_second",
        "(got 0)"),
    Bad("front-probe-rate-above-500", put("frontends.probe.rate_per_second", 501), "frontends.probe.rate_per_second",
        "(got 501)"),
    Bad("front-probe-rate-boolean", put("frontends.probe.rate_per_second", True), "frontends.probe.rate_per_second",
        "not a yes/no value (got true)"),
    Bad("front-probe-seconds-zero", put("frontends.probe.seconds", 0), "frontends.probe.seconds", "(got 0)"),
    Bad("front-probe-seconds-above-600", put("frontends.probe.seconds", 601), "frontends.probe.seconds", "(got 601)"),
    Bad("front-probe-timeout-above-60", put("frontends.probe.timeout_seconds", 61), "frontends.probe.timeout_seconds",
        "(got 61)"),
    Bad("front-probe-in-flight-zero", put("frontends.probe.max_in_flight", 0), "frontends.probe.max_in_flight",
        "(got 0)"),
    Bad("front-probe-in-flight-above-1000", put("frontends.probe.max_in_flight", 1001), "frontends.probe.max_in_flight",
        "(got 1001)"),
    Bad("front-error-ratio-one", put("frontends.promises.error_ratio", 1), "frontends.promises.error_ratio", "(got 1)"),
    Bad("front-error-ratio-negative", put("frontends.promises.error_ratio", -0.01), "frontends.promises.error_ratio",
        "(got -0.01)"),
    Bad("front-error-ratio-a-percentage", put("frontends.promises.error_ratio", "0.1%"),
        "frontends.promises.error_ratio", "'0.1%'"),
    Bad("front-p99-zero", put("frontends.promises.p99_ms", 0), "frontends.promises.p99_ms", "(got 0)"),
    Bad("front-p99-infinite", put("frontends.promises.p99_ms", float("inf")), "frontends.promises.p99_ms", "inf"),
    Bad("front-mark-down-zero", put("frontends.promises.mark_down_seconds", 0), "frontends.promises.mark_down_seconds",
        "(got 0)"),
    Bad("front-scale-out-negative", put("frontends.promises.scale_out_seconds", -1),
        "frontends.promises.scale_out_seconds", "(got -1)"),
    Bad("front-balance-tolerance-one", put("frontends.promises.balance_tolerance", 1),
        "frontends.promises.balance_tolerance", "(got 1)"),
    Bad("front-balance-tolerance-zero", put("frontends.promises.balance_tolerance", 0),
        "frontends.promises.balance_tolerance", "(got 0)"),
    Bad("front-min-servers-zero", put("frontends.promises.min_servers_per_dc", 0),
        "frontends.promises.min_servers_per_dc", "(got 0)"),
    Bad("front-busy-workers-zero", put("frontends.promises.busy_workers_ratio", 0),
        "frontends.promises.busy_workers_ratio", "(got 0)"),
    Bad("front-busy-workers-a-percentage", put("frontends.promises.busy_workers_ratio", 80),
        "frontends.promises.busy_workers_ratio", "(got 80)"),
    Bad("front-cert-warn-negative", put("frontends.promises.cert_warn_days", -1), "frontends.promises.cert_warn_days",
        "(got -1)"),
    Bad("front-cert-fail-after-warn", put("frontends.promises.cert_fail_days", 31), "frontends.promises.cert_fail_days",
        "31 is more than cert_warn_days 30: a certificate must warn before it fails"),
    # -- frontends: scale ----------------------------------------------------------------------------------------
    Bad("front-scale-out-unknown-placeholder", put("frontends.scale.out_command", "front-scale out {service} {vm}"),
        "frontends.scale.out_command", "unknown placeholder {vm} (the placeholders are {service}, {dc};"),
    Bad("front-scale-out-shell-variable", put("frontends.scale.out_command", "${HOME}/bin/front-scale out {service}"),
        "frontends.scale.out_command", "unknown placeholder {HOME} (the placeholders are {service}, {dc}; a literal "
                                       "brace is written twice"),
    Bad("front-scale-in-unknown-placeholder", put("frontends.scale.in_command", "front-scale in {service} {host}"),
        "frontends.scale.in_command", "unknown placeholder {host} (the placeholders are {service}, {dc}, {vm};"),
    Bad("front-scale-in-malformed-brace", put("frontends.scale.in_command", "front-scale in {service {dc} {vm}"),
        "frontends.scale.in_command", "has a malformed brace"),
    Bad("front-scale-out-blank", put("frontends.scale.out_command", " "), "frontends.scale.out_command",
        "must not be empty"),
    Bad("front-scale-in-missing", drop("frontends.scale.in_command"), "frontends.scale.in_command", "Field required",
        line_has="scale:"),
    Bad("front-scale-timeout-zero", put("frontends.scale.timeout_seconds", 0), "frontends.scale.timeout_seconds",
        "(got 0)"),
    Bad("front-scale-timeout-above-an-hour", put("frontends.scale.timeout_seconds", 3601),
        "frontends.scale.timeout_seconds", "(got 3601)"),
    # -- frontends: the lab's ------------------------------------------------------------------------------------
    Bad("lab-front-vip-is-a-node", put("frontends.datacenters.dc2.vip", "198.18.2.212"),
        "frontends.datacenters.dc2.haproxy[1]", "'198.18.2.212' is the vip", base="lab", line_has="198.18.2.212"),
    Bad("lab-front-group-of-dc2-only", put("frontends.services[1].vms.affinity_group", "front-web-dc2"),
        "frontends.services[1].vms.affinity_group", "'front-web-dc2' is dc2's group, but the front tier also has dc1",
        base="lab"),
    # -- lab ----------------------------------------------------------------------------------------------------
    Bad("lab-section-outside-the-lab", put("lab", {"racks_per_dc": 3}), "lab", "only allowed with environment: lab"),
    Bad("lab-racks-zero", put("lab.racks_per_dc", 0), "lab.racks_per_dc", "(got 0)", base="lab"),
    Bad("lab-extra-hosts-beyond-racks", put("lab.extra_hosts_first_racks", 5), "lab.extra_hosts_first_racks",
        "5 racks, but there are 3", base="lab"),
    Bad("lab-network-other", put("lab.network", "10.0.0.0/8"), "lab.network", "198.18.0.0/15", base="lab"),
    Bad("lab-no-cassandra-node", put("lab.cassandra_nodes_per_dc", 0), "lab.cassandra_nodes_per_dc",
        "0 with a cassandra section", base="lab"),
    Bad("lab-replication-above-nodes", put("cassandra.replication_factor", 4), "cassandra.replication_factor",
        "4 replicas per datacenter, but the lab builds 3", base="lab"),
    # -- files the target names (check_environment: `target check` and every run) -------------------------------
    Bad("identity-file-dangling", put("ssh.identity_file", "/nonexistent/cloudgate_ed25519"), "ssh.identity_file",
        "/nonexistent/cloudgate_ed25519 does not exist", env=True),
    Bad("known-hosts-dangling", put("ssh.known_hosts", "/nonexistent/known_hosts"), "ssh.known_hosts",
        "/nonexistent/known_hosts does not exist", env=True),
    Bad("waivers-dangling", put("waivers", "no-such-waivers.yaml"), "waivers", "no-such-waivers.yaml does not exist",
        env=True),
    Bad("baselines-dangling", put("baselines", "no-such-baselines"), "baselines", "no-such-baselines does not exist",
        env=True),
]


def _base(name: str) -> dict[str, Any]:
    """The documented target, its files pointed at ones that exist (the rows break one thing at a time)."""
    data = yaml.safe_load((LAB if name == "lab" else EXAMPLE).read_text())
    data["ssh"]["identity_file"] = "/dev/null"
    if name == "example":
        data["ssh"]["known_hosts"] = "/dev/null"
        data["baselines"] = str(REPO / "fixtures/baselines")
        data["waivers"] = str(REPO / "fixtures/waivers/example.yaml")
    return data


BASES = {name: _base(name) for name in ("example", "lab")}


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in SECRETS:
        monkeypatch.setenv(variable, "selftest-value")


def write(tmp_path: Path, row_edit: Edit | None, base: str = "example",
          text: Callable[[str], str] | None = None) -> Path:
    data = copy.deepcopy(BASES[base])
    if row_edit is not None:
        row_edit(data)
    content = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    path = tmp_path / "target.yaml"
    path.write_text(text(content) if text else content)
    return path


def one_line(call: Callable[[], object]) -> str:
    with pytest.raises(TargetError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


def _checked_line(message: str, path: Path, field: str) -> int:
    """The line number of `file:line: field: ...`, asserting that shape."""
    head = re.match(rf"{re.escape(str(path))}:(\d+): {re.escape(field)}: ", message)
    assert head, f"not `{path}:<line>: {field}: ...`: {message}"
    return int(head.group(1))


@pytest.mark.usefixtures("secrets")
@pytest.mark.parametrize("row", BAD, ids=[row.id for row in BAD])
def test_a_bad_target_is_refused_in_one_line_naming_file_line_field_and_value(tmp_path: Path, row: Bad) -> None:
    path = write(tmp_path, row.edit, row.base, row.text)
    if row.env:
        loaded = load_target(path)  # the schema takes it: only the world does not match it
        message = one_line(loaded.check_environment)
    else:
        message = one_line(lambda: load_target(path))
    line = _checked_line(message, path, row.field)
    assert row.shows in message, message
    if row.line_has is not None:
        expected = row.line_has or f"{_parts(row.field)[-1]}:"
        assert expected in path.read_text().splitlines()[line - 1], (line, message)


GOOD: list[tuple[str, Edit, str]] = [
    ("name-that-does-not-resolve", put("cassandra.contact_points.dc2", ["cass1.does-not-exist.invalid"]), "example"),
    ("ipv6-and-fqdn-contact-points", put("cassandra.contact_points.dc2", ["2001:db8::20", "cass2.example.internal."]),
     "example"),
    ("a-datacenter-without-cassandra", both(drop("cassandra.contact_points.dc2"), put("cassandra.clients[1].local_dc",
                                                                                       "dc1")), "example"),
    ("memlock-in-kib", put("cassandra.node_settings.memlock", 65536), "example"),
    ("cql-credentials", both(put("cassandra.username_env", "CG_CQL_USER"), put("cassandra.password_env", "CG_CQL_PASSWORD")),
     "example"),
    ("a-directory-user", put("ssh.user", "svc-cloudgate@corp.example"), "example"),
    ("drill-heal-at-load-end", put("drills.heal_at_seconds", 40), "example"),
    ("offering-with-no-flash", put("placement.offering_flash_gib", {"Small Instance": 0}), "example"),
    ("no-escalation-section", drop("escalation"), "example"),
    ("escalation-left-empty", put("escalation", None), "example"),
    ("a-role-without-a-contact", drop("escalation.network"), "example"),
    ("lab-as-the-self-tests-derive-it", both(put("cloudstack.endpoint", "http://127.0.0.1:9/client/api"),
                                            put("cassandra.clients", [])), "lab"),
    ("no-front-tier", drop("frontends"), "example"),
    ("front-vms-by-tag", put("frontends.services[0].vms", {"tag": "role=web"}), "example"),
    ("front-one-group-for-every-datacenter", put("frontends.services[0].vms.affinity_group", "front-web"), "example"),
    ("front-group-of-the-only-front-datacenter", both(drop("frontends.datacenters.dc2"),
                                                      put("frontends.services[0].vms.affinity_group", "front-web-dc1")),
     "example"),
    ("front-literal-braces-in-a-command", put("frontends.scale.out_command", "${{HOME}}/bin/front-scale {service} {dc}"),
     "example"),
    ("front-no-admin-socket-nor-status-page", both(put("frontends.haproxy.admin_socket", None),
                                                   put("frontends.status", {"apache": None, "fpm": None,
                                                                            "fpm_ping": None})), "example"),
    ("front-no-tls-nor-scale", both(put("frontends.tls", None), drop("frontends.scale")), "example"),
    ("front-without-keepalived", put("frontends.keepalived", False), "example"),
    ("front-host-names-and-ipv6", put("frontends.datacenters.dc1", {"vip": "2001:db8::10", "haproxy": [
        "lb1-dc1.preprod.example.internal", "lb2-dc1.preprod.example.internal"]}), "example"),
    ("front-cert-fails-the-day-it-warns", put("frontends.promises.cert_fail_days", 30), "example"),
    ("front-backend-null-is-the-name", put("frontends.services[0].backend", None), "example"),
]


@pytest.mark.usefixtures("secrets")
@pytest.mark.parametrize(("edit", "base"), [(e, b) for _, e, b in GOOD], ids=[i for i, _, _ in GOOD])
def test_what_an_operator_may_mean_is_accepted(tmp_path: Path, edit: Edit, base: str) -> None:
    loaded = load_target(write(tmp_path, edit, base))
    if base == "example":
        loaded.check_environment()


def test_yaml_anchors_and_merge_keys_are_not_taken_for_duplicate_keys(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        "  management_server:\n", "  management_server: &mgmt\n", 1).replace(
        "  cassandra_service:\n", "  cassandra_service:\n    <<: {stop_timeout_seconds: 60}\n", 1)
    path = tmp_path / "t.yaml"
    path.write_text(text)
    assert load_target(path).target.drills.cassandra_service.stop_timeout_seconds == 120  # its own key wins


@pytest.mark.parametrize("documented", [EXAMPLE, LAB], ids=["example-preprod", "lab"])
def test_the_documented_targets_still_validate(documented: Path) -> None:
    target = load_target(documented).target
    assert target.datacenters and target.cassandra is not None


def test_the_documented_front_tiers() -> None:
    lab = load_target(LAB).target.frontends
    assert lab is not None
    assert [(s.name, s.runtime.value, s.backend, s.health_path, s.health_body, s.probe_path) for s in lab.services] == [
        ("www", "php", "www", "/health.php", "ok php", "/"), ("api", "cpp", "api", "/api/health", "ok cpp", "/api/hello")]
    assert [s.vms.group_for("dc2") for s in lab.services] == ["front-web-dc2", "front-web-dc2"]
    assert {dc: (f.vip, f.haproxy) for dc, f in lab.datacenters.items()} == {
        "dc1": ("198.18.1.210", ["198.18.1.211", "198.18.1.212"]),
        "dc2": ("198.18.2.210", ["198.18.2.211", "198.18.2.212"])}
    assert lab.tls == FrontTls() and lab.promises == FrontPromises(mark_down_seconds=4)
    assert lab.scale is not None and lab.scale.timeout_seconds == 120
    assert lab.scale.in_command.format(service="api", dc="dc2", vm="web-dc2-3") == \
        "cloudgate lab front scale-in --service api --dc dc2 --vm web-dc2-3"
    example = load_target(EXAMPLE).target.frontends
    assert example is not None and sorted(example.datacenters) == ["dc1", "dc2"]
    assert [(s.name, s.runtime.value, s.probe_path) for s in example.services] == [("www", "php", "/"),
                                                                                  ("api", "cpp", "/api/health")]
    assert example.scale is not None and example.scale.out_command.format(service="www", dc="dc1") == \
        "/opt/ops/bin/front-scale out www dc1"


def test_without_a_frontends_section_there_is_no_front_tier(tmp_path: Path) -> None:
    assert load_target(write(tmp_path, drop("frontends"))).target.frontends is None


def test_a_front_selector_names_each_datacenters_group() -> None:
    by_group = FrontVmSelector(affinity_group="front-web-{dc}")
    assert [by_group.group_for(dc) for dc in ("dc1", "dc2")] == ["front-web-dc1", "front-web-dc2"]
    assert FrontVmSelector(affinity_group="front-web").group_for("dc2") == "front-web"  # one group for all
    assert FrontVmSelector(affinity_group="front-{{blue}}-{dc}").group_for("dc1") == "front-{blue}-dc1"
    assert FrontVmSelector(name_pattern=r"^web-dc\d-\d+$").group_for("dc1") is None
    assert FrontVmSelector(tag="role=web").group_for("dc1") is None
    assert FrontVmSelector(tag="role=web=blue").tag_pair == ("role", "web=blue")
    assert by_group.tag_pair is None


def test_a_minimal_front_tier_takes_the_defaults(tmp_path: Path) -> None:
    minimal = {"services": [{"name": "www", "runtime": "php", "health_path": "/health.php",
                             "vms": {"affinity_group": "front-web-{dc}"}}],
               "datacenters": {"dc1": {"vip": "198.51.100.10", "haproxy": ["198.51.100.11"]}}}
    front = load_target(write(tmp_path, put("frontends", minimal))).target.frontends
    assert front is not None
    service = front.services[0]
    assert (service.backend, service.port, service.health_body, service.probe_path) == ("www", 80, None, "/health.php")
    assert front.haproxy == HaproxySettings(config="/etc/haproxy/haproxy.cfg", stats_socket="/run/haproxy/stats.sock",
                                            admin_socket="/run/haproxy/admin.sock",
                                            socket_command="socat -t 5 - UNIX-CONNECT:{socket}")
    assert front.keepalived is True and front.tls is None and front.scale is None
    assert front.status == FrontStatusPaths(apache="/server-status", fpm="/fpm-status", fpm_ping="/fpm-ping")
    assert front.probe == FrontProbe(rate_per_second=50, seconds=20, timeout_seconds=2, max_in_flight=50)
    assert front.promises == FrontPromises(error_ratio=0.001, p99_ms=250, mark_down_seconds=10, scale_out_seconds=360,
                                           balance_tolerance=0.25, min_servers_per_dc=2, busy_workers_ratio=0.8,
                                           cert_warn_days=30, cert_fail_days=14)
    assert FrontTls() == FrontTls(port=443, server_name=None)


def _front_fields(model: type[BaseModel]) -> set[str]:
    """The field names of a front-tier model and of the models below it."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(name)
        for inner in (info.annotation, *typing.get_args(info.annotation)):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                names |= _front_fields(inner)
    return names


def test_every_front_field_is_documented_in_the_example() -> None:
    text = EXAMPLE.read_text()
    section = text[text.index("\nfrontends:\n"):text.index("\nthresholds:\n")]
    missing = sorted(name for name in _front_fields(FrontendsSection) if not re.search(rf"\b{name}:", section))
    assert not missing, f"fixtures/targets/example-preprod.yaml does not document frontends' {missing}"


def test_a_target_file_that_is_not_utf8_is_one_line_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_bytes(EXAMPLE.read_bytes().replace(b"name: preprod-paris", b"name: pr\xe9prod", 1))
    line = EXAMPLE.read_text().splitlines().index("name: preprod-paris") + 1
    message = one_line(lambda: load_target(path))
    assert message.startswith(f"{path}:{line}: not UTF-8 text (byte 0xe9)"), message


@pytest.mark.parametrize(("text", "shows"), [
    ("name: x\nenvironment: lab\ncloudstack: [unclosed\n", "not valid YAML"),
    ("- name: x\n", "must be a mapping"),
    ("", "must be a mapping"),
    ("name: a\n---\nname: b\n", "not valid YAML"),
    ("name: !!python/object/apply:os.system [true]\n", "not valid YAML"),
    ("name: x\n\tenvironment: lab\n", "not valid YAML"),
], ids=["unclosed", "a-list", "empty", "two-documents", "python-tag", "tab"])
def test_a_file_that_is_not_a_yaml_mapping_is_one_line(tmp_path: Path, text: str, shows: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    message = one_line(lambda: load_target(path))
    assert re.match(rf"{re.escape(str(path))}:\d+: ", message) and shows in message, message


# --------------------------------------------------------------------------- the waiver file
GOOD_WAIVER = ("waivers:\n"
               "  - check: CG-FIO-004\n"
               "    match: xen-r12-07\n"
               "    justification: card replacement ordered, ticket OPS-1234\n"
               "    expires: 2999-12-31\n")
SECOND = ("  - check: CG-HOST-002\n"
          "    justification: kernel upgrade scheduled, ticket OPS-1300\n"
          "    expires: 2999-06-30\n")

BAD_WAIVERS: list[tuple[str, str, str, str, int]] = [
    # id, file text, field, shown, line
    ("corrupt-yaml", "waivers:\n  - check: [CG-FIO-004\n", "", "not valid YAML", 3),
    ("not-a-mapping", "- check: CG-FIO-004\n", "", "must be a mapping", 1),
    ("waivers-not-a-list", "waivers: CG-FIO-004\n", "waivers", "valid list", 1),
    ("unknown-key", GOOD_WAIVER + "    owner: ops\n", "waivers[0].owner", "unknown key", 6),
    ("check-missing", GOOD_WAIVER.replace("  - check: CG-FIO-004\n    match", "  - match"), "waivers[0].check",
     "Field required", 2),
    ("justification-missing", GOOD_WAIVER.replace("    justification: card replacement ordered, ticket OPS-1234\n", ""),
     "waivers[0].justification", "Field required", 2),
    ("expires-missing", GOOD_WAIVER.replace("    expires: 2999-12-31\n", ""), "waivers[0].expires", "Field required", 2),
    ("expires-not-a-date", GOOD_WAIVER.replace("2999-12-31", "soon"), "waivers[0].expires", "'soon'", 5),
    ("expires-impossible-date", GOOD_WAIVER.replace("2999-12-31", "2026-02-30"), "waivers[0].expires",
     "'2026-02-30' is not a valid date", 5),
    ("expires-a-number", GOOD_WAIVER.replace("2999-12-31", "20261231"), "waivers[0].expires", "20261231", 5),
    ("check-id-format", GOOD_WAIVER.replace("CG-FIO-004", "fio-4"), "waivers[0].check", "'fio-4' is not a check id", 2),
    ("check-id-empty", GOOD_WAIVER.replace("CG-FIO-004", "''"), "waivers[0].check", "'' is not a check id", 2),
    ("match-empty", GOOD_WAIVER.replace("xen-r12-07", "''"), "waivers[0].match", "must not be empty", 3),
    ("justification-empty", GOOD_WAIVER.replace("card replacement ordered, ticket OPS-1234", "''"),
     "waivers[0].justification", "at least 10", 4),
    ("justification-blank", GOOD_WAIVER.replace("card replacement ordered, ticket OPS-1234", "'            '"),
     "waivers[0].justification", "must say why", 4),
    ("same-check-and-host-twice", GOOD_WAIVER + GOOD_WAIVER.removeprefix("waivers:\n"), "waivers[1].check",
     "a second waiver of CG-FIO-004 for xen-r12-07 (waivers[0])", 6),
    ("same-check-twice", SECOND.join(["waivers:\n", ""]) + SECOND, "waivers[1].check",
     "a second waiver of CG-HOST-002 (waivers[0])", 5),
    ("duplicate-key", GOOD_WAIVER + "    expires: 2999-01-01\n", "waivers[0].expires", "given twice (lines 5 and 6", 6),
]


@pytest.mark.parametrize(("text", "field", "shows", "line"), [r[1:] for r in BAD_WAIVERS],
                         ids=[r[0] for r in BAD_WAIVERS])
def test_a_bad_waiver_file_is_refused_in_one_line(tmp_path: Path, text: str, field: str, shows: str, line: int) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text(text)
    message = one_line(lambda: load_waivers(path))
    prefix = f"{path}:{line}: {field + ': ' if field else ''}"
    assert message.startswith(prefix) and shows in message, message


def test_an_expired_waiver_is_kept_for_a_run_and_refused_by_a_check_with_today(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text(GOOD_WAIVER.replace("2999-12-31", "2020-01-01"))
    assert load_waivers(path)[0].expires == date(2020, 1, 1)  # the run: the check fails, saying it ran out
    message = one_line(lambda: load_waivers(path, today=date(2026, 1, 2)))
    assert message == f"{path}:5: waivers[0].expires: 2020-01-01 is past (today is 2026-01-02): renew the waiver or remove it"


@pytest.mark.parametrize("text", ["", "# every waiver was removed\n", "waivers:\n", "waivers: []\n", GOOD_WAIVER + SECOND],
                         ids=["empty", "comments-only", "waivers-null", "waivers-empty", "two-waivers"])
def test_a_waiver_file_without_a_problem_loads(tmp_path: Path, text: str) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text(text)
    assert len(load_waivers(path)) == text.count("check:")


def test_the_documented_waiver_file_still_validates() -> None:
    assert [w.check for w in load_waivers(REPO / "fixtures/waivers/example.yaml")] == ["CG-FIO-004"]


@pytest.mark.usefixtures("secrets")
def test_a_bad_waiver_file_named_by_the_target_stops_it_before_anything_runs(tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(GOOD_WAIVER.replace("CG-FIO-004", "FIO-4"))
    loaded = load_target(write(tmp_path, put("waivers", "waivers.yaml")))
    loaded.check_environment()  # the file exists; its content is its own loader's to judge, as a run does
    message = one_line(lambda: load_waivers(str(loaded.resolve(loaded.target.waivers))))
    assert message.startswith(f"{waivers}:2: waivers[0].check: 'FIO-4' is not a check id"), message


# --------------------------------------------------------------------------- the command operators run
@pytest.mark.parametrize(("edit", "text", "shows"), [
    (None, _dup_key, "thresholds.write_p99_ms: key 'write_p99_ms' is given twice"),
    (put("cassandra.contact_points.dc1[0]", "cass1.example:9042"), None, "has a port glued on"),
    (put("waivers", "bad-waivers.yaml"), None, "waivers[0].check: 'FIO-4' is not a check id"),
], ids=["duplicate-key", "contact-point-with-port", "bad-waiver-file"])
def test_cloudgate_target_check_prints_the_one_line_and_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                edit: Edit | None, text: Callable[[str], str] | None,
                                                                shows: str) -> None:
    (tmp_path / "bad-waivers.yaml").write_text(GOOD_WAIVER.replace("CG-FIO-004", "FIO-4"))
    path = write(tmp_path, edit, text=text)
    env = {"PATH": "/usr/bin:/bin", **{v: "selftest-value" for v in SECRETS}}
    proc = subprocess.run([sys.executable, "-m", "cloudgate.cli", "target", "check", str(path)], capture_output=True,
                          text=True, timeout=60, env=env, cwd=REPO)
    assert proc.returncode == 2, proc
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr and shows in proc.stderr, proc.stderr
    assert proc.stdout == ""
