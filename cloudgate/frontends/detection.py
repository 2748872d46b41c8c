"""How long haproxy takes to mark a dead server DOWN, from its effective check settings.

Why: between a front VM's death and haproxy marking it DOWN, requests keep going to it (each costs
retries, or an error). The budget of that window (FT-02, FT-D1 in docs/front-tier) must be
checked against the configuration, and the configuration must be read the way haproxy acts on it,
which is not quite what the documentation says.

Three ways to die, as a check sees them:

- `refused`: the host answers RST (the process is gone): each check fails at once (L4CON);
- `blackhole`: nothing answers (host off, link down, firewall drop): each check waits for its
  connect deadline (L4TOUT);
- `hung`: the kernel accepts, the application never answers (SIGSTOP, every worker stuck): an L7
  check waits for its read timeout (L7TOUT); a TCP-only check *passes* (L4OK), so the server is
  never marked DOWN.

The arithmetic, verified in haproxy's source at tag v2.6.0 and measured on 2.6.12
(tests/unit/frontends/data/haproxy/timing.log, recorded with timing.cfg):

    T_down = U(0, inter) + fall × T_fail + (fall − 1) × fastinter

- src/check.c process_chk_conn, after a check completes: the next one is due
  `srv_getinter(check)` (+ the `spread-checks` noise) *after that completion* (`t->expire =
  tick_add(now_ms, …)` at the end of the function), so each check's own duration adds to the period.
- src/server.c srv_getinter: `inter` at full health (rise + fall − 1), `downinter` at health 0 while
  DOWN, `fastinter` otherwise — hence the first failing check comes U(0, inter) after the fault and
  the next ones `fastinter` apart (fastinter = inter when unset).
- src/check.c set_server_check_status: each failure takes one from health, and health below rise
  drops to 0 (DOWN): from full health that is `fall` failures.
- src/tcpcheck.c tcpcheck_eval_connect: the connect deadline is `check->inter` (the configured
  inter, *not* fastinter, even while in transition), or min(inter, timeout connect) when both
  `timeout check` and `timeout connect` are set ([CONF] "timeout check" says the same).
- Once connected, the same function sets the check's expiry to now + `timeout check` (if set), but
  from the connection's I/O callback, without requeueing the check task in the timer tree
  (src/task.c wake_expired_tasks only notices an *earlier* expiry when the thread happens to wake).
  A later expiry is honoured (the task is requeued when its old key fires); an earlier one fires
  anywhere between `timeout check` and the connect deadline. Measured: `timeout check 500ms`, `inter
  1s` gave L7TOUT after 676 ms and 750 ms. Hence for `hung`: T_fail from `timeout check` up to
  max(timeout check, connect deadline); without `timeout check`, exactly `inter` (measured 2000 ms).

Worked figures, and where they differ from the table of docs/front-tier.md §1 (which gives 2–3 s):
with `inter 1s fastinter 250ms fall 2 timeout check 500ms` (and `timeout connect` ≥ 1 s, or none),
a blackhole costs U(0, 1) + 2 × 1 + 0.25 = **2.25–3.25 s** (2–3 s is the same sum without its
(fall − 1) × fastinter term); the recording saw 3.24 s. A hung server costs 1.25–3.25 s there
(recorded: 1.99 s), not 1.25–2.25 s. The defaults give 4–6 s (RST) and 10–12 s (blackhole, hung),
as the table says (recorded: 5.65 s, 11.99 s, 10.32 s).

Not modelled: `observe layer7` with `on-error` (live traffic can fail a server sooner, but only when
traffic flows), agent checks, `track` (a tracking server follows the tracked one), the duration of
the last healthy check (milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cloudgate.frontends.haproxycfg import Backend, ServerConfig, format_time

FailureKind = Literal["refused", "blackhole", "hung"]
FAILURE_KINDS: tuple[FailureKind, ...] = ("refused", "blackhole", "hung")
CheckLayer = Literal["tcp", "ssl", "http"]

_PHRASES = {
    "refused": "a server refusing connections",
    "blackhole": "a silent server",
    "hung": "a server that accepts and never answers",
}


@dataclass(frozen=True)
class CheckTiming:
    """What the detection time depends on, once inheritance is resolved (milliseconds)."""

    inter_ms: int
    fastinter_ms: int
    fall: int
    timeout_check_ms: int | None = None
    timeout_connect_ms: int | None = None
    layer: CheckLayer = "http"  # what a passing check proves: a TCP connect, a TLS handshake, an HTTP answer
    checked: bool = True  # the server line has `check`
    spread_checks: int = 0  # global spread-checks, percent of noise on each interval

    @classmethod
    def of(cls, backend: Backend, server: ServerConfig, spread_checks: int = 0) -> CheckTiming:
        if backend.check_type == "tcp":
            layer: CheckLayer = "ssl" if server.check_ssl or server.ssl else "tcp"
        else:  # httpchk and the other protocol checks all wait for an answer
            layer = "http"
        return cls(inter_ms=server.inter_ms, fastinter_ms=server.fastinter_ms, fall=server.fall,
                   timeout_check_ms=backend.timeout_check_ms, timeout_connect_ms=backend.timeout_connect_ms,
                   layer=layer, checked=server.check, spread_checks=spread_checks)

    @property
    def connect_deadline_ms(self) -> int:
        """How long a check waits for the connection (src/tcpcheck.c tcpcheck_eval_connect)."""
        if self.timeout_check_ms and self.timeout_connect_ms:
            return min(self.inter_ms, self.timeout_connect_ms)
        return self.inter_ms

    def failure_ms(self, kind: FailureKind) -> tuple[int, int] | None:
        """(shortest, longest) time one check takes to fail on `kind`; None if it never fails."""
        if kind == "refused":
            return 0, 0
        if kind == "blackhole" or self.layer == "ssl":  # a TLS handshake is part of the connect
            return self.connect_deadline_ms, self.connect_deadline_ms
        if self.layer == "tcp":
            return None  # the kernel accepts: L4OK
        if self.timeout_check_ms:
            return self.timeout_check_ms, max(self.timeout_check_ms, self.connect_deadline_ms)
        return self.inter_ms, self.inter_ms

    def settings(self) -> str:
        """The settings named as in haproxy.cfg, for explanations."""
        text = f"inter {format_time(self.inter_ms)} fastinter {format_time(self.fastinter_ms)} fall {self.fall}"
        if self.timeout_check_ms:
            connect = f"timeout connect {format_time(self.timeout_connect_ms)}" if self.timeout_connect_ms \
                else "no timeout connect"
            text += f", timeout check {format_time(self.timeout_check_ms)}, {connect}"
        else:
            text += ", no timeout check"
        if self.spread_checks:
            text += f", spread-checks {self.spread_checks}"
        return text


def _seconds(value: float) -> str:
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


@dataclass(frozen=True)
class DetectionTime:
    """How long after `kind` of death haproxy marks the server DOWN: best and worst case (seconds).

    `worst_s` None means never: no `check`, or a TCP-only check facing a hung application.
    """

    kind: FailureKind
    timing: CheckTiming
    best_s: float | None
    worst_s: float | None

    @property
    def never(self) -> bool:
        return self.worst_s is None

    def explain(self) -> str:
        """One line naming the settings and the window, e.g. "inter 2s fastinter 2s fall 3, no timeout
        check: a silent server is marked DOWN after 10.0–12.0 s"."""
        phrase = _PHRASES[self.kind]
        if not self.timing.checked:
            return f"no `check` on the server line: {phrase} is never marked DOWN"
        if self.worst_s is None or self.best_s is None:
            return (f"{self.timing.settings()}, TCP-only check: {phrase} passes its check (L4OK) "
                    f"and is never marked DOWN")
        return (f"{self.timing.settings()}: {phrase} is marked DOWN after "
                f"{_seconds(self.best_s)}–{_seconds(self.worst_s)} s")


