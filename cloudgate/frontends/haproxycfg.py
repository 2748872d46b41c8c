"""haproxy.cfg, read far enough to judge health checking: what each backend checks, how often, how fast.

Why a parser of our own and not `haproxy -c`: the suite judges the configuration a node *runs*
(read over SSH) from the machine the suite runs on, which need not have haproxy; and `haproxy -c`
says "valid", not "a dead PHP-FPM stays UP for 12 s". What this module resolves is what the
detection-time arithmetic (cloudgate.frontends.detection) and the lint (lbjudge) need, the way
haproxy 2.6 resolves it (doc/configuration.txt and src/ at tag v2.6.0):

- sections `global`, `defaults [<name>] [from <name>]`, `frontend|backend|listen <name> [from <name>]`;
  a proxy starts from the last `defaults` before it, or the one named after `from` (§4); a
  `defaults` starts from the documented values, or from the one after `from`;
- `default-server` lines accumulate (a defaults' ones are inherited, the proxy's own add to them)
  and a `server` line starts from the default-server state at that line;
- the L7 check: `option httpchk [<method>] [<uri>] [<version>]` or `[<uri>]`, and `http-check send
  meth/uri/ver` (which override the option's request line); a proxy with any `http-check`/`option
  httpchk` line of its own uses its own rules, otherwise the defaults' (src/tcpcheck.c, src/proxy.c);
  another check option (`option tcp-check`, `ssl-hello-chk`, …) replaces it;
- words are cut as src/tools.c parse_line cuts them: `#` comments, '…' strong and "…" weak quotes,
  backslash escapes. haproxy 2.6 has **no line continuation** (a trailing backslash is a literal
  backslash, src/cfgparse.c reads one line at a time); such a line is read as haproxy reads it and
  recorded in `warnings`. "$VAR" inside double quotes is not expanded (the node's environment is not
  known here): the text is kept as written, and a server address holding one is warned about.
- `.if`/`.elif`/`.else`/`.endif` are not evaluated: every branch is read, and a warning says so.

A line that cannot be understood (an unknown server keyword, a bad time value, an unmatched quote,
a line outside any section) is skipped and recorded in `HaproxyConfig.warnings`; parsing goes on.
Reading the file is the caller's business: this module takes text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

# --- time values ---------------------------------------------------------------------------------

_UNIT_MS = {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_TIME = re.compile(r"^(?P<value>\d+)(?P<unit>us|ms|s|m|h|d)?$")
MAX_TIME_MS = 0x7FFFFFFF  # parse_time_err refuses 2^31 ms and more ("timer overflow")


def parse_time(text: str) -> int:
    """A haproxy time value in milliseconds: an integer, bare = ms, or suffixed us/ms/s/m/h/d (§2.5).

    As src/tools.c parse_time_err: integers only, microseconds rounded *up* to the next ms ("1us" is
    1 ms), 2^31 ms or more refused. ValueError on anything else ("1.5s", "2 s", "", "-1").
    """
    m = _TIME.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a haproxy time (an integer, then us, ms, s, m, h or d)")
    value, unit = int(m.group("value")), m.group("unit") or "ms"
    ms = -(-value // 1000) if unit == "us" else value * int(_UNIT_MS[unit])
    if ms > MAX_TIME_MS:
        raise ValueError(f"{text!r} overflows haproxy's timers (2147483647 ms at most)")
    return ms


def format_time(ms: int | float) -> str:
    """Milliseconds written as an operator would in haproxy.cfg: 2s, 250ms, 1m, 1500ms (round trips
    through parse_time for integers)."""
    if ms != int(ms):
        return f"{ms / 1000:g}s"
    ms = int(ms)
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


# --- words ---------------------------------------------------------------------------------------

class QuoteError(ValueError):
    """An unmatched quote: haproxy refuses the line (fatal), so does this parser."""


_ESCAPES = {" ": " ", "\\": "\\", "t": "\t", "n": "\n", "r": "\r", "#": "#", "'": "'", '"': '"'}


def split_words(line: str) -> list[str]:
    """The words of one configuration line, as haproxy's parse_line cuts them (§2.2).

    Outside quotes a space or tab separates words and `#` starts a comment; '…' protects
    everything; "…" protects spaces, quotes and `#` (and would expand $VAR: kept literal here);
    a backslash escapes space, backslash, t/n/r, #, ' and " (and `$` inside double quotes),
    `\\xNN` gives a byte; any other backslash is kept. Raises QuoteError on an unmatched quote.
    """
    words: list[str] = []
    word: list[str] = []
    in_word = False
    squote = dquote = False
    i = 0
    while i < len(line):
        c = line[i]
        if c in "\r\n":
            break
        if c == "#" and not squote and not dquote:
            break
        if c == '"' and not squote:
            dquote, in_word = not dquote, True
        elif c == "'" and not dquote:
            squote, in_word = not squote, True
        elif c == "\\" and not squote:
            nxt = line[i + 1] if i + 1 < len(line) else ""
            if nxt == "x" and re.match(r"[0-9A-Fa-f]{2}", line[i + 2:i + 4]):
                word.append(chr(int(line[i + 2:i + 4], 16)))
                i += 3
            elif nxt in _ESCAPES and nxt:
                word.append(_ESCAPES[nxt])
                i += 1
            elif nxt == "$" and dquote:
                word.append("$")
                i += 1
            else:
                word.append("\\")
            in_word = True
        elif c in " \t" and not squote and not dquote:
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        else:
            word.append(c)
            in_word = True
        i += 1
    if squote or dquote:
        raise QuoteError("unmatched quote")
    if in_word:
        words.append("".join(word))
    return words


# --- the model -----------------------------------------------------------------------------------

DEFAULT_INTER_MS = 2000
DEFAULT_RISE = 2
DEFAULT_FALL = 3
DEFAULT_WEIGHT = 1
DEFAULT_RETRIES = 3


@dataclass(frozen=True)
class ServerConfig:
    """A `server` line with what it inherited from `default-server`, haproxy's defaults filled in."""

    name: str
    address: str  # as written: ip:port, [ipv6]:port, fqdn:port, or without a port
    check: bool = False
    inter_ms: int = DEFAULT_INTER_MS
    fastinter_set_ms: int | None = None
    downinter_set_ms: int | None = None
    rise: int = DEFAULT_RISE
    fall: int = DEFAULT_FALL
    weight: int = DEFAULT_WEIGHT
    backup: bool = False
    disabled: bool = False
    slowstart_ms: int | None = None
    observe: str | None = None
    on_error: str | None = None
    on_marked_down: str | None = None
    ssl: bool = False
    check_ssl: bool = False
    check_port: int | None = None
    agent_check: bool = False
    track: str | None = None
    line: int = 0

    @property
    def fastinter_ms(self) -> int:
        """The period while the server is in transition; `inter` when unset ([CONF] `inter`)."""
        return self.fastinter_set_ms or self.inter_ms

    @property
    def downinter_ms(self) -> int:
        """The period while the server is fully DOWN; `inter` when unset."""
        return self.downinter_set_ms or self.inter_ms

    @property
    def host(self) -> str:
        """The address without its port: 10.0.0.1:80 → 10.0.0.1, [::1]:80 → ::1."""
        address = self.address.split("@", 1)[-1] if "@" in self.address else self.address
        if address.startswith("["):
            return address[1:].split("]")[0]
        return address.rsplit(":", 1)[0] if address.count(":") == 1 else address

    @property
    def port(self) -> int | None:
        address = self.address
        tail = address.rsplit("]", 1)[-1] if address.startswith("[") else address
        if tail.count(":") == 1 and tail.rsplit(":", 1)[1].isdigit():
            return int(tail.rsplit(":", 1)[1])
        return None


