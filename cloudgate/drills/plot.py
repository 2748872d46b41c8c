"""The drill's timeline as a picture: what each DC's applications saw, second by second.

Why a picture beside the table: an 18.5 s error streak, a slow trickle of timeouts and a clean
failover can have the same availability; the shape around the fault window tells them apart.

matplotlib is imported inside the function, and through its Agg canvas rather than pyplot: the
checker and `drill check` stay quick to import, and no global backend is switched under a caller.
"""

from __future__ import annotations

from pathlib import Path

from cloudgate.drills.checker import DrillVerdict, pct

OK_COLOUR, FAIL_COLOUR, INFO_COLOUR, FAULT_COLOUR = "#2ca02c", "#d62728", "#f28e8e", "#9e9e9e"


def plot_timeline(verdict: DrillVerdict, path: Path | str) -> Path:
    """Write a PNG: one subplot per DC, ok (green) and failed + indeterminate (red, stacked) per second."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    dcs = list(verdict.timeline) or ["(no load)"]
    fig = Figure(figsize=(10, 2.2 * len(dcs) + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(dcs), 1, sharex=True, squeeze=False)[:, 0]
    for ax, dc in zip(axes, dcs, strict=True):
        buckets = verdict.timeline.get(dc, ())
        x = [b.second for b in buckets]
        ok, fail, info = [b.ok for b in buckets], [b.fail for b in buckets], [b.info for b in buckets]
        ax.bar(x, ok, width=1.0, align="edge", color=OK_COLOUR, label="ok")
        ax.bar(x, fail, width=1.0, align="edge", bottom=ok, color=FAIL_COLOUR, label="failed")
        ax.bar(x, info, width=1.0, align="edge", bottom=[a + b for a, b in zip(ok, fail, strict=True)],
               color=INFO_COLOUR, hatch="//", edgecolor=FAIL_COLOUR, linewidth=0, label="indeterminate")
        if verdict.t_fault is not None:  # shaded behind the bars (seen above them), edges drawn over
            end = verdict.window_end if verdict.window_end is not None else verdict.t_fault
            ax.axvspan(verdict.t_fault, end, color=FAULT_COLOUR, alpha=0.3, zorder=0, label="fault")
            for t in (verdict.t_fault, end):
                ax.axvline(t, color="#404040", linestyle="--", linewidth=1, zorder=3)
        top = max((b.ok + b.fail + b.info for b in buckets), default=0)
        ax.set_ylim(0, max(top * 1.3, 1))
        result = verdict.per_dc.get(dc)
        ax.set_ylabel(f"{dc}\nops / s")
        if result is not None:
            ax.set_title(f"{dc}: {pct(result.availability)}", loc="left", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", fontsize=8, ncols=len(handles))
    axes[-1].set_xlabel("seconds since the drill started")
    availability = ", ".join(f"{dc} {pct(r.availability)}" for dc, r in verdict.per_dc.items())
    fig.suptitle(f"drill {verdict.drill} — {'PASSED' if verdict.passed else 'FAILED'} — {availability}")
    fig.savefig(path, format="png", dpi=80)
    return path
