"""Which worker runs which check: every check of one host on one worker, hosts dealt out evenly.

Why a static share rather than xdist's queues: a worker that knows its hosts before its first
check can gather their facts in advance, many at a time (cloudgate.ssh.gather), and a host is reached
by one connection only. The share is a pure function of the collected test ids and the number of
shares, so the controller (which schedules) and each worker (which prefetches) compute the same
one without talking to each other.

A test's host is the id in its brackets (`test_kernel_matches_the_baseline[dc1-r1-h1]`): the
suite parametrizes host checks by host name and node checks by node label, so every check of one
host shares that id. Tests without brackets each form a group of their own.
"""

from __future__ import annotations

from collections.abc import Sequence


def group_of(nodeid: str) -> str:
    """The host (or node) a check is about, else the test itself."""
    if nodeid.endswith("]") and "[" in nodeid:
        return nodeid[nodeid.index("[") + 1 : -1]
    return nodeid


def assign(nodeids: Sequence[str], shares: int) -> list[int]:
    """The share (0..shares-1) of each test: groups in order of first appearance, dealt round-robin.

    Round-robin by first appearance keeps shares within one group of each other, and a rack's
    hosts (listed together) spread over every share instead of loading one.
    """
    if shares < 1:
        raise ValueError("at least one share")
    share_of_group: dict[str, int] = {}
    out = []
    for nodeid in nodeids:
        group = group_of(nodeid)
        share = share_of_group.get(group)
        if share is None:
            share = share_of_group[group] = len(share_of_group) % shares
        out.append(share)
    return out


def worker_index(worker_id: str) -> int:
    """xdist names its workers gw0, gw1, ... in the order of the --tx specs: the share index."""
    digits = worker_id.removeprefix("gw")
    if not digits.isdigit():
        raise ValueError(f"not an xdist worker id: {worker_id!r}")
    return int(digits)
