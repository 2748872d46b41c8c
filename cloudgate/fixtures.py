"""Fixtures that reach the target: the CloudStack client, SSH host handles, discovered hosts.

Imported by the plugin so every suite gets them. Discovery happens once per process, at
collection, so hypervisor checks are parametrized by the hosts CloudStack actually lists — one
test id per host, and one failing host fails its own tests only.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from cloudgate.cloud import CloudStackClient, CloudStackError, Tracker
from cloudgate.hosts import HostPool, HostRef, HostUnreachable, SshSettings, discover_hypervisors
from cloudgate.target import LoadedTarget, TargetError

T = TypeVar("T")
DISCOVERY_KEY = pytest.StashKey["Discovery"]()
# a host being repaired is expected to fail host checks; CG-CS-004 names it instead
MAINTENANCE_STATES = ("PrepareForMaintenance", "Maintenance", "ErrorInMaintenance", "ErrorInPrepareForMaintenance")


@dataclass(frozen=True)
class Discovery:
    """Hosts found at collection, or the one-line reason there are none to check."""

    hypervisors: tuple[HostRef, ...] = ()
    problem: str | None = None


@dataclass(frozen=True)
class CassandraNodeRef:
    address: str
    datacenter: str
    rack: str
    vm: str | None = None  # the CloudStack VM holding this address, when CloudStack knows it

    @property
    def label(self) -> str:
        return self.vm or self.address

    def __str__(self) -> str:
        vm = f"{self.vm} " if self.vm else ""
        return f"Cassandra node {vm}({self.address}, {self.datacenter}/{self.rack})"


CASSANDRA_KEY = pytest.StashKey["tuple[tuple[CassandraNodeRef, ...], str | None]"]()


def _vm_names_by_ip(loaded: LoadedTarget) -> dict[str, str]:
    """NIC address -> VM name from CloudStack; empty if CloudStack cannot say (ids fall back to addresses)."""
    from cloudgate.topology import read_vms

    try:
        return {vm.ip: vm.name for vm in read_vms(make_client(loaded)) if vm.ip}
    except (CloudStackError, TargetError):
        return {}


def _shared_across_workers(config: pytest.Config, name: str, compute: Callable[[], T],
                           encode: Callable[[T], object], decode: Callable[[object], T]) -> T:
    """Under xdist, the first worker to collect computes; the others read its answer.

    Every worker must collect the same test ids, or xdist aborts the run ("different tests were
    collected"); a host list read twice can differ (a host going Down between two listHosts).
    """
    run_dir = os.environ.get("CLOUDGATE_RUN_DIR")
    if not hasattr(config, "workerinput") or not run_dir or not Path(run_dir).is_dir():
        return compute()
    path = Path(run_dir) / f".discovery-{name}.json"
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return decode(json.loads(path.read_text()))
        value = compute()
        path.write_text(json.dumps(encode(value)))
        return value


def discover_cassandra_nodes(config: pytest.Config) -> tuple[tuple[CassandraNodeRef, ...], str | None]:
    """The ring's nodes as the driver sees them (once per run), or a one-line problem."""
    cached = config.stash.get(CASSANDRA_KEY, None)
    if cached is None:
        cached = _shared_across_workers(
            config, "cassandra", lambda: _discover_cassandra_now(config),
            lambda v: {"nodes": [asdict(n) for n in v[0]], "problem": v[1]},
            lambda d: (tuple(CassandraNodeRef(**n) for n in d["nodes"]), d["problem"]),
        )
        config.stash[CASSANDRA_KEY] = cached
    return cached


def _discover_cassandra_now(config: pytest.Config) -> tuple[tuple[CassandraNodeRef, ...], str | None]:
    from cloudgate.cassandra import CassandraError, session
    from cloudgate.plugin import TARGET_KEY

    loaded = config.stash.get(TARGET_KEY, None)
    found: tuple[tuple[CassandraNodeRef, ...], str | None]
    if loaded is None:
        found = ((), "not run: no --target given")
    elif loaded.target.cassandra is None:
        found = ((), f"not run: not applicable, {loaded.target.name} has no cassandra section")
    else:
        try:
            vm_names = _vm_names_by_ip(loaded)
            with session(loaded.target) as (cluster, _):
                nodes = tuple(sorted(
                    (CassandraNodeRef(h.address, h.datacenter, h.rack, vm_names.get(h.address))
                     for h in cluster.metadata.all_hosts()),
                    key=lambda n: (n.datacenter, n.address),
                ))
            found = (nodes, None)
        except (CassandraError, TargetError) as exc:
            found = ((), f"Cassandra node discovery failed: {exc}")
    return found


def make_client(loaded: LoadedTarget, *, allow_mutations: bool = False) -> CloudStackClient:
    cs = loaded.target.cloudstack
    key, secret = loaded.api_credentials()
    return CloudStackClient(
        target_name=loaded.target.name,
        endpoint=cs.endpoint,
        api_key=key,
        secret=secret,
        timeout=cs.timeout_seconds,
        job_timeout=cs.job_timeout_seconds,
        verify_tls=cs.verify_tls,
        allow_mutations=allow_mutations,
        key_variable=cs.api_key_env,
    )


def discover(config: pytest.Config) -> Discovery:
    """listHosts once per run; an unreachable API becomes a reason, not a collection crash."""
    cached = config.stash.get(DISCOVERY_KEY, None)
    if cached is None:
        cached = _shared_across_workers(
            config, "hypervisors", lambda: _discover_hypervisors_now(config),
            lambda v: {"hypervisors": [asdict(h) for h in v.hypervisors], "problem": v.problem},
            lambda d: Discovery(tuple(HostRef(**h) for h in d["hypervisors"]), d["problem"]),
        )
        config.stash[DISCOVERY_KEY] = cached
    return cached


def _discover_hypervisors_now(config: pytest.Config) -> Discovery:
    from cloudgate.plugin import TARGET_KEY  # late import: plugin imports this module

    loaded = config.stash.get(TARGET_KEY, None)
    if loaded is None:
        found = Discovery(problem="not run: no --target given")
    else:
        try:
            found = Discovery(hypervisors=tuple(discover_hypervisors(make_client(loaded), loaded.target)))
        except (CloudStackError, TargetError) as exc:
            found = Discovery(problem=f"host discovery failed: {exc}")
        if found.problem is None and not found.hypervisors:
            found = Discovery(problem=f"host discovery failed: {loaded.target.name}: listHosts returned no Routing host in the target's zones")
    return found


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `hypervisor` by the discovered hosts, `cassandra_node` by the ring's nodes."""
    if "cassandra_node" in metafunc.fixturenames:
        nodes, problem = discover_cassandra_nodes(metafunc.config)
        if problem is not None:
            metafunc.parametrize("cassandra_node", [problem], ids=["discovery"], indirect=True)
        else:
            metafunc.parametrize("cassandra_node", list(nodes), ids=[n.label for n in nodes], indirect=True)
    if "hypervisor" not in metafunc.fixturenames:
        return
    found = discover(metafunc.config)
    if found.problem is not None:
        metafunc.parametrize("hypervisor", [found.problem], ids=["discovery"], indirect=True)
        return
    metafunc.parametrize("hypervisor", list(found.hypervisors), ids=[h.name for h in found.hypervisors], indirect=True)


def _discovered(request: pytest.FixtureRequest):  # noqa: ANN202 - the parametrized reference
    """A discovered item, or its discovery problem turned into a skip (not run) or a one-line failure."""
    value = request.param
    if isinstance(value, str):
        if value.startswith("not run:"):
            pytest.skip(value)
        pytest.fail(value, pytrace=False)
    return value


def _ssh(host_pool: HostPool, ip: str, label: str):  # noqa: ANN202 - testinfra Host
    try:
        return host_pool.get(ip)
    except HostUnreachable as exc:
        problem = f"{label}: SSH unreachable: {exc}"
    pytest.fail(problem, pytrace=False)  # outside the except block: no chained traceback


@pytest.fixture
def hypervisor(request: pytest.FixtureRequest) -> HostRef:
    """One hypervisor host (parametrized by discovery)."""
    return _discovered(request)


@pytest.fixture
def cassandra_node(request: pytest.FixtureRequest) -> CassandraNodeRef:
    """One Cassandra node (parametrized by discovery)."""
    return _discovered(request)


@pytest.fixture
def cassandra_host(cassandra_node: CassandraNodeRef, host_pool: HostPool):  # noqa: ANN201 - testinfra Host
    """testinfra Host for the Cassandra VM of the parametrized node."""
    return _ssh(host_pool, cassandra_node.address, str(cassandra_node))


@pytest.fixture(scope="session")
def cloudstack(loaded_target: LoadedTarget) -> CloudStackClient:
    """Read-only CloudStack client: mutating commands raise MutationRefused."""
    return make_client(loaded_target)


@pytest.fixture
def cloudstack_rw(request: pytest.FixtureRequest, loaded_target: LoadedTarget) -> Iterator[Tracker]:
    """A mutating client, only for tests marked destructive in a destructive run.

    Yields a Tracker: register an undo for everything created; all undos run at teardown, and a
    failed cleanup makes the test error, naming what was left behind.
    """
    from cloudgate.plugin import destructive_refusal

    if request.node.get_closest_marker("destructive") is None:
        pytest.fail("cloudstack_rw used by a test not marked destructive", pytrace=False)
    refusal = destructive_refusal(request.config)
    if refusal:
        pytest.skip(refusal)
    tracker = Tracker(make_client(loaded_target, allow_mutations=True), run_tag=_run_tag())
    yield tracker
    problems = tracker.cleanup()
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


def _run_tag() -> str:
    run_dir = os.environ.get("CLOUDGATE_RUN_DIR", "")
    return os.path.basename(run_dir) or f"pid{os.getpid()}"


@pytest.fixture(scope="session")
def cassandra_ring(target, cloudstack):  # noqa: ANN001, ANN201 - cloudgate.cassandra.RingView
    """The Cassandra ring with each node mapped to its VM and physical host (read once per run)."""
    from cloudgate.cassandra import CassandraError, read_ring

    try:
        return read_ring(target, cloudstack)
    except CassandraError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def host_pool(loaded_target: LoadedTarget) -> Iterator[HostPool]:
    pool = HostPool(SshSettings.from_target(loaded_target.target))
    yield pool
    pool.close()


@pytest.fixture
def hypervisor_host(hypervisor: HostRef, host_pool: HostPool):  # noqa: ANN201 - testinfra Host
    """testinfra Host for the parametrized hypervisor; an unreachable host fails in one line."""
    if hypervisor.resourcestate in MAINTENANCE_STATES:
        pytest.skip(f"not run: not applicable, {hypervisor.name} is in {hypervisor.resourcestate}")
    return _ssh(host_pool, hypervisor.ip, hypervisor.name)
