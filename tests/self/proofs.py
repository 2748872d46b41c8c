"""The proofs: check id → lab fault → the words its failure message must contain.

"Every check is proven able to fail" rests on this one table. test_every_check_is_proven.py
requires a row for every check in tests/infra; test_lab_faults.py injects each fault into the
lab, runs the checks it must break, and asserts each of them *failed* with its words (and, for a
fault on one host, that no other host failed). A check that has never been seen failing may be
unable to fail.

A fault is a context manager over the lab yielding how to run the suite under it (extra pytest
arguments, a derived target, environment); leaving it heals the lab for the next test.
"""

from __future__ import annotations

import ast
import contextlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from selfcheck import LAB_TARGET, REPO, derived_target

HOST = "dc1-r2-h1"  # the victim of host faults
NODE = "cass-dc1-2"  # the victim of Cassandra node faults
NODE_ADDRESS = "198.18.1.202"  # its address (the lab's addressing is fixed: lab/topology.py)
UNRESOLVABLE = "cass1.does-not-exist.invalid"  # RFC 6761: a name that never resolves
# The lab's own write-latency promise (fixtures/targets/lab.yaml) is a few ms; the injected delay
# is well above it, so the latency check fails because of the fault, not because of a slow machine.
WRITE_DELAY_MS = "60"
LB_A = "198.18.1.211"  # the victims of haproxy-node faults: dc1's and dc2's first haproxy nodes (lab.yaml)
LB_C = "198.18.2.211"
# The front tier's faults injected together, each (fault, params) of cloudgate_lab.front.faults (or the cloud
# fault rebalance-onto-sibling), applied in order and cleared in reverse.
FRONT_GROUPS: dict[str, tuple[tuple[str, dict[str, str]], ...]] = {
    "lb-config": (("weight-drift", {}), ("server-absent", {}), ("certificate-drift", {}), ("vrrp-blocked", {}),
                  ("cloud:rebalance-onto-sibling", {"vm": "web-dc2-2,web-dc2-3"})),
    "services": (("fpm-stopped", {}), ("certificate-expiring", {}), ("layer4-checks", {"dc": "dc2"}),
                 ("haproxy-stopped", {"dc": "dc2"}), ("apache-workers-exhausted", {"vm": "web-dc2-1"})),
    "load": (("fpm-children-exhausted", {}), ("wrong-weight", {"vm": "web-dc2-1"})),
    "drill": (("layer4-checks", {}), ("slow-checks", {}), ("keepalived-stopped", {})),
}


@dataclass(frozen=True)
class Proof:
    check_id: str
    fault: str  # a key of FAULTS
    words: str  # what the failure message must say
    victim: str | None = None  # the host or node the failing test is parametrized by, if any
    alone: bool = True  # with a victim: no other host or node may fail (False: the fault hits them all)


@dataclass
class RunSpec:
    """How to run the suite while a fault is in place."""

    args: tuple[str, ...] = ()
    target: Path = LAB_TARGET
    env: dict[str, str] = field(default_factory=dict)
    prefix: tuple[str, ...] = ()  # a command the suite's pytest runs under (e.g. a private resolv.conf)


