"""Faults of a lab host (or guest), injected the way they would show on real hardware.

Most faults only edit the node's state.json: the stand-in commands render from it at call time, so
the next SSH command shows the fault (no restart). Each such fault is a set of state changes; applying
one saves the previous values under state["saved"][fault], and clearing restores exactly those, so
faults can be stacked and cleared in any order. A few also act on the node itself:

* fio-driver-missing removes /sys/module/iomemory_vsl (a fake tree) and the /dev/fioa node;
* sshd-down stops the listening sshd (open sessions survive, as with `systemctl stop sshd`);
* power-off is silent, as pulling a server's power is: the uplink goes down *first* (the guests'
  traffic leaves through it too), then the guests are stopped forced and every sshd killed, so no
  FIN or RST reaches a peer; SYNs go unanswered and CloudStack sees the host Down;
* ssh-hang replaces sshd by a listener that accepts and never sends the SSH banner;
* cassandra-stopped runs the guest's own `systemctl stop cassandra` (clean: the VM still answers SSH);
  cassandra-paused sends SIGSTOP to the node's process (silent: its port still accepts connections,
  nothing answers, peers notice only by their own timeouts). Their clearing starts or resumes the
  node and waits until every peer sees it Up again, so the next test finds a whole ring.

`FAULTS` maps each fault name to a one-line description (the lab CLI lists it).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudgate_lab import guests, hosts, net, paths
from cloudgate_lab.clusterfile import cluster_nodes
from cloudgate_lab.hosts import Node
from cloudgate_lab.net import LabError
from cloudgate_lab.standins import STANDINS_DIR
from cloudgate_lab.topology import LabTopology

Changes = dict[str, Any]  # dotted state path -> new value


@dataclass(frozen=True)
class _Fault:
    description: str
    changes: Callable[[dict[str, Any]], Changes]  # params -> state changes
    kinds: tuple[str, ...] = ("host",)
    on_apply: Callable[[Node], None] | None = None
    on_clear: Callable[[Node], None] | None = None
    params: dict[str, str] = field(default_factory=dict)


# -- side effects ------------------------------------------------------------------------------------


def _sync_fio_files(node: Node) -> None:
    """Make /sys/module/iomemory_vsl and /dev/fioa agree with state['fio']['module_loaded']."""
    state = hosts.read_state(node.state_file)
    hosts.render_sysmodule(node, state)
    if state["fio"].get("module_loaded"):
        major = hosts.fioa_major()
        hosts.node_exec(node, ["/bin/sh", "-c", f"[ -e /dev/fioa ] || mknod -m 660 /dev/fioa b {major} 0"],
                        what="create /dev/fioa")
    else:
        hosts.node_exec(node, ["rm", "-f", "/dev/fioa"], what="remove /dev/fioa")


def _sshd_wanted(node: Node) -> bool:
    state = hosts.read_state(node.state_file)
    return state.get("powered", True) and state.get("sshd_up", True) and not state.get("ssh_hang", False)


def _restart_sshd_if_wanted(node: Node) -> None:
    if _sshd_wanted(node):
        hosts.start_sshd(node)


def _stop_sshd(node: Node) -> None:
    hosts.stop_sshd(node)


def _power_off(node: Node) -> None:
    """Silent: link down before anything dies, so the dying sockets' FIN/RST cannot leave the host."""
    net.run(["ip", "-n", node.netns, "link", "set", "eth0", "down"], what=f"{node.name}: power off (link down)")
    if node.kind == "host":
        guests.stop_guests_on_host(node.name, forced=True)
    _stop_hang(node)
    hosts.stop_sshd(node, sessions=True)


def _power_on(node: Node) -> None:
    net.run(["ip", "-n", node.netns, "link", "set", "eth0", "up"], what=f"{node.name}: power on (link up)")
    if hosts.read_state(node.state_file).get("ssh_hang"):
        _start_hang(node)
    _restart_sshd_if_wanted(node)


def _hang_pidfile(node: Node) -> Any:
    return node.dir / "hang.pid"


