"""The real guest driver: VMs as nested namespaces "on" a lab host, called by the CloudStack simulator.

A guest is a network + UTS + mount namespace `cg-vm-<short id>` whose `eth0` is a veth peered with
`vif<short id>.0` in its host's namespace, enslaved to the host's `xenbr0` bridge next to the host's
uplink, as Xen bridges a VM's vif. It has its own address (from the simulator), hostname = VM name,
Ubuntu 22.04's os-release and kernel, its own sshd (same lab client key) and the stand-ins a Cassandra
node's settings checks read: swap off (`swapon --show` empty), `ulimit -n/-l/-u` 100000/unlimited/32768
(a bash function backed by state.json, see standins/bashrc-guest.txt), `sysctl -n vm.max_map_count`
1048575, THP `[never]` (a file bind-mounted over /sys/kernel/mm/transparent_hugepage/enabled),
`chronyc -n tracking` synced, and /var/lib/cassandra mounted from "/dev/fioa" (a tmpfs whose source
is named /dev/fioa, so the real `findmnt`/`df` report the fast device; FSTYPE shows tmpfs).

Since the guest's traffic leaves through its host's uplink, a powered-off host (link down) cuts its
guests off even before the simulator calls `stop_guest`; `hostfaults` also stops them itself.

Two ways to stop (`stop_guest(vm_id, forced)`), because peers must see what they would see in a real
datacenter: a *forced* stop (power pulled, host dead, VM destroyed) first takes the guest's link down
on both ends of its veth, then SIGKILLs everything: the FIN/RST the kernel sends for the dying
sockets goes nowhere and peers' connections hang until their own timeouts. A *graceful* stop (ACPI
shutdown) sends SIGTERM to every process of the guest (the CQL node and sshd close their sockets:
peers see FIN at once), waits up to GRACEFUL_STOP_SECONDS for them, then removes what is left.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cloudgate_lab import frontboot, hosts, net, paths
from cloudgate_lab.clusterfile import node_command_for
from cloudgate_lab.hosts import Node
from cloudgate_lab.net import LabError
from cloudgate_lab.standins import STANDINS_DIR

try:
    from cloudgate_lab.cloudstack.driver import GuestSpec
except ImportError:  # the simulator is written in parallel; an identical local definition until then

    @dataclass(frozen=True)
    class GuestSpec:  # type: ignore[no-redef]
        vm_id: str
        name: str
        host_name: str
        ip: str
        template: str  # "guest" | "cassandra"


GUEST_NETNS_PREFIX = "cg-vm-"
CASSANDRA_UNIT = "cassandra"  # the Debian package's unit name: `systemctl stop cassandra` in the guest
UNIT_DESCRIPTIONS = {CASSANDRA_UNIT: "LSB: distributed storage system for structured data"}
GUEST_KERNEL = "5.15.0-91-generic"
GUEST_KERNEL_VERSION = "#101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023"
GUEST_COMMANDS = ("uname", "sysctl", "swapon", "chronyc", "cg-ulimit", "systemctl", "nodetool")
DATA_DEVICE = "/dev/fioa"
DATA_DIR = "/var/lib/cassandra"  # mounted from DATA_DEVICE at boot (standins/boot.sh)
BOOT_TIMEOUT = 10.0
GRACEFUL_STOP_SECONDS = 5.0  # how long a clean shutdown may take before the rest is killed
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def short_id(vm_id: str) -> str:
    """8 characters naming the guest's namespace and vif: a UUID's first group, a short id as is, else a hash."""
    low = vm_id.lower()
    if _UUID_RE.match(low):
        return low[:8]
    clean = re.sub(r"[^a-z0-9]", "", low)
    if clean and len(clean) <= 8:
        return clean
    return hashlib.sha1(vm_id.encode()).hexdigest()[:8]


def guest_node(vm_id: str, name: str = "", ip: str = "") -> Node:
    short = short_id(vm_id)
    return Node("guest", name or short, f"{GUEST_NETNS_PREFIX}{short}", ip, paths.guests_dir() / short)


def _spec_of(d: Path) -> dict[str, Any] | None:
    try:
        return json.loads((d / "spec.json").read_text())
    except (OSError, ValueError):
        return None


def _known_guests() -> list[tuple[Node, dict[str, Any]]]:
    out = []
    root = paths.guests_dir()
    if root.exists():
        for d in sorted(root.iterdir()):
            spec = _spec_of(d)
            if spec is not None:
                out.append((guest_node(spec["vm_id"], spec["name"], spec["ip"]), spec))
    return out


def guest_node_by_name(name: str) -> Node | None:
    """A running guest by VM name (or vm id), for guest-side faults."""
    for node, spec in _known_guests():
        if name in (spec["name"], spec["vm_id"]):
            return node
    return None


def running_guest_nodes() -> list[Node]:
    return [n for n, _ in _known_guests() if net.netns_exists(n.netns)]


# -- state and files ---------------------------------------------------------------------------------


def default_guest_state(spec: GuestSpec, gateway: str) -> dict[str, Any]:
    return {
        "kind": "guest",
        "name": spec.name,
        "ip": spec.ip,
        "vm_id": spec.vm_id,
        "host_name": spec.host_name,
        "template": spec.template,
        "os": "Ubuntu 22.04.4 LTS",
        "kernel": GUEST_KERNEL,
        "kernel_version": GUEST_KERNEL_VERSION,
        "ntp": {"synced": True, "offset_s": 0.000021, "server": gateway, "server_name": gateway},
        "sysctl": {"vm.max_map_count": 1048575, "vm.swappiness": 1},
        "limits": {"nofile": 100000, "memlock": "unlimited", "nproc": 32768},
        "swap": [],
        "thp": "never",
        "data_device": DATA_DEVICE,
        "sshd_up": True,
        "powered": True,
        "ssh_hang": False,
        "faults": [],
        "services": {},  # unit -> how its process is started (standins/services.py: the guest's systemctl)
    }


def render_guest_files(node: Node, state: dict[str, Any]) -> None:
    """Files the guest reads directly (not through a stand-in); written in place, as they are bind-mounted."""
    modes = ["always", "madvise", "never"]
    line = " ".join(f"[{m}]" if m == state.get("thp", "never") else m for m in modes)
    with open(node.dir / "thp_enabled", "w") as fh:  # same inode: the bind mount keeps following it
        fh.write(line + "\n")


def _prepare(spec: GuestSpec, node: Node, gateway: str) -> None:
    d = node.dir
    d.mkdir(parents=True, exist_ok=True)
    (d / "spec.json").write_text(json.dumps(asdict(spec), indent=1))
    state = default_guest_state(spec, gateway)
    hosts.write_state(node.state_file, state)
    shutil.copyfile(STANDINS_DIR / "os-release-ubuntu.txt", d / "os-release")
    (d / "hostname").write_text(spec.name + "\n")
    (d / "sshd_config").write_text(hosts.sshd_config(node))
    hosts.write_standin_wrappers(node, GUEST_COMMANDS)
    render_guest_files(node, state)
    hosts.write_boot_env(node, {
        "CG_FIOA": "1",
        "CG_FIOA_MAJOR": str(hosts.fioa_major()),
        "CG_DATA_DEVICE": state["data_device"],
        "CG_BASHRC": str(STANDINS_DIR / "bashrc-guest.txt"),
    })


def _vif(vm_id: str) -> str:
    return f"vif{short_id(vm_id)}.0"


def _unplug_vif(host_netns: str, vm_id: str, timeout: float = 3.0) -> None:
    """Remove a guest's host-side veth and wait until it is gone.

    Deleting a network namespace destroys its veth pairs asynchronously (in a kernel worker), so a
    guest restarted at once with the same id could find its old vif still there ("File exists").
    """
    vif = _vif(vm_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = subprocess.run(["ip", "-n", host_netns, "link", "show", vif], capture_output=True, timeout=5)
        if shown.returncode != 0:
            return
        subprocess.run(["ip", "-n", host_netns, "link", "del", vif], capture_output=True, timeout=5)
        time.sleep(0.05)
    raise LabError(f"guest {vm_id}: {vif} still on {host_netns} after {timeout:g} s")


def _plug(spec: GuestSpec, node: Node, host: Node, gateway: str) -> None:
    """Namespace + veth: eth0 in the guest, vif<short>.0 on the host's xenbr0."""
    vif = _vif(spec.vm_id)
    if net.netns_exists(host.netns):
        _unplug_vif(host.netns, spec.vm_id)
    net.ip_batch([
        f"netns add {node.netns}",
        f"link add name {vif} netns {host.netns} type veth peer name eth0 netns {node.netns}",
    ], what=f"guest {spec.name}: namespace and vif")
    net.ip_batch([f"link set {vif} addrgenmode none", f"link set {vif} master xenbr0 up"],
                 netns=host.netns, what=f"guest {spec.name}: plug {vif} into {spec.host_name}/xenbr0")
    net.ip_batch([
        "link set lo up",
        "link set eth0 addrgenmode none",
        f"link set eth0 address {net.mac_for(spec.ip)}",
        f"addr add {spec.ip}/24 dev eth0",
        "link set eth0 up",
        f"route add default via {gateway}",
    ], netns=node.netns, what=f"guest {spec.name}: network")
    _announce(node, gateway)