PROOFS: tuple[Proof, ...] = (
    # hypervisors and Fusion-IO (tests/infra/test_hypervisors.py)
    Proof("CG-HOST-001", "baseline-os-drift", "OS is xenenterprise 8.2.1, baseline is xenenterprise 8.3.0", HOST,
          alone=False),  # the baseline moved, not a host: every host fails
    Proof("CG-HOST-002", "host:wrong-kernel", "running kernel 4.4.52-4.0.12, baseline 4.19.0+1", HOST),
    Proof("CG-HOST-003", "host:xapi-down", "`xe host-list` failed (rc", HOST),
    Proof("CG-HOST-004", "host:ntp-unsync", "clock not synchronised by NTP", HOST),
    Proof("CG-FIO-001", "host:fio-driver-missing", "driver iomemory_vsl not loaded", HOST),
    Proof("CG-FIO-002", "host:fio-degraded", "Fusion-IO card not healthy", HOST),
    Proof("CG-FIO-003", "host:fio-firmware-drift", "firmware 7.1.13", HOST),
    Proof("CG-FIO-004", "host:fio-hot", "degC (limit 78)", HOST),
    Proof("CG-FIO-004", "host:fio-low-reserve", "reserve 5.0% (minimum 10%)", HOST),
    Proof("CG-FIO-005", "host:fio-driver-missing", "/dev/fioa missing", HOST),
    # CloudStack (tests/infra/test_cloudstack.py)
    Proof("CG-CS-001", "api-secret-wrong", "API credentials refused (401"),
    Proof("CG-CS-002", "cloud:mgmt-down", "is Down"),
    Proof("CG-CS-003", "cloud:zone-disabled", "zone lab-dc2"),
    Proof("CG-CS-004", "cloud:host-maintenance", f"{HOST} (state Up, resourcestate Maintenance)"),
    Proof("CG-CS-005", "cloud:systemvm-stopped", "is Stopped"),
    Proof("CG-CS-006", "capacity-threshold-1", "capacity above 1%: "),
    # deploy time (tests/infra/test_deploy_time.py)
    Proof("CG-DEPLOY-001", "boot-slower-than-promise", "not usable within 2 s"),
    # anti-affinity under concurrent deploys (tests/infra/test_anti_affinity_under_concurrency.py): the
    # allocator plans the group's parallel deploys on one stale view, so they land on one host
    Proof("CG-DEPLOY-002", "cloud:anti-affinity-race", " of them (cg-probe-aa-"),  # "host H runs K of them (VMs)"
    # dispersion (tests/infra/test_cassandra_dispersion.py)
    Proof("CG-CASS-001", "vm-orphaned", "Cassandra node(s) ['198.18.1.203'] match no VM NIC in CloudStack"),
    Proof("CG-CASS-002", "firstfit-placement", "host dc1-r1-h1 holds replicas cass-dc1-1+cass-dc1-2+cass-dc1-3"),
    Proof("CG-CASS-003", "firstfit-placement", "rack dc1-r1 (dc1, 3 racks) holds 3 replicas"),
    Proof("CG-CASS-004", "probe-rf-above-nodes", "dc1 has 3 of 4 replicas"),
    Proof("CG-CASS-005", "firstfit-placement", "losing host dc1-r1-h1 leaves dc1 0/3 replicas"),
    # a rebalancer ignoring affinity moved NODE onto the host of cass-dc1-1 (its first sibling in dc1)
    Proof("CG-CASS-002", "cloud:rebalance-onto-sibling", f"holds replicas cass-dc1-1+{NODE}"),
    Proof("CG-CASS-003", "cloud:rebalance-onto-sibling", "(dc1, 3 racks) holds 2 replicas"),
    Proof("CG-CASS-005", "cloud:rebalance-onto-sibling", "leaves dc1 1/3 replicas (< LOCAL_QUORUM)"),
    # liveness (tests/infra/test_cassandra_liveness.py): a node stopped cleanly, a node paused (silent),
    # a datacenter's contact point that does not resolve; the other Cassandra checks pass under all three
    Proof("CG-CASS-006", "node:cassandra-stopped", "does not answer CQL: connection refused on port 9042", NODE),
    Proof("CG-CASS-007", "node:cassandra-stopped", "`nodetool status` failed (rc 1)", NODE, alone=False),  # peers: Down
    Proof("CG-CASS-008", "node:cassandra-stopped", f"{NODE_ADDRESS} (dc1): connection refused"),
    Proof("CG-CASS-006", "node:cassandra-paused", "accepted the connection but sent no answer to OPTIONS", NODE),
    Proof("CG-CASS-007", "node:cassandra-paused", "`nodetool status` hung", NODE, alone=False),
    Proof("CG-CASS-008", "contact-point-unresolvable", f"{UNRESOLVABLE} (dc2): name does not resolve"),
    # write latency (tests/infra/test_cassandra_latency.py)
    Proof("CG-CASS-010", "cql-write-delay", "ms > 20 ms at 500 writes/s"),
    # Cassandra node settings (tests/infra/test_cassandra_nodes.py)
    Proof("CG-NODE-001", "node:ntp-unsync", "clock not synchronised", NODE),
    Proof("CG-NODE-002", "node:swap-on", "swap is on", NODE),
    Proof("CG-NODE-003", "node:nofile-low", "nofile 4096", NODE),
    Proof("CG-NODE-004", "node:max-map-count-low", "vm.max_map_count is 65530", NODE),
    Proof("CG-NODE-005", "node:thp-enabled", "transparent huge pages", NODE),
    Proof("CG-NODE-006", "node:data-dir-off-flash", "/var/lib/cassandra is on /dev/xvda1, not on /dev/fioa", NODE),
    # failover drills (tests/infra/test_failover_drills.py): each fault is one the drill must notice
    Proof("CG-DRILL-001", "firstfit-placement", "token range(s) lost quorum with"),  # two dc1 replicas on one host
    Proof("CG-DRILL-002", "probe-rf-dc2-1", "dc2: availability"),  # one replica per range in dc2: a VM loss loses some
    Proof("CG-DRILL-003", "clients-no-remote-dc", "has used_hosts_per_remote_dc 0"),  # dc1 clients cannot leave dc1
    Proof("CG-DRILL-004", "cloud:hints-off", "acknowledged writes lost in"),  # a partition without hints loses writes
    Proof("CG-DRILL-006", "probe-rf-dc2-1", "dc2: availability"),  # the stopped node was some ranges' only dc2 replica
    Proof("CG-DRILL-005", "data-plane-timeouts", "operations did not succeed, all were expected to"),
    # the front tier (tests/infra/test_front_tier.py): real haproxy, keepalived, Apache, PHP-FPM and C++ in
    # the lab's guests (cloudgate_lab/front/faults.py); haproxy nodes are named by address, the rest by DC.
    # Faults that do not touch each other's checks are injected together (FRONT_GROUPS): five suite runs
    # prove nineteen checks. Configuration drift on dc1's haproxy pair, dc2's web VMs stacked on one host:
    Proof("CG-FRONT-003", "front:lb-config", "CloudStack lists web-dc1-3 (198.18.1.223) for the service, "
                                             "but backend www has no server", LB_A, alone=False),
    Proof("CG-FRONT-004", "front:lb-config", "weight differs: 198.18.1.211 100, 198.18.1.212 50", "dc1"),
    Proof("CG-FRONT-005", "front:lb-config", "is held by 198.18.1.211 and 198.18.1.212 at once (split-brain)", "dc1"),
    Proof("CG-FRONT-015", "front:lb-config", "198.18.1.212 serves another certificate than 198.18.1.211", "dc1"),
    Proof("CG-FRONT-010", "front:lb-config", "all 3 front VMs on one host", "dc2"),
    # services dying or saturated, a certificate expiring, dc2's front door down and checked at layer 4:
    Proof("CG-FRONT-001", "front:services", "server www/web-dc1-2 is DOWN", LB_A, alone=False),
    Proof("CG-FRONT-011", "front:services", "web-dc1-2 /health.php", "dc1", alone=False),
    Proof("CG-FRONT-014", "front:services", "(fewer than 14: renew it now)", "dc1", alone=False),
    Proof("CG-FRONT-002", "front:services", "backend www has no L7 check", LB_C, alone=False),
    Proof("CG-FRONT-006", "front:services", "GET http://198.18.2.210/: no TCP answer", "dc2", alone=False),
    Proof("CG-FRONT-012", "front:services", "Apache on web-dc2-1: 4 of 4 workers busy", "dc2", alone=False),
    # under the front-door load (a short probe: 6 s at 50 requests/s per service and datacenter)
    Proof("CG-FRONT-007", "front-load:mixed", "in steady state", "dc1", alone=False),
    Proof("CG-FRONT-008", "front-load:mixed", "ms promised", "dc1", alone=False),
    Proof("CG-FRONT-013", "front-load:mixed", "web-dc1-1: max children reached", "dc1", alone=False),
    Proof("CG-FRONT-009", "front-load:mixed", "www: web-dc2-1 got", "dc2", alone=False),
    # elasticity: an orchestrator that adds the server at runtime and forgets `enable server` (lab: --forget-enable)
    Proof("CG-FRONT-016", "front-careless-scale-out", "answered no request through the VIP"),
    # front drills on dc1: haproxy checking at layer 4 at the default's slow pace, the backup node without keepalived
    Proof("CG-FRONT-017", "front-drill:mixed", "front-vm-loss:"),
    Proof("CG-FRONT-018", "front-drill:mixed", "vip-holder-loss:"),
    Proof("CG-FRONT-019", "front-drill:mixed", "front-service-loss:"),  # a TCP check never sees PHP die
    Proof("CG-FRONT-020", "front-drill:mixed", "dc-fronts-loss:"),  # dc1's servers never all DOWN in the fault
)


