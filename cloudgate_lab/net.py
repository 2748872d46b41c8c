"""The lab's network: one bridge per datacenter, and the `cg-wan` router namespace between them.

Shape (addresses from `cloudgate_lab.topology`):

    root namespace                          cg-wan (router, forwarding on *in this namespace only*)
    cgdc1 198.18.1.254/24 ── cgw1 ═══ wan1 198.18.1.1/24 ─┐
    cgdc2 198.18.2.254/24 ── cgw2 ═══ wan2 198.18.2.1/24 ─┘  FORWARD -> CG-PARTITION (DROPs = partitions)

Hosts hang off their datacenter's bridge (see `hosts.py`) with a default route via the `.1` gateway, so
traffic between datacenters crosses `cg-wan`; the root namespace reaches every datacenter directly on
its own bridges and never forwards (its ip_forward, routes and iptables are left alone). A datacenter
partition is therefore a pair of DROP rules inside `cg-wan`, and healing is flushing one chain.

Every name starts with `cg-` (namespaces), `cgdc` (bridges) or `cgw`/`cgv` (root-side veth ends), so
`teardown_network()` finds everything by prefix and also cleans up after a crashed or killed lab.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from cloudgate_lab import paths
from cloudgate_lab.topology import NETNS_PREFIX, WAN_NETNS, LabDatacenter, LabTopology

ROOT_LINK_PREFIXES = ("cgdc", "cgw", "cgv")
PARTITION_CHAIN = "CG-PARTITION"
NETNS_DIR = Path("/run/netns")


class LabError(RuntimeError):
    """A lab build/teardown step failed; the message names the node and the command."""


def run(
    argv: Sequence[str],
    *,
    what: str,
    timeout: float = 15.0,
    input: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command with a timeout; on failure raise LabError('<what>: `<cmd>` failed: <stderr line>')."""
    cmd = " ".join(argv)
    try:
        proc = subprocess.run(list(argv), input=input, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise LabError(f"{what}: `{cmd}` timed out after {timeout:g}s") from None
    except FileNotFoundError:
        raise LabError(f"{what}: `{cmd}` failed: {argv[0]} not found") from None
    if check and proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"{what}: `{cmd}` failed (rc {proc.returncode}): {err[-1] if err else 'no output'}")
    return proc


def ip_batch(commands: Iterable[str], *, what: str, netns: str | None = None, timeout: float = 15.0) -> None:
    """Run many `ip` commands in one process (`ip -batch -`): ~1 ms per command instead of ~5 ms."""
    lines = [c for c in commands if c]
    if not lines:
        return
    argv = ["ip", *(["-n", netns] if netns else []), "-batch", "-"]
    run(argv, what=what, input="\n".join(lines) + "\n", timeout=timeout)


def netns_exec(netns: str, argv: Sequence[str], *, what: str, timeout: float = 15.0,
               check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["ip", "netns", "exec", netns, *argv], what=what, timeout=timeout, check=check)


# -- discovery ---------------------------------------------------------------------------------------


def list_netns(prefix: str = NETNS_PREFIX) -> list[str]:
    """Names of the lab's network namespaces (read from /run/netns: no subprocess, works mid-crash)."""
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def list_root_links(prefixes: Sequence[str] = ROOT_LINK_PREFIXES) -> list[str]:
    """Root-namespace interfaces the lab made (bridges and veth ends), found by name prefix."""
    try:
        names = os.listdir("/sys/class/net")
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(tuple(prefixes)))


def netns_pids(name: str) -> list[int]:
    """PIDs whose network namespace is `name` (what `ip netns pids` does, without a subprocess)."""
    try:
        target = os.stat(NETNS_DIR / name)
    except FileNotFoundError:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            pids.append(int(entry))
    return pids


def kill_netns_processes(names: Iterable[str], *, timeout: float = 5.0) -> None:
    """SIGKILL every process living in the given namespaces and wait until they are gone.

    Needed before `ip netns del`: deleting only removes the name, and an sshd left inside would keep
    an invisible namespace (and its mounts) alive.
    """
    names = list(names)
    kill_pids(p for n in names for p in netns_pids(n))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for n in names for p in netns_pids(n) if is_alive(p)]
        if not alive:
            return
        kill_pids(alive)
        time.sleep(0.02)
    raise LabError(f"processes still running in namespace(s) {', '.join(names)} after {timeout:g}s")


