"""The nemesis: faults injected through the cloud's own protocols, each heal in the ledger first.

A fault is only ever what an operator could do to a real preproduction cloud: CloudStack API calls
(stop a VM, power a host off through its out-of-band management, put a host in maintenance), SSH
commands on the Cassandra nodes (stop the Cassandra service; iptables rules that cut one datacenter
from the other), the target file's own command to stop the management server. The same code drives
the lab, whose guests and hosts answer the same calls.

Before each change the fault writes its undo to the run ledger (`stopped_vm`, `host_power_off`,
`host_maintenance`, `service_stopped`, `iptables_rule`, `management_server_stopped`:
cloudgate.undo), so whatever stops the drill —
Ctrl-C, an exception, `kill -9` — the run's safety net or `cloudgate janitor` heals it the same way
the drill would. `heal` undoes in reverse order and returns what it could not restore, each line
saying how to restore it; those entries stay pending in the ledger.

Which VM, host or datacenter to break is chosen from the estate snapshot by pure functions
(`most_loaded_host`, `nodes_of_dc`), so the choice is explained and unit-tested.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cloudgate.cloudstack.client import CloudStackClient, CloudStackError
from cloudgate.estate import CassandraNode, EstateSnapshot, VmRecord
from cloudgate.ledger import Entry, Ledger
from cloudgate.target import CassandraServiceControl, ManagementServerControl, Target
from cloudgate.undo import Undoer, UndoError


class NemesisError(Exception):
    """A fault could not be injected; str() is one line."""


@dataclass
class FaultContext:
    """What every fault needs: the cloud (mutations allowed), the target, the ledger and its undoer."""

    client: CloudStackClient
    target: Target
    ledger: Ledger
    undoer: Undoer
    scope: str = ""
    job_timeout: float = 180.0


@dataclass
class Fault:
    """One fault: what it breaks (for the history's meta), how to inject it; heal = undo its entries."""

    kind: str
    description: str
    dcs_down: tuple[str, ...] = ()
    nodes_down: tuple[str, ...] = ()  # Cassandra node addresses it takes away (for hints and quorum)
    entries: list[Entry] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        return {"kind": self.kind, "description": self.description, "dcs_down": list(self.dcs_down),
                "nodes_down": list(self.nodes_down)}

    def inject(self, ctx: FaultContext) -> None:
        raise NotImplementedError

    def intend(self, ctx: FaultContext, kind: str, name: str, attrs: dict[str, Any], undo: dict[str, Any]) -> Entry:
        entry = ctx.ledger.intend(kind, name, scope=ctx.scope, attrs=attrs, undo=undo)
        self.entries.append(entry)
        return entry

    def intend_stopped_vm(self, ctx: FaultContext, node: CassandraNode) -> Entry:
        """A Cassandra VM this fault stops: started again, on the host it ran on, by the heal."""
        return self.intend(ctx, "stopped_vm", node.vm or node.address,
                           {"vm_id": node.vm_id, "host_id": node.host_id, "address": node.address},
                           {"action": "startVirtualMachine", "id": node.vm_id, "hostid": node.host_id})

    def heal(self, ctx: FaultContext) -> list[str]:
        """Undo every entry, last first; return one line per thing still broken (left in the ledger)."""
        problems = []
        for entry in reversed(self.entries):
            if entry.undone:
                continue
            try:
                how = ctx.undoer.undo(entry)
            except UndoError as exc:
                problems.append(f"still broken: {exc} — it stays in the ledger {entry.path}; "
                                f"`cloudgate janitor --target <target file>` restores it")
                continue
            ctx.ledger.undone(entry, how)
        return problems


def _submit(ctx: FaultContext, command: str, **params: Any) -> str:
    """An async command sent without waiting (so several VMs stop at the same instant); its job id."""
    answer = ctx.client.call(command, **params)
    jobid = answer.get("jobid")
    if not jobid:
        raise NemesisError(f"{command} returned no job id")
    return str(jobid)


# --------------------------------------------------------------------------- VMs
@dataclass
class VmStop(Fault):
    """Force-stop Cassandra VMs through CloudStack (silent, like pulling the plug on the VM)."""

    vms: tuple[CassandraNode, ...] = ()
    forced: bool = True

    def inject(self, ctx: FaultContext) -> None:
        jobs: list[tuple[Entry, str]] = []
        for node in self.vms:
            entry = self.intend_stopped_vm(ctx, node)
            try:
                jobs.append((entry, _submit(ctx, "stopVirtualMachine", id=node.vm_id, forced=self.forced)))
            except CloudStackError as exc:
                ctx.ledger.settled(entry, str(exc))
                raise NemesisError(f"stopVirtualMachine {node.vm}: {exc}") from None
        for entry, jobid in jobs:
            try:
                ctx.client.wait_job(jobid, timeout=ctx.job_timeout)
            except CloudStackError as exc:
                ctx.ledger.settled(entry, str(exc))
                raise NemesisError(f"stopVirtualMachine {entry.name}: {exc}") from None
            ctx.ledger.created(entry, str(entry.attrs["vm_id"]), jobid)


def vm_loss(estate: EstateSnapshot, dc: str) -> VmStop:
    """One Cassandra VM of `dc` force-stopped: the first by address, so runs are comparable."""
    nodes = nodes_of_dc(estate, dc)
    if not nodes:
        raise NemesisError(f"no Cassandra VM of {dc} is known to CloudStack (estate snapshot)")
    node = nodes[0]
    return VmStop("vm_loss", f"force-stop Cassandra VM {node.vm} ({node.address}, on {node.host})",
                  nodes_down=(node.address,), vms=(node,))


def dc_loss(estate: EstateSnapshot, dc: str) -> VmStop:
    """Every Cassandra VM of `dc` force-stopped at once."""
    nodes = nodes_of_dc(estate, dc)
    if not nodes:
        raise NemesisError(f"no Cassandra VM of {dc} is known to CloudStack (estate snapshot)")
    return VmStop("dc_loss", f"force-stop every Cassandra VM of {dc} ({', '.join(str(n.vm) for n in nodes)})",
                  dcs_down=(dc,), nodes_down=tuple(n.address for n in nodes), vms=tuple(nodes))


def nodes_of_dc(estate: EstateSnapshot, dc: str) -> list[CassandraNode]:
    """The Cassandra nodes of `dc` whose VM CloudStack knows, by address."""
    if estate.cassandra is None:
        return []
    return sorted((n for n in estate.cassandra.nodes if n.datacenter == dc and n.vm_id), key=lambda n: n.address)


# --------------------------------------------------------------------------- hosts
def replicas_per_host(estate: EstateSnapshot) -> Counter[str]:
    """Physical host id -> replicas (token range x replica) its Cassandra VMs hold."""
    cass = estate.cassandra
    counts: Counter[str] = Counter()
    if cass is None or cass.ring is None:
        return counts
    host_of = {n.address: n.host_id for n in cass.nodes if n.host_id}
    for rng in cass.ring.ranges:
        for address in rng.replicas:
            if address in host_of:
                counts[str(host_of[address])] += 1
    return counts


def most_loaded_host(estate: EstateSnapshot) -> tuple[str, str, int]:
    """(host id, host name, replicas) of the host holding the most replicas; ties by name."""
    counts = replicas_per_host(estate)
    if not counts:
        raise NemesisError("no physical host holds a known Cassandra replica (estate snapshot has no ring or no hosts)")
    names = {h.id: h.name for h in estate.hosts}
    host_id = min(counts, key=lambda h: (-counts[h], names.get(h, h)))
    return host_id, names.get(host_id, host_id), counts[host_id]


@dataclass
class HostPowerOff(Fault):
    """Power a physical host off through CloudStack's out-of-band management (IPMI/iLO): silent."""

    host_id: str = ""
    host_name: str = ""
    vms: tuple[CassandraNode, ...] = ()  # its Cassandra VMs: started again after the power comes back
    others: tuple[VmRecord, ...] = ()  # every other VM running on it (front ends...): started again too

    def inject(self, ctx: FaultContext) -> None:
        # the VMs first in the ledger, the host last: healing last-first powers the host on, then starts them
        for node in self.vms:
            entry = self.intend_stopped_vm(ctx, node)
            ctx.ledger.created(entry, str(node.vm_id))
        for vm in self.others:
            entry = self.intend(ctx, "stopped_vm", vm.name,
                                {"vm_id": vm.id, "host_id": vm.host_id, "address": vm.ips[0] if vm.ips else ""},
                                {"action": "startVirtualMachine", "id": vm.id, "hostid": vm.host_id})
            ctx.ledger.created(entry, vm.id)
        entry = self.intend(ctx, "host_power_off", self.host_name, {"host_id": self.host_id},
                            {"action": "issueOutOfBandManagementPowerAction", "hostid": self.host_id, "power": "ON"})
        try:
            ctx.client.call("issueOutOfBandManagementPowerAction", hostid=self.host_id, action="OFF", fetch_result=True)
        except CloudStackError as exc:
            ctx.ledger.settled(entry, str(exc))
            raise NemesisError(f"power off {self.host_name}: {exc}") from None
        ctx.ledger.created(entry, self.host_id)
        _wait_vms_stopped(ctx, self.vms)


def _wait_vms_stopped(ctx: FaultContext, vms: tuple[CassandraNode, ...], timeout: float = 120.0) -> None:
    """After a power loss CloudStack marks the host's VMs Stopped once it has investigated; wait for it."""
    deadline = time.monotonic() + timeout
    pending = {str(n.vm_id) for n in vms}
    while pending and time.monotonic() < deadline:
        for vm_id in list(pending):
            listed = ctx.client.list("listVirtualMachines", id=vm_id, listall=True)
            if not listed or listed[0].get("state") in ("Stopped", "Destroyed", "Expunging"):
                pending.discard(vm_id)
        if pending:
            time.sleep(1.0)


def host_loss(estate: EstateSnapshot) -> HostPowerOff:
    host_id, host_name, replicas = most_loaded_host(estate)
    assert estate.cassandra is not None
    nodes = tuple(sorted((n for n in estate.cassandra.nodes if n.host_id == host_id), key=lambda n: n.address))
    theirs = {str(n.vm_id) for n in nodes}
    # a powered-off host takes every VM on it down: the heal starts them all again, not only Cassandra's
    others = tuple(sorted((v for v in estate.vms if v.host_id == host_id and v.state == "Running"
                           and v.id not in theirs), key=lambda v: v.name))
    also = f"; also on it: {', '.join(v.name for v in others)}" if others else ""
    return HostPowerOff(
        "host_loss", f"power off {host_name}, the host holding the most Cassandra replicas ({replicas}: "
        f"{', '.join(str(n.vm) for n in nodes)}{also})",
        nodes_down=tuple(n.address for n in nodes), host_id=host_id, host_name=host_name, vms=nodes, others=others)


@dataclass
class HostMaintenance(Fault):
    """Put a host in maintenance through CloudStack: its VMs are migrated away (live, in a real cloud)."""

    host_id: str = ""
    host_name: str = ""

    def inject(self, ctx: FaultContext) -> None:
        entry = self.intend(ctx, "host_maintenance", self.host_name, {"host_id": self.host_id},
                            {"action": "cancelHostMaintenance", "id": self.host_id})
        try:
            ctx.client.call("prepareHostForMaintenance", id=self.host_id, fetch_result=True)
        except CloudStackError as exc:
            ctx.ledger.settled(entry, str(exc))
            raise NemesisError(f"maintenance of {self.host_name}: {exc}") from None
        ctx.ledger.created(entry, self.host_id)


def host_maintenance(estate: EstateSnapshot) -> HostMaintenance:
    """Maintenance of the host holding the most Cassandra replicas (its VMs must move, anti-affinity kept)."""
    host_id, host_name, replicas = most_loaded_host(estate)
    return HostMaintenance("host_maintenance", f"maintenance of {host_name} ({replicas} Cassandra replicas on it)",
                           host_id=host_id, host_name=host_name)


# --------------------------------------------------------------------------- partitions
def drill_tag(run: str) -> str:
    """The iptables comment naming this run's rules (so a rule can always be traced to a run)."""
    return f"cloudgate-drill-{run}"[:250]


@dataclass
class Partition(Fault):
    """Cut datacenter A from datacenter B on A's Cassandra nodes: iptables DROP both ways (silent)."""

    side_a: tuple[CassandraNode, ...] = ()
    side_b: tuple[str, ...] = ()  # addresses A must no longer reach
    tag: str = "cloudgate-drill"
    ssh: Callable[[str, str], tuple[int, str]] | None = None  # (address, command) -> (rc, stderr); tests inject

    def rules(self) -> list[str]:
        out = []
        for peer in self.side_b:
            out.append(f"INPUT -s {peer} -j DROP -m comment --comment {self.tag}")
            out.append(f"OUTPUT -d {peer} -j DROP -m comment --comment {self.tag}")
        return out

    def inject(self, ctx: FaultContext) -> None:
        run_ssh = self.ssh or _ssh_runner(ctx.target)
        rules = self.rules()
        for node in self.side_a:
            entry = self.intend(ctx, "iptables_rule", node.vm or node.address, {"address": node.address, "rules": rules},
                                {"ssh": node.address, "iptables": [f"-D {r}" for r in rules]})
            command = " && ".join(f"iptables -w 5 -I {r}" for r in rules)
            rc, err = run_ssh(node.address, command)
            if rc != 0:
                ctx.ledger.settled(entry, err)
                raise NemesisError(f"iptables on {node.vm or node.address} exited {rc}: {err.strip()[:200]}")
            ctx.ledger.created(entry, node.address)


def _ssh_runner(target: Target, command_timeout: float = 0.0) -> Callable[[str, str], tuple[int, str]]:
    """(address, command) -> (rc, stderr) over the target's SSH settings; a longer command timeout if given."""
    from cloudgate.ssh.hosts import HostPool, HostUnreachable, SshSettings

    settings = SshSettings.from_target(target).at_least(command_timeout)

    def run(address: str, command: str) -> tuple[int, str]:
        pool = HostPool(settings)
        try:
            result = pool.get(address).run(command)
            return result.rc, result.stderr
        except HostUnreachable as exc:
            return 255, str(exc)
        finally:
            pool.close()

    return run


def partition(estate: EstateSnapshot, dc_a: str, dc_b: str, run: str) -> Partition:
    side_a = tuple(nodes_of_dc_any(estate, dc_a))
    side_b = tuple(n.address for n in nodes_of_dc_any(estate, dc_b))
    if not side_a or not side_b:
        raise NemesisError(f"a partition needs Cassandra nodes on both sides ({dc_a}: {len(side_a)}, {dc_b}: {len(side_b)})")
    return Partition("partition", f"cut {dc_a} from {dc_b}: iptables DROP on {dc_a}'s {len(side_a)} Cassandra nodes",
                     side_a=side_a, side_b=side_b, tag=drill_tag(run))


def nodes_of_dc_any(estate: EstateSnapshot, dc: str) -> list[CassandraNode]:
    """Every Cassandra node of `dc`, known to CloudStack or not (SSH needs only the address)."""
    if estate.cassandra is None:
        return []
    return sorted((n for n in estate.cassandra.nodes if n.datacenter == dc), key=lambda n: n.address)


# --------------------------------------------------------------------------- the Cassandra service
@dataclass
class ServiceStop(Fault):
    """Stop the Cassandra service on nodes over SSH (the target's command): a clean stop, peers see it go.

    What an operator does for a rolling restart or a Cassandra upgrade, node by node; the heal is the
    start command, then the node answering CQL again (cloudgate.undo, kind `service_stopped`).
    """

    nodes: tuple[CassandraNode, ...] = ()
    control: CassandraServiceControl = field(default_factory=CassandraServiceControl)
    port: int = 9042
    ssh: Callable[[str, str], tuple[int, str]] | None = None  # (address, command) -> (rc, stderr); tests inject

    def inject(self, ctx: FaultContext) -> None:
        run_ssh = self.ssh or _ssh_runner(ctx.target, self.control.stop_timeout_seconds)
        for node in self.nodes:
            entry = self.intend(ctx, "service_stopped", node.vm or node.address,
                                {"address": node.address, "start_command": self.control.start_command,
                                 "port": self.port, "timeout": self.control.start_timeout_seconds},
                                {"ssh": node.address, "command": self.control.start_command})
            rc, err = run_ssh(node.address, self.control.stop_command)
            if rc != 0:
                ctx.ledger.settled(entry, err)
                raise NemesisError(f"`{self.control.stop_command}` on {node.vm or node.address} exited {rc}: "
                                   f"{err.strip()[:200]}")
            ctx.ledger.created(entry, node.address)


def service_stop(estate: EstateSnapshot, dc: str, control: CassandraServiceControl, port: int = 9042) -> ServiceStop:
    """The Cassandra service of one node of `dc` stopped: the first by address, so runs are comparable."""
    nodes = nodes_of_dc_any(estate, dc)
    if not nodes:
        raise NemesisError(f"no Cassandra node of {dc} in the estate snapshot")
    node = nodes[0]
    return ServiceStop("service_stop", f"stop the Cassandra service on {node.vm or node.address} ({node.address}: "
                       f"`{control.stop_command}`)", nodes_down=(node.address,), nodes=(node,), control=control,
                       port=port)


# --------------------------------------------------------------------------- the management server
@dataclass
class ManagementServerStop(Fault):
    """Stop the CloudStack management server with the target file's own command (the operators' incident)."""

    control: ManagementServerControl | None = None

    def inject(self, ctx: FaultContext) -> None:
        from cloudgate.cloudstack.opcommand import OperatorCommandError, run_operator_command

        assert self.control is not None
        entry = self.intend(ctx, "management_server_stopped", ctx.target.name,
                            {"start_command": self.control.start_command, "timeout": self.control.timeout_seconds},
                            {"command": self.control.start_command})
        try:
            run_operator_command(self.control.stop_command, self.control.timeout_seconds, "stop the management server")
        except OperatorCommandError as exc:
            ctx.ledger.settled(entry, str(exc))
            raise NemesisError(str(exc)) from None
        ctx.ledger.created(entry, ctx.target.name)


def management_server_outage(target: Target) -> ManagementServerStop:
    control = target.drills.management_server
    if control is None:
        raise NemesisError(f"{target.name}: the target file has no drills.management_server stop/start commands")
    return ManagementServerStop("management_server", f"stop the CloudStack management server (`{control.stop_command}`)",
                                control=control)
