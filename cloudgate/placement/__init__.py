"""cloudgate placement engine: anti-affine, rack-spread, hole-filling VM placement.

Public API (pure functions unless noted):

* ``place(estate, request) -> PlacementResult`` and ``evacuate(estate, host_id) -> PlacementResult``
* ``check(estate) -> list[Violation]``
* ``plan_to_json(result, estate, request)``, ``plan_to_table(result, estate, request)``,
  ``apply_result(estate, result) -> Estate``
* ``solve_exact(estate, request, ...) -> ExactResult`` (OR-Tools CP-SAT reference solver; OR-Tools,
  and the pandas it brings, load on the first solve, not with this package)
* ``load_estate(path)``, ``load_request(path, estate=None)`` (file I/O, raise PlacementInputError)
* baselines in ``cloudgate.placement.baselines``; benchmark in ``cloudgate.placement.bench``
"""

from .check import Violation, check
from .engine import evacuate, place
from .errors import PlacementInputError
from .exact import ExactResult, solve_exact
from .loading import load_estate, load_request
from .model import (
    Estate,
    ExistingVM,
    GroupRequest,
    Host,
    Overprovisioning,
    PlacementResult,
    Request,
    Size,
    VMSpec,
)
from .plan import apply_result, plan_to_json, plan_to_table

__all__ = [
    "Estate",
    "ExactResult",
    "ExistingVM",
    "GroupRequest",
    "Host",
    "Overprovisioning",
    "PlacementInputError",
    "PlacementResult",
    "Request",
    "Size",
    "VMSpec",
    "Violation",
    "apply_result",
    "check",
    "evacuate",
    "load_estate",
    "load_request",
    "place",
    "plan_to_json",
    "plan_to_table",
    "solve_exact",
]
