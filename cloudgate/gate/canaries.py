"""The gate's canaries: resources made before an upgrade, so that after it one can ask "still there,
unchanged, still usable?" — Grenade's `resources create / verify / verify_noapi / destroy`.

What `create` makes, each written to the gate's ledger (scope `gate-canary`) before it exists:
- a host anti-affinity group and a running VM in it, tagged `cloudgate-canary=<before run>`;
- a second VM, stopped (an upgrade must not lose what was not running: CloudStack upgrades have);
- a Cassandra keyspace of CANARY_ROWS rows written at QUORUM, with their checksum.
It also remembers the Routing hosts CloudStack listed, so a host the API no longer lists is seen.

`verify_after` asks CloudStack and Cassandra again and returns one line per difference; then it
checks the canaries still *work*: the running VM stops and starts, and a new VM deployed into the
group lands on another host than the canary (anti-affinity still honoured), then is destroyed.
`verify_during` asks only the data plane (the VM answers SSH, the rows read back), because the
management server is down then. The janitor keeps canaries (they outlive the process that made
them) until CANARY_MAX_AGE; `cloudgate gate destroy` removes them at once.
"""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from cloudgate.cloudstack.client import CloudStackClient, CloudStackError
from cloudgate.cloudstack.deploy import create_anti_affinity_group, resolve_plan, vm_name_tag
from cloudgate.ledger import Ledger
from cloudgate.target import Target
from cloudgate.tracker import Tracker
from cloudgate.undo import Undoer

CANARY_SCOPE = "gate-canary"
#: The gate's state file, written by gate.flow beside the canaries' ledger once `before` has finished:
#: the janitor keeps canaries only for the run it names.
GATE_STATE_FILE = "gate.json"
CANARY_MAX_AGE = timedelta(days=7)  # the janitor sweeps older canaries (a gate never finished)
CANARY_ROWS = 2000
TAG_KEY = "cloudgate-canary"


class CanaryError(Exception):
    """A canary could not be made or checked; str() is one line."""


class Canaries(BaseModel):
    """What `before` made and saw, for `during`, `after` and `destroy` (in gate.json)."""

    model_config = ConfigDict(extra="forbid")

    group_id: str
    group_name: str
    running_vm_id: str
    running_vm_name: str
    running_vm_host_id: str
    running_vm_host: str
    running_vm_ip: str
    stopped_vm_id: str
    stopped_vm_name: str
    tag_value: str
    keyspace: str | None = None
    rows: int = 0
    checksum: str = ""
    hosts: list[str] = []


# --------------------------------------------------------------------------- create
def _deploy(tracker: Tracker, plan: Any, name: str, *, group_id: str | None, start: bool,  # noqa: ANN401
            timeout: float) -> dict[str, Any]:
    params: dict[str, Any] = {"zoneid": plan.zone_id, "serviceofferingid": plan.offering_id,
                              "templateid": plan.template_id, "name": name, "displayname": name}
    if group_id:
        params["affinitygroupids"] = group_id
    if not start:
        params["startvm"] = "false"
    with tracker.creating("vm", name, attrs={k: v for k, v in params.items() if k.endswith("id")},
                          undo={"action": "destroyVirtualMachine", "expunge": True}) as entry:
        answer = tracker.client.call("deployVirtualMachine", **params)
        tracker.created(entry, answer.get("id"), answer.get("jobid"))
    result = tracker.client.wait_job(answer["jobid"], timeout=timeout)
    return dict(result.get("virtualmachine") or {})


def _ip(vm: dict[str, Any]) -> str:
    nics = vm.get("nic") or []
    return str(nics[0].get("ipaddress", "")) if nics else ""


def _routing_hosts(client: CloudStackClient) -> list[str]:
    return sorted(str(h.get("name")) for h in client.list("listHosts", type="Routing"))


