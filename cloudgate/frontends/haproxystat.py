"""haproxy's runtime answers (`show stat`, `show info`, `show servers state`), parsed by field name.

Why by name: the management guide (doc/management.txt §9.1, v2.6.0) fixes the positions of fields
0–99 only, and the answers grow between releases (2.6.12 adds `agg_server_status`, a `-` column
and the SSL/H1/H2 module counters after `uweight`); a parser reading positions would silently read
the wrong column on the day a field moves. Missing fields (an older haproxy) read as None, unknown
ones are kept in `StatRow.raw`.

Why the answers are checked at all: the stats socket answers "Unknown command…" or "Permission
denied" as plain text, with no error code. A parser that returned an empty list on such text would
let a judge conclude "no server is down" from an answer that lists no server: `RuntimeAnswerError`
makes the caller see what haproxy actually said.

Everything here is pure (text in, frozen dataclasses out); the I/O (socat on the node, over SSH)
lives elsewhere. The fixtures under tests/unit/frontends/data/haproxy/ are real 2.6.12 answers.
"""

from __future__ import annotations

import csv
import enum
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

TYPE_NAMES = {0: "frontend", 1: "backend", 2: "server", 3: "listener"}

# show stat's integer fields this module exposes as attributes (the rest stays reachable by name in raw)
_INT_FIELDS = (
    "type", "weight", "uweight", "act", "bck", "check_code", "check_duration", "lastchg", "chkdown",
    "chkfail", "downtime", "scur", "qcur", "lbtot", "econ", "eresp", "wretr", "wredis", "cli_abrt",
    "srv_abrt", "hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other", "check_rise",
    "check_fall", "check_health", "agent_code", "agent_duration", "agent_rise", "agent_fall", "agent_health",
)
_STR_FIELDS = ("status", "addr", "agent_status", "last_chk", "check_desc", "tracked", "mode", "algo")

_TRANSITION = re.compile(r"^(?P<word>UP|DOWN|NOLB|DRAIN) (?P<n>\d+)/(?P<m>\d+)$")

# srv_check_status in `show servers state` is haproxy's enum healthcheck_status (include/haproxy/check-t.h)
CHECK_STATUS_CODES = {
    0: "UNK", 1: "INI", 2: "START", 3: "CHECKED", 4: "HANA", 5: "SOCKERR", 6: "L4OK", 7: "L4TOUT",
    8: "L4CON", 9: "L6OK", 10: "L6TOUT", 11: "L6RSP", 12: "L7TOUT", 13: "L7RSP", 14: "L57DATA", 15: "L7OK",
    16: "L7OKC", 17: "L7STS", 18: "PROCERR", 19: "PROCTOUT", 20: "PROCOK",
}
OP_STATES = {0: "stopped", 1: "starting", 2: "running", 3: "stopping"}


class RuntimeAnswerError(ValueError):
    """haproxy's answer is not the table asked for (an error message, a truncated read, nothing).

    str() is one line that quotes the answer's first line, so that a check failing on it tells the
    operator what haproxy said ("Permission denied" points at the socket's level, "Unknown command"
    at the haproxy version).
    """

    def __init__(self, command: str, text: str, why: str = "") -> None:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        quoted = repr(first[:120]) if first else "nothing"
        super().__init__(f"haproxy answered {quoted} to `{command}`{': ' + why if why else ''}")
        self.command = command
        self.first_line = first


def _opt(value: str | None) -> str | None:
    return None if value is None or value == "" else value


def _int(command: str, text: str, name: str, value: str | None) -> int | None:
    value = _opt(value)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise RuntimeAnswerError(command, text, f"field {name} is {value!r}, not a number") from None


