"""VM deploy time against the promise: a VM is usable (answers SSH) in under deploy_seconds.

Destructive: it deploys real VMs, and always destroys them — after a failure, a timeout or Ctrl-C
too: each VM is written to the run ledger before its deploy call (the cloudstack_rw tracker), an
interrupt stops the deploy workers and waits for the calls in flight, and the teardown undoes every
entry; after a kill -9, `cloudgate janitor` finds them in the ledger.
"""

from __future__ import annotations

import pytest

from cloudgate.cloudstack.deploy import deploy_concurrently, percentile, resolve_plan
from cloudgate.ssh.hosts import SshSettings

pytestmark = [pytest.mark.destructive, pytest.mark.measurement]


@pytest.mark.check(id="CG-DEPLOY-001", severity="critical", tier="cloudstack", plane="control")
def test_concurrent_vm_deploys_answer_ssh_within_the_promised_time(cloudstack_rw, target, metric):
    limit = target.thresholds.deploy_seconds
    count = target.thresholds.deploy_vm_count
    plan = resolve_plan(cloudstack_rw.client, target, cloudstack_rw.run_tag, count)
    timings = deploy_concurrently(cloudstack_rw, plan, SshSettings.from_target(target), budget=limit + 30)

    totals = [t.total for t in timings if t.total is not None]
    if totals:
        metric("deploy.total.p50", percentile(totals, 50), "s", limit)
        metric("deploy.total.p95", percentile(totals, 95), "s", limit)
        metric("deploy.total.max", max(totals), "s", limit)
        for phase in ("accepted", "job_done", "running"):
            values = [getattr(t, phase) for t in timings if getattr(t, phase) is not None]
            if values:
                metric(f"deploy.{phase}.max", max(values), "s")
    failed = [t for t in timings if t.total is None or t.total > limit]
    assert not failed, (
        f"{target.name}: {len(failed)} of {len(timings)} VM(s) not usable within {limit:g} s: "
        + "; ".join(t.describe() for t in failed)
    )
