"""What operators have today: CloudStack-style one-VM-at-a-time allocators.

They exist to be measured against (bench.py) and to show, in tests, the failures that motivated the
engine (placement.md section 1):

* ``first_fit`` - ``vm.allocation.algorithm=firstfit`` without an affinity group: the first host in
  list order with capacity. Ignores groups, so replicas of one ring can share a host.
* ``first_fit_anti_affinity`` - the same plus a strict host anti-affinity group: hosts running a
  member are skipped (as ``HostAntiAffinityProcessor`` adds them to the avoid set). Greedy, no look
  ahead, no rack awareness: it can fail although a placement exists and ignores rack spread.
* ``user_dispersing`` - hosts with the fewest VMs of the group first (``userdispersing``, with the
  group standing in for the account); no hard anti-affinity.
* ``random_fit`` - CloudStack's default ``random``: a uniformly random host with capacity (seeded).

VMs are placed in request order, hosts scanned in estate list order (CloudStack's listing order). A
VM that finds no host is left unplaced and the result is infeasible, like a failed deploy.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np

from .expand import expand_request, validate_request
from .model import Estate, PlacementResult, Request, VMSpec
from .units import fmt_size

Chooser = Callable[[np.ndarray, VMSpec, "_State"], int]


class _State:
    """Estate as arrays in list order, updated as VMs are placed."""

    def __init__(self, estate: Estate, avoid: set[str]) -> None:
        self.ids = [h.id for h in estate.hosts]
        self.dc = np.asarray([h.datacenter for h in estate.hosts])
        self.avail = np.asarray(
            [h.state == "enabled" and h.id not in avoid for h in estate.hosts], dtype=bool
        )
        cap = np.asarray([estate.effective_capacity(h) for h in estate.hosts], dtype=np.int64).reshape(-1, 3)
        load = np.asarray(
            [[sum(vm.size()[d] for vm in h.vms) for d in range(3)] for h in estate.hosts], dtype=np.int64
        ).reshape(-1, 3)
        self.res = cap - load
        self.group_hosts: dict[str, list[int]] = {}
        for pos, h in enumerate(estate.hosts):
            for vm in h.vms:
                if vm.group is not None:
                    self.group_hosts.setdefault(vm.group, []).append(pos)

    def fits(self, vm: VMSpec) -> np.ndarray:
        return self.avail & (self.dc == vm.datacenter) & np.all(self.res >= np.asarray(vm.size()), axis=1)

    def put(self, vm: VMSpec, pos: int) -> None:
        self.res[pos] -= np.asarray(vm.size(), dtype=np.int64)
        if vm.group is not None:
            self.group_hosts.setdefault(vm.group, []).append(pos)


def _run(estate: Estate, request: Request, name: str, choose: Chooser) -> PlacementResult:
    validate_request(estate, request)
    vms = expand_request(estate, request)
    state = _State(estate, set(request.avoid_hosts))
    assignments: dict[str, str] = {}
    failed: list[str] = []
    for vm in vms:
        ok = state.fits(vm)
        pos = choose(ok, vm, state) if ok.any() else -1
        if pos < 0:
            failed.append(vm.name)
            continue
        state.put(vm, pos)
        assignments[vm.name] = state.ids[pos]
    if failed:
        first = next(vm for vm in vms if vm.name == failed[0])
        reason = (
            f"{name}: no suitable host for {failed[0]} ({fmt_size(first.size())}) in {first.datacenter}"
            + (f" and {len(failed) - 1} more VM(s)" if len(failed) > 1 else "")
        )
        return PlacementResult(feasible=False, assignments=assignments, reason=reason, vms=vms, method=name)
    return PlacementResult(feasible=True, assignments=assignments, vms=vms, method=name)


def _first(ok: np.ndarray, vm: VMSpec, state: _State) -> int:
    return int(np.argmax(ok))


def _first_not_member(ok: np.ndarray, vm: VMSpec, state: _State) -> int:
    if vm.group is not None:
        ok = ok.copy()
        ok[state.group_hosts.get(vm.group, [])] = False
    return int(np.argmax(ok)) if ok.any() else -1


def _fewest_of_group(ok: np.ndarray, vm: VMSpec, state: _State) -> int:
    counts = np.zeros(len(ok), dtype=np.int64)
    if vm.group is not None:
        np.add.at(counts, state.group_hosts.get(vm.group, []), 1)
    score = np.where(ok, counts, np.iinfo(np.int64).max)
    return int(np.argmin(score))  # first index among the fewest: list order breaks ties


def first_fit(estate: Estate, request: Request) -> PlacementResult:
    """CloudStack firstfit, no affinity group."""
    return _run(estate, request, "firstfit", _first)


def first_fit_anti_affinity(estate: Estate, request: Request) -> PlacementResult:
    """CloudStack firstfit with a strict host anti-affinity group per group."""
    return _run(estate, request, "firstfit+anti-affinity", _first_not_member)


def user_dispersing(estate: Estate, request: Request) -> PlacementResult:
    """CloudStack userdispersing: fewest VMs of the group first, list order among equals."""
    return _run(estate, request, "userdispersing", _fewest_of_group)


def random_fit(estate: Estate, request: Request, seed: int = 0) -> PlacementResult:
    """CloudStack random allocator, seeded so runs are reproducible."""
    rng = random.Random(seed)

    def pick(ok: np.ndarray, vm: VMSpec, state: _State) -> int:
        return int(rng.choice(np.flatnonzero(ok).tolist()))

    return _run(estate, request, f"random(seed={seed})", pick)


BASELINES: dict[str, Callable[[Estate, Request], PlacementResult]] = {
    "firstfit": first_fit,
    "firstfit+anti-affinity": first_fit_anti_affinity,
    "userdispersing": user_dispersing,
    "random": random_fit,
}
