"""The timeline picture: a PNG from a verdict, and no matplotlib until one is asked for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cloudgate.drills.checker import check
from cloudgate.drills.history import HistoryWriter, read_history
from cloudgate.drills.plot import plot_timeline

PNG = b"\x89PNG\r\n\x1a\n"


def _history(path: Path) -> Path:
    """A short dc1 loss written through the writer, as a drill would: dc1 out from t=3 to t=5."""
    with HistoryWriter(path) as w:
        w.meta({"drill": "dc-loss", "dcs": ["dc1", "dc2"], "qos": 0.999, "failover_seconds": 10,
                "expect": {"dc1": "failover", "dc2": "qos"}})
        start = w.invoke(f="start", process="nemesis", value="force-stop dc1", time=3.0)
        w.complete(start, "ok", time=3.1)
        for i in range(40):
            t = i / 4
            for dc in ("dc1", "dc2"):
                index = w.invoke(f="write", process=f"{dc}-app/writer", client=f"{dc}-app", dc=dc,
                                 key=f"k-{dc}-{i}", value=i, time=t)
                outcome = "ok" if dc == "dc2" or not 3 <= t < 5 else "fail" if t < 4 else "info"
                w.complete(index, outcome, time=t + 0.01)
        stop = w.invoke(f="stop", process="nemesis", value="start dc1 again", time=8.0)
        w.complete(stop, "ok", time=8.5)
    return path


def test_plot_timeline_writes_a_png(tmp_path: Path) -> None:
    verdict = check(read_history(_history(tmp_path / "history.jsonl")))
    assert verdict.per_dc["dc1"].reroute_s == 2.0
    out = plot_timeline(verdict, tmp_path / "timeline.png")
    assert out == tmp_path / "timeline.png"
    data = out.read_bytes()
    assert data.startswith(PNG) and len(data) > 5000


def test_plot_timeline_of_a_drill_without_load_or_fault(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path) as w:
        w.meta({"drill": "empty"})
    out = plot_timeline(check(read_history(path)), tmp_path / "empty.png")
    assert out.read_bytes().startswith(PNG)


def test_importing_the_drill_modules_does_not_import_matplotlib() -> None:
    probe = ("import json, sys\nimport cloudgate.drills.plot, cloudgate.drills.verdict_text\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith('matplotlib'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                         check=True)
    assert json.loads(out.stdout) == []
