"""What Apache's mod_status and PHP-FPM's status page say about saturation, parsed and judged (pure).

Apache: `/server-status?auto` (mod_status.c, 2.4): a first line holding the server's name, then one
`Key: value` line each. `BusyWorkers`, `GracefulWorkers` and `IdleWorkers` are always printed; the
event MPM adds `Processes`, `Stopping`, `ConnsTotal` and `ConnsAsync*` (2.4.63 added
`ConnsAsyncWaitIO`); ExtendedStatus (on by default once mod_status is loaded) adds `Total Accesses`
and the rates; extension hooks (mod_ssl's session cache, mod_proxy's balancers) may append lines of
their own. The scoreboard has one letter per worker slot: `_` waiting, `R` reading, `W` writing,
`K` keep-alive, `G` gracefully finishing, `.` an open slot with no process, and so on.
The worker serving the status request is itself one of the busy ones.

PHP-FPM: `pm.status_path` in its default plain form (`key:  value` lines, `start time` formatted
`%d/%b/%Y:%H:%M:%S %z` in the pool's local time) or with `?json` (`start time` in epoch seconds).
`?full` appends one block per process after a blank line and a row of stars: only the pool's part
is read. Two limits of FPM itself, worth knowing before trusting a quiet page:
- `listen queue` is measured only for a pool listening on TCP (Linux `TCP_INFO` on the listening
  socket, read by the master about once a second); a pool on a Unix socket always shows 0 there,
  with `listen queue len` 0 (`FpmStatus.listen_queue_measured`).
- `max children reached` only moves with `pm = dynamic` or `ondemand`; with `pm = static` a pool
  that is too small shows up only as a listen queue (on TCP) or as Apache's 503/504s.

Counters (`accepted conn`, `max children reached`, `slow requests`) restart from 0 when FPM
restarts; they are only compared within one FPM lifetime (same start time).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

STATE_LETTERS = {
    "_": "waiting for connection", "S": "starting up", "R": "reading request", "W": "sending reply",
    "K": "keep-alive", "D": "DNS lookup", "C": "closing connection", "L": "logging",
    "G": "gracefully finishing", "I": "idle cleanup", ".": "open slot",
}


class StatusPageError(ValueError):
    """A status page that cannot be read as one: str() is one line naming what was served instead."""


@dataclass(frozen=True)
class ApacheStatus:
    """One reading of `/server-status?auto`; the optional keys are None when the page has no such line."""

    server_name: str | None
    busy_workers: int
    idle_workers: int
    graceful_workers: int | None = None
    server_version: str | None = None
    server_mpm: str | None = None
    total_accesses: int | None = None
    processes: int | None = None
    stopping: int | None = None
    conns_total: int | None = None
    scoreboard: str = ""
    config_generation: int | None = None  # ParentServerConfigGeneration: +1 at each graceful restart
    uptime_seconds: int | None = None  # ServerUptimeSeconds
    fields: dict[str, str] = field(default_factory=dict)  # every Key: value line as served

    @property
    def scoreboard_counts(self) -> dict[str, int]:
        """How many slots are in each state letter (`_`, `W`, `.`, ...), only the letters present."""
        counts: dict[str, int] = {}
        for letter in self.scoreboard:
            counts[letter] = counts.get(letter, 0) + 1
        return counts

    @property
    def open_slots(self) -> int:
        """Slots with no process yet (`.`): room Apache still has to start processes in."""
        return self.scoreboard.count(".")


@dataclass(frozen=True)
class FpmStatus:
    """One reading of a PHP-FPM pool's status page (plain or ?json); field names as FPM's, in snake case."""

    pool: str
    start_since: int
    accepted_conn: int
    listen_queue: int
    idle_processes: int
    active_processes: int
    max_children_reached: int
    slow_requests: int
    process_manager: str | None = None
    start_time: datetime | None = None  # aware, UTC
    max_listen_queue: int | None = None
    listen_queue_len: int | None = None
    total_processes: int | None = None
    max_active_processes: int | None = None

    @property
    def listen_queue_measured(self) -> bool:
        """False for a pool FPM cannot measure the queue of (a Unix socket on Linux: `listen queue len` 0)."""
        return bool(self.listen_queue_len)


# -- Apache ------------------------------------------------------------------------------------------------

_KEY_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9 ]*?):(.*)$")
_APACHE_INTS = {
    "BusyWorkers": "busy_workers", "IdleWorkers": "idle_workers", "GracefulWorkers": "graceful_workers",
    "Total Accesses": "total_accesses", "Processes": "processes", "Stopping": "stopping",
    "ConnsTotal": "conns_total", "ParentServerConfigGeneration": "config_generation",
    "ServerUptimeSeconds": "uptime_seconds",
}


def parse_apache_status(text: str) -> ApacheStatus:
    """Parse mod_status's `?auto` page; a page that is not one (HTML, a 403 body, empty) is a StatusPageError."""
    _refuse_markup(text, "a mod_status ?auto page")
    lines = text.splitlines()
    server_name = None
    fields: dict[str, str] = {}
    for index, raw in enumerate(lines):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        match = _KEY_LINE.match(line)
        if match is None:
            if index == 0:
                server_name = line.strip()  # ?auto's first line is the server's name, with no key
            continue
        fields.setdefault(match.group(1), match.group(2).strip())
    missing = [k for k in ("BusyWorkers", "IdleWorkers") if k not in fields]
    if missing:
        raise StatusPageError(f"not a mod_status ?auto page: no {' or '.join(missing)} line "
                              f"(it starts {_first_line(text)!r})")
    values: dict[str, object] = {}
    for key, name in _APACHE_INTS.items():
        if key in fields:
            values[name] = _integer(fields[key], key, "mod_status ?auto")
    return ApacheStatus(
        server_name=server_name,
        server_version=fields.get("ServerVersion"),
        server_mpm=fields.get("ServerMPM"),
        scoreboard=fields.get("Scoreboard", ""),
        fields=fields,
        **values,  # type: ignore[arg-type]
    )


