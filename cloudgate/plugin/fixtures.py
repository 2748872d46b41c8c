"""Fixtures that reach the target: the estate snapshot, the CloudStack client, SSH host handles.

The estate is read once per run (cloudgate.snapshot) and shared by every process of the run, so
hypervisor checks are parametrized by the hosts CloudStack lists — one test id per host, and one
failing host fails its own tests only — and every worker collects the same ids. Under xdist, for
remote workers (`--tx ssh=`, which share no disk with it) the controller takes it and hands it over
with the worker's input. --hosts-filter / --sample narrow the hosts (cloudgate.selection).

Host checks read facts (cloudgate.ssh.gather), gathered once per host in one exec; each worker starts
gathering its own share of hosts (cloudgate.shards) in the background at its first host check.

What reaches the target (the CloudStack client, SSH, the snapshot and the Cassandra driver behind
it) is imported by the fixture that needs it, never with the plugin.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cloudgate.errors import HostUnreachable
from cloudgate.ledger import Entry, Ledger, current_run_id, run_ledger_path
from cloudgate.ledger import pending as ledger_pending
from cloudgate.ledger import read as ledger_read
from cloudgate.plugin.state import (
    ESTATE_FILE,
    NOT_APPLICABLE,
    NOT_RUN,
    RUN_KEY,
    destructive_refusal,
    is_worker,
    loaded_target_of,
    reports_root_of,
    selection_of,
    shared_run_dir,
)

if TYPE_CHECKING:
    from cloudgate.cassandra.ring import RingView
    from cloudgate.cloudstack.client import CloudStackClient
    from cloudgate.estate import CassandraNode, EstateSnapshot, HostRecord
    from cloudgate.report.metrics import Better, Metric
    from cloudgate.ssh.gather import HostFacts, Probe
    from cloudgate.ssh.hosts import HostPool
    from cloudgate.target import LoadedTarget
    from cloudgate.tracker import Tracker

ESTATE_KEY = pytest.StashKey["EstateSnapshot | str"]()
PROBES_KEY = pytest.StashKey["dict[str, Probe | str]"]()
WORKER_ESTATE = "cloudgate_estate"  # the snapshot's JSON in an xdist worker's workerinput


# --------------------------------------------------------------------------- the estate, once per run
def _run_dir(config: pytest.Config) -> Path | None:
    state = config.stash.get(RUN_KEY, None)
    if state is not None:
        return state.run_dir
    return shared_run_dir() if is_worker(config) else None


def estate_of(config: pytest.Config) -> EstateSnapshot | str:
    """The run's estate snapshot, or why there is none ("not run: ..."). Taken at most once per run.

    Under xdist the first process to need it takes it and writes the run's estate.json; the others
    read that file, so every worker collects the same test ids (xdist aborts the run otherwise).
    """
    cached = config.stash.get(ESTATE_KEY, None)
    if cached is not None:
        return cached
    loaded = loaded_target_of(config)
    handed = getattr(config, "workerinput", {}).get(WORKER_ESTATE)
    if loaded is None:
        value: EstateSnapshot | str = f"{NOT_RUN}no --target given"
    elif handed:
        from cloudgate.estate import EstateSnapshot

        value = EstateSnapshot.model_validate_json(handed)
    else:
        value = _shared_snapshot(config, loaded)
    config.stash[ESTATE_KEY] = value
    return value


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:  # noqa: ANN001 - xdist's WorkerController
    """A remote worker (`--tx ssh=...`) shares no disk with the controller: the controller takes the
    snapshot and hands it over. Local workers share the run's estate.json (taken only if needed)."""
    if not getattr(node.gateway.spec, "ssh", None):
        return
    estate = estate_of(node.config)
    if not isinstance(estate, str):
        node.workerinput[WORKER_ESTATE] = estate.model_dump_json()


