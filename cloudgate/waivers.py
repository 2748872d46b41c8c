"""Known failures, waived on purpose: a justification, an owner's reason, and an expiry date.

Operators live with known defects (a card replacement on order, a host awaiting repair). Without a
waiver the nightly run is red every night and people stop reading it; with an open-ended skip the
defect is forgotten. A waiver (as in Chef InSpec) names the check id, optionally the test it
applies to (a host), says why, and expires: a waived failure is reported as "waived" — never as
passed — and the day after the expiry the check fails again, saying the waiver ran out.

A bad waiver file stops the run before anything runs, in one line `file:line: field: problem`,
as a bad target file does: a waiver that silently does not apply (a check id mistyped, a second
waiver for the same test) is a red night nobody understands.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cloudgate.target import TargetError, located, read_config, validation_line, yaml_mapping

# The checks' ids (`@pytest.mark.check(id="CG-FIO-004")`): CG-, an area, three digits.
CHECK_ID = re.compile(r"CG-[A-Z]+-\d{3}")


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str = Field(description="check id, e.g. CG-FIO-004")
    match: str | None = Field(None, description="the test's parameter id (e.g. a host name), exactly; all tests of the check if absent")
    justification: str = Field(min_length=10)
    expires: date

    @field_validator("check")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not CHECK_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not a check id (CG-<AREA>-<3 digits>, e.g. CG-FIO-004, as in the report)")
        return value

    @field_validator("match")
    @classmethod
    def _match_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty (leave match out to waive every test of the check)")
        return value

    @field_validator("justification")
    @classmethod
    def _says_why(cls, value: str) -> str:
        if len(value.strip()) < 10:
            raise ValueError("must say why, in at least 10 characters (a ticket, a reason)")
        return value

    @field_validator("expires", mode="before")
    @classmethod
    def _a_calendar_date(cls, value: Any) -> Any:
        # pydantic would read 20261231 as seconds since 1970 (1970-08-23) and "2026-12-31" as a date
        if isinstance(value, int | float):
            raise ValueError(f"{value} is not a date: write it as YYYY-MM-DD")
        return value

    def applies_to(self, check_id: str, param_id: str | None) -> bool:
        return self.check == check_id and (self.match is None or self.match == param_id)


class WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    waivers: list[Waiver] = Field(default_factory=list)

    @field_validator("waivers", mode="before")
    @classmethod
    def _none_is_no_waiver(cls, value: Any) -> Any:
        return [] if value is None else value  # `waivers:` left once the last waiver was removed


def load_waivers(path: str | Path, *, today: date | None = None) -> list[Waiver]:
    """The waivers of a file, or TargetError in one line.

    An expired waiver is kept: on the night after its expiry the check fails again, saying the waiver
    ran out (refusing the file would stop the whole run instead). With `today` — `cloudgate target
    check`, where the file is being written or reviewed — one already expired is refused: its date is
    a typo or the waiver is to be removed.
    """
    p = Path(path)
    root, data = yaml_mapping(read_config(p, "waiver"), p, "a waiver file must be a mapping: waivers: [...]",
                              allow_empty=True)
    try:
        waivers = WaiverFile.model_validate(data).waivers
    except ValidationError as exc:
        raise TargetError(validation_line(exc, p, root, "a waiver", show_value=True)) from None
    first: dict[tuple[str, str | None], int] = {}
    for i, waiver in enumerate(waivers):
        key = (waiver.check, waiver.match)
        if key in first:  # only the first would ever apply: the second's justification and expiry are dead
            on = f" for {waiver.match}" if waiver.match is not None else ""
            raise TargetError(f"{located(p, root, ('waivers', i, 'check'))}: a second waiver of {waiver.check}{on} "
                              f"(waivers[{first[key]}]): keep one")
        first[key] = i
        if today is not None and waiver.expires < today:
            raise TargetError(f"{located(p, root, ('waivers', i, 'expires'))}: {waiver.expires} is past "
                              f"(today is {today}): renew the waiver or remove it")
    return waivers


def find(waivers: list[Waiver], check_id: str | None, param_id: str | None) -> Waiver | None:
    if not check_id:
        return None
    return next((w for w in waivers if w.applies_to(check_id, param_id)), None)
