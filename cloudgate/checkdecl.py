"""What every check declares beside its id: severity, the tier it is about, the plane it belongs to.

Why declared on the check and read everywhere: which checks make up the data plane is a property of
each check, not of the file it happens to live in. `gate during` once skipped a hard-coded list of
"control-plane files"; a control-plane check added in another file (the anti-affinity deploy)
then ran with the management server down and failed the data plane's verdict — the operators' own
incident (manager stopped, production running) answered wrongly. Now the plugin refuses a check
without a valid declaration, records it in every report, `--plane` selects by it, and the page's
plane verdicts read it.

- tier: the part of the cloud the check is about (a new tier joins TIERS with its first check);
- plane: `data` — what keeps running services serving (hosts, flash, Cassandra, failover); `control`
  — what lets operators change the cloud (the CloudStack API, deploying a VM).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TIERS = ("hypervisor", "cloudstack", "cassandra", "frontends")
PLANES = ("data", "control")
SEVERITIES = ("critical", "major", "minor")
CHECK_ID = re.compile(r"^CG-[A-Z]+-\d{3}$")
# what the reports record of each selected check (junit properties, selected.json), in this order
DECLARED = ("check_id", "severity", "tier", "plane", "kind")


@dataclass(frozen=True)
class CheckDeclaration:
    check_id: str
    severity: str
    tier: str
    plane: str


class DeclarationError(ValueError):
    """A check marker that does not declare what it must (str() is one line)."""


def declaration(args: Sequence[Any], kwargs: Mapping[str, Any]) -> CheckDeclaration:
    """The declaration of a `@pytest.mark.check(...)` marker, or DeclarationError naming what is wrong."""
    check_id = str(kwargs.get("id", args[0] if args else ""))
    if not CHECK_ID.match(check_id):
        raise DeclarationError(f"check id {check_id!r} is not of the form CG-AREA-NNN")
    fields = {"severity": (kwargs.get("severity"), SEVERITIES), "tier": (kwargs.get("tier"), TIERS),
              "plane": (kwargs.get("plane"), PLANES)}
    for name, (value, allowed) in fields.items():
        if value not in allowed:
            said = "no " + name if value is None else f"{name}={value!r}"
            raise DeclarationError(f"{check_id}: {said}; declare {name}= one of {', '.join(allowed)}")
    unknown = sorted(set(kwargs) - {"id", "severity", "tier", "plane"})
    if unknown:
        raise DeclarationError(f"{check_id}: unknown declaration {', '.join(unknown)} (id, severity, tier, plane)")
    return CheckDeclaration(check_id, str(kwargs["severity"]), str(kwargs["tier"]), str(kwargs["plane"]))


def declared_in(source: str) -> list[tuple[str, CheckDeclaration | DeclarationError]]:
    """(function, its declaration or why it has none) for every `@pytest.mark.check` in a test module's
    source, parsed, not imported: a guard test reads the suite's files without collecting them."""
    import ast

    found: list[tuple[str, CheckDeclaration | DeclarationError]] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if isinstance(deco, ast.Call) and ast.unparse(deco.func) == "pytest.mark.check":
                try:
                    args = [ast.literal_eval(a) for a in deco.args]
                    kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in deco.keywords if kw.arg}
                    found.append((node.name, declaration(args, kwargs)))
                except (ValueError, SyntaxError) as exc:  # DeclarationError is a ValueError; so is a non-literal
                    found.append((node.name, exc if isinstance(exc, DeclarationError) else DeclarationError(str(exc))))
    return found
