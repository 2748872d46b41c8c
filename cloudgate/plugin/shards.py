"""Under pytest-xdist: each host's checks on one worker, and what a lost worker never ran is "not run".

The scheduler replaces xdist's `--dist load` (the default with `-n` or `--tx`) in a run with a
target. It sends each worker its whole share at once (cloudgate.shards: every check of one host on
one worker, hosts dealt round-robin), so a worker knows its hosts before its first check and
gathers their facts in advance over one connection each (cloudgate.plugin.fixtures).

Why not xdist's own `--dist loadgroup`: it appends `@group` to every test id, and a check's id is
what reports, waivers and the nightly history key on.

A worker that goes down (its runner lost, its process killed) is not replaced and its share is not
moved: the check it was running is failed by xdist ("worker crashed"), each check it had not
started is reported not run, naming the worker, never passed. `--absent-shares N` counts shares
whose runner could not be reached before the run (`cloudgate run --runners`): those come last, and
their checks are reported not run with `--absent-reason`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from cloudgate.plugin.state import NOT_RUN
from cloudgate.shards import assign, worker_index


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cloudgate")
    group.addoption("--absent-shares", type=int, default=0, metavar="N",
                    help="under xdist: N more shares than workers, for runners that could not be reached; "
                         "their checks are reported not run (set by `cloudgate run --runners`)")
    group.addoption("--absent-reason", default="its runner could not be reached", metavar="TEXT",
                    help="why the absent shares' checks were not run")


def total_shares(config: pytest.Config, workers: int) -> int:
    """Shares the collection is split into: one per worker, plus the absent runners' shares."""
    return workers + max(0, int(config.getoption("absent_shares", 0) or 0))


def not_run_report(nodeid: str, reason: str, worker: Any = None) -> pytest.TestReport:
    """A test never started, as a skip whose reason marks it not run (cloudgate.plugin.outcomes)."""
    fspath = nodeid.split("::")[0]
    report = pytest.TestReport(nodeid=nodeid, location=(fspath, None, fspath), keywords={}, outcome="skipped",
                               longrepr=(fspath, 0, f"Skipped: {NOT_RUN}{reason}"), when="setup")
    if worker is not None:
        report.node = worker  # type: ignore[attr-defined]  # as xdist's own crash reports carry it
    return report


