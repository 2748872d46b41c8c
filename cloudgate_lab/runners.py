"""Runner machines for the lab: `cloudgate lab runners up [--count 3] | down`.

Proves the mechanics of `cloudgate run --runners` (cloudgate/runners/) without more machines. Each
runner is a node like a lab host (hosts.py: boot.sh, its own host key, the lab's client key in
authorized_keys, its own sshd): namespace `cg-runner-<n>` on the dc1 bridge at 198.18.1.25<n>,
default route via dc1's gateway 198.18.1.1, so it reaches both datacenters' hosts as a runner in
dc1 would. Addresses .251-.253: the plan gives hosts .11-.39, guests .100-.250 (.200-.250 when a
deploy names its address), the gateway .1 and the root namespace .254.

The project's venv and checkout are at the same paths in a runner as on this machine: a node's
mount namespace is a private copy of this machine's (boot.sh), so no bind mount is needed, and the
runners file written here names `sys.executable` and this checkout.

The CloudStack simulator listens on 127.0.0.1 of the root namespace, which a namespace cannot
reach: a small TCP relay in the root namespace listens on 198.18.1.254:<api port> (the root
namespace's address on cgdc1) and forwards to 127.0.0.1:<api port>; the runners' target is
lab.yaml with that endpoint (`runners/target.yaml`). The root namespace reaches 198.18.1.254 too,
so the controller uses the same file.

`down` removes everything `up` made: the relay, the namespaces with their sshd, the root ends of
their veths, the runners' directory. `cloudgate lab down` calls `teardown_runners()` (its
namespaces and veths would go with the hosts' anyway, by prefix; the relay would not).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from cloudgate_lab import hosts, net, paths
from cloudgate_lab.net import LabError
from cloudgate_lab.topology import LabTopology

RUNNER_NETNS_PREFIX = "cg-runner-"
FIRST_OCTET = 251
MAX_RUNNERS = 3
DC_INDEX = 1
RELAY_PID = "relay.pid"
RELAY_IDLE_SECONDS = 300.0
RELAY_MAX_CONNECTIONS = 256
CHECKOUT = Path(__file__).resolve().parents[1]
LAB_TARGET = CHECKOUT / "fixtures" / "targets" / "lab.yaml"


def runners_dir() -> Path:
    return paths.lab_dir() / "runners"


def runners_file() -> Path:
    """The runners file `up` writes: `cloudgate run --runners <this> --target <target_file()>`."""
    return runners_dir() / "runners.yaml"


def target_file() -> Path:
    return runners_dir() / "target.yaml"


def runner_ip(n: int) -> str:
    return f"198.18.{DC_INDEX}.{FIRST_OCTET + n - 1}"


def runner_node(n: int) -> hosts.Node:
    name = f"runner-{n}"
    return hosts.Node("host", name, f"{RUNNER_NETNS_PREFIX}{n}", runner_ip(n), runners_dir() / name)


def root_veth(n: int) -> str:
    """cgv<dc>-<octet>, the hosts' naming: `lab down` removes it with theirs, by prefix."""
    return f"cgv{DC_INDEX}-{FIRST_OCTET + n - 1}"


def existing_runners() -> list[str]:
    return net.list_netns(RUNNER_NETNS_PREFIX)


# --------------------------------------------------------------------------- nodes
def _prepare(node: hosts.Node) -> None:
    node.dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile("/etc/os-release", node.dir / "os-release")  # a runner is a plain machine, not a dom0
    (node.dir / "hostname").write_text(node.name + "\n")
    (node.dir / "sshd_config").write_text(hosts.sshd_config(node))
    (node.dir / "bin").mkdir(exist_ok=True)  # no stand-ins: nothing is checked on a runner
    (node.dir / "sysmodule").mkdir(exist_ok=True)
    hosts.write_state(node.state_file, {"kind": "runner", "name": node.name, "ip": node.ip, "netns": node.netns})
    hosts.write_boot_env(node, {"CG_FIOA": "0"})


def _network(nodes: list[tuple[int, hosts.Node]], bridge: str, gateway: str) -> None:
    root: list[str] = []
    for n, node in nodes:
        root += [f"netns add {node.netns}",
                 f"link add {root_veth(n)} type veth peer name eth0 netns {node.netns}",
                 f"link set {root_veth(n)} addrgenmode none",
                 f"link set {root_veth(n)} master {bridge} up"]
    net.ip_batch(root, what="lab runners (root namespace)")
    for _n, node in nodes:
        net.ip_batch(["link set lo up", f"link set eth0 address {net.mac_for(node.ip)}",
                      "link set eth0 addrgenmode none", f"addr add {node.ip}/24 dev eth0", "link set eth0 up",
                      f"route add default via {gateway}"], what=f"{node.name}: network", netns=node.netns)


def up(count: int = MAX_RUNNERS, lab_target: Path = LAB_TARGET) -> Path:
    """Bring up `count` runners, the API relay and the runners' files; returns the runners file."""
    if not 1 <= count <= MAX_RUNNERS:
        raise LabError(f"lab runners: --count {count}: must be 1-{MAX_RUNNERS} (addresses 198.18.1.251-253)")
    if os.geteuid() != 0:
        raise LabError("lab runners: needs root (network namespaces)")
    if not paths.topology_file().exists():
        raise LabError("lab runners: the lab is not up (no topology file); run `cloudgate lab up` first")
    topology = LabTopology.load(paths.topology_file())
    dc = next(d for d in topology.datacenters if d.index == DC_INDEX)
    if existing_runners():
        teardown_runners()
    hosts.ensure_client_key()
    nodes = [(n, runner_node(n)) for n in range(1, count + 1)]
    try:
        for _n, node in nodes:
            _prepare(node)
        hosts.generate_host_keys([node for _n, node in nodes])
        _network(nodes, dc.bridge, dc.gateway)
        for proc in [hosts.spawn_node(node) for _n, node in nodes]:
            proc.wait(timeout=10)
        hosts.wait_nodes([node for _n, node in nodes], timeout=20)
        start_relay(dc.root_ip, topology.api_port)
        write_files([node for _n, node in nodes], dc.root_ip, topology.api_port, lab_target)
    except BaseException:
        teardown_runners()
        raise
    return runners_file()


