"""The fast path: a look-ahead-free greedy that places a whole datacenter in one sweep.

Why this shape (see placement.md section 2): groups go first, largest first, like DSatur colouring,
because a big group needs many distinct hosts and must pick them before small VMs fragment the
holes. Each member goes to a rack with the fewest members among racks that can still take it
(water-filling, which keeps the rack-spread rule true by construction), and inside those racks to
the host that is already in use and fits most tightly on the VM's dominant resource (best fit), so
holes on busy hosts are filled before an empty host is opened. When a host must be opened, it is
the biggest one in the request's scarce resource while the VMs still to place need more than any
empty host holds, then the smallest that holds them all (best fit would open the smallest empty
host and soon need another: on the tight benchmark estates that opened 2x the optimum). Ties go
to the smallest host id.

Greedy can fail where a placement exists (placement.md gadgets G1-G4); the engine then retries
other orders and finally asks the exact solver, so this module only has to be fast and valid.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from .model import VMSpec
from .problem import DCProblem
from .rules import open_hosts

Order = Callable[[DCProblem], list[VMSpec]]


def _scales(p: DCProblem) -> np.ndarray:
    """Typical capacity per resource (mean over available hosts) to compare resources fairly."""
    caps = p.cap[p.avail] if p.avail.any() else p.cap
    if len(caps) == 0:
        return np.ones(3)
    return np.maximum(caps.mean(axis=0), 1.0)


def dominant(size: tuple[int, int, int], scales: np.ndarray) -> tuple[int, float]:
    """(index, share) of the resource the VM needs most of, relative to a typical host."""
    shares = np.asarray(size, dtype=float) / scales
    d = int(np.argmax(shares))
    return d, float(shares[d])


def _group_key(vm: VMSpec) -> str:
    # Ungrouped VMs are singleton groups keyed by their own name.
    return vm.group if vm.group is not None else f"\0{vm.name}"


def order_groups_first(p: DCProblem) -> list[VMSpec]:
    """Largest group first, then biggest VM (dominant share), then name."""
    scales = _scales(p)
    groups: dict[str, list[VMSpec]] = defaultdict(list)
    for vm in p.vms:
        groups[_group_key(vm)].append(vm)

    def vm_key(vm: VMSpec) -> tuple[float, str]:
        return (-dominant(vm.size(), scales)[1], vm.name)

    def g_key(item: tuple[str, list[VMSpec]]) -> tuple[int, float, str]:
        key, members = item
        return (-len(members), -max(dominant(v.size(), scales)[1] for v in members), key)

    out: list[VMSpec] = []
    for _, members in sorted(groups.items(), key=g_key):
        out.extend(sorted(members, key=vm_key))
    return out


def order_most_constrained(p: DCProblem) -> list[VMSpec]:
    """Groups with the least slack (eligible hosts minus members needed) first."""
    scales = _scales(p)
    groups: dict[str, list[VMSpec]] = defaultdict(list)
    for vm in p.vms:
        groups[_group_key(vm)].append(vm)

    def slack(key: str, members: list[VMSpec]) -> int:
        size = np.asarray([min(v.size()[i] for v in members) for i in range(3)], dtype=np.int64)
        ok = p.avail & np.all(p.res >= size, axis=1)
        if members[0].group is not None:
            idx = p.member_hosts.get(members[0].group, [])
            if idx:
                ok[idx] = False
        return int(ok.sum()) - len(members)

    keyed = sorted(groups.items(), key=lambda it: (slack(*it), -len(it[1]), it[0]))
    out: list[VMSpec] = []
    for _, members in keyed:
        out.extend(sorted(members, key=lambda v: (-dominant(v.size(), scales)[1], v.name)))
    return out


def order_size_first(p: DCProblem) -> list[VMSpec]:
    """Plain first-fit-decreasing order across groups (helps when sizes, not groups, bind)."""
    scales = _scales(p)
    return sorted(p.vms, key=lambda v: (-dominant(v.size(), scales)[1], _group_key(v), v.name))


ORDERS: tuple[tuple[str, Order], ...] = (
    ("groups-first", order_groups_first),
    ("most-constrained", order_most_constrained),
    ("size-first", order_size_first),
)


def scarce_resource(p: DCProblem, sizes: np.ndarray) -> int:
    """The resource the request needs the largest share of, of what the DC has free."""
    free = np.maximum(p.res[p.avail], 0).sum(axis=0) if p.avail.any() else np.zeros(3)
    demand = sizes.sum(axis=0) if len(sizes) else np.zeros(3)
    return int(np.argmax(demand / np.maximum(free, 1)))


def group_probes(p: DCProblem) -> dict[str, tuple[int, int, int]]:
    """DCProblem.probe of every group with new VMs, in one pass over the VMs instead of one per group."""
    out: dict[str, list[int]] = {}
    for vm in p.vms:
        if vm.group is None:
            continue
        size = vm.size()
        low = out.get(vm.group)
        if low is None:
            low = out[vm.group] = list(size)
            for old in p.member_sizes.get(vm.group, []):
                low[:] = [min(a, b) for a, b in zip(low, old, strict=True)]
        low[:] = [min(a, b) for a, b in zip(low, size, strict=True)]
    return {g: (v[0], v[1], v[2]) for g, v in out.items()}


def _opening_key(empty: np.ndarray, cap_s: np.ndarray, top: float, rest: int) -> np.ndarray:
    """Rank of each empty candidate host, in [0, 1), lowest opened first (``cap_s``: capacity in
    the scarce resource, ``rest``: what the VMs still to place need of it).

    Fewest hosts opened means opening big hosts: a small one fills up and forces the next open.
    Only once an empty host could take all the rest is the smallest such host the best choice.
    """
    holds = empty & (cap_s >= rest)
    if holds.any():
        return np.where(holds, 0.5 * cap_s / top, 0.5 + 0.5 * (1.0 - cap_s / top))
    return 1.0 - cap_s / top


def greedy(p: DCProblem, order: list[VMSpec], *, strict: bool = True) -> dict[str, int] | None:
    """Place ``order`` one VM at a time; VM name -> host position, or None at the first dead end.

    A group's member goes to one of its lightest racks among those that had room for it before
    the request (rules.py) and still have a host it may use. When such a rack has no host left
    that fits now (other VMs took the room), ``strict`` gives up on this order - the engine tries
    another, then the exact solver - while ``strict=False`` falls back to the lightest rack that
    still fits, the best effort the engine keeps when nothing proves a better spread possible.
    """
    res = p.res.copy()
    used = p.used.copy()
    members: dict[str, list[int]] = {g: list(v) for g, v in p.member_hosts.items()}
    counts: dict[str, np.ndarray] = {}
    room: dict[str, np.ndarray] = {}
    scales = _scales(p)
    inv_cap = 1.0 / np.maximum(p.cap, 1)
    n_racks = len(p.racks)
    out: dict[str, int] = {}
    sizes = np.asarray([vm.size() for vm in order], dtype=np.int64).reshape(-1, 3)
    scarce = scarce_resource(p, sizes)
    cap_s = p.cap[:, scarce].astype(float)
    top = max(float(cap_s.max()) if len(cap_s) else 1.0, 1.0) + 1.0
    rest = int(sizes[:, scarce].sum())
    probes = group_probes(p)
    for i, vm in enumerate(order):
        size = sizes[i]
        fits = p.avail & (res[:, 0] >= size[0]) & (res[:, 1] >= size[1]) & (res[:, 2] >= size[2])
        if vm.group is not None:
            taken = members.get(vm.group)
            if taken:
                fits[taken] = False
        if not fits.any():
            return None
        cand = fits
        if vm.group is not None:
            cnt = counts.get(vm.group)
            if cnt is None:
                cnt = counts[vm.group] = np.zeros(n_racks, dtype=np.int64)
                for pos in members.get(vm.group, []):
                    cnt[p.rack_of[pos]] += 1
                before = open_hosts(p, p.res, p.member_hosts.get(vm.group, []), probes[vm.group]) & p.avail
                room[vm.group] = np.bincount(p.rack_of[before], minlength=n_racks)
            per_host = cnt[p.rack_of]
            lowest = per_host[fits].min()
            if strict:
                left = room[vm.group] > 0
                level = cnt[left].min() if left.any() else lowest
                if lowest > level:
                    return None  # the lightest rack with room before has none left now
            cand = fits & (per_host == lowest)
        in_use = cand & used
        if in_use.any():  # a hole or an opened host: best fit on the VM's dominant resource
            d, _ = dominant(vm.size(), scales)
            score = np.where(in_use, (res[:, d] - size[d]) * inv_cap[:, d], np.inf)
        else:
            score = np.where(cand, _opening_key(cand, cap_s, top, rest), np.inf)
        pos = int(np.argmin(score))
        rest -= int(size[scarce])
        res[pos] -= size
        used[pos] = True
        if vm.group is not None:
            members.setdefault(vm.group, []).append(pos)
            counts[vm.group][p.rack_of[pos]] += 1
            room[vm.group][p.rack_of[pos]] -= 1
        out[vm.name] = pos
    return out
