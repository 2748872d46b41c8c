"""The suite against the lab: healthy lab → every check passes; unreachable hosts, API errors and bad
credentials → one line naming the cause, within the timeout; destructive checks leave nothing.

(Each check's own lab fault is in the proofs table, tests/self/proofs.py, run by test_lab_faults.py.)
The suite is run for real (a pytest subprocess against the lab through the CloudStack API and SSH);
these tests read its junit.xml like CI would.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time

import pytest
from selfcheck import LAB_TARGET, derived_target

from cloudgate.target import load_target
from cloudgate_lab import control, hostfaults, paths
from cloudgate_lab.topology import LabTopology, build_topology

HOST = "dc1-r2-h1"  # the victim of host faults
OTHER = "dc2-r1-h1"  # a healthy neighbour: its checks must keep passing
HYPERVISORS = "tests/infra/test_hypervisors.py"
CLOUDSTACK = "tests/infra/test_cloudstack.py"


def topology() -> LabTopology:
    return build_topology(load_target(LAB_TARGET).target)


@contextlib.contextmanager
def host_fault(name: str, host: str = HOST, **params):
    hostfaults.apply_fault(topology(), host, name, **params)
    try:
        yield
    finally:
        hostfaults.clear_fault(topology(), host, name)


@contextlib.contextmanager
def cloud_fault(name: str, **params):
    control.cloud_fault(name, params)
    try:
        yield
    finally:
        control.cloud_fault(name, params, clear=True)


def probe_vms() -> list[str]:
    listed = control.lab_client().listVirtualMachines(listall=True).get("virtualmachine", [])
    return [vm["name"] for vm in listed if vm["name"].startswith("cg-probe-")]


def test_healthy_lab_passes_every_smoke_check_and_no_secret_reaches_the_reports(run_suite, lab):
    run = run_suite("--profile=smoke")
    assert run.returncode == 0, run.stdout[-3000:]
    assert not run.failed()
    hosts = len(topology().hosts)
    assert sum(1 for name in run.cases if name.startswith("test_fusionio_card_is_healthy[")) == hosts
    assert run.summary["counts"]["not_run"] == 0
    secrets = [v for k, v in lab["env"].items() if k.endswith(("_KEY", "_SECRET_KEY"))]
    assert secrets and run.reports is not None
    for path in run.reports.iterdir():
        text = path.read_text(errors="replace")
        assert not [s for s in secrets if s in text], f"{path.name} holds an API key or secret"
    assert not [s for s in secrets if s in run.stdout + run.stderr]


@pytest.mark.parametrize("fault", ["sshd-down", "power-off", "ssh-hang"])
def test_unreachable_host_fails_its_checks_in_one_line_within_its_timeout(run_suite, fault):
    started = time.monotonic()
    with host_fault(fault):
        run = run_suite(HYPERVISORS, "-k", f"{HOST} or {OTHER}", paths=())
    elapsed = time.monotonic() - started
    failing = run.failed()
    mine = {n: m for n, m in failing.items() if HOST in n}
    assert mine and all("SSH unreachable" in m for m in mine.values()), failing
    assert all(m.count("\n") == 0 for m in mine.values()), f"expected one line: {mine}"
    assert not [n for n in failing if OTHER in n]
    assert elapsed < 45, f"a dead host cost {elapsed:.0f} s: its connectivity pre-check should cost one timeout"
    assert "Traceback" not in run.stdout + run.stderr, "paramiko's traceback reached the operator's terminal"


def _wait_host_state(state: str, seconds: float = 15.0) -> None:
    """The simulator's host monitor polls like CloudStack's ping: a host's state follows its agent late."""
    deadline = time.monotonic() + seconds
    while control.lab_client().listHosts(name=HOST)["host"][0]["state"] != state:
        assert time.monotonic() < deadline, f"{HOST} not {state} in CloudStack after {seconds:g} s"
        time.sleep(0.3)