@dataclass(frozen=True)
class HttpCheckRequest:
    """The request an L7 check sends (defaults per [CONF] `option httpchk`: OPTIONS / HTTP/1.0)."""

    method: str = "OPTIONS"
    uri: str = "/"
    version: str = "HTTP/1.0"


@dataclass(frozen=True)
class Backend:
    """A `backend` or `listen` section with its effective settings (its defaults section applied)."""

    name: str
    section: str = "backend"  # backend | listen
    mode: str = "tcp"
    defaults: str | None = None  # the defaults section it started from ("" for an anonymous one)
    check_type: str = "tcp"  # tcp (connect only) | httpchk | tcp-check | ssl-hello-chk | mysql-check | …
    http_request: HttpCheckRequest | None = None
    http_expect: tuple[str, ...] = ()
    timeout_check_ms: int | None = None
    timeout_connect_ms: int | None = None
    redispatch: bool = False
    redispatch_interval: int = -1
    retries: int = DEFAULT_RETRIES
    balance: str = "roundrobin"
    servers: tuple[ServerConfig, ...] = ()
    line: int = 0

    @property
    def check_path(self) -> str | None:
        """The URI an L7 (HTTP) check requests; None when the check is not HTTP (a TCP connect)."""
        return self.http_request.uri if self.check_type == "httpchk" and self.http_request else None

    @property
    def redispatches(self) -> bool:
        """`option redispatch` on, with an interval that does redispatch (0 disables it)."""
        return self.redispatch and self.redispatch_interval != 0

    def server(self, name: str) -> ServerConfig:
        return next(s for s in self.servers if s.name == name)