def _announce(node: Node, gateway: str) -> None:
    """One frame from the guest, so every bridge on its path learns where its MAC now is.

    A VM that comes back on another host (a migration, a restart elsewhere) keeps its address and
    MAC; the bridges still send its frames towards the old host until they see it speak (a Xen host
    sends a gratuitous ARP after a migration for the same reason). A datagram to the gateway's
    discard port makes the guest ARP for the gateway: a broadcast from its MAC, learnt everywhere."""
    net.run(["ip", "netns", "exec", node.netns, "bash", "-c", f"echo -n cloudgate > /dev/udp/{gateway}/9"],
            what=f"guest {node.name}: announce its MAC", check=False, timeout=5)


def services_for_template(spec: GuestSpec) -> dict[str, list[str]]:
    """The units the template runs once its sshd is up: `cassandra` (the CQL node) for the "cassandra" template."""
    command = node_command_for(spec.name, spec.template)
    return {CASSANDRA_UNIT: command} if command else {}


def start_service(node: Node, unit: str, argv: list[str]) -> None:
    """Record `unit` in the guest's state (so its `systemctl` can stop and start it), then start it.

    Its process runs detached in the guest's namespaces and is killed with the guest. The lab's
    CLOUDGATE_CQL_* tuning variables go with the unit, so a restart over SSH runs the same node."""
    env = {k: v for k, v in os.environ.items() if k.startswith("CLOUDGATE_CQL_")}
    description = UNIT_DESCRIPTIONS.get(unit) or frontboot.UNIT_DESCRIPTIONS.get(unit, unit)

    def record(state: dict[str, Any]) -> None:
        entry: dict[str, Any] = {"argv": list(argv), "env": env, "description": description}
        if unit in frontboot.UNIT_PIDFILES:
            entry["pidfile"] = frontboot.UNIT_PIDFILES[unit]
        state.setdefault("services", {})[unit] = entry

    hosts.update_state(node, record)
    hosts.node_spawn_detached(node, argv, what=f"start {unit}")