# --------------------------------------------------------------------------- the faults
Fault = Callable[[Path, dict], contextlib.AbstractContextManager[RunSpec]]


def _topology():  # noqa: ANN202 - cloudgate_lab.topology.LabTopology
    from cloudgate.target import load_target
    from cloudgate_lab.topology import build_topology

    return build_topology(load_target(LAB_TARGET).target)


@contextlib.contextmanager
def _host_fault(victim: str, name: str) -> Iterator[RunSpec]:
    from cloudgate_lab import hostfaults

    hostfaults.apply_fault(_topology(), victim, name)
    try:
        yield RunSpec()
    finally:
        hostfaults.clear_fault(_topology(), victim, name)


@contextlib.contextmanager
def _cloud_fault(name: str, **params: str) -> Iterator[RunSpec]:
    from cloudgate_lab import control

    control.cloud_fault(name, params)
    try:
        yield RunSpec()
    finally:
        control.cloud_fault(name, params, clear=True)


@contextlib.contextmanager
def _baseline_os_drift(tmp_path: Path, lab: dict) -> Iterator[RunSpec]:
    baselines = tmp_path / "baselines"
    shutil.copytree(LAB_TARGET.parent.parent / "baselines", baselines)
    path = baselines / "hypervisor.yaml"
    path.write_text(path.read_text().replace('version_id: "8.2.1"', 'version_id: "8.3.0"'))
    yield RunSpec(target=derived_target(tmp_path, baselines=str(baselines)))


