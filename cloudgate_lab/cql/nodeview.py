"""The node as the parts it wires see it: protocols that node.Node implements.

node.py builds a node from every other module (storage, schema, ring, messenger, coordinator, system
tables, executor, native server), so it imports them all; none of them may import it back (a cycle,
refused by the importlinter contracts in pyproject.toml). A part that needs the node itself, not just
one of its collaborators, is typed against a protocol here, written against the lower modules only,
and the node passes itself (or its bound method) in. The others get their collaborators one by one
(``Describer(schema, ring, config)``, ``Executor(schema, coordinator, ...)``, ``NativeServer(executor, ...)``).
Members are read-only properties: a part reads the node's state, it never replaces it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any, Protocol

from .config import ClusterConfig, NodeConfig
from .internode import Messenger
from .metrics import LatencyMetrics
from .schema import Change, Schema
from .storage import HintStore, Store


class Client(Protocol):
    """One client connection, as system_views.clients lists it (server.ClientConnection)."""

    def info(self) -> dict[str, Any]: ...


class Clients(Protocol):
    """The native server's open connections (server.NativeServer)."""

    @property
    def connections(self) -> Collection[Client]: ...


class NodeView(Protocol):
    """What the system tables (virtual.SystemTables) read of their node."""

    @property
    def config(self) -> ClusterConfig: ...

    @property
    def me(self) -> NodeConfig: ...

    @property
    def peers(self) -> list[NodeConfig]: ...

    @property
    def generation(self) -> int: ...

    @property
    def schema(self) -> Schema: ...

    @property
    def peer_schema(self) -> dict[str, uuid.UUID | None]: ...  # peer -> the schema version it last told us

    @property
    def store(self) -> Store: ...

    @property
    def hints(self) -> HintStore: ...

    @property
    def messenger(self) -> Messenger: ...

    @property
    def metrics(self) -> LatencyMetrics: ...

    @property
    def server(self) -> Clients | None: ...  # None until the node has started its native server


class SchemaChanged(Protocol):
    """Node.schema_changed: after a DDL ran here (local=True), push the schema to peers and notify clients."""

    async def __call__(self, changes: list[Change], local: bool) -> None: ...