def test_host_in_alert_is_named_by_the_host_state_check(run_suite):
    with host_fault("agent-alert"):
        _wait_host_state("Alert")
        run = run_suite(CLOUDSTACK, "-k", "hypervisor_host_is_up", paths=())
    _wait_host_state("Up")  # else the next test finds the host still in Alert (a flake seen under load)
    message = run.message("test_every_hypervisor_host_is_up_and_enabled")
    assert f"{HOST} (state Alert" in message, message


@pytest.mark.parametrize("code", ["530", "431"])
def test_api_error_gives_one_line_naming_the_target_and_code_and_the_run_goes_on(run_suite, code):
    with cloud_fault("api-error", command="listManagementServers", code=code):
        run = run_suite(CLOUDSTACK, paths=())
    message = run.message("test_every_management_server_is_up")
    assert f"lab: listManagementServers failed: {code}" in message and "Traceback" not in message
    assert message.count("\n") == 0, f"expected one line, got: {message}"
    assert run.outcome("test_every_hypervisor_host_is_up_and_enabled") == "passed"


def test_a_wrong_api_secret_is_rejected_with_401_in_one_line(run_suite):
    run = run_suite(CLOUDSTACK, paths=(), env={"CLOUDGATE_LAB_SECRET_KEY": "not-the-secret"})
    message = run.message("test_cloudstack_api_answers_and_the_api_key_is_accepted")
    assert "API credentials refused (401" in message and "not-the-secret" not in message, message
    assert "not-the-secret" not in run.stdout + run.stderr


def test_an_unreachable_endpoint_is_named_in_one_line(run_suite, tmp_path):
    target = derived_target(tmp_path, cloudstack={"endpoint": "http://127.0.0.1:9/client/api"})
    run = run_suite(CLOUDSTACK, paths=(), target=target)
    message = run.message("test_every_management_server_is_up")
    assert "CloudStack API unreachable at http://127.0.0.1:9/client/api (Connection refused)" in message, message


def test_deploy_time_check_passes_on_the_healthy_lab_and_leaves_nothing(run_suite, lab):
    run = run_suite("tests/infra/test_deploy_time.py", "--allow-destructive", paths=())
    assert run.outcome("test_concurrent_vm_deploys_answer_ssh_within_the_promised_time") == "passed", run.failed()
    assert not probe_vms(), "the deploy check left VMs behind"


def test_parallel_members_of_one_anti_affinity_group_land_apart_on_the_healthy_lab_and_leave_nothing(run_suite, lab):
    run = run_suite("tests/infra/test_anti_affinity_under_concurrency.py", "--allow-destructive", paths=())
    name = "test_parallel_deploys_of_one_anti_affinity_group_land_on_distinct_hosts"
    assert run.outcome(name) == "passed", run.failed()
    assert not probe_vms(), "the anti-affinity check left VMs behind"
    groups = control.lab_client().listAffinityGroups(listall=True).get("affinitygroup", [])
    assert not [g["name"] for g in groups if g["name"].startswith("cg-probe-")], "it left its group behind"


def test_deploy_check_is_skipped_with_its_reason_without_allow_destructive(run_suite):
    run = run_suite("tests/infra/test_deploy_time.py", paths=())
    name = "test_concurrent_vm_deploys_answer_ssh_within_the_promised_time"
    assert run.outcome(name) == "not_run" and "needs --allow-destructive" in run.message(name)


def test_lab_down_leaves_nothing_behind_and_up_recovers(lab):
    import subprocess

    before_rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    control.down(quiet=True)
    try:
        assert control.leftovers() == []
        assert not [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split() if n.startswith("cg-")]
        assert "cgdc" not in subprocess.run(["ip", "link"], capture_output=True, text=True).stdout
        from cloudgate_lab import paths

        live = [line.split(None, 1) for line in subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True,
                                                                text=True).stdout.splitlines()]
        ours = [args for stat, *rest in live if not stat.startswith("Z") for args in rest if str(paths.lab_dir()) in args]
        assert not ours, f"lab processes left: {ours}"
        assert subprocess.run(["iptables-save"], capture_output=True, text=True).stdout.count("-A") == before_rules.count("-A")
    finally:
        lab["timings"] = control.up(str(LAB_TARGET), quiet=True)
        exports = control.env_exports(str(LAB_TARGET))
        lab["env"].update(dict(line.removeprefix("export ").split("=", 1) for line in exports.splitlines() if line))


