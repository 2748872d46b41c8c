"""Target file: what cloud the suite checks, how to reach it, and what "good" means there.

A target file is YAML validated with pydantic. It names a cloud (a real one, or the embedded lab),
how to reach its three protocols (CloudStack API, SSH, CQL) and the thresholds the suite enforces.
It never holds a secret: it names the environment variables that do, so the file can be committed
and reviewed. Any problem with the file is reported as one `TargetError` line naming the file,
the line and the field — operators read it at 3 a.m. after an incident, not a traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from cloudgate.errors import TargetError  # defined there, with the plugin's other one-line errors


class Environment(StrEnum):
    lab = "lab"
    preproduction = "preproduction"
    production = "production"

    @property
    def allows_destructive(self) -> bool:
        """Destructive drills (deploy, fail, partition) never run against production."""
        return self in (Environment.lab, Environment.preproduction)


class _Strict(BaseModel):
    """Unknown keys are errors: a typo in a threshold must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("api_key_env", "secret_key_env")
    @classmethod
    def _is_variable_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("must be the NAME of an environment variable, not a secret value")
        return value


class SshSection(_Strict):
    user: str = "root"
    identity_file: str
    known_hosts: str | None = Field(None, description="known_hosts file; required outside the lab")
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
        return expand_path(value) if value is not None else None


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
    name: str = Field(description="datacenter name as Cassandra knows it (the DC of NetworkTopologyStrategy)")
    zone: str = Field(description="CloudStack zone name for this datacenter")


class CassandraNodeSettings(_Strict):
    """What every Cassandra VM must look like (DataStax/Apache production recommendations)."""

    nofile_min: int = Field(100000, ge=1024)
    memlock: str = "unlimited"
    max_map_count_min: int = Field(1048575, ge=65530)
    data_directory: str = "/var/lib/cassandra"
    data_device: str = Field("/dev/fioa", description="the fast (flash) block device the data directory must sit on")


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
    dc: str = Field(description="the datacenter the application runs in (its requests start there)")
    local_dc: str | None = Field(None, description="the driver's local_dc; default: dc")
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
    contact_points: dict[str, list[str]] = Field(description="datacenter name -> node addresses")
    local_dc: str
    port: int = Field(9042, ge=1, le=65535)
    probe_keyspace: str = "cloudgate_probe"
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

    @model_validator(mode="after")
    def _local_dc_known(self) -> CassandraSection:
        if self.local_dc not in self.contact_points:
            raise ValueError(f"local_dc '{self.local_dc}' has no contact_points entry")
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

    zone: str | None = Field(None, description="zone name; default: the first datacenter's zone")
    service_offering: str = "Small Instance"
    template: str = "Ubuntu 22.04 cloudgate guest"
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


class ManagementServerControl(_Strict):
    """How to stop and start the CloudStack management server for the outage drill: never guessed.

    Shell commands run on the runner (with the venv's bin first on PATH), e.g.
    ``ssh mgmt1 sudo systemctl stop cloudstack-management``. Without this section the drill is not
    applicable.
    """

    stop_command: str = Field(min_length=1)
    start_command: str = Field(min_length=1)
    timeout_seconds: float = Field(180.0, gt=0, le=1800, description="for each command, and for the API to answer again")


class CassandraServiceControl(_Strict):
    """How the Cassandra service is stopped and started on a node, run over SSH (the service-stop drill).

    The defaults are the Debian/Ubuntu package's unit; a login that is not root writes
    ``sudo systemctl stop cassandra``. The heal runs the start command, then waits until the node
    answers CQL on its native port again (a real node takes a while: commit log replay, joining).
    """

    stop_command: str = Field("systemctl stop cassandra", min_length=1)
    start_command: str = Field("systemctl start cassandra", min_length=1)
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
        if not self.fault_at_seconds < self.heal_at_seconds <= self.load_seconds:
            raise ValueError("needs fault_at_seconds < heal_at_seconds <= load_seconds (the fault sits inside the load)")
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
            try:
                parse_tolerance(tolerance)
            except ValueError as exc:
                raise ValueError(f"{pattern}: {exc}") from None
        return value

    def all_tolerances(self) -> dict[str, Any]:
        """This file's patterns first, then the defaults it does not override."""
        from cloudgate.report.regression import parse_tolerance

        merged = {**self.tolerances, **{k: v for k, v in DEFAULT_TOLERANCES.items() if k not in self.tolerances}}
        return {pattern: parse_tolerance(value) for pattern, value in merged.items()}