@contextlib.contextmanager
def _api_secret_wrong(tmp_path: Path, lab: dict) -> Iterator[RunSpec]:
    yield RunSpec(env={"CLOUDGATE_LAB_SECRET_KEY": "not-the-secret"})


@contextlib.contextmanager
def _capacity_threshold(tmp_path: Path, lab: dict) -> Iterator[RunSpec]:
    yield RunSpec(target=derived_target(tmp_path, thresholds={"capacity_percent": 1}))  # the lab uses ~4-7 %


@contextlib.contextmanager
def _boot_slower_than_promise(tmp_path: Path, lab: dict) -> Iterator[RunSpec]:
    with _cloud_fault("boot-delay", seconds="5"):
        yield RunSpec(args=("--allow-destructive",), target=derived_target(tmp_path, thresholds={"deploy_seconds": 2}))


def _lab_env() -> dict[str, str]:
    from cloudgate_lab import control

    exports = control.env_exports(str(LAB_TARGET))
    return dict(line.removeprefix("export ").split("=", 1) for line in exports.splitlines() if line)


@contextlib.contextmanager
def _firstfit_placement(tmp_path: Path, lab: dict) -> Iterator[RunSpec]:
    """The lab rebuilt with its Cassandra VMs placed by CloudStack's FirstFit alone, then rebuilt back."""
    from cloudgate_lab import control

    try:
        control.up(str(LAB_TARGET), placement="firstfit", quiet=True)
        lab["env"].update(_lab_env())
        # the host-loss drill is destructive (the dispersion checks only read)
        yield RunSpec(args=("--allow-destructive",), target=derived_target(tmp_path, drills=SHORT_DRILLS))
    finally:
        control.up(str(LAB_TARGET), placement="cloudgate", quiet=True)  # the other self-tests expect this lab
        lab["env"].update(_lab_env())


