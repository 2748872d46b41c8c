"""Fixtures of the front tier: its datacenters and haproxy nodes as parameters, their facts, the load.

The front tier is described by the target's `frontends` section, not discovered: a datacenter's
checks are parametrized by the section's datacenters (test id = the datacenter), a haproxy node's by
its address. Without the section every front check is *not applicable*, with the reason. What the
front VMs are comes from CloudStack (the estate snapshot, through the section's selector).

The front-door load (an open-loop client through each VIP, per service) runs once per datacenter
and run, at the first check that reads it; the per-VM status pages are read just before and just
after it, so the saturation check judges what happened under that load.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from cloudgate.errors import HostUnreachable
from cloudgate.plugin.state import NOT_APPLICABLE, loaded_target_of

if TYPE_CHECKING:
    from cloudgate.frontends.httpprobe import ProbeResult
    from cloudgate.ssh.gather import HostFacts
    from cloudgate.ssh.hosts import HostPool
    from cloudgate.target import Datacenter, FrontDatacenter, FrontendsSection

LOADS_KEY = pytest.StashKey["dict[str, FrontDoorLoad]"]()
LOADS_LOCK = threading.Lock()


@dataclass(frozen=True)
class FrontDc:
    """One datacenter's front door, as the target file declares it."""

    name: str
    datacenter: Datacenter
    door: FrontDatacenter

    def __str__(self) -> str:
        return f"front door {self.name} ({self.door.vip})"


@dataclass(frozen=True)
class HaproxyNode:
    dc: str
    address: str

    def __str__(self) -> str:
        return f"haproxy node {self.address} ({self.dc})"


@dataclass
class FrontDoorLoad:
    """What the open-loop client measured through one VIP, per service, with the VMs' status around it."""

    results: dict[str, ProbeResult] = field(default_factory=dict)  # service -> result
    problems: dict[str, str] = field(default_factory=dict)  # service -> why it could not run
    status_before: dict[str, dict[str, str]] = field(default_factory=dict)  # vm ip -> page -> text
    status_after: dict[str, dict[str, str]] = field(default_factory=dict)


def _section(config: pytest.Config) -> FrontendsSection | str:
    loaded = loaded_target_of(config)
    if loaded is None:
        return f"{NOT_APPLICABLE}no --target given"
    if loaded.target.frontends is None:
        return f"{NOT_APPLICABLE}{loaded.target.name} has no frontends section"
    return loaded.target.frontends


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`front_dc` by the section's datacenters, `haproxy_node` by their haproxy addresses."""
    wanted = [n for n in ("front_dc", "haproxy_node") if n in metafunc.fixturenames]
    if not wanted:
        return
    section = _section(metafunc.config)
    for name in wanted:
        if isinstance(section, str):
            metafunc.parametrize(name, [section], ids=["frontends"], indirect=True)
            continue
        loaded = loaded_target_of(metafunc.config)
        assert loaded is not None
        dcs = {d.name: d for d in loaded.target.datacenters}
        if name == "front_dc":
            values: list[object] = [FrontDc(dc, dcs[dc], door) for dc, door in section.datacenters.items()]
            ids = list(section.datacenters)
        else:
            values = [HaproxyNode(dc, a) for dc, door in section.datacenters.items() for a in door.haproxy]
            ids = [v.address for v in values]  # type: ignore[attr-defined]
        metafunc.parametrize(name, values, ids=ids, indirect=True)


def _param(request: pytest.FixtureRequest) -> Any:
    value = request.param
    if isinstance(value, str):
        pytest.skip(value)
    return value


@pytest.fixture
def front_dc(request: pytest.FixtureRequest) -> FrontDc:
    """One datacenter's front door (parametrized by the target's frontends section)."""
    return _param(request)


@pytest.fixture
def haproxy_node(request: pytest.FixtureRequest) -> HaproxyNode:
    """One haproxy node (parametrized by the target's frontends section)."""
    return _param(request)


@pytest.fixture(scope="session")
def frontends(pytestconfig: pytest.Config) -> FrontendsSection:
    section = _section(pytestconfig)
    if isinstance(section, str):
        pytest.skip(section)
    return section


def node_facts(pool: HostPool, section: FrontendsSection, address: str, label: str) -> HostFacts:
    """A haproxy node's facts (cloudgate.roles.haproxy_node_probe), gathered once per run."""
    from cloudgate.roles import haproxy_node_probe

    try:
        return pool.facts(address, haproxy_node_probe(section.haproxy), label)
    except HostUnreachable as exc:
        problem = f"{label}: SSH unreachable: {exc}"
    pytest.fail(problem, pytrace=False)  # outside the except block: no chained traceback


@pytest.fixture
def haproxy_facts(haproxy_node: HaproxyNode, frontends: FrontendsSection, host_pool: HostPool) -> HostFacts:
    return node_facts(host_pool, frontends, haproxy_node.address, str(haproxy_node))


def _status_pages(section: FrontendsSection, ips: list[str]) -> dict[str, dict[str, str]]:
    """Each web VM's Apache and PHP-FPM status text ("" when unreadable: the saturation check says why)."""
    from cloudgate.frontends.httpprobe import HttpProbeError, get_once

    pages = {"apache": section.status.apache and f"{section.status.apache}?auto",
             "fpm": section.status.fpm}
    port = section.services[0].port
    out: dict[str, dict[str, str]] = {}
    for ip in ips:
        out[ip] = {}
        for name, path in pages.items():
            if not path:
                continue
            try:
                out[ip][name] = get_once(f"http://{ip}:{port}{path}", timeout=5.0).text
            except HttpProbeError:
                out[ip][name] = ""
    return out


def _one_load(door_vip: str, section: FrontendsSection, web_ips: list[str]) -> FrontDoorLoad:
    from concurrent.futures import ThreadPoolExecutor

    from cloudgate.frontends.httpprobe import run_probe

    load = FrontDoorLoad()
    load.status_before = _status_pages(section, web_ips)
    probe = section.probe
    with ThreadPoolExecutor(max_workers=len(section.services)) as pool:
        futures = {
            s.name: pool.submit(run_probe, f"http://{door_vip}{s.probe_path}", probe.rate_per_second,
                                probe.seconds, probe.timeout_seconds, probe.max_in_flight)
            for s in section.services
        }
        for name, future in futures.items():
            try:
                load.results[name] = future.result()
            except Exception as exc:  # noqa: BLE001 - one line for the checks that read it
                load.problems[name] = f"{type(exc).__name__}: {exc}"
    load.status_after = _status_pages(section, web_ips)
    return load


def front_door_load(config: pytest.Config, dc: str, section: FrontendsSection,
                    web_ips_by_dc: dict[str, list[str]]) -> FrontDoorLoad:
    """The open-loop load through every datacenter's VIP, every service at once, once per run (the
    first check that reads it pays `probe.seconds` for all of them); this datacenter's part."""
    from concurrent.futures import ThreadPoolExecutor

    with LOADS_LOCK:
        loads = config.stash.setdefault(LOADS_KEY, {})
        if not loads:
            with ThreadPoolExecutor(max_workers=max(1, len(section.datacenters))) as pool:
                futures = {name: pool.submit(_one_load, door.vip, section, web_ips_by_dc.get(name, []))
                           for name, door in section.datacenters.items()}
                loads.update({name: f.result() for name, f in futures.items()})
        return loads[dc]
