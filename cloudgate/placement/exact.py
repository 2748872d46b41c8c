"""Exact reference solver on OR-Tools CP-SAT (placement.md section 3).

Used three ways: as the engine's fallback when its greedy passes fail (so "infeasible" is a proof,
not a guess), as the oracle of the tests, and by operators for small and medium estates who want
the minimum number of hosts in use. It models exactly the rules of rules.py:

* ``x[v,h]`` for each VM and each *candidate* host (available, same DC, fits alone, no existing
  member of the VM's group); ``ExactlyOne`` per VM;
* capacity per host and resource (``sum(size*x) <= residual``, times ``y[h]`` for empty hosts when
  minimising, the form the notes measured to prove optimality fastest);
* ``AtMostOne`` per (group, host);
* rack spread: ``count[r] >= max_count - 1`` unless rack r is *closed*; "closed" may only be chosen
  when every host of r that could take the probe today either receives a member or ends up with
  less free space than the probe in some resource.

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

if TYPE_CHECKING:  # at run time OR-Tools is imported by solve_dc alone, see there
    from ortools.sat.python import cp_model

Status = Literal["optimal", "feasible", "infeasible", "unknown"]


@dataclass
class DCSolve:
    """Outcome for one datacenter; ``assign`` maps VM name to host position."""

    status: Status
    assign: dict[str, int] = field(default_factory=dict)
    opened: int | None = None
    bound: int | None = None
    wall_s: float = 0.0


class ExactResult(BaseModel):
    """Outcome over all datacenters of a request.

    ``status`` is "infeasible" if any DC is proven infeasible, "unknown" if some DC was not decided
    within the limit, "optimal" when every DC was solved to optimality (minimising), else
    "feasible". ``hosts_in_use`` counts hosts running at least one VM after the placement.
    """

    status: Status
    assignments: dict[str, str] = Field(default_factory=dict)
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
) -> DCSolve:
    """Solve one DC. ``spread_groups``/``aa_groups`` (default: all) let diagnostics relax rules."""
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

    lack_cache: dict[tuple[int, int, int], cp_model.IntVar | None] = {}

    def lack(h: int, d: int, threshold: int) -> cp_model.IntVar | None:
        """Literal that may be true only if host h's load in resource d reaches ``threshold``."""
        key = (h, d, threshold)
        if key not in lack_cache:
            entries = [(vi, var) for vi, var in on_host.get(h, []) if sizes[vi][d]]
            if sum(sizes[vi][d] for vi, _ in entries) < threshold:
                lack_cache[key] = None
            else:
                lit = m.NewBoolVar(f"lack{h}_{d}_{threshold}")
                m.Add(sum(sizes[vi][d] * var for vi, var in entries) >= threshold).OnlyEnforceIf(lit)
                lack_cache[key] = lit
        return lack_cache[key]

    for group in groups:
        if group not in spread_on:
            continue
        vis = members_new[group]
        existing = p.member_hosts.get(group, [])
        e_counts = p.existing_rack_counts(group)
        rack_terms: dict[int, list[cp_model.IntVar]] = defaultdict(list)
        on_h: dict[int, list[cp_model.IntVar]] = defaultdict(list)
        for vi in vis:
            for h in cands_of[vi]:
                rack_terms[int(p.rack_of[h])].append(x[vi, h])
                on_h[h].append(x[vi, h])
        total = int(e_counts.sum()) + len(vis)
        mx = m.NewIntVar(0, total, f"max_{group}")
        counts = []
        for r in range(len(p.racks)):
            c = int(e_counts[r]) + sum(rack_terms[r])
            counts.append(c)
            m.Add(mx >= c)
        probe = np.asarray(p.probe(group), dtype=np.int64)
        could = p.enabled & np.all(p.res >= probe, axis=1)
        if existing:
            could[existing] = False
        for r in range(len(p.racks)):
            hosts_r = [int(h) for h in np.flatnonzero(could & (p.rack_of == r))]
            if not hosts_r:
                continue  # never open: may lag behind freely
            closed = m.NewBoolVar(f"closed_{group}_{r}")
            m.Add(counts[r] >= mx - 1).OnlyEnforceIf(closed.Not())
            for h in hosts_r:
                clause = [closed.Not(), *on_h.get(h, [])]
                for d in range(3):
                    if probe[d] > 0:
                        lit = lack(h, d, int(p.res[h, d] - probe[d] + 1))
                        if lit is not None:
                            clause.append(lit)
                m.AddBoolOr(clause)

    floor = 0
    if minimize_hosts and y:
        floor = lower_bound_opened(p)
        m.Add(sum(y.values()) >= floor)
        m.Minimize(sum(y.values()))

    if hint:
        for (vi, h), var in x.items():
            m.AddHint(var, 1 if hint.get(p.vms[vi].name) == h else 0)
        hinted = {hint[vm.name] for vm in p.vms if vm.name in hint}
        for h, var in y.items():
            m.AddHint(var, 1 if h in hinted else 0)

    solver = cp_model.CpSolver()
    solver.parameters.random_seed = 0
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
    return DCSolve(status, assign, opened=opened, bound=bound, wall_s=wall)


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
) -> ExactResult:
    """CP-SAT over already-expanded VMs (the evacuation path and the tests use this form)."""
    start = time.perf_counter()
    problems = build_problems(estate, vms, avoid, disabled)
    statuses: list[Status] = []
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
    )