@dataclass(frozen=True)
class StatRow:
    """One line of `show stat`: a frontend, a backend, a server or a listener.

    Integer fields are None where haproxy left them empty (a field that does not apply to this
    type, or a check field of a server whose checks are off or paused by MAINT).
    """

    pxname: str
    svname: str
    type: int | None = None
    status: str | None = None
    check_status: str | None = None  # without the leading "* ", see check_running
    check_running: bool = False  # haproxy printed "* ": a check was in progress at the read
    weight: int | None = None
    uweight: int | None = None
    act: int | None = None
    bck: int | None = None
    check_code: int | None = None
    check_duration: int | None = None
    lastchg: int | None = None
    chkdown: int | None = None
    chkfail: int | None = None
    downtime: int | None = None
    scur: int | None = None
    qcur: int | None = None
    lbtot: int | None = None
    econ: int | None = None
    eresp: int | None = None
    wretr: int | None = None
    wredis: int | None = None
    cli_abrt: int | None = None
    srv_abrt: int | None = None
    hrsp_1xx: int | None = None
    hrsp_2xx: int | None = None
    hrsp_3xx: int | None = None
    hrsp_4xx: int | None = None
    hrsp_5xx: int | None = None
    hrsp_other: int | None = None
    check_rise: int | None = None
    check_fall: int | None = None
    check_health: int | None = None
    addr: str | None = None
    agent_status: str | None = None
    agent_code: int | None = None
    agent_duration: int | None = None
    agent_rise: int | None = None
    agent_fall: int | None = None
    agent_health: int | None = None
    last_chk: str | None = None
    check_desc: str | None = None
    tracked: str | None = None
    mode: str | None = None
    algo: str | None = None
    raw: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), compare=False, repr=False)

    @property
    def kind(self) -> str:
        """frontend | backend | server | listener (from `type`; svname as a fallback for old answers)."""
        if self.type is not None:
            return TYPE_NAMES.get(self.type, f"type {self.type}")
        return {"FRONTEND": "frontend", "BACKEND": "backend"}.get(self.svname, "server")

    @property
    def is_server(self) -> bool:
        return self.kind == "server"

    @property
    def is_backup(self) -> bool:
        """A backup server (`bck` 1): it takes traffic only when no active server is UP."""
        return bool(self.bck) and self.is_server

    @property
    def status_word(self) -> str:
        """The status without its transition counts or detail: UP, DOWN, NOLB, DRAIN, MAINT, no check, …"""
        status = self.status or ""
        if m := _TRANSITION.match(status):
            return m.group("word")
        if status.startswith("MAINT"):
            return "MAINT"
        return status.split(" (")[0]

    @property
    def transition(self) -> tuple[int, int] | None:
        """(n, m) of a transitional status: "UP 1/3" going down, "DOWN 1/2" coming up; else None.

        src/stats.c prints UP n/fall with n = health − rise + 1 (the checks still to fail before
        DOWN) and DOWN n/rise with n = health (the successes so far).
        """
        if m := _TRANSITION.match(self.status or ""):
            return int(m.group("n")), int(m.group("m"))
        return None

    @property
    def is_up(self) -> bool:
        """Takes traffic as far as checks go: UP, including "UP n/m" (going down: see is_transitioning)."""
        return self.status_word == "UP"

    @property
    def is_fully_up(self) -> bool:
        return self.status == "UP"

    @property
    def is_transitioning(self) -> bool:
        return self.transition is not None

    @property
    def failed_checks_in_a_row(self) -> int | None:
        """For "UP n/m": how many checks in a row have failed (m − n); None when not going down."""
        if self.transition and self.status_word in ("UP", "NOLB", "DRAIN"):
            n, m = self.transition
            return m - n
        return None

    @property
    def in_maint(self) -> bool:
        return self.status_word == "MAINT"

    @property
    def is_draining(self) -> bool:
        return self.status_word == "DRAIN"

    @property
    def check_layer(self) -> int | None:
        """4, 6 or 7: the layer the last check reached (L4OK: a TCP connect only); None without a check."""
        if self.check_status and (m := re.match(r"^L(\d)", self.check_status)):
            return int(m.group(1))
        return None

    @property
    def ip(self) -> str | None:
        """The address without its port ("127.0.0.1:80" → 127.0.0.1, "[::1]:80" → ::1)."""
        if not self.addr or self.addr == "unix":
            return None
        if self.addr.startswith("["):
            return self.addr[1:].split("]")[0]
        return self.addr.rsplit(":", 1)[0] if self.addr.count(":") == 1 else self.addr

    @property
    def name(self) -> str:
        """backend/server, as haproxy names a server in its logs and on its socket."""
        return f"{self.pxname}/{self.svname}"

    def get(self, name: str) -> str | None:
        """Any field by its header name, raw (None when absent or empty)."""
        return _opt(self.raw.get(name))