def apache_saturation(status: ApacheStatus, busy_ratio_max: float, node: str | None = None) -> list[str]:
    """One line if Apache has no idle worker or Busy/(Busy+Idle) >= busy_ratio_max, else nothing.

    Busy and Idle count only the workers of started processes; open slots (`.`) are processes Apache
    may still start, so "MaxRequestWorkers reached" is only said when there is none left.
    """
    who = node or status.server_name or "?"
    busy, idle = status.busy_workers, status.idle_workers
    total = busy + idle
    if total == 0:
        return [f"Apache on {who}: no worker counted (BusyWorkers 0, IdleWorkers 0): stopping or restarting?"]
    ratio = busy / total
    if idle == 0:
        if status.scoreboard and status.open_slots:
            return [f"Apache on {who}: {busy} of {total} workers busy, none idle "
                    f"({status.open_slots} open slots left to start processes in)"]
        return [f"Apache on {who}: {busy} of {total} workers busy (MaxRequestWorkers reached?)"]
    if ratio >= busy_ratio_max:
        return [f"Apache on {who}: {busy} of {total} workers busy ({ratio:.0%}, limit {busy_ratio_max:.0%}): "
                f"close to MaxRequestWorkers"]
    return []


# -- PHP-FPM -----------------------------------------------------------------------------------------------

_FPM_REQUIRED = ("pool", "start since", "accepted conn", "listen queue", "idle processes", "active processes",
                 "max children reached", "slow requests")
_FPM_OPTIONAL_INTS = ("max listen queue", "listen queue len", "total processes", "max active processes")
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
_FPM_TIME = re.compile(r"^(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$")