@dataclass(frozen=True)
class Frontend:
    """A `frontend` or `listen` section: where clients come in, and where they are sent."""

    name: str
    section: str = "frontend"
    mode: str = "tcp"
    binds: tuple[str, ...] = ()
    default_backend: str | None = None
    use_backends: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class HaproxyConfig:
    """What a haproxy.cfg says about balancing and health checking."""

    backends: Mapping[str, Backend]
    frontends: Mapping[str, Frontend]
    spread_checks: int = 0  # global `spread-checks` (%), random noise added to every check interval
    warnings: tuple[str, ...] = ()


# --- parsing -------------------------------------------------------------------------------------

# server/default-server keywords of 2.6 and the number of values each takes (src/server.c,
# check.c, ssl_sock.c keyword tables at v2.6.0); those the judges need are interpreted below
_SERVER_ARITY: dict[str, int] = {
    **dict.fromkeys((
        "backup", "no-backup", "check", "no-check", "disabled", "enabled", "ssl", "no-ssl", "check-ssl",
        "no-check-ssl", "agent-check", "no-agent-check", "send-proxy", "no-send-proxy", "send-proxy-v2",
        "no-send-proxy-v2", "check-send-proxy", "no-check-send-proxy", "check-via-socks4", "tfo", "no-tfo",
        "non-stick", "stick", "allow-0rtt", "force-sslv3", "force-tlsv10", "force-tlsv11", "force-tlsv12",
        "force-tlsv13", "no-sslv3", "no-tlsv10", "no-tlsv11", "no-tlsv12", "no-tlsv13", "no-tls-tickets",
        "tls-tickets", "ssl-reuse", "no-ssl-reuse", "send-proxy-v2-ssl", "send-proxy-v2-ssl-cn",
        "no-send-proxy-v2-ssl", "no-send-proxy-v2-ssl-cn", "usesrc", "no-verifyhost"), 0),
    **dict.fromkeys((
        "addr", "agent-addr", "agent-inter", "agent-port", "agent-send", "alpn", "ca-file", "check-alpn",
        "check-proto", "check-sni", "ciphers", "ciphersuites", "cookie", "crl-file", "crt", "downinter",
        "error-limit", "fall", "fastinter", "id", "init-addr", "inter", "log-proto", "max-reuse", "maxconn",
        "maxqueue", "minconn", "namespace", "npn", "observe", "on-error", "on-marked-down", "on-marked-up",
        "pool-low-conn", "pool-max-conn", "pool-purge-delay", "port", "proto", "proxy-v2-options", "redir",
        "resolve-net", "resolve-opts", "resolve-prefer", "resolvers", "rise", "slowstart", "sni", "socks4",
        "ssl-max-ver", "ssl-min-ver", "track", "verify", "verifyhost", "weight", "ws"), 1),
}
_OTHER_SECTIONS = {"peers", "resolvers", "userlist", "mailers", "program", "http-errors", "ring", "cache",
                   "fcgi-app", "log-forward"}
_CHECK_OPTIONS = {"httpchk", "tcp-check", "ssl-hello-chk", "smtpchk", "mysql-check", "pgsql-check",
                  "redis-check", "ldap-check", "spop-check", "external-check"}


@dataclass(frozen=True)
class _Settings:
    """A proxy's settings as a defaults section hands them on (mutated by copy as lines are read)."""

    mode: str = "tcp"
    check_type: str = "tcp"
    http_request: HttpCheckRequest | None = None
    http_send: tuple[tuple[str, str], ...] = ()  # (key, value) of this section's `http-check send` lines
    http_expect: tuple[str, ...] = ()
    own_http_rules: bool = False  # this section wrote `option httpchk`/`http-check`: its rules replace the inherited ones
    timeout_check_ms: int | None = None
    timeout_connect_ms: int | None = None
    redispatch: bool = False
    redispatch_interval: int = -1
    retries: int = DEFAULT_RETRIES
    balance: str = "roundrobin"
    default_server: ServerConfig = field(default_factory=lambda: ServerConfig(name="", address=""))

    def inherited(self) -> _Settings:
        """What a section starting from these settings begins with: everything, the check rules
        included, until the section writes a check rule of its own (which then replaces them)."""
        return replace(self, own_http_rules=False)

    def effective_request(self) -> HttpCheckRequest | None:
        if self.check_type != "httpchk":
            return None
        request = self.http_request or HttpCheckRequest()
        changes = {"meth": "method", "uri": "uri", "ver": "version"}
        for key, value in self.http_send:
            request = replace(request, **{changes[key]: value})
        return request