@contextlib.contextmanager
def _probe_keyspace(replication: str) -> Iterator[RunSpec]:
    from cloudgate.cassandra.session import session
    from cloudgate.target import load_target

    target = load_target(LAB_TARGET).target
    with session(target, writes=True) as (_, sess):
        sess.execute(f"CREATE KEYSPACE cloudgate_probe WITH replication = {replication}")
    try:
        yield RunSpec()
    finally:
        with session(target, writes=True) as (_, sess):
            sess.execute("DROP KEYSPACE IF EXISTS cloudgate_probe")


@contextlib.contextmanager
def _write_path_delay(tmp_path: Path, lab: dict) -> Iterator[RunSpec]:
    with _cloud_fault("cql-write-delay", ms=WRITE_DELAY_MS):
        yield RunSpec(args=("--allow-destructive",))


# The drills' proofs hold the fault for 4 s of an 8 s load (the lab's nightly: 12 of 30) and give the
# read-back 15 s: every fault below costs far more than the 0.1 % the qos allows, and make test
# stays under 20 minutes.
SHORT_DRILLS = {"load_seconds": 8, "fault_at_seconds": 2, "heal_at_seconds": 6, "convergence_seconds": 15}


@contextlib.contextmanager
def _destructive(inner: contextlib.AbstractContextManager[RunSpec], tmp_path: Path) -> Iterator[RunSpec]:
    """A fault under which destructive checks (the drills, shortened) must run too."""
    with inner as spec:
        target = spec.target if spec.target != LAB_TARGET else derived_target(tmp_path, drills=SHORT_DRILLS)
        yield RunSpec(args=(*spec.args, "--allow-destructive"), target=target, env=spec.env)


@contextlib.contextmanager
def _clients_without_remote_dc(tmp_path: Path, lab: dict) -> Iterator[RunSpec]:
    """The applications as the driver's defaults leave them: never a host of another datacenter."""
    from cloudgate.target import load_target

    cass = load_target(LAB_TARGET).target.cassandra
    assert cass is not None
    clients = [{**c.model_dump(mode="json", exclude_none=True), "used_hosts_per_remote_dc": 0} for c in cass.clients]
    yield RunSpec(args=("--allow-destructive",),
                  target=derived_target(tmp_path, cassandra={**_lab_section("cassandra"), "clients": clients},
                                        drills=SHORT_DRILLS))


def _lab_section(name: str) -> dict:
    import yaml

    return dict(yaml.safe_load(LAB_TARGET.read_text())[name])


@contextlib.contextmanager
def _node_fault_fast(victim: str, name: str, tmp_path: Path) -> Iterator[RunSpec]:
    """A node fault whose checks wait for timeouts (a paused node): the lab's timeouts shortened, so the
    proof costs seconds; the checks' verdicts do not depend on how long they waited."""
    with _host_fault(victim, name):
        yield RunSpec(target=derived_target(tmp_path, ssh={"command_timeout_seconds": 4},
                                            cassandra={"connect_timeout_seconds": 2}))