class LabSection(_Strict):
    """Shape of the embedded lab; only meaningful when environment is lab."""

    # Up to 8 x 8 the hosts share their DC's /24 with the guests; beyond, they move to 198.19.0.0/16
    # (cloudgate/lab/topology.py), up to 63 racks of 250 (a bridge takes 1,024 ports: 1,000 hosts a DC).
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
    name: str = Field(min_length=1)
    environment: Environment
    cloudstack: CloudStackSection
    ssh: SshSection
    datacenters: list[Datacenter] = Field(min_length=1)
    racks: RackRule = RackRule()
    cassandra: CassandraSection | None = None
    thresholds: Thresholds = Thresholds()
    deploy: DeploySection = DeploySection()
    drills: DrillsSection = DrillsSection()
    history: HistorySection = HistorySection()
    placement: PlacementSection = PlacementSection()
    baselines: str | None = Field(None, description="directory of expected versions; default fixtures/baselines")
    waivers: str | None = Field(None, description="waiver file: known failures with a justification and an expiry")
    lab: LabSection | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Target:
        if self.environment is not Environment.lab and self.ssh.known_hosts is None:
            raise ValueError("ssh.known_hosts is required outside the lab (host keys are always checked)")
        if self.lab is not None and self.environment is not Environment.lab:
            raise ValueError("a 'lab' section is only allowed with environment: lab")
        if self.cassandra is not None:
            names = {dc.name for dc in self.datacenters}
            unknown = sorted(set(self.cassandra.contact_points) - names)
            if unknown:
                raise ValueError(f"cassandra.contact_points names unknown datacenter(s) {unknown}")
        return self

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

    def api_credentials(self) -> tuple[str, SecretStr]:
        """(api key, secret) from the environment; one clear line if a variable is missing."""
        cs = self.target.cloudstack
        hint = LAB_SECRETS_HINT if self.target.environment is Environment.lab else ""
        return require_env(cs.api_key_env, self.path, hint), SecretStr(require_env(cs.secret_key_env, self.path, hint))

    def check_environment(self) -> None:
        """Every secret variable set and every file the target names readable, before anything runs."""
        self.api_credentials()
        cass = self.target.cassandra
        if cass is not None:
            for variable in (cass.username_env, cass.password_env):
                if variable:
                    require_env(variable, self.path)
        for what, path in (("ssh.known_hosts", self.target.ssh.known_hosts), ("baselines", self.resolve(self.target.baselines)),
                           ("waivers", self.resolve(self.target.waivers))):
            if path and not Path(path).exists():
                raise TargetError(f"{self.path}: {what}: {path} does not exist")

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


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at a pydantic error location (deepest node found)."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if nxt is None:
                key = next((k for k, _ in node.value if getattr(k, "value", None) == part), None)
                return key.start_mark.line + 1 if key is not None else line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _field_name(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def located(source: str | Path, root: yaml.Node | None, loc: tuple[Any, ...]) -> str:
    """`file:line: field` of a location in a YAML file (`file: field` when the line is unknown)."""
    line = _line_of(root, loc)
    return f"{f'{source}:{line}' if line else source}: {_field_name(loc)}"


def yaml_mapping(text: str, source: str | Path, shape: str,
                 error: type[TargetError] = TargetError) -> tuple[yaml.Node | None, dict[str, Any]]:
    """The YAML node tree (for line numbers) and data of a file that must be a mapping; else `error`
    in one line (`shape` says what the mapping holds, e.g. "a target file must be a mapping of keys")."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else str(source)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise error(f"{source}:1: {shape}")
    return root, data


def validation_line(exc: ValidationError, source: str | Path, root: yaml.Node | None, schema: str) -> str:
    """The first problem of a strict model's validation, `file:line: field: problem (and N more problem(s))`."""
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = f"unknown key (not part of {schema})"
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    return f"{located(source, root, loc)}: {msg}{more}"


def parse_target(text: str, source: str | Path = "<target>") -> Target:
    """Validate target YAML text; raise TargetError with 'file:line: field: problem'."""
    root, data = yaml_mapping(text, source, "a target file must be a mapping of keys (name, environment, ...)")
    try:
        target = Target.model_validate(data)
    except ValidationError as exc:
        raise TargetError(validation_line(exc, source, root, "the target schema")) from None
    problem = _cross_section_problem(target)
    if problem is not None:
        loc, msg = problem
        raise TargetError(f"{located(source, root, loc)}: {msg}")
    return target


def _cross_section_problem(target: Target) -> tuple[tuple[Any, ...], str] | None:
    """What one section cannot check alone, located precisely (a model validator would point at its parent)."""
    cass = target.cassandra
    if cass is None:
        return None
    names = [dc.name for dc in target.datacenters]
    for i, client in enumerate(cass.clients):
        for field_name in ("dc", "local_dc"):
            value = getattr(client, field_name)
            if value is not None and value not in names:
                return ("cassandra", "clients", i, field_name), f"unknown datacenter {value!r} (the target has {names})"
    seen: set[str] = set()
    for i, client in enumerate(cass.clients):
        if client.name in seen:
            return ("cassandra", "clients", i, "name"), f"client name {client.name!r} is used twice"
        seen.add(client.name)
    return None


def read_config(path: Path, kind: str, error: type[TargetError] = TargetError) -> str:
    """The text of a configuration file (`kind`: "target", "runners"), or `error` in one line."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {kind} file not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {kind} file: {exc.strerror}") from None


def load_target(path: str | Path) -> LoadedTarget:
    """Read and validate a target file."""
    p = Path(path)
    return LoadedTarget(parse_target(read_config(p, "target"), p), p)

