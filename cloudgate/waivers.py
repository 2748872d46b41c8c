"""Known failures, waived on purpose: a justification, an owner's reason, and an expiry date.

Operators live with known defects (a card replacement on order, a host awaiting repair). Without a
waiver the nightly run is red every night and people stop reading it; with an open-ended skip the
defect is forgotten. A waiver (as in Chef InSpec) names the check id, optionally the test it
applies to (a host), says why, and expires: a waived failure is reported as "waived" — never as
passed — and the day after the expiry the check fails again, saying the waiver ran out.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloudgate.target import TargetError


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str = Field(min_length=1, description="check id, e.g. CG-FIO-004")
    match: str | None = Field(None, description="the test's parameter id (e.g. a host name), exactly; all tests of the check if absent")
    justification: str = Field(min_length=10)
    expires: date

    def applies_to(self, check_id: str, param_id: str | None) -> bool:
        return self.check == check_id and (self.match is None or self.match == param_id)


class WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    waivers: list[Waiver] = Field(default_factory=list)


def load_waivers(path: str | Path) -> list[Waiver]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text()) or {}
        return WaiverFile.model_validate(data).waivers
    except OSError as exc:
        raise TargetError(f"{p}: cannot read waiver file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise TargetError(f"{p}: not valid YAML: {str(exc).splitlines()[0]}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise TargetError(f"{p}: {field}: {err['msg']}") from None


def find(waivers: list[Waiver], check_id: str | None, param_id: str | None) -> Waiver | None:
    if not check_id:
        return None
    return next((w for w in waivers if w.applies_to(check_id, param_id)), None)
