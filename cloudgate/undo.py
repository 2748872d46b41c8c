"""Undo one ledger entry, whatever the moment its creation was interrupted at; refuse Ctrl-C meanwhile.

Why a module of its own: three callers undo ledger entries — a check's teardown (Tracker), the
plugin's end-of-session safety net, and `cloudgate janitor` in another process after a kill -9 —
and they must agree on how each kind is undone:

- vm: by id when CloudStack answered the deploy call, else by exact name (the call was in flight:
  the VM may exist or not). A VM whose deploy job still runs is waited for (bounded) first: real
  CloudStack refuses to stop a VM in Starting ("We cannot stop VM[...] when it is in state
  Starting", VirtualMachineManagerImpl.advanceStop); the lab simulator queues the destroy behind
  the deploy (per-VM work lock). Either way the destroy is sent once the VM has settled, with
  expunge, and retried (bounded) if CloudStack still calls the state transient.
- affinity_group: deleteAffinityGroup by id, or the group looked up by name.
- keyspace: DROP KEYSPACE IF EXISTS through a writes session (the statement is idempotent, so an
  in-flight CREATE needs no special case beyond the order: the caller waits for it first).

The failover drills' faults are entries too, written before the fault is injected; undoing one is
its heal, so a drill's own heal, the session's safety net and the janitor heal the same way:
- stopped_vm: startVirtualMachine, on the host it ran on when that host is up (placement kept);
- host_power_off: issueOutOfBandManagementPowerAction ON, then wait until CloudStack sees it Up;
- host_maintenance: cancelHostMaintenance;
- iptables_rule: over SSH, `iptables -w -D` of each rule the drill inserted on that node;
- service_stopped: over SSH, the target's start command for the Cassandra service, then wait
  (bounded) until the node answers CQL on its native port;
- management_server_stopped: the target file's start command, then wait until the API answers.
Each is idempotent: healing what is already whole says so and changes nothing.

Undo must not be cut short by an impatient second Ctrl-C, which is how a probe VM used to survive:
`refusing_sigint` swaps SIGINT for a handler that prints one line and carries on, and puts the
previous handler back afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

from cloudgate.errors import CloudStackError
from cloudgate.ledger import Entry

if TYPE_CHECKING:  # light on purpose: the plugin imports this module at load (its Ctrl-C refusal)
    from cloudgate.cloudstack.client import CloudStackClient
    from cloudgate.target import Target

TRANSIENT_VM_STATES = ("Starting", "Stopping", "Migrating")
GONE_VM_STATES = ("Expunging",)
_KEYSPACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")


class UndoError(Exception):
    """An entry could not be undone; str() is one line naming the resource and the cause."""


# --------------------------------------------------------------------------- Ctrl-C while undoing
_notice_fd = 2
_refusing = 0  # nesting depth: only the outermost refusal installs and restores the handler
_refusal_lock = threading.Lock()


def set_notice_fd(fd: int) -> None:
    """Where the refusal line goes: pytest captures fd 2 during a test, so the plugin hands a dup of the terminal's."""
    global _notice_fd
    _notice_fd = fd


def notice(line: str) -> None:
    """One line to the operator's terminal (never raises: it runs inside a signal handler too)."""
    with suppress(OSError):
        os.write(_notice_fd, (line.rstrip("\n") + "\n").encode())


def refusal_line(left: int) -> str:
    return f"cloudgate: undoing what this run created ({left} left); Ctrl-C is ignored until that is done"


@contextmanager
def refusing_sigint(left: Callable[[], int]) -> Iterator[None]:
    """While the block runs, Ctrl-C prints `refusal_line(left())` instead of interrupting it.

    Only the main thread can set signal handlers; elsewhere (and when nested) this is a no-op, the
    outermost refusal in the main thread being the one that holds the handler.
    """
    global _refusing
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def refuse(_signum: int, _frame: FrameType | None) -> None:
        try:
            count = left()
        except Exception:  # noqa: BLE001 - a handler must not raise
            count = 0
        notice(refusal_line(count))

    with _refusal_lock:
        outermost = _refusing == 0
        _refusing += 1
    previous: Any = signal.getsignal(signal.SIGINT) if outermost else None
    if outermost:
        signal.signal(signal.SIGINT, refuse)
    try:
        yield
    finally:
        with _refusal_lock:
            _refusing -= 1
        if outermost:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