def time_to_down(timing: CheckTiming, kind: FailureKind) -> DetectionTime:
    """T_down = U(0, inter) + fall × T_fail + (fall − 1) × fastinter, best and worst (see the module)."""
    failure = timing.failure_ms(kind) if timing.checked else None
    if failure is None:
        return DetectionTime(kind=kind, timing=timing, best_s=None, worst_s=None)
    spread = timing.spread_checks / 100
    fail_best, fail_worst = failure
    gaps = (timing.fall - 1) * timing.fastinter_ms
    best = timing.fall * fail_best + gaps * (1 - spread)
    worst = timing.inter_ms * (1 + spread) + timing.fall * fail_worst + gaps * (1 + spread)
    return DetectionTime(kind=kind, timing=timing, best_s=best / 1000, worst_s=worst / 1000)


def server_time_to_down(backend: Backend, server: ServerConfig, kind: FailureKind,
                        spread_checks: int = 0) -> DetectionTime:
    """time_to_down for one server of a parsed configuration."""
    return time_to_down(CheckTiming.of(backend, server, spread_checks), kind)


def time_to_up(server: ServerConfig) -> tuple[float, float]:
    """(best, worst) seconds from a DOWN server being healthy again to haproxy marking it UP.

    From health 0 the next check comes `downinter` after the last failed one (srv_getinter), then
    each success adds one to health, `fastinter` apart, until health reaches `rise`:
    U(0, downinter) + (rise − 1) × fastinter. `slowstart` then ramps its weight, not counted here.
    """
    gaps = (server.rise - 1) * server.fastinter_ms
    return gaps / 1000, (server.downinter_ms + gaps) / 1000
