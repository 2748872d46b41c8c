"""The runners file: which machines take part in a run, and how each is reached and set up.

A runner is a machine with a checkout of this project and its venv; the controller (where
`cloudgate run --runners` is typed) reaches it with `ssh`, the way pytest-xdist's remote workers
need. The file is strict like the target file (unknown keys are errors) and every problem is one
line `file:line: field: problem` (cloudgate.target's locator), because a typo in a runner's python
path would otherwise surface as a remote traceback in the middle of a run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from cloudgate.errors import TargetError
from cloudgate.target import expand_path, located, read_config, validation_line, yaml_mapping

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
ADDRESS = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:-]*")  # a host name, IPv4 or IPv6 address; no user@, no //
USER = re.compile(r"[a-z_][a-z0-9_.-]*")
DEFAULT_WORKERS = 2


class RunnersError(TargetError):
    """The runners file is unusable, or no runner can take part; one line for the operator (exit 2)."""


def _remote_path(value: str) -> str:
    """A path on the runner, put into an xdist spec and a remote shell line: absolute, no blanks, no //."""
    if not value.startswith("/"):
        raise ValueError("must be an absolute path on the runner")
    if re.search(r"[\s'\"\\$`;&|<>]", value) or "//" in value:
        raise ValueError("must not contain blanks, quotes, shell characters or '//'")
    return value


def _matching(pattern: re.Pattern[str], problem: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(problem)
        return value

    return check


Login = Annotated[str, AfterValidator(_matching(USER, "must be a login name (letters, digits, _ . -)"))]
RunnerName = Annotated[str, AfterValidator(_matching(NAME, "must be letters, digits, '.', '_' or '-' (at most 63)"))]
Address = Annotated[str, AfterValidator(_matching(
    ADDRESS, "must be a host name or an IP address (the user goes in `user`)"))]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunnerSettings(_Strict):
    """What a runner entry may set, and the file's `defaults` for every entry."""

    user: Login | None = None
    port: int | None = Field(None, ge=1, le=65535)
    identity_file: str | None = Field(None, description="private key on the controller, for the runner")
    known_hosts: str | None = Field(None, description="known_hosts on the controller; required outside the lab")
    python: str | None = Field(None, description="the project's venv python on the runner")
    chdir: str | None = Field(None, description="the project's checkout on the runner (tests run from there)")
    workers: int | None = Field(None, ge=1, le=64)

    @field_validator("identity_file", "known_hosts")
    @classmethod
    def _local_path(cls, value: str | None) -> str | None:
        return expand_path(value) if value is not None else None

    @field_validator("python", "chdir")
    @classmethod
    def _remote(cls, value: str | None) -> str | None:
        return _remote_path(value) if value is not None else None


class RunnerEntry(RunnerSettings):
    name: RunnerName
    address: Address


class RunnersFile(_Strict):
    lab: bool = Field(False, description="the runners are the lab's namespaces: host keys are not checked")
    connect_timeout_seconds: float = Field(5.0, gt=0, le=60)
    preflight_seconds: float = Field(20.0, gt=0, le=300, description="the whole preflight, every runner at once")
    shared_reports: bool = Field(False, description="the runners see the controller's reports directory at the "
                                                    "same path (NFS, or the lab): workers share the run's estate.json")
    forward_env: list[str] = Field(default_factory=list, description="more variables the workers get from the "
                                                                     "controller (the target's secrets always)")
    defaults: RunnerSettings = Field(default_factory=RunnerSettings)
    runners: list[RunnerEntry] = Field(min_length=1)

    @field_validator("forward_env")
    @classmethod
    def _variables(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"{name!r} is not an environment variable name")
        return value


@dataclass(frozen=True)
class Runner:
    """One runner with its defaults applied and its local paths resolved."""

    name: str
    address: str
    port: int
    user: str
    identity_file: str
    known_hosts: str | None  # None only in the lab
    python: str
    chdir: str
    workers: int

    @property
    def where(self) -> str:
        return f"{self.user}@{self.address}:{self.port}"


@dataclass(frozen=True)
class LoadedRunners:
    path: Path
    file: RunnersFile
    runners: tuple[Runner, ...]

    @property
    def strict_host_keys(self) -> bool:
        return not self.file.lab


REQUIRED = ("identity_file", "python", "chdir")


def _resolve(entry: RunnerEntry, defaults: RunnerSettings, base: Path, lab: bool) -> tuple[Runner | None, str, str]:
    """The runner, or (None, missing field, why) when a field is set neither on it nor in defaults."""
    merged: dict[str, Any] = {k: getattr(entry, k) if getattr(entry, k) is not None else getattr(defaults, k)
                              for k in RunnerSettings.model_fields}
    for key in REQUIRED:
        if merged[key] is None:
            return None, key, "required (on the runner or in defaults)"
    if not lab and merged["known_hosts"] is None:
        return None, "known_hosts", "required outside the lab (host keys are checked strictly)"
    local = {k: str(p if (p := Path(merged[k])).is_absolute() else base / p) if merged[k] else None
             for k in ("identity_file", "known_hosts")}
    return Runner(
        name=entry.name, address=entry.address, port=merged["port"] or 22, user=merged["user"] or "root",
        identity_file=local["identity_file"] or "", known_hosts=None if lab else local["known_hosts"],
        python=merged["python"], chdir=merged["chdir"], workers=merged["workers"] or DEFAULT_WORKERS,
    ), "", ""


def parse_runners(text: str, source: str | Path = "<runners>") -> LoadedRunners:
    """Validate runners YAML; raise RunnersError('file:line: field: problem')."""
    root, data = yaml_mapping(text, source, "a runners file must be a mapping (runners: [...], defaults: {...})",
                              RunnersError)
    try:
        model = RunnersFile.model_validate(data)
    except ValidationError as exc:
        raise RunnersError(validation_line(exc, source, root, "the runners file")) from None
    base = Path(source).parent if str(source) != "<runners>" else Path.cwd()
    runners: list[Runner] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(model.runners):
        if entry.name in seen:
            raise RunnersError(f"{located(source, root, ('runners', i, 'name'))}: runner name {entry.name!r} is "
                               f"used twice (runners[{seen[entry.name]}])")
        seen[entry.name] = i
        runner, missing, why = _resolve(entry, model.defaults, base, model.lab)
        if runner is None:
            raise RunnersError(f"{located(source, root, ('runners', i))} ({entry.name}): {missing}: {why}")
        runners.append(runner)
    return LoadedRunners(Path(source), model, tuple(runners))


def load_runners(path: str | Path) -> LoadedRunners:
    p = Path(path)
    return parse_runners(read_config(p, "runners", RunnersError), p)
