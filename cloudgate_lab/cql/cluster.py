"""Launcher for emulated Cassandra clusters: cluster files, node processes, readiness.

Typical use (tests, bench, the lab)::

    nodes = [NodeSpec("n1", "127.0.0.11", "dc1", "rack1"), ...]
    cfg = write_cluster_file("/tmp/lab/cluster.json", nodes, base_dir="/tmp/lab")
    cluster = LocalCluster(cfg)
    cluster.start()           # Popen per node, PIDs in <dir of cluster file>/pids.json
    cluster.wait_ready()      # every native port answers OPTIONS with SUPPORTED, peers see each other
    cluster.kill("n3"); cluster.start_node("n3"); cluster.stop()

The command line (``node_command``) is the only interface a node needs, so the lab can wrap
it, e.g. ``wrap=["ip", "netns", "exec", "guest-ns"]``. Every process is started in its own
session with ``--exit-with-parent``; ``stop()`` kills what is still running and is safe to
call twice (tests call it from finalizers).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cloudgate.cassandra.cqlprobe import answers_cql

from . import config as cfgmod


@dataclass
class NodeSpec:
    name: str
    address: str
    dc: str = "dc1"
    rack: str = "rack1"
    native_port: int = 9042
    internode_port: int = 7000
    data_dir: str | None = None


def write_cluster_file(path: str, nodes: Sequence[NodeSpec], base_dir: str | None = None, **settings: object) -> str:
    """Write a cluster file; data dirs default to ``<base_dir>/<node name>``. Returns the path."""
    base_dir = base_dir or os.path.dirname(os.path.abspath(path))
    doc: dict[str, object] = dict(settings)
    doc["nodes"] = [
        {
            "name": n.name, "address": n.address, "dc": n.dc, "rack": n.rack, "native_port": n.native_port,
            "internode_port": n.internode_port, "data_dir": n.data_dir or os.path.join(base_dir, n.name),
        }
        for n in nodes
    ]
    cfgmod.parse(doc, path)  # validate (addresses, duplicates) before anything starts
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    return path


def node_command(config_path: str, name: str, python: str = sys.executable, listen_address: str | None = None,
                 exit_with_parent: bool = True) -> list[str]:
    cmd = [python, "-m", "cloudgate_lab.cql.node", "--config", config_path, "--name", name]
    if listen_address:
        cmd += ["--listen-address", listen_address]
    if exit_with_parent:
        cmd.append("--exit-with-parent")
    return cmd


def probe_native(address: str, port: int, timeout: float = 0.5) -> bool:
    """True if a CQL v4 OPTIONS gets a SUPPORTED frame back (the suite's own probe: what it waits for)."""
    return answers_cql(address, port, timeout)


class LocalCluster:
    """Start/stop node processes of one cluster file on this machine (optionally wrapped)."""

    def __init__(self, config_path: str, python: str = sys.executable, wrap: Sequence[str] = (),
                 env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.config_path = os.path.abspath(config_path)
        self.config = cfgmod.load(self.config_path)
        self.python = python
        self.wrap = list(wrap)
        self.env = dict(os.environ if env is None else env)
        # the node must import this very package, wherever the caller's cwd is
        pkg_root = str(Path(__file__).resolve().parents[2])  # the checkout holding cloudgate_lab/
        self.env["PYTHONPATH"] = pkg_root + (os.pathsep + self.env["PYTHONPATH"] if self.env.get("PYTHONPATH") else "")
        self.cwd = cwd or pkg_root
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.pid_file = os.path.join(os.path.dirname(self.config_path), "pids.json")

    @property
    def names(self) -> list[str]:
        return list(self.config.nodes)

    def _record_pids(self) -> None:
        with open(self.pid_file, "w") as f:
            json.dump({n: p.pid for n, p in self.procs.items() if p.poll() is None}, f)

    def start(self, names: Sequence[str] | None = None) -> None:
        for name in names or self.names:
            self.start_node(name)

    def start_node(self, name: str) -> None:
        old = self.procs.get(name)
        if old is not None and old.poll() is None:
            return
        node = self.config.node(name)
        os.makedirs(node.data_dir, exist_ok=True)
        log = open(os.path.join(node.data_dir, "node.log"), "ab")  # noqa: SIM115 - owned by the child
        try:
            self.procs[name] = subprocess.Popen(
                self.wrap + node_command(self.config_path, name, self.python),
                stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd, start_new_session=True,
            )
        finally:
            log.close()
        self._record_pids()

    def is_running(self, name: str) -> bool:
        p = self.procs.get(name)
        return p is not None and p.poll() is None

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill one node (SIGKILL by default: a crash; acknowledged writes must survive it)."""
        p = self.procs.get(name)
        if p is None:
            return
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, sig)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        self._record_pids()

    def stop_node(self, name: str) -> None:
        """Graceful stop (SIGTERM), escalating to SIGKILL after 10 s."""
        self.kill(name, signal.SIGTERM)

    def restart(self, name: str, graceful: bool = False, wait: bool = True, timeout: float = 30.0) -> None:
        if graceful:
            self.stop_node(name)
        else:
            self.kill(name)
        self.start_node(name)
        if wait:
            self.wait_ready([name], timeout=timeout, check_peers=False)

    def stop(self) -> None:
        """Stop every node: SIGTERM, then SIGKILL for stragglers. Idempotent."""
        for p in self.procs.values():
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in self.procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.pid_file)

    def wait_ready(self, names: Sequence[str] | None = None, timeout: float = 30.0, check_peers: bool = True) -> None:
        """Wait until each node answers on its native port and (by default) every running node sees
        every other running node UP (``<data_dir>/status.json``, written by the node)."""
        names = list(names or self.names)
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending:
            for name in list(pending):
                p = self.procs.get(name)
                if p is not None and p.poll() is not None:
                    raise RuntimeError(f"node {name} exited with {p.returncode}; see {self.config.node(name).data_dir}/node.log")
                n = self.config.node(name)
                if probe_native(n.address, n.native_port):
                    pending.discard(name)
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"nodes {sorted(pending)} did not open their native port in {timeout}s")
            if pending:
                time.sleep(0.05)
        if check_peers:
            running = [n for n in self.names if self.is_running(n)] or names
            while not all(self._sees_up(name, running) for name in running):
                if time.monotonic() > deadline:
                    raise TimeoutError("nodes did not see each other UP in time")
                time.sleep(0.05)

    def _sees_up(self, name: str, others: Sequence[str]) -> bool:
        path = os.path.join(self.config.node(name).data_dir, "status.json")
        try:
            with open(path) as f:
                doc = json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        p = self.procs.get(name)
        if p is not None and doc.get("pid") not in (p.pid, None) and not self.wrap:
            return False  # a stale file from a previous incarnation
        return all(doc["up"].get(o, False) for o in others if o != name)

    def wait_peers(self, up: Sequence[str], down: Sequence[str] = (), observers: Sequence[str] | None = None,
                   timeout: float = 20.0) -> None:
        """Wait until every observer sees ``up`` nodes UP and ``down`` nodes DOWN."""
        observers = list(observers or [n for n in self.names if self.is_running(n) and n not in down])
        deadline = time.monotonic() + timeout
        while True:
            ok = True
            for name in observers:
                try:
                    with open(os.path.join(self.config.node(name).data_dir, "status.json")) as f:
                        view = json.load(f)["up"]
                except (FileNotFoundError, json.JSONDecodeError, KeyError):
                    ok = False
                    break
                if any(not view.get(u, False) for u in up if u != name) or any(view.get(d, False) for d in down):
                    ok = False
                    break
            if ok:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"peers did not converge (up={list(up)}, down={list(down)})")
            time.sleep(0.05)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kill_recorded(pid_file: str) -> None:
    """Kill processes recorded in a pids.json left behind by a crashed run (janitor helper)."""
    try:
        with open(pid_file) as f:
            pids = json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return
    for pid in pids.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(pid), signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pid_file)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cloudgate_lab.cql.cluster --dir D [--nodes 6]``: run a 2-DC cluster until Ctrl-C."""
    import argparse
    import ipaddress

    ap = argparse.ArgumentParser(prog="python -m cloudgate_lab.cql.cluster", description=main.__doc__)
    ap.add_argument("--dir", required=True, help="directory for the cluster file, data dirs and logs")
    ap.add_argument("--nodes", type=int, default=6, help="nodes, split evenly over dc1/dc2, racks rack1..3")
    ap.add_argument("--base-address", default="127.0.0.11")
    args = ap.parse_args(argv)
    base = ipaddress.ip_address(args.base_address)
    half = (args.nodes + 1) // 2
    specs = [NodeSpec(f"n{i + 1}", str(base + i), "dc1" if i < half else "dc2", f"rack{(i % half) % 3 + 1}")
             for i in range(args.nodes)]
    cfg = write_cluster_file(os.path.join(args.dir, "cluster.json"), specs)
    with LocalCluster(cfg) as lab:
        lab.start()
        lab.wait_ready(timeout=60)
        print(f"cluster up: {cfg} ({', '.join(s.address for s in specs)}:9042); Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0


if __name__ == "__main__":
    for _sig in (signal.SIGINT, signal.SIGTERM):  # background jobs inherit SIGINT ignored
        signal.signal(_sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.exit(main())