def create(client: CloudStackClient, target: Target, ledger: Ledger, run_tag: str) -> Canaries:
    """Make the canaries; on any failure undo what was made and raise CanaryError (one line)."""
    tracker = Tracker(client, run_tag, ledger=ledger, scope=CANARY_SCOPE, undoer=Undoer(client, target).undo)
    timeout = target.cloudstack.job_timeout_seconds
    tag = vm_name_tag(run_tag)
    base = f"{target.deploy.name_prefix}-gate-{tag}"
    try:
        plan = resolve_plan(client, target, run_tag, 0)
        group_id = create_anti_affinity_group(tracker, base, "cloudgate upgrade gate canary")
        running = _deploy(tracker, plan, f"{base}-run", group_id=group_id, start=True, timeout=timeout)
        stopped = _deploy(tracker, plan, f"{base}-stopped", group_id=None, start=False, timeout=timeout)
        if stopped.get("state") not in ("Stopped", None):  # a cloud that ignores startvm=false
            client.call("stopVirtualMachine", id=stopped["id"], fetch_result=True)
        client.call("createTags", resourceids=running["id"], resourcetype="UserVm",
                    **{"tags[0].key": TAG_KEY, "tags[0].value": run_tag}, fetch_result=True)
        canaries = Canaries(
            group_id=group_id, group_name=base, running_vm_id=str(running["id"]),
            running_vm_name=str(running.get("name")), running_vm_host_id=str(running.get("hostid", "")),
            running_vm_host=str(running.get("hostname", "")), running_vm_ip=_ip(running),
            stopped_vm_id=str(stopped["id"]), stopped_vm_name=str(stopped.get("name")), tag_value=run_tag,
            hosts=_routing_hosts(client))
        if target.cassandra is not None:
            keyspace = "cloudgate_gate_" + tag.replace("-", "_")
            canaries.keyspace, canaries.rows, canaries.checksum = _write_rows(tracker, target, keyspace)
        return canaries
    except BaseException as exc:
        problems = tracker.cleanup()
        left = f"; left in the ledger {ledger.path}: {'; '.join(problems)}" if problems else ""
        if isinstance(exc, CloudStackError | CanaryError):
            raise CanaryError(f"cannot create the gate's canaries: {exc}{left}") from None
        raise


def _checksum(rows: list[tuple[int, str]]) -> str:
    digest = hashlib.sha256()
    for k, v in sorted(rows):
        digest.update(f"{k}={v}\n".encode())
    return digest.hexdigest()[:16]


def _row_value(k: int, tag: str) -> str:
    return f"{tag}-{k}"


