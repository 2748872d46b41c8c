"""A front drill as a picture: what each probe saw every half second, and what each haproxy node said.

Why beside the verdict: a 3 s failed window can be one clean cut or a trickle of timeouts, and a
detection time alone does not show a node flapping, going unreachable, or marking a server DOWN long
after the clients stopped failing; the shapes on one time axis (0 = fault_at) tell them apart.

As cloudgate.drills.plot: matplotlib is imported inside the function, through its Agg canvas rather
than pyplot, so the checker stays quick to import and no global backend is switched under a caller.
The bucketing and the state intervals are pure functions of their own (tested without matplotlib).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudgate.drills.checker import pct
from cloudgate.drills.frontchecker import (
    FrontDrillVerdict,
    ProbeRequest,
    StateSample,
    VipSample,
    victim_timelines,
)

BUCKET_SECONDS = 0.5
OK_COLOUR, FAILED_COLOUR, HTTP_4XX_COLOUR = "#2ca02c", "#d62728", "#9e9e9e"
STATE_COLOURS = {"UP": "#2ca02c", "going down": "#ffbf00", "DOWN": "#d62728", "coming up": "#ff7f0e",
                 "MAINT/DRAIN": "#1f77b4", "other": "#9467bd", "unreadable": "#bdbdbd"}
NO_HOLDER_COLOUR, SPLIT_BRAIN_COLOUR = "#d62728", "#9467bd"
HOLDER_COLOURS = ("#2ca02c", "#1f77b4", "#8c564b", "#17becf", "#bcbd22")


@dataclass(frozen=True)
class Bucket:
    """Requests due in [start, start + BUCKET_SECONDS) relative to the verdict's origin, by outcome."""

    start: float
    ok: int = 0
    failed: int = 0
    http_4xx: int = 0


