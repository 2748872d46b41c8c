"""Level-1 runbooks: for each check id, what its failure means, the first safe actions, whom to call.

A check's failure message says *what* failed, in one line. The level-1 on call who reads it at
3 a.m. needs three more answers, which the operators never had written down ("pas de documentation
d'exploitation pour un niveau 1"): which promise is at risk, what they may safely do first (and what
they must not), and when to hand over to whom. The answers live in one reviewed catalogue,
`cloudgate/runbooks.yaml` (package data), keyed by check id; tests/unit/test_runbooks.py keeps it in
step with tests/infra (every check has an entry, no entry without a check).

Whom to call is a *role*, never a person: the roles are the fixed vocabulary `ROLES` below, and how
to reach each one is the target file's `escalation:` section, because people and numbers change
per cloud and per week while the runbook does not. A runbook escalates to one role and may name
others in its condition, written as code ("and `on-call-manager` too if more than one host"): each
named role gets its contact shown.

Shown by `cloudgate explain CHECK_ID [--target FILE]` (`explain`), on the operators' page beside
each failing check (cloudgate.report.runbookview), and in docs/runbook.md (`markdown`).
"""

from __future__ import annotations

import difflib
import functools
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from cloudgate.checkdecl import CheckDeclaration, declared_in
from cloudgate.escalation import ESCALATION_ROLES
from cloudgate.target import TargetError, located, read_config, validation_line, yaml_mapping
from cloudgate.waivers import CHECK_ID

RUNBOOKS_FILE = Path(__file__).with_name("runbooks.yaml")

ROLES = ESCALATION_ROLES  # the vocabulary lives below the target file, which checks its escalation section

# The catalogue's sections (docs/runbook.md), by check id prefix: the data plane, then the control
# plane, then the drills, as the operators' page orders its areas.
GROUPS: tuple[tuple[str, str], ...] = (
    ("CG-HOST-", "Hypervisor hosts (data plane)"),
    ("CG-FIO-", "Fusion-IO flash (data plane)"),
    ("CG-CASS-", "Cassandra ring (data plane)"),
    ("CG-NODE-", "Cassandra nodes (data plane)"),
    ("CG-FRONT-", "Front tier: haproxy, Apache, PHP-FPM (data plane)"),
    ("CG-CS-", "CloudStack (control plane)"),
    ("CG-DEPLOY-", "Deploying VMs (control plane)"),
    ("CG-DRILL-", "Failover drills (preproduction only)"),
)

TITLE_CHARS = 100
_CODE = re.compile(r"(`[^`]*`)")  # a code span of the catalogue's texts (a command, a path)


class RunbookError(TargetError):
    """The runbook catalogue is unusable, or a check id is unknown; str() is one line."""


def _text(value: str) -> str:
    """One paragraph: YAML's folded lines and stray blanks joined, so every output wraps it its own way."""
    joined = " ".join(value.split())
    if not joined:
        raise ValueError("must not be empty")
    return joined


def _title(value: str) -> str:
    value = _text(value)
    if len(value) > TITLE_CHARS:
        raise ValueError(f"is {len(value)} characters: a title is one short line (at most {TITLE_CHARS})")
    return value


Text = Annotated[str, AfterValidator(_text)]
Title = Annotated[str, AfterValidator(_title)]