def _shared_snapshot(config: pytest.Config, loaded: LoadedTarget) -> EstateSnapshot:
    from cloudgate.snapshot import last_good_path, load_last_good, take_snapshot

    last_good = last_good_path(reports_root_of(config), loaded.target.name)
    run_dir = _run_dir(config)
    if run_dir is None:
        return take_snapshot(loaded, last_good)
    path = run_dir / ESTATE_FILE
    with open(run_dir / ".estate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shared = load_last_good(path)
        if shared is not None:
            return shared
        snapshot = take_snapshot(loaded, last_good)
        tmp = path.with_name(f".{ESTATE_FILE}.tmp")
        tmp.write_text(snapshot.model_dump_json(indent=1))
        os.replace(tmp, path)
        return snapshot


def _hypervisor_params(estate: EstateSnapshot | str, config: pytest.Config) -> tuple[list[object], list[str]]:
    if isinstance(estate, str):
        return [estate], ["discovery"]
    if not estate.hosts:
        problem = estate.cloudstack.problem or f"{estate.target}: listHosts returned no Routing host in the target's zones"
        return [f"host discovery failed: {problem}"], ["discovery"]
    selection = selection_of(config)
    hosts = selection.hosts(estate.hosts) if selection is not None else list(estate.hosts)
    if not hosts:
        return [f"{NOT_RUN}no host matches the run's --hosts-filter/--sample"], ["selection"]
    return list(hosts), [h.name for h in hosts]


def _cassandra_params(estate: EstateSnapshot | str, config: pytest.Config) -> tuple[list[object], list[str]]:
    if isinstance(estate, str):
        return [estate], ["discovery"]
    if estate.cassandra is None:
        return [f"{NOT_APPLICABLE}{estate.target} has no cassandra section"], ["discovery"]
    if not estate.cassandra.nodes:
        return [estate.cassandra.source.problem or f"{estate.target}: the driver lists no Cassandra node"], ["discovery"]
    selection = selection_of(config)
    nodes = (selection.cassandra_nodes(estate.cassandra.nodes, estate.hosts) if selection is not None
             else list(estate.cassandra.nodes))
    if not nodes:
        return [f"{NOT_RUN}no Cassandra node runs on a host the run's --hosts-filter keeps"], ["selection"]
    return list(nodes), [n.label for n in nodes]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `hypervisor` by the snapshot's hosts, `cassandra_node` by the ring's nodes."""
    for name, params_of in (("cassandra_node", _cassandra_params), ("hypervisor", _hypervisor_params)):
        if name in metafunc.fixturenames:
            values, ids = params_of(estate_of(metafunc.config), metafunc.config)
            metafunc.parametrize(name, values, ids=ids, indirect=True)


def _discovered(request: pytest.FixtureRequest):  # noqa: ANN202 - the parametrized record
    """A discovered item, or its discovery problem turned into a skip (not run) or a one-line failure."""
    value = request.param
    if isinstance(value, str):
        if value.startswith(NOT_RUN):
            pytest.skip(value)
        pytest.fail(value, pytrace=False)
    return value


# --------------------------------------------------------------------------- target and estate
@pytest.fixture(scope="session")
def loaded_target(pytestconfig: pytest.Config) -> LoadedTarget:
    """The validated target; a test that needs one is not run without --target."""
    loaded = loaded_target_of(pytestconfig)
    if loaded is None:
        pytest.skip(f"{NOT_RUN}no --target given")
    return loaded


@pytest.fixture(scope="session")
def target(loaded_target: LoadedTarget):  # noqa: ANN201 - returns cloudgate.target.Target
    return loaded_target.target


@pytest.fixture(scope="session")
def thresholds(target):  # noqa: ANN001, ANN201
    return target.thresholds


@pytest.fixture(scope="session")
def cassandra_config(target):  # noqa: ANN001, ANN201 - cloudgate.target.CassandraSection
    """The target's cassandra section; every Cassandra check is not applicable without one."""
    if target.cassandra is None:
        pytest.skip(f"{NOT_APPLICABLE}{target.name} has no cassandra section")
    return target.cassandra


@pytest.fixture(scope="session")
def estate(pytestconfig: pytest.Config, loaded_target: LoadedTarget) -> EstateSnapshot:
    """The run's estate snapshot (live, or parts from the last good one; each part says which)."""
    value = estate_of(pytestconfig)
    if isinstance(value, str):
        pytest.skip(value)
    return value


@pytest.fixture(scope="session")
def cassandra_ring(estate: EstateSnapshot) -> RingView:
    """The Cassandra ring with each node mapped to its VM and physical host (read once per run)."""
    if estate.cassandra is None:
        pytest.skip(f"{NOT_APPLICABLE}{estate.target} has no cassandra section")
    from cloudgate.cassandra.ring import RingView

    view = RingView.of(estate)
    if isinstance(view, str):
        pytest.fail(view, pytrace=False)
    return view


@pytest.fixture
def hypervisor(request: pytest.FixtureRequest) -> HostRecord:
    """One hypervisor host (parametrized by the estate snapshot)."""
    return _discovered(request)


@pytest.fixture
def cassandra_node(request: pytest.FixtureRequest) -> CassandraNode:
    """One Cassandra node (parametrized by the estate snapshot)."""
    return _discovered(request)


# --------------------------------------------------------------------------- reaching the target
@pytest.fixture(scope="session")
def cloudstack(loaded_target: LoadedTarget) -> CloudStackClient:
    """Read-only CloudStack client: mutating commands raise MutationRefused."""
    from cloudgate.cloudstack.client import CloudStackClient

    return CloudStackClient.for_target(loaded_target)


@pytest.fixture
def cloudstack_rw(request: pytest.FixtureRequest, loaded_target: LoadedTarget) -> Iterator[Tracker]:
    """A mutating client, only for tests marked destructive in a destructive run.

    Yields a Tracker on the run ledger: write each resource there before creating it
    (`tracker.creating(kind, name)` / `intend`); at teardown — after a failure or Ctrl-C too (pytest
    tears fixtures down at session finish after a KeyboardInterrupt) — creations still in flight
    are waited for and every entry is undone, newest first. A failed undo makes the test error,
    naming what was left behind; the entry stays pending for the session's safety net and the janitor.
    """
    if request.node.get_closest_marker("destructive") is None:
        pytest.fail("cloudstack_rw used by a test not marked destructive", pytrace=False)
    refusal = destructive_refusal(request.config)
    if refusal:
        pytest.skip(refusal)
    from cloudgate.cloudstack.client import CloudStackClient
    from cloudgate.tracker import Tracker
    from cloudgate.undo import Undoer

    client = CloudStackClient.for_target(loaded_target, allow_mutations=True)
    run = _run_tag()
    tracker = Tracker(
        client, run_tag=run, ledger=Ledger(run_ledger_path(), run=run, target=loaded_target.target.name,
                      endpoint=loaded_target.target.cloudstack.endpoint),
        undoer=Undoer(client, loaded_target.target).undo, scope=f"{request.node.nodeid} {uuid.uuid4().hex[:8]}",
    )
    yield tracker
    problems = tracker.cleanup()
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture
def drill_context(request: pytest.FixtureRequest, loaded_target: LoadedTarget):  # noqa: ANN201 - FaultContext
    """What a failover drill breaks the cloud with: a mutating client, the run ledger and its undoer.

    Only for tests marked destructive in a destructive run (so never on production). Every fault
    writes its heal to the ledger before it is injected; whatever the drill's own heal left pending
    is healed again here, after a failure or Ctrl-C too, and what still cannot be restored errors
    the test naming it (the entry stays for the session's safety net and the janitor)."""
    if request.node.get_closest_marker("destructive") is None:
        pytest.fail("drill_context used by a test not marked destructive", pytrace=False)
    refusal = destructive_refusal(request.config)
    if refusal:
        pytest.skip(refusal)
    from cloudgate.cloudstack.client import CloudStackClient
    from cloudgate.drills.nemesis import FaultContext
    from cloudgate.undo import Undoer, UndoError

    target = loaded_target.target
    client = CloudStackClient.for_target(loaded_target, allow_mutations=True)
    ledger = Ledger(run_ledger_path(), run=current_run_id(), target=target.name, endpoint=target.cloudstack.endpoint)
    ctx = FaultContext(client, target, ledger, Undoer(client, target), scope=f"{request.node.nodeid} {uuid.uuid4().hex[:8]}",
                       job_timeout=target.cloudstack.job_timeout_seconds)
    yield ctx
    problems = []
    for entry in reversed(ledger_pending_of(ledger, ctx.scope)):
        try:
            ledger.undone(entry, ctx.undoer.undo(entry))
        except UndoError as exc:
            problems.append(str(exc))
    if problems:
        pytest.fail("left broken after the drill: " + "; ".join(problems), pytrace=False)


def ledger_pending_of(ledger: Ledger, scope: str) -> list[Entry]:
    """The entries of one test (its scope) still pending in the run ledger, in the order written."""
    return [e for e in ledger_pending(ledger_read(ledger.path)) if e.scope == scope]


def _run_tag() -> str:
    return current_run_id()


@pytest.fixture(scope="session")
def host_pool(loaded_target: LoadedTarget) -> Iterator[HostPool]:
    from cloudgate.ssh.hosts import HostPool, SshSettings

    pool = HostPool(SshSettings.from_target(loaded_target.target))
    yield pool
    pool.close()


def _ssh(host_pool: HostPool, ip: str, label: str):  # noqa: ANN202 - testinfra Host
    try:
        return host_pool.get(ip)
    except HostUnreachable as exc:
        problem = f"{label}: SSH unreachable: {exc}"
    pytest.fail(problem, pytrace=False)  # outside the except block: no chained traceback


@pytest.fixture
def hypervisor_host(hypervisor: HostRecord, host_pool: HostPool):  # noqa: ANN201 - testinfra Host
    """testinfra Host for the parametrized hypervisor; an unreachable host fails in one line."""
    if hypervisor.in_maintenance:
        pytest.skip(f"{NOT_APPLICABLE}{hypervisor.name} is in {hypervisor.resourcestate}")
    return _ssh(host_pool, hypervisor.ip, hypervisor.name)


@pytest.fixture
def cassandra_host(cassandra_node: CassandraNode, host_pool: HostPool):  # noqa: ANN201 - testinfra Host
    """testinfra Host for the Cassandra VM of the parametrized node."""
    return _ssh(host_pool, cassandra_node.address, str(cassandra_node))


def _probes(config: pytest.Config) -> dict[str, Probe | str]:
    """Each role's probe (or why it cannot be built: a bad baseline), built once per process."""
    cached = config.stash.get(PROBES_KEY, None)
    if cached is not None:
        return cached
    from cloudgate.hypervisor.baselines import load_hypervisor_baseline
    from cloudgate.roles import cassandra_node_probe, hypervisor_probe
    from cloudgate.target import TargetError

    probes: dict[str, Probe | str] = {}
    loaded = loaded_target_of(config)
    if loaded is not None:
        try:
            probes["hypervisor"] = hypervisor_probe(load_hypervisor_baseline(loaded))
        except TargetError as exc:
            probes["hypervisor"] = str(exc)
        if loaded.target.cassandra is not None:
            probes["cassandra_node"] = cassandra_node_probe(loaded.target.cassandra.node_settings)
    config.stash[PROBES_KEY] = probes
    return probes


def _probe(config: pytest.Config, role: str) -> Probe:
    probe = _probes(config).get(role)
    if probe is None or isinstance(probe, str):
        problem = probe or f"no {role} probe for this target"
    else:
        return probe
    pytest.fail(problem, pytrace=False)


def _my_items(session: pytest.Session) -> list[pytest.Item]:
    """The items this process runs: all of them, or under cloudgate's xdist scheduler its share."""
    config = session.config
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return list(session.items)
    if config.getvalue("dist") != "load":  # another scheduler: shares unknown, gather each host on demand
        return []
    from cloudgate.shards import assign, worker_index

    shares = int(workerinput["workercount"]) + max(0, int(config.getoption("absent_shares", 0) or 0))
    mine = worker_index(str(workerinput["workerid"]))
    items = list(session.items)
    return [item for item, share in zip(items, assign([i.nodeid for i in items], shares), strict=True) if share == mine]


def _prefetch(request: pytest.FixtureRequest, pool: HostPool) -> None:
    """At this process's first host check: start gathering every host of its share, in run order."""
    if getattr(pool, "cloudgate_prefetched", False):
        return
    pool.cloudgate_prefetched = True  # type: ignore[attr-defined]
    from cloudgate.estate import CassandraNode, HostRecord

    probes = _probes(request.config)
    wanted: list[tuple[str, Probe, str]] = []
    seen: set[tuple[str, str]] = set()
    for item in _my_items(request.session):
        params = getattr(getattr(item, "callspec", None), "params", {})
        host, node = params.get("hypervisor"), params.get("cassandra_node")
        if isinstance(host, HostRecord) and not host.in_maintenance and "hypervisor_facts" in item.fixturenames:
            entry = (host.ip, probes.get("hypervisor"), host.name)
        elif isinstance(node, CassandraNode) and "cassandra_facts" in item.fixturenames:
            entry = (node.address, probes.get("cassandra_node"), str(node))
        else:
            continue
        ip, probe, label = entry
        if probe is None or isinstance(probe, str) or (ip, probe.role) in seen:
            continue
        seen.add((ip, probe.role))
        wanted.append((ip, probe, label))
    loaded = loaded_target_of(request.config)
    pool.prefetch(wanted, loaded.target.ssh.fanout_workers if loaded is not None else 8)


def _facts(request: pytest.FixtureRequest, pool: HostPool, role: str, ip: str, label: str) -> HostFacts:
    probe = _probe(request.config, role)
    _prefetch(request, pool)
    try:
        return pool.facts(ip, probe, label)
    except HostUnreachable as exc:
        problem = f"{label}: SSH unreachable: {exc}"
    pytest.fail(problem, pytrace=False)  # outside the except block: no chained traceback


@pytest.fixture
def hypervisor_facts(request: pytest.FixtureRequest, hypervisor: HostRecord, host_pool: HostPool) -> HostFacts:
    """What the hypervisor checks read, gathered once for this host (cloudgate.roles.hypervisor_probe).

    A host in maintenance is not applicable; a dead or hung one fails every check of it with the
    same one line, after one timeout."""
    if hypervisor.in_maintenance:
        pytest.skip(f"{NOT_APPLICABLE}{hypervisor.name} is in {hypervisor.resourcestate}")
    return _facts(request, host_pool, "hypervisor", hypervisor.ip, hypervisor.name)


@pytest.fixture
def cassandra_facts(request: pytest.FixtureRequest, cassandra_node: CassandraNode, host_pool: HostPool) -> HostFacts:
    """What the Cassandra node checks read, gathered once for this node's VM."""
    return _facts(request, host_pool, "cassandra_node", cassandra_node.address, str(cassandra_node))


# --------------------------------------------------------------------------- artifacts and figures
@pytest.fixture(scope="session")
def run_dir(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where checks write artifacts (plots, histograms): the run's report dir, or a temp dir."""
    return _run_dir(pytestconfig) or shared_run_dir() or tmp_path_factory.mktemp("cloudgate-artifacts")


@pytest.fixture
def metric(request: pytest.FixtureRequest) -> Iterator[object]:
    """Record a measured figure: metric(name, value, unit, threshold=None, better="lower").

    The one way a test writes a figure to metrics.json; returns the judged Metric so the test can
    assert on its verdict with a message that quotes the figure.
    """
    from cloudgate.report.metrics import USER_PROPERTY, Metric

    def record(name: str, value: float, unit: str, threshold: float | None = None, better: Better = "lower") -> Metric:
        m = Metric.measure(name, value, unit, threshold, better, test=request.node.nodeid)
        request.node.user_properties.append((USER_PROPERTY, m.model_dump_json()))
        return m

    yield record
