"""place() and evacuate(): the allocator operators call.

Per datacenter (the rules never cross a DC), the engine runs:

1. cheap necessary conditions (reasons.quick_reason) - an impossible request is refused at once
   with the binding constraint named, even on thousands of hosts;
2. the greedy sweep in three orders (greedy.ORDERS), each result re-checked by verify_dc; the
   first valid one is then packed tighter (improve.improve_plan: a local search that empties
   hosts the sweep opened, then CP-SAT minimising hosts opened on a DC small enough for it),
   never breaking a rule nor letting a group's rack imbalance grow - spread first, then packing;
   the method says what helped (``+repack``, ``+cp-sat``) and ``(optimal)`` when the count of
   hosts opened is proven minimal;
3. if all three fail, CP-SAT (exact.solve_dc) with a deterministic time limit: it either finds a
   placement (then minimises hosts opened, warm-started from it) or proves none spreads every
   group within one member per rack. Then the spread becomes an objective: the least imbalance
   capacity and anti-affinity allow, reported in ``PlacementResult.spread``; only when those two
   alone forbid every placement is the request refused, and reasons.diagnose names the rule.
   On a DC too large for CP-SAT, a greedy pass that lets the spread slip is the best effort, and
   its notes say the imbalance is not proven minimal. Both plans get the local search too, held
   to the imbalance they have.

So "infeasible" is only ever said with a proof (a necessary condition or CP-SAT) - except when
CP-SAT runs out of time or the DC is too large for it, and then the reason says so explicitly. Every
returned plan passed the same rule functions check() uses. No randomness, no wall-clock limits,
hosts tie-broken by id: the same input gives the same plan.
"""

from __future__ import annotations

from .errors import PlacementInputError
from .exact import candidate_pairs, solve_dc
from .expand import expand_request, validate_request
from .greedy import ORDERS, greedy
from .improve import improve_plan
from .model import Estate, PlacementResult, Request, SpreadNote, VMSpec
from .problem import DCProblem, build_problems
from .reasons import diagnose, quick_reason
from .rules import open_racks_before
from .verify import apply_dc, rack_counts, spread_gaps, verify_dc

#: Deterministic-time budget (roughly seconds) for the CP-SAT fallback of one datacenter.
DEFAULT_EXACT_LIMIT = 20.0
#: Above this many (VM, host) candidate pairs the CP-SAT model is too big to build and solve in
#: seconds (placement.md section 3); the engine then says plainly that it did not prove anything.
MAX_EXACT_PAIRS = 250_000


def _spread_notes(p: DCProblem, assign: dict[str, int], proven: bool) -> list[SpreadNote]:
    """Notes for the groups an assignment leaves with an imbalance above 1 (see rules.py)."""
    notes = []
    _, members = apply_dc(p, assign)
    for group, gap in spread_gaps(p, assign).items():
        if gap <= 1:
            continue
        counts = rack_counts(p, members[group])
        open_ = open_racks_before(p, group)
        per_rack = {rack: int(c) for rack, c in zip(p.racks, counts, strict=True)}
        opened = [rack for rack, o in zip(p.racks, open_, strict=True) if o]
        shown = ", ".join(f"{r}={c}" for r, c in per_rack.items())
        why = "no placement does better (CP-SAT proof)" if proven else "the best found; not proven minimal"
        notes.append(
            SpreadNote(
                group=group,
                datacenter=p.datacenter,
                imbalance=gap,
                per_rack=per_rack,
                open_racks=opened,
                proven_minimal=proven,
                message=(
                    f"group {group} in {p.datacenter} is spread {gap} members apart across racks ({shown}): "
                    f"racks with room before the request cannot take enough members to come within one; "
                    f"{why} - add room in the light racks to even it out"
                ),
            )
        )
    return notes


Solved = tuple[dict[str, int] | None, str, str | None, list[SpreadNote]]


