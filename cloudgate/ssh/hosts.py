"""Hosts of the target, reached over SSH through testinfra.

- Which hosts: the estate snapshot's (listHosts, type Routing), never a hand-kept list: the suite
  checks the cloud CloudStack actually manages (cloudgate.snapshot).
- SSH goes through testinfra's paramiko backend, with three fixes for an estate of thousands:
  TCP_NODELAY on the socket (without it every command stalls ~40 ms, see
  shared/reference/ssh-fanout.md), host keys checked against known_hosts outside the lab, and a
  per-command timeout so a hung session fails one check instead of hanging the run.
- A per-host connectivity pre-check costs a dead host one short timeout, once; every check of
  that host then fails at once with the same one-line reason.
- Facts (`HostPool.facts`): what a role's checks read is gathered in one exec over one connection,
  closed right after (cloudgate.ssh.gather); `prefetch` gathers a worker's hosts many at a time before
  their checks ask, so a fleet costs connections in parallel instead of round trips in series.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import paramiko
import testinfra.host
from testinfra.backend.paramiko import IgnorePolicy, ParamikoBackend

from cloudgate.errors import HostUnreachable  # defined there: the plugin must not load paramiko
from cloudgate.ssh.gather import GatherError, HostFacts, Probe, new_token, parse, script
from cloudgate.target import Target

# A host that never sends its SSH banner makes paramiko's transport thread log a traceback, one
# ERROR record a line; with no handler configured (any CLI command), Python's last-resort handler
# would print it on stderr, and under pytest the log capture would print it under the failing check
# ("Captured log setup"): a wall of 40 lines after a check's one. The failure reaches the operator as
# one HostUnreachable line instead, so the transport's records stop here (the rest of paramiko's
# still propagate to whatever handler an application installs).
logging.getLogger("paramiko").addHandler(logging.NullHandler())
_transport_log = logging.getLogger("paramiko.transport")
_transport_log.addHandler(logging.NullHandler())  # a handler of its own: else Python's last resort prints
_transport_log.propagate = False


@dataclass(frozen=True)
class SshSettings:
    user: str
    identity_file: str
    known_hosts: str | None
    port: int
    connect_timeout: float
    command_timeout: float
    strict_host_keys: bool

    @classmethod
    def from_target(cls, target: Target) -> SshSettings:
        s = target.ssh
        return cls(
            s.user, s.identity_file, s.known_hosts, s.port,
            s.connect_timeout_seconds, s.command_timeout_seconds, target.strict_host_keys,
        )

    def at_least(self, command_timeout: float) -> SshSettings:
        """The same settings for a command known to take longer (a service stop): never a shorter timeout."""
        if command_timeout <= self.command_timeout:
            return self
        return dataclasses.replace(self, command_timeout=command_timeout)


def _connect_socket(ip: str, port: int, timeout: float) -> socket.socket:
    sock = socket.create_connection((ip, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def open_client(ip: str, settings: SshSettings, *, new_machine: bool = False) -> paramiko.SSHClient:
    """An authenticated paramiko client, or HostUnreachable with the reason in one line.

    `new_machine`: a VM this run has just deployed cannot be in known_hosts yet; its key is then
    accepted for this connection only (trust on first use, never written to known_hosts).
    """
    client = paramiko.SSHClient()
    if settings.strict_host_keys and not new_machine:
        if settings.known_hosts:
            try:
                client.load_host_keys(settings.known_hosts)
            except OSError as exc:
                raise HostUnreachable(f"cannot read known_hosts {settings.known_hosts}: {exc.strerror}") from None
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    else:
        client.set_missing_host_key_policy(IgnorePolicy())
    where = f"{ip}:{settings.port}"
    try:
        sock = _connect_socket(ip, settings.port, settings.connect_timeout)
    except TimeoutError:
        raise HostUnreachable(f"{where}: no TCP answer within {settings.connect_timeout:g} s (host down or filtered)") from None
    except socket.gaierror as exc:  # before OSError: a name nobody resolves is no sign of a stopped sshd
        raise HostUnreachable(f"{where}: the name {ip} does not resolve (DNS: {exc.strerror or exc})") from None
    except OSError as exc:
        raise HostUnreachable(f"{where}: {exc.strerror or exc} (sshd not running?)") from None
    try:
        client.connect(
            ip, port=settings.port, username=settings.user, key_filename=settings.identity_file,
            # start_client waits `timeout`; the banner read gives up after `banner_timeout`. Equal,
            # they race, and a silent host then reads "No existing session" instead of the banner
            # line: the handshake is given one second more than the banner.
            sock=sock, timeout=settings.connect_timeout + 1.0, banner_timeout=settings.connect_timeout,
            auth_timeout=settings.connect_timeout, look_for_keys=False, allow_agent=False,
        )
    except paramiko.BadHostKeyException:
        sock.close()
        raise HostUnreachable(f"{where}: host key does not match known_hosts (possible impersonation)") from None
    except paramiko.AuthenticationException:
        sock.close()
        raise HostUnreachable(f"{where}: the host refused the key {settings.identity_file} for user {settings.user} "
                              "(check ssh.user and ssh.identity_file, and the host's authorized_keys)") from None
    except paramiko.SSHException as exc:
        sock.close()
        text = str(exc)
        if "not found in known_hosts" in text:
            text = f"host key not in {settings.known_hosts or 'known_hosts'}"
        elif "banner" in text.lower():
            text = f"SSH session hung: no banner within {settings.connect_timeout:g} s"
        elif "no existing session" in text.lower():
            text = "SSH session hung or closed during the handshake (no session to authenticate on)"
        raise HostUnreachable(f"{where}: {text}") from None
    except (OSError, EOFError) as exc:
        sock.close()
        raise HostUnreachable(f"{where}: SSH session failed ({exc or type(exc).__name__})") from None
    transport = client.get_transport()
    if transport is not None:
        transport.set_keepalive(max(1, int(settings.command_timeout)))
    return client


class CloudgateBackend(ParamikoBackend):
    """testinfra's paramiko backend with our connection rules and a per-command timeout."""

    def __init__(self, ip: str, settings: SshSettings) -> None:
        super().__init__(f"{settings.user}@{ip}", ssh_identity_file=settings.identity_file)
        self._ip = ip
        self._settings = settings

    @property
    def client(self) -> paramiko.SSHClient:  # type: ignore[override]
        cached = self.__dict__.get("_cg_client")
        if cached is None:
            cached = open_client(self._ip, self._settings)
            self.__dict__["_cg_client"] = cached
        return cached

    @client.deleter
    def client(self) -> None:
        self.__dict__.pop("_cg_client", None)

    def _exec_command(self, command: bytes) -> tuple[int, bytes, bytes]:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise HostUnreachable(f"{self._ip}: SSH connection lost")
        chan = transport.open_session(timeout=self._settings.connect_timeout)
        chan.settimeout(self._settings.command_timeout)
        try:
            chan.exec_command(command)
            stdout = b"".join(chan.makefile("rb"))
            stderr = b"".join(chan.makefile_stderr("rb"))
            return chan.recv_exit_status(), stdout, stderr
        except TimeoutError:
            raise HostUnreachable(
                f"{self._ip}: command {command.decode(errors='replace')[:80]!r} hung for {self._settings.command_timeout:g} s"
            ) from None
        finally:
            chan.close()


