"""Hypothesis profiles for the placement tests.

``ci`` (default) keeps the whole tests/placement run well under two minutes on a 2-core machine;
``nightly`` runs many more examples. Select with CLOUDGATE_HYPOTHESIS_PROFILE (the cloudgate pytest
plugin sets it to ``nightly`` for the nightly profile).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,  # CP-SAT calls vary in time; correctness, not latency, is under test here
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "derandomize": False,
}

settings.register_profile("ci", max_examples=75, stateful_step_count=10, **_COMMON)
settings.register_profile("nightly", max_examples=600, stateful_step_count=25, **_COMMON)
settings.load_profile(os.environ.get("CLOUDGATE_HYPOTHESIS_PROFILE", "ci"))