class _Parser:
    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.defaults: dict[str, _Settings] = {}
        self.last_defaults: tuple[str, _Settings] | None = None
        self.backends: dict[str, Backend] = {}
        self.frontends: dict[str, Frontend] = {}
        self.spread_checks = 0
        # the section being read
        self.kind: str | None = None
        self.name = ""
        self.start_line = 0
        self.settings = _Settings()
        self.from_defaults: str | None = None
        self.servers: list[ServerConfig] = []
        self.binds: list[str] = []
        self.default_backend: str | None = None
        self.use_backends: list[str] = []
        self.warned_conditionals = False

    def warn(self, lineno: int, message: str) -> None:
        self.warnings.append(f"line {lineno}: {message}")

    # sections
    def open_section(self, lineno: int, words: list[str]) -> None:
        self.close_section()
        kind = words[0]
        self.kind, self.start_line, self.servers, self.binds, self.use_backends = kind, lineno, [], [], []
        self.default_backend = None
        rest = words[1:]
        parent: str | None = None
        if "from" in rest:
            at = rest.index("from")
            parent = rest[at + 1] if at + 1 < len(rest) else None
            rest = rest[:at]
            if parent is None:
                self.warn(lineno, f"`{kind} … from` names no defaults section")
        self.name = rest[0] if rest else ""
        if kind in ("frontend", "backend", "listen") and not self.name:
            self.warn(lineno, f"a {kind} without a name: its lines are skipped")
            self.kind = "skip"
            return
        if kind == "defaults":
            base = _Settings()
            if parent is not None:
                base = self.lookup_defaults(lineno, parent, base)
            self.settings, self.from_defaults = base.inherited(), parent
        elif kind in ("frontend", "backend", "listen"):
            if parent is not None:
                self.settings, self.from_defaults = self.lookup_defaults(lineno, parent, _Settings()).inherited(), parent
            elif self.last_defaults is not None:
                self.from_defaults, base = self.last_defaults
                self.settings = base.inherited()
            else:
                self.settings, self.from_defaults = _Settings(), None

    def lookup_defaults(self, lineno: int, name: str, fallback: _Settings) -> _Settings:
        if name in self.defaults:
            return self.defaults[name]
        self.warn(lineno, f"no defaults section named {name!r} before this line: haproxy's own defaults assumed")
        return fallback

    def close_section(self) -> None:
        s = self.settings
        if self.kind == "defaults":
            self.defaults[self.name] = s
            self.last_defaults = (self.name, s)
        if self.kind in ("backend", "listen"):
            self.backends[self.name] = Backend(
                name=self.name, section=self.kind, mode=s.mode, defaults=self.from_defaults,
                check_type=s.check_type, http_request=s.effective_request(),
                http_expect=s.http_expect if s.check_type == "httpchk" else (),
                timeout_check_ms=s.timeout_check_ms, timeout_connect_ms=s.timeout_connect_ms,
                redispatch=s.redispatch, redispatch_interval=s.redispatch_interval, retries=s.retries,
                balance=s.balance, servers=tuple(self.servers), line=self.start_line)
        if self.kind in ("frontend", "listen"):
            self.frontends[self.name] = Frontend(
                name=self.name, section=self.kind, mode=s.mode, binds=tuple(self.binds),
                default_backend=self.default_backend, use_backends=tuple(self.use_backends),
                line=self.start_line)
        self.kind = None

    # lines
    def line(self, lineno: int, raw: str) -> None:
        stripped = raw.strip()
        try:
            words = split_words(raw)
        except QuoteError:
            self.warn(lineno, f"unmatched quote, line skipped (haproxy refuses it): {stripped[:80]}")
            return
        if words and words[-1].endswith("\\") and stripped.endswith("\\"):
            self.warn(lineno, "ends with a backslash: haproxy 2.6 has no line continuation "
                              "(the backslash is kept and the next line is read on its own)")
        if stripped.startswith("["):  # [scope] lines (src/cfgparse.c cfg_parse_scope)
            return
        if not words:
            return
        if words[0].startswith("."):
            if words[0] in (".if", ".elif", ".else") and not self.warned_conditionals:
                self.warn(lineno, "conditional blocks (.if) are not evaluated: every branch is read")
                self.warned_conditionals = True
            return
        keyword = words[0]
        if keyword in ("global", "defaults", "frontend", "backend", "listen"):
            self.open_section(lineno, words)
            return
        if keyword in _OTHER_SECTIONS:
            self.close_section()
            self.kind = "other"
            return
        if self.kind is None:
            self.warn(lineno, f"outside any section, skipped: {stripped[:80]}")
            return
        if self.kind in ("other", "skip"):
            return
        if self.kind == "global":
            if keyword == "spread-checks" and len(words) > 1 and words[1].isdigit():
                self.spread_checks = int(words[1])
            return
        try:
            self.proxy_line(lineno, words)
        except ValueError as error:
            self.warn(lineno, f"{error}; line skipped: {stripped[:80]}")

    def proxy_line(self, lineno: int, words: list[str]) -> None:
        s = self.settings
        keyword, args = words[0], words[1:]
        negated = False
        if keyword == "no" and args:
            negated, keyword, args = True, args[0], args[1:]
        if keyword == "mode" and args:
            s = replace(s, mode=args[0])
        elif keyword == "option" and args:
            s = self.option(lineno, s, args[0], args[1:], negated)
        elif keyword == "http-check" and args:
            s = self.http_check(s, args)
        elif keyword == "timeout" and len(args) >= 2:
            if args[0] == "check":
                s = replace(s, timeout_check_ms=parse_time(args[1]))
            elif args[0] == "connect":
                s = replace(s, timeout_connect_ms=parse_time(args[1]))
        elif keyword == "retries" and args:
            if not args[0].isdigit():
                raise ValueError(f"retries {args[0]!r} is not a number")
            s = replace(s, retries=int(args[0]))
        elif keyword == "balance" and args:
            s = replace(s, balance=" ".join(args))
        elif keyword == "default-server":
            s = replace(s, default_server=self.server_options(lineno, s.default_server, args))
        elif keyword in ("server", "server-template") and self.kind in ("backend", "listen"):
            self.server_line(lineno, s, keyword, args)
        elif keyword == "bind" and args:
            self.binds.append(args[0])
        elif keyword == "default_backend" and args:
            self.default_backend = args[0]
        elif keyword == "use_backend" and args:
            self.use_backends.append(args[0])
        self.settings = s

    def option(self, lineno: int, s: _Settings, name: str, args: list[str], negated: bool) -> _Settings:
        if name == "redispatch":
            if negated:
                return replace(s, redispatch=False)
            interval = -1
            if args:
                if not re.fullmatch(r"-?\d+", args[0]):
                    raise ValueError(f"option redispatch {args[0]!r} is not an integer")
                interval = int(args[0])
            return replace(s, redispatch=True, redispatch_interval=interval)
        if name in _CHECK_OPTIONS and not negated:
            if name != "httpchk":
                return replace(s, check_type=name, http_request=None, http_send=(), http_expect=(),
                               own_http_rules=True)
            # option httpchk | <uri> | <method> <uri> | <method> <uri> <version> ([CONF] option httpchk)
            request = HttpCheckRequest()
            if len(args) == 1:
                request = replace(request, uri=args[0])
            elif len(args) >= 2:
                request = HttpCheckRequest(args[0], args[1], args[2] if len(args) > 2 else "HTTP/1.0")
            if len(args) > 3:
                self.warn(lineno, "option httpchk takes at most 3 arguments (haproxy refuses more)")
            own = s.own_http_rules
            return replace(s, check_type="httpchk", http_request=request, own_http_rules=True,
                           http_send=s.http_send if own else (), http_expect=s.http_expect if own else ())
        return s

    def http_check(self, s: _Settings, args: list[str]) -> _Settings:
        action = args[0]
        if action not in ("send", "expect", "connect", "comment", "set-var", "unset-var"):
            return s  # disable-on-404, send-state: no effect on what is checked
        if not s.own_http_rules:  # this section's first rule: the inherited rules are replaced
            s = replace(s, own_http_rules=True, http_send=(), http_expect=(),
                        http_request=None if s.check_type == "httpchk" else s.http_request)
        if action == "send":
            pairs = [(args[i], args[i + 1]) for i in range(1, len(args) - 1)
                     if args[i] in ("meth", "uri", "ver") and i + 1 < len(args)]
            return replace(s, http_send=s.http_send + tuple(pairs))
        if action == "expect":
            return replace(s, http_expect=s.http_expect + (" ".join(args[1:]),))
        return s

    def server_options(self, lineno: int, server: ServerConfig, args: list[str]) -> ServerConfig:
        i = 0
        changes: dict[str, object] = {}
        while i < len(args):
            key = args[i]
            if key == "source":  # source <addr>[:<port>] [usesrc …] [interface <name>]
                i += 2
                while i < len(args) and args[i] in ("usesrc", "interface"):
                    i += 2
                continue
            if key not in _SERVER_ARITY:
                self.warn(lineno, f"unknown server keyword {key!r} skipped")
                i += 1
                continue
            arity = _SERVER_ARITY[key]
            if arity and i + arity >= len(args):
                self.warn(lineno, f"{key!r} expects a value")
                break
            value = args[i + 1] if arity else ""
            try:
                self.server_keyword(changes, key, value)
            except ValueError as error:
                self.warn(lineno, f"{key} {value!r}: {error}; haproxy's default kept")
            i += 1 + arity
        return replace(server, **changes)  # type: ignore[arg-type]

    @staticmethod
    def server_keyword(changes: dict[str, object], key: str, value: str) -> None:
        flags = {"check": ("check", True), "no-check": ("check", False), "backup": ("backup", True),
                 "no-backup": ("backup", False), "disabled": ("disabled", True), "enabled": ("disabled", False),
                 "ssl": ("ssl", True), "no-ssl": ("ssl", False), "check-ssl": ("check_ssl", True),
                 "no-check-ssl": ("check_ssl", False), "agent-check": ("agent_check", True),
                 "no-agent-check": ("agent_check", False)}
        if key in flags:
            name, flag = flags[key]
            changes[name] = flag
        elif key in ("inter", "fastinter", "downinter", "slowstart"):
            ms = parse_time(value)
            if ms <= 0 and key != "slowstart":
                raise ValueError("must be > 0")
            changes[{"inter": "inter_ms", "fastinter": "fastinter_set_ms", "downinter": "downinter_set_ms",
                     "slowstart": "slowstart_ms"}[key]] = ms
        elif key in ("rise", "fall"):
            if not value.isdigit() or int(value) <= 0:
                raise ValueError("must be a number > 0")
            changes[key] = int(value)
        elif key == "weight":
            if not value.isdigit() or int(value) > 256:
                raise ValueError("must be 0 to 256")
            changes["weight"] = int(value)
        elif key == "port":
            if not value.isdigit():
                raise ValueError("not a port")
            changes["check_port"] = int(value)
        elif key in ("observe", "on-error", "on-marked-down", "track"):
            changes[key.replace("-", "_")] = value

    def server_line(self, lineno: int, s: _Settings, keyword: str, args: list[str]) -> None:
        if keyword == "server":
            if len(args) < 2:
                raise ValueError("a server line needs a name and an address")
            names, address, options = [args[0]], args[1], args[2:]
        else:  # server-template <prefix> <num | range> <fqdn>[:<port>] [params*]
            if len(args) < 3:
                raise ValueError("server-template needs a prefix, a number or range, and an address")
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", args[1])
            if not m:
                raise ValueError(f"server-template range {args[1]!r} is not N or N-M")
            first, last = (1, int(m.group(1))) if m.group(2) is None else (int(m.group(1)), int(m.group(2)))
            names, address, options = [f"{args[0]}{n}" for n in range(first, last + 1)], args[2], args[3:]
        if "$" in address:
            self.warn(lineno, f"server address {address!r} uses an environment variable, kept unexpanded")
        base = replace(s.default_server, address=address, line=lineno)
        server = self.server_options(lineno, base, options)
        self.servers.extend(replace(server, name=name) for name in names)

    def result(self) -> HaproxyConfig:
        self.close_section()
        return HaproxyConfig(backends=MappingProxyType(dict(self.backends)),
                             frontends=MappingProxyType(dict(self.frontends)),
                             spread_checks=self.spread_checks, warnings=tuple(self.warnings))


def parse_haproxy_cfg(text: str) -> HaproxyConfig:
    """The backends (with their effective check settings and servers) and frontends of haproxy.cfg text."""
    parser = _Parser()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        parser.line(lineno, raw)
    return parser.result()