def _write_rows(tracker: Tracker, target: Target, keyspace: str) -> tuple[str, int, str]:
    from cloudgate.cassandra.session import CassandraError

    try:
        return _write_rows_unguarded(tracker, target, keyspace)
    except (CanaryError, CassandraError) as exc:
        raise CanaryError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a driver error is one line
        raise CanaryError(f"canary keyspace {keyspace}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None


def _write_rows_unguarded(tracker: Tracker, target: Target, keyspace: str) -> tuple[str, int, str]:
    from cassandra import ConsistencyLevel
    from cassandra.concurrent import execute_concurrent_with_args

    from cloudgate.cassandra.session import session

    assert target.cassandra is not None
    rf = target.cassandra.replication_factor
    factors = ", ".join(f"'{dc}': {rf}" for dc in target.cassandra.contact_points)
    with session(target, writes=True) as (cluster, sess):
        with tracker.creating("keyspace", keyspace, undo={"cql": f"DROP KEYSPACE IF EXISTS {keyspace}"}) as entry:
            sess.execute(f"CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'NetworkTopologyStrategy', "
                         f"{factors}}}", timeout=30)
            tracker.created(entry, keyspace)
        sess.execute(f"CREATE TABLE {keyspace}.rows (k int PRIMARY KEY, v text)", timeout=30)
        cluster.control_connection.wait_for_schema_agreement(wait_time=30)
        insert = sess.prepare(f"INSERT INTO {keyspace}.rows (k, v) VALUES (?, ?)")
        insert.consistency_level = ConsistencyLevel.QUORUM
        rows = [(k, _row_value(k, keyspace)) for k in range(CANARY_ROWS)]
        results = execute_concurrent_with_args(sess, insert, rows, concurrency=50, raise_on_first_error=False)
        failed = [r for r in results if not r.success]
        if failed:
            raise CanaryError(f"{len(failed)} of {CANARY_ROWS} canary rows not written at QUORUM: {failed[0].result_or_exc}")
    return keyspace, CANARY_ROWS, _checksum(rows)


def read_rows(target: Target, canaries: Canaries) -> str | None:
    """None when every canary row reads back at QUORUM unchanged, else one line saying what differs."""
    if canaries.keyspace is None:
        return None
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    from cloudgate.cassandra.session import CassandraError, session

    try:
        with session(target) as (_cluster, sess):
            statement = SimpleStatement(f"SELECT k, v FROM {canaries.keyspace}.rows", fetch_size=1000,
                                        consistency_level=ConsistencyLevel.QUORUM)
            rows = [(int(r.k), str(r.v)) for r in sess.execute(statement, timeout=60)]
    except CassandraError as exc:
        return f"canary rows of {canaries.keyspace} unreadable: {exc}"
    except Exception as exc:  # noqa: BLE001 - a driver error is one line
        return f"canary rows of {canaries.keyspace} unreadable at QUORUM: {type(exc).__name__}: {str(exc)[:200]}"
    if len(rows) != canaries.rows:
        return f"canary keyspace {canaries.keyspace} holds {len(rows)} rows at QUORUM, {canaries.rows} were written"
    if _checksum(rows) != canaries.checksum:
        return f"canary rows of {canaries.keyspace} changed (checksum {_checksum(rows)}, was {canaries.checksum})"
    return None


# --------------------------------------------------------------------------- verify
def _vm(client: CloudStackClient, vm_id: str) -> dict[str, Any] | None:
    try:
        listed = client.list("listVirtualMachines", id=vm_id, listall=True)
    except CloudStackError as exc:
        if exc.errorcode == 431:
            return None
        raise
    return listed[0] if listed else None


def verify_existing(client: CloudStackClient, canaries: Canaries) -> list[str]:
    """What the API says now about each canary, one line per difference (the read-only half)."""
    problems = []
    running = _vm(client, canaries.running_vm_id)
    if running is None:
        problems.append(f"canary VM {canaries.running_vm_name} ({canaries.running_vm_id}) is gone")
    else:
        if running.get("state") != "Running":
            problems.append(f"canary VM {canaries.running_vm_name} is {running.get('state')}, was Running")
        if str(running.get("hostid", "")) != canaries.running_vm_host_id:
            problems.append(f"canary VM {canaries.running_vm_name} moved from {canaries.running_vm_host} to "
                            f"{running.get('hostname')}")
        groups = {str(g.get("id")) for g in running.get("affinitygroup") or []}
        if canaries.group_id not in groups:
            problems.append(f"canary VM {canaries.running_vm_name} is no longer in its anti-affinity group "
                            f"{canaries.group_name}")
        tags = {(t.get("key"), t.get("value")) for t in running.get("tags") or []}
        if (TAG_KEY, canaries.tag_value) not in tags:
            problems.append(f"canary VM {canaries.running_vm_name} lost its tag {TAG_KEY}={canaries.tag_value}")
    stopped = _vm(client, canaries.stopped_vm_id)
    if stopped is None or stopped.get("state") in ("Destroyed", "Expunging"):
        problems.append(f"canary VM {canaries.stopped_vm_name} ({canaries.stopped_vm_id}), Stopped before the "
                        f"upgrade, is gone")
    elif stopped.get("state") != "Stopped":
        problems.append(f"canary VM {canaries.stopped_vm_name} is {stopped.get('state')}, was Stopped")
    if not any(str(g.get("id")) == canaries.group_id
               for g in client.list("listAffinityGroups", id=canaries.group_id)):
        problems.append(f"canary anti-affinity group {canaries.group_name} is gone")
    listed = set(_routing_hosts(client))
    lost = [h for h in canaries.hosts if h not in listed]
    if lost:
        problems.append(f"listHosts no longer lists {len(lost)} of the {len(canaries.hosts)} hosts it listed before "
                        f"the upgrade: {', '.join(lost[:6])}{' ...' if len(lost) > 6 else ''}")
    return problems


def verify_usable(client: CloudStackClient, target: Target, ledger: Ledger, run_tag: str,
                  canaries: Canaries) -> list[str]:
    """Still usable: the running canary stops and starts; a new VM in the group avoids the canary's host."""
    problems = []
    timeout = target.cloudstack.job_timeout_seconds
    try:
        client.call("stopVirtualMachine", id=canaries.running_vm_id, fetch_result=True)
        started = client.call("startVirtualMachine", id=canaries.running_vm_id, fetch_result=True)
        vm = started.get("virtualmachine", started)
        if vm.get("state") != "Running":
            problems.append(f"canary VM {canaries.running_vm_name} did not start again (state {vm.get('state')})")
    except CloudStackError as exc:
        problems.append(f"canary VM {canaries.running_vm_name} cannot be stopped and started: {exc}")
    host_now = (_vm(client, canaries.running_vm_id) or {}).get("hostid")
    tracker = Tracker(client, run_tag, ledger=ledger, scope=f"{CANARY_SCOPE}-probe", undoer=Undoer(client, target).undo)
    try:
        plan = resolve_plan(client, target, run_tag, 0)
        probe = _deploy(tracker, plan, f"{canaries.group_name}-probe", group_id=canaries.group_id, start=True,
                        timeout=timeout)
        if host_now and probe.get("hostid") == host_now:
            problems.append(f"a new VM deployed into anti-affinity group {canaries.group_name} landed on "
                            f"{probe.get('hostname')}, the host of its member {canaries.running_vm_name}: "
                            f"host anti-affinity is not honoured")
    except CloudStackError as exc:
        problems.append(f"a new VM cannot be deployed into the canary group {canaries.group_name}: {exc}")
    finally:
        problems += [f"the probe VM could not be removed: {p}" for p in tracker.cleanup()]
    return problems


def ssh_answers(target: Target, canaries: Canaries, timeout: float = 60.0) -> str | None:
    """None when the running canary answers SSH (it was booted from the deploy template), else one line."""
    from cloudgate.cloudstack.deploy import wait_for_ssh
    from cloudgate.ssh.hosts import HostUnreachable, SshSettings

    try:
        wait_for_ssh(canaries.running_vm_ip, SshSettings.from_target(target), time.monotonic() + timeout)
    except HostUnreachable as exc:
        return f"canary VM {canaries.running_vm_name} ({canaries.running_vm_ip}) does not answer SSH: {exc}"
    return None
