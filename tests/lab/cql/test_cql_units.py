"""Unit tests of the emulator's pure parts: parser, types, token function, placement, storage.

Placement is checked against the python driver's own replica-map code over many random
topologies, since token-aware routing is only right if both agree.
"""

from __future__ import annotations

import os
import random
import uuid

import pytest
from cassandra.cqltypes import lookup_casstype
from cassandra.metadata import Murmur3Token, NetworkTopologyStrategy, SimpleStrategy
from cassandra.murmur3 import murmur3

from cloudgate_lab.cql import codec, cql
from cloudgate_lab.cql.cqltypes import parse_type
from cloudgate_lab.cql.errors import InvalidRequest, SyntaxError_
from cloudgate_lab.cql.ring import Endpoint, Ring, derive_tokens, murmur3_py, token_of
from cloudgate_lab.cql.storage import NO_TS, Mutation, RowOp, Store


class _Host:
    """Just what the driver's replica-map builders read from a Host."""

    def __init__(self, name: str, dc: str, rack: str) -> None:
        self.name, self.datacenter, self.rack = name, dc, rack

    def __repr__(self) -> str:
        return self.name


def test_murmur3_matches_driver() -> None:
    rng = random.Random(1)
    for n in range(300):
        data = bytes(rng.randrange(256) for _ in range(n % 50))
        assert murmur3_py(data) == murmur3(data)
    assert token_of(b"key1") == 1573573083296714675


def test_tokens_are_deterministic() -> None:
    assert derive_tokens("s", "n1", 16) == derive_tokens("s", "n1", 16)
    assert derive_tokens("s", "n1", 16) != derive_tokens("s", "n2", 16)
    assert len(derive_tokens("s", "n1", 16)) == 16


def _driver_replicas(strategy, hosts: dict[str, _Host], tokens: dict[str, list[int]]) -> tuple[list, dict]:
    token_to_host = {Murmur3Token(t): hosts[n] for n, ts in tokens.items() for t in ts}
    ring = sorted(token_to_host)
    return ring, strategy.make_token_replica_map(token_to_host, ring)