class ShardScheduling:
    """xdist's Scheduling protocol (see xdist.scheduler.load): a static share per worker."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        from xdist.workermanage import parse_tx_spec_config

        self.config = config
        self.numnodes = len(parse_tx_spec_config(config))
        self.node2collection: dict[Any, list[str]] = {}
        self.node2pending: dict[Any, list[int]] = {}
        self.collection: list[str] | None = None
        # shares whose worker died before sending its collection -> why (their checks: not run)
        self.lost_before_collection: dict[int, str] = {}
        self.lost_workers: list[str] = []  # workers that went down with checks of their share unfinished
        self.log = log.shardsched if log is not None else (lambda *a: None)

    # -- state xdist's DSession reads
    @property
    def nodes(self) -> list[Any]:
        return list(self.node2pending)

    @property
    def collection_is_completed(self) -> bool:
        return bool(self.node2collection) and (
            len(self.node2collection) >= self.numnodes - len(self.lost_before_collection))

    @property
    def tests_finished(self) -> bool:
        if not self.collection_is_completed or self.collection is None:
            return False
        return all(len(pending) < 2 for pending in self.node2pending.values())

    @property
    def has_pending(self) -> bool:
        return any(self.node2pending.values())

    # -- events
    def add_node(self, node: Any) -> None:
        self.node2pending[node] = []

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        self.node2collection[node] = list(collection)

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        pending = self.node2pending.get(node)
        if not pending:
            return
        if pending[0] == item_index:  # a worker runs its share in order: the usual case, no scan
            del pending[0]
        elif item_index in pending:
            pending.remove(item_index)

    def mark_test_pending(self, item: str) -> None:
        raise NotImplementedError("a static share does not take items back")

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        raise NotImplementedError("a static share does not move items")

    def remove_node(self, node: Any) -> str | None:
        """A worker finished or died: what it had not started is reported not run, not handed on."""
        pending = self.node2pending.pop(node, [])
        if self.collection is None:
            self._lost_before_schedule(node)
            return None
        if not pending:
            return None
        crashed, never_started = pending[0], pending[1:]
        self.lost_workers.append(node.gateway.id)
        where = f"worker {node.gateway.id} ({getattr(node.gateway.spec, 'ssh', None) or 'local'}) went down before this check ran"
        for index in never_started:
            self.config.hook.pytest_runtest_logreport(report=not_run_report(self.collection[index], where, node))
        return self.collection[crashed]

    def _lost_before_schedule(self, node: Any) -> None:
        """A worker died before the shares were sent: its share is not run, the others still run.

        xdist schedules only when a collection arrives, so if the dead worker was the one still
        awaited, nothing would ever run (and nothing would be reported): schedule from here then.
        """
        collected = self.node2collection.pop(node, None)
        share = worker_index(node.gateway.id)
        if share >= self.numnodes or share in self.lost_before_collection:
            return  # a replacement worker (it gets nothing), or already counted
        what = "collected" if collected is None else "was given its checks"
        self.lost_workers.append(node.gateway.id)
        self.lost_before_collection[share] = (
            f"worker {node.gateway.id} ({getattr(node.gateway.spec, 'ssh', None) or 'local'}) went down before it "
            f"{what}: its share of the checks was not run")
        if self.collection_is_completed:
            self.schedule()

    def schedule(self) -> None:
        """Send every worker its share, then shutdown: it runs the share and exits."""
        if self.collection is not None:
            return  # a worker added later (a replaced one) gets nothing: shares are fixed at start
        collections = list(self.node2collection.values())
        first = collections[0]
        if any(c != first for c in collections[1:]):
            from xdist.report import report_collection_diff

            nodes = list(self.node2collection)
            for node, other in zip(nodes[1:], collections[1:], strict=True):
                if other != first:
                    self.log(report_collection_diff(first, other, nodes[0].gateway.id, node.gateway.id))
            for node in self.nodes:
                node.shutdown()
            return
        self.collection = first
        present = {worker_index(node.gateway.id): node for node in self.nodes}
        shares = assign(first, total_shares(self.config, self.numnodes))
        by_share: dict[int, list[int]] = {}
        for index, share in enumerate(shares):
            by_share.setdefault(share, []).append(index)
        absent = str(self.config.getoption("absent_reason", "") or "its runner could not be reached")
        for share in range(max(shares, default=-1) + 1):
            indices = by_share.get(share, [])
            node = present.get(share)
            if node is not None:
                if indices:
                    self.node2pending[node].extend(indices)
                    node.send_runtest_some(indices)
                continue
            reason = (absent if share >= self.numnodes else
                      self.lost_before_collection.get(share, f"worker gw{share} never came up"))
            for index in indices:
                self.config.hook.pytest_runtest_logreport(report=not_run_report(first[index], reason))
        for node in self.nodes:
            node.shutdown()


SCHEDULER_KEY = pytest.StashKey["ShardScheduling"]()


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> ShardScheduling | None:
    """Our scheduler for a run with a target under xdist's default distribution; others untouched."""
    if config.getoption("target", None) and config.getvalue("dist") == "load":
        config.stash[SCHEDULER_KEY] = ShardScheduling(config, log)
        return config.stash[SCHEDULER_KEY]
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """A run that lost a worker with checks of its share not run is not a passing run, even when every
    check that did run passed (before the reports read the exit status)."""
    sched = session.config.stash.get(SCHEDULER_KEY, None)
    if sched is not None and sched.lost_workers and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