def parse_show_stat(text: str) -> list[StatRow]:
    """`show stat` (or the stats page's ;csv) as rows, by the names of its `# pxname,svname,…` header.

    Raises RuntimeAnswerError when the text is not that table: haproxy's error messages ("Unknown
    command", "Permission denied"), an empty read, a header without pxname/svname, a garbled number.
    """
    command = "show stat"
    first, _, body = text.lstrip("\r\n").partition("\n")
    if not first.startswith("#"):
        raise RuntimeAnswerError(command, text, "no `# pxname,svname,…` header")
    header = [name.strip() for name in first.lstrip("#").strip().split(",")]
    if "pxname" not in header or "svname" not in header:
        raise RuntimeAnswerError(command, text, "the header names no pxname/svname")
    rows: list[StatRow] = []
    for values in csv.reader(io.StringIO(body, newline="")):
        if not any(value.strip() for value in values):
            continue  # the answer ends with an empty line
        fields = {name: value for name, value in zip(header, values, strict=False) if name and name != "-"}
        if not fields.get("pxname") or "svname" not in fields:
            raise RuntimeAnswerError(command, text, f"a line without pxname/svname: {','.join(values)[:80]!r}")
        kwargs: dict[str, object] = {name: _int(command, text, name, fields.get(name)) for name in _INT_FIELDS}
        kwargs.update({name: _opt(fields.get(name)) for name in _STR_FIELDS})
        check = _opt(fields.get("check_status"))
        running = bool(check and check.startswith("* "))
        rows.append(StatRow(pxname=fields["pxname"], svname=fields["svname"],
                            check_status=check[2:] if check and running else check, check_running=running,
                            raw=MappingProxyType(fields), **kwargs))  # type: ignore[arg-type]
    return rows


def parse_show_info(text: str) -> dict[str, str]:
    """`show info`'s `Name: value` lines as a dict (values as text); see ShowInfo for the typed view.

    Raises RuntimeAnswerError when no line has that shape (an error message, an empty read).
    """
    info: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() and not line[0].isspace():  # "Unstoppable Jobs", "Build info": names have spaces
            info[name.strip()] = value.strip()
    if "Pid" not in info and "Name" not in info:
        raise RuntimeAnswerError("show info", text, "no `Name: value` lines")
    return info


@dataclass(frozen=True)
class ShowInfo:
    """The process `show info` describes. Counters in `show stat` belong to it: they start at zero
    with each process (a reload starts a new worker: new Pid, Uptime_sec from 0), so a delta of two
    reads is meaningful only between two reads of the same process (see same_process)."""

    fields: Mapping[str, str]

    @classmethod
    def parse(cls, text: str) -> ShowInfo:
        info = parse_show_info(text)
        for name in ("Pid", "Uptime_sec"):
            if not info.get(name, "").isdigit():
                raise RuntimeAnswerError("show info", text, f"{name} is {info.get(name)!r}")
        return cls(MappingProxyType(info))

    @property
    def pid(self) -> int:
        return int(self.fields["Pid"])

    @property
    def uptime_sec(self) -> int:
        return int(self.fields["Uptime_sec"])

    @property
    def version(self) -> str:
        return self.fields.get("Version", "")

    @property
    def node(self) -> str:
        return self.fields.get("node", "")

    def same_process(self, later: ShowInfo) -> bool:
        """Was `later` read from the same haproxy process as self? Same Pid, and an uptime that did
        not go back (a Pid can be reused by the next worker, an uptime cannot shrink)."""
        return self.pid == later.pid and later.uptime_sec >= self.uptime_sec


