"""Target file: what cloud the suite checks, how to reach it, and what "good" means there.

A target file is YAML validated with pydantic. It names a cloud (a real one, or the embedded lab),
how to reach its three protocols (CloudStack API, SSH, CQL) and the thresholds the suite enforces.
It never holds a secret: it names the environment variables that do, so the file can be committed
and reviewed. Any problem with the file is reported as one `TargetError` line naming the file,
the line and the field — operators read it at 3 a.m. after an incident, not a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import re
import string
import types
import typing
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cloudgate.errors import TargetError  # defined there, with the plugin's other one-line errors
from cloudgate.escalation import ESCALATION_ROLES


class Environment(StrEnum):
    lab = "lab"
    preproduction = "preproduction"
    production = "production"

    @property
    def allows_destructive(self) -> bool:
        """Destructive drills (deploy, fail, partition) never run against production."""
        return self in (Environment.lab, Environment.preproduction)


class FieldProblem(ValueError):
    """A validator's problem that belongs to a field below the one being validated.

    A model validator's error is located by pydantic at the model itself (the section's first line);
    an operator needs the field that is wrong. `loc` is relative to what the validator validates
    (its model, or its field), and `validation_line` appends it to pydantic's location.
    """

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


# A name, command or path the suite uses as given: an empty or all-blank one is always a mistake.
NonBlank = Annotated[str, AfterValidator(_not_blank)]
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _is_number(annotation: Any) -> bool:
    """Whether a field holds an int or a float (optional or not), but not a bool."""
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_number(a) for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is Annotated:
        return _is_number(typing.get_args(annotation)[0])
    return False


class _Strict(BaseModel):
    """Unknown keys are errors: a typo in a threshold must not silently fall back to a default.

    Nor is a number ever infinite, NaN or a boolean: YAML reads `.inf`, `.nan`, `yes` and `on` as
    such, pydantic would take `timeout_seconds: yes` as 1.0 s and `.inf` passes every `gt=0`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name and _is_number(cls.model_fields[info.field_name].annotation):
            raise ValueError("must be a number, not a yes/no value")
        return value


class CloudStackSection(_Strict):
    endpoint: str = Field(description="API URL, e.g. https://cloudstack.example:8443/client/api")
    api_key_env: str = Field(description="name of the environment variable holding the API key")
    secret_key_env: str = Field(description="name of the environment variable holding the secret key")
    timeout_seconds: float = Field(10.0, gt=0)
    job_timeout_seconds: float = Field(600.0, gt=0)
    verify_tls: bool = True

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_http(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} must be an http:// or https:// URL")
        if re.search(r"\s", value):
            raise ValueError(f"{value!r} has a blank in it")
        try:
            urlsplit(value).port  # noqa: B018 -- raises on a port that is not 0-65535
        except ValueError:
            raise ValueError(f"{value!r}: the port is not a number from 1 to 65535") from None
        return value

    @field_validator("api_key_env", "secret_key_env")
    @classmethod
    def _is_variable_name(cls, value: str) -> str:
        if not VARIABLE_NAME.fullmatch(value):  # never echoed: it may be the secret itself, pasted by mistake
            raise ValueError("must be the NAME of an environment variable, not a secret value")
        return value

    @model_validator(mode="after")
    def _two_variables(self) -> CloudStackSection:
        if self.api_key_env == self.secret_key_env:
            raise FieldProblem(("secret_key_env",), f"{self.secret_key_env} is also api_key_env: the key and the "
                                                    "secret are two values, in two variables")
        return self


class SshSection(_Strict):
    user: str = Field("root", pattern=r"^\S+$")  # a directory's users (user@corp.example) are login names too
    identity_file: NonBlank
    known_hosts: NonBlank | None = Field(None, description="known_hosts file; required outside the lab")
    port: int = Field(22, ge=1, le=65535)
    connect_timeout_seconds: float = Field(5.0, gt=0)
    command_timeout_seconds: float = Field(30.0, gt=0)
    fanout_workers: int = Field(
        16, ge=1, le=256,
        description="hosts whose facts one test process gathers at a time (raise it on a WAN: see README, sizing)",
    )

    @field_validator("identity_file", "known_hosts")
    @classmethod
    def _expand(cls, value: str | None) -> str | None:
        if value is None:
            return None
        expanded = expand_path(value)
        if not expanded.strip():
            raise ValueError(f"{value!r} expands to an empty path (an unset variable?)")
        return expanded


class RackSource(StrEnum):
    pod = "pod"
    host_tag = "host_tag"
    name_pattern = "name_pattern"


class RackRule(_Strict):
    """How the suite learns a host's rack, since CloudStack has no 'rack' field."""

    source: RackSource = RackSource.pod
    tag_prefix: str = Field("rack:", description="for source host_tag: the tag 'rack:r12' means rack r12")
    pattern: str | None = Field(None, description="for source name_pattern: a regex with a (?P<rack>...) group")

    @model_validator(mode="after")
    def _pattern_when_needed(self) -> RackRule:
        if self.pattern is not None and self.source is not RackSource.name_pattern:
            # the operator meant racks by name and forgot `source: name_pattern`: racks by pod would be wrong
            raise FieldProblem(("pattern",), f"is only read with source: name_pattern (source is {self.source.value})")
        if self.source is RackSource.host_tag and not self.tag_prefix.strip():
            raise FieldProblem(("tag_prefix",), "must not be empty with source: host_tag (every tag would be a rack)")
        if self.source is RackSource.name_pattern:
            if not self.pattern:
                raise ValueError("source name_pattern needs 'pattern'")
            try:
                compiled = re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regex: {exc}") from None
            if "rack" not in compiled.groupindex:
                raise ValueError("pattern needs a named group (?P<rack>...)")
        return self


class Datacenter(_Strict):
    name: NonBlank = Field(description="datacenter name as Cassandra knows it (the DC of NetworkTopologyStrategy)")
    zone: NonBlank = Field(description="CloudStack zone name for this datacenter")


class CassandraNodeSettings(_Strict):
    """What every Cassandra VM must look like (DataStax/Apache production recommendations)."""

    nofile_min: int = Field(100000, ge=1024)
    memlock: str = Field("unlimited", description="as `ulimit -l` prints it: unlimited, or KiB")
    max_map_count_min: int = Field(1048575, ge=65530)
    data_directory: str = "/var/lib/cassandra"
    data_device: str = Field("/dev/fioa", description="the fast (flash) block device the data directory must sit on")

    @field_validator("memlock", mode="before")
    @classmethod
    def _memlock_as_ulimit_prints_it(cls, value: Any) -> Any:
        value = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if isinstance(value, str) and not (value == "unlimited" or value.isdigit()):
            raise ValueError(f"{value!r} is not what `ulimit -l` prints (unlimited, or a number of KiB)")
        return value

    @field_validator("data_directory", "data_device")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"{value!r} is not an absolute path")
        return value


class LoadBalancing(StrEnum):
    """The driver's load-balancing policy, as the application builds it."""

    token_aware = "token_aware"  # TokenAwarePolicy(DCAwareRoundRobinPolicy(...)): the driver's default
    dc_aware = "dc_aware"  # DCAwareRoundRobinPolicy(...) alone
    round_robin = "round_robin"  # RoundRobinPolicy(): ignores datacenters