def buckets(requests: Iterable[ProbeRequest], origin: float, width: float = BUCKET_SECONDS) -> list[Bucket]:
    """Every bucket from the first request's to the last one's (empty ones included); overloaded left out."""
    counts: dict[int, list[int]] = {}
    for r in requests:
        if r.overloaded:
            continue
        slot = counts.setdefault(int((r.intended - origin) // width), [0, 0, 0])
        slot[0 if r.ok else 2 if r.http_4xx else 1] += 1
    if not counts:
        return []
    return [Bucket(i * width, *counts.get(i, (0, 0, 0))) for i in range(min(counts), max(counts) + 1)]


def state_kind(sample: StateSample) -> str:
    """The colour class of a state sample: UP, going down (UP n/m), DOWN, coming up (DOWN n/m), … unreadable."""
    if not sample.readable:
        return "unreadable"
    word, status = sample.word, sample.status or ""
    if word == "UP":
        return "UP" if status == "UP" else "going down"
    if word == "DOWN":
        return "DOWN" if status == "DOWN" else "coming up"
    return "MAINT/DRAIN" if word in ("MAINT", "DRAIN") else "other"


def state_intervals(line: Sequence[StateSample], origin: float) -> list[tuple[float, float, str]]:
    """(start, duration, kind) runs of one server on one node: each sample holds until the next one; the
    last for the line's median sampling period."""
    if not line:
        return []
    gaps = [b.t - a.t for a, b in zip(line, line[1:], strict=False) if b.t > a.t]
    period = statistics.median(gaps) if gaps else BUCKET_SECONDS / 2
    runs: list[tuple[float, float, str]] = []
    for i, sample in enumerate(line):
        end = line[i + 1].t if i + 1 < len(line) else sample.t + period
        kind = state_kind(sample)
        start = sample.t - origin
        if runs and runs[-1][2] == kind and abs(runs[-1][0] + runs[-1][1] - start) < 1e-9:
            runs[-1] = (runs[-1][0], end - origin - runs[-1][0], kind)
        else:
            runs.append((start, end - sample.t, kind))
    return runs


def plot_front_timeline(verdict: FrontDrillVerdict,
                        histories: Mapping[str, Iterable[ProbeRequest | Mapping[str, Any]]],
                        samples: Iterable[StateSample | Mapping[str, Any]], path: Path | str,
                        vip_samples: Iterable[VipSample | Mapping[str, Any]] = ()) -> Path:
    """Write a PNG: per probe label, ok / failed (and 4xx) requests per 0.5 s; per victim and haproxy node,
    its states as horizontal bars; per datacenter, who held the VIP; the fault and the heal as vertical
    lines. Times are seconds relative to the verdict's origin (fault_at). Returns `path`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    path = Path(path)
    origin = verdict.origin
    requests = {label: [r if isinstance(r, ProbeRequest) else ProbeRequest.of(r, f"{label} #{i}")
                        for i, r in enumerate(reqs)] for label, reqs in histories.items()}
    rows = sorted((x if isinstance(x, StateSample) else StateSample.of(x, f"sample #{i}")
                   for i, x in enumerate(samples)), key=lambda x: x.t)
    vips = sorted((x if isinstance(x, VipSample) else VipSample.of(x, f"VIP sample #{i}")
                   for i, x in enumerate(vip_samples)), key=lambda x: x.t)
    lines = [(f"{victim} @ {node}" + (f" ({backend})" if backend else ""), line)
             for victim in verdict.victims for (node, backend), line in victim_timelines(rows, victim).items()]
    vip_dcs = list(dict.fromkeys(x.dc for x in vips))

    labels = list(requests) or ["(no probe)"]
    heights = [2.0] * len(labels)
    if lines:
        heights.append(0.8 + 0.35 * len(lines))
    if vip_dcs:
        heights.append(0.8 + 0.35 * len(vip_dcs))
    fig = Figure(figsize=(11, sum(heights) + 1.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(heights), 1, sharex=True, squeeze=False, height_ratios=heights)[:, 0]

    for ax, label in zip(axes, labels, strict=False):
        _requests_panel(ax, label, buckets(requests.get(label, ()), origin), verdict)
    panel = len(labels)
    if lines:
        _states_panel(axes[panel], lines, origin, verdict, Patch)
        panel += 1
    if vip_dcs:
        _vip_panel(axes[panel], vips, vip_dcs, origin, Patch)
    for ax in axes:
        for t, name in ((verdict.fault_at, "fault"), (verdict.heal_at, "heal")):
            if t is not None:
                ax.axvline(t - origin, color="#404040", linestyle="--", linewidth=1, zorder=3)
                ax.annotate(name, (t - origin, 1), xycoords=("data", "axes fraction"), fontsize=7,
                            xytext=(2, -2), textcoords="offset points", va="top", color="#404040")
    axes[-1].set_xlabel("seconds since the fault" if verdict.fault_at is not None else "seconds since the start")
    fault = f" — {verdict.fault}" if verdict.fault else ""
    fig.suptitle(f"front drill {verdict.drill} — {'PASSED' if verdict.passed else 'FAILED'}{fault}")
    fig.savefig(path, format="png", dpi=80)
    return path


def _requests_panel(ax: Any, label: str, bars: Sequence[Bucket], verdict: FrontDrillVerdict) -> None:
    x = [b.start for b in bars]
    ok, failed, http_4xx = [b.ok for b in bars], [b.failed for b in bars], [b.http_4xx for b in bars]
    ax.bar(x, ok, width=BUCKET_SECONDS, align="edge", color=OK_COLOUR, label="ok")
    ax.bar(x, failed, width=BUCKET_SECONDS, align="edge", bottom=ok, color=FAILED_COLOUR, label="failed")
    if any(http_4xx):
        ax.bar(x, http_4xx, width=BUCKET_SECONDS, align="edge", bottom=[a + b for a, b in zip(ok, failed, strict=True)],
               color=HTTP_4XX_COLOUR, label="4xx")
    top = max((b.ok + b.failed + b.http_4xx for b in bars), default=0)
    ax.set_ylim(0, max(top * 1.3, 1))
    ax.set_ylabel(f"{label}\nper {BUCKET_SECONDS:g} s")
    result = verdict.per_label.get(label)
    if result is not None:
        window = (f", {result.window.count} failed from {result.window.first_s:+.1f} s to "
                  f"{result.window.last_s:+.1f} s" if result.window else ", no failure")
        ax.set_title(f"{label}: {pct(result.availability)}{window}", loc="left", fontsize=9)
    ax.legend(loc="upper right", fontsize=7, ncols=4)


def _states_panel(ax: Any, lines: Sequence[tuple[str, Sequence[StateSample]]], origin: float,
                  verdict: FrontDrillVerdict, patch: Any) -> None:
    seen: set[str] = set()
    for row, (_, line) in enumerate(lines):
        for kind in STATE_COLOURS:
            spans = [(start, width) for start, width, k in state_intervals(line, origin) if k == kind]
            if spans:
                ax.broken_barh(spans, (row - 0.35, 0.7), color=STATE_COLOURS[kind])
                seen.add(kind)
    for d in verdict.detections:  # the measured moment of each detection, a black tick on its row
        name = f"{d.server} @ {d.node}" + (f" ({d.backend})" if d.backend else "")
        row = next((i for i, (n, _) in enumerate(lines) if n == name), None)
        if row is not None and d.seconds is not None and verdict.fault_at is not None:
            ax.plot([verdict.fault_at - origin + d.seconds] * 2, [row - 0.45, row + 0.45], color="black", lw=2)
    ax.set_yticks(range(len(lines)), [name for name, _ in lines], fontsize=8)
    ax.set_ylim(len(lines) - 0.4, -1.4)  # top down, with room above the first row for the legend
    ax.set_title("haproxy's view of each victim (black: DOWN first seen)", loc="left", fontsize=9)
    ax.legend(handles=[patch(color=STATE_COLOURS[k], label=k) for k in STATE_COLOURS if k in seen],
              loc="upper right", fontsize=7, ncols=len(seen) or 1)


def _vip_panel(ax: Any, vips: Sequence[VipSample], dcs: Sequence[str], origin: float, patch: Any) -> None:
    nodes = sorted({h for x in vips for h in x.holders or ()})
    colour = {node: HOLDER_COLOURS[i % len(HOLDER_COLOURS)] for i, node in enumerate(nodes)}
    for row, dc in enumerate(dcs):
        mine = [x for x in vips if x.dc == dc and x.holders is not None]
        spans: dict[str, list[tuple[float, float]]] = {}
        for i, x in enumerate(mine):
            end = mine[i + 1].t if i + 1 < len(mine) else x.t + BUCKET_SECONDS / 2
            holders = x.holders or ()
            fill = (NO_HOLDER_COLOUR if not holders else SPLIT_BRAIN_COLOUR if len(holders) > 1
                    else colour[holders[0]])
            spans.setdefault(fill, []).append((x.t - origin, end - x.t))
        for fill, bars in spans.items():
            ax.broken_barh(bars, (row - 0.35, 0.7), color=fill)
    ax.set_yticks(range(len(dcs)), [f"{dc} VIP" for dc in dcs], fontsize=8)
    ax.set_ylim(len(dcs) - 0.4, -1.4)
    ax.set_title("who held each VIP", loc="left", fontsize=9)
    handles = [patch(color=colour[n], label=n) for n in nodes]
    handles += [patch(color=NO_HOLDER_COLOUR, label="nobody"), patch(color=SPLIT_BRAIN_COLOUR, label="split-brain")]
    ax.legend(handles=handles, loc="upper right", fontsize=7, ncols=len(handles))
