"""What haproxy saw during a front-tier drill: each node's server states and who held the VIP, sampled.

One thread per haproxy node reads, over SSH, `show stat` on the operator socket and `ip -o -4 addr`
every SAMPLE_SECONDS, with a short command timeout so a dead node costs its own thread a timeout,
never the others' samples. Lines are appended to two JSONL files (one write per line) on the runner's
clock, the same clock the drill's client writes its history with, stamped when the answer arrived:
  {"t", "node", "backend", "server", "status", "check_status"}   one per server per sample
  {"t", "node", "error"}                                          a sample that could not be read
  {"t", "dc", "holders": [...]}                                   the VIP holders (second file), fresh only
cloudgate.drills.frontchecker reads them back.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import threading
import time
from pathlib import Path

from cloudgate.frontends.haproxystat import RuntimeAnswerError, parse_show_stat
from cloudgate.target import Target

SAMPLE_SECONDS = 0.25
COMMAND_TIMEOUT = 2.0
FRESH_SECONDS = 1.0  # a node's last answer older than this (it stopped answering) no longer counts it a holder
SEPARATOR = "=====cloudgate====="


class FrontSampler:
    """Samples every haproxy node of the given datacenters until stop()."""

    def __init__(self, target: Target, dcs: list[str], path: Path, vip_path: Path) -> None:
        from cloudgate.ssh.hosts import SshSettings

        section = target.frontends
        assert section is not None
        self.path, self.vip_path = path, vip_path
        self.dcs = {dc: section.datacenters[dc] for dc in dcs}
        settings = SshSettings.from_target(target)
        self.settings = dataclasses.replace(settings, command_timeout=COMMAND_TIMEOUT,
                                            connect_timeout=min(settings.connect_timeout, COMMAND_TIMEOUT))
        socket_cmd = section.haproxy.socket_command.format(socket=shlex.quote(section.haproxy.stats_socket))
        self.command = f"echo 'show stat' | {socket_cmd}; echo {SEPARATOR}; ip -o -4 addr show"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._holds: dict[str, tuple[float, bool]] = {}  # node -> (when, holds its dc's VIP)
        self._seen: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._fd: int | None = None
        self._vip_fd: int | None = None

    def _write(self, record: dict[str, object], vip: bool = False) -> None:
        fd = self._vip_fd if vip else self._fd
        if fd is not None:
            os.write(fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())

    def _run(self, clients: dict[str, object], node: str) -> str:
        """The sample command on `node` over one SSH connection, reopened after any failure."""
        from cloudgate.ssh.hosts import open_client

        client = clients.get(node)
        if client is None:
            client = clients[node] = open_client(node, self.settings)
        try:
            _, stdout, _ = client.exec_command(self.command, timeout=COMMAND_TIMEOUT)  # type: ignore[attr-defined]
            return stdout.read().decode(errors="replace")
        except Exception:
            clients.pop(node, None)
            client.close()  # type: ignore[attr-defined]
            raise

    def _sample(self, dc: str, node: str) -> None:
        vip = self.dcs[dc].vip
        clients: dict[str, object] = {}
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                stat_text, _, addr_text = self._run(clients, node).partition(SEPARATOR)
                now = time.time()  # when the answer arrived: what it says was true then (never earlier)
                rows = parse_show_stat(stat_text)
                holds = f" {vip}/" in addr_text
                with self._lock:
                    for row in rows:
                        if row.svname in ("FRONTEND", "BACKEND"):
                            continue
                        self._write({"t": round(now, 3), "node": node, "backend": row.pxname, "server": row.svname,
                                     "status": row.status, "check_status": row.check_status})
                    self._holds[node] = (now, holds)
                    self._seen.add(node)
                    self._write_holders(dc, now)
            except (RuntimeAnswerError, Exception) as exc:  # noqa: BLE001 - a dead node is a sample, not a crash
                now = time.time()
                with self._lock:
                    self._write({"t": round(now, 3), "node": node, "error": f"{type(exc).__name__}: {exc}"[:200]})
                    self._holds.pop(node, None)
                    self._seen.add(node)
                    self._write_holders(dc, now)
            self._stop.wait(max(0.0, SAMPLE_SECONDS - (time.monotonic() - started)))
        for client in clients.values():
            client.close()  # type: ignore[attr-defined]

    def _write_holders(self, dc: str, now: float) -> None:
        if not all(n in self._seen for n in self.dcs[dc].haproxy):
            return  # until every node has answered or failed once, "no holder" would be a guess
        if self._stop.is_set():
            return  # a dead node's last timeout ending after the others stopped would read as "no holder"
        holders = sorted(n for n in self.dcs[dc].haproxy
                         if n in self._holds and self._holds[n][1] and now - self._holds[n][0] <= FRESH_SECONDS)
        self._write({"t": round(now, 3), "dc": dc, "holders": holders}, vip=True)

    def start(self) -> None:
        self.path.unlink(missing_ok=True)
        self.vip_path.unlink(missing_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._vip_fd = os.open(self.vip_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        for dc, door in self.dcs.items():
            for node in door.haproxy:
                t = threading.Thread(target=self._sample, args=(dc, node), name=f"cg-front-sample-{node}", daemon=True)
                t.start()
                self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=COMMAND_TIMEOUT * 3 + 5)
        with self._lock:
            for fd in (self._fd, self._vip_fd):
                if fd is not None:
                    os.close(fd)
            self._fd = self._vip_fd = None