# --------------------------------------------------------------------------- undoing entries
@dataclass
class Undoer:
    """Undoes ledger entries on one target; every wait is bounded."""

    client: CloudStackClient
    target: Target | None = None
    job_wait: float = 60.0  # a deploy job still running: how long to wait for it before destroying anyway
    poll: float = 0.2

    def undo(self, entry: Entry) -> str:
        """Undo one entry; return how ("destroyed", "already gone", ...). Raises UndoError."""
        action = {"vm": self._vm, "affinity_group": self._affinity_group, "keyspace": self._keyspace,
                  "stopped_vm": self._stopped_vm, "host_power_off": self._host_power_off,
                  "host_maintenance": self._host_maintenance, "iptables_rule": self._iptables_rule,
                  "service_stopped": self._service_stopped,
                  "management_server_stopped": self._management_server_stopped,
                  "front_scale_out": self._front_scale_out}.get(entry.kind)
        if action is None:
            raise UndoError(f"{entry.describe()}: no undo for kind {entry.kind!r} in this cloudgate")
        try:
            return action(entry)
        except (CloudStackError, UndoError) as exc:
            raise UndoError(f"{entry.describe()}: {exc}") from None

    def plan(self, entry: Entry) -> str:
        """What undo would do (for --dry-run), without changing anything."""
        verb = {"vm": "destroy", "affinity_group": "delete", "keyspace": "drop", "stopped_vm": "start",
                "host_power_off": "power on", "host_maintenance": "cancel the maintenance of",
                "iptables_rule": "remove the drill's iptables rules on",
                "service_stopped": "start the service stopped on",
                "management_server_stopped": "start the management server of",
                "front_scale_out": "scale in what the run's scale-out added to"}.get(entry.kind, "undo")
        return f"{verb} {entry.describe()}"

    # -- vm ----------------------------------------------------------------------------------
    def _listed(self, command: str, **params: Any) -> list[dict[str, Any]]:
        try:
            return self.client.list(command, **params)
        except CloudStackError as exc:
            if exc.errorcode == 431 and "id" in params:  # CloudStack's answer for an id that no longer exists
                return []
            raise

    def _find_vm(self, entry: Entry) -> dict[str, Any] | None:
        if entry.id:
            listed = self._listed("listVirtualMachines", id=entry.id, listall=True)
        else:  # name= is a substring match in CloudStack: keep the exact name only
            listed = [v for v in self._listed("listVirtualMachines", name=entry.name, listall=True)
                      if v.get("name") == entry.name]
        return listed[0] if listed else None

    def _wait_job(self, jobid: str, deadline: float) -> None:
        while time.monotonic() < deadline:
            job = self.client.call("queryAsyncJobResult", jobid=jobid)
            if int(job.get("jobstatus", 0)) != 0:
                return
            time.sleep(self.poll)

    def _settled_vm(self, entry: Entry, deadline: float) -> dict[str, Any] | None:
        """The VM once its deploy job has ended and it is in no transient state (or the deadline came)."""
        if entry.job:
            self._wait_job(entry.job, deadline)
        vm = self._find_vm(entry)
        while vm is not None and vm.get("state") in TRANSIENT_VM_STATES and time.monotonic() < deadline:
            time.sleep(self.poll)
            vm = self._find_vm(entry)
        return vm

    def _vm(self, entry: Entry) -> str:
        deadline = time.monotonic() + self.job_wait
        vm = self._settled_vm(entry, deadline)
        if vm is None or vm.get("state") in GONE_VM_STATES:
            return "already gone"
        vm_id = str(vm["id"])
        for attempt in range(3):
            try:
                if vm.get("state") == "Destroyed":  # destroyed without expunge earlier: finish the job
                    self.client.call("expungeVirtualMachine", id=vm_id, fetch_result=True)
                else:
                    self.client.call("destroyVirtualMachine", id=vm_id, expunge=True, fetch_result=True)
                return "destroyed"
            except CloudStackError as exc:
                if "in state" not in str(exc) or attempt == 2:
                    raise
                time.sleep(1.0)  # CloudStack still sees a transient state: settle and try again
                vm = self._settled_vm(entry, time.monotonic() + self.job_wait) or {}
                if not vm or vm.get("state") in GONE_VM_STATES:
                    return "already gone"
        return "destroyed"

    # -- affinity group ----------------------------------------------------------------------
    def _affinity_group(self, entry: Entry) -> str:
        params = {"id": entry.id} if entry.id else {"name": entry.name}
        found = [g for g in self._listed("listAffinityGroups", **params)
                 if entry.id or g.get("name") == entry.name]
        if not found:
            return "already gone"
        self.client.call("deleteAffinityGroup", id=found[0]["id"], fetch_result=True)
        return "deleted"

    # -- keyspace ----------------------------------------------------------------------------
    def _keyspace(self, entry: Entry) -> str:
        if not _KEYSPACE.match(entry.name):
            raise UndoError(f"refused: {entry.name!r} is not a keyspace name cloudgate makes")
        if self.target is None or self.target.cassandra is None:
            raise UndoError("no cassandra section in the target to drop it through")
        from cloudgate.cassandra.session import CassandraError, session

        try:
            with session(self.target, writes=True) as (_cluster, sess):
                sess.execute(f"DROP KEYSPACE IF EXISTS {entry.name}", timeout=30)
        except CassandraError as exc:
            raise UndoError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a driver error becomes one line
            raise UndoError(f"DROP KEYSPACE failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
        return "dropped"


    # -- the drills' faults ------------------------------------------------------------------
    def _host(self, host_id: str) -> dict[str, Any] | None:
        listed = self._listed("listHosts", id=host_id)
        return listed[0] if listed else None

    def _stopped_vm(self, entry: Entry) -> str:
        vm_id = str(entry.attrs.get("vm_id") or entry.id or "")
        deadline = time.monotonic() + self.job_wait
        listed = self._listed("listVirtualMachines", id=vm_id, listall=True) if vm_id else []
        vm = listed[0] if listed else None
        while vm is not None and vm.get("state") in TRANSIENT_VM_STATES and time.monotonic() < deadline:
            time.sleep(self.poll)
            listed = self._listed("listVirtualMachines", id=vm_id, listall=True)
            vm = listed[0] if listed else None
        if vm is None or vm.get("state") in (*GONE_VM_STATES, "Destroyed"):
            return "gone (nothing to start)"
        if vm.get("state") == "Running":
            return "already running"
        host_id = entry.attrs.get("host_id")
        host = self._host(str(host_id)) if host_id else None
        params: dict[str, Any] = {"id": vm_id, "fetch_result": True}
        if host is not None and host.get("state") == "Up" and host.get("resourcestate") == "Enabled":
            params["hostid"] = host_id  # back where it ran: the drill must not rearrange the replicas
        self.client.call("startVirtualMachine", **params)
        return "started" + (f" on {host.get('name')}" if "hostid" in params and host else "")

    def _wait_host_up(self, host_id: str, deadline: float) -> dict[str, Any] | None:
        host = self._host(host_id)
        while host is not None and host.get("state") != "Up" and time.monotonic() < deadline:
            time.sleep(max(self.poll, 0.5))
            host = self._host(host_id)
        return host

    def _host_power_off(self, entry: Entry) -> str:
        host_id = str(entry.attrs["host_id"])
        host = self._host(host_id)
        if host is None:
            return "gone (no such host)"
        self.client.call("issueOutOfBandManagementPowerAction", hostid=host_id, action="ON", fetch_result=True)
        host = self._wait_host_up(host_id, time.monotonic() + float(entry.attrs.get("up_timeout", 180)))
        if host is None or host.get("state") != "Up":
            raise UndoError(f"powered on, but CloudStack still sees it {(host or {}).get('state', 'absent')}")
        return "powered on"

    def _host_maintenance(self, entry: Entry) -> str:
        host_id = str(entry.attrs["host_id"])
        host = self._host(host_id)
        if host is None:
            return "gone (no such host)"
        if host.get("resourcestate") not in ("Maintenance", "PrepareForMaintenance", "ErrorInPrepareForMaintenance",
                                             "ErrorInMaintenance"):
            return "not in maintenance"
        self.client.call("cancelHostMaintenance", id=host_id, fetch_result=True)
        return "maintenance cancelled"

    @contextmanager
    def _ssh(self, address: str, label: str, command_timeout: float = 0.0) -> Iterator[Any]:
        """A testinfra host on `address` over the target's SSH settings (a longer command timeout if asked)."""
        if self.target is None:
            raise UndoError("no target to reach the node through SSH")
        from cloudgate.ssh.hosts import HostPool, SshSettings

        pool = HostPool(SshSettings.from_target(self.target).at_least(command_timeout))
        try:
            yield pool.get(address, label)
        finally:
            pool.close()

    def _iptables_rule(self, entry: Entry) -> str:
        from cloudgate.ssh.hosts import HostUnreachable

        address = str(entry.attrs["address"])
        removed = 0
        try:
            with self._ssh(address, entry.name) as host:
                for rule in entry.attrs.get("rules", []):
                    result = host.run(f"iptables -w 5 -D {rule}")
                    if result.rc == 0:
                        removed += 1
                    elif "does a matching rule exist" not in result.stderr and "Bad rule" not in result.stderr:
                        raise UndoError(f"iptables -D {rule} on {address} exited {result.rc}: "
                                        f"{result.stderr.strip()[:160]}")
        except HostUnreachable as exc:
            raise UndoError(f"cannot reach {address} to remove its rules: {exc}") from None
        return f"removed {removed} rule(s)" if removed else "no rule left"

    def _service_stopped(self, entry: Entry) -> str:
        """The start command over SSH (a no-op on a running service), then CQL answering on the node again."""
        from cloudgate.cassandra.cqlprobe import answers_cql
        from cloudgate.ssh.hosts import HostUnreachable

        address, port = str(entry.attrs["address"]), int(entry.attrs.get("port", 9042))
        command = str(entry.attrs["start_command"])
        timeout = float(entry.attrs.get("timeout", 300))
        deadline = time.monotonic() + timeout
        try:
            with self._ssh(address, entry.name, command_timeout=min(timeout, 120.0)) as host:
                result = host.run(command)
        except HostUnreachable as exc:
            raise UndoError(f"cannot reach {address} to run `{command}`: {exc}") from None
        if result.rc != 0:
            said = (result.stderr or result.stdout).strip().splitlines()
            raise UndoError(f"`{command}` on {address} exited {result.rc}: {(said[-1] if said else '')[:200]}")
        ready_url = entry.attrs.get("ready_url")
        if ready_url:  # a front VM's service: its health page through Apache, not a CQL port
            return self._wait_http(str(ready_url), command, address, deadline, timeout)
        while not answers_cql(address, port, timeout=1.0):
            if time.monotonic() > deadline:
                raise UndoError(f"`{command}` ran, but {address}:{port} does not answer CQL after {timeout:g} s")
            time.sleep(max(self.poll, 0.5))
        return f"started (CQL answers on {address}:{port})"

    def _wait_http(self, url: str, command: str, address: str, deadline: float, timeout: float) -> str:
        from cloudgate.frontends.httpprobe import HttpProbeError, get_once

        while True:
            try:
                get_once(url, timeout=2.0)
                return f"started ({url} answers)"
            except HttpProbeError as exc:
                if time.monotonic() > deadline:
                    raise UndoError(f"`{command}` ran on {address}, but {url} still fails after {timeout:g} s: "
                                    f"{exc}") from None
            time.sleep(max(self.poll, 0.5))

    def _front_scale_out(self, entry: Entry) -> str:
        """The operators' scale-in command for every VM of the service that the run's scale-out added
        (the service's VMs now, by the target's selector, minus those listed before it ran)."""
        from cloudgate.cloudstack.opcommand import OperatorCommandError, run_operator_command
        from cloudgate.frontends.elasticity import new_members
        from cloudgate.frontends.members import members
        from cloudgate.snapshot import vm_record

        section = self.target.frontends if self.target is not None else None
        if section is None or section.scale is None:
            raise UndoError("the target has no frontends.scale section any more: scale in by hand")
        service = next((s for s in section.services if s.name == entry.attrs.get("service")), None)
        dc = next((d for d in self.target.datacenters if d.name == entry.attrs.get("dc")), None)  # type: ignore[union-attr]
        if service is None or dc is None:
            raise UndoError(f"service {entry.attrs.get('service')} / {entry.attrs.get('dc')} no longer in the target")
        listed = [vm_record(v) for v in self._listed("listVirtualMachines", listall=True)]
        added = new_members(entry.attrs.get("before", []), [m.name for m in members(service, dc, listed)])
        for vm in added:
            command = section.scale.in_command.format(service=service.name, dc=dc.name, vm=vm)
            try:
                run_operator_command(command, section.scale.timeout_seconds, f"scale in {vm}")
            except OperatorCommandError as exc:
                raise UndoError(str(exc)) from None
        return f"scaled in {', '.join(added)}" if added else "nothing left to scale in"

    def _management_server_stopped(self, entry: Entry) -> str:
        from cloudgate.cloudstack.opcommand import OperatorCommandError, run_operator_command

        timeout = float(entry.attrs.get("timeout", 180))
        deadline = time.monotonic() + timeout
        try:
            run_operator_command(str(entry.attrs["start_command"]), timeout, "start the management server")
        except OperatorCommandError as exc:
            raise UndoError(str(exc)) from None
        while True:
            try:
                self.client.call("listCapabilities")
                return "started (API answers)"
            except CloudStackError as exc:
                if time.monotonic() > deadline:
                    raise UndoError(f"started, but the API does not answer: {exc}") from None
                time.sleep(1.0)