def _start_hang(node: Node) -> None:
    hosts.stop_sshd(node)
    pidfile = _hang_pidfile(node)
    pidfile.unlink(missing_ok=True)
    hosts.node_spawn_detached(
        node, [hosts.python_for_standins(), "-IS", str(STANDINS_DIR / "hang.py"), node.ip, "22", str(pidfile)],
        what="start the ssh-hang listener",
    )
    hosts.wait_ssh_port(node.ip, banner=False, timeout=5)


def _stop_hang(node: Node) -> None:
    pidfile = _hang_pidfile(node)
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(pidfile.read_text().split()[0])
        if pid in net.netns_pids(node.netns):
            hosts.kill_and_wait([pid])
    pidfile.unlink(missing_ok=True)


def _clear_hang(node: Node) -> None:
    _stop_hang(node)
    _restart_sshd_if_wanted(node)


CASSANDRA_BACK_SECONDS = 30.0  # a node started or resumed answers CQL and is seen Up by its peers within this


def _cassandra_pids(node: Node) -> list[int]:
    """The guest's Cassandra process(es): its netns's processes with exactly the unit's command line."""
    unit = hosts.read_state(node.state_file).get("services", {}).get(guests.CASSANDRA_UNIT)
    if not unit:
        raise LabError(f"{node.name}: no {guests.CASSANDRA_UNIT} service in this guest")
    want = ("\0".join(unit["argv"]) + "\0").encode()
    found = []
    for pid in net.netns_pids(node.netns):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes() == want:
                found.append(pid)
    return found


def _guest_systemctl(node: Node, action: str) -> None:
    hosts.node_exec(node, [str(node.dir / "bin" / "systemctl"), action, guests.CASSANDRA_UNIT],
                    what=f"systemctl {action} {guests.CASSANDRA_UNIT}", timeout=60)


def _signal_cassandra(node: Node, sig: signal.Signals) -> None:
    pids = _cassandra_pids(node)
    if not pids:
        raise LabError(f"{node.name}: the {guests.CASSANDRA_UNIT} process is not running")
    net.kill_pids(pids, sig)


def _wait_cassandra_back(node: Node) -> None:
    """Bounded: the node answers CQL and every other running node's gossip view has it Up."""
    from cloudgate.cassandra.cqlprobe import answers_cql

    me = next((n for n in cluster_nodes() if n["name"] == node.name), None)
    if me is None:
        return
    deadline = time.monotonic() + CASSANDRA_BACK_SECONDS
    while time.monotonic() < deadline:
        if answers_cql(me["address"], int(me.get("native_port", 9042))) and all(
                _sees_up(peer, node.name) for peer in cluster_nodes() if peer["name"] != node.name):
            return
        time.sleep(0.1)
    raise LabError(f"{node.name}: Cassandra not back (answering CQL, seen Up by its peers) "
                   f"within {CASSANDRA_BACK_SECONDS:g} s")


def _sees_up(peer: dict[str, Any], name: str) -> bool:
    try:
        view = json.loads((Path(peer["data_dir"]) / "status.json").read_text())
    except (OSError, ValueError):
        return True  # a peer that never ran has no view to wait for
    pid = int(view.get("pid") or 0)
    return not pid or not net.is_alive(pid) or bool(view.get("up", {}).get(name))


def _start_cassandra(node: Node) -> None:
    _guest_systemctl(node, "start")
    _wait_cassandra_back(node)


def _resume_cassandra(node: Node) -> None:
    with contextlib.suppress(LabError):  # a node stopped meanwhile has nothing to resume
        _signal_cassandra(node, signal.SIGCONT)
    _wait_cassandra_back(node)


def _render_guest(node: Node) -> None:
    guests.render_guest_files(node, hosts.read_state(node.state_file))


