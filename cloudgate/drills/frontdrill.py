"""A front-tier drill's schedule: load through the VIPs, sample haproxy, fault, heal, judge.

The same shape as the Cassandra drills (cloudgate.drills.drill) with an HTTP client: the open-loop
client (cloudgate.frontends.elasticity.BackgroundClient, one per datacenter and service) writes
every request to its history; the sampler (frontsampler) writes what each haproxy node saw; the
nemesis (frontnemesis) breaks and heals through the ledger; the checker (frontchecker) is a pure
function of the three files and the meta record, so `drill-<name>.*` can be judged again offline.
The heal runs whatever happens, with Ctrl-C refused while it does.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudgate.drills import frontchecker
from cloudgate.drills.nemesis import Fault, FaultContext
from cloudgate.frontends.elasticity import BackgroundClient
from cloudgate.target import Target
from cloudgate.undo import refusing_sigint


@dataclass
class FrontDrillResult:
    verdict: Any = None  # frontchecker.FrontDrillVerdict
    inject_problem: str | None = None
    heal_problems: list[str] = field(default_factory=list)
    plot: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)


def run_front_drill(name: str, fault: Fault, dcs: list[str], victims: list[str], expected_down_seconds: float,
                    target: Target, ctx: FaultContext, run_dir: Path, expect: dict[str, str] | None = None,
                    failed_window_seconds: float | None = None) -> FrontDrillResult:
    """Run one drill; `expect` per datacenter: qos (default), all, or down (judged by the failed window
    against `failed_window_seconds` instead: a VIP moving between nodes cannot keep 99.9 % of a 30-s drill)."""
    from cloudgate.drills.frontplot import plot_front_timeline
    from cloudgate.drills.frontsampler import FrontSampler

    section = target.frontends
    assert section is not None
    plan = target.drills
    files = {"samples": run_dir / f"drill-{name}.samples.jsonl", "vip": run_dir / f"drill-{name}.vip.jsonl",
             "meta": run_dir / f"drill-{name}.meta.json"}
    clients: dict[str, BackgroundClient] = {}
    for dc in dcs:
        door = section.datacenters[dc]
        for service in section.services:
            label = f"{dc}/{service.name}"
            files[label] = run_dir / f"drill-{name}.{dc}-{service.name}.history.jsonl"
            # room for every request of a whole timeout in flight: a fault must show as failures, not as the
            # probe refusing to send (its own overload)
            in_flight = max(section.probe.max_in_flight,
                            int(section.probe.rate_per_second * section.probe.timeout_seconds * 2) + 1)
            clients[label] = BackgroundClient(f"http://{door.vip}{service.probe_path}", section.probe.rate_per_second,
                                              section.probe.timeout_seconds, in_flight, files[label])
    sampler = FrontSampler(target, dcs, files["samples"], files["vip"])
    result = FrontDrillResult(files=files)
    sampler.start()
    for client in clients.values():
        client.start()
    started = time.time()
    fault_at = heal_at = None
    injected = finished = False
    try:
        _sleep_until(started + plan.fault_at_seconds)
        try:
            injected = True  # from the first ledger entry on, something may need healing
            fault.inject(ctx)
        except Exception as exc:  # noqa: BLE001 - a failed injection is a finding, in one line
            result.inject_problem = str(exc)
        # when the fault took effect, if the nemesis knows (the stop accepted), else when inject returned
        fault_at = getattr(fault, "injected_at", None) or time.time()
        _sleep_until(started + plan.heal_at_seconds)
        finished = True
    finally:
        if injected:
            with refusing_sigint(lambda: len([e for e in fault.entries if not e.undone])):
                result.heal_problems = fault.heal(ctx)
            heal_at = time.time()
        try:
            if finished:  # after a Ctrl-C: healed above, then stop at once (not at the load's planned end)
                _sleep_until(started + plan.load_seconds)
        finally:
            for client in clients.values():
                client.stop()
            sampler.stop()
    meta = {
        "drill": name, "target": target.name, "dcs": dcs, "fault": fault.meta(), "victims": victims,
        "started": started, "fault_at": fault_at, "heal_at": heal_at,
        "expected_down_seconds": expected_down_seconds, "mark_down_seconds": section.promises.mark_down_seconds,
        "qos": target.thresholds.qos, "expect": expect or {dc: "qos" for dc in dcs},
        "urls": {label: c.url for label, c in clients.items()},
        "haproxy": {dc: list(section.datacenters[dc].haproxy) for dc in dcs},
        "vip_takeover_seconds": target.thresholds.failover_seconds,
    }
    if failed_window_seconds is not None:
        meta["failed_window_seconds"] = failed_window_seconds
    files["meta"].write_text(json.dumps(meta, indent=1))
    histories = {label: frontchecker.read_probe_history(files[label]) for label in clients}
    samples = frontchecker.read_state_samples(files["samples"])
    vips = frontchecker.read_vip_samples(files["vip"])
    result.verdict = frontchecker.check(meta, histories, samples, vips)
    result.plot = plot_front_timeline(result.verdict, histories, samples, run_dir / f"drill-{name}.png", vips)
    return result


def _sleep_until(when: float) -> None:
    delay = when - time.time()
    if delay > 0:
        time.sleep(delay)
