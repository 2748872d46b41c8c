"""Fewer hosts opened: once a valid plan exists, try to empty the hosts it opened.

Two steps, cheapest first (improve_plan): a local search on every DC, then, on a DC small enough
for CP-SAT to answer within a few seconds (POLISH_MAX_PAIRS), an exact solve that minimises hosts
opened, warm-started from the plan as a complete hint, skipped when the plan already meets the
lower bound (bounds.py).

Why a second step: the greedy sweep (greedy.py) decides one VM at a time and never looks back, so
it opens an empty host whenever the next VM finds no hole, even when the VMs placed after it leave
room elsewhere for everything that host received. On estates without spare holes that costs hosts
(issue 17: up to 1.25 x the optimum). The local search here is the cheap part of placement.md
section 2's "ejection chains and 0-cost moves": for each host the plan opened, least loaded first,
move each of its new VMs to another host already in use (a hole on a busy host or another opened
host; best fit on the VM's dominant resource), and if one VM finds no such host, make room for it
by moving one new VM off a host it would fit on (a depth-1 ejection). When every VM of the host has
moved, the host stays empty; otherwise all its moves are undone.

Spread comes first: a move is taken only if the group's rack imbalance (rules.py, racks judged open
*before* the request) stays within what the plan was accepted with - at most 1, or the minimum the
exact solver proved for a group no placement spreads within one. So the result passes verify_dc
with the same ``allowed`` as the plan it improves, and never uses more hosts. No randomness, hosts
visited in a fixed order (ties by position, i.e. host id), CP-SAT on one worker with a deterministic
time limit: the same plan gives the same result.
"""

from __future__ import annotations

import numpy as np

from .bounds import lower_bound_opened
from .exact import candidate_pairs, solve_dc
from .greedy import group_probes
from .problem import DCProblem
from .rules import open_racks
from .verify import spread_gaps, verify_dc

#: CP-SAT polishes a plan only on a DC whose model has at most this many (VM, host) pairs. Measured
#: on 2 cores (tight estates): ~200 pairs (50 hosts) take 0.05 s; 1,500-3,000 pairs (150 hosts x 50
#: VMs) 0.6-2.8 s with POLISH_LIMIT; ~20,000 pairs (500 hosts x 170 VMs) 4-7 s for a deterministic
#: limit of 0.5, returning nothing, not even the hint. A 3,000-host DC never gets here.
POLISH_MAX_PAIRS = 4_000
#: Above this many hosts in a DC too big for CP-SAT, the plan is not even compared with the lower
#: bound (~0.1 s on 1,500 hosts, a tenth of the 3,000-host time budget); it then goes unlabelled.
BOUND_MAX_HOSTS = 1_000
#: Deterministic-time budget of one polishing solve (CP-SAT's own unit; wall time was 0.8-2.8x it
#: on this machine). 1.0 found every improvement 2.0 found on the benchmark's tight estates.
POLISH_LIMIT = 1.0
#: Work budget of one local search, in targets() evaluations (~50-100 us each on 1,500 hosts): once
#: spent, no further ejection nor host is tried. Deterministic, unlike a clock; it keeps 3,000 hosts
#: within time, where the search gained at most one host (the opened hosts are ~94 % full there).
WORK_BUDGET = 300
#: Passes over the opened hosts; a pass that empties none ends the search earlier.
MAX_PASSES = 4
#: Ejection tries at most this many hosts per stuck VM (the best-fitting first), so that the search
#: stays linear in the number of opened hosts on 3,000-host estates.
EJECT_HOSTS = 24