class HostPool:
    """One testinfra Host per address for the whole run, and one reachability verdict per address."""

    def __init__(self, settings: SshSettings) -> None:
        self.settings = settings
        self._hosts: dict[str, testinfra.host.Host] = {}
        self._unreachable: dict[str, str] = {}
        self._facts: dict[tuple[str, object], Future[HostFacts]] = {}
        self._prefetcher: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def get(self, ip: str, label: str = "") -> testinfra.host.Host:
        """A connected testinfra Host; raises HostUnreachable (cached) for a dead host."""
        name = f"{label} " if label else ""
        with self._lock:
            if ip in self._unreachable:
                raise HostUnreachable(f"{name}{self._unreachable[ip]}")
            host = self._hosts.get(ip)
        if host is not None:
            return host
        backend = CloudgateBackend(ip, self.settings)
        try:
            _ = backend.client  # the pre-check: connect and authenticate once
        except HostUnreachable as exc:
            with self._lock:
                self._unreachable[ip] = str(exc)
            raise HostUnreachable(f"{name}{exc}") from None
        host = testinfra.host.Host(backend)
        with self._lock:
            self._hosts[ip] = host
        return host

    def facts(self, ip: str, probe: Probe, label: str = "") -> HostFacts:
        """The host's facts for `probe`, gathered at most once per run (raises HostUnreachable, cached).

        Whoever asks first gathers, in its own thread; a second asker (a check while the prefetch
        is on that host) waits for that one result instead of connecting again.
        """
        key = (ip, probe.key)
        with self._lock:
            future = self._facts.get(key)
            owner = future is None
            if owner:
                future = self._facts[key] = Future()
        assert future is not None
        if owner:
            try:
                future.set_result(self._gather(ip, probe, label))
            except HostUnreachable as exc:
                future.set_exception(exc)
        return future.result()

    def prefetch(self, wanted: Sequence[tuple[str, Probe, str]], workers: int) -> None:
        """Gather these hosts' facts in the background, `workers` at a time, in the order given."""
        if not wanted:
            return
        with self._lock:
            if self._prefetcher is None:
                self._prefetcher = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="cg-facts")
            pool = self._prefetcher
        for ip, probe, label in wanted:
            pool.submit(self._prefetch_one, ip, probe, label)

    def _prefetch_one(self, ip: str, probe: Probe, label: str) -> None:
        with contextlib.suppress(HostUnreachable):  # kept in the host's future; its checks report it
            self.facts(ip, probe, label)

    def _gather(self, ip: str, probe: Probe, label: str) -> HostFacts:
        with self._lock:
            known = self._unreachable.get(ip)
        if known is not None:
            raise HostUnreachable(known)
        started = time.monotonic()
        try:
            client = open_client(ip, self.settings)
        except HostUnreachable as exc:
            with self._lock:
                self._unreachable[ip] = str(exc)
            raise
        try:
            token = new_token()
            output = self._exec_script(client, ip, script(probe, self.settings.command_timeout, token),
                                       len(probe.commands))
            try:
                results = parse(probe, output, token)
            except GatherError as exc:
                raise HostUnreachable(f"{ip}: gathering facts failed: {exc}") from None
        finally:
            with contextlib.suppress(Exception):  # a dead transport may fail to close; nothing to do
                client.close()
        return HostFacts(label or ip, results, time.monotonic() - started)

    def _exec_script(self, client: paramiko.SSHClient, ip: str, text: str, commands: int) -> str:
        """Run the gathering script in one exec; bounded by every command's timeout, plus slack."""
        transport = client.get_transport()
        if transport is None or not transport.is_active():
            raise HostUnreachable(f"{ip}: SSH connection lost")
        per_command = self.settings.command_timeout + 2.0  # timeout -k 1 T, then the shell's own printf
        deadline = time.monotonic() + commands * per_command + self.settings.connect_timeout
        try:
            chan = transport.open_session(timeout=self.settings.connect_timeout)
        except (paramiko.SSHException, OSError) as exc:
            raise HostUnreachable(f"{ip}: SSH session refused ({exc})") from None
        chan.settimeout(per_command)
        chunks: list[bytes] = []
        try:
            chan.exec_command(text)  # run by the login shell, as any operator command
            chan.shutdown_write()
            while time.monotonic() < deadline:
                data = chan.recv(65536)
                if not data:
                    break
                chunks.append(data)
            else:
                raise HostUnreachable(f"{ip}: gathering facts took over {commands * per_command:g} s (session hung)")
        except TimeoutError:
            raise HostUnreachable(
                f"{ip}: SSH session hung: no output for {per_command:g} s while gathering facts"
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise HostUnreachable(f"{ip}: SSH session failed while gathering facts ({exc or type(exc).__name__})") from None
        finally:
            chan.close()
        return b"".join(chunks).decode(errors="replace")

    def close(self) -> None:
        with self._lock:
            prefetcher, self._prefetcher = self._prefetcher, None
        if prefetcher is not None:
            prefetcher.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for host in self._hosts.values():
                with contextlib.suppress(Exception):  # closing a dead connection may fail; nothing to do
                    host.backend.client.close()
            self._hosts.clear()
