"""Out-of-band management: powering a physical host off and on, as CloudStack does through IPMI/iLO.

CloudStack (4.9+) drives a host's baseboard management controller with
issueOutOfBandManagementPowerAction (action ON | OFF | CYCLE | RESET | SOFT | STATUS). The failover
drills' host loss uses it: it is the one way, through the cloud's own API, to pull the power of an
HP G8 from its iLO. In the lab every host is "configured and enabled" for it; the power is the
guest driver's (`power_host`): off is the lab's silent power-off (the uplink goes down before
anything on the host dies), on brings the link and sshd back. The host monitor then sees the host
Down (its VMs Stopped, as without HA) or Up, as the management server would after its pings.
"""

from __future__ import annotations

from typing import Any

from ..context import SimContext
from ..driver import host_powered, power_host
from ..envelope import PARAM_ERROR, ApiError
from ..jobs import Job
from ..registry import Param, Request, command, job

ACTIONS = ("ON", "OFF", "CYCLE", "RESET", "SOFT", "STATUS")


@command("issueOutOfBandManagementPowerAction", "Initiates the specified power action to the host's out-of-band "
         "management interface", (
             Param("hostid", "uuid", True, "the ID of the host"),
             Param("action", "string", True, "out-of-band management power actions, valid actions are: "
                   "ON, OFF, CYCLE, RESET, SOFT, STATUS"),
             Param("timeout", "long", False, "optional operation timeout in seconds that overrides the global or "
                   "product specific timeout"),
         ), isasync=True, admin_only=True)
def issue_power_action(req: Request) -> dict[str, Any]:
    host = req.entity("hostid", "hosts", required=True)
    assert host is not None
    action = (req.get("action") or "").upper()
    if action not in ACTIONS:
        raise ApiError(PARAM_ERROR, f"Invalid out-of-band management power action: {req.get('action')}; "
                                    f"valid actions are: {', '.join(ACTIONS)}")
    return {"jobid": req.sim.jobs.submit("issueOutOfBandManagementPowerAction", req.params, req.caller, "Host",
                                         host["id"])}


@job("issueOutOfBandManagementPowerAction")
def run_power_action(sim: SimContext, job: Job) -> dict[str, Any]:
    host = sim.db.one("SELECT id, name FROM hosts WHERE id=?", (job.params["hostid"],))
    if host is None:
        raise ApiError(PARAM_ERROR, f"Unable to find host with ID: {job.params['hostid']}")
    action = job.params["action"].upper()
    if action in ("OFF", "SOFT"):
        power_host(sim.driver, host["name"], on=False)
    elif action == "ON":
        power_host(sim.driver, host["name"], on=True)
    elif action in ("CYCLE", "RESET"):
        power_host(sim.driver, host["name"], on=False)
        power_host(sim.driver, host["name"], on=True)
    state = "On" if host_powered(sim.driver, host["name"]) else "Off"
    return {"outofbandmanagement": {
        "hostid": host["id"], "action": action, "powerstate": state, "status": True, "enabled": True,
        "driver": "ipmitool", "description": f"Power action {action} on host {host['name']}: power is {state.lower()}",
    }}
