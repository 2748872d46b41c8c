"""Latency histograms behind the ``system_views.*_latency`` tables.

Cassandra 4.1 keeps per-table coordinator and local latency timers and exposes them as
virtual tables (``TableMetricTables``): ``coordinator_read_latency``, ``coordinator_write_latency``,
``coordinator_scan_latency``, ``local_read_latency``, ``local_write_latency``, keyed by
(keyspace_name, table_name) with ``count``, ``max_ms``, ``p50th_ms``, ``p99th_ms``,
``per_second``. We keep one HdrHistogram (µs, 3 significant digits) per table and kind, so
percentiles are exact to 0.1 % rather than Cassandra's decaying reservoir; ``per_second`` is
count / seconds since the last reset (not a 5-minute EWMA). Extra columns (emulator
extensions): ``p999th_ms``, ``mean_ms`` and ``hdr`` (the base64 HdrHistogram encoding, so a
client can merge histograms across nodes exactly). ``TRUNCATE system_views.<table>`` resets
that kind on the node that receives it; resetting one kind for measuring a window.
"""

from __future__ import annotations

import time

from hdrh.histogram import HdrHistogram

KINDS = ("coordinator_read", "coordinator_write", "coordinator_scan", "local_read", "local_write")
_HIGHEST_US = 3_600_000_000


class LatencyMetrics:
    def __init__(self) -> None:
        self._h: dict[tuple[str, str, str], HdrHistogram] = {}
        self._since: dict[str, float] = {k: time.monotonic() for k in KINDS}

    def record(self, kind: str, keyspace: str, table: str, micros: float) -> None:
        key = (kind, keyspace, table)
        h = self._h.get(key)
        if h is None:
            h = self._h[key] = HdrHistogram(1, _HIGHEST_US, 3)
        v = int(micros)
        h.record_value(1 if v < 1 else min(v, _HIGHEST_US))

    def reset(self, kind: str | None = None) -> None:
        for k in [k for k in self._h if kind is None or k[0] == kind]:
            del self._h[k]
        for k in KINDS:
            if kind is None or k == kind:
                self._since[k] = time.monotonic()

    def rows(self, kind: str) -> list[dict]:
        elapsed = max(time.monotonic() - self._since[kind], 1e-9)
        out = []
        for (k, ks, table), h in sorted(self._h.items()):
            if k != kind:
                continue
            n = h.get_total_count()
            out.append({
                "keyspace_name": ks,
                "table_name": table,
                "count": n,
                "max_ms": h.get_max_value() / 1000.0,
                "p50th_ms": h.get_value_at_percentile(50) / 1000.0,
                "p99th_ms": h.get_value_at_percentile(99) / 1000.0,
                "p999th_ms": h.get_value_at_percentile(99.9) / 1000.0,
                "mean_ms": h.get_mean_value() / 1000.0 if n else 0.0,
                "per_second": n / elapsed,
                "hdr": h.encode().decode("ascii") if n else "",
            })
        return out
