"""Every check of one host on one worker, hosts dealt evenly: the share both sides compute alike."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from cloudgate.shards import assign, group_of, worker_index

CHECKS = ["test_os", "test_kernel", "test_fio"]


def ids(hosts: list[str]) -> list[str]:
    return [f"tests/infra/test_hypervisors.py::{c}[{h}]" for c in CHECKS for h in hosts] + [
        "tests/infra/test_cloudstack.py::test_api_answers"]


@given(st.integers(1, 200), st.integers(1, 12))
def test_every_check_of_one_host_lands_in_one_share_and_shares_differ_by_at_most_one_host(hosts, shares):
    names = [f"dc1-r{i // 20}-h{i % 20}" for i in range(hosts)]
    nodeids = ids(names)
    assigned = assign(nodeids, shares)
    share_of_host: dict[str, set[int]] = {}
    for nodeid, share in zip(nodeids, assigned, strict=True):
        share_of_host.setdefault(group_of(nodeid), set()).add(share)
    assert all(len(s) == 1 for s in share_of_host.values())
    per_share = Counter(next(iter(share_of_host[h])) for h in names)
    counts = [per_share.get(i, 0) for i in range(shares)]
    assert max(counts) - min(counts) <= 1


def test_the_share_is_a_function_of_the_ids_alone():
    nodeids = ids(["a", "b", "c", "d"])
    assert assign(nodeids, 3) == assign(list(nodeids), 3)


def test_a_test_without_a_host_is_a_group_of_its_own_and_worker_ids_are_share_indexes():
    assert group_of("tests/infra/test_cloudstack.py::test_api_answers") == "tests/infra/test_cloudstack.py::test_api_answers"
    assert group_of("t.py::test_x[dc1-r1-h1]") == "dc1-r1-h1"
    assert worker_index("gw11") == 11
