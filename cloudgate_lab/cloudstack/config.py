"""Global configuration (listConfigurations / updateConfiguration), including the lab's own knobs.

Real settings the simulator honours keep their CloudStack names and defaults-for-the-lab; `lab.*`
settings are how a test steers the target: boot delay, injected API failures, management-server state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .db import Database
from .envelope import PARAM_ERROR, ApiError

ALLOCATION_ALGORITHMS = (
    "random",
    "firstfit",
    "userdispersing",
    "userconcentratedpod_random",
    "userconcentratedpod_firstfit",
    "firstfitleastconsumed",
)


def _number(value: str) -> str | None:
    try:
        if float(value) < 0:
            return "must not be negative"
    except ValueError:
        return "must be a number"
    return None


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _error_code(value: str) -> str | None:
    if value == "":
        return None
    if not value.isdigit() or not 400 <= int(value) <= 599:
        return "must be an API error code such as 431, 530 or 533 (empty clears it)"
    return None


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    category: str
    description: str
    check: Callable[[str], str | None] | None = None


SETTINGS = {
    s.name: s
    for s in [
        Setting("vm.allocation.algorithm", "firstfit", "Advanced",
                "Order in which hosts are tried: random, firstfit, userdispersing, "
                "userconcentratedpod_random, userconcentratedpod_firstfit, firstfitleastconsumed",
                _one_of(*ALLOCATION_ALGORITHMS)),
        Setting("expunge.delay", "86400", "Advanced",
                "Seconds to wait before expunging a destroyed VM", _number),
        Setting("expunge.interval", "60", "Advanced", "Seconds between expunge sweeps", _number),
        Setting("capacity.skipcounting.hours", "3600", "Advanced",
                "Seconds a stopped VM's last host stays reserved for its anti-affinity group", _number),
        Setting("default.page.size", "500", "Advanced", "Largest page size a list command accepts", _number),
        Setting("lab.boot.delay.seconds", "1", "Lab", "Seconds a guest takes to boot after start", _number),
        Setting("lab.hostmonitor.interval.seconds", "1", "Lab",
                "Seconds between two host_status rounds of the host monitor", _number),
        Setting("lab.managementserver.state", "Up", "Lab",
                "State listManagementServers reports (Up or Down)", _one_of("Up", "Down")),
        Setting("lab.antiaffinity.race.seconds", "0", "Lab",
                "Seconds between planning and reserving the host of a VM in a host anti-affinity group "
                "while the allocator races (CloudStack #5527/#9110, Nova 1423648): it plans outside the "
                "database lock on what it sees then and reserves without the group's reservation check, so "
                "members of one group deployed in parallel land on one host. 0: off (plan and reservation "
                "under one lock)", _number),
        Setting("lab.orphaned.vms", "", "Lab",
                "Comma-separated VM names the database has lost while their guests keep running "
                "(as after restoring an old database backup): listVirtualMachines omits them"),
    ]
}

FAIL_PREFIX = "lab.fail."


class Config:
    """Typed access to the config table; unknown names are rejected like CloudStack does."""

    def __init__(self, db: Database, known_commands: Callable[[], set[str]]) -> None:
        self.db = db
        self._known_commands = known_commands

    def seed(self, boot_delay_seconds: float) -> None:
        with self.db.tx():
            for s in SETTINGS.values():
                default = str(boot_delay_seconds) if s.name == "lab.boot.delay.seconds" else s.default
                self.db.run("INSERT OR IGNORE INTO config(name, value, category, description) VALUES (?,?,?,?)",
                            (s.name, default, s.category, s.description))

    def get(self, name: str) -> str:
        value = self.db.scalar("SELECT value FROM config WHERE name=?", (name,))
        if value is None:
            setting = SETTINGS.get(name)
            return setting.default if setting else ""
        return str(value)

    def number(self, name: str) -> float:
        try:
            return float(self.get(name))
        except ValueError:
            return float(SETTINGS[name].default)

    def failure_for(self, command: str) -> int | None:
        """The error code injected for a command by `lab.fail.<command>`, if any."""
        value = self.db.scalar("SELECT value FROM config WHERE lower(name)=?", (f"{FAIL_PREFIX}{command}".lower(),))
        return int(value) if value else None

    def update(self, name: str, value: str) -> None:
        if name.startswith(FAIL_PREFIX):
            command = name[len(FAIL_PREFIX):]
            if command not in self._known_commands():
                raise ApiError(PARAM_ERROR, f"Config parameter with name {name} doesn't exist: "
                                            f"{command} is not an API command of this server")
            problem = _error_code(value)
            category, description = "Lab", f"Error code every {command} call returns (empty: none)"
        else:
            setting = SETTINGS.get(name)
            if setting is None:
                raise ApiError(PARAM_ERROR, f"Config parameter with name {name} doesn't exist")
            problem = setting.check(value) if setting.check else None
            category, description = setting.category, setting.description
        if problem:
            raise ApiError(PARAM_ERROR, f"Invalid value for configuration {name}: {problem}")
        with self.db.tx():
            self.db.run("INSERT INTO config(name, value, category, description) VALUES (?,?,?,?) "
                        "ON CONFLICT(name) DO UPDATE SET value=excluded.value", (name, value, category, description))

    def rows(self) -> list[dict[str, str]]:
        return [dict(r) for r in self.db.all("SELECT name, value, category, description FROM config ORDER BY name")]