def _relaxed_greedy(p: DCProblem) -> tuple[dict[str, int], int] | None:
    """Best-effort plan when the spread cannot be proven possible: least total imbalance wins."""
    best: tuple[int, dict[str, int]] | None = None
    for _, order in ORDERS:
        assign = greedy(p, order(p), strict=False)
        if assign is None:
            continue
        gaps = spread_gaps(p, assign)
        if verify_dc(p, assign, allowed=gaps) is not None:
            continue
        total = sum(max(0, g - 1) for g in gaps.values())
        if best is None or total < best[0]:
            best = (total, assign)
    return (best[1], best[0]) if best else None


def _solve(p: DCProblem, exact_limit: float) -> Solved:
    """(assignment, method, reason, spread notes) for one DC."""
    reason = quick_reason(p)
    if reason:
        return None, "bounds", reason, []
    for name, order in ORDERS:
        assign = greedy(p, order(p))
        if assign is None:
            continue
        # improve first, verify once: improve_plan only returns what verify_dc accepted, and the
        # greedy plan itself is checked only when nothing better came out of it
        better, how = improve_plan(p, assign)
        if better is not assign:
            return better, f"greedy/{name}{how}", None, []
        if verify_dc(p, assign) is None:
            return assign, f"greedy/{name}{how}", None, []
    pairs = candidate_pairs(p)
    if pairs > MAX_EXACT_PAIRS:
        relaxed = _relaxed_greedy(p)
        if relaxed is not None:
            assign, how = improve_plan(p, relaxed[0], allowed=spread_gaps(p, relaxed[0]))
            return assign, f"greedy/relaxed-spread{how}", None, _spread_notes(p, assign, proven=False)
        return (
            None,
            "greedy",
            (
                f"no placement found in {p.datacenter}: the greedy passes failed and the exact fallback was "
                f"skipped ({pairs} VM-host candidate pairs > {MAX_EXACT_PAIRS}); impossibility is NOT proven - "
                f"split the request or run exact.solve_exact on a smaller estate"
            ),
            [],
        )
    found = solve_dc(p, time_limit_s=exact_limit)
    notes: list[SpreadNote] = []
    allowed: dict[str, int] | None = None
    if found.status == "infeasible":
        # Capacity and anti-affinity may still allow a placement the spread rule does not: then
        # the imbalance is minimised and reported, not turned into a refusal (rules.py).
        found = solve_dc(p, time_limit_s=exact_limit, spread_soft=True)
        if found.status == "infeasible":
            return None, "cp-sat", diagnose(p, time_limit_s=max(1.0, exact_limit / 4)), []
        if found.status in ("optimal", "feasible"):
            allowed = spread_gaps(p, found.assign)
            notes = _spread_notes(p, found.assign, proven=found.spread_proven)
    if found.status == "unknown":
        return (
            None,
            "cp-sat",
            (
                f"no placement found in {p.datacenter}: the greedy passes failed and CP-SAT neither found "
                f"one nor proved impossibility within its limit ({exact_limit:g} s); retry with a larger "
                f"limit (exact.solve_exact)"
            ),
            [],
        )
    assign = found.assign
    if allowed is None:
        best = solve_dc(p, minimize_hosts=True, time_limit_s=max(1.0, exact_limit / 4), hint=found.assign)
        if best.status in ("optimal", "feasible"):
            assign = best.assign
    assign, _ = improve_plan(p, assign, allowed=allowed, exact=False)
    problem = verify_dc(p, assign, allowed=allowed)
    if problem is not None:  # pragma: no cover - would be a modelling bug; never hand out such a plan
        return (
            None,
            "cp-sat",
            f"internal error: CP-SAT plan for {p.datacenter} failed verification ({problem})",
            [],
        )
    return assign, "cp-sat", None, notes


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
    spread: list[SpreadNote] = []
    for dc in sorted(problems):
        p = problems[dc]
        if not p.vms:
            continue
        assign, method, reason, notes = _solve(p, exact_limit)
        methods.append(f"{dc}:{method}")
        if assign is None:
            return PlacementResult(feasible=False, reason=reason, vms=vms, method=", ".join(methods))
        for name, pos in assign.items():
            assigned[name] = p.host_ids[pos]
        spread.extend(notes)
    ordered = {vm.name: assigned[vm.name] for vm in vms}
    return PlacementResult(
        feasible=True, assignments=ordered, vms=vms, method=", ".join(methods), spread=spread
    )


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
