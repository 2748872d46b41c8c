"""The front tier is elastic: a service scales out and back in under load, and no client sees an error.

Runs the operators' own scale commands (the target's `frontends.scale`; without them, not
applicable) while an open-loop client goes through the first datacenter's VIP, and reads the
phases off the client's history (cloudgate.frontends.elasticity). Destructive (it adds a VM and
removes it): the scale-out's undo is in the run ledger before the command runs.
"""

from __future__ import annotations

import contextlib
import time

import pytest

from cloudgate.cloudstack.opcommand import OperatorCommandError, run_operator_command
from cloudgate.frontends import elasticity
from cloudgate.frontends.members import members
from cloudgate.snapshot import vm_record

pytestmark = [pytest.mark.destructive, pytest.mark.measurement]
STEADY_SECONDS = 2.0  # the client's load before the scale-out and after the scale-in


@pytest.mark.check(id="CG-FRONT-016", severity="major", tier="frontends", plane="control")
def test_a_front_service_scales_out_and_in_under_load_with_no_client_error(
        frontends, target, drill_context, run_dir, metric):
    scale = frontends.scale
    if scale is None:
        pytest.skip("not applicable: no frontends.scale commands in the target (the suite never guesses them)")
    service = frontends.services[0]
    dc_name, door = next(iter(frontends.datacenters.items()))
    datacenter = next(d for d in target.datacenters if d.name == dc_name)
    ctx = drill_context

    def names() -> list[str]:
        listed = [vm_record(v) for v in ctx.client.list("listVirtualMachines", listall=True)]
        return [m.name for m in members(service, datacenter, listed) if m.state == "Running"]

    before = names()
    client = elasticity.BackgroundClient(f"http://{door.vip}{service.probe_path}", frontends.probe.rate_per_second,
                                         frontends.probe.timeout_seconds, frontends.probe.max_in_flight,
                                         run_dir / f"front-scale-{dc_name}.history.jsonl")
    entry = ctx.ledger.intend("front_scale_out", f"{service.name}@{dc_name}", scope=ctx.scope,
                              attrs={"service": service.name, "dc": dc_name, "before": before},
                              undo={"command": scale.in_command})
    client.start()
    try:
        time.sleep(STEADY_SECONDS)
        out_start = time.time()
        try:
            run_operator_command(scale.out_command.format(service=service.name, dc=dc_name), scale.timeout_seconds,
                                 f"scale out {service.name} in {dc_name}")
        except OperatorCommandError as exc:
            pytest.fail(str(exc), pytrace=False)
        out_end = time.time()
        added = elasticity.wait_for(f"a new VM of {service.name} in CloudStack",
                                    lambda: elasticity.new_members(before, names()), timeout=30)
        new_vm = added[0]
        ctx.ledger.created(entry, new_vm)
        servers = len(before) + len(added)
        history = client.history
        with contextlib.suppress(TimeoutError):  # judged below from the history; the scale-in runs anyway
            elasticity.wait_for(f"{new_vm} taking its share", lambda: elasticity.phases(
                elasticity.read_requests(history), new_vm, servers, out_start, out_end, None, None
            ).fair_share_seconds is not None, timeout=frontends.promises.scale_out_seconds)
        in_start = time.time()
        try:
            run_operator_command(scale.in_command.format(service=service.name, dc=dc_name, vm=new_vm),
                                 scale.timeout_seconds, f"scale in {new_vm}")
        except OperatorCommandError as exc:
            pytest.fail(str(exc), pytrace=False)
        in_end = time.time()
        ctx.ledger.undone(entry, f"scaled in {new_vm} by the check")
        time.sleep(STEADY_SECONDS)
    finally:
        client.stop()
    p = elasticity.phases(elasticity.read_requests(client.history), new_vm, servers, out_start, out_end,
                          in_start, in_end)
    for name, value, unit in p.metrics():
        metric(f"front.scale.{dc_name}.{service.name}.{name}", value, unit)
    problems = elasticity.problems(p, frontends.promises.scale_out_seconds, service.name, dc_name)
    if client.error:
        problems.append(f"the client through the VIP stopped: {client.error}")
    if new_vm in names():
        problems.append(f"{new_vm} is still listed by CloudStack after the scale-in command")
    assert not problems, f"{'; '.join(problems)} (scale-out {p.command_seconds:.1f} s, first request "
    f"+{p.first_request_seconds if p.first_request_seconds is not None else float('nan'):.1f} s)"