def _mount_data_dir_elsewhere(node: Node) -> None:
    """Stack a mount named after the root disk over the data directory (as when the flash card
    was not mounted at boot and Cassandra wrote to the root filesystem); idempotent."""
    source = shlex.quote(hosts.read_state(node.state_file)["data_dir_source"])
    hosts.node_exec(node, ["/bin/sh", "-c",
                           f'[ "$(findmnt -n -o SOURCE --target {guests.DATA_DIR} | tail -n 1)" = {source} ] || '
                           f"mount -t tmpfs -o mode=750,size=16m {source} {guests.DATA_DIR}"],
                    what="mount the data directory off the flash device")


def _restore_data_dir(node: Node) -> None:
    """Pop every mount stacked over the boot-time one (the flash device)."""
    device = shlex.quote(hosts.read_state(node.state_file).get("data_device", guests.DATA_DEVICE))
    hosts.node_exec(node, ["/bin/sh", "-c",
                           f'while [ "$(findmnt -n -o SOURCE --target {guests.DATA_DIR} | tail -n 1)" != {device} ]; do '
                           f"umount {guests.DATA_DIR} || exit 1; done"],
                    what="put the data directory back on the flash device")


# -- the registry ------------------------------------------------------------------------------------

_FAULTS: dict[str, _Fault] = {
    "fio-driver-missing": _Fault(
        "Fusion-io driver unloaded: lsmod and /sys/module lose iomemory_vsl, fio-status says driver not loaded, /dev/fioa gone",
        lambda p: {"fio.module_loaded": False},
        on_apply=_sync_fio_files, on_clear=_sync_fio_files,
    ),
    "fio-degraded": _Fault(
        "flash card media degraded (fio-status Media status: Read-only; param status=Reduced-write)",
        lambda p: {"fio.media_status": p.get("status", "Read-only")},
        params={"status": "Read-only | Reduced-write"},
    ),
    "fio-hot": _Fault(
        "flash card too hot (Internal temperature 85 degC; param temperature=N)",
        lambda p: {"fio.temperature_c": float(p.get("temperature", 85.0)),
                   "fio.temperature_max_c": float(p.get("temperature", 85.0)) + 1.5},
        params={"temperature": "degC"},
    ),
    "fio-low-reserve": _Fault(
        "flash card reserve space low (Reserves: 5.00%, warn at 10.00%; param reserve=N)",
        lambda p: {"fio.reserve_percent": float(p.get("reserve", 5.0))},
        params={"reserve": "percent"},
    ),
    "xapi-down": _Fault(
        "Xen toolstack (xapi) not answering: `xe` commands fail with Connection refused",
        lambda p: {"agent": "down"},
    ),
    "fio-firmware-drift": _Fault(
        "flash card on another firmware than qualified (fio-status Firmware v7.1.13; param firmware=X.Y.Z)",
        lambda p: {"fio.firmware": p.get("firmware", "7.1.13")},
        params={"firmware": "version"},
    ),
    "wrong-kernel": _Fault(
        "host runs an unexpected kernel (uname -r 4.4.52-4.0.12; param kernel=RELEASE)",
        lambda p: {"kernel": p.get("kernel", "4.4.52-4.0.12")},
        kinds=("host", "guest"), params={"kernel": "release string"},
    ),
    "ntp-unsync": _Fault(
        "clock not synchronised (chronyc tracking: Leap status Not synchronised, offset 12.5 s; param offset=S)",
        lambda p: {"ntp.synced": False, "ntp.offset_s": float(p.get("offset", 12.5))},
        kinds=("host", "guest"), params={"offset": "seconds"},
    ),
    "sshd-down": _Fault(
        "sshd stopped: new SSH connections are refused (host still Up for CloudStack)",
        lambda p: {"sshd_up": False},
        kinds=("host", "guest"), on_apply=_stop_sshd, on_clear=_restart_sshd_if_wanted,
    ),
    "power-off": _Fault(
        "host powered off, silently: its link goes down, then its guests and sshd die (host_status Down, "
        "SSH times out, open connections hang: no FIN/RST)",
        lambda p: {"powered": False},
        on_apply=_power_off, on_clear=_power_on,
    ),
    "agent-alert": _Fault(
        "hypervisor agent in alert: CloudStack reports the host Alert (sshd still up)",
        lambda p: {"agent": "alert"},
    ),
    "ssh-hang": _Fault(
        "sshd hangs: TCP connects but the SSH banner never comes (proves the suite times out)",
        lambda p: {"ssh_hang": True},
        kinds=("host", "guest"), on_apply=_start_hang, on_clear=_clear_hang,
    ),
    "swap-on": _Fault(
        "swap enabled: swapon --show lists a swap partition (Cassandra nodes must run without swap)",
        lambda p: {"swap": [{"name": p.get("device", "/dev/xvdb2"), "type": "partition", "size_kib": 4194304}]},
        kinds=("host", "guest"), params={"device": "path"},
    ),
    "thp-enabled": _Fault(
        "transparent huge pages 'always' (guest; /sys/kernel/mm/transparent_hugepage/enabled)",
        lambda p: {"thp": "always"},
        kinds=("guest",), on_apply=_render_guest, on_clear=_render_guest,
    ),
    "max-map-count-low": _Fault(
        "vm.max_map_count at the kernel default 65530 instead of 1048575 (guest)",
        lambda p: {"sysctl.vm.max_map_count": int(p.get("value", 65530))},
        kinds=("guest",), params={"value": "int"},
    ),
    "data-dir-off-flash": _Fault(
        "Cassandra data directory not on the flash device (guest: /var/lib/cassandra on /dev/xvda1; param device=PATH)",
        lambda p: {"data_dir_source": p.get("device", "/dev/xvda1")},
        kinds=("guest",), params={"device": "path"}, on_apply=_mount_data_dir_elsewhere, on_clear=_restore_data_dir,
    ),
    "cassandra-stopped": _Fault(
        "Cassandra service stopped cleanly (guest: `systemctl stop cassandra`; the VM answers SSH, CQL refused)",
        lambda p: {},
        kinds=("guest",), on_apply=lambda node: _guest_systemctl(node, "stop"), on_clear=_start_cassandra,
    ),
    "cassandra-paused": _Fault(
        "Cassandra process paused (guest: SIGSTOP): its port accepts connections and never answers; silent",
        lambda p: {},
        kinds=("guest",), on_apply=lambda node: _signal_cassandra(node, signal.SIGSTOP),
        on_clear=_resume_cassandra,
    ),
    "nofile-low": _Fault(
        "open-files limit too low (guest: ulimit -n 4096 instead of 100000)",
        lambda p: {"limits.nofile": int(p.get("value", 4096))},
        kinds=("guest",), params={"value": "int"},
    ),
}

