"""place() and evacuate(): the allocator operators call.

Per datacenter (the rules never cross a DC), the engine runs:

1. cheap necessary conditions (reasons.quick_reason) - an impossible request is refused at once
   with the binding constraint named, even on thousands of hosts;
2. the greedy sweep in three orders (greedy.ORDERS), each result re-checked by verify_dc;
3. if all three fail, CP-SAT (exact.solve_dc) with a deterministic time limit: it either finds a
   placement (then minimises hosts opened, warm-started from it) or proves none exists, in which
   case reasons.diagnose names the rule that binds.

So "infeasible" is only ever said with a proof (a necessary condition or CP-SAT) - except when
CP-SAT runs out of time or the DC is too large for it, and then the reason says so explicitly. Every
returned plan passed the same rule functions check() uses. No randomness, no wall-clock limits,
hosts tie-broken by id: the same input gives the same plan.
"""

from __future__ import annotations

import numpy as np

from .errors import PlacementInputError
from .exact import solve_dc
from .expand import expand_request, validate_request
from .greedy import ORDERS, greedy
from .model import Estate, PlacementResult, Request, VMSpec
from .problem import DCProblem, build_problems
from .reasons import diagnose, quick_reason
from .verify import verify_dc

#: Deterministic-time budget (roughly seconds) for the CP-SAT fallback of one datacenter.
DEFAULT_EXACT_LIMIT = 20.0
#: Above this many (VM, host) candidate pairs the CP-SAT model is too big to build and solve in
#: seconds (placement.md section 3); the engine then says plainly that it did not prove anything.
MAX_EXACT_PAIRS = 250_000


def candidate_pairs(p: DCProblem) -> int:
    """Size of the CP-SAT model: (VM, host) pairs where the VM fits the host alone."""
    total = 0
    for vm in p.vms:
        total += int((p.avail & np.all(p.res >= np.asarray(vm.size(), dtype=np.int64), axis=1)).sum())
    return total


def _solve(p: DCProblem, exact_limit: float) -> tuple[dict[str, int] | None, str, str | None]:
    """(assignment, method, reason) for one DC."""
    reason = quick_reason(p)
    if reason:
        return None, "bounds", reason
    for name, order in ORDERS:
        assign = greedy(p, order(p))
        if assign is not None and verify_dc(p, assign) is None:
            return assign, f"greedy/{name}", None
    pairs = candidate_pairs(p)
    if pairs > MAX_EXACT_PAIRS:
        return (
            None,
            "greedy",
            (
                f"no placement found in {p.datacenter}: the greedy passes failed and the exact fallback was "
                f"skipped ({pairs} VM-host candidate pairs > {MAX_EXACT_PAIRS}); impossibility is NOT proven - "
                f"split the request or run exact.solve_exact on a smaller estate"
            ),
        )
    found = solve_dc(p, time_limit_s=exact_limit)
    if found.status == "infeasible":
        return None, "cp-sat", diagnose(p, time_limit_s=max(1.0, exact_limit / 4))
    if found.status == "unknown":
        return (
            None,
            "cp-sat",
            (
                f"no placement found in {p.datacenter}: the greedy passes failed and CP-SAT neither found "
                f"one nor proved impossibility within its limit ({exact_limit:g} s); retry with a larger "
                f"limit (exact.solve_exact)"
            ),
        )
    best = solve_dc(p, minimize_hosts=True, time_limit_s=max(1.0, exact_limit / 4), hint=found.assign)
    assign = best.assign if best.status in ("optimal", "feasible") else found.assign
    problem = verify_dc(p, assign)
    if problem is not None:  # pragma: no cover - would be a modelling bug; never hand out such a plan
        return (
            None,
            "cp-sat",
            f"internal error: CP-SAT plan for {p.datacenter} failed verification ({problem})",
        )
    return assign, "cp-sat", None


def place_vms(
    estate: Estate,
    vms: list[VMSpec],
    *,
    avoid: frozenset[str] | set[str] = frozenset(),
    disabled: frozenset[str] | set[str] = frozenset(),
    exact_limit: float = DEFAULT_EXACT_LIMIT,
) -> PlacementResult:
    """Place already-expanded VMs (shared by place() and evacuate())."""
    problems = build_problems(estate, vms, avoid, disabled)
    assigned: dict[str, str] = {}
    methods: list[str] = []
    for dc in sorted(problems):
        p = problems[dc]
        if not p.vms:
            continue
        assign, method, reason = _solve(p, exact_limit)
        methods.append(f"{dc}:{method}")
        if assign is None:
            return PlacementResult(feasible=False, reason=reason, vms=vms, method=", ".join(methods))
        for name, pos in assign.items():
            assigned[name] = p.host_ids[pos]
    ordered = {vm.name: assigned[vm.name] for vm in vms}
    return PlacementResult(feasible=True, assignments=ordered, vms=vms, method=", ".join(methods))


def place(estate: Estate, request: Request, *, exact_limit: float = DEFAULT_EXACT_LIMIT) -> PlacementResult:
    """Place every VM of ``request`` or explain why no placement exists.

    Raises PlacementInputError when the request names a datacenter or host the estate lacks.
    """
    validate_request(estate, request)
    vms = expand_request(estate, request)
    return place_vms(estate, vms, avoid=frozenset(request.avoid_hosts), exact_limit=exact_limit)


def evacuate(estate: Estate, host_id: str, *, exact_limit: float = DEFAULT_EXACT_LIMIT) -> PlacementResult:
    """Re-place every VM of ``host_id`` (failed or going to maintenance) on other hosts of its DC.

    The host is treated as not enabled whatever its state, and its VMs as new VMs of their groups,
    so anti-affinity and rack spread are judged against the surviving members. VM names are kept.
    """
    try:
        host = estate.host(host_id)
    except KeyError:
        raise PlacementInputError("evacuate", f"unknown host {host_id!r}") from None
    vms = [
        VMSpec(
            name=vm.id,
            group=vm.group,
            datacenter=host.datacenter,
            cpu=vm.cpu,
            memory_mib=vm.memory_mib,
            flash_gib=vm.flash_gib,
        )
        for vm in host.vms
    ]
    emptied = [h.model_copy(update={"vms": []}) if h.id == host_id else h for h in estate.hosts]
    working = estate.model_copy(update={"hosts": emptied})
    result = place_vms(working, vms, disabled=frozenset({host_id}), exact_limit=exact_limit)
    result.evacuated_host = host_id
    return result
