"""Measured figures: the one record every check writes through the `metric` fixture.

A figure is only useful next to the promise it is held to, so each record carries its threshold
and its verdict. Records travel from xdist workers to the controller as test user_properties,
which is why they are plain JSON-able dicts at the edge.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict

Better = Literal["lower", "higher"]
Verdict = Literal["pass", "fail", "info"]

USER_PROPERTY = "cloudgate_metric"


class Metric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    unit: str
    value: float
    threshold: float | None = None
    better: Better = "lower"
    verdict: Verdict = "info"
    test: str = ""

    @classmethod
    def measure(
        cls, name: str, value: float, unit: str, threshold: float | None = None, better: Better = "lower", test: str = ""
    ) -> Metric:
        """Build a record and judge it: lower-is-better figures pass at or under the threshold."""
        value = float(value)
        if math.isnan(value):
            verdict: Verdict = "fail"
        elif threshold is None:
            verdict = "info"
        elif better == "lower":
            verdict = "pass" if value <= threshold else "fail"
        else:
            verdict = "pass" if value >= threshold else "fail"
        return cls(name=name, unit=unit, value=value, threshold=threshold, better=better, verdict=verdict, test=test)