FAULTS: dict[str, str] = {name: f.description for name, f in _FAULTS.items()}


# -- state paths -------------------------------------------------------------------------------------


def _split(path: str, state: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """'fio.temperature_c' -> (state['fio'], 'temperature_c'); 'sysctl.vm.max_map_count' keeps the key whole."""
    head, _, rest = path.partition(".")
    if rest and isinstance(state.get(head), dict):
        if head == "sysctl":
            return state[head], rest
        return _split(rest, state[head])
    return state, path


_MISSING = "__missing__"


def _get(state: dict[str, Any], path: str) -> Any:
    parent, key = _split(path, state)
    return parent.get(key, _MISSING)


def _set(state: dict[str, Any], path: str, value: Any) -> None:
    parent, key = _split(path, state)
    if value == _MISSING:
        parent.pop(key, None)
    else:
        parent[key] = value


# -- API ---------------------------------------------------------------------------------------------


def _node(topology: LabTopology | None, name: str) -> Node:
    """A host of the topology, else a running guest of that name (guest-side faults)."""
    if topology is not None:
        try:
            topology.host(name)
            return hosts.host_node(name)
        except KeyError:
            pass
    if (paths.hosts_dir() / name / "state.json").exists():
        return hosts.host_node(name)
    node = guests.guest_node_by_name(name)
    if node is None:
        raise LabError(f"fault: no lab host or running guest named {name!r}")
    return node


def _lookup(fault: str) -> _Fault:
    try:
        return _FAULTS[fault]
    except KeyError:
        raise LabError(f"unknown host fault {fault!r} (known: {', '.join(_FAULTS)})") from None


def check_params(fault: str, params: dict[str, str]) -> None:
    """An unknown fault, a parameter it does not take or a value it cannot use, refused before any host is
    touched (a parameter it does not take was silently ignored: the fault then ran with its default)."""
    spec = _lookup(fault)
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        takes = ", ".join(f"{k}=<{v}>" for k, v in spec.params.items()) or "no parameter"
        raise LabError(f"fault {fault}: --param {unknown[0]}={params[unknown[0]]}: not one of its parameters "
                       f"(it takes {takes})")
    try:
        spec.changes(params)
    except (TypeError, ValueError):
        bad = ", ".join(f"{k}={v}" for k, v in params.items())
        wants = ", ".join(f"{k}=<{v}>" for k, v in spec.params.items())
        raise LabError(f"fault {fault}: --param {bad}: not a value it takes ({wants})") from None


def apply_fault(topology: LabTopology | None, host_name: str, fault: str, **params: Any) -> None:
    """Inject `fault` on a host (or guest); applying an active fault again re-applies its new params."""
    spec = _lookup(fault)
    node = _node(topology, host_name)
    if node.kind not in spec.kinds:
        raise LabError(f"{host_name}: fault {fault} applies to {'/'.join(spec.kinds)}s, not to a {node.kind}")
    changes = spec.changes(params)

    def change(state: dict[str, Any]) -> None:
        saved = state.setdefault("saved", {})
        if fault not in saved:
            saved[fault] = {path: _get(state, path) for path in changes}
        for path, value in changes.items():
            _set(state, path, value)
        if fault not in state.setdefault("faults", []):
            state["faults"].append(fault)

    hosts.update_state(node, change)
    if spec.on_apply is not None:
        spec.on_apply(node)


def clear_fault(topology: LabTopology | None, host_name: str, fault: str) -> None:
    """Undo `fault` (restores the state values it changed); a no-op if it is not active."""
    spec = _lookup(fault)
    node = _node(topology, host_name)
    active = fault in hosts.read_state(node.state_file).get("faults", [])

    def change(state: dict[str, Any]) -> None:
        for path, value in state.get("saved", {}).pop(fault, {}).items():
            _set(state, path, value)
        if fault in state.get("faults", []):
            state["faults"].remove(fault)

    hosts.update_state(node, change)
    if active and spec.on_clear is not None:
        spec.on_clear(node)


def active_faults(topology: LabTopology | None, host_name: str) -> list[str]:
    return list(hosts.read_state(_node(topology, host_name).state_file).get("faults", []))


def clear_all(topology: LabTopology | None = None, host_name: str | None = None) -> None:
    """Clear every fault on one host/guest, or on every host and guest of the running lab."""
    if host_name is not None:
        names = [host_name]
    else:
        names = sorted(p.name for p in paths.hosts_dir().glob("*") if (p / "state.json").exists())
        names += [n.name for n in guests.running_guest_nodes()]
    for name in names:
        for fault in reversed(active_faults(topology, name)):
            clear_fault(topology, name, fault)


# -- the simulator's guest driver, with out-of-band power ---------------------------------------------
class PoweredGuestDriver(guests.NamespaceGuestDriver):
    """The lab's guest driver plus the hosts' power, for issueOutOfBandManagementPowerAction.

    Here and not in guests.py because power-off is a host fault (link down first: silent); the
    simulator loads this class by name (`--guest-driver cloudgate_lab.hostfaults:driver_for`), so no
    layer imports upwards."""

    def power_host(self, host_name: str, on: bool) -> None:
        if on:
            clear_fault(None, host_name, "power-off")
        else:
            apply_fault(None, host_name, "power-off")


def driver_for(topology: object) -> PoweredGuestDriver:
    return PoweredGuestDriver()
