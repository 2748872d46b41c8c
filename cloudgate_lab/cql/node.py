"""One emulated Cassandra node: ``python -m cloudgate_lab.cql.node --config CLUSTER.json --name NODE``.

Wires the modules together: storage (commit log + memtables + hints), schema, ring, the
internode messenger (heartbeats, replica traffic, schema push/pull), the coordinator, the
native protocol server and the fault/control-file poller (see faults.py).

Options:
  --listen-address A   bind native and internode sockets on A instead of the node's
                       configured address (which is still what peers and clients are told)
  --exit-with-parent   exit when the launching process dies (no orphans after a crashed test)

Process tuning (tuning.py): uvloop when installed, SCHED_FIFO priority 1 when permitted
(``CLOUDGATE_CQL_SCHED=none|nice|fifo``), frozen GC after replay.

SIGTERM/SIGINT stop the node cleanly (commit log fsynced); SIGKILL loses nothing
acknowledged either, because every write reached the log before its ack.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
import uuid
from typing import Any

from . import codec, internode, tuning
from . import config as cfgmod
from . import faults as faultmod
from .coordinator import Coordinator, Slice
from .describe import Describer
from .executor import Executor, schema_change_body
from .metrics import LatencyMetrics
from .ring import Endpoint, Ring
from .schema import Change, Schema
from .server import NativeServer
from .storage import HintStore, Mutation, Store, decode_record
from .virtual import SystemTables
from .wire import Writer

log = logging.getLogger("cloudgate_lab.cql.node")


class Node:
    def __init__(self, config: cfgmod.ClusterConfig, name: str, listen_address: str | None = None) -> None:
        self.config = config
        self.me = config.node(name)
        self.peers = [n for n in config.nodes.values() if n.name != name]
        self.listen = listen_address or self.me.address
        self.generation = int(time.time())
        os.makedirs(self.me.data_dir, exist_ok=True)
        self.endpoints = {n.name: Endpoint(n.name, n.dc, n.rack) for n in config.nodes.values()}
        self.ring = Ring({n.name: list(n.tokens) for n in config.nodes.values()}, self.endpoints)
        self.schema = Schema(os.path.join(self.me.data_dir, "schema.json"), config.datacenters)
        self.store = Store(self.me.data_dir, config.commitlog_sync, float(config.commitlog_sync_period_ms))
        self.hints = HintStore(self.me.data_dir)
        self.metrics = LatencyMetrics()
        self.faults: dict[str, Any] = dict(faultmod.FAULT_KEYS)
        self.peer_schema: dict[str, uuid.UUID | None] = {p.name: None for p in self.peers}
        self._seen_path = os.path.join(self.me.data_dir, "seen_peers.json")
        self.seen_peers: set[str] = set()
        if os.path.exists(self._seen_path):
            with open(self._seen_path) as f:
                self.seen_peers = set(json.load(f))
        self.messenger = internode.Messenger(
            self.me, self.peers, self.handle_internode, self.on_peer_state, self.ping_payload, self.on_pong,
            config.heartbeat_interval_ms / 1000.0, config.failure_timeout_ms / 1000.0, self.listen,
        )
        self.coordinator = Coordinator(
            self.endpoints[name], self.ring, self.schema, self.store, self.hints, self.messenger, self.metrics,
            self.faults, config.write_request_timeout_ms / 1000.0, config.read_request_timeout_ms / 1000.0,
        )
        self.system = SystemTables(self)
        self.executor = Executor(self.schema, self.coordinator, self.metrics, self.system,
                                 Describer(self.schema, self.ring, config), self.schema_changed)
        self.server: NativeServer | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._pulling: dict[str, float] = {}
        self._control_mtime = 0.0
        self._reset_seen = None
        self.stopped = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        n = self.store.open(lambda tid: tid in self.schema.by_id)
        tuning.tune_gc()  # after replay: freeze what it built (see tuning.py)
        log.info("node %s replayed %d records; schema %s", self.me.name, n, self.schema.version)
        self.apply_control(initial=True)
        await self.messenger.start()
        self.server = NativeServer(self.executor, self.metrics, self.config.cql_version, self.listen,
                                   self.me.native_port)
        if self.faults.get("refuse_clients"):
            self.server.refusing = True
        else:
            await self.server.start()
        self._tasks.append(asyncio.create_task(self.coordinator.hint_dispatcher(self.config.hint_replay_interval_ms / 1000.0)))
        self._tasks.append(asyncio.create_task(self._control_loop()))
        with open(os.path.join(self.me.data_dir, "node.pid"), "w") as f:
            f.write(str(os.getpid()))
        self.write_status()
        log.info("node %s listening on %s:%d (native) and :%d (internode); %s loop", self.me.name, self.listen,
                 self.me.native_port, self.me.internode_port, tuning.loop_name())

    async def stop(self) -> None:
        """Clean shutdown (SIGTERM): clients and peers see their connections closed (FIN) at once."""
        for t in self._tasks:
            t.cancel()
        if self.server:
            await self.server.stop(graceful=True)
        await self.messenger.stop()
        self.store.close()
        self.hints.close()
        self.stopped.set()

    # -- control file ---------------------------------------------------------------------------
    async def _control_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.control_poll_ms / 1000.0)
            try:
                self.apply_control()
                if self.server is not None:
                    await self.server.set_refusing(bool(self.faults.get("refuse_clients")))
            except Exception:
                log.exception("control file")

    def apply_control(self, initial: bool = False) -> None:
        path = faultmod.control_path(self.me.data_dir)
        try:
            mtime = os.stat(path).st_mtime
        except FileNotFoundError:
            return
        if mtime == self._control_mtime and not initial:
            return
        self._control_mtime = mtime
        doc = faultmod.read_control(self.me.data_dir)
        new = dict(faultmod.FAULT_KEYS)
        new.update(doc.get("faults", {}))
        if new != self.faults:
            log.info("faults now %s", new)
        self.faults.update(new)
        self.messenger.set_isolated(bool(new.get("isolate")))
        cut = set(new.get("unreachable") or ())
        self.messenger.set_unreachable(frozenset(p.name for p in self.peers if p.name in cut or p.dc in cut))
        reset = doc.get("reset_latency", 0)
        if self._reset_seen is not None and reset != self._reset_seen:
            self.metrics.reset()
        self._reset_seen = reset
        tmp = faultmod.ack_path(self.me.data_dir) + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(doc.get("generation", 0)))
        os.replace(tmp, faultmod.ack_path(self.me.data_dir))

    # -- gossip-ish callbacks -----------------------------------------------------------------------
    def ping_payload(self) -> bytes:
        return codec.encode([self.me.name, str(self.schema.version), self.generation])

    def on_pong(self, peer: str, info: Any) -> None:
        version = uuid.UUID(info[1])
        self.peer_schema[peer] = version
        if version != self.schema.version:
            self._maybe_pull(peer)

    def _maybe_pull(self, peer: str) -> None:
        now = time.monotonic()
        if now - self._pulling.get(peer, 0.0) < 1.0:
            return
        self._pulling[peer] = now
        asyncio.get_running_loop().create_task(self.sync_schema(peer))

    async def sync_schema(self, peer: str) -> None:
        try:
            raw = await self.messenger.request(peer, internode.SCHEMA_PULL, b"", 2.0)
            changes = self.schema.merge(json.loads(raw))
            if changes:
                await self.schema_changed(changes, local=False)
            if self.peer_schema.get(peer) != self.schema.version:
                resp = await self.messenger.request(peer, internode.SCHEMA_PUSH,
                                                    json.dumps(self.schema.to_json()).encode(), 2.0)
                self.peer_schema[peer] = uuid.UUID(resp.decode())
        except Exception as exc:
            log.debug("schema sync with %s failed: %r", peer, exc)

    def write_status(self) -> None:
        """``<data_dir>/status.json``: this node's live view of its peers (read by cluster.wait_ready)."""
        tmp = os.path.join(self.me.data_dir, "status.json.tmp")
        with contextlib.suppress(OSError):
            with open(tmp, "w") as f:
                json.dump({"pid": os.getpid(), "up": {p.name: self.messenger.is_alive(p.name) for p in self.peers}}, f)
            os.replace(tmp, os.path.join(self.me.data_dir, "status.json"))

    def on_peer_state(self, peer: str, up: bool) -> None:
        p = self.config.node(peer)
        self.write_status()
        if self.server is not None:
            if up and peer not in self.seen_peers:
                self.server.broadcast("TOPOLOGY_CHANGE", Writer().string("NEW_NODE").inet(p.address, p.native_port).getvalue())
            self.server.broadcast("STATUS_CHANGE", Writer().string("UP" if up else "DOWN").inet(p.address, p.native_port).getvalue())
        if up:
            if peer not in self.seen_peers:
                self.seen_peers.add(peer)
                with contextlib.suppress(OSError), open(self._seen_path, "w") as f:
                    json.dump(sorted(self.seen_peers), f)
            if self.hints.count(peer):
                asyncio.get_running_loop().create_task(self.coordinator.replay_hints(peer))

    async def schema_changed(self, changes: list[Change], local: bool) -> None:
        """Propagate (if the DDL ran here), drop data of dropped tables, notify clients."""
        for tid in list(self.store.tables):
            if tid not in self.schema.by_id:
                self.store.drop(tid)
        if local:
            doc = json.dumps(self.schema.to_json()).encode()
            live = [p.name for p in self.peers if self.messenger.is_alive(p.name)]
            results = await asyncio.gather(
                *(self.messenger.request(p, internode.SCHEMA_PUSH, doc, 2.0) for p in live), return_exceptions=True
            )
            for p, r in zip(live, results, strict=True):
                if isinstance(r, bytes):
                    self.peer_schema[p] = uuid.UUID(r.decode())
        if self.server is not None:
            for ch in changes:
                body = schema_change_body(ch)[4:]  # event body = result body without the kind
                self.server.broadcast("SCHEMA_CHANGE", body)

    # -- internode requests ---------------------------------------------------------------------
    def handle_internode(self, peer: str, mtype: int, payload: bytes) -> Any:
        if mtype == internode.PING:
            info = codec.decode(payload)
            if info[1] != str(self.schema.version) and info[0] in self.peer_schema:
                self._maybe_pull(info[0])
            return codec.encode([self.me.name, str(self.schema.version), self.generation])
        if mtype == internode.MUTATION:
            kind, m = decode_record(payload)
            assert kind == "m" and isinstance(m, Mutation)
            fut = self.coordinator.local_apply(m, payload)
            if fut is None:
                return b""
            return _then_empty(fut)
        if mtype == internode.MUTATION_BATCH:
            return self._apply_batch(codec.decode(payload))
        if mtype == internode.FORWARD:
            records, targets = codec.decode(payload)
            return self.coordinator.relay(records, targets)
        if mtype == internode.READ:
            return self._replica_read(payload)
        if mtype == internode.SCHEMA_PUSH:
            return self._schema_push(payload)
        if mtype == internode.SCHEMA_PULL:
            return json.dumps(self.schema.to_json()).encode()
        if mtype == internode.SCAN:
            tid = payload
            return codec.encode([p.to_mutation(tid, k).to_wire() for k, p in self.store.partitions(tid).items()])
        if mtype == internode.TRUNCATE:
            self.store.truncate(payload)
            return b""
        raise ValueError(f"unknown internode message {mtype}")

    def _apply_batch(self, records: list[bytes]) -> Any:
        """Coalesced mutations: one commit-log write for all, answer one ok flag per mutation."""
        res = self.coordinator.local_apply_many(records)
        if isinstance(res, list):
            return codec.encode(res)
        return _then_encode(res)

    async def _replica_read(self, payload: bytes) -> bytes:
        tid, key, slw = codec.decode(payload)
        table = self.schema.by_id.get(tid)
        if table is None:
            raise ValueError("unknown table id")
        m = await self.coordinator.local_read(table, key, Slice.from_wire(slw))
        return codec.encode(None if m is None else m.to_wire())

    async def _schema_push(self, payload: bytes) -> bytes:
        changes = self.schema.merge(json.loads(payload))
        if changes:
            await self.schema_changed(changes, local=False)
        return str(self.schema.version).encode()


