"""Coordinator: fan writes and reads out to replicas and wait for the consistency level.

Writes go to every replica at once (the coordinator applies its own copy locally); the client
is answered as soon as the acks *that count for the CL* arrive (LOCAL_* counts only the
coordinator's DC, EACH_QUORUM a quorum in every DC). Replicas known DOWN get a hint right
away, replicas that fail or time out get one afterwards; hints are replayed when the replica
answers heartbeats again. Unavailable is raised before sending anything when too few
relevant replicas are alive, WriteTimeout/ReadTimeout when they are alive but too slow.
For LOCAL_* writes the remote-DC copies leave right after the client's answer, one FORWARD per
remote DC to a replica there that relays to the others (Cassandra's cross-DC forwarding).

Reads ask the minimum number of replicas (the coordinator itself first when it is one),
fall back to spare replicas on error, merge by last-write-wins and, for QUORUM-class reads,
write the merged result back to replicas that answered stale data (blocking read repair, as
Cassandra 4 does) before answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import codec, internode
from .errors import InvalidRequest, ReadTimeout, Unavailable, WriteTimeout
from .metrics import LatencyMetrics
from .ring import Endpoint, Ring, replication_factor, token_of
from .schema import KeyspaceDef, Schema, TableDef
from .storage import HintStore, Mutation, Partition, Store

log = logging.getLogger(__name__)

ANY, ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM, SERIAL, LOCAL_SERIAL, LOCAL_ONE = range(11)
CL_NAMES = {
    ANY: "ANY", ONE: "ONE", TWO: "TWO", THREE: "THREE", QUORUM: "QUORUM", ALL: "ALL", LOCAL_QUORUM: "LOCAL_QUORUM",
    EACH_QUORUM: "EACH_QUORUM", SERIAL: "SERIAL", LOCAL_SERIAL: "LOCAL_SERIAL", LOCAL_ONE: "LOCAL_ONE",
}
REPAIRING = {QUORUM, LOCAL_QUORUM, ALL}


@dataclass(slots=True)
class Need:
    """``count`` acks required among ``candidates`` (one entry per DC for EACH_QUORUM)."""

    dc: str | None
    count: int
    candidates: tuple[Endpoint, ...]


@dataclass(slots=True)
class Slice:
    """Clustering restriction: equality prefix, then optional bounds on the next column."""

    prefix: tuple[bytes, ...] = ()
    lower: tuple[bytes, bool] | None = None
    upper: tuple[bytes, bool] | None = None

    def to_wire(self) -> list:
        return [list(self.prefix), list(self.lower) if self.lower else None, list(self.upper) if self.upper else None]

    @classmethod
    def from_wire(cls, w: list) -> Slice:
        p, lo, hi = w
        return cls(tuple(p), tuple(lo) if lo else None, tuple(hi) if hi else None)  # type: ignore[arg-type]


def requirements(cl: int, ks: KeyspaceDef, replicas: tuple[Endpoint, ...], local_dc: str, write: bool) -> list[Need]:
    repl = ks.replication
    if cl in (SERIAL, LOCAL_SERIAL):
        if write:
            raise InvalidRequest("You must use conditional updates for serializable writes")
        cl = QUORUM if cl == SERIAL else LOCAL_QUORUM
    if cl == ANY:
        if not write:
            raise InvalidRequest("ANY ConsistencyLevel is only supported for writes")
        return [Need(None, 1, replicas)]
    if cl in (ONE, TWO, THREE):
        return [Need(None, {ONE: 1, TWO: 2, THREE: 3}[cl], replicas)]
    if cl == QUORUM:
        return [Need(None, replication_factor(repl) // 2 + 1, replicas)]
    if cl == ALL:
        return [Need(None, len(replicas), replicas)]
    local = tuple(r for r in replicas if r.dc == local_dc)
    if cl == LOCAL_ONE:
        return [Need(local_dc, 1, local)]
    if cl == LOCAL_QUORUM:
        return [Need(local_dc, replication_factor(repl, local_dc) // 2 + 1, local)]
    if cl == EACH_QUORUM:
        if not write:
            raise InvalidRequest("EACH_QUORUM ConsistencyLevel is only supported for writes")
        dcs = sorted({r.dc for r in replicas})
        return [Need(dc, replication_factor(repl, dc) // 2 + 1, tuple(r for r in replicas if r.dc == dc)) for dc in dcs]
    raise InvalidRequest(f"Unknown consistency level {cl}")


class _WriteTracker:
    """Counts acks per requirement; resolves ``fut`` when every requirement is met."""

    __slots__ = ("needs", "got", "fut")

    def __init__(self, needs: list[Need], fut: asyncio.Future[None]) -> None:
        self.needs = needs
        self.got = [0] * len(needs)
        self.fut = fut
        if all(n.count <= 0 for n in needs):
            fut.set_result(None)

    def ack(self, ep: Endpoint) -> None:
        for i, n in enumerate(self.needs):
            if ep in n.candidates:
                self.got[i] += 1
        if not self.fut.done() and all(g >= n.count for g, n in zip(self.got, self.needs, strict=True)):
            self.fut.set_result(None)

    def received(self) -> int:
        return sum(min(g, n.count) for g, n in zip(self.got, self.needs, strict=True))

    def block_for(self) -> int:
        return sum(n.count for n in self.needs)


def slice_partition(table: TableDef, p: Partition | None, sl: Slice, table_id: bytes, key: bytes) -> Mutation | None:
    """The part of a partition a read asks for, tombstones included (needed to merge replicas)."""
    if p is None:
        return None
    keep: Callable[[tuple[bytes, ...]], bool] | None = None
    if sl.prefix or sl.lower or sl.upper:
        n = len(sl.prefix)
        col = table.clustering[n].type if n < len(table.clustering) else None
        lo = (col.sort_key(sl.lower[0]), sl.lower[1]) if sl.lower and col else None
        hi = (col.sort_key(sl.upper[0]), sl.upper[1]) if sl.upper and col else None

        def keep(ck: tuple[bytes, ...]) -> bool:
            if ck[:n] != sl.prefix:
                return False
            if col is None or (lo is None and hi is None):
                return True
            k = col.sort_key(ck[n])
            if lo is not None and (k < lo[0] or (k == lo[0] and not lo[1])):
                return False
            return not (hi is not None and (k > hi[0] or (k == hi[0] and not hi[1])))

    return p.to_mutation(table_id, key, keep)


def _canonical(m: Mutation | None) -> bytes:
    if m is None:
        return b""
    rows = sorted(
        ([list(r.clustering), r.deleted, r.marker, sorted([n, ts, v] for n, (ts, v) in r.cells.items())] for r in m.rows),
        key=lambda r: r[0],
    )
    return codec.encode([m.deleted, rows])


class Coordinator:
    def __init__(
        self,
        me: Endpoint,
        ring: Ring,
        schema: Schema,
        store: Store,
        hints: HintStore,
        messenger: internode.Messenger,
        metrics: LatencyMetrics,
        faults: dict,
        write_timeout_s: float,
        read_timeout_s: float,
    ) -> None:
        self.me = me
        self.ring = ring
        self.schema = schema
        self.store = store
        self.hints = hints
        self.messenger = messenger
        self.metrics = metrics
        self.faults = faults
        self.write_timeout = write_timeout_s
        self.read_timeout = read_timeout_s
        self._replaying: set[str] = set()
        self._coalesce: dict[str, list[tuple[bytes, _WriteTracker, list[Endpoint]]]] = {}
        #: extra outbound coalescing window for remote-DC copies of LOCAL_* writes (Cassandra's
        #: otc_coalescing_window_us idea). 0 = flush at the end of the current loop iteration: a
        #: timer would wake the process once more per write at this rate (one write every ~6 ms
        #: per coordinator) while coalescing next to nothing.
        self.coalesce_window_s = 0.0

    # -- local replica operations (also used by the internode handler) -----------------------------
    def local_apply(self, m: Mutation, encoded: bytes) -> asyncio.Future[None] | None:
        """Apply on this replica; returns a future only when a write delay fault is set."""
        delay = float(self.faults.get("write_delay_ms") or 0.0)
        t0 = time.perf_counter()
        table = self.schema.by_id.get(m.table_id)
        if table is None:
            raise InvalidRequest("unknown table id (schema not yet propagated?)")
        if delay <= 0:
            self.store.apply(m, encoded)
            self.metrics.record("local_write", table.keyspace, table.name, (time.perf_counter() - t0) * 1e6)
            return None
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def later() -> None:
            try:
                self.store.apply(m, encoded)
            except Exception as exc:  # surface to the waiting coordinator
                fut.set_exception(exc)
                return
            self.metrics.record("local_write", table.keyspace, table.name, (time.perf_counter() - t0) * 1e6)
            fut.set_result(None)

        loop.call_later(delay / 1000.0, later)
        return fut

    def local_apply_many(self, records: list[bytes]) -> list[bool] | asyncio.Future[list[bool]]:
        """Apply encoded mutation records that arrived together (group commit: one log write);
        one ok flag per record. A future only when a write delay fault is set."""
        oks = [True] * len(records)
        if float(self.faults.get("write_delay_ms") or 0.0) > 0:
            loop = asyncio.get_running_loop()
            waits: list[asyncio.Future[None]] = []
            for i, rec in enumerate(records):
                try:
                    fut = self.local_apply(Mutation.decode(rec), rec)
                except Exception as exc:
                    log.warning("mutation failed: %r", exc)
                    oks[i] = False
                else:
                    if fut is not None:
                        fut.add_done_callback(lambda f, i=i: oks.__setitem__(i, oks[i] and f.exception() is None))
                        waits.append(fut)
            out: asyncio.Future[list[bool]] = loop.create_future()
            if not waits:
                out.set_result(oks)
            else:
                g = asyncio.gather(*waits, return_exceptions=True)
                g.add_done_callback(lambda _g: out.set_result(oks))
            return out
        t0 = time.perf_counter()
        batch: list[tuple[Mutation, bytes]] = []
        tables: set[tuple[str, str]] = set()
        for i, rec in enumerate(records):
            try:
                m = Mutation.decode(rec)
                table = self.schema.by_id.get(m.table_id)
                if table is None:
                    raise InvalidRequest("unknown table id (schema not yet propagated?)")
            except Exception as exc:
                log.warning("mutation failed: %r", exc)
                oks[i] = False
            else:
                batch.append((m, rec))
                tables.add((table.keyspace, table.name))
        if batch:
            self.store.apply_many(batch)
            us = (time.perf_counter() - t0) * 1e6
            for ks, name in tables:
                self.metrics.record("local_write", ks, name, us)
        return oks

    async def local_read(self, table: TableDef, key: bytes, sl: Slice) -> Mutation | None:
        t0 = time.perf_counter()
        delay = float(self.faults.get("read_delay_ms") or 0.0)
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)
        res = slice_partition(table, self.store.partition(table.id_bytes, key), sl, table.id_bytes, key)
        self.metrics.record("local_read", table.keyspace, table.name, (time.perf_counter() - t0) * 1e6)
        return res

    # -- writes ---------------------------------------------------------------------------------
    def replicas_for(self, ks: KeyspaceDef, key: bytes) -> tuple[Endpoint, ...]:
        return self.ring.replicas(ks.replication, token_of(key))

    def check_available(self, cl: int, needs: list[Need]) -> None:
        for n in needs:
            alive = sum(1 for r in n.candidates if self.messenger.is_alive(r.name))
            if alive < n.count:
                raise Unavailable(cl, n.count, alive, CL_NAMES.get(cl, str(cl)))

    async def write(self, ks: KeyspaceDef, mutations: list[Mutation], cl: int, write_type: str) -> None:
        """Write every mutation (one per partition) at ``cl``; raises Unavailable/WriteTimeout."""
        await self.start_write(ks, mutations, cl, write_type)

    def start_write(self, ks: KeyspaceDef, mutations: list[Mutation], cl: int, write_type: str) -> asyncio.Future[None]:
        """Synchronous half of ``write`` (no task per request): raises Unavailable at once, sends,
        and returns a future that resolves when ``cl`` is met or fails with WriteTimeout. For a
        single partition it is the mutation's own future, so a done-callback that answers the
        client runs before the deferred remote-DC copies are flushed."""
        plans = []
        for m in mutations:
            replicas = self.replicas_for(ks, m.key)
            needs = requirements(cl, ks, replicas, self.me.dc, write=True)
            if cl != ANY:
                self.check_available(cl, needs)
            plans.append((m, replicas, needs))
        loop = asyncio.get_running_loop()
        futs = [self._write_one(m, replicas, needs) for m, replicas, needs in plans]
        trackers = [t for _, t in futs]
        out: asyncio.Future[None] = futs[0][0] if len(futs) == 1 else loop.create_future()

        def expire() -> None:
            received = min(t.received() for t in trackers)
            exc = WriteTimeout(cl, received, trackers[0].block_for(), write_type, CL_NAMES.get(cl, str(cl)))
            for f, _ in futs:  # also releases the deferred remote-DC copies of each mutation
                if not f.done():
                    f.set_exception(exc)
            if not out.done():
                out.set_exception(exc)

        handle = loop.call_later(self.write_timeout, expire)
        if len(futs) == 1:
            out.add_done_callback(lambda _f: handle.cancel())
        else:
            remaining = [len(futs)]

            def one_done(f: asyncio.Future[None]) -> None:
                f.exception()  # retrieved: the error is reported through ``out``
                remaining[0] -= 1
                if remaining[0] == 0 and not out.done():
                    handle.cancel()
                    out.set_result(None)

            for f, _ in futs:
                f.add_done_callback(one_done)
        return out

    def _write_one(self, m: Mutation, replicas: tuple[Endpoint, ...], needs: list[Need]) -> tuple[asyncio.Future[None], _WriteTracker]:
        """Send to every replica. Order matters on a small shared CPU: peers first (they work in
        parallel), our own copy last. For LOCAL_* levels the remote-DC copies leave right after
        the client's answer (Cassandra sends them at once, but then the remote DC runs on other
        hardware; here it would only compete for the same cores) — still sent, still hinted."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        tracker = _WriteTracker(needs, fut)
        encoded = m.encode()
        alive = self.messenger.is_alive
        local_only = all(n.dc == self.me.dc for n in needs)
        deferred: list[Endpoint] = []
        mine: Endpoint | None = None
        for r in replicas:
            if r.name == self.me.name:
                mine = r
            elif not alive(r.name):
                self._hint(r.name, encoded)
            elif local_only and r.dc != self.me.dc:
                deferred.append(r)
            else:
                self._send(r, tracker, encoded)
        if deferred:
            fut.add_done_callback(lambda _f: self._send_all(deferred, tracker, encoded))
        if mine is not None:
            try:
                res = self.local_apply(m, encoded)
            except Exception as exc:
                log.warning("local apply failed: %r", exc)
            else:
                if res is None:
                    tracker.ack(mine)
                else:
                    res.add_done_callback(lambda f, r=mine: tracker.ack(r) if not f.exception() else None)
        if (not fut.done() and all(n.dc is None and n.count == 1 for n in needs)
                and not any(alive(r.name) for r in replicas) and self.hints_enabled()):
            fut.set_result(None)  # CL ANY: a stored hint is enough (none is stored with hints off)
        return fut, tracker

    def _send(self, r: Endpoint, tracker: _WriteTracker, encoded: bytes) -> None:
        rf = self.messenger.request(r.name, internode.MUTATION, encoded, self.write_timeout)
        rf.add_done_callback(lambda f: self._on_replica_ack(f, r, tracker, encoded))

    def _send_all(self, rs: list[Endpoint], tracker: _WriteTracker, encoded: bytes) -> None:
        """Queue remote-DC copies per DC; the first one queued schedules the flush (same loop
        iteration by default, so copies answered together travel together; no timer wake-up)."""
        loop = asyncio.get_running_loop()
        by_dc: dict[str, list[Endpoint]] = {}
        for r in rs:
            by_dc.setdefault(r.dc, []).append(r)
        for dc, targets in by_dc.items():
            q = self._coalesce.get(dc)
            if q is None:
                q = self._coalesce[dc] = []
                if self.coalesce_window_s > 0:
                    loop.call_later(self.coalesce_window_s, self._flush, dc)
                else:
                    loop.call_soon(self._flush, dc)
            q.append((encoded, tracker, targets))

    def _flush(self, dc: str) -> None:
        """One FORWARD message to one live replica of the remote DC, which applies its copies and
        relays the rest inside its DC (Cassandra's cross-DC forwarding): one message and one
        answer per DC instead of one per replica. Replicas reported failed get hints."""
        items = self._coalesce.pop(dc, [])
        if not items:
            return
        alive = self.messenger.is_alive
        relay = next((r for _, _, ts in items for r in ts if alive(r.name)), None)
        if relay is None:
            for e, _, ts in items:
                for r in ts:
                    self._hint(r.name, e)
            return
        payload = codec.encode([[e for e, _, _ in items], [[r.name for r in ts] for _, _, ts in items]])
        rf = self.messenger.request(relay.name, internode.FORWARD, payload, 2 * self.write_timeout)

        def done(f: asyncio.Future[bytes]) -> None:
            failed: list[list[str]] | None = None
            if not f.cancelled() and f.exception() is None:
                with contextlib.suppress(codec.DecodeError):
                    failed = codec.decode(f.result())
            for i, (e, tracker, ts) in enumerate(items):
                bad = set(failed[i]) if failed is not None else {r.name for r in ts}
                for r in ts:
                    if r.name in bad:
                        self._hint(r.name, e)
                    else:
                        tracker.ack(r)

        rf.add_done_callback(done)

    async def relay(self, records: list[bytes], targets: list[list[str]]) -> bytes:
        """Relay side of ``_flush``: apply our own copies (group commit), forward the others to
        their replicas (one MUTATION_BATCH per peer) and answer, per record, the targets that
        failed."""
        failed: list[list[str]] = [[] for _ in records]
        mine = [i for i, ts in enumerate(targets) if self.me.name in ts]
        per_peer: dict[str, list[int]] = {}
        for i, ts in enumerate(targets):
            for t in ts:
                if t != self.me.name:
                    per_peer.setdefault(t, []).append(i)
        sent = [(peer, idx, self.messenger.request(peer, internode.MUTATION_BATCH,
                                                   codec.encode([records[i] for i in idx]), self.write_timeout))
                for peer, idx in per_peer.items()]
        if mine:
            try:
                res = self.local_apply_many([records[i] for i in mine])
                oks = res if isinstance(res, list) else await res
            except Exception as exc:
                log.warning("relayed mutations failed: %r", exc)
                oks = [False] * len(mine)
            for i, ok in zip(mine, oks, strict=True):
                if not ok:
                    failed[i].append(self.me.name)
        for peer, idx, fut in sent:
            try:
                peer_oks = codec.decode(await fut)
            except Exception:
                peer_oks = [False] * len(idx)
            for i, ok in zip(idx, peer_oks, strict=True):
                if not ok:
                    failed[i].append(peer)
        return codec.encode(failed)

    def hints_enabled(self) -> bool:
        """False with ``hints_off`` (hinted_handoff_enabled: false) or ``disable_hints`` (nodetool disablehandoff)."""
        return not (self.faults.get("hints_off") or self.faults.get("disable_hints"))

    def _hint(self, target: str, encoded: bytes) -> None:
        if self.hints_enabled():
            self.hints.add(target, encoded)

    def _on_replica_ack(self, f: asyncio.Future[bytes], r: Endpoint, tracker: _WriteTracker, encoded: bytes) -> None:
        if f.cancelled() or f.exception() is not None:
            self._hint(r.name, encoded)
            return
        tracker.ack(r)

    # -- reads ----------------------------------------------------------------------------------
    async def read(self, ks: KeyspaceDef, table: TableDef, key: bytes, sl: Slice, cl: int) -> Partition:
        replicas = self.replicas_for(ks, key)
        needs = requirements(cl, ks, replicas, self.me.dc, write=False)
        self.check_available(cl, needs)
        order = sorted(
            (r for r in replicas if self.messenger.is_alive(r.name)),
            key=lambda r: (r.name != self.me.name, r.dc != self.me.dc),
        )
        chosen: list[Endpoint] = []
        for n in needs:
            for r in order:
                if sum(1 for c in chosen if c in n.candidates) >= n.count:
                    break
                if r in n.candidates and r not in chosen:
                    chosen.append(r)
        spares = [r for r in order if r not in chosen and any(r in n.candidates for n in needs)]
        payload = codec.encode([table.id_bytes, key, sl.to_wire()])
        responses: dict[str, Mutation | None] = {}
        block_for = sum(n.count for n in needs)

        async def ask(r: Endpoint) -> tuple[Endpoint, Mutation | None]:
            if r.name == self.me.name:
                return r, await self.local_read(table, key, sl)
            raw = await self.messenger.request(r.name, internode.READ, payload, self.read_timeout)
            w = codec.decode(raw)
            return r, None if w is None else Mutation.from_wire(w)

        pending = {asyncio.ensure_future(ask(r)) for r in chosen}
        deadline = time.monotonic() + self.read_timeout
        try:
            while pending:
                done, pending = await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()),
                                                   return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    raise ReadTimeout(cl, len(responses), block_for, bool(responses), CL_NAMES.get(cl, str(cl)))
                for d in done:
                    try:
                        r, data = d.result()
                        responses[r.name] = data
                    except Exception as exc:
                        log.debug("replica read failed: %r", exc)
                        if spares:
                            pending.add(asyncio.ensure_future(ask(spares.pop(0))))
            if len(responses) < len(chosen) and len(responses) < block_for:
                raise ReadTimeout(cl, len(responses), block_for, bool(responses), CL_NAMES.get(cl, str(cl)))
        finally:
            for p in pending:
                p.cancel()
        merged = Partition()
        for data in responses.values():
            if data is not None:
                merged.apply(data)
        if cl in REPAIRING and len(responses) > 1:
            await self._read_repair(table, key, merged, responses)
        return merged

    async def _read_repair(self, table: TableDef, key: bytes, merged: Partition, responses: dict[str, Mutation | None]) -> None:
        full = merged.to_mutation(table.id_bytes, key)
        want = _canonical(full)
        stale = [name for name, data in responses.items() if _canonical(data) != want]
        if not stale or full.is_empty():
            return
        encoded = full.encode()
        waits = []
        for name in stale:
            if name == self.me.name:
                self.store.apply(full, encoded)
            else:
                waits.append(self.messenger.request(name, internode.MUTATION, encoded, self.write_timeout))
        if waits:
            await asyncio.gather(*waits, return_exceptions=True)
        log.info("read repair of %s.%s sent to %s", table.keyspace, table.name, stale)

    async def scan(self, table: TableDef) -> dict[bytes, Partition]:
        """Full-table scan for small tables: merge what every live node holds."""
        names = [self.me.name] + [n for n in self.messenger.peers if self.messenger.is_alive(n)]
        out: dict[bytes, Partition] = {}

        async def ask(name: str) -> list:
            if name == self.me.name:
                return [p.to_mutation(table.id_bytes, k).to_wire() for k, p in self.store.partitions(table.id_bytes).items()]
            raw = await self.messenger.request(name, internode.SCAN, table.id_bytes, self.read_timeout)
            return codec.decode(raw)

        for res in await asyncio.gather(*(ask(n) for n in names), return_exceptions=True):
            if isinstance(res, BaseException):
                continue
            for w in res:
                m = Mutation.from_wire(w)
                out.setdefault(m.key, Partition()).apply(m)
        return out

    async def truncate(self, table: TableDef) -> None:
        """TRUNCATE needs every node, like Cassandra (Unavailable otherwise)."""
        down = [n for n in self.messenger.peers if not self.messenger.is_alive(n)]
        if down:
            total = len(self.messenger.peers) + 1
            raise Unavailable(ALL, total, total - len(down), "ALL")
        self.store.truncate(table.id_bytes)
        await asyncio.gather(*(
            self.messenger.request(n, internode.TRUNCATE, table.id_bytes, self.write_timeout) for n in self.messenger.peers
        ))

    # -- hints ----------------------------------------------------------------------------------
    async def replay_hints(self, target: str) -> None:
        """Send stored hints to ``target`` in order; stop at the first failure and retry later."""
        if target in self._replaying or not self.hints.count(target):
            return
        self._replaying.add(target)
        try:
            batch = list(self.hints.pending.get(target, []))
            sent = 0
            window = 64
            for i in range(0, len(batch), window):
                chunk = batch[i : i + window]
                results = await asyncio.gather(
                    *(self.messenger.request(target, internode.MUTATION, h, self.write_timeout) for h in chunk),
                    return_exceptions=True,
                )
                ok = 0
                for r in results:
                    if isinstance(r, BaseException):
                        break
                    ok += 1
                sent += ok
                if ok < len(chunk):
                    break
            if sent:
                self.hints.delivered(target, sent)
                log.info("delivered %d hints to %s", sent, target)
        finally:
            self._replaying.discard(target)

    async def hint_dispatcher(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            for target in list(self.hints.pending):
                if self.messenger.is_alive(target):
                    with contextlib.suppress(Exception):
                        await self.replay_hints(target)