class _Packing:
    """A plan as arrays that cheap moves update in place."""

    def __init__(self, p: DCProblem, assign: dict[str, int], allowed: dict[str, int]) -> None:
        self.p = p
        n = p.n_hosts
        self.sizes = np.asarray([vm.size() for vm in p.vms], dtype=np.int64).reshape(-1, 3)
        self.host = np.asarray([assign[vm.name] for vm in p.vms], dtype=np.int64)
        self.res = p.res.copy()
        np.subtract.at(self.res, self.host, self.sizes)
        self.on: list[list[int]] = [[] for _ in range(n)]
        for vi, h in enumerate(self.host.tolist()):
            self.on[h].append(vi)
        groups = p.groups_of_new_vms()
        index = {g: i for i, g in enumerate(groups)}
        self.gid = np.asarray([index[vm.group] if vm.group is not None else -1 for vm in p.vms], dtype=np.int64)
        n_racks = len(p.racks)
        self.members = np.zeros((len(groups), n), dtype=np.int32)
        self.counts = np.zeros((len(groups), n_racks), dtype=np.int64)
        self.open_before = np.zeros((len(groups), n_racks), dtype=bool)
        self.limit = np.ones(len(groups), dtype=np.int64)
        probes = group_probes(p)  # rules.open_racks_before's probe, for all groups in one pass
        for g, name in enumerate(groups):
            for pos in p.member_hosts.get(name, []):
                self.members[g, pos] += 1
                self.counts[g, p.rack_of[pos]] += 1
            self.open_before[g] = open_racks(p, p.res, p.member_hosts.get(name, []), probes[name])
            self.limit[g] = max(1, allowed.get(name, 1))
        for vi, g in enumerate(self.gid.tolist()):
            if g >= 0:
                self.members[g, self.host[vi]] += 1
                self.counts[g, p.rack_of[self.host[vi]]] += 1
        self.in_use = p.used | np.asarray([bool(v) for v in self.on], dtype=bool)
        caps = p.cap[p.avail] if p.avail.any() else p.cap
        scales = np.maximum(caps.mean(axis=0), 1.0) if len(caps) else np.ones(3)
        self.dom = np.argmax(self.sizes / scales, axis=1) if len(self.sizes) else np.zeros(0, dtype=np.int64)
        self.inv_cap = 1.0 / np.maximum(p.cap, 1)
        self.eye = np.eye(n_racks, dtype=np.int64)
        self.work = 0  # targets() evaluations so far: the search's deterministic clock
        self.budget = WORK_BUDGET
        self.largest = np.zeros_like(self.res)  # per host, the largest new VM on it per resource
        for h, vis in enumerate(self.on):
            if vis:
                self.largest[h] = self.sizes[vis].max(axis=0)

    def opened(self) -> list[int]:
        return [h for h in range(self.p.n_hosts) if self.on[h] and not self.p.used[h]]

    def active(self) -> np.ndarray:
        """Positions that can matter to a move now: hosts in use that run new VMs (they may give
        room or take more) or have room for the smallest new VM. Moves only shrink the room of the
        other hosts, so this stays a superset of the useful targets while one host is emptied."""
        p = self.p
        small = self.sizes.min(axis=0)
        busy_new = np.asarray([bool(v) for v in self.on], dtype=bool)
        keep = p.avail & self.in_use & (busy_new | np.all(self.res >= small, axis=1))
        return np.flatnonzero(keep)

    def _spread_ok(self, vi: int) -> np.ndarray | None:
        """Racks the VM may move to without its group's imbalance exceeding its limit (None: any)."""
        g = int(self.gid[vi])
        if g < 0:
            return None
        open_ = self.open_before[g]
        if not open_.any():
            return None
        c = self.counts[g].copy()
        c[self.p.rack_of[self.host[vi]]] -= 1
        after = c[None, :] + self.eye  # row b: the counts once the VM sits in rack b
        gaps = after.max(axis=1) - after[:, open_].min(axis=1)
        return gaps <= self.limit[g]

    def targets(self, vi: int, act: np.ndarray, closed: set[int], bonus: np.ndarray | None = None) -> np.ndarray:
        """Positions among ``act`` (hosts in use, see active()) other than ``closed`` and the VM's
        own host that the VM may move to; with ``bonus``, as if each host had that much more room."""
        self.work += 1
        size = self.sizes[vi]
        room = self.res[act] if bonus is None else self.res[act] + bonus[act]
        ok = (room[:, 0] >= size[0]) & (room[:, 1] >= size[1]) & (room[:, 2] >= size[2])
        g = int(self.gid[vi])
        if g >= 0:
            ok &= self.members[g, act] == 0
        racks = self._spread_ok(vi)
        if racks is not None:
            ok &= racks[self.p.rack_of[act]]
        cand = act[ok]
        for h in (*closed, int(self.host[vi])):
            cand = cand[cand != h]
        return cand

    def best(self, vi: int, cand: np.ndarray, bonus: np.ndarray | None = None) -> np.ndarray:
        """``cand`` best fit first: least room left on the VM's dominant resource, then position."""
        d = int(self.dom[vi])
        room = self.res[cand, d] if bonus is None else self.res[cand, d] + bonus[cand, d]
        score = (room - self.sizes[vi, d]) * self.inv_cap[cand, d]
        return cand[np.lexsort((cand, score))]

    def move(self, vi: int, to: int) -> None:
        src = int(self.host[vi])
        size = self.sizes[vi]
        self.res[src] += size
        self.res[to] -= size
        self.on[src].remove(vi)
        self.on[to].append(vi)
        self.host[vi] = to
        g = int(self.gid[vi])
        if g >= 0:
            rack_of = self.p.rack_of
            self.members[g, src] -= 1
            self.members[g, to] += 1
            self.counts[g, rack_of[src]] -= 1
            self.counts[g, rack_of[to]] += 1
        self.in_use[to] = True
        self.in_use[src] = bool(self.p.used[src] or self.on[src])
        for h in (src, to):
            self.largest[h] = self.sizes[self.on[h]].max(axis=0) if self.on[h] else 0

    def eject(self, vi: int, act: np.ndarray, closed: set[int]) -> list[tuple[int, int]] | None:
        """Room for ``vi`` on a host in use by moving one new VM off it elsewhere.

        Returns the moves made as (vm, host it came from), for try_empty to undo, or None (then
        nothing moved). Only the EJECT_HOSTS best-fitting hosts are tried.
        """
        size = self.sizes[vi]
        src = int(self.host[vi])
        cand = self.targets(vi, act, closed, bonus=self.largest)
        if not len(cand):
            return None
        d = int(self.dom[vi])
        for h in self.best(vi, cand, bonus=self.largest)[:EJECT_HOSTS].tolist():
            for ui in sorted(self.on[h], key=lambda u: (-int(self.sizes[u, d]), u)):
                if self.gid[ui] >= 0 and self.gid[ui] == self.gid[vi]:
                    continue  # same group: vi's spread check assumed ui stays where it is
                if not np.all(self.res[h] + self.sizes[ui] >= size):
                    continue
                to = self.targets(ui, act, closed)  # never back to h: it is ui's own host
                if not len(to):
                    continue
                self.move(ui, int(self.best(ui, to)[0]))
                if h in self.targets(vi, act, closed):
                    self.move(vi, h)
                    return [(ui, h), (vi, src)]
                self.move(ui, h)  # ui's move changed what vi may do (spread): undo, try the next
        return None

    def try_empty(self, h: int) -> bool:
        """Move every new VM off ``h``; undo everything unless all of them found a place."""
        closed = {h}
        act = self.active()
        done: list[tuple[int, int]] = []  # (vm, host it came from), in the order moved
        inv = self.inv_cap[h]
        for vi in sorted(self.on[h], key=lambda v: (-float(self.sizes[v, self.dom[v]] * inv[self.dom[v]]), v)):
            cand = self.targets(vi, act, closed)
            if len(cand):
                done.append((vi, h))
                self.move(vi, int(self.best(vi, cand)[0]))
                continue
            chain = self.eject(vi, act, closed) if self.work < self.budget else None
            if chain is None:
                for vm, origin in reversed(done):
                    self.move(vm, origin)
                return False
            done.extend(chain)
        return True


