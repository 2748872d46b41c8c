"""`cloudgate place --target` and `cloudgate deploy-plan`: exit codes are the contract.

place: 0 placed (plan written), 1 no placement exists (the binding constraint printed), 2 bad input.
deploy-plan: 0 deployed and dispersed as planned, 1 deployed but a dispersion check fails (named),
2 bad input, 3 refused (a stale plan, a production target) or rolled back - nothing left behind.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cloudgate.allocate.apply import DeployPlanError, deploy_plan
from cloudgate.allocate.live import make_plan, plan_table
from cloudgate.allocate.planfile import write_plan
from cloudgate.cloudstack.client import CloudStackClient, CloudStackError
from cloudgate.placement.errors import PlacementInputError
from cloudgate.target import load_target

EXIT_REFUSED = 3


def run_place_on_target(target_path: str, request_path: str, out: str | None, fmt: str) -> int:
    loaded = load_target(target_path)
    try:
        client = CloudStackClient.for_target(loaded)
        made = make_plan(client, loaded, request_path)
    except PlacementInputError as exc:
        print(f"cloudgate place: {exc}", file=sys.stderr)
        return 2
    except CloudStackError as exc:
        print(f"cloudgate place: cannot read the estate of {loaded.target.name}: {exc}", file=sys.stderr)
        return 2
    if made.doc is None:
        print(f"NO PLACEMENT: {made.result.reason}")
        for note in made.live.notes:
            print(f"note: {note}")
        return 1
    path = Path(out) if out else Path(f"plan-{loaded.target.name}.json")
    try:
        write_plan(made.doc, path)
    except OSError as exc:
        print(f"cloudgate place: {path}: cannot write the plan ({exc.strerror or exc})", file=sys.stderr)
        return 2
    if fmt == "json":
        print(path.read_text(encoding="utf-8"), end="")
    else:
        print(plan_table(made.doc))
        print(f"plan written to {path}; deploy it with: cloudgate deploy-plan {path} --target {target_path}")
    return 0


def run_deploy_plan(plan_path: str, target_path: str, reports_dir: str | None) -> int:
    loaded = load_target(target_path)
    reports_root = Path(reports_dir or "reports")
    try:
        outcome = deploy_plan(loaded, plan_path, reports_root)
    except PlacementInputError as exc:
        print(f"cloudgate deploy-plan: {exc}", file=sys.stderr)
        return 2
    except (DeployPlanError, CloudStackError) as exc:  # a StalePlan too: refused before creating anything
        print(f"cloudgate deploy-plan: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if outcome.ok:
        print(f"deploy-plan {outcome.run}: dispersion as planned: every VM on its planned host, no two members "
              "of a group on one host, racks spread")
        return 0
    for problem in outcome.problems:
        print(f"DISPERSION: {problem}")
    return 1
