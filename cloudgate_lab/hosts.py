"""The lab's hypervisor hosts: one network + UTS + mount namespace per LabHost, each running a real sshd.

A host is *reached only over SSH*, like a real XCP-ng dom0. What makes it look like one:

* network: namespace `cg-<host>`; its `eth0` is a veth whose root end (`cgv<dc>-<octet>`) sits on the
  datacenter bridge; inside, `eth0` is enslaved to a `xenbr0` bridge that carries the host's address
  (as on real Xen, so guests can later be bridged next to it); default route via the DC gateway (cg-wan).
* identity: hostname = host name (own UTS namespace), /etc/os-release of **XCP-ng 8.2.1** (chosen over
  CentOS 7 because the hypervisors run `xe`, and XCP-ng 8.2's dom0 is CentOS-7-based anyway), kernel
  `4.19.0+1` (XCP-ng 8.2's dom0 kernel) via an `uname` stand-in.
* stand-ins (see `cloudgate_lab/standins/render.py`): fio-status, lsmod, xe, chronyc, uname, sysctl,
  swapon in a per-host `bin/` bind-mounted over /usr/local/sbin, first in sshd's default PATH, so
  non-interactive `ssh host cmd` sees them. They render from `<hosts_dir>/<name>/state.json` at call
  time: `hostfaults.py` edits that file and the next command shows the fault.
* devices: a private tmpfs /dev with null/zero/full/random/urandom/tty/ptmx+pts/shm and the flash
  card's block node `/dev/fioa`; a fake /sys/module (bind mount) holding `iomemory_vsl/version`.

All of it is set up by `standins/boot.sh` in a private mount namespace (`unshare -m --propagation
private`), so nothing leaks into the build machine. The boot script ends as `sleep infinity`: that
process is the host's *anchor*; `nsenter -t <anchor>` runs things on the host later (sshd restart,
/dev/fioa changes, the ssh-hang listener). Guests (`guests.py`) reuse the node helpers defined here.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudgate_lab import net, paths
from cloudgate_lab.net import LabError
from cloudgate_lab.standins import STANDINS_DIR, render
from cloudgate_lab.topology import NETNS_PREFIX, WAN_NETNS, LabHost, LabTopology

HOST_OS_RELEASE = "os-release-xcpng.txt"
HOST_KERNEL = "4.19.0+1"
HOST_KERNEL_VERSION = "#1 SMP Mon Feb 5 11:52:06 CET 2024"
FIO_DRIVER = ("3.2.16", "1731")
FIO_FIRMWARE = ("7.1.17", "116786")
STANDIN_COMMANDS = ("fio-status", "lsmod", "xe", "chronyc", "uname", "sysctl", "swapon")
SSHD = "/usr/sbin/sshd"
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# dom0 modules listed by the lsmod stand-in besides iomemory_vsl (name, size, use count, users).
HOST_MODULES: list[list[Any]] = [
    ["openvswitch", 147456, 7, ""],
    ["nf_conntrack", 159744, 1, "openvswitch"],
    ["xen_blkback", 49152, 0, ""],
    ["xen_netback", 65536, 0, ""],
    ["xen_gntalloc", 16384, 0, ""],
    ["xen_gntdev", 24576, 2, ""],
    ["xen_evtchn", 16384, 1, ""],
    ["xenfs", 16384, 1, ""],
    ["xen_privcmd", 20480, 12, "xenfs"],
    ["ipmi_si", 65536, 0, ""],
    ["megaraid_sas", 151552, 2, ""],
    ["sd_mod", 53248, 3, ""],
]


# -- nodes (shared with guests.py) -------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """Anything the lab boots with boot.sh: a hypervisor host or a guest."""

    kind: str  # "host" | "guest"
    name: str  # hostname, e.g. dc1-r1-h1 or cass-dc1-1
    netns: str
    ip: str
    dir: Path

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"


def host_node(name: str) -> Node:
    """The Node of a lab host, from its name alone (teardown and faults must work without a topology)."""
    d = paths.hosts_dir() / name
    ip = ""
    with contextlib.suppress(LabError):
        ip = read_state(d / "state.json").get("ip", "")
    return Node("host", name, f"{NETNS_PREFIX}{name}", ip, d)


def read_state(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise LabError(f"{path.parent.name}: no state file {path} (is the lab up?)") from None
    except ValueError as exc:
        raise LabError(f"{path.parent.name}: state file {path} is not JSON: {exc}") from None


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Atomic replace, so a stand-in reading concurrently sees the old or the new state, never half.

    Then the node's stand-ins' usual answers are rendered ahead from it (render.prerender), so what
    an SSH command shows is the new state's, at the cost of a real tool's call (a shell builtin).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, path)
    bindir = path.parent / "bin"
    if bindir.is_dir():
        render.prerender(str(path.parent), state, sorted(p.name for p in bindir.iterdir()))


def update_state(node: Node, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Read-modify-write a node's state under a file lock (faults may come from several threads)."""
    with open(node.dir / ".state.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = read_state(node.state_file)
        change(state)
        write_state(node.state_file, state)
        return state


def python_for_standins() -> str:
    """The system interpreter (no venv, fast start); the venv's if the box has none."""
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else os.path.realpath(sys.executable)


def write_standin_wrappers(node: Node, commands: Iterable[str] = STANDIN_COMMANDS) -> None:
    """One /bin/sh wrapper per command in <node>/bin (render.wrapper_script), then its answers rendered.

    The wrapper knows the calls rendered ahead for the node's state as it is now; a call it does not
    know (or whose answer the real binary gives) runs render.py under the system Python.
    """
    bindir = node.dir / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    py = python_for_standins()
    state = read_state(node.state_file)
    calls = render.prerendered_calls(state)
    for cmd in commands:
        f = bindir / cmd
        f.write_text(render.wrapper_script(cmd, str(node.dir), str(node.state_file), py, str(STANDINS_DIR),
                                           calls.get(cmd, [])))
        f.chmod(0o755)
    render.prerender(str(node.dir), state, list(commands))


def sshd_config(node: Node) -> str:
    """Per-node sshd: key auth with the lab client key only, on the node's address only."""
    return "\n".join([
        "Port 22",
        f"ListenAddress {node.ip}",
        f"HostKey {node.dir / 'hostkey'}",
        f"PidFile {node.dir / 'sshd.pid'}",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        f"AuthorizedKeysFile {authorized_keys_file()}",
        "ClientAliveInterval 15",
        "ClientAliveCountMax 3",
        "MaxSessions 64",
        "MaxStartups 200",
        "UseDNS no",
        "PrintMotd no",
        "PrintLastLog no",
        "LogLevel ERROR",
        "Subsystem sftp internal-sftp",
        "",
    ])


def authorized_keys_file() -> Path:
    return paths.ssh_dir() / "authorized_keys"


def ensure_client_key() -> Path:
    """The suite's ed25519 key (paths.client_key()), generated on first use, and its authorized_keys."""
    key = paths.client_key()
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        key.parent.chmod(0o700)
        net.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cloudgate-lab", "-f", str(key)],
                what="lab client key")
    pub = key.with_name(key.name + ".pub").read_text()
    ak = authorized_keys_file()
    if not ak.exists() or ak.read_text() != pub:
        ak.write_text(pub)
    return key