def reduce_opened(p: DCProblem, assign: dict[str, int], allowed: dict[str, int] | None = None) -> dict[str, int]:
    """A plan using no more hosts than ``assign`` (usually fewer), valid under the same ``allowed``.

    ``allowed`` is what the plan was accepted with (verify_dc); None means every group within one.
    """
    if not p.vms:
        return dict(assign)
    if allowed is None:
        allowed = {}
    else:
        # never let a group drift above the imbalance it has in the plan being improved
        allowed = {g: min(allowed.get(g, gap), max(1, gap)) for g, gap in spread_gaps(p, assign).items()}
    state = _Packing(p, assign, allowed)
    for _ in range(MAX_PASSES):
        loads = []
        for h in state.opened():
            share = (state.sizes[state.on[h]].sum(axis=0) * state.inv_cap[h]).max()
            loads.append((float(share), h))
        emptied = sum(1 for _, h in sorted(loads) if state.on[h] and state.work < state.budget and state.try_empty(h))
        if not emptied:
            break
    return {vm.name: int(state.host[vi]) for vi, vm in enumerate(p.vms)}


def opened_count(p: DCProblem, assign: dict[str, int]) -> int:
    """Empty hosts the plan puts a VM on."""
    return len({h for h in assign.values() if not p.used[h]})