class AdminState(enum.IntFlag):
    """srv_admin_state bits (include/haproxy/server-t.h, enum srv_admin, v2.6.0)."""

    FMAINT = 0x01  # forced into maintenance (`set server … state maint`, `disabled`)
    IMAINT = 0x02  # maintenance inherited from a tracked server
    CMAINT = 0x04  # maintenance from the configuration (`disabled`; set together with FMAINT)
    FDRAIN = 0x08  # forced into drain (`set server … state drain`)
    IDRAIN = 0x10  # drain inherited from a tracked server
    RMAINT = 0x20  # maintenance because the address does not resolve
    HMAINT = 0x40  # FQDN set from the stats socket

    @property
    def in_maint(self) -> bool:
        return bool(self & (AdminState.FMAINT | AdminState.IMAINT | AdminState.CMAINT | AdminState.RMAINT))

    @property
    def draining(self) -> bool:
        return bool(self & (AdminState.FDRAIN | AdminState.IDRAIN))


@dataclass(frozen=True)
class ServerState:
    """One line of `show servers state` (format version 1)."""

    be_id: int
    be_name: str
    srv_id: int
    srv_name: str
    srv_addr: str
    op_state: int  # 0 stopped, 1 starting, 2 running, 3 stopping
    admin_state: AdminState
    uweight: int | None = None
    iweight: int | None = None
    time_since_last_change: int | None = None
    check_status: int | None = None
    check_result: int | None = None
    check_health: int | None = None
    check_state: int | None = None
    port: int | None = None
    raw: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), compare=False, repr=False)

    @property
    def op_state_name(self) -> str:
        return OP_STATES.get(self.op_state, f"state {self.op_state}")

    @property
    def check_status_name(self) -> str | None:
        return None if self.check_status is None else CHECK_STATUS_CODES.get(self.check_status, str(self.check_status))

    @property
    def name(self) -> str:
        return f"{self.be_name}/{self.srv_name}"


def parse_show_servers_state(text: str) -> list[ServerState]:
    """`show servers state`: a version line ("1"), a `# be_id be_name …` header, space-separated rows.

    Later lines starting with '#' are comments (the guide says so). Raises RuntimeAnswerError on
    anything else, including a format version other than 1 (its columns are not known here).
    """
    command = "show servers state"
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[0].strip() != "1":
        raise RuntimeAnswerError(command, text, "not format version 1")
    if len(lines) < 2 or not lines[1].startswith("#"):
        raise RuntimeAnswerError(command, text, "no `# be_id be_name …` header")
    header = lines[1].lstrip("#").split()
    states: list[ServerState] = []
    for line in lines[2:]:
        if line.startswith("#"):
            continue
        fields = dict(zip(header, line.split(), strict=False))

        def num(name: str, fields: dict[str, str] = fields) -> int | None:
            value = fields.get(name)
            return None if value in (None, "-") else _int(command, text, name, value)

        for name in ("be_id", "be_name", "srv_id", "srv_name", "srv_addr", "srv_op_state", "srv_admin_state"):
            if name not in fields:
                raise RuntimeAnswerError(command, text, f"a line without {name}: {line[:80]!r}")
        states.append(ServerState(
            be_id=num("be_id") or 0, be_name=fields["be_name"], srv_id=num("srv_id") or 0,
            srv_name=fields["srv_name"], srv_addr=fields["srv_addr"], op_state=num("srv_op_state") or 0,
            admin_state=AdminState(num("srv_admin_state") or 0), uweight=num("srv_uweight"),
            iweight=num("srv_iweight"), time_since_last_change=num("srv_time_since_last_change"),
            check_status=num("srv_check_status"), check_result=num("srv_check_result"),
            check_health=num("srv_check_health"), check_state=num("srv_check_state"), port=num("srv_port"),
            raw=MappingProxyType(fields)))
    return states