@pytest.mark.parametrize("seed", range(40))
def test_nts_placement_matches_driver(seed: int) -> None:
    rng = random.Random(seed)
    dcs = {f"dc{i + 1}": rng.randint(1, 6) for i in range(rng.randint(1, 3))}
    hosts: dict[str, _Host] = {}
    for dc, count in dcs.items():
        racks = rng.randint(1, 4)
        for j in range(count):
            name = f"{dc}n{j}"
            hosts[name] = _Host(name, dc, f"rack{rng.randrange(racks) + 1}")
    tokens = {n: derive_tokens(f"seed{seed}", n, rng.choice([1, 4, 16])) for n in hosts}
    rf = {dc: str(rng.randint(1, 4)) for dc in dcs}
    ring = Ring(tokens, {n: Endpoint(n, h.datacenter, h.rack) for n, h in hosts.items()})
    dring, dmap = _driver_replicas(NetworkTopologyStrategy(rf), hosts, tokens)
    repl = {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", **rf}
    for t in dring:
        mine = [e.name for e in ring.replicas(repl, t.value)]
        theirs = [h.name for h in dmap[t]]
        assert len(set(mine)) == len(mine)
        if len(set(theirs)) == len(theirs):
            assert set(mine) == set(theirs), (t, mine, theirs)
        else:
            # driver 3.29/3.30 quirk: a vnode host skipped twice for its rack is appended twice
            # (no dedup of ``skipped_hosts``), so its list is short of distinct replicas; the
            # distinct hosts it names are still a subset of Cassandra's placement.
            assert set(theirs) <= set(mine), (t, mine, theirs)


@pytest.mark.parametrize("rf", [1, 2, 3, 5])
def test_simple_placement_matches_driver(rf: int) -> None:
    hosts = {f"n{i}": _Host(f"n{i}", "dc1" if i % 2 else "dc2", "r1") for i in range(5)}
    tokens = {n: derive_tokens("x", n, 16) for n in hosts}
    ring = Ring(tokens, {n: Endpoint(n, h.datacenter, h.rack) for n, h in hosts.items()})
    dring, dmap = _driver_replicas(SimpleStrategy({"replication_factor": str(rf)}), hosts, tokens)
    for t in dring:
        mine = [e.name for e in ring.replicas({"class": "SimpleStrategy", "replication_factor": str(rf)}, t.value)]
        assert mine == [h.name for h in dmap[t]]


def test_parser_subset_and_errors() -> None:
    p = cql.parse("INSERT INTO ks.t (a, b) VALUES (?, 'x''y') USING TIMESTAMP 42")
    assert isinstance(p.statement, cql.Insert) and len(p.markers) == 1
    assert p.statement.values[1] == cql.Literal("string", "x'y")
    p = cql.parse("SELECT a, count(*) FROM t WHERE k IN (1, 2) AND c >= -3 LIMIT 10 ALLOW FILTERING;")
    assert isinstance(p.statement, cql.Select) and p.statement.allow_filtering
    p = cql.parse("BEGIN UNLOGGED BATCH INSERT INTO t (a) VALUES (1); DELETE FROM t WHERE a = 2; APPLY BATCH")
    assert isinstance(p.statement, cql.Batch) and p.statement.kind == "UNLOGGED"
    with pytest.raises(SyntaxError_):
        cql.parse("SELEKT * FROM t")
    with pytest.raises(SyntaxError_):
        cql.parse("SELECT * FROM")
    with pytest.raises(InvalidRequest):
        cql.parse("CREATE INDEX ON t (v)")
    with pytest.raises(InvalidRequest):
        cql.parse("UPDATE t SET v = 1 WHERE k = 1 IF v = 0")


@pytest.mark.parametrize(
    ("type_name", "value"),
    [("int", -5), ("bigint", 1 << 40), ("text", "héllo"), ("ascii", "abc"), ("boolean", True), ("double", 1.5),
     ("float", 0.25), ("blob", b"\x00\x01"), ("uuid", uuid.uuid4()), ("timeuuid", uuid.uuid1()),
     ("timestamp", 1700000000123), ("map<text, text>", {"a": "b"}), ("set<text>", ["x", "y"])],
)
def test_types_roundtrip_like_driver(type_name: str, value: object) -> None:
    t = parse_type(type_name)
    data = t.serialize(value)
    assert t.deserialize(data) == value
    driver_type = lookup_casstype(
        {"text": "UTF8Type", "ascii": "AsciiType", "int": "Int32Type", "bigint": "LongType", "boolean": "BooleanType",
         "double": "DoubleType", "float": "FloatType", "blob": "BytesType", "uuid": "UUIDType",
         "timeuuid": "TimeUUIDType", "timestamp": "TimestampType",
         "map<text, text>": "MapType(UTF8Type, UTF8Type)", "set<text>": "SetType(UTF8Type)"}[type_name])
    decoded = driver_type.deserialize(data, 4) if not type_name.startswith(("map", "set")) else \
        driver_type.from_binary(data, 4)
    if type_name == "timestamp":
        assert int(decoded.timestamp() * 1000) == value or decoded == value
    elif type_name == "set<text>":
        assert sorted(decoded) == value
    else:
        assert decoded == value


def test_codec_roundtrip() -> None:
    obj = [None, True, False, 1, -(1 << 63), 1 << 70, 1.5, "s", b"b", [1, [2]], {"k": b"v"}]
    assert codec.decode(codec.encode(obj)) == obj
    with pytest.raises(codec.DecodeError):
        codec.decode(codec.encode(obj)[:-1])


def test_group_commit_is_one_write_and_replays(tmp_path, monkeypatch) -> None:
    tid = uuid.uuid4().bytes
    s = Store(str(tmp_path))
    s.open(lambda t: True)
    writes = []
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, b: writes.append(len(b)) or real_write(fd, b))
    muts = [Mutation(tid, b"k%d" % i, NO_TS, [RowOp((), NO_TS, i, {"v": (i, b"x" * i)})]) for i in range(1, 6)]
    s.apply_many([(m, m.encode()) for m in muts])
    monkeypatch.undo()
    assert len(writes) == 1  # the whole batch in one write()
    s.close()
    s2 = Store(str(tmp_path))
    assert s2.open(lambda t: True) == 5
    assert s2.partition(tid, b"k5").rows[()].cells["v"] == (5, b"xxxxx")
    s2.close()


