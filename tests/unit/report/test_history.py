"""reports/history.sqlite: every run kept, an older schema migrated in place, a corrupt file moved aside,
a newer schema refused. No cloud needed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cloudgate.report.history import (
    MIGRATIONS,
    SCHEMA_VERSION,
    CheckRecord,
    FlagRecord,
    HistoryError,
    MetricRecord,
    RunRecord,
    get_run,
    metric_series,
    open_history,
    previous_runs,
    record_run,
)


def run(n: int, target: str = "preprod", profile: str = "nightly", p99: float = 0.8, outcome: str = "passed",
        ended: bool = True) -> RunRecord:
    return RunRecord(
        run_id=f"2026120{n}T0200Z-{target}-{profile}", target=target, environment="preproduction", profile=profile,
        revision="abc123", started=f"2026-12-0{n}T02:00:00Z", ended=f"2026-12-0{n}T02:40:00Z" if ended else None,
        exitstatus=0, cloudstack_version="4.19.1.0", counts={"passed": 1},
        checks=[CheckRecord("tests/infra/test_x.py::test_a", outcome, "CG-X-001", "critical", 1.5,
                            "" if outcome == "passed" else "host h1: fio degraded")],
        metrics=[MetricRecord("cassandra.write.server.p99", p99, "ms", 1.0, "lower", "pass")])


def test_a_run_is_kept_with_its_checks_metrics_and_flags_and_read_back_whole(tmp_path):
    record = run(1)
    record.flags = [FlagRecord("metric_regression", "cassandra.write.server.p99", "p99 up 40 %")]
    with open_history(tmp_path / "history.sqlite") as conn:
        record_run(conn, record)
        record_run(conn, record)  # recording the same run again replaces it
        back = get_run(conn, record.run_id)
    assert back == record


def test_the_previous_runs_are_those_of_the_same_target_profile_and_kind_that_ended_newest_first(tmp_path):
    with open_history(tmp_path / "history.sqlite") as conn:
        for n in (1, 2, 3):
            record_run(conn, run(n))
        record_run(conn, run(4, ended=False))  # killed before its summary
        record_run(conn, run(5, profile="smoke"))
        record_run(conn, run(6, target="lab"))
        during = run(7)
        during.kind = "gate-during"  # control-plane checks left out: not comparable with a nightly
        record_run(conn, during)
        found = previous_runs(conn, "preprod", "nightly", before="2026-12-09T00:00:00Z", limit=2)
        series = metric_series(conn, "preprod", "nightly", "cassandra.write.server.p99")
    assert [r.run_id for r in found] == ["20261203T0200Z-preprod-nightly", "20261202T0200Z-preprod-nightly"]
    assert [s for s, _ in series] == [f"2026-12-0{n}T02:00:00Z" for n in (1, 2, 3, 4)]


def _version_1_database(path: Path) -> None:
    """A history as the first released cloudgate wrote it: schema 1, one run."""
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("INSERT INTO runs (run_id, target, environment, profile, revision, started, ended, exitstatus) "
                 "VALUES ('old-run', 'preprod', 'preproduction', 'nightly', 'r0', '2026-11-01T02:00:00Z', "
                 "'2026-11-01T02:30:00Z', 0)")
    conn.execute("INSERT INTO metrics VALUES ('old-run', 'deploy.total.p95', 41.0, 's', 300, 'lower', 'pass')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def test_an_older_database_is_migrated_in_place_and_keeps_its_runs(tmp_path):
    path = tmp_path / "history.sqlite"
    _version_1_database(path)
    with open_history(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        old = get_run(conn, "old-run")
        record_run(conn, run(2))
    assert old is not None and old.kind == "run" and old.metric("deploy.total.p95").value == 41.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.sqlite"], "migrated in place, nothing moved"


def test_a_corrupt_file_is_moved_aside_with_one_line_and_a_new_history_started(tmp_path):
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"this is not SQLite, a disk error wrote it" * 200)
    said: list[str] = []
    with open_history(path, said.append) as conn:
        record_run(conn, run(1))
    (aside,) = [p for p in tmp_path.iterdir() if p.name.startswith("history.sqlite.corrupt-")]
    assert aside.read_bytes().startswith(b"this is not SQLite"), "the old bytes are kept"
    assert len(said) == 1 and "moved aside to history.sqlite.corrupt-" in said[0] and "\n" not in said[0]
    with open_history(path) as conn:
        assert get_run(conn, run(1).run_id) is not None


def test_a_history_written_by_a_newer_cloudgate_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "history.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(HistoryError, match=rf"schema {SCHEMA_VERSION + 1} is newer than this cloudgate's"), \
            open_history(path):
        pass
    assert path.read_bytes() == before


def test_a_history_path_that_is_a_directory_is_one_line(tmp_path):
    (tmp_path / "history.sqlite").mkdir()
    with pytest.raises(HistoryError, match="cannot open the history"), open_history(tmp_path / "history.sqlite"):
        pass