def kill_pids(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def is_alive(pid: int) -> bool:
    """True unless the process is gone or a zombie (a zombie has already left its namespaces)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def delete_netns(names: Iterable[str]) -> None:
    """Kill what runs inside, then remove the namespaces (their veth pairs go with them)."""
    names = [n for n in names if netns_exists(n)]
    if not names:
        return
    kill_netns_processes(names)
    ip_batch((f"netns del {n}" for n in names), what=f"delete namespaces {', '.join(names)}")


# -- build / teardown --------------------------------------------------------------------------------


def mac_for(ip: str) -> str:
    """A locally administered MAC derived from the address: a node rebuilt with the same address keeps
    its MAC, so neighbour caches (root namespace, cg-wan, other hosts) never point at a dead one."""
    return "02:00:" + ":".join(f"{int(o):02x}" for o in ip.split("."))


def wan_leg(dc: LabDatacenter) -> str:
    """Name of cg-wan's interface on datacenter `dc` (inside cg-wan)."""
    return f"wan{dc.index}"


def build_network(topology: LabTopology) -> None:
    """Create the datacenter bridges and the cg-wan router; idempotent only after teardown_network()."""
    leftovers = list_root_links() + list_netns(WAN_NETNS)
    if leftovers:
        raise LabError(f"lab network: leftovers from an earlier lab ({', '.join(leftovers)}); run `cloudgate lab down`")
    root: list[str] = [f"netns add {WAN_NETNS}"]
    wan: list[str] = ["link set lo up"]
    for dc in topology.datacenters:
        veth, leg = f"cgw{dc.index}", wan_leg(dc)
        # A fleet-size lab pins the MACs its permanent neighbour entries name (hosts.py _host_network).
        bridge_mac = f" address {mac_for(dc.hosts_root_ip)}" if dc.fleet_addressing else ""
        leg_mac = f" address {mac_for(dc.hosts_gateway)}" if dc.fleet_addressing else ""
        root += [
            f"link add {dc.bridge}{bridge_mac} type bridge",
            f"link set {dc.bridge} addrgenmode none",
            f"addr add {dc.root_ip}/24 dev {dc.bridge}",
            *([f"addr add {dc.hosts_root_ip}/{dc.host_prefix} dev {dc.bridge}"] if dc.fleet_addressing else []),
            f"link set {dc.bridge} up",
            f"link add {veth} type veth peer name {leg}{leg_mac} netns {WAN_NETNS}",
            f"link set {veth} addrgenmode none",
            f"link set {veth} master {dc.bridge} up",
        ]
        wan += [f"link set {leg} addrgenmode none", f"addr add {dc.gateway}/24 dev {leg}", f"link set {leg} up"]
        if dc.fleet_addressing:  # a fleet-size lab's hosts live in the DC's /18 of 198.19.0.0/16 (topology.py)
            wan.append(f"addr add {dc.hosts_gateway}/{dc.host_prefix} dev {leg}")
    ip_batch(root, what="lab network (root namespace)")
    ip_batch(wan, what=f"lab network ({WAN_NETNS})", netns=WAN_NETNS)
    netns_exec(WAN_NETNS, ["sysctl", "-qw", "net.ipv4.ip_forward=1"], what=f"{WAN_NETNS}: enable forwarding")
    rules = f"*filter\n:{PARTITION_CHAIN} - [0:0]\n-A FORWARD -j {PARTITION_CHAIN}\nCOMMIT\n"
    run(["ip", "netns", "exec", WAN_NETNS, "iptables-restore", "--noflush"], input=rules,
        what=f"{WAN_NETNS}: partition chain")


def teardown_network() -> None:
    """Remove cg-wan and every root-namespace link named cgdc*/cgw*/cgv* (works after a crash too)."""
    delete_netns(list_netns(WAN_NETNS))
    delete_root_links(ROOT_LINK_PREFIXES)


def delete_root_links(prefixes: Sequence[str], timeout: float = 10.0) -> None:
    """Delete root-namespace links by prefix and wait until they are gone.

    A deleted namespace takes its veth ends with it, but asynchronously (the kernel's netns cleanup
    worker), so a link listed here may vanish under us: `ip -force` keeps going, and we then poll.
    """
    deadline = time.monotonic() + timeout
    while links := list_root_links(prefixes):
        if time.monotonic() > deadline:
            raise LabError(f"lab network teardown: links still present after {timeout:g}s: {', '.join(links)}")
        run(["ip", "-force", "-batch", "-"], input="".join(f"link del {n}\n" for n in links),
            what="lab network teardown", check=False, timeout=30)
        if list_root_links(prefixes):
            time.sleep(0.05)


# -- partitions --------------------------------------------------------------------------------------


def _topology(topology: LabTopology | None) -> LabTopology:
    return topology if topology is not None else LabTopology.load(paths.topology_file())


def _dc(topology: LabTopology, name: str) -> LabDatacenter:
    for dc in topology.datacenters:
        if name in (dc.name, dc.zone):
            return dc
    raise LabError(f"partition: no datacenter named {name!r} (known: {', '.join(d.name for d in topology.datacenters)})")


def _iptables(args: Sequence[str], *, what: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return netns_exec(WAN_NETNS, ["iptables", "-w", "5", *args], what=what, check=check)


def partition(dc_a: str, dc_b: str, topology: LabTopology | None = None) -> None:
    """Cut traffic between two datacenters (both directions) with DROP rules inside cg-wan. Idempotent."""
    topo = _topology(topology)
    a, b = wan_leg(_dc(topo, dc_a)), wan_leg(_dc(topo, dc_b))
    for src, dst in ((a, b), (b, a)):
        rule = ["-i", src, "-o", dst, "-j", "DROP"]
        what = f"partition {dc_a}/{dc_b}"
        if _iptables(["-C", PARTITION_CHAIN, *rule], what=what, check=False).returncode != 0:
            _iptables(["-A", PARTITION_CHAIN, *rule], what=what)


def heal(topology: LabTopology | None = None) -> None:
    """Remove every datacenter partition (flush the CG-PARTITION chain in cg-wan)."""
    del topology  # accepted for symmetry with partition(); the chain holds all partitions
    if netns_exists(WAN_NETNS):
        _iptables(["-F", PARTITION_CHAIN], what="heal partitions")


def partitions(topology: LabTopology | None = None) -> list[tuple[str, str]]:
    """Current partitions as (dc, dc) pairs, for `lab status`."""
    if not netns_exists(WAN_NETNS):
        return []
    topo = _topology(topology)
    by_leg = {wan_leg(dc): dc.name for dc in topo.datacenters}
    out = _iptables(["-S", PARTITION_CHAIN], what="list partitions").stdout
    pairs: set[tuple[str, str]] = set()
    for line in out.splitlines():
        parts = line.split()
        if "-i" in parts and "-o" in parts:
            src, dst = parts[parts.index("-i") + 1], parts[parts.index("-o") + 1]
            if src in by_leg and dst in by_leg:
                pairs.add(tuple(sorted((by_leg[src], by_leg[dst]))))  # type: ignore[arg-type]
    return sorted(pairs)
