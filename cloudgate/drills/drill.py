"""One drill, start to end: keyspace, clients, load, the fault inside it, heal, read-back, verdict.

The schedule is Jepsen's: start the load, wait, inject, wait, heal, let the load run on, stop it,
read everything back, check. Times come from the target's `drills` section (fault_at_seconds,
heal_at_seconds, load_seconds, convergence_seconds), so one drill is as long on every run.

Nothing is left broken: the heal runs in a `finally` with Ctrl-C refused, whatever happened to the
load or the injection; what it cannot restore stays in the run ledger (cloudgate.nemesis has
written each undo before the fault), is named in the verdict with how to restore it, and fails
the drill. The history file is written as the drill runs, so even a drill killed half way leaves
its evidence for `cloudgate drill check HISTORY`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudgate.cassandra.latency import probe_keyspace_name
from cloudgate.cassandra.session import replication_of, session
from cloudgate.drills.checker import DrillVerdict, check
from cloudgate.drills.client import connected
from cloudgate.drills.generator import ClientLoad, Shape, read_back, run_load
from cloudgate.drills.history import HistoryWriter, read_history
from cloudgate.drills.nemesis import Fault, FaultContext
from cloudgate.ledger import Ledger
from cloudgate.target import Target
from cloudgate.undo import refusing_sigint

TABLE = "drill"


@dataclass
class DrillResult:
    verdict: DrillVerdict
    history: Path
    heal_problems: list[str] = field(default_factory=list)
    inject_problem: str | None = None
    during: dict[str, Any] = field(default_factory=dict)  # what the drill observed while the fault lasted
    read_back_rounds: int = 0

    @property
    def problems(self) -> list[str]:
        out = []
        verdict = list(self.verdict.problems)
        if self.inject_problem:
            out.append(f"the fault was not injected: {self.inject_problem}")
            verdict = [p for p in verdict if "never injected" not in p]  # the same fact, said once
        if self.heal_problems:
            verdict = [p for p in verdict if not p.startswith("the heal failed")]
        return out + verdict + self.heal_problems


def client_meta(target: Target) -> dict[str, dict[str, Any]]:
    assert target.cassandra is not None
    out = {}
    for c in target.cassandra.client_profiles():
        d = c.model_dump(mode="json")
        d["local_dc"] = c.driver_local_dc
        out[c.name] = d
    return out


@contextmanager
def drill_keyspace(ledger: Ledger, target: Target, keyspace: str) -> Iterator[dict[str, int]]:
    """The drill's own keyspace and table (the probe's replication), in the ledger before CREATE, dropped after."""
    with session(target, writes=True) as (cluster, sess):
        replication = replication_of(cluster, target)
        entry = ledger.intend("keyspace", keyspace, attrs={"replication": replication},
                              undo={"cql": f"DROP KEYSPACE IF EXISTS {keyspace}"})
        try:
            factors = ", ".join(f"'{dc}': {rf}" for dc, rf in replication.items())
            sess.execute(f"CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'NetworkTopologyStrategy', {factors}}}",
                         timeout=30)
            sess.execute(f"CREATE TABLE {keyspace}.{TABLE} (k text PRIMARY KEY, v int)", timeout=30)
            cluster.control_connection.wait_for_schema_agreement(wait_time=30)
        except BaseException as exc:
            ledger.settled(entry, f"{type(exc).__name__}: {exc}")
            raise
        ledger.created(entry, keyspace)
    try:
        yield replication
    finally:
        with refusing_sigint(lambda: 1), session(target, writes=True) as (_c, sess):
            sess.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)
            ledger.undone(entry, "dropped")


@dataclass
class Drill:
    """What varies between drills: the name, the fault, what each DC must keep, an optional probe."""

    name: str
    fault: Fault
    expect: dict[str, str]  # dc -> qos | failover | all | none (cloudgate.drills.checker)
    during: Callable[[], dict[str, Any]] | None = None  # run once while the fault lasts (control-plane probes)


def run_drill(drill: Drill, target: Target, ctx: FaultContext, run_dir: Path) -> DrillResult:
    cfg = target.cassandra
    assert cfg is not None
    plan = target.drills
    history_path = run_dir / f"drill-{drill.name}.history.jsonl"
    history_path.unlink(missing_ok=True)
    keyspace = probe_keyspace_name("cloudgate_drill")
    result = DrillResult(verdict=None, history=history_path)  # type: ignore[arg-type]
    shape = Shape(plan.load_seconds, plan.write_rate_per_second, plan.read_rate_per_second, plan.max_in_flight)
    with drill_keyspace(ctx.ledger, target, keyspace):
        with HistoryWriter(history_path) as history:
            history.meta({
                "drill": drill.name, "target": target.name, "dcs": list(cfg.contact_points),
                "qos": target.thresholds.qos, "failover_seconds": target.thresholds.failover_seconds,
                "expect": drill.expect, "clients": client_meta(target), "fault": drill.fault.meta(),
                "schedule": {"load_seconds": plan.load_seconds, "fault_at_seconds": plan.fault_at_seconds,
                             "heal_at_seconds": plan.heal_at_seconds},
                "keyspace": keyspace,
            })
            loads: list[ClientLoad] = []
            with ExitStack() as clients:
                for client in cfg.client_profiles():
                    _cluster, sess = clients.enter_context(connected(cfg, client, target.name, keyspace))
                    loads.append(ClientLoad(client, sess, keyspace, TABLE, history, shape))
                _run_schedule(drill, loads, history, ctx, result, plan.fault_at_seconds, plan.heal_at_seconds,
                              plan.load_seconds)
                slowest = max(c.request_timeout_seconds for c in cfg.client_profiles())
                for load in loads:
                    load.wait_idle(slowest * 2 + 5)
            acked, others = _written(history_path)
            rb = read_back(cfg, target.name, keyspace, TABLE, acked, others, history, plan.convergence_seconds)
            result.read_back_rounds = rb.rounds
        result.verdict = check(read_history(history_path))
    return result


def _run_schedule(drill: Drill, loads: list[ClientLoad], history: HistoryWriter, ctx: FaultContext,
                  result: DrillResult, fault_at: float, heal_at: float, load_seconds: float) -> None:
    """Load, fault at fault_at, heal at heal_at, load until load_seconds; the heal whatever happens."""
    stop = threading.Event()
    start = time.monotonic() + 0.2
    threads = run_load(loads, start, stop)
    injected = False
    try:
        _sleep_until(start + fault_at)
        index = history.invoke(f="start", process="nemesis", value=drill.fault.description)
        try:
            injected = True  # from the first ledger entry on, something may need healing
            drill.fault.inject(ctx)
            history.complete(index, "ok")
        except Exception as exc:  # noqa: BLE001 - a failed injection is a finding, reported as one line
            result.inject_problem = str(exc)
            history.complete(index, "fail", error=str(exc)[:300])
        if drill.during is not None and result.inject_problem is None:
            try:
                result.during = drill.during()
            except Exception as exc:  # noqa: BLE001
                result.during = {"error": f"{type(exc).__name__}: {exc}"}
        _sleep_until(start + heal_at)
    finally:
        if injected:
            with refusing_sigint(lambda: len([e for e in drill.fault.entries if not e.undone])):
                index = history.invoke(f="stop", process="nemesis", value=f"heal: {drill.fault.description}")
                result.heal_problems = drill.fault.heal(ctx)
                if result.heal_problems:
                    history.complete(index, "fail", error="; ".join(result.heal_problems)[:500])
                else:
                    history.complete(index, "ok")
    try:
        _sleep_until(start + load_seconds)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)


def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _written(history_path: Path) -> tuple[dict[str, int], dict[str, int]]:
    """(acknowledged key -> value, other written key -> value) from the history so far."""
    history = read_history(history_path)
    invoked: dict[int, tuple[str, int]] = {}
    outcome: dict[int, str] = {}
    for op in history.ops:
        if op.f != "write" or op.key is None:
            continue
        if op.type == "invoke":
            invoked[op.index] = (op.key, int(op.value or 0))
        else:
            outcome.setdefault(op.index, op.type)
    acked = {k: v for i, (k, v) in invoked.items() if outcome.get(i) == "ok"}
    others = {k: v for i, (k, v) in invoked.items() if outcome.get(i) != "ok"}
    return acked, others