def polish_exact(p: DCProblem, assign: dict[str, int], limit: float = POLISH_LIMIT) -> tuple[dict[str, int], bool]:
    """(plan, proven): CP-SAT minimises hosts opened from ``assign`` on a small DC.

    ``proven`` says the plan's count is the minimum (CP-SAT's proof or the lower bound). Only for a
    plan that spreads every group within one (CP-SAT's strict spread is that rule); the plan is
    returned unchanged when the DC is too big, the bound already holds, or CP-SAT finds no better.
    """
    opened = opened_count(p, assign)
    if opened == 0:
        return assign, True
    small = candidate_pairs(p, stop_above=POLISH_MAX_PAIRS) <= POLISH_MAX_PAIRS
    if (small or p.n_hosts <= BOUND_MAX_HOSTS) and opened <= lower_bound_opened(p):
        return assign, True
    if not small:
        return assign, False
    found = solve_dc(p, minimize_hosts=True, time_limit_s=limit, hint=assign)
    proven = found.status == "optimal"
    if found.status in ("optimal", "feasible") and (found.opened or 0) < opened:
        if verify_dc(p, found.assign) is None:
            return found.assign, proven
        return assign, False  # pragma: no cover - a modelling bug; keep the verified plan
    return assign, proven and found.opened == opened


def improve_plan(
    p: DCProblem, assign: dict[str, int], allowed: dict[str, int] | None = None, *, exact: bool = True
) -> tuple[dict[str, int], str]:
    """(plan, what helped): ``assign`` itself, or a plan opening fewer hosts that verify_dc accepted
    with the same ``allowed`` (the engine verifies ``assign`` only when it comes back unchanged).

    ``allowed`` is what the plan is judged with (None: every group within one); only such a plan
    is polished by CP-SAT, and only with ``exact``. What helped is a suffix for the plan's
    method: ``+repack`` when the local search emptied hosts, ``+cp-sat`` when CP-SAT found fewer,
    `` (optimal)`` when the count is proven minimal (by CP-SAT or the lower bound).
    """
    before = opened_count(p, assign)
    if before == 0:
        return assign, ""
    how = ""
    better = reduce_opened(p, assign, allowed)
    if opened_count(p, better) < before and verify_dc(p, better, allowed=allowed) is None:
        assign, how = better, "+repack"
    if allowed is not None or not exact:
        return assign, how
    polished, proven = polish_exact(p, assign)
    if opened_count(p, polished) < opened_count(p, assign):
        assign, how = polished, how + "+cp-sat"
    return assign, how + (" (optimal)" if proven else "")