def _boot_front(spec: GuestSpec, node: Node) -> None:
    """A front VM's daemons (haproxy + keepalived, or Apache + PHP-FPM + the C++ responder), from the plan."""
    boot = frontboot.boot_for(spec.name, spec.template, node.dir)
    if boot is None:
        return
    hosts.node_exec(node, ["sh", "-c", boot.shell_script()], what="front tier: run dirs and configuration binds")
    for unit, argv in boot.units:
        start_service(node, unit, list(argv))


# -- driver API --------------------------------------------------------------------------------------


def start_guest(spec: GuestSpec) -> None:
    """Boot `spec` on its host and return when its sshd answers (~0.2 s). Restarting a running vm_id
    with the same spec is a no-op; with a different spec it is replaced."""
    node = guest_node(spec.vm_id, spec.name, spec.ip)
    if net.netns_exists(node.netns):
        if _spec_of(node.dir) == asdict(spec) and hosts.anchor_pid(node) is not None:
            return
        stop_guest(spec.vm_id, forced=True)
    host = hosts.host_node(spec.host_name)
    status = hosts.host_status(spec.host_name)
    if status == "Down":
        raise LabError(f"guest {spec.name}: host {spec.host_name} is Down, cannot start {spec.vm_id}")
    gateway = hosts.read_state(host.state_file)["gateway"]
    try:
        _prepare(spec, node, gateway)
        hosts.generate_host_keys([node])
        _plug(spec, node, host, gateway)
        hosts.spawn_node(node).wait(timeout=10)
        hosts.wait_nodes([node], timeout=BOOT_TIMEOUT)
        for unit, argv in services_for_template(spec).items():
            start_service(node, unit, argv)
        _boot_front(spec, node)
    except BaseException:
        stop_guest(spec.vm_id, forced=True)
        raise


