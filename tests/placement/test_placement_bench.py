"""The benchmark harness runs end to end on a tiny size and reports targets it measured."""

from __future__ import annotations

import json

from cloudgate.placement.bench import _targets, run
from cloudgate.placement.check import check
from cloudgate.placement.generator import batch_request, cassandra_request, generate_estate


def test_the_generator_is_a_pure_function_of_its_seed():
    assert generate_estate(60, seed=3) == generate_estate(60, seed=3)
    assert generate_estate(60, seed=3) != generate_estate(60, seed=4)


def test_generated_estates_start_clean_and_requests_have_the_asked_size():
    estate = generate_estate(300, seed=9)
    assert check(estate) == []
    racks = {h.rack for h in estate.hosts}
    assert len(racks) <= 40 and {h.datacenter for h in estate.hosts} == {"dc1", "dc2"}
    request = batch_request(estate, 100, 15, seed=1)
    assert sum(g.total() for g in request.groups) == 100 and len(request.groups) == 15
    assert all(g.per_dc == {"dc1": 3, "dc2": 3} for g in cassandra_request(4, seed=1).groups)


def test_a_tiny_benchmark_writes_table_json_and_picture(tmp_path):
    report = run(tmp_path, sizes=(20,), traps=(16,), cp_max_hosts=20, cp_limit=5.0, engine_runs=1)
    doc = json.loads((tmp_path / "placement-bench.json").read_text())
    solvers = {r["solver"] for r in doc["rows"]}
    assert solvers == {"engine", "firstfit", "firstfit+anti-affinity", "userdispersing", "random", "cp-sat"}
    assert {r["kind"] for r in doc["rows"]} == {"cassandra", "batch", "tight", "trap", "crafted"}
    table = (tmp_path / "placement-bench.md").read_text()
    assert "| instance |" in table and "**PASS** engine misses where a placement exists" in table
    assert "## Packing: empty hosts opened" in table and "| tight-20h-s1 | 20 |" in table
    assert (tmp_path / "placement-grid.png").read_bytes()[:4] == b"\x89PNG"
    engine = [r for r in report["rows"] if r["solver"] == "engine"]
    assert all(r["violations"] == 0 for r in engine)


def test_the_optimum_target_counts_the_proofs_and_fails_above_the_optimum():
    def row(name, in_use, optimum):
        return {"solver": "engine", "instance": name, "kind": "tight", "hosts": 20, "vms": 12, "placed": True,
                "violations": 0, "ratio": 1.0, "hosts_in_use": in_use, "opened": in_use - 10,
                "cp_sat_status": "optimal", "cp_sat_hosts_in_use": optimum, "cp_sat_opened": optimum - 10,
                "cp_sat_spread_relaxed": [], "anti_affinity": 0, "rack_spread": 0}

    def optimum_line(rows):
        return next(t for t in _targets(rows) if "proven optimum" in t["target"])

    good = optimum_line([row("a", 14, 14), row("b", 15, 15)])
    assert good["passed"] and "proofs on 2 of 2" in good["measured"]
    bad = optimum_line([row("a", 14, 14), row("b", 16, 15)])
    assert not bad["passed"] and "b" in bad["measured"] and "above the optimum on 1" in bad["measured"]