def parse_fpm_status(text: str) -> FpmStatus:
    """Parse PHP-FPM's status page, plain (the default) or `?json`; anything else is a StatusPageError."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError as exc:
            raise StatusPageError(f"PHP-FPM ?json status is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise StatusPageError("PHP-FPM ?json status is not a JSON object")
        values = {str(k).lower(): v for k, v in data.items() if k != "processes"}
    else:
        _refuse_markup(text, "a PHP-FPM status page")
        values = {}
        for raw in stripped.splitlines():
            if raw.startswith("*"):
                break  # ?full: the per-process blocks follow, and repeat keys such as `start time`
            key, sep, value = raw.partition(":")
            if sep:
                values.setdefault(key.strip().lower(), value.strip())
    missing = [k for k in _FPM_REQUIRED if k not in values]
    if missing:
        if len(missing) == len(_FPM_REQUIRED):
            raise StatusPageError(f"not a PHP-FPM status page: it starts {_first_line(text)!r} "
                                  f"(pm.status_path not set in the pool, or not this path?)")
        raise StatusPageError(f"PHP-FPM status page without {', '.join(repr(k) for k in missing)}")
    ints = {k: _integer(values[k], k, "PHP-FPM status") for k in _FPM_REQUIRED[1:]}
    optional = {k: _integer(values[k], k, "PHP-FPM status") for k in _FPM_OPTIONAL_INTS if k in values}
    return FpmStatus(
        pool=str(values["pool"]),
        process_manager=str(values["process manager"]) if "process manager" in values else None,
        start_time=_fpm_start_time(values.get("start time")),
        **{k.replace(" ", "_"): v for k, v in (ints | optional).items()},
    )


def fpm_saturation(before: FpmStatus, after: FpmStatus, node: str | None = None) -> list[str]:
    """One line per sign of an FPM pool too small for its load between two readings (pure).

    Now: a listen queue above 0. Over the window, within one FPM lifetime only: more `max children
    reached` and more `slow requests`. If FPM restarted between the readings (another start time, or
    counters that went back) that is said instead, with what the new lifetime counted so far.
    """
    who = f"PHP-FPM pool {after.pool}" + (f" on {node}" if node else "")
    problems: list[str] = []
    if before.pool != after.pool:
        return [f"{who}: the two readings are of different pools ({before.pool} then {after.pool})"]
    if after.listen_queue > 0:
        total = after.total_processes if after.total_processes is not None else (
            after.idle_processes + after.active_processes)
        busy = f"{after.active_processes} of {total} processes active"
        peak = f", max {after.max_listen_queue} since start" if after.max_listen_queue is not None else ""
        problems.append(f"{who}: {after.listen_queue} requests waiting in the listen queue ({busy}{peak}): "
                        f"pm.max_children reached?")
    if not same_fpm_lifetime(before, after):
        problems.append(f"{who}: FPM restarted between the two readings ({_lifetime(before)}, then "
                        f"{_lifetime(after)}): its counters were reset, so the window cannot be judged; "
                        f"since the restart: max children reached {after.max_children_reached}, "
                        f"slow requests {after.slow_requests}")
        return problems
    reached = after.max_children_reached - before.max_children_reached
    if reached > 0:
        problems.append(f"{who}: max children reached {reached} more times "
                        f"({before.max_children_reached} -> {after.max_children_reached}): "
                        f"pm.max_children too low for the load?")
    slow = after.slow_requests - before.slow_requests
    if slow > 0:
        problems.append(f"{who}: {slow} slow requests ({before.slow_requests} -> {after.slow_requests}): "
                        f"longer than request_slowlog_timeout, see the pool's slowlog")
    return problems


def same_fpm_lifetime(before: FpmStatus, after: FpmStatus) -> bool:
    """True if both readings come from one FPM run: same start time (or, without one, time and counters moving on)."""
    if before.start_time is not None and after.start_time is not None:
        if before.start_time != after.start_time:
            return False
    elif after.start_since < before.start_since:
        return False
    return (after.accepted_conn >= before.accepted_conn
            and after.max_children_reached >= before.max_children_reached
            and after.slow_requests >= before.slow_requests)


# -- helpers -----------------------------------------------------------------------------------------------

def _lifetime(status: FpmStatus) -> str:
    if status.start_time is not None:
        return f"started {status.start_time:%Y-%m-%d %H:%M:%S} UTC"
    return f"up {status.start_since} s"


def _fpm_start_time(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(int(value), UTC)
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    match = _FPM_TIME.match(text)
    if match is None or match.group(2) not in _MONTHS:
        raise StatusPageError(f"PHP-FPM status: start time {text!r} is not dd/Mon/yyyy:HH:MM:SS +zzzz")
    day, month, year, hh, mm, ss, sign, zh, zm = match.groups()
    offset = timedelta(hours=int(zh), minutes=int(zm)) * (-1 if sign == "-" else 1)
    local = datetime(int(year), _MONTHS[month], int(day), int(hh), int(mm), int(ss), tzinfo=timezone(offset))
    return local.astimezone(UTC)


def _integer(value: object, key: str, page: str) -> int:
    if isinstance(value, bool):
        raise StatusPageError(f"{page}: {key} is not a number: {value!r}")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise StatusPageError(f"{page}: {key} is not a number: {str(value)[:40]!r}") from None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:80]
    return ""


def _refuse_markup(text: str, wanted: str) -> None:
    """Say in one line what an HTML or empty answer is instead of `wanted` (a 403, a 404, the HTML page)."""
    stripped = text.strip()
    if not stripped:
        raise StatusPageError(f"not {wanted}: the answer is empty")
    if not (stripped.startswith("<") or "<html" in stripped[:500].lower()):
        return
    title = re.search(r"<title>(.*?)</title>", stripped, re.IGNORECASE | re.DOTALL)
    name = " ".join(title.group(1).split()) if title else ""
    if name.startswith("403"):
        hint = " (the status page refuses this client: its Require ip / Allow list?)"
    elif name.startswith("404"):
        hint = " (no status handler at this path: mod_status not loaded, or another Location?)"
    elif name == "Apache Status":
        hint = " (the HTML status page: ask for ?auto)"
    elif "PHP-FPM" in name:
        hint = " (the HTML status page: ask without ?html, or with ?json)"
    else:
        hint = ""
    described = f"an HTML page titled {name!r}" if name else f"HTML starting {_first_line(text)!r}"
    raise StatusPageError(f"not {wanted}: {described}{hint}")
