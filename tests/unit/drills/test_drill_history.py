"""The history file: written whole lines from many threads, read back with a torn last line forgiven.

The file is the drill's evidence, so what matters is what a kill -9 or a racing callback can do to
it: at most a torn last line (ignored), never an interleaved or a duplicated index.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from cloudgate.drills.history import HistoryError, HistoryWriter, Op, read_history

META = {"drill": "dc-loss", "target": "lab", "dcs": ["dc1", "dc2"], "qos": 0.999, "failover_seconds": 10}


def _written(path: Path) -> None:
    with HistoryWriter(path) as w:
        w.meta(META)
        app = {"client": "dc1-app", "dc": "dc1", "key": "k1"}
        i = w.invoke(f="write", process="dc1-app/writer", value=1, time=0.5, **app)
        w.complete(i, "ok", coordinator="198.18.1.201", time=0.52)
        j = w.invoke(f="read", process="dc1-app/reader", time=0.6, **app)
        w.complete(j, "ok", value=None, time=0.61)


def test_a_history_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    _written(path)
    h = read_history(path)
    assert h.meta["type"] == "meta" and h.meta["v"] == 1 and h.meta["drill"] == "dc-loss"
    assert h.meta["started_at"].endswith("Z")
    assert h.ops[0] == Op(index=0, type="invoke", time=0.5, f="write", process="dc1-app/writer",
                          client="dc1-app", dc="dc1", key="k1", value=1)
    # a completion repeats its invoke's identity, so each line reads on its own
    assert h.ops[1] == Op(index=0, type="ok", time=0.52, f="write", process="dc1-app/writer",
                          client="dc1-app", dc="dc1", key="k1", value=1, coordinator="198.18.1.201")
    assert h.ops[3].type == "ok" and h.ops[3].value is None
    assert '"value":null' in path.read_text().splitlines()[-1]  # a read of an absent key says so


def test_the_writer_refuses_what_would_make_the_file_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path) as w:
        w.meta(META)
        with pytest.raises(ValueError, match="first and only"):
            w.meta(META)
        with pytest.raises(ValueError, match="unknown history field"):
            w.invoke(f="write", colour="blue")
        with pytest.raises(ValueError, match="completion type"):
            w.complete(0, "done")
    with pytest.raises(FileExistsError):  # one drill, one file: indexes would collide
        HistoryWriter(path)
    with pytest.raises(ValueError, match="closed"):
        w.invoke(f="write")


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    _written(path)
    with path.open("a") as f:
        f.write('{"type":"invoke","index":2,"f":"wri')  # kill -9 in the middle of a write
    h = read_history(path)
    assert [op.index for op in h.ops] == [0, 0, 1, 1]


def test_a_malformed_line_that_is_not_the_last_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    _written(path)
    lines = path.read_text().splitlines()
    lines.insert(2, '{"type":"ok","index":')
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(HistoryError, match=rf"^{re.escape(str(path))}:3: not a JSON record"):
        read_history(path)


@pytest.mark.parametrize(("first", "problem"), [
    ('{"type":"invoke","index":0,"f":"write","time":0}', "not the meta record"),
    ('{"type":"meta","v":2}', "version 2"),
])
def test_a_missing_or_invalid_meta_is_refused(tmp_path: Path, first: str, problem: str) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(first + '\n{"type":"invoke","index":0,"f":"write","time":0}\n')
    with pytest.raises(HistoryError, match=rf"{re.escape(str(path))}:1: .*{problem}"):
        read_history(path)


@pytest.mark.parametrize(("line", "problem"), [
    ('{"type":"done","index":0,"time":0}', "type 'done'"),
    ('{"type":"ok","index":"0","time":0}', "index '0'"),
    ('{"type":"ok","index":0}', "time None"),
    ('{"type":"invoke","index":0,"time":0}', "names its operation"),
    ('[1, 2]', "JSON object"),
])
def test_an_invalid_record_is_refused_with_its_line(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(f'{{"type":"meta","v":1}}\n{line}\n{{"type":"invoke","index":9,"f":"read","time":1}}\n')
    with pytest.raises(HistoryError, match=rf"{re.escape(str(path))}:2: .*{problem}"):
        read_history(path)


def test_empty_and_meta_less_files_are_refused(tmp_path: Path) -> None:
    empty, torn = tmp_path / "empty.jsonl", tmp_path / "torn.jsonl"
    empty.write_text("")
    torn.write_text('{"type":"me')
    with pytest.raises(HistoryError, match="no meta record"):
        read_history(empty)
    with pytest.raises(HistoryError, match="no meta record"):
        read_history(torn)


def test_fields_a_newer_writer_adds_are_read_past(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text('{"type":"meta","v":1}\n{"type":"invoke","index":0,"f":"write","time":1,"latency_ms":3}\n')
    assert read_history(path).ops == [Op(index=0, type="invoke", time=1.0, f="write")]


def test_many_threads_write_whole_lines_with_unique_indexes(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    threads, per_thread = 8, 100
    with HistoryWriter(path) as w:
        w.meta(META)

        def load(n: int) -> None:
            for i in range(per_thread):
                index = w.invoke(f="write", process=f"p{n}", client=f"c{n}", dc="dc1", key=f"k-{n}-{i}",
                                 value=i)
                w.complete(index, "ok", coordinator="198.18.1.201")

        workers = [threading.Thread(target=load, args=(n,)) for n in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 2 * threads * per_thread
    records = [json.loads(line) for line in lines[1:]]
    invokes = [r["index"] for r in records if r["type"] == "invoke"]
    assert sorted(invokes) == list(range(threads * per_thread))
    # each completion names the key its own invoke wrote, whatever thread ran in between
    keys = {r["index"]: r["key"] for r in records if r["type"] == "invoke"}
    assert all(keys[r["index"]] == r["key"] for r in records if r["type"] == "ok")
    assert len(read_history(path).ops) == 2 * threads * per_thread