class Runbook(BaseModel):
    """What a level 1 needs beside one check's failure message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Title = Field(description="the promise the check holds, one line")
    means: Text = Field(description="what the failure means for the service: which promise is at risk")
    first_actions: tuple[Text, ...] = Field(min_length=2, max_length=5,
                                            description="2-5 safe steps, read-only diagnostics first")
    escalate_when: Text = Field(description="the condition; it may name other roles to call as well, as code")
    escalate_to: str = Field(description="the role to hand over to (ROLES)")

    @field_validator("escalate_to")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in ROLES:
            raise ValueError(f"{value!r} is not a role (the roles: {', '.join(ROLES)})")
        return value

    @field_validator("escalate_when")
    @classmethod
    def _names_known_roles(cls, value: str) -> str:
        """A role is named as code (`network`): the plain word ("the network") names no one, and a
        misspelt role must not silently lose its contact."""
        for span in _CODE.findall(value):
            if span.strip("`") not in ROLES:
                raise ValueError(f"names {span}, which is not a role (the roles: {', '.join(ROLES)})")
        return value

    @property
    def roles(self) -> tuple[str, ...]:
        """The role to escalate to, then every other role its condition names, in order."""
        named = [span.strip("`") for span in _CODE.findall(self.escalate_when)]
        return tuple(dict.fromkeys([self.escalate_to, *named]))


# --------------------------------------------------------------------------- loading
def load_runbooks(path: Path | None = None) -> dict[str, Runbook]:
    """check id -> runbook, from the catalogue (cached: it is package data); RunbookError in one line."""
    return dict(_load(Path(path) if path is not None else RUNBOOKS_FILE))


@functools.cache
def _load(path: Path) -> dict[str, Runbook]:
    try:
        text = read_config(path, "runbook catalogue", RunbookError)
    except RunbookError as exc:  # the installed package lacks its data: a packaging bug, said as such
        raise RunbookError(f"{exc} (it ships with cloudgate: reinstall it)") from None
    root, data = yaml_mapping(text, path, "the runbook catalogue must be a mapping: check id -> runbook",
                              RunbookError)
    for check_id in data:
        if not isinstance(check_id, str) or not CHECK_ID.fullmatch(check_id):
            raise RunbookError(f"{located(path, root, (check_id,))}: not a check id (CG-<AREA>-<3 digits>)")
    try:
        return _CATALOGUE.validate_python(data)
    except ValidationError as exc:
        raise RunbookError(validation_line(exc, path, root, "a runbook", show_value=True)) from None


_CATALOGUE = TypeAdapter(dict[str, Runbook])


# --------------------------------------------------------------------------- the checks in tests/infra
@dataclass(frozen=True)
class CheckRef:
    """Where a check lives, from its `@pytest.mark.check(...)` marker."""

    check_id: str
    module: str  # tests/infra/test_hypervisors.py
    function: str
    severity: str  # critical | major | minor, "" when the marker does not say
    tier: str = ""  # what the check declares (cloudgate.checkdecl)
    plane: str = ""

    @property
    def declared(self) -> str:
        """`critical · cassandra tier · data plane`: what the marker declares, in words."""
        parts = [self.severity, f"{self.tier} tier" if self.tier else "", f"{self.plane} plane" if self.plane else ""]
        return " · ".join(p for p in parts if p)

    @property
    def nodeid(self) -> str:
        return f"{self.module}::{self.function}"


def check_refs(suite_dir: Path) -> dict[str, CheckRef]:
    """Every check of the suite, parsed (not imported: no fixture, no plugin) from tests/infra.

    {} when the directory is absent: an installed cloudgate has no suite beside it, and the runbooks
    are shown without the test they belong to."""
    suite_dir = Path(suite_dir)
    if not suite_dir.is_dir():
        return {}
    root = suite_dir.parent.parent
    found: dict[str, CheckRef] = {}
    for path in sorted(suite_dir.glob("test_*.py")):
        for function, decl in declared_in(path.read_text(encoding="utf-8")):
            if isinstance(decl, CheckDeclaration):  # an undeclared check is checkdecl's guard's to report
                found[decl.check_id] = CheckRef(decl.check_id, path.relative_to(root).as_posix(), function,
                                                decl.severity, decl.tier, decl.plane)
    return found


# --------------------------------------------------------------------------- finding one
def normalise(check_id: str) -> str:
    """What an operator types, as the catalogue spells it: `cg-fio-002` and `FIO-002` are CG-FIO-002."""
    wanted = check_id.strip().upper()
    return wanted if wanted.startswith("CG-") else f"CG-{wanted}"


def closest(check_id: str, known: list[str], n: int = 4) -> list[str]:
    """The known ids an operator most likely meant: those it starts (`CG-FIO`), then the nearest spellings."""
    wanted = normalise(check_id)
    prefixed = [k for k in sorted(known) if k.startswith(wanted)]
    near = difflib.get_close_matches(wanted, known, n=n, cutoff=0.6)
    return list(dict.fromkeys(prefixed + near))[:n]


def lookup(check_id: str, runbooks: Mapping[str, Runbook]) -> tuple[str, Runbook]:
    """(id, runbook), or RunbookError naming the id and the closest known ones."""
    wanted = normalise(check_id)
    if wanted in runbooks:
        return wanted, runbooks[wanted]
    near = closest(check_id, list(runbooks))
    hint = f"; closest: {', '.join(near)}" if near else ""
    raise RunbookError(f"{check_id}: no such check id{hint} (`cloudgate explain --list` lists them all)")


def group_of(check_id: str) -> str:
    return next((title for prefix, title in GROUPS if check_id.startswith(prefix)), "Other checks")


def _sort_key(check_id: str) -> tuple[int, str]:
    rank = next((i for i, (prefix, _t) in enumerate(GROUPS) if check_id.startswith(prefix)), len(GROUPS))
    return rank, check_id


def ordered(runbooks: Mapping[str, Runbook]) -> list[tuple[str, Runbook]]:
    """By group (data plane, control plane, drills), then by id."""
    return sorted(runbooks.items(), key=lambda item: _sort_key(item[0]))


# --------------------------------------------------------------------------- the terminal
def contact_line(role: str, contacts: Mapping[str, str] | None) -> str:
    """`role: how to reach it`, or the role and why its contact is not shown."""
    if contacts is None:
        return f"{role} (give --target FILE for its contact from the target file's escalation section)"
    if role in contacts:
        return f"{role}: {contacts[role]}"
    return f"{role} (no contact in the target file's escalation section)"


def explain(check_id: str, contacts: Mapping[str, str] | None = None, *,
            runbooks: Mapping[str, Runbook] | None = None, ref: CheckRef | None = None, width: int = 100) -> str:
    """A check's runbook as plain text for the terminal (`cloudgate explain CHECK_ID`).

    `contacts`: the target file's escalation section (role -> how to reach it), or None when no target
    file was given. Raises RunbookError for an unknown id."""
    cid, book = lookup(check_id, load_runbooks() if runbooks is None else runbooks)
    head = " · ".join(p for p in (cid, ref.declared if ref else "", book.title) if p)
    lines = [head]
    if ref is not None:
        lines.append(f"check: {ref.nodeid}")
    lines += ["", "What it means", *_wrap(book.means, width, "  ")]
    lines += ["", "First actions"]
    for i, step in enumerate(book.first_actions, 1):
        lines += _wrap(step, width, f"  {i}. ", "     ")
    lines += ["", "Escalate", *_wrap(book.escalate_when, width, "  when: ", "        ")]
    for i, role in enumerate(book.roles):
        lines += _wrap(contact_line(role, contacts), width, "  to:   " if i == 0 else "  also: ", "        ")
    return "\n".join(lines)


_KEEP = "\x00"  # stands for a blank inside a code span while wrapping: a command is never cut in two


def _wrap(text: str, width: int, first: str, rest: str | None = None) -> list[str]:
    joined = _CODE.sub(lambda m: m.group(1).replace(" ", _KEEP), text)
    lines = textwrap.wrap(joined, width=width, initial_indent=first, subsequent_indent=first if rest is None else rest,
                          break_long_words=False, break_on_hyphens=False)
    return [line.replace(_KEEP, " ") for line in lines]


def listing(runbooks: Mapping[str, Runbook], refs: Mapping[str, CheckRef], contacts: Mapping[str, str] | None) -> str:
    """`cloudgate explain --list`: every id with its severity and title, by group; then the roles."""
    lines: list[str] = []
    group = None
    for cid, book in ordered(runbooks):
        if group_of(cid) != group:
            group = group_of(cid)
            lines += [*([""] if lines else []), group]
        severity = refs[cid].severity if cid in refs else ""
        lines.append(f"  {cid:<13} {severity:<8} {book.title}")
    lines += ["", "Roles (whom a runbook escalates to)"]
    for role, who in ROLES.items():
        lines += _wrap(who, 100, f"  {role:<17} ", " " * 20)
        if contacts is not None:
            lines += _wrap(contacts.get(role, "(no contact in the target file's escalation section)"), 100,
                           f"  {'':<17} contact: ", " " * 29)
    return "\n".join(lines)


# --------------------------------------------------------------------------- docs/runbook.md


def _md(text: str) -> str:
    """Markdown of a catalogue text: code spans kept, `<` and `*` outside them escaped (a `<host>` in
    prose would otherwise vanish as an HTML tag, a `cg-probe-*` open an emphasis)."""
    parts = _CODE.split(text)
    return "".join(p if p.startswith("`") else p.replace("<", "&lt;").replace("*", r"\*") for p in parts)


def markdown(runbooks: Mapping[str, Runbook], check_refs: Mapping[str, CheckRef]) -> str:
    """docs/runbook.md: every runbook by group, with the roles; regenerated, never edited by hand."""
    out = [
        "# Level-1 runbook",
        "",
        "<!-- Generated from cloudgate/runbooks.yaml by `cloudgate explain --markdown > docs/runbook.md`:"
        " edit the catalogue, not this file (tests/unit/test_runbooks.py fails when they differ). -->",
        "",
        "For each check of the suite: what its failure means for the service, the first *safe* actions a "
        "level-1 on call may take (read-only diagnostics first), and when to escalate to whom. The promises "
        "at stake: a VM deploys in under 5 minutes; a Cassandra write takes under 1 ms; at least 99.9 % of "
        "requests are served through the loss of a server, a VM or the link between the datacenters; "
        "replicas of the same data never share a physical host.",
        "",
        "`cloudgate explain CHECK_ID --target FILE` prints one runbook with the contacts of the target file's "
        "`escalation:` section; the operators' page shows it beside each failing check.",
        "",
        "## Roles",
        "",
        "| role | who |",
        "|---|---|",
        *[f"| `{role}` | {_md(who)} |" for role, who in ROLES.items()],
    ]
    group = None
    for cid, book in ordered(runbooks):
        if group_of(cid) != group:
            group = group_of(cid)
            out += ["", f"## {group}"]
        ref = check_refs.get(cid)
        out += ["", f"### {cid} — {_md(book.title)}", ""]
        if ref is not None:
            out += [f"{ref.declared or 'severity not set'} · `{ref.nodeid}`", ""]
        out += [f"**What it means.** {_md(book.means)}", "", "**First actions.**", ""]
        out += [f"{i}. {_md(step)}" for i, step in enumerate(book.first_actions, 1)]
        also = f" (also named: {', '.join(f'`{r}`' for r in book.roles[1:])})" if book.roles[1:] else ""
        out += ["", f"**Escalate** {_md(book.escalate_when)} — to `{book.escalate_to}`{also}."]
    return "\n".join(out) + "\n"
