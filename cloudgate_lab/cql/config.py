"""The cluster file: one JSON document describing every node, shared by all node processes.

Every node reads the same file, so tokens, host ids and the topology are derived, never
negotiated: tokens come from ``seed`` and the node name (``num_tokens`` vnodes each) unless a
node lists ``tokens`` explicitly, and host ids are uuid5(seed, name).

Example::

    {"cluster_name": "cloudgate-lab", "seed": "cloudgate", "num_tokens": 16,
     "nodes": [{"name": "n1", "address": "127.0.0.11", "native_port": 9042,
                "internode_port": 7000, "dc": "dc1", "rack": "rack1",
                "data_dir": "/var/lib/cloudgate/n1"}, ...]}
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from .ring import derive_tokens

DEFAULTS: dict[str, Any] = {
    "cluster_name": "cloudgate-lab",
    "seed": "cloudgate",
    "num_tokens": 16,
    "release_version": "4.1.4",  # what cqlsh 6.1.x was built against: no version warning
    "cql_version": "3.4.6",
    "write_request_timeout_ms": 2000,
    "read_request_timeout_ms": 5000,
    "commitlog_sync": "periodic",
    "commitlog_sync_period_ms": 1000,
    "heartbeat_interval_ms": 200,
    "failure_timeout_ms": 1000,
    "hint_replay_interval_ms": 500,
    "control_poll_ms": 100,
}


@dataclass(frozen=True)
class NodeConfig:
    name: str
    address: str
    dc: str
    rack: str
    data_dir: str
    native_port: int = 9042
    internode_port: int = 7000
    tokens: tuple[int, ...] = ()
    host_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass
class ClusterConfig:
    path: str
    settings: dict[str, Any]
    nodes: dict[str, NodeConfig]

    def __getattr__(self, item: str) -> Any:
        try:
            return self.settings[item]
        except KeyError:
            raise AttributeError(item) from None

    @property
    def datacenters(self) -> set[str]:
        return {n.dc for n in self.nodes.values()}

    def node(self, name: str) -> NodeConfig:
        try:
            return self.nodes[name]
        except KeyError:
            raise KeyError(f"node {name!r} is not in cluster file {self.path}") from None


def _check_address(addr: str) -> None:
    ip = ipaddress.ip_address(addr)
    allowed = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("198.18.0.0/15")]
    if not any(ip in net for net in allowed):
        raise ValueError(f"address {addr} is outside the lab ranges 127.0.0.0/8 and 198.18.0.0/15")


def load(path: str) -> ClusterConfig:
    with open(path) as f:
        raw = json.load(f)
    return parse(raw, path)


def parse(raw: dict[str, Any], path: str = "<memory>") -> ClusterConfig:
    settings = dict(DEFAULTS)
    settings.update({k: v for k, v in raw.items() if k != "nodes"})
    nodes: dict[str, NodeConfig] = {}
    seed = str(settings["seed"])
    for n in raw["nodes"]:
        name = n["name"]
        if name in nodes:
            raise ValueError(f"duplicate node name {name}")
        _check_address(n["address"])
        tokens = tuple(int(t) for t in n.get("tokens") or derive_tokens(seed, name, int(settings["num_tokens"])))
        host_id = uuid.UUID(n["host_id"]) if n.get("host_id") else uuid.uuid5(uuid.NAMESPACE_DNS, f"{seed}.{name}")
        nodes[name] = NodeConfig(
            name=name,
            address=n["address"],
            dc=n.get("dc", "dc1"),
            rack=n.get("rack", "rack1"),
            data_dir=n["data_dir"],
            native_port=int(n.get("native_port", 9042)),
            internode_port=int(n.get("internode_port", 7000)),
            tokens=tokens,
            host_id=host_id,
        )
    if not nodes:
        raise ValueError("cluster file lists no nodes")
    return ClusterConfig(path, settings, nodes)