def test_store_replays_commit_log_and_snapshot(tmp_path) -> None:
    tid = uuid.uuid4().bytes
    s = Store(str(tmp_path), compact_bytes=10_000)
    s.open(lambda t: True)
    for i in range(300):
        s.apply(Mutation(tid, b"k%d" % (i % 7), NO_TS, [RowOp((), NO_TS, i, {"v": (i, b"%d" % i)})]))
    s.apply(Mutation(tid, b"k0", 10_000, []))  # partition tombstone
    s.close()
    assert os.path.exists(tmp_path / "data.snap")
    s2 = Store(str(tmp_path))
    s2.open(lambda t: True)
    p = s2.partition(tid, b"k3")
    assert p is not None and p.rows[()].cells["v"] == (297, b"297")
    assert not s2.partition(tid, b"k0").rows[()].is_live(s2.partition(tid, b"k0").deleted)
    s2.close()
    # a torn tail (crash mid-append) is ignored, earlier records survive
    with open(tmp_path / "commitlog.bin", "ab") as f:
        f.write(b"\x00\x00\x01\x00garbage")
    s3 = Store(str(tmp_path))
    s3.open(lambda t: True)
    assert s3.partition(tid, b"k3") is not None
    s3.close()


def test_a_node_keeps_idle_cpus_polling_only_while_it_holds_the_pm_qos_device(tmp_path) -> None:
    from cloudgate_lab.cql import tuning

    device = tmp_path / "cpu_dma_latency"
    device.write_bytes(b"")
    try:
        assert tuning.hold_idle_polling("poll", str(device)) == "poll"
        assert device.read_bytes() == b"\0\0\0\0"  # a 0 µs wake-up latency request, as tuned writes it
        assert tuning.hold_idle_polling("halt", str(device)) == "halt"
        assert tuning.hold_idle_polling("poll", str(tmp_path / "absent")) == "halt"
        assert tuning.idle_polling_holders(str(device)) == [os.getpid()]  # what `lab status` reports
    finally:
        for fd in tuning._qos_fds:
            os.close(fd)
        tuning._qos_fds.clear()
    assert tuning.idle_polling_holders(str(device)) == []  # closing the descriptor ends the request


def test_the_nightly_records_how_fast_the_machine_is_beside_the_lab_latency() -> None:
    from cloudgate_lab.nightly import machine_floor_figures

    p50, p99 = machine_floor_figures(rate=1000.0, count=50)
    assert (p50.name, p99.name) == ("lab.machine.echo_rtt.p50", "lab.machine.echo_rtt.p99")
    assert 0 < p50.value <= p99.value and p50.unit == "ms" and p50.verdict == "info"


def test_by_default_a_node_leaves_the_machines_idle_states_alone(tmp_path, monkeypatch) -> None:
    from cloudgate_lab.cql import tuning

    monkeypatch.delenv("CLOUDGATE_CQL_IDLE", raising=False)
    device = tmp_path / "cpu_dma_latency"
    device.write_bytes(b"")
    assert tuning.hold_idle_polling(device=str(device)) == "halt"
    assert device.read_bytes() == b"" and tuning.idle_polling_holders(str(device)) == []