async def _then_encode(fut: asyncio.Future[list[bool]]) -> bytes:
    return codec.encode(await fut)


async def _then_empty(fut: asyncio.Future[None]) -> bytes:
    await fut
    return b""


async def _watch_parent(parent: int, node: Node) -> None:
    while True:
        await asyncio.sleep(0.5)
        if os.getppid() != parent:
            log.warning("parent %d went away; stopping", parent)
            await node.stop()
            return


async def amain(args: argparse.Namespace) -> int:
    cfg = cfgmod.load(args.config)
    node = Node(cfg, args.name, args.listen_address)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)
    await node.start()
    tasks = [asyncio.create_task(stop_requested.wait()), asyncio.create_task(node.stopped.wait())]
    if args.exit_with_parent:
        tasks.append(asyncio.create_task(_watch_parent(os.getppid(), node)))
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    if not node.stopped.is_set():
        await node.stop()
    for t in tasks:
        t.cancel()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cloudgate_lab.cql.node", description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="cluster file (JSON) listing every node")
    ap.add_argument("--name", required=True, help="this node's name in the cluster file")
    ap.add_argument("--listen-address", default=None, help="bind address override (default: the node's address)")
    ap.add_argument("--exit-with-parent", action="store_true", help="exit when the launching process dies")
    ap.add_argument("--log-level", default=os.environ.get("CLOUDGATE_CQL_LOG", "INFO"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format=f"%(asctime)s {args.name} %(levelname)s %(name)s: %(message)s")
    sched = tuning.tune_scheduling()
    idle = tuning.hold_idle_polling()
    log.info("scheduling: %s, idle CPUs: %s", sched, idle)
    return tuning.run(lambda: amain(args))


if __name__ == "__main__":
    sys.exit(main())
