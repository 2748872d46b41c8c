"""Exact reference solver on OR-Tools CP-SAT (placement.md section 3).

Used three ways: as the engine's fallback when its greedy passes fail (so "infeasible" is a proof,
not a guess), as the oracle of the tests, and by operators for small and medium estates who want
the minimum number of hosts in use. It models exactly the rules of rules.py:

* ``x[v,h]`` for each VM and each *candidate* host (available, same DC, fits alone, no existing
  member of the VM's group); ``ExactlyOne`` per VM;
* capacity per host and resource (``sum(size*x) <= residual``, times ``y[h]`` for empty hosts when
  minimising, the form the notes measured to prove optimality fastest);
* ``AtMostOne`` per (group, host);
* rack spread: ``count[r] >= max_count - 1`` for every rack r open for the group before the request
  (rules.open_racks_before), as a hard constraint, or with a per-group slack minimised before
  anything else (``spread_soft``) when no placement spreads within one member.

Results depend only on the input when ``deterministic`` is set (one worker, deterministic time
limit); the benchmark uses wall-clock limits and both cores instead.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, Field

from .bounds import hosts_in_use, lower_bound_opened
from .expand import expand_request, validate_request
from .model import Estate, Request, VMSpec
from .problem import DCProblem, build_problems
from .rules import open_racks_before
from .verify import spread_gaps

if TYPE_CHECKING:  # at run time OR-Tools is imported by solve_dc alone, see there
    from ortools.sat.python import cp_model

Status = Literal["optimal", "feasible", "infeasible", "unknown"]
SpreadMode = Literal["minimise", "strict"]


@dataclass
class DCSolve:
    """Outcome for one datacenter; ``assign`` maps VM name to host position."""

    status: Status
    assign: dict[str, int] = field(default_factory=dict)
    opened: int | None = None
    bound: int | None = None
    wall_s: float = 0.0
    #: With ``spread_soft``: whether CP-SAT proved the plan's imbalance minimal (not just found it).
    spread_proven: bool = False


class ExactResult(BaseModel):
    """Outcome over all datacenters of a request.

    ``status`` is "infeasible" if any DC is proven infeasible, "unknown" if some DC was not decided
    within the limit, "optimal" when every DC was solved to optimality (minimising), else
    "feasible". ``hosts_in_use`` counts hosts running at least one VM after the placement.
    """

    status: Status
    assignments: dict[str, str] = Field(default_factory=dict)
    #: Groups (``group@dc``) no placement spreads within one member per rack: their imbalance was
    #: minimised instead (``spread="minimise"``, the engine's own semantics).
    spread_relaxed: list[str] = Field(default_factory=list)
    hosts_in_use: int | None = None
    opened_hosts: int | None = None
    opened_bound: int | None = None
    wall_s: float = 0.0

    @property
    def feasible(self) -> bool | None:
        if self.status in ("optimal", "feasible"):
            return True
        if self.status == "infeasible":
            return False
        return None


def candidate_pairs(p: DCProblem, stop_above: int | None = None) -> int:
    """Size of the CP-SAT model: (VM, host) pairs where the VM fits the host alone.

    Counting stops early once it passes ``stop_above`` (callers only ask "too big?"), and each
    distinct VM size is matched against the hosts once, which keeps this cheap on 3,000 hosts.
    """
    total = 0
    seen: dict[tuple[int, int, int], int] = {}
    for vm in p.vms:
        size = vm.size()
        if size not in seen:
            s = np.asarray(size, dtype=np.int64)
            seen[size] = int((p.avail & (p.res[:, 0] >= s[0]) & (p.res[:, 1] >= s[1]) & (p.res[:, 2] >= s[2])).sum())
        total += seen[size]
        if stop_above is not None and total > stop_above:
            return total
    return total


def solve_dc(
    p: DCProblem,
    *,
    spread_groups: set[str] | None = None,
    aa_groups: set[str] | None = None,
    minimize_hosts: bool = False,
    time_limit_s: float = 10.0,
    deterministic: bool = True,
    workers: int = 1,
    hint: dict[str, int] | None = None,
    spread_soft: bool = False,
) -> DCSolve:
    """Solve one DC. ``spread_groups``/``aa_groups`` (default: all) let diagnostics relax rules.

    ``spread_soft`` turns the rack-spread rule into an objective (minimise each group's imbalance
    above 1, before hosts opened): for a request no placement spreads within one member per rack.
    """
    # OR-Tools is imported on first use, not with the package: it brings pandas and costs ~0.5 s,
    # paid by every `import cloudgate.placement` (hence by the pytest plugin and every suite run)
    # although only this solver needs it, and the engine calls it only when its greedy passes fail.
    from ortools.sat.python import cp_model

    start = time.perf_counter()
    groups = p.groups_of_new_vms()
    spread_on = set(groups) if spread_groups is None else set(spread_groups)
    aa_on = set(groups) if aa_groups is None else set(aa_groups)

    m = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    on_host: dict[int, list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
    sizes = [vm.size() for vm in p.vms]
    cands_of: list[list[int]] = []
    for vi, vm in enumerate(p.vms):
        ok = p.avail & np.all(p.res >= np.asarray(sizes[vi], dtype=np.int64), axis=1)
        if vm.group in aa_on:
            taken = p.member_hosts.get(vm.group, [])
            if taken:
                ok[taken] = False
        cands = [int(h) for h in np.flatnonzero(ok)]
        cands_of.append(cands)
        if not cands:
            return DCSolve("infeasible", wall_s=time.perf_counter() - start)
        lits = []
        for h in cands:
            var = m.NewBoolVar(f"x{vi}_{h}")
            x[vi, h] = var
            on_host[h].append((vi, var))
            lits.append(var)
        m.AddExactlyOne(lits)

    y: dict[int, cp_model.IntVar] = {}
    for h in sorted(on_host):
        entries = on_host[h]
        opener = None
        if minimize_hosts and not p.used[h]:
            opener = y[h] = m.NewBoolVar(f"y{h}")
            for _, var in entries:
                m.AddImplication(var, opener)
        for d in range(3):
            total = sum(sizes[vi][d] for vi, _ in entries)
            if total <= p.res[h, d]:
                continue
            expr = sum(sizes[vi][d] * var for vi, var in entries if sizes[vi][d])
            cap = int(p.res[h, d])
            m.Add(expr <= (cap * opener if opener is not None else cap))

    members_new: dict[str, list[int]] = defaultdict(list)
    for vi, vm in enumerate(p.vms):
        if vm.group is not None:
            members_new[vm.group].append(vi)
    for group, vis in members_new.items():
        if group not in aa_on or len(vis) < 2:
            continue
        per_host: dict[int, list[cp_model.IntVar]] = defaultdict(list)
        for vi in vis:
            for h in cands_of[vi]:
                per_host[h].append(x[vi, h])
        for h in sorted(per_host):
            if len(per_host[h]) > 1:
                m.AddAtMostOne(per_host[h])

    slacks: list[cp_model.IntVar] = []
    for group in groups:
        if group not in spread_on:
            continue
        vis = members_new[group]
        e_counts = p.existing_rack_counts(group)
        rack_terms: dict[int, list[cp_model.IntVar]] = defaultdict(list)
        for vi in vis:
            for h in cands_of[vi]:
                rack_terms[int(p.rack_of[h])].append(x[vi, h])
        total = int(e_counts.sum()) + len(vis)
        mx = m.NewIntVar(0, total, f"max_{group}")
        counts = []
        for r in range(len(p.racks)):
            c = int(e_counts[r]) + sum(rack_terms[r])
            counts.append(c)
            m.Add(mx >= c)
        # Openness is fixed before placement (rules.py), so the rule is linear: every rack open
        # before the request ends within one member of the heaviest rack (or within 1 + slack,
        # the slack minimised first, when spread_soft says no placement need reach one).
        slack = m.NewIntVar(0, total, f"slack_{group}") if spread_soft else None
        if slack is not None:
            slacks.append(slack)
        for r in np.flatnonzero(open_racks_before(p, group)):
            if slack is None:
                m.Add(counts[int(r)] >= mx - 1)
            else:
                m.Add(counts[int(r)] + slack >= mx - 1)

    floor = 0
    if minimize_hosts and y:
        floor = lower_bound_opened(p)
        m.Add(sum(y.values()) >= floor)
    if slacks:
        # Spread before packing: one unit of imbalance outweighs opening every candidate host.
        weight = len(y) + 1 if minimize_hosts else 1
        m.Minimize(weight * sum(slacks) + (sum(y.values()) if minimize_hosts and y else 0))
    elif minimize_hosts and y:
        m.Minimize(sum(y.values()))

    if hint:
        for (vi, h), var in x.items():
            m.AddHint(var, 1 if hint.get(p.vms[vi].name) == h else 0)
        hinted = {hint[vm.name] for vm in p.vms if vm.name in hint}
        for h, var in y.items():
            m.AddHint(var, 1 if h in hinted else 0)

    solver = cp_model.CpSolver()
    solver.parameters.random_seed = 0
    # CP-SAT catches SIGINT by default and, once solved, leaves it at the C default: the process that
    # solved (`cloudgate lab run` after the placement bench, `cloudgate place`) then died outright on
    # Ctrl-C, before its `finally` could tear the lab down. Ctrl-C stays Python's.
    solver.parameters.catch_sigint_signal = False
    if deterministic:
        solver.parameters.num_workers = 1
        solver.parameters.max_deterministic_time = time_limit_s
    else:
        solver.parameters.num_workers = workers
        solver.parameters.max_time_in_seconds = time_limit_s
    code = solver.Solve(m)
    wall = time.perf_counter() - start
    if code == cp_model.INFEASIBLE:
        return DCSolve("infeasible", wall_s=wall)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return DCSolve("unknown", wall_s=wall)
    assign: dict[str, int] = {}
    for (vi, h), var in x.items():
        if solver.BooleanValue(var):
            assign[p.vms[vi].name] = h
    opened = sum(1 for h in set(assign.values()) if not p.used[h])
    if minimize_hosts and y:
        status: Status = "optimal" if code == cp_model.OPTIMAL else "feasible"
        bound = max(floor, int(round(solver.BestObjectiveBound())))
    else:
        status = "optimal" if minimize_hosts else "feasible"  # nothing to open: trivially optimal
        bound = opened if minimize_hosts else None
    proven = bool(slacks) and code == cp_model.OPTIMAL
    return DCSolve(status, assign, opened=opened, bound=bound, wall_s=wall, spread_proven=proven)


def solve_exact_vms(
    estate: Estate,
    vms: list[VMSpec],
    *,
    avoid: frozenset[str] | set[str] = frozenset(),
    disabled: frozenset[str] | set[str] = frozenset(),
    time_limit_s: float = 10.0,
    minimize_hosts: bool = False,
    deterministic: bool = True,
    workers: int = 1,
    spread: SpreadMode = "minimise",
) -> ExactResult:
    """CP-SAT over already-expanded VMs (the evacuation path and the tests use this form).

    ``spread="minimise"`` is the engine's semantics (rules.py): where no placement spreads a group
    within one member per rack, its imbalance is minimised. ``"strict"`` makes the spread a hard
    rule, so "infeasible" then also covers requests that only an uneven spread allows.
    """
    start = time.perf_counter()
    problems = build_problems(estate, vms, avoid, disabled)
    statuses: list[Status] = []
    relaxed: list[str] = []
    assignments: dict[str, str] = {}
    opened = 0
    bound = 0
    for dc in sorted(problems):
        p = problems[dc]
        if not p.vms:
            continue
        left = max(0.1, time_limit_s - (time.perf_counter() - start)) if not deterministic else time_limit_s
        r = solve_dc(
            p, minimize_hosts=minimize_hosts, time_limit_s=left, deterministic=deterministic, workers=workers
        )
        if r.status == "infeasible" and spread == "minimise":
            r = solve_dc(
                p, minimize_hosts=minimize_hosts, time_limit_s=left, deterministic=deterministic, workers=workers,
                spread_soft=True,
            )
            if r.status in ("optimal", "feasible"):
                relaxed.extend(f"{g}@{dc}" for g, gap in spread_gaps(p, r.assign).items() if gap > 1)
        statuses.append(r.status)
        if r.status == "infeasible":
            break
        for name, pos in r.assign.items():
            assignments[name] = p.host_ids[pos]
        opened += r.opened or 0
        bound += r.bound or 0
    wall = time.perf_counter() - start
    if "infeasible" in statuses:
        return ExactResult(status="infeasible", wall_s=wall)
    if "unknown" in statuses:
        return ExactResult(status="unknown", wall_s=wall)
    status: Status = "optimal" if minimize_hosts and all(s == "optimal" for s in statuses) else "feasible"
    ordered = {vm.name: assignments[vm.name] for vm in vms}
    in_use = hosts_in_use(estate) + opened
    return ExactResult(
        status=status,
        assignments=ordered,
        spread_relaxed=relaxed,
        hosts_in_use=in_use,
        opened_hosts=opened,
        opened_bound=bound if minimize_hosts else None,
        wall_s=wall,
    )


def solve_exact(
    estate: Estate,
    request: Request,
    *,
    time_limit_s: float = 10.0,
    minimize_hosts: bool = False,
    deterministic: bool = True,
    workers: int = 1,
    spread: SpreadMode = "minimise",
) -> ExactResult:
    """Decide (and optionally minimise hosts in use for) a request with CP-SAT.

    Returns "feasible"/"optimal" with assignments, "infeasible" (a proof), or "unknown" when the
    limit ran out. Suitable up to a few hundred hosts x a few hundred VMs (placement.md section 3).
    """
    validate_request(estate, request)
    vms = expand_request(estate, request)
    return solve_exact_vms(
        estate,
        vms,
        avoid=frozenset(request.avoid_hosts),
        time_limit_s=time_limit_s,
        minimize_hosts=minimize_hosts,
        deterministic=deterministic,
        workers=workers,
        spread=spread,
    )