def write_files(nodes: list[hosts.Node], relay_ip: str, api_port: int, lab_target: Path) -> None:
    """The runners' target (the API through the relay) and the runners file naming every runner."""
    data = yaml.safe_load(lab_target.read_text())
    data["cloudstack"]["endpoint"] = f"http://{relay_ip}:{api_port}/client/api"
    target_file().write_text("# lab.yaml with the CloudStack API reached through the runners' relay\n"
                             + yaml.safe_dump(data, sort_keys=False))
    runners = {
        "lab": True,
        "connect_timeout_seconds": 3,
        "preflight_seconds": 15,
        "shared_reports": True,  # one filesystem: the workers share the run's estate.json
        "forward_env": ["CLOUDGATE_LAB_DIR"],
        "defaults": {"user": "root", "port": 22, "identity_file": str(paths.client_key()),
                     "python": sys.executable, "chdir": str(CHECKOUT), "workers": 2},
        "runners": [{"name": node.name, "address": node.ip} for node in nodes],
    }
    runners_file().write_text("# written by `cloudgate lab runners up`; removed by `cloudgate lab runners down`\n"
                              + yaml.safe_dump(runners, sort_keys=False))


def teardown_runners() -> None:
    """Everything `up` made, found by name (also after a crash): relay, namespaces, veths, files."""
    stop_relay()
    net.delete_netns(existing_runners())
    net.delete_root_links(tuple(root_veth(n) for n in range(1, MAX_RUNNERS + 1)))
    shutil.rmtree(runners_dir(), ignore_errors=True)


def leftovers() -> list[str]:
    found = [f"netns {n}" for n in existing_runners()]
    found += [f"link {link}" for link in net.list_root_links(tuple(root_veth(n) for n in range(1, MAX_RUNNERS + 1)))]
    found += [f"process {p} (runners' API relay)" for p in relay_pids()]
    return found


# --------------------------------------------------------------------------- the API relay
def relay_argv(listen_ip: str, port: int) -> list[str]:
    return [sys.executable, "-m", "cloudgate_lab.runners", "relay", listen_ip, str(port), str(paths.lab_dir())]


def relay_pids() -> list[int]:
    """Relays of this lab dir, by command line (the pid file may be gone with a crashed lab)."""
    marker = ["cloudgate_lab.runners", "relay"]
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = [a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0")]
        except OSError:
            continue
        if argv[2:4] == marker and str(paths.lab_dir()) in argv and net.is_alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def start_relay(listen_ip: str, port: int, timeout: float = 10.0) -> int:
    runners_dir().mkdir(parents=True, exist_ok=True)
    with open(runners_dir() / "relay.log", "ab") as log:
        proc = subprocess.Popen(relay_argv(listen_ip, port), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, cwd="/")
    (runners_dir() / RELAY_PID).write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"runners' API relay exited at start (rc {proc.returncode}), see {runners_dir() / 'relay.log'}")
        with contextlib.suppress(OSError), socket.create_connection((listen_ip, port), timeout=0.5):
            return proc.pid
        time.sleep(0.05)
    raise LabError(f"runners' API relay not accepting on {listen_ip}:{port} after {timeout:g} s")


def stop_relay() -> None:
    pids = set(relay_pids())
    with contextlib.suppress(OSError, ValueError):
        pid = int((runners_dir() / RELAY_PID).read_text())
        if pid in relay_pids():
            pids.add(pid)
    if pids:
        net.kill_pids(pids, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(net.is_alive(p) for p in pids):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(-1, os.WNOHANG)
            time.sleep(0.02)
        hosts.kill_and_wait([p for p in pids if net.is_alive(p)])


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await asyncio.wait_for(reader.read(65536), RELAY_IDLE_SECONDS):
            writer.write(data)
            await writer.drain()
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


async def _relay(listen_ip: str, port: int) -> None:
    """listen_ip:port -> 127.0.0.1:port, both directions, idle connections closed after 5 min."""
    slots = asyncio.Semaphore(RELAY_MAX_CONNECTIONS)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with slots:
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
            except (OSError, TimeoutError):
                writer.close()
                return
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, listen_ip, port, reuse_address=True)
    async with server:
        await server.serve_forever()


# --------------------------------------------------------------------------- command line
def main(args: argparse.Namespace) -> int:
    """`cloudgate lab runners up [--count N] | down`; a LabError is one line and exit 2."""
    try:
        if args.runners_action == "up":
            path = up(args.count)
            print(f"lab runners: {args.count} up ({', '.join(runner_ip(n) for n in range(1, args.count + 1))}); "
                  f"run: cloudgate run --target {target_file()} --runners {path}")
        else:
            teardown_runners()
            left = leftovers()
            if left:
                raise LabError(f"lab runners down left {', '.join(left)}")
            print("lab runners down: nothing of the runners is left")
        return 0
    except LabError as exc:
        print(f"cloudgate lab: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__" and sys.argv[1:2] == ["relay"]:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(_relay(sys.argv[2], int(sys.argv[3])))