def generate_host_keys(nodes: Sequence[Node]) -> None:
    """ssh-keygen for every node lacking a host key, all at once (one process each, in parallel)."""
    todo = [n for n in nodes if not (n.dir / "hostkey").exists()]
    run_parallel([
        (["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", n.name, "-f", str(n.dir / "hostkey")],
         None, f"{n.name}: host key")
        for n in todo
    ])


PARALLEL_JOBS = 64  # processes at once: a fleet-size lab has 1,000 hosts, and each job holds 3 pipes


def run_parallel(jobs: Sequence[tuple[Sequence[str], str | None, str]], timeout: float = 20.0) -> None:
    """Run (argv, stdin, what) jobs PARALLEL_JOBS at a time, each batch within `timeout`; raise on the
    first failure, naming it (and how many more failed)."""
    errors: list[str] = []
    for start in range(0, len(jobs), PARALLEL_JOBS):
        errors += _run_batch(jobs[start:start + PARALLEL_JOBS], timeout)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise LabError(errors[0] + more)


def _run_batch(jobs: Sequence[tuple[Sequence[str], str | None, str]], timeout: float) -> list[str]:
    procs = []
    for argv, stdin, what in jobs:
        p = subprocess.Popen(list(argv), stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append((p, argv, stdin, what))
    errors = []
    deadline = time.monotonic() + timeout
    for p, argv, stdin, what in procs:
        try:
            _, err = p.communicate(stdin, timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            errors.append(f"{what}: `{' '.join(argv)}` timed out")
            continue
        if p.returncode != 0:
            line = (err.strip().splitlines() or ["no output"])[-1]
            errors.append(f"{what}: `{' '.join(argv)}` failed (rc {p.returncode}): {line}")
    return errors


def fioa_major() -> int:
    """A block major no driver on this machine uses, for the fake /dev/fioa node (it is never opened)."""
    used = set()
    with open("/proc/devices", encoding="ascii") as fh:
        block = False
        for line in fh:
            if line.startswith("Block devices"):
                block = True
            elif block and line.strip():
                used.add(int(line.split()[0]))
    return next(m for m in range(240, 255) if m not in used)


def write_boot_env(node: Node, extra: dict[str, str]) -> None:
    env = {
        "CG_NAME": node.name,
        "CG_KIND": node.kind,
        "CG_STANDINS": str(STANDINS_DIR),
        "CG_BASHRC": str(STANDINS_DIR / "bashrc.txt"),
        "CG_ROOT_MNTNS": os.readlink("/proc/self/ns/mnt"),
        **extra,
    }
    (node.dir / "boot.env").write_text("".join(f"{k}='{v}'\n" for k, v in env.items()))


def spawn_node(node: Node) -> subprocess.Popen[bytes]:
    """Boot a node in its (existing) netns: returns at once; the node's sshd comes up in ~50 ms.

    `setsid -f` detaches the anchor from this process, so `lab up` can exit and the anchor is not
    left as our zombie when teardown kills it.
    """
    for stale in ("anchor.pid", "sshd.pid", "booted"):
        (node.dir / stale).unlink(missing_ok=True)
    log = open(node.dir / "boot.log", "wb")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            ["setsid", "-f", "ip", "netns", "exec", node.netns, "unshare", "-m", "-u", "--propagation", "private",
             "/bin/sh", "-c", 'echo $$ > "$1/anchor.pid" && exec /bin/sh "$2" "$1"', "boot",
             str(node.dir), str(STANDINS_DIR / "boot.sh")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env={"PATH": NODE_PATH, "LANG": "C"}, cwd="/",
        )
    finally:
        log.close()


def anchor_pid(node: Node) -> int | None:
    """PID of the node's anchor process, if it is alive and still in the node's namespace."""
    try:
        pid = int((node.dir / "anchor.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid in net.netns_pids(node.netns) else None


def node_exec(node: Node, argv: Sequence[str], *, what: str, timeout: float = 10.0,
              check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command *on* the node (its network, UTS and mount namespaces)."""
    pid = anchor_pid(node)
    if pid is None:
        raise LabError(f"{node.name}: {what}: the node is not running (no anchor process in {node.netns})")
    return net.run(["nsenter", "-t", str(pid), "-n", "-m", "-u", "--", *argv], what=f"{node.name}: {what}",
                   timeout=timeout, check=check)


def node_spawn_detached(node: Node, argv: Sequence[str], *, what: str) -> None:
    """Start a long-running process on the node, detached from us (`setsid -f` inside nsenter).

    Its output goes to <node>/processes.log: it must not inherit our pipes, or we would wait for it.
    """
    pid = anchor_pid(node)
    if pid is None:
        raise LabError(f"{node.name}: {what}: the node is not running (no anchor process in {node.netns})")
    cmd = ["nsenter", "-t", str(pid), "-n", "-m", "-u", "--", "setsid", "-f", *argv]
    with open(node.dir / "processes.log", "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd="/")
    try:
        rc = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise LabError(f"{node.name}: {what}: `{' '.join(cmd)}` timed out") from None
    if rc != 0:
        raise LabError(f"{node.name}: {what}: `{' '.join(cmd)}` failed (rc {rc}), see {node.dir / 'processes.log'}")


def _pid_from(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def start_sshd(node: Node) -> None:
    """(Re)start the node's sshd after sshd-down/power-off; returns when it answers with a banner."""
    if sshd_pid(node) is None:
        node_exec(node, ["/bin/sh", str(STANDINS_DIR / "start-sshd.sh"), str(node.dir)], what="start sshd")
    wait_ssh([node.ip], timeout=10)


def sshd_pid(node: Node) -> int | None:
    pid = _pid_from(node.dir / "sshd.pid")
    if pid is None or pid not in net.netns_pids(node.netns):
        return None
    try:
        return pid if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd" else None
    except OSError:
        return None


def stop_sshd(node: Node, *, sessions: bool = False) -> None:
    """Stop the listening sshd (like `systemctl stop sshd`: open sessions survive unless sessions=True)."""
    pid = sshd_pid(node)
    if pid is not None:
        kill_and_wait([pid])
    if sessions:
        anchor = anchor_pid(node)
        others = [p for p in net.netns_pids(node.netns) if p != anchor and _comm(p) == "sshd"]
        kill_and_wait(others)
    (node.dir / "sshd.pid").unlink(missing_ok=True)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def kill_and_wait(pids: Iterable[int], timeout: float = 5.0) -> None:
    pids = list(pids)
    net.kill_pids(pids)
    deadline = time.monotonic() + timeout
    while any(net.is_alive(p) for p in pids):
        if time.monotonic() > deadline:
            raise LabError(f"processes {pids} did not die within {timeout:g}s")
        time.sleep(0.01)


# -- SSH readiness -----------------------------------------------------------------------------------


def ssh_banner(ip: str, timeout: float = 1.0, port: int = 22) -> bool:
    """True if something at ip:22 greets with an SSH banner within `timeout`."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def wait_ssh_port(ip: str, *, banner: bool = True, timeout: float = 10.0) -> None:
    """Wait until ip:22 accepts TCP connections (banner=False) or also greets with SSH (banner=True)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((ip, 22), timeout=0.5) as s:
                if not banner:
                    return
                s.settimeout(0.5)
                if s.recv(8).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise LabError(f"{ip}:22 not {'answering SSH' if banner else 'accepting connections'} after {timeout:g}s")
        time.sleep(0.02)


def wait_ssh(ips: Sequence[str], timeout: float = 20.0) -> None:
    """Wait until every ip answers with an SSH banner; raise naming the ones that did not."""
    deadline = time.monotonic() + timeout

    def one(ip: str) -> bool:
        while True:
            if ssh_banner(ip, timeout=min(1.0, max(0.05, deadline - time.monotonic()))):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    if not ips:
        return
    with ThreadPoolExecutor(max_workers=min(32, len(ips))) as pool:
        ok = list(pool.map(one, ips))
    missing = [ip for ip, good in zip(ips, ok, strict=True) if not good]
    if missing:
        raise LabError(f"sshd not answering after {timeout:g}s on {', '.join(missing)}")


# -- hosts -------------------------------------------------------------------------------------------


def _uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{kind}.{name}.lab.cloudgate"))


def default_host_state(host: LabHost, topology: LabTopology) -> dict[str, Any]:
    """A healthy host: what every stand-in renders until a fault changes it."""
    dc = next(d for d in topology.datacenters if d.name == host.dc)
    third, octet = (int(o) for o in host.ip.split(".")[2:])
    serial = f"13{host.dc_index:02d}D{octet:04d}" if host.ip.startswith("198.18.") else f"13{host.dc_index:02d}F{third:03d}{octet:03d}"
    pool = [
        {"uuid": _uuid("host", h.name), "name_label": h.name,
         "name_description": "Default install", "address": h.ip}
        for h in topology.hosts if h.cluster == host.cluster
    ]
    return {
        "kind": "host",
        "name": host.name,
        "ip": host.ip,
        "netns": host.netns,
        "dc": host.dc,
        "rack": host.rack,
        "cluster": host.cluster,
        "gateway": dc.hosts_gateway,
        "os": "XCP-ng 8.2.1",
        "kernel": HOST_KERNEL,
        "kernel_version": HOST_KERNEL_VERSION,
        "fio": {
            "driver_version": FIO_DRIVER[0],
            "driver_build": FIO_DRIVER[1],
            "firmware": FIO_FIRMWARE[0],
            "firmware_rev": FIO_FIRMWARE[1],
            "temperature_c": 45.0,
            "temperature_max_c": 47.0,
            "reserve_percent": 100.0,
            "reserve_warn_percent": 10.0,
            "media_status": "Healthy",
            "module_loaded": True,
            "serial": serial,
            "product_number": "F00-001-1T20-CS-0001",
            "size_gb": float(host.flash_gib),
            "vsu_uuid": _uuid("vsu", host.name),
        },
        "ntp": {"synced": True, "offset_s": 0.000012345, "server": dc.gateway, "server_name": f"ntp.{host.dc}.lab"},
        "modules": HOST_MODULES,
        "pool": pool,
        "uuid": _uuid("host", host.name),
        "sysctl": {},
        "swap": [],
        "sshd_up": True,
        "powered": True,
        "agent": "ok",
        "ssh_hang": False,
        "faults": [],
    }


def render_sysmodule(node: Node, state: dict[str, Any]) -> None:
    """The fake /sys/module: one directory per listed module; iomemory_vsl only while 'loaded'."""
    root = node.dir / "sysmodule"
    root.mkdir(exist_ok=True)
    for name, _size, used, _users in state.get("modules", []):
        d = root / name
        d.mkdir(exist_ok=True)
        (d / "refcnt").write_text(f"{used}\n")
        (d / "initstate").write_text("live\n")
    fio = state.get("fio")
    vsl = root / "iomemory_vsl"
    if fio and fio.get("module_loaded"):
        (vsl / "parameters").mkdir(parents=True, exist_ok=True)
        (vsl / "version").write_text(f"{fio['driver_version']}\n")
        (vsl / "srcversion").write_text("3C9A4E2B1F0D8E7A6B5C4D3\n")
        (vsl / "initstate").write_text("live\n")
        (vsl / "refcnt").write_text("2\n")
        (vsl / "parameters" / "auto_attach").write_text("1\n")
    elif vsl.exists():
        shutil.rmtree(vsl)


def _prepare_host_dir(host: LabHost, topology: LabTopology) -> Node:
    d = paths.hosts_dir() / host.name
    d.mkdir(parents=True, exist_ok=True)
    node = Node("host", host.name, host.netns, host.ip, d)
    state = default_host_state(host, topology)
    write_state(node.state_file, state)
    shutil.copyfile(STANDINS_DIR / HOST_OS_RELEASE, d / "os-release")
    (d / "hostname").write_text(host.name + "\n")
    (d / "sshd_config").write_text(sshd_config(node))
    write_standin_wrappers(node)
    render_sysmodule(node, state)
    write_boot_env(node, {"CG_FIOA": "1", "CG_FIOA_MAJOR": str(fioa_major())})
    return node


mac_for = net.mac_for  # where guests.py and runners.py found it before it moved to net.py


def root_veth(host: LabHost) -> str:
    """Root-namespace end of a host's uplink: cgv<dc>-<last octet>, or cgv<dc>-<third>-<last> in a
    fleet-size lab (<= 15 chars, found by prefix)."""
    octets = host.ip.split(".")
    if host.ip.startswith("198.18."):
        return f"cgv{host.dc_index}-{octets[3]}"
    return f"cgv{host.dc_index}-{octets[2]}-{octets[3]}"


def _host_network(topology: LabTopology, hosts: Sequence[LabHost]) -> None:
    root: list[str] = []
    inside: list[tuple[Sequence[str], str | None, str]] = []
    # A fleet-size lab's neighbours are written down (nud permanent) instead of learnt by ARP: the kernel's
    # ARP table is one for all namespaces, and 1,000 hosts learning and being learnt fill its 1,024
    # entries (gc_thresh3); permanent entries do not count (net/core/neighbour.c since 4.20).
    datacenters = {d.name: d for d in topology.datacenters}
    wan: list[str] = []
    gateways = {d.name: d.hosts_gateway for d in topology.datacenters}
    prefixes = {d.name: d.host_prefix for d in topology.datacenters}
    bridges = {d.name: d.bridge for d in topology.datacenters}
    for h in hosts:
        veth = root_veth(h)
        root += [
            f"netns add {h.netns}",
            f"link add {veth} type veth peer name eth0 netns {h.netns}",
            f"link set {veth} addrgenmode none",
            f"link set {veth} master {bridges[h.dc]} up",
        ]
        cmds = [
            "link set lo up",
            f"link add xenbr0 address {net.mac_for(h.ip)} type bridge",
            "link set xenbr0 addrgenmode none",
            "link set eth0 addrgenmode none",
            "link set eth0 master xenbr0 up",
            f"addr add {h.ip}/{prefixes[h.dc]} dev xenbr0",
            "link set xenbr0 up",
            f"route add default via {gateways[h.dc]}",
        ]
        dc = datacenters[h.dc]
        if dc.fleet_addressing:
            cmds += [f"neigh replace {dc.hosts_root_ip} lladdr {net.mac_for(dc.hosts_root_ip)} dev xenbr0 nud permanent",
                     f"neigh replace {dc.hosts_gateway} lladdr {net.mac_for(dc.hosts_gateway)} dev xenbr0 nud permanent"]
            root.append(f"neigh replace {h.ip} lladdr {net.mac_for(h.ip)} dev {dc.bridge} nud permanent")
            wan.append(f"neigh replace {h.ip} lladdr {net.mac_for(h.ip)} dev {net.wan_leg(dc)} nud permanent")
        inside.append((["ip", "-n", h.netns, "-batch", "-"], "\n".join(cmds) + "\n", f"{h.name}: network"))
    net.ip_batch(root, what="lab hosts (root namespace)", timeout=30)
    if wan:
        net.ip_batch(wan, what=f"lab hosts ({WAN_NETNS})", netns=WAN_NETNS, timeout=30)
    run_parallel(inside)


def build_hosts(topology: LabTopology) -> None:
    """Create every host of the topology and wait for all their sshds (≈ 1-2 s for 18 hosts).

    Expects `net.build_network(topology)` first. Refuses to start over leftovers of another lab.
    """
    leftovers = [n for n in net.list_netns() if n != WAN_NETNS]
    if leftovers:
        raise LabError(f"lab hosts: namespaces of an earlier lab still exist ({', '.join(leftovers[:4])}…); "
                       "run `cloudgate lab down`")
    ensure_client_key()
    nodes = [_prepare_host_dir(h, topology) for h in topology.hosts]
    generate_host_keys(nodes)
    _host_network(topology, topology.hosts)
    for start in range(0, len(nodes), PARALLEL_JOBS):
        for p in [spawn_node(n) for n in nodes[start:start + PARALLEL_JOBS]]:
            p.wait(timeout=10)
    wait_nodes(nodes, timeout=boot_timeout(len(nodes)))


def boot_timeout(count: int) -> float:
    """How long `count` nodes may take to answer SSH: 20 s, plus 50 ms a node beyond the first 100."""
    return 20.0 + 0.05 * max(0, count - 100)


def boot_error(node: Node) -> str | None:
    """The boot script's last complaint, if the node's anchor died while booting."""
    log = node.dir / "boot.log"
    pid = _pid_from(node.dir / "anchor.pid")
    dead = pid is not None and not net.is_alive(pid)
    if not dead:
        return None
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    return lines[-1] if lines else "boot script exited without a message"


def wait_nodes(nodes: Sequence[Node], timeout: float = 20.0) -> None:
    """Wait for every node's SSH banner; fail fast, naming the node and its boot error, if one died."""
    deadline = time.monotonic() + timeout
    pending = list(nodes)
    while pending:
        for n in pending:
            err = boot_error(n)
            if err:
                raise LabError(f"{n.name}: boot failed: {err} (see {n.dir / 'boot.log'})")
        with ThreadPoolExecutor(max_workers=min(32, len(pending))) as pool:
            up = list(pool.map(lambda n: ssh_banner(n.ip, timeout=0.5), pending))
        pending = [n for n, ok in zip(pending, up, strict=True) if not ok]
        if pending and time.monotonic() > deadline:
            raise LabError(f"sshd not answering after {timeout:g}s on {', '.join(n.name for n in pending)}")
        if pending:
            time.sleep(0.02)


def teardown_hosts() -> None:
    """Remove every host (and any guest) namespace by prefix, their processes, and hosts_dir()."""
    net.delete_netns(n for n in net.list_netns() if n != WAN_NETNS)
    net.delete_root_links(("cgv",))
    shutil.rmtree(paths.hosts_dir(), ignore_errors=True)


def host_status(name: str) -> str:
    """"Up" | "Down" | "Alert", as CloudStack would report the host (not whether sshd answers)."""
    node = host_node(name)
    if not net.netns_exists(node.netns) or anchor_pid(node) is None:
        return "Down"
    try:
        state = read_state(node.state_file)
    except LabError:
        return "Down"
    if not state.get("powered", True):
        return "Down"
    if state.get("agent") == "alert":
        return "Alert"
    return "Up"