class Consistency(StrEnum):
    ONE = "ONE"
    TWO = "TWO"
    THREE = "THREE"
    QUORUM = "QUORUM"
    ALL = "ALL"
    LOCAL_QUORUM = "LOCAL_QUORUM"
    EACH_QUORUM = "EACH_QUORUM"
    LOCAL_ONE = "LOCAL_ONE"


class RetryPolicyName(StrEnum):
    default = "default"  # RetryPolicy: one retry on the next host for an unavailable or a read timeout
    fallthrough = "fallthrough"  # FallthroughRetryPolicy: never retries
    downgrading = "downgrading"  # DowngradingConsistencyRetryPolicy (deprecated in the driver, still used)


class SpeculativeExecution(_Strict):
    """ConstantSpeculativeExecutionPolicy: a second attempt on another host after delay_ms (idempotent only)."""

    delay_ms: float = Field(gt=0)
    max_attempts: int = Field(1, ge=1, le=5)


class CassandraClient(_Strict):
    """One application's cassandra-driver settings, as it really builds its Cluster.

    The drills measure availability as the applications see it, so they connect the way the
    applications do. Defaults are the Python driver's own (3.29): a client that does not set
    ``used_hosts_per_remote_dc`` never uses another datacenter.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")
    dc: NonBlank = Field(description="the datacenter the application runs in (its requests start there)")
    local_dc: NonBlank | None = Field(None, description="the driver's local_dc; default: dc")
    load_balancing: LoadBalancing = LoadBalancing.token_aware
    used_hosts_per_remote_dc: int = Field(0, ge=0, le=1000)
    consistency: Consistency = Consistency.LOCAL_QUORUM
    request_timeout_seconds: float = Field(10.0, gt=0, le=120)
    idle_heartbeat_interval_seconds: float = Field(30.0, ge=0, le=3600)
    idle_heartbeat_timeout_seconds: float = Field(30.0, gt=0, le=3600)
    connect_timeout_seconds: float = Field(5.0, gt=0, le=60)
    retry: RetryPolicyName = RetryPolicyName.default
    speculative_execution: SpeculativeExecution | None = None

    @property
    def driver_local_dc(self) -> str:
        return self.local_dc or self.dc


class CassandraSection(_Strict):
    """How to reach the Cassandra cluster, and the probe keyspace the suite makes there.

    The keys of `contact_points` are the datacenters that have Cassandra: the probe keyspaces are
    replicated to them (NetworkTopologyStrategy, `replication_factor` each), the drills load and read
    back each of them, and a client without a `clients` list is made for each. A datacenter of the
    target without contact points is therefore allowed, and means "no Cassandra in this zone" (a
    compute-only zone still has hypervisors to check); refusing it would leave an operator with such
    a zone no way to describe the cloud. What it cannot mean is a client whose driver starts there.
    """

    contact_points: dict[str, list[str]] = Field(description="datacenter name -> node addresses")
    local_dc: str
    port: int = Field(9042, ge=1, le=65535)
    probe_keyspace: str = Field("cloudgate_probe", description="prefix of the keyspaces the suite creates and drops")
    replication_factor: int = Field(3, ge=1, description="replicas per datacenter of the probe keyspace")
    username_env: str | None = None
    password_env: str | None = None
    connect_timeout_seconds: float = Field(5.0, gt=0)
    latency_rate_per_second: int = Field(500, ge=1, le=20000, description="open-loop write rate of the latency check")
    latency_seconds: float = Field(10.0, gt=0, le=600, description="duration of the latency check's load")
    node_settings: CassandraNodeSettings = CassandraNodeSettings()
    clients: list[CassandraClient] = Field(
        default_factory=list, description="the applications' driver settings; default: one per datacenter, driver defaults"
    )

    def client_profiles(self) -> list[CassandraClient]:
        """The applications the drills impersonate: the target's, or one per datacenter with the driver's defaults."""
        if self.clients:
            return list(self.clients)
        return [CassandraClient(name=f"{dc}-driver-defaults", dc=dc) for dc in self.contact_points]

    @field_validator("contact_points")
    @classmethod
    def _addresses(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if not value:
            raise ValueError("is empty: name at least one node of each datacenter that has Cassandra")
        first_seen: dict[str, str] = {}
        for dc, addresses in value.items():
            if not dc.strip():
                raise FieldProblem((dc,), "a datacenter name must not be empty")
            if not addresses:
                raise FieldProblem((dc,), f"no contact point for {dc}: name at least one node (or leave {dc} out "
                                          "if it has no Cassandra)")
            for i, address in enumerate(addresses):
                problem = address_problem(address)
                if problem:
                    raise FieldProblem((dc, i), f"{address!r} {problem}")
                key = address.lower().rstrip(".")
                if key in first_seen:
                    where = "twice in this list" if first_seen[key] == dc else f"also under {first_seen[key]}"
                    raise FieldProblem((dc, i), f"{address!r} is listed {where} (a node is in one datacenter)")
                first_seen[key] = dc
        return value

    @field_validator("probe_keyspace")
    @classmethod
    def _keyspace_prefix(cls, value: str) -> str:
        # the suite creates `<prefix>_<yyyymmddhhmmss>_<6 hex>` (cloudgate.cassandra.latency), pastes it into CQL
        # unquoted and drops it afterwards: a plain lower-case identifier within Cassandra's 48 characters
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,25}", value):
            raise ValueError(f"{value!r} is not a keyspace prefix: lower-case letters, digits and _, starting "
                             "with a letter, at most 26 characters (the suite appends 22)")
        if value.startswith("system"):
            raise ValueError(f"{value!r}: keyspaces named system* are Cassandra's own")
        return value

    @field_validator("username_env", "password_env")
    @classmethod
    def _is_variable_name(cls, value: str | None) -> str | None:
        if value is not None and not VARIABLE_NAME.fullmatch(value):  # never echoed: it may be the secret
            raise ValueError("must be the NAME of an environment variable, not a secret value")
        return value

    @model_validator(mode="after")
    def _local_dc_known(self) -> CassandraSection:
        if self.local_dc not in self.contact_points:
            raise FieldProblem(("local_dc",), f"{self.local_dc!r} has no contact_points entry")
        if (self.username_env is None) != (self.password_env is None):
            given, missing = ("username_env", "password_env") if self.password_env is None else \
                ("password_env", "username_env")
            raise FieldProblem((given,), f"{given} without {missing}: the driver would connect without credentials")
        if self.username_env is not None and self.username_env == self.password_env:
            raise FieldProblem(("password_env",), f"{self.password_env} is also username_env")
        return self


class Thresholds(_Strict):
    """The operators' promises, as numbers. Defaults are the seed's figures."""

    deploy_seconds: float = Field(300.0, gt=0, description="a VM deploys in under 5 minutes")
    write_p99_ms: float = Field(1.0, gt=0, description="a Cassandra write takes under 1 ms (p99)")
    qos: float = Field(0.999, gt=0, le=1, description="success ratio kept through failures")
    failover_seconds: float = Field(10.0, gt=0)
    capacity_percent: float = Field(85.0, gt=0, le=100, description="CloudStack capacity use ceiling")
    ntp_offset_ms: float = Field(100.0, gt=0)
    fio_max_temperature_c: float = Field(78.0, gt=0)
    fio_min_reserve_percent: float = Field(10.0, ge=0, le=100)
    deploy_vm_count: int = Field(3, ge=1, le=50, description="VMs deployed concurrently by the deploy-time check")
    anti_affinity_vm_count: int = Field(
        3, ge=2, le=50, description="members of a new host anti-affinity group deployed concurrently by the "
                                    "anti-affinity check (at most the deploy zone's usable hosts)")


class DeploySection(_Strict):
    """What the deploy-time check deploys: a small VM from a template that boots to SSH."""

    zone: NonBlank | None = Field(None, description="zone name; default: the first datacenter's zone")
    service_offering: NonBlank = "Small Instance"
    template: NonBlank = "Ubuntu 22.04 cloudgate guest"
    name_prefix: str = Field("cg-probe", pattern=r"^[a-z][a-z0-9-]{0,30}$")


class PlacementSection(_Strict):
    """What `cloudgate place --target` needs that CloudStack does not say.

    CloudStack reports CPU and memory but not the Fusion-IO card: each host's flash capacity is
    read from `fio-status` over SSH, and what an existing VM occupies on it comes from its service
    offering, listed here (a Cassandra offering's data lives on the local flash). A VM whose offering
    is not listed counts 0 GiB, and the plan says how many such VMs there were.
    """

    offering_flash_gib: dict[str, int] = Field(
        default_factory=dict, description="service offering name -> GiB of local flash one VM of it occupies")
    flash_reserve_gib: int = Field(0, ge=0, description="GiB of each card kept free (never planned onto)")
    ssh_workers: int = Field(16, ge=1, le=256, description="hosts read over SSH at once")

    @field_validator("offering_flash_gib")
    @classmethod
    def _offerings(cls, value: dict[str, int]) -> dict[str, int]:
        for offering, gib in value.items():
            if not offering.strip():
                raise FieldProblem((offering,), "an offering name must not be empty")
            if gib < 0:  # 0 is a statement (this offering keeps nothing on the card), a negative size is not
                raise FieldProblem((offering,), f"{gib} GiB: must be 0 or more")
        return value


class ManagementServerControl(_Strict):
    """How to stop and start the CloudStack management server for the outage drill: never guessed.

    Shell commands run on the runner (with the venv's bin first on PATH), e.g.
    ``ssh mgmt1 sudo systemctl stop cloudstack-management``. Without this section the drill is not
    applicable.
    """

    stop_command: NonBlank
    start_command: NonBlank
    timeout_seconds: float = Field(180.0, gt=0, le=1800, description="for each command, and for the API to answer again")


class CassandraServiceControl(_Strict):
    """How the Cassandra service is stopped and started on a node, run over SSH (the service-stop drill).

    The defaults are the Debian/Ubuntu package's unit; a login that is not root writes
    ``sudo systemctl stop cassandra``. The heal runs the start command, then waits until the node
    answers CQL on its native port again (a real node takes a while: commit log replay, joining).
    """

    stop_command: NonBlank = "systemctl stop cassandra"
    start_command: NonBlank = "systemctl start cassandra"
    stop_timeout_seconds: float = Field(120.0, gt=0, le=3600, description="for the stop command (a drain takes time)")
    start_timeout_seconds: float = Field(300.0, gt=0, le=3600, description="until the node answers CQL again")


class DrillsSection(_Strict):
    """Shape of every failover drill: open-loop load per client, the fault inside it, then read-back."""

    load_seconds: float = Field(40.0, gt=0, le=3600)
    fault_at_seconds: float = Field(10.0, ge=0)
    heal_at_seconds: float = Field(25.0, gt=0)
    write_rate_per_second: int = Field(50, ge=1, le=5000, description="per client")
    read_rate_per_second: int = Field(20, ge=0, le=5000, description="per client")
    max_in_flight: int = Field(200, ge=1, le=10000, description="per client: beyond it an operation fails at once")
    convergence_seconds: float = Field(60.0, gt=0, le=3600, description="bound on the read-back after the heal")
    management_server: ManagementServerControl | None = None
    cassandra_service: CassandraServiceControl = Field(default_factory=CassandraServiceControl)

    @model_validator(mode="after")
    def _fault_inside_load(self) -> DrillsSection:
        rule = "needs fault_at_seconds < heal_at_seconds <= load_seconds (the fault sits inside the load)"
        if not self.fault_at_seconds < self.heal_at_seconds:
            raise FieldProblem(("fault_at_seconds",), f"{self.fault_at_seconds:g} is not before heal_at_seconds "
                                                      f"{self.heal_at_seconds:g}: {rule}")
        if not self.heal_at_seconds <= self.load_seconds:
            raise FieldProblem(("heal_at_seconds",), f"{self.heal_at_seconds:g} is after load_seconds "
                                                     f"{self.load_seconds:g}: {rule}")
        return self


DEFAULT_TOLERANCES: dict[str, Any] = {
    # the write path's p99, client and coordinator side: 20 % above the median of the last runs
    "cassandra.write.*.p99": "20%",
    "deploy.total.p95": "25%",
    "drill.*.writes.lost": 0,  # any rise
    # the lost datacenter's availability follows its clients' reroute time (judged as reroute_s)
    "drill.dc-loss.availability.*": 0.02,
    "drill.*.availability.*": 0.001,  # a tenth of a point of availability
    "drill.*.longest_outage_s.*": {"relative": 0.5, "absolute": 2.0},
    "drill.*.reroute_s.*": {"relative": 0.5, "absolute": 2.0},
}


class HistorySection(_Strict):
    """How tonight is compared with the previous nights (cloudgate.report.regression).

    `tolerances` maps metric-name patterns (fnmatch; the first match wins, this file's before the
    defaults) to how much worse than the median of the last `compare_last` runs a metric may be:
    "20%" relative to that median, a number absolute in the metric's unit (0: any rise), or
    {relative, absolute} for the larger of the two.
    """

    compare_last: int = Field(7, ge=1, le=365, description="N: the median of the last N comparable runs")
    min_runs: int = Field(3, ge=1, le=365, description="a metric with fewer earlier values is not compared")
    tolerances: dict[str, Any] = Field(default_factory=dict)

    @field_validator("tolerances")
    @classmethod
    def _valid_tolerances(cls, value: dict[str, Any]) -> dict[str, Any]:
        from cloudgate.report.regression import parse_tolerance

        for pattern, tolerance in value.items():
            if not pattern.strip():
                raise FieldProblem((pattern,), "a metric pattern must not be empty")
            try:
                parse_tolerance(tolerance)
            except ValueError as exc:
                raise FieldProblem((pattern,), f"{pattern}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _enough_runs_to_compare(self) -> HistorySection:
        if self.min_runs > self.compare_last:
            raise FieldProblem(("min_runs",), f"{self.min_runs} is more than compare_last {self.compare_last}: "
                                              "only the last compare_last runs are read, so nothing would be compared")
        return self

    def all_tolerances(self) -> dict[str, Any]:
        """This file's patterns first, then the defaults it does not override."""
        from cloudgate.report.regression import parse_tolerance

        merged = {**self.tolerances, **{k: v for k, v in DEFAULT_TOLERANCES.items() if k not in self.tolerances}}
        return {pattern: parse_tolerance(value) for pattern, value in merged.items()}


def _placeholder_problem(value: str, allowed: tuple[str, ...]) -> str | None:
    """Why `value` is not a template of only the `allowed` placeholders ({name}, str.format's syntax); None if
    it is one. The suite fills it with str.format: an unknown name or a lone brace would otherwise stop a
    check in the middle of a run (a KeyError, a ValueError), not `target check`."""
    names = ", ".join(f"{{{name}}}" for name in allowed)
    doubled = "a literal brace is written twice, {{ or }}"
    try:
        fields = [(name, conversion, spec) for _text, name, spec, conversion in string.Formatter().parse(value)
                  if name is not None]
    except ValueError as exc:
        return f"{value!r} has a malformed brace ({exc}): the placeholders are {names}; {doubled}"
    for name, conversion, spec in fields:
        written = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if name not in allowed:
            return f"{value!r}: unknown placeholder {written} (the placeholders are {names}; {doubled})"
        if conversion or spec:
            return f"{value!r}: placeholder {written} is written plain, {{{name}}}"
    return None


def _has_placeholder(value: str, name: str) -> bool:
    """Whether a template `_placeholder_problem` accepted names `name` (a doubled brace is no placeholder)."""
    return any(found == name for _text, found, _spec, _conversion in string.Formatter().parse(value))


def _url_path_problem(value: str) -> str | None:
    """Why `value` is not the path of an HTTP request; None if it is one. It is sent as the request line's
    path: a URL pasted whole (`http://vm/health`) would ask the server for a wrong resource."""
    if not value.startswith("/"):
        return f"{value!r} must start with '/' (a path on the server, not a URL)"
    if any(c.isspace() for c in value):
        return f"{value!r} has a blank in it (an HTTP path has none: write %20)"
    return None


def _shell_path_problem(value: str) -> str | None:
    """Why `value` is not an absolute path that can be pasted into a command run over SSH; None if it is one."""
    if not value.startswith("/"):
        return f"{value!r} is not an absolute path"
    if any(c.isspace() for c in value):
        return f"{value!r} has a blank in it (it is pasted into a command run over SSH)"
    return None


class FrontRuntime(StrEnum):
    """What answers behind Apache on a front VM: it names which status page applies (PHP-FPM's or none)."""

    php = "php"  # PHP-FPM behind Apache: its status and ping pages apply
    cpp = "cpp"  # the C++ FastCGI responder behind Apache: no PHP-FPM page applies


class FrontVmSelector(_Strict):
    """How a service's front VMs are found in CloudStack: exactly one way, never guessed.

    CloudStack has no notion of a "front VM"; the operators name theirs by a host anti-affinity group
    (one per datacenter, `{dc}` standing for its name), by a VM name pattern, or by a resource tag. Two
    ways at once could disagree on which VMs are the service's, so the file gives one.
    """

    affinity_group: NonBlank | None = Field(
        None, description="host anti-affinity group name; {dc} is replaced by the datacenter's name")
    name_pattern: NonBlank | None = Field(
        None, description="Python regex matched with re.fullmatch against the VM name; the VM's zone gives its "
                          "datacenter")
    tag: NonBlank | None = Field(None, description="CloudStack resource tag key=value")

    @field_validator("affinity_group")
    @classmethod
    def _only_dc_placeholder(cls, value: str | None) -> str | None:
        problem = None if value is None else _placeholder_problem(value, ("dc",))
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("name_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a valid regex: {exc}") from None
        return value

    @field_validator("tag")
    @classmethod
    def _key_equals_value(cls, value: str | None) -> str | None:
        if value is None:
            return None
        key, sep, tag_value = value.partition("=")
        if not sep or not key.strip() or not tag_value.strip():
            raise ValueError(f"{value!r} is not key=value (a CloudStack resource tag, e.g. role=web)")
        if key != key.strip() or tag_value != tag_value.strip():  # CloudStack compares tags as given
            raise ValueError(f"{value!r} has blanks around its key or value (a tag 'role' is not 'role ')")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> FrontVmSelector:
        given = [name for name in ("affinity_group", "name_pattern", "tag") if getattr(self, name) is not None]
        if not given:
            raise ValueError("needs exactly one of affinity_group, name_pattern, tag (how the service's VMs are "
                             "found in CloudStack)")
        if len(given) > 1:
            raise FieldProblem((given[1],), f"{given[1]} with {given[0]}: give exactly one way to find the VMs "
                                            "(two could disagree)")
        return self

    def group_for(self, dc: str) -> str | None:
        """The affinity group holding the service's VMs in datacenter `dc`; None when found otherwise."""
        return None if self.affinity_group is None else self.affinity_group.format(dc=dc)

    @property
    def tag_pair(self) -> tuple[str, str] | None:
        """(key, value) of the resource tag; None when found otherwise."""
        if self.tag is None:
            return None
        key, _sep, value = self.tag.partition("=")
        return key, value


class FrontService(_Strict):
    """One service of the front tier: an haproxy backend whose servers are Apache on the front VMs."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,30}$", description="the service's name in reports and commands")
    runtime: FrontRuntime = Field(description="what answers behind Apache: php (PHP-FPM) or cpp (C++ FastCGI)")
    backend: str = Field("", pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
                         description="haproxy backend name; default: the service's name")
    port: int = Field(80, ge=1, le=65535, description="the port Apache serves on each front VM")
    health_path: str = Field(description="what each VM answers directly when healthy (the per-VM check)")
    health_body: NonBlank | None = Field(None, description="a substring the health answer must contain")
    unit: str | None = Field(None, pattern=r"^[A-Za-z0-9@._:-]{1,128}$",
                             description="the systemd unit of what answers behind Apache (php8.2-fpm): the "
                                         "drill that stops it runs `systemctl stop|start UNIT` over SSH; "
                                         "null: that drill is not applicable")
    probe_path: str = Field("", description="what the front-door probe requests through the VIP; default: health_path")
    vms: FrontVmSelector

    @model_validator(mode="before")
    @classmethod
    def _defaults_from_siblings(cls, data: Any) -> Any:
        """backend defaults to the name and probe_path to health_path: the usual case needs neither written."""
        if isinstance(data, dict):
            data = dict(data)
            if data.get("backend") is None and isinstance(data.get("name"), str):
                data["backend"] = data["name"]
            if data.get("probe_path") is None and isinstance(data.get("health_path"), str):
                data["probe_path"] = data["health_path"]
        return data

    @field_validator("health_path", "probe_path")
    @classmethod
    def _a_path(cls, value: str) -> str:
        problem = _url_path_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class FrontDatacenter(_Strict):
    """A datacenter's front door: the VIP keepalived moves between its haproxy nodes."""

    vip: str = Field(description="the front door's address (the VIP the probe goes through)")
    haproxy: list[str] = Field(min_length=1, max_length=8,
                               description="SSH addresses of the datacenter's haproxy nodes")

    @field_validator("vip")
    @classmethod
    def _vip_address(cls, value: str) -> str:
        problem = address_problem(value, port_hint=None)
        if problem:
            raise ValueError(f"{value!r} {problem}")
        return value

    @field_validator("haproxy")
    @classmethod
    def _node_addresses(cls, value: list[str]) -> list[str]:
        first_seen: dict[str, int] = {}
        for i, address in enumerate(value):
            problem = address_problem(address, port_hint="ssh.port is the port")
            if problem:
                raise FieldProblem((i,), f"{address!r} {problem}")
            key = address.lower().rstrip(".")
            if key in first_seen:
                raise FieldProblem((i,), f"{address!r} is listed twice (haproxy[{first_seen[key]}])")
            first_seen[key] = i
        return value

    @model_validator(mode="after")
    def _vip_is_no_node(self) -> FrontDatacenter:
        for i, address in enumerate(self.haproxy):
            if address.lower().rstrip(".") == self.vip.lower().rstrip("."):
                # the checks would SSH to whichever node holds the VIP, and take it for one fixed node
                raise FieldProblem(("haproxy", i), f"{address!r} is the vip: the VIP moves between the haproxy "
                                                   "nodes, list each node's own address")
        return self


class HaproxySettings(_Strict):
    """Where haproxy keeps its configuration and runtime sockets on the haproxy nodes, and how to reach them."""

    config: str = Field("/etc/haproxy/haproxy.cfg", description="haproxy's configuration file, read over SSH")
    stats_socket: str = Field("/run/haproxy/stats.sock",
                              description="an operator-level runtime socket: what the read-only checks read")
    admin_socket: str | None = Field("/run/haproxy/admin.sock",
                                     description="an admin-level runtime socket, used by drills only; null: drills "
                                                 "not applicable")
    socket_command: NonBlank = Field("socat -t 5 - UNIX-CONNECT:{socket}",
                                     description="how a runtime command reaches a socket over SSH (stdin -> socket)")

    @field_validator("config", "stats_socket", "admin_socket")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        problem = None if value is None else _shell_path_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("socket_command")
    @classmethod
    def _names_the_socket(cls, value: str) -> str:
        problem = _placeholder_problem(value, ("socket",))
        if problem:
            raise ValueError(problem)
        if not _has_placeholder(value, "socket"):  # the command would talk to whatever socket it names itself
            raise ValueError(f"{value!r} must contain {{socket}} (where the socket's path goes)")
        return value


class FrontStatusPaths(_Strict):
    """Status pages on each front VM's Apache; each optional, since operators expose them or not."""

    apache: str | None = Field("/server-status",
                               description="mod_status (the checks append ?auto); null: not applicable")
    fpm: str | None = Field("/fpm-status", description="PHP-FPM's pm.status_path, through Apache; null: not applicable")
    fpm_ping: str | None = Field("/fpm-ping", description="PHP-FPM's ping.path, through Apache; null: not applicable")

    @field_validator("apache", "fpm", "fpm_ping")
    @classmethod
    def _a_path(cls, value: str | None) -> str | None:
        problem = None if value is None else _url_path_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("apache")
    @classmethod
    def _no_query(cls, value: str | None) -> str | None:
        if value is not None and "?" in value:  # `/server-status?auto` would be asked as `...?auto?auto`
            raise ValueError(f"{value!r}: write the path alone (the checks append ?auto)")
        return value


class FrontTls(_Strict):
    """TLS at the front door: the certificate the VIP presents (its expiry is checked)."""

    port: int = Field(443, ge=1, le=65535)
    server_name: NonBlank | None = Field(None, description="the SNI name the probe sends; default: the VIP")

    @field_validator("server_name")
    @classmethod
    def _a_host_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = address_problem(value, port_hint="tls.port is the port")
        if problem:
            raise ValueError(f"{value!r} {problem}")
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return value
        raise ValueError(f"{value!r} is an IP address: SNI carries a host name only (leave it null for the VIP)")


class FrontProbe(_Strict):
    """The open-loop client the front-door checks run through each VIP (a request every 1/rate s, late or not)."""

    rate_per_second: int = Field(50, ge=1, le=500)
    seconds: float = Field(20.0, gt=0, le=600)
    timeout_seconds: float = Field(2.0, gt=0, le=60, description="per request")
    max_in_flight: int = Field(50, ge=1, le=1000, description="beyond it a request fails at once")


class FrontPromises(_Strict):
    """The operators' promises for the front tier, as numbers."""

    error_ratio: float = Field(0.001, ge=0, lt=1, description="failed requests (5xx, connection errors, timeouts) "
                                                               "allowed at the front door")
    p99_ms: float = Field(250.0, gt=0, description="front-door p99 through the VIP")
    mark_down_seconds: float = Field(10.0, gt=0, description="worst case for haproxy to mark a silently dead server "
                                                             "DOWN")
    scale_out_seconds: float = Field(360.0, gt=0, description="from the scale-out command to the new server taking "
                                                              "its share")
    balance_tolerance: float = Field(0.25, gt=0, lt=1, description="each UP server's share within ±this of 1/N")
    min_servers_per_dc: int = Field(2, ge=1, description="front servers a datacenter keeps after losing any one host")
    busy_workers_ratio: float = Field(0.8, gt=0, le=1, description="Apache BusyWorkers/(Busy+Idle) ceiling")
    cert_warn_days: int = Field(30, ge=0, description="a certificate expiring sooner warns")
    cert_fail_days: int = Field(14, ge=0, description="a certificate expiring sooner fails")

    @model_validator(mode="after")
    def _fail_after_warn(self) -> FrontPromises:
        if self.cert_fail_days > self.cert_warn_days:  # the warning would never be seen before the failure
            raise FieldProblem(("cert_fail_days",), f"{self.cert_fail_days} is more than cert_warn_days "
                                                    f"{self.cert_warn_days}: a certificate must warn before it fails")
        return self


class FrontScale(_Strict):
    """The operators' own scale-out and scale-in commands, run on the runner through bash: never guessed.

    Without this block the elasticity checks are not applicable. The suite fills the placeholders; the
    commands are whatever the operators run by hand (a wrapper around CloudStack's API, a playbook...).
    """

    out_command: NonBlank = Field(description="adds one front VM to a service in a datacenter: {service}, {dc}")
    in_command: NonBlank = Field(description="removes the VM the suite chose: {service}, {dc}, {vm}")
    timeout_seconds: float = Field(600.0, gt=0, le=3600, description="for each command")

    @field_validator("out_command")
    @classmethod
    def _out_placeholders(cls, value: str) -> str:
        problem = _placeholder_problem(value, ("service", "dc"))
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("in_command")
    @classmethod
    def _in_placeholders(cls, value: str) -> str:
        problem = _placeholder_problem(value, ("service", "dc", "vm"))
        if problem:
            raise ValueError(problem)
        return value


class FrontendsSection(_Strict):
    """The front tier: haproxy pairs holding a VIP per datacenter (keepalived VRRP) in front of web VMs
    running Apache, PHP-FPM and a C++ FastCGI responder.

    Optional: a cloud without it has no front tier to check, and every front-tier check is not
    applicable. The datacenters' keys are the target's datacenters that have a front door (the others
    are compute or Cassandra only).
    """

    services: list[FrontService] = Field(min_length=1)
    datacenters: dict[str, FrontDatacenter] = Field(min_length=1, description="datacenter name -> its front door")
    haproxy: HaproxySettings = HaproxySettings()
    keepalived: bool = Field(True, description="keepalived VRRP holds the VIP on the haproxy nodes (false: the "
                                               "one-holder check is not applicable)")
    status: FrontStatusPaths = FrontStatusPaths()
    tls: FrontTls | None = Field(None, description="TLS at the front door; null: none")
    probe: FrontProbe = FrontProbe()
    promises: FrontPromises = FrontPromises()
    scale: FrontScale | None = Field(None, description="the operators' scale commands; null: elasticity checks not "
                                                       "applicable")

    @field_validator("services")
    @classmethod
    def _names_unique(cls, value: list[FrontService]) -> list[FrontService]:
        seen: dict[str, int] = {}
        for i, service in enumerate(value):
            if service.name in seen:
                raise FieldProblem((i, "name"), f"service name {service.name!r} is used twice "
                                                f"(services[{seen[service.name]}])")
            seen[service.name] = i
        return value

    @field_validator("datacenters")
    @classmethod
    def _addresses_in_one_datacenter(cls, value: dict[str, FrontDatacenter]) -> dict[str, FrontDatacenter]:
        """A VIP or an haproxy node is one datacenter's: listed under two, a check would count it twice."""
        first_seen: dict[str, str] = {}
        for dc, front in value.items():
            for loc, address in ((("vip",), front.vip), *((("haproxy", i), a) for i, a in enumerate(front.haproxy))):
                key = address.lower().rstrip(".")
                if key in first_seen:
                    raise FieldProblem((dc, *loc), f"{address!r} is also {first_seen[key]} (an address is in one "
                                                   "datacenter)")
                first_seen[key] = f"{dc}'s {'vip' if loc == ('vip',) else 'haproxy node'}"
        return value


class LabSection(_Strict):
    """Shape of the embedded lab; only meaningful when environment is lab."""

    # Up to 8 x 8 the hosts share their DC's /24 with the guests; beyond, they move to 198.19.0.0/16
    # (cloudgate_lab/topology.py), up to 63 racks of 250 (a bridge takes 1,024 ports: 1,000 hosts a DC).
    racks_per_dc: int = Field(3, ge=1, le=63)
    hosts_per_rack: int = Field(2, ge=1, le=250)
    extra_hosts_first_racks: int = Field(
        0, ge=0, description="racks (counted from the first) that get one extra host, for 12-18 hosts"
    )
    host_cpu_cores: int = Field(32, ge=1)
    host_memory_mib: int = Field(131072, ge=1024)
    host_flash_gib: int = Field(1200, ge=1)
    boot_delay_seconds: float = Field(1.0, ge=0)
    api_port: int = Field(8080, ge=1024, le=65535)
    cassandra_nodes_per_dc: int = Field(3, ge=0, le=9)
    network: str = Field("198.18.0.0/15", description="fixed: the lab only ever uses this range")

    @model_validator(mode="after")
    def _a_datacenter_fits_one_bridge(self) -> LabSection:
        if self.extra_hosts_first_racks > self.racks_per_dc:
            raise FieldProblem(("extra_hosts_first_racks",), f"{self.extra_hosts_first_racks} racks, but there are "
                                                             f"{self.racks_per_dc} (racks_per_dc)")
        per_dc = self.racks_per_dc * self.hosts_per_rack + min(self.extra_hosts_first_racks, self.racks_per_dc)
        if per_dc > 1000:
            raise ValueError(f"racks_per_dc x hosts_per_rack = {per_dc} hosts per datacenter; the lab takes at most "
                             "1000 (one Linux bridge per datacenter, 1,024 ports)")
        return self

    @field_validator("network")
    @classmethod
    def _network_is_fixed(cls, value: str) -> str:
        if value != "198.18.0.0/15":
            raise ValueError("the lab only uses 198.18.0.0/15")
        return value


class Target(_Strict):
    name: str = Field(description="short name; it names report files and directories (reports/gate-<name>/...)")
    environment: Environment
    cloudstack: CloudStackSection
    ssh: SshSection
    datacenters: list[Datacenter] = Field(min_length=1)
    racks: RackRule = RackRule()
    cassandra: CassandraSection | None = None
    frontends: FrontendsSection | None = None
    thresholds: Thresholds = Thresholds()
    deploy: DeploySection = DeploySection()
    drills: DrillsSection = DrillsSection()
    history: HistorySection = HistorySection()
    placement: PlacementSection = PlacementSection()
    baselines: NonBlank | None = Field(None, description="directory of expected versions; default fixtures/baselines")
    waivers: NonBlank | None = Field(None, description="waiver file: known failures with a justification and an expiry")
    escalation: dict[str, NonBlank] = Field(
        default_factory=dict, description="runbook role -> how to reach it (cloudgate explain, the operators' page)")
    lab: LabSection | None = None

    @field_validator("name")
    @classmethod
    def _name_fits_a_file_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", value):
            raise ValueError(f"{value!r} must be 1-63 letters, digits, '.', '_' or '-' (it names report files)")
        return value

    @field_validator("escalation", mode="before")
    @classmethod
    def _none_is_no_contact(cls, value: Any) -> Any:
        return {} if value is None else value  # `escalation:` left with every contact commented out

    @field_validator("escalation")
    @classmethod
    def _known_roles(cls, value: dict[str, str]) -> dict[str, str]:
        """Only the runbooks' roles (cloudgate.escalation): a contact under a misspelt role would never
        be shown, and the on-call would find no one to call."""
        for role, contact in value.items():
            if role not in ESCALATION_ROLES:
                raise FieldProblem((role,), f"unknown role {role!r} (the runbooks' roles: "
                                            f"{', '.join(ESCALATION_ROLES)})")
            if "\n" in contact.strip():
                raise FieldProblem((role,), "must be one line (it is printed beside the role)")
        return value

    @field_validator("datacenters")
    @classmethod
    def _distinct(cls, value: list[Datacenter]) -> list[Datacenter]:
        names: dict[str, int] = {}
        zones: dict[str, int] = {}
        for i, dc in enumerate(value):
            if dc.name in names:
                raise FieldProblem((i, "name"), f"datacenter {dc.name!r} is listed twice (datacenters[{names[dc.name]}])")
            if dc.zone in zones:  # a zone's hosts would belong to two datacenters
                raise FieldProblem((i, "zone"), f"zone {dc.zone!r} is already datacenters[{zones[dc.zone]}]'s "
                                                "(one zone is one datacenter)")
            names[dc.name], zones[dc.zone] = i, i
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Target:
        if self.environment is not Environment.lab and self.ssh.known_hosts is None:
            raise FieldProblem(("ssh", "known_hosts"),
                               "known_hosts is required outside the lab (host keys are always checked)")
        if self.lab is not None and self.environment is not Environment.lab:
            raise FieldProblem(("lab",), "a 'lab' section is only allowed with environment: lab")
        names = [dc.name for dc in self.datacenters]
        zones = [dc.zone for dc in self.datacenters]
        if self.deploy.zone is not None and self.deploy.zone not in zones:
            raise FieldProblem(("deploy", "zone"), f"{self.deploy.zone!r} is no datacenter's zone (the target has {zones})")
        if self.cassandra is not None:
            self._cassandra_consistent(self.cassandra, names)
        if self.frontends is not None:
            self._frontends_consistent(self.frontends, names)
        if self.environment is Environment.lab:
            self._lab_consistent()
        return self

    def _cassandra_consistent(self, cass: CassandraSection, names: list[str]) -> None:
        """Contact points and clients against the datacenters (see CassandraSection on a DC without nodes)."""
        for dc in cass.contact_points:
            if dc not in names:
                raise FieldProblem(("cassandra", "contact_points", dc),
                                   f"unknown datacenter {dc!r} (the target has {names})")
        for i, client in enumerate(cass.clients):
            for field_name in ("dc", "local_dc"):
                value = getattr(client, field_name)
                if value is not None and value not in names:
                    raise FieldProblem(("cassandra", "clients", i, field_name),
                                       f"unknown datacenter {value!r} (the target has {names})")
            if client.driver_local_dc not in cass.contact_points:
                field_name = "local_dc" if client.local_dc is not None else "dc"
                raise FieldProblem(("cassandra", "clients", i, field_name),
                                   f"{client.driver_local_dc!r} has no cassandra.contact_points (no Cassandra there): "
                                   "the driver's local_dc must be a datacenter with nodes")
        seen: dict[str, int] = {}
        for i, client in enumerate(cass.clients):
            if client.name in seen:
                raise FieldProblem(("cassandra", "clients", i, "name"), f"client name {client.name!r} is used twice")
            seen[client.name] = i

    def _frontends_consistent(self, front: FrontendsSection, names: list[str]) -> None:
        """The front doors against the datacenters, and each service's affinity group against the front doors.

        A group written for one datacenter (`front-web-dc1`, copied from the CloudStack UI) while the front
        tier has several would look for every datacenter's VMs in that one's group: the others would show
        no front server at all, a finding about the file, not the cloud.
        """
        for dc in front.datacenters:
            if dc not in names:
                raise FieldProblem(("frontends", "datacenters", dc),
                                   f"unknown datacenter {dc!r} (the target has {names})")
        if len(front.datacenters) < 2:
            return
        for i, service in enumerate(front.services):
            group = service.vms.affinity_group
            if group is None or _has_placeholder(group, "dc"):
                continue
            for dc in front.datacenters:
                whole_word = rf"(?<![A-Za-z0-9]){re.escape(dc)}(?![A-Za-z0-9])"
                if re.search(whole_word, group):
                    others = [other for other in front.datacenters if other != dc]
                    meant = re.sub(whole_word, "{dc}", group)
                    raise FieldProblem(("frontends", "services", i, "vms", "affinity_group"),
                                       f"{group!r} is {dc}'s group, but the front tier also has {', '.join(others)}: "
                                       f"write {{dc}} where the datacenter's name goes ({meant!r})")

    def _lab_consistent(self) -> None:
        """What the embedded lab builds must be what the file says it reaches."""
        # (cloudstack.endpoint is not held to lab.api_port: self-tests point a lab target at a dead port on purpose)
        lab = self.lab or LabSection()
        if self.cassandra is not None:
            if lab.cassandra_nodes_per_dc == 0:
                raise FieldProblem(("lab", "cassandra_nodes_per_dc"), "0 with a cassandra section: the lab builds no "
                                                                      "node for its contact points")
            if self.cassandra.replication_factor > lab.cassandra_nodes_per_dc:
                raise FieldProblem(("cassandra", "replication_factor"),
                                   f"{self.cassandra.replication_factor} replicas per datacenter, but the lab builds "
                                   f"{lab.cassandra_nodes_per_dc} nodes per datacenter (lab.cassandra_nodes_per_dc)")

    # -- derived facts --------------------------------------------------------------------
    @property
    def strict_host_keys(self) -> bool:
        """Host keys are checked everywhere but in the lab, whose hosts are rebuilt every run (unless a
        lab target names a known_hosts file: then it is used, as a self-test of a changed host key does)."""
        return self.environment is not Environment.lab or self.ssh.known_hosts is not None

    def datacenter_of_zone(self, zone_name: str) -> str | None:
        for dc in self.datacenters:
            if dc.zone == zone_name:
                return dc.name
        return None


@dataclass(frozen=True)
class LoadedTarget:
    """A validated target plus where it came from and the secrets it points at."""

    target: Target
    path: Path
    root: yaml.Node | None = field(default=None, repr=False, compare=False)  # the file's YAML, for line numbers

    def api_credentials(self) -> tuple[str, SecretStr]:
        """(api key, secret) from the environment; one clear line if a variable is missing."""
        cs = self.target.cloudstack
        hint = LAB_SECRETS_HINT if self.target.environment is Environment.lab else ""
        return require_env(cs.api_key_env, self.path, hint), SecretStr(require_env(cs.secret_key_env, self.path, hint))

    def check_environment(self) -> None:
        """Every secret variable set and every file the target names there, before anything runs
        (`target check` and every run call it: nothing is created for a dangling path). The waiver file's
        content is read by its own loader where it is used (cloudgate.waivers: the run, `target check`)."""
        self.api_credentials()
        cass = self.target.cassandra
        if cass is not None:
            for variable in (cass.username_env, cass.password_env):
                if variable:
                    require_env(variable, self.path)
        ssh = self.target.ssh
        for loc, path in ((("ssh", "identity_file"), ssh.identity_file), (("ssh", "known_hosts"), ssh.known_hosts),
                          (("baselines",), self.resolve(self.target.baselines)),
                          (("waivers",), self.resolve(self.target.waivers))):
            if path and not Path(path).exists():
                raise TargetError(f"{located(self.path, self.root, loc)}: {path} does not exist")

    def resolve(self, path: str | None) -> str | None:
        """A path named in the target file, relative to the file itself (so runs work from any directory)."""
        if path is None:
            return None
        p = Path(expand_path(path))
        return str(p if p.is_absolute() else (self.path.parent / p))


# The lab writes its own API key at `lab up`: a newcomer who has not exported it needs the command, not a riddle.
LAB_SECRETS_HINT = ': for the lab run `eval "$(cloudgate lab env)"` (or `cloudgate lab up` first)'


def require_env(variable: str, source: Path | str, hint: str = "") -> str:
    value = os.environ.get(variable)
    if not value:
        raise TargetError(
            f"{source}: environment variable {variable} is not set (the target file names it as a secret){hint}"
        )
    return value


def expand_path(value: str) -> str:
    """`~` and `$VAR`/`${VAR:-default}` in paths, so one lab.yaml works wherever the lab lives."""

    def _sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        return os.environ.get(name) or (default if default is not None else "")

    value = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}", _sub, value)
    return os.path.expanduser(os.path.expandvars(value))


_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")  # _ is not RFC 1123, but resolvers take it


def address_problem(value: str, port_hint: str | None = "cassandra.port is the port") -> str | None:
    """Why `value` is not a node address (an IP address or a host name), by its syntax; None if it is one.

    `port_hint` says where the port goes instead (None: nowhere in the file), since a pasted URL or
    `host:port` is the usual mistake and the fix depends on which address it was.

    Never resolved: `cloudgate target check` stays offline and deterministic, and a name that does not
    resolve is the run's finding (the suite checks it against the live DNS), not the file's.
    """
    hint = f" ({port_hint})" if port_hint else ""
    if not value.strip():
        return "is empty"
    if any(c.isspace() for c in value):
        return "has a blank in it"
    if "/" in value:
        return f"is a URL or a path: write the node's address alone{hint}"
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    if re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+):\d+", value):
        return f"has a port glued on: write the address alone{hint}"
    if ":" in value:
        return "is not a valid IPv6 address"
    if re.fullmatch(r"[0-9.]+", value):
        return "is not a valid IPv4 address"
    name = value.removesuffix(".")
    if len(name) > 253:
        return "is not a valid host name (longer than 253 characters)"
    for label in name.split("."):
        if not label:
            return "is not a valid host name (an empty label between dots)"
        if not _LABEL.fullmatch(label):
            return f"is not a valid host name (label {label!r}: letters, digits and '-', at most 63)"
    return None


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at a pydantic error location (deepest node found).

    A mapping's field is on its key's line: a section's problem (`racks: ... needs 'pattern'`) or a
    key missing from it points at `racks:`, not at the section's first key below it.
    """
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if pair is None:
                return line
            node, line = pair[1], pair[0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _field_name(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            shown = str(part) if str(part).strip() else repr(part)  # an empty key is shown as ''
            out += f".{shown}" if out else shown
    return out or "(top level)"


def located(source: str | Path, root: yaml.Node | None, loc: tuple[Any, ...]) -> str:
    """`file:line: field` of a location in a YAML file (`file: field` when the line is unknown)."""
    line = _line_of(root, loc)
    return f"{f'{source}:{line}' if line else source}: {_field_name(loc)}"


_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


def _node_problem(loader: yaml.SafeLoader, root: yaml.Node) -> tuple[int, tuple[Any, ...], str] | None:
    """(line, field, problem) of what PyYAML would load silently or with a traceback, else None.

    PyYAML keeps the last of two equal keys in a mapping without a word (`thresholds:` twice: the
    first section is lost), and raises a bare ValueError, without a line, for a date like 2026-13-45.
    """
    stack: list[tuple[yaml.Node, tuple[Any, ...]]] = [(root, ())]
    visited: set[int] = set()  # anchors can make a node its own descendant
    while stack:
        node, loc = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}  # (tag, text): `1` and `"1"` are two keys
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE:
                    line = key.start_mark.line + 1
                    if (key.tag, key.value) in first:
                        return line, (*loc, key.value), (f"key {key.value!r} is given twice (lines "
                                                          f"{first[key.tag, key.value]} and {line}; YAML would "
                                                          "silently keep the second)")
                    first[key.tag, key.value] = line
                stack.append((value, (*loc, key.value if isinstance(key, yaml.ScalarNode) else "?")))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*loc, i)) for i, item in enumerate(node.value))
        elif node.tag == _TIMESTAMP:
            try:
                loader.construct_yaml_timestamp(node)
            except ValueError as exc:
                return node.start_mark.line + 1, loc, f"{node.value!r} is not a valid date ({exc})"
    return None


def yaml_mapping(text: str, source: str | Path, shape: str, error: type[TargetError] = TargetError,
                 *, allow_empty: bool = False) -> tuple[yaml.Node | None, dict[str, Any]]:
    """The YAML node tree (for line numbers) and data of a file that must be a mapping; else `error`
    in one line (`shape` says what the mapping holds, e.g. "a target file must be a mapping of keys").
    With `allow_empty`, an empty file (or one of comments only) is the empty mapping."""
    try:
        loader = yaml.SafeLoader(text)  # reads the text's first characters: a NUL or a control byte raises here
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML: {str(exc).splitlines()[0]}") from None
    try:
        root = loader.get_single_node()
        problem = _node_problem(loader, root) if root is not None else None
        if problem is not None:
            line, loc, message = problem
            raise error(f"{source}:{line}: {_field_name(loc)}: {message}")
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else str(source)
        problem_text = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{where}: not valid YAML: {problem_text}") from None
    finally:
        loader.dispose()
    if data is None and allow_empty:
        return root, {}
    if not isinstance(data, dict):
        raise error(f"{source}:1: {shape}")
    return root, data


def _shown(value: Any) -> str | None:
    """How a bad scalar value is shown in an error line; None for what is not a scalar."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return repr(value if len(value) <= 80 else value[:77] + "...")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return None