def _cut_link(node: Node, host: Node | None, vm_id: str) -> None:
    """Pull the cable before the guest dies: its eth0 down (no route left, nothing is sent) and the
    host-side vif down (nothing crosses the veth either way). check=False: a half-gone guest is fine."""
    net.run(["ip", "-n", node.netns, "link", "set", "eth0", "down"], what=f"guest {node.name}: cut eth0",
            check=False, timeout=5)
    if host is not None and net.netns_exists(host.netns):
        net.run(["ip", "-n", host.netns, "link", "set", _vif(vm_id), "down"], what=f"guest {node.name}: cut vif",
                check=False, timeout=5)


def _shut_down(node: Node, timeout: float = GRACEFUL_STOP_SECONDS) -> bool:
    """SIGTERM every process of the guest and wait (bounded) until none is left; True if they all went."""
    net.kill_pids(net.netns_pids(node.netns), signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in net.netns_pids(node.netns) if net.is_alive(p)]
        if not alive:
            return True
        if time.monotonic() > deadline:
            return False
        net.kill_pids(alive, signal.SIGTERM)  # a child forked after the first round (an sshd session)
        time.sleep(0.02)


def _remove_netns(name: str) -> None:
    """delete_netns, tolerating a concurrent stop of the same guest (host monitor vs power-off)."""
    try:
        net.delete_netns([name])
    except LabError:
        if net.netns_exists(name):
            raise


def stop_guest(vm_id: str, forced: bool = False) -> None:
    """Stop the guest, then remove its namespace, its vif and its files. Idempotent.

    forced=False: a clean shutdown (SIGTERM, at most GRACEFUL_STOP_SECONDS, then SIGKILL): peers see
    its connections close. forced=True: its link is cut first, then everything is killed: silent.
    """
    node = guest_node(vm_id)
    spec = _spec_of(node.dir)
    host = hosts.host_node(spec["host_name"]) if spec is not None else None
    if net.netns_exists(node.netns):
        if forced:
            _cut_link(node, host, vm_id)
        else:
            _shut_down(node)
    _remove_netns(node.netns)
    if host is not None and net.netns_exists(host.netns):
        _unplug_vif(host.netns, vm_id)
    shutil.rmtree(node.dir, ignore_errors=True)


def stop_guests_on_host(host_name: str, forced: bool = True) -> list[str]:
    """Stop every guest placed on `host_name` (power-off: forced, silent); returns their vm ids."""
    stopped = []
    for _node, spec in _known_guests():
        if spec["host_name"] == host_name:
            stop_guest(spec["vm_id"], forced=forced)
            stopped.append(spec["vm_id"])
    return stopped


def stop_all_guests() -> None:
    """Teardown: every cg-vm-* namespace (found by prefix, so also a crashed lab's) and guests_dir()."""
    net.delete_netns(net.list_netns(GUEST_NETNS_PREFIX))
    shutil.rmtree(paths.guests_dir(), ignore_errors=True)


def host_status(host_name: str) -> str:
    return hosts.host_status(host_name)


class NamespaceGuestDriver:
    """The GuestDriver the simulator uses in the lab (cloudgate_lab.cloudstack.driver.GuestDriver)."""

    def start_guest(self, spec: GuestSpec) -> None:
        start_guest(spec)

    def stop_guest(self, vm_id: str, forced: bool = False) -> None:
        stop_guest(vm_id, forced=forced)

    def host_status(self, host_name: str) -> str:
        return host_status(host_name)


def driver_for(topology: object) -> NamespaceGuestDriver:
    """Factory the simulator's `--guest-driver cloudgate_lab.guests:driver_for` calls with the topology."""
    return NamespaceGuestDriver()
