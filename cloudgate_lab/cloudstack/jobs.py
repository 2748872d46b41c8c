"""Async jobs: persisted in SQLite, run by a bounded worker pool, answered by queryAsyncJobResult.

A job row is written before the work starts, so a restart finds it. On start-up every pending job is
handed back to its command's runner (runners are written to resume from whatever state the entity is
in); a job whose command cannot resume fails cleanly with 530 instead of staying pending forever.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .accounts import ROOT_DOMAIN_ID
from .context import SimContext
from .envelope import INTERNAL_ERROR, INTERNAL_ERROR_TEXT, ApiError, cs_date

if TYPE_CHECKING:
    from .accounts import Account

log = logging.getLogger(__name__)

PENDING, SUCCEEDED, FAILED = 0, 1, 2


class Interrupted(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside a job when the simulator stops: the job stays pending and resumes at next start."""


@dataclass(frozen=True)
class Job:
    id: str
    command: str
    params: dict[str, str]
    account: Account
    instance_type: str | None
    instance_id: str | None


JobRunner = Callable[[SimContext, Job], dict[str, Any]]

_CMD_CLASSES = {
    "deployVirtualMachine": "org.apache.cloudstack.api.command.admin.vm.DeployVMCmdByAdmin",
    "startVirtualMachine": "org.apache.cloudstack.api.command.admin.vm.StartVMCmdByAdmin",
    "stopVirtualMachine": "org.apache.cloudstack.api.command.admin.vm.StopVMCmdByAdmin",
    "destroyVirtualMachine": "org.apache.cloudstack.api.command.admin.vm.DestroyVMCmdByAdmin",
    "expungeVirtualMachine": "org.apache.cloudstack.api.command.admin.vm.ExpungeVMCmd",
    "migrateVirtualMachine": "org.apache.cloudstack.api.command.admin.vm.MigrateVMCmd",
    "createAffinityGroup": "org.apache.cloudstack.api.command.user.affinitygroup.CreateAffinityGroupCmd",
    "deleteAffinityGroup": "org.apache.cloudstack.api.command.user.affinitygroup.DeleteAffinityGroupCmd",
    "prepareHostForMaintenance": "org.apache.cloudstack.api.command.admin.host.PrepareForMaintenanceCmd",
    "cancelHostMaintenance": "org.apache.cloudstack.api.command.admin.host.CancelMaintenanceCmd",
    "createTags": "org.apache.cloudstack.api.command.user.tag.CreateTagsCmd",
    "deleteTags": "org.apache.cloudstack.api.command.user.tag.DeleteTagsCmd",
    "startSystemVm": "org.apache.cloudstack.api.command.admin.systemvm.StartSystemVMCmd",
    "stopSystemVm": "org.apache.cloudstack.api.command.admin.systemvm.StopSystemVmCmd",
    "issueOutOfBandManagementPowerAction":
        "org.apache.cloudstack.api.command.admin.outofbandmanagement.IssueOutOfBandManagementPowerActionCmd",
}


class JobManager:
    def __init__(self, sim: SimContext, runner_for: Callable[[str], JobRunner | None], workers: int = 8) -> None:
        self.sim = sim
        self._runner_for = runner_for
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cs-job")

    def submit(self, command: str, params: dict[str, str], account: Account,
               instance_type: str | None = None, instance_id: str | None = None) -> str:
        job_id = str(uuid.uuid4())
        db = self.sim.db
        with db.tx():
            db.run("INSERT INTO jobs(id, command, cmd_class, params, account, status, resultcode, instance_type, "
                   "instance_id, created) VALUES (?,?,?,?,?,?,?,?,?,?)",
                   (job_id, command, _CMD_CLASSES.get(command, f"org.apache.cloudstack.api.command.{command}"),
                    json.dumps(params), account.name, PENDING, 0, instance_type, instance_id, time.time()))
        self._pool.submit(self._run, job_id)
        return job_id

    def resume_pending(self) -> int:
        """Re-queue jobs left pending by a previous run; fail those nobody can resume."""
        rows = self.sim.db.all("SELECT id, command FROM jobs WHERE status=? ORDER BY seq", (PENDING,))
        for r in rows:
            if self._runner_for(r["command"]) is None:
                self._finish(r["id"], FAILED, INTERNAL_ERROR,
                             ApiError(INTERNAL_ERROR, "Job was interrupted by a management server restart").job_result())
            else:
                self._pool.submit(self._run, r["id"])
        return len(rows)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _finish(self, job_id: str, status: int, code: int, result: dict[str, Any]) -> None:
        with self.sim.db.tx():
            self.sim.db.run("UPDATE jobs SET status=?, resultcode=?, result=?, completed=? WHERE id=? AND status=?",
                            (status, code, json.dumps(result), time.time(), job_id, PENDING))

    def _run(self, job_id: str) -> None:
        if self.sim.stopping.is_set():
            return
        row = self.sim.db.one("SELECT * FROM jobs WHERE id=?", (job_id,))
        if row is None or row["status"] != PENDING:
            return
        account = self.sim.account_named(row["account"])
        runner = self._runner_for(row["command"])
        if account is None or runner is None:
            self._finish(job_id, FAILED, INTERNAL_ERROR, ApiError(INTERNAL_ERROR, INTERNAL_ERROR_TEXT).job_result())
            return
        job = Job(job_id, row["command"], json.loads(row["params"]), account, row["instance_type"],
                  row["instance_id"])
        try:
            result = runner(self.sim, job)
        except Interrupted:
            return
        except ApiError as err:
            self._finish(job_id, FAILED, err.errorcode, err.job_result())
        except Exception:
            log.exception("job %s (%s) crashed", job_id, row["command"])
            self._finish(job_id, FAILED, INTERNAL_ERROR, ApiError(INTERNAL_ERROR, INTERNAL_ERROR_TEXT).job_result())
        else:
            self._finish(job_id, SUCCEEDED, 0, result)


def pending_jobs(sim: SimContext) -> dict[str, str]:
    """instance id -> job id of pending jobs, so list responses can show `jobid`/`jobstatus`."""
    rows = sim.db.all("SELECT id, instance_id FROM jobs WHERE status=? AND instance_id IS NOT NULL ORDER BY seq",
                      (PENDING,))
    return {r["instance_id"]: r["id"] for r in rows}


def job_view(row: sqlite3.Row, account: Account | None) -> dict[str, Any]:
    """AsyncJobResponse: fields directly under the envelope, jobresult only once done."""
    out: dict[str, Any] = {
        "accountid": account.uuid if account else None,
        "userid": account.user_uuid if account else None,
        "cmd": row["cmd_class"],
        "jobstatus": row["status"],
        "jobprocstatus": 0,
        "jobresultcode": row["resultcode"],
        "jobresulttype": "object",
    }
    if row["status"] != PENDING and row["result"]:
        out["jobresult"] = json.loads(row["result"])
    if row["instance_type"]:
        out["jobinstancetype"] = row["instance_type"]
    if row["instance_id"]:
        out["jobinstanceid"] = row["instance_id"]
    out["created"] = cs_date(row["created"])
    if row["completed"]:
        out["completed"] = cs_date(row["completed"])
    out["jobid"] = row["id"]
    if account:
        out["account"] = account.name
        out["domainid"] = ROOT_DOMAIN_ID
    return {k: v for k, v in out.items() if v is not None}