def validation_line(exc: ValidationError, source: str | Path, root: yaml.Node | None, schema: str,
                    *, show_value: bool = False) -> str:
    """The first problem of a strict model's validation, `file:line: field: problem (and N more problem(s))`.

    With `show_value`, pydantic's own messages ("Input should be greater than 0") get the bad value
    appended, `(got -5)`: an operator fixing the file at 3 a.m. sees what was read, quotes included.
    """
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    cause = (err.get("ctx") or {}).get("error")
    msg = err["msg"].removeprefix("Value error, ")
    if isinstance(cause, FieldProblem):  # a validator naming the field below it that is wrong
        loc = (*loc, *cause.loc)
        msg = msg.removeprefix(f"{cause.loc[-1]}: ") if cause.loc else msg  # named for direct callers; the line names it
    if err["type"] == "extra_forbidden":
        msg = f"unknown key (not part of {schema})"
    got = ""
    secret_ish = bool(loc) and str(loc[-1]).endswith("_env")  # a variable's NAME field may hold a pasted secret
    if show_value and err["type"] not in ("missing", "extra_forbidden") and not secret_ish:
        shown = _shown(err.get("input"))
        already = shown is not None and (shown in msg if shown.startswith("'") else msg.startswith(f"{shown} "))
        if shown is not None and not already:  # "greater than 0" holds a 0 that is not the value
            got = f" (got {shown})"
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    return f"{located(source, root, loc)}: {msg}{got}{more}"


def _parse(text: str, source: str | Path) -> tuple[Target, yaml.Node | None]:
    root, data = yaml_mapping(text, source, "a target file must be a mapping of keys (name, environment, ...)")
    try:
        return Target.model_validate(data), root
    except ValidationError as exc:
        raise TargetError(validation_line(exc, source, root, "the target schema", show_value=True)) from None


def parse_target(text: str, source: str | Path = "<target>") -> Target:
    """Validate target YAML text; raise TargetError with 'file:line: field: problem'."""
    return _parse(text, source)[0]


def read_config(path: Path, kind: str, error: type[TargetError] = TargetError) -> str:
    """The text of a configuration file (`kind`: "target", "runners"), or `error` in one line."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {kind} file not found") from None
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise error(f"{path}:{line}: not UTF-8 text (byte {exc.object[exc.start]:#04x})") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {kind} file: {exc.strerror}") from None


def load_target(path: str | Path) -> LoadedTarget:
    """Read and validate a target file."""
    p = Path(path)
    target, root = _parse(read_config(p, "target"), p)
    return LoadedTarget(target, p, root)

