"""The runbooks on the operators' page: beside each failing check, what it means, the first actions, whom to call.

The page module imports only the standard library and Jinja2 (the page of a broken run must render
anywhere, quickly), and so does this one at import time: the catalogue (cloudgate.runbook, pydantic)
and the run's target file, for the escalation contacts, are loaded inside `read_runbook_source`,
which `read_run_inputs` calls. A problem with either is a line the page shows only when it shows a
runbook: a green night needs no contact list, and a missing one is no reason to alarm anybody.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

NO_CONTACT = "no contact in the target file's escalation section"
_CODE = re.compile(r"(`[^`]*`)")

Spans = tuple[tuple[str, bool], ...]  # (text, is code): a catalogue text, its commands shown as code


def spans(text: str) -> Spans:
    """`fio-status -a` spans become code on the page; everything stays text (escaped by the template)."""
    return tuple((p.strip("`"), True) if p.startswith("`") else (p, False) for p in _CODE.split(text) if p)


@dataclass(frozen=True)
class RunbookView:
    """One check's runbook as the page shows it (plain strings: the template escapes them)."""

    check_id: str
    title: str
    means: str
    first_actions: tuple[Spans, ...]
    escalate_when: Spans
    contacts: tuple[tuple[str, str], ...]  # (role, how to reach it, "" when unknown); the role to call first

    @property
    def escalate_to(self) -> str:
        return self.contacts[0][0]


@dataclass
class RunbookSource:
    """The whole catalogue as views, with the contacts of the run's target file; problems in one line each."""

    views: dict[str, RunbookView] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def read_runbook_source(stamps: Iterable[dict[str, Any] | None]) -> RunbookSource:
    """The catalogue, and the escalation contacts of the target file the run's stamp names (summary.json's
    or metrics.json's `target_file`). Never raises: what cannot be read becomes a problem line."""
    from cloudgate.runbook import load_runbooks
    from cloudgate.target import TargetError

    source = RunbookSource()
    try:
        runbooks = load_runbooks()
    except TargetError as exc:  # RunbookError: the installed package is broken, the page still renders
        source.problems.append(f"runbooks not shown: {exc}")
        return source
    contacts = _contacts(stamps, source.problems)
    for check_id, book in runbooks.items():
        source.views[check_id] = RunbookView(
            check_id, book.title, book.means, tuple(spans(step) for step in book.first_actions),
            spans(book.escalate_when), tuple((role, contacts.get(role, "")) for role in book.roles))
    return source


def _contacts(stamps: Iterable[dict[str, Any] | None], problems: list[str]) -> dict[str, str]:
    path = next((str(s["target_file"]) for s in stamps if isinstance(s, dict) and s.get("target_file")), None)
    if path is None:
        return {}  # an older run, or one without a target: the roles alone
    from cloudgate.target import TargetError, load_target

    try:
        return dict(load_target(path).target.escalation)
    except TargetError as exc:  # moved, edited since, or relative to another directory than this one
        problems.append(f"escalation contacts not shown: {exc}")
        return {}


def views_for(source: RunbookSource, check_ids: Iterable[str]) -> dict[str, RunbookView]:
    """The runbooks of these checks (those the catalogue has), in the order given."""
    return {cid: source.views[cid] for cid in dict.fromkeys(check_ids) if cid in source.views}