@contextlib.contextmanager
def _contact_point_unresolvable(tmp_path: Path, lab: dict) -> Iterator[RunSpec]:
    """dc2's contact points replaced by a name that does not resolve.

    The suite runs in a private mount namespace whose resolv.conf names 127.0.0.1 only (nothing
    listens there): the lookup fails at once and no DNS query leaves the machine (the lab's rule)."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions attempts:1 timeout:1\n")
    contact = {**_lab_section("cassandra")["contact_points"], "dc2": [UNRESOLVABLE]}
    yield RunSpec(target=derived_target(tmp_path, cassandra={"contact_points": contact}),
                  prefix=("unshare", "-m", "--propagation", "private", "sh", "-c",
                          'mount --bind "$0" /etc/resolv.conf && exec "$@"', str(resolv)))


@contextlib.contextmanager
def _front_faults(group: str) -> Iterator[RunSpec]:
    """A group of front faults in place together; cleared last-first, then the front tier healthy again."""
    from cloudgate_lab import control
    from cloudgate_lab.front import faults as front_faults
    from cloudgate_lab.frontboot import read_plan

    applied: list[tuple[str, dict[str, str]]] = []
    try:
        for name, params in FRONT_GROUPS[group]:
            if name.startswith("cloud:"):
                control.cloud_fault(name.removeprefix("cloud:"), params)
            else:
                front_faults.apply(name, params)
            applied.append((name, params))
        yield RunSpec()
    finally:
        problems = []
        for name, params in reversed(applied):  # every one cleared, whatever the others did
            try:
                if name.startswith("cloud:"):
                    control.cloud_fault(name.removeprefix("cloud:"), params, clear=True)
                else:
                    front_faults.apply(name, params, clear=True, wait=False)
            except Exception as exc:  # noqa: BLE001 - named below, after the rest is cleared
                problems.append(f"clearing {name}: {exc}")
        plan = read_plan()
        assert plan is not None
        front_faults.wait_healthy(plan)  # every server UP, one VIP holder per datacenter
        assert not problems, "; ".join(problems)


# The load checks' proofs use a short probe: 300 requests per service and datacenter resolve a 1 % promise
# (the lab's 0.1 % needs 1,000, 20 s); every fault below fails far more requests than that, or none of
# the checks' other rules would hold.
SHORT_PROBE = {"probe": {"rate_per_second": 50, "seconds": 6, "timeout_seconds": 2, "max_in_flight": 50}}


@contextlib.contextmanager
def _front_load_fault(tmp_path: Path, group: str) -> Iterator[RunSpec]:
    frontends = _lab_section("frontends")
    promises = {**frontends.get("promises", {}), "error_ratio": 0.01}
    with _front_faults(group):
        yield RunSpec(target=derived_target(tmp_path, frontends={**frontends, **SHORT_PROBE, "promises": promises}))


@contextlib.contextmanager
def _front_careless_scale_out(tmp_path: Path, lab: dict) -> Iterator[RunSpec]:
    """The scale-out forgets `enable server`: the new VM never gets a request (promise shortened to 8 s)."""
    frontends = _lab_section("frontends")
    scale = {**frontends["scale"], "out_command": frontends["scale"]["out_command"] + " --forget-enable"}
    promises = {**frontends.get("promises", {}), "scale_out_seconds": 8}
    yield RunSpec(args=("--allow-destructive",),
                  target=derived_target(tmp_path, frontends={**frontends, "scale": scale, "promises": promises}))


FAULTS: dict[str, Fault] = {
    "front:lb-config": lambda tmp_path, lab: _front_faults("lb-config"),
    "front:services": lambda tmp_path, lab: _front_faults("services"),
    "front-load:mixed": lambda tmp_path, lab: _front_load_fault(tmp_path, "load"),
    "front-drill:mixed": lambda tmp_path, lab: _destructive(_front_faults("drill"), tmp_path),
    "front-careless-scale-out": _front_careless_scale_out,
    "baseline-os-drift": _baseline_os_drift,
    "api-secret-wrong": _api_secret_wrong,
    "capacity-threshold-1": _capacity_threshold,
    "boot-slower-than-promise": _boot_slower_than_promise,
    "firstfit-placement": _firstfit_placement,
    "vm-orphaned": lambda tmp_path, lab: _cloud_fault("vm-orphaned", vm="cass-dc1-3"),
    "probe-rf-above-nodes": lambda tmp_path, lab: _probe_keyspace(
        "{'class': 'NetworkTopologyStrategy', 'dc1': 4, 'dc2': 3}"),
    "cql-write-delay": _write_path_delay,
    "probe-rf-dc2-1": lambda tmp_path, lab: _destructive(_probe_keyspace(
        "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 1}"), tmp_path),
    "clients-no-remote-dc": _clients_without_remote_dc,
    "cloud:hints-off": lambda tmp_path, lab: _destructive(_cloud_fault("hints-off"), tmp_path),
    # every write slower than the clients' 2 s request timeout: the data plane fails during the outage drill
    "data-plane-timeouts": lambda tmp_path, lab: _destructive(_cloud_fault("cql-write-delay", ms="2500"), tmp_path),
    "cloud:host-maintenance": lambda tmp_path, lab: _cloud_fault("host-maintenance", host=HOST),
    # the anti-affinity check deploys VMs: it runs only in a destructive run
    "cloud:anti-affinity-race": lambda tmp_path, lab: _destructive(_cloud_fault("anti-affinity-race"), tmp_path),
    "cloud:rebalance-onto-sibling": lambda tmp_path, lab: _cloud_fault("rebalance-onto-sibling", vm=NODE),
    "cloud:zone-disabled": lambda tmp_path, lab: _cloud_fault("zone-disabled", zone="lab-dc2"),
    "node:cassandra-paused": lambda tmp_path, lab: _node_fault_fast(NODE, "cassandra-paused", tmp_path),
    "contact-point-unresolvable": _contact_point_unresolvable,
    **{f"cloud:{name}": (lambda tmp_path, lab, name=name: _cloud_fault(name)) for name in ("mgmt-down", "systemvm-stopped")},
}
for _proof in PROOFS:  # host and node faults are the lab's own, applied to the row's victim
    kind, _, name = _proof.fault.partition(":")
    if kind in ("host", "node") and _proof.fault not in FAULTS:
        FAULTS[_proof.fault] = lambda tmp_path, lab, v=_proof.victim, n=name: _host_fault(v, n)


def faults_in_order() -> list[str]:
    """Each fault once, in table order (a fault proving several checks is injected once)."""
    return list(dict.fromkeys(p.fault for p in PROOFS))


def proofs_of(fault: str) -> list[Proof]:
    return [p for p in PROOFS if p.fault == fault]


# --------------------------------------------------------------------------- the checks, parsed
@dataclass(frozen=True)
class CheckRef:
    check_id: str
    module: str  # path relative to the repository, e.g. tests/infra/test_hypervisors.py
    function: str


def _check_id(decorator: ast.expr) -> str | None:
    """The id of a ``pytest.mark.check(id=...)`` decorator, else None."""
    if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "pytest.mark.check":
        for kw in decorator.keywords:
            if kw.arg == "id" and isinstance(kw.value, ast.Constant):
                return str(kw.value.value)
        if decorator.args and isinstance(decorator.args[0], ast.Constant):
            return str(decorator.args[0].value)
    return None


def infra_checks() -> list[CheckRef]:
    """Every check of the suite, parsed (not grepped) from tests/infra."""
    found = []
    for path in sorted((REPO / "tests" / "infra").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                found += [CheckRef(cid, str(path.relative_to(REPO)), node.name)
                          for d in node.decorator_list if (cid := _check_id(d))]
    return found