def test_janitor_destroys_what_a_killed_run_left_and_only_that(lab, tmp_path):
    import subprocess
    import sys

    from selfcheck import REPO

    client = control.lab_client()
    zone = client.listZones(name="lab-dc2")["zone"][0]
    offering = client.listServiceOfferings(name="Small Instance")["serviceoffering"][0]
    template = client.listTemplates(templatefilter="executable", name="Ubuntu 22.04 cloudgate guest", zoneid=zone["id"])["template"][0]
    client.deployVirtualMachine(zoneid=zone["id"], serviceofferingid=offering["id"], templateid=template["id"],
                                name="cg-probe-killed-run-0", fetch_result=True)
    env = {**os.environ, **lab["env"]}
    # a reports dir of its own: the checkout's reports/ may hold other runs' ledgers, which are not this test's
    argv = [sys.executable, "-m", "cloudgate.cli", "janitor", "--target", str(LAB_TARGET), "--reports-dir", str(tmp_path)]
    young = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert "nothing left behind" in young.stdout and probe_vms() == ["cg-probe-killed-run-0"], "a young VM was taken"
    argv.append("--older-than-minutes=0")
    dry = subprocess.run([*argv, "--dry-run"], capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert "would destroy cg-probe-killed-run-0" in dry.stdout and probe_vms() == ["cg-probe-killed-run-0"]
    swept = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert swept.returncode == 0 and "destroyed cg-probe-killed-run-0" in swept.stdout, swept.stderr
    assert probe_vms() == []
    names = [vm["name"] for vm in client.listVirtualMachines(listall=True)["virtualmachine"]]
    assert sum(n.startswith("cass-") for n in names) == 6, "the janitor must leave other VMs alone"


def test_a_host_that_refuses_the_key_fails_its_checks_in_one_line_and_the_run_goes_on(run_suite, tmp_path):
    stranger = tmp_path / "stranger_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True, timeout=20)
    target = derived_target(tmp_path, ssh={"identity_file": str(stranger)})
    run = run_suite(HYPERVISORS, "-k", HOST, paths=(), target=target)
    mine = {n: m for n, m in run.failed().items() if HOST in n}
    assert mine and all(f"the host refused the key {stranger}" in m for m in mine.values()), run.failed()
    assert all(m.count("\n") == 0 for m in mine.values()), f"expected one line: {mine}"
    assert sum(1 for n in run.cases if HOST in n) == len(mine), "every check of the host ran and failed"


def test_a_host_whose_host_key_changed_fails_its_checks_in_one_line_and_its_neighbour_passes(run_suite, tmp_path):
    victim, neighbour = topology().host(HOST), topology().host(OTHER)
    impostor = tmp_path / "impostor_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(impostor)], check=True, timeout=20)
    real = (paths.hosts_dir() / OTHER / "hostkey.pub").read_text().split()[:2]
    fake = impostor.with_name(impostor.name + ".pub").read_text().split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{neighbour.ip} {' '.join(real)}\n{victim.ip} {' '.join(fake)}\n")
    target = derived_target(tmp_path, ssh={"known_hosts": str(known_hosts)})
    run = run_suite(HYPERVISORS, "-k", f"{HOST} or {OTHER}", paths=(), target=target)
    failing = run.failed()
    mine = {n: m for n, m in failing.items() if HOST in n}
    assert mine and all("host key does not match known_hosts (possible impersonation)" in m
                        for m in mine.values()), failing
    assert all(m.count("\n") == 0 for m in mine.values()), f"expected one line: {mine}"
    assert not [n for n in failing if OTHER in n], failing
    assert any(OTHER in n and outcome == "passed" for n, (outcome, _) in run.cases.items())

