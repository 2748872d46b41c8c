"""The pytest plugin of a run on runners, registered by `cloudgate run --runners` for that run only.

What it adds to xdist and to cloudgate's own plugin, and why:
- the workers' environment: the target's secret variables (and `forward_env`) go to each worker
  inside the SSH channel, as execnet's spec env, set on the spec *objects*: never in a `--tx`
  string, a command line, the generated ssh_config or a report;
- no rsync: for an ssh spec xdist copies pytest itself into the runner's chdir, i.e. into the
  runner's checkout; the runners run their own venv's pytest, so the copy is switched off;
- the runners' part of summary.json (`runners`: planned, unreachable with the cause, lost);
- a safety net under cloudgate.plugin.shards: a check collected by the workers that never reported
  at all (whatever the reason) is reported not run, so a check can never vanish from the counts;
- with no runner reachable, the run still collects on the controller and reports every check
  not run, so the reports (summary.json, junit, the page) say so instead of not existing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from cloudgate.plugin.shards import not_run_report
from cloudgate.plugin.state import NOT_RUN, RUN_KEY, loaded_target_of
from cloudgate.runners.model import Runner
from cloudgate.runners.preflight import RunnerCheck


@dataclass(eq=False)  # a pluggy plugin: hashed by identity (pytest keeps plugins in sets)
class RunnersSession:
    checks: list[RunnerCheck]
    specs_of: dict[str, Runner]  # generated ssh_config path -> its runner
    forward_env: list[str]
    shared_reports: bool
    collected: list[str] = field(default_factory=list)
    reported: set[str] = field(default_factory=set)
    lost: dict[str, list[str]] = field(default_factory=dict)  # runner name -> "gwN: why" of its workers down
    ran: dict[str, int] = field(default_factory=dict)  # runner name -> checks its workers ran to the end

    @property
    def reachable(self) -> list[Runner]:
        return [c.runner for c in self.checks if c.ok]

    @property
    def unreachable(self) -> list[RunnerCheck]:
        return [c for c in self.checks if not c.ok]

    def none_reachable_reason(self) -> str:
        names = ", ".join(c.runner.name for c in self.unreachable)
        return f"{NOT_RUN}no runner could be reached ({names})"

    # -- the workers' environment, and no copy of pytest into the runners' checkouts
    def worker_env(self, config: pytest.Config) -> dict[str, str]:
        names = list(self.forward_env)
        loaded = loaded_target_of(config)
        if loaded is not None:
            cs, cass = loaded.target.cloudstack, loaded.target.cassandra
            names += [cs.api_key_env, cs.secret_key_env]
            if cass is not None:
                names += [n for n in (cass.username_env, cass.password_env) if n]
        if self.shared_reports:
            names.append("CLOUDGATE_RUN_DIR")  # set by the reports part at configure time, before the nodes
        return {n: os.environ[n] for n in names if os.environ.get(n)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_setupnodes(self, config: pytest.Config, specs: list[Any]) -> None:
        env = self.worker_env(config)
        for spec in specs:
            spec.env.update(env)
        dsession = config.pluginmanager.getplugin("dsession")
        nodemanager = getattr(dsession, "nodemanager", None)
        if nodemanager is not None:
            nodemanager.roots = []

    # -- the runners in the reports
    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        state = config.stash.get(RUN_KEY, None)
        if state is None:
            return
        state.stamp.extra["runners"] = self.summary()

    def summary(self) -> dict[str, Any]:
        return {
            "planned": [{"name": c.runner.name, "address": c.runner.address, "workers": c.runner.workers}
                        for c in self.checks],
            "unreachable": {c.runner.name: c.problem for c in self.unreachable},
            "lost": self.lost,
            "checks_run": self.ran,
        }

    def runner_of(self, node: Any) -> Runner | None:
        return self.specs_of.get(str(getattr(node.gateway.spec, "ssh_config", "") or ""))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        runner = self.runner_of(node)
        if error and runner is not None:
            self.lost.setdefault(runner.name, []).append(f"{node.gateway.id}: {str(error).splitlines()[0][:200]}")

    # -- accounting: every collected check is reported, one way or another
    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self.collected:
            self.collected = list(ids)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reported.add(report.nodeid)
        node = getattr(report, "node", None)  # the worker, on reports xdist relays (not on synthetic ones)
        runner = self.runner_of(node) if node is not None and report.when == "teardown" else None
        if runner is not None:
            self.ran[runner.name] = self.ran.get(runner.name, 0) + 1

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Iterator[None]:
        yield
        if not self.collected:
            return
        lost = ", ".join(sorted(self.lost)) or "none"
        reason = f"never reported by its worker (runners lost: {lost})"
        for nodeid in self.collected:
            if nodeid not in self.reported:
                session.config.hook.pytest_runtest_logreport(report=not_run_report(nodeid, reason))

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Only when no runner is reachable (the run is then local and runs nothing)."""
        if self.reachable:
            return
        for item in items:
            item.add_marker(pytest.mark.skip(reason=self.none_reachable_reason()))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tr = terminalreporter
        tr.section("runners")
        for c in self.checks:
            state = f"reached, {self.ran.get(c.runner.name, 0)} check(s) run" if c.ok else f"NOT REACHED: {c.problem}"
            tr.write_line(f"  {c.runner.name} ({c.runner.where}, {c.runner.workers} worker(s)): {state}")
        for name, downs in self.lost.items():
            tr.write_line(f"  {name}: LOST during the run ({'; '.join(downs)}); its checks not finished are not run")
