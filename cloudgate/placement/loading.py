"""Read estates and requests from YAML or JSON files, refusing bad input with one clear line.

An operator who mistypes a field must get ``estate.yaml: hosts[3].memory_mib: must be >= 0`` and
nothing placed - not a pydantic dump or a traceback. Every problem becomes a PlacementInputError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import PlacementInputError
from .expand import validate_request
from .model import Estate, Request

M = TypeVar("M", bound=BaseModel)


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _what(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "greater_than_equal":
        return f"must be >= {ctx.get('ge')}"
    if kind == "greater_than":
        return f"must be > {ctx.get('gt')}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number (got {err.get('input')!r})"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number (got {err.get('input')!r})"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {err.get('input')!r})"
    if kind in ("string_type",):
        return f"must be a string (got {err.get('input')!r})"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("list_type", "dict_type", "model_type"):
        expected = {"list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping"}[kind]
        return f"must be {expected}"
    msg = str(err.get("msg", "invalid value"))
    return msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg


def describe_validation_error(exc: ValidationError) -> str:
    """First problem of a pydantic error as ``where: what`` (plus how many more there are)."""
    errors = exc.errors()
    first = errors[0]
    where = _where(tuple(first.get("loc", ())))
    text = f"{where}: {_what(first)}" if where else _what(first)
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem(s))"
    return text


def read_document(path: str | Path) -> Any:
    """Parse a YAML or JSON file (chosen by extension; anything else is read as YAML)."""
    p = Path(path)
    name = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlacementInputError(name, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlacementInputError(name, f"cannot read file ({exc.__class__.__name__}: {exc})") from None
    try:
        if p.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise PlacementInputError(name, f"line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise PlacementInputError(name, f"{where}not valid YAML ({problem})") from None


def parse(model: type[M], data: Any, source: str) -> M:
    """Validate a parsed document against a model, raising PlacementInputError on the first problem."""
    if not isinstance(data, dict):
        raise PlacementInputError(source, f"expected a mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PlacementInputError(source, describe_validation_error(exc)) from None


def load_estate(path: str | Path) -> Estate:
    """Load an estate file (YAML or JSON)."""
    return parse(Estate, read_document(path), str(path))


def load_request(path: str | Path, estate: Estate | None = None) -> Request:
    """Load a request file; with ``estate``, also reject unknown datacenters and hosts."""
    request = parse(Request, read_document(path), str(path))
    if estate is not None:
        validate_request(estate, request, source=str(path))
    return request
