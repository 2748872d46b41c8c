"""Hypervisor hosts (XenServer/XCP dom0 with Fusion-IO flash), one test per host and per fact.

Hosts are those CloudStack lists (type Routing); each fact is its own test so a single bad host
fails its own checks only and the report names it. What the checks read is gathered once per host,
in one SSH exec (`hypervisor_facts`, cloudgate.roles.hypervisor_probe). Read-only: all in the smoke profile.
"""

from __future__ import annotations

import pytest

from cloudgate.hypervisor.baselines import HypervisorBaseline, load_hypervisor_baseline
from cloudgate.hypervisor.fusionio import FioCard, parse_fio_status
from cloudgate.ssh.facts import chrony_tracking, os_release
from cloudgate.target import TargetError

pytestmark = pytest.mark.smoke


@pytest.fixture(scope="session")
def baseline(loaded_target) -> HypervisorBaseline:
    try:
        return load_hypervisor_baseline(loaded_target)
    except TargetError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


def fio_cards(facts, name: str) -> list[FioCard]:
    out = facts["fio_status"]
    assert not out.timed_out, f"{name}: `fio-status -a` hung (stopped after the command timeout) — card or driver stuck"
    assert out.rc == 0 or out.stdout, f"{name}: fio-status failed (rc {out.rc}): {out.stderr.strip()[:200]} — is the Fusion-IO utility installed?"
    cards = parse_fio_status(out.stdout)
    assert cards, f"{name}: fio-status lists no ioMemory device — card missing or not detected"
    return cards


@pytest.mark.check(id="CG-HOST-001", severity="major", tier="hypervisor", plane="data")
def test_os_release_matches_the_baseline(hypervisor, hypervisor_facts, baseline):
    release = os_release(hypervisor_facts.output("os_release"))
    found = (release.get("ID"), release.get("VERSION_ID"))
    wanted = (baseline.os_release.id, baseline.os_release.version_id)
    assert found == wanted, f"{hypervisor.name}: OS is {found[0]} {found[1]}, baseline is {wanted[0]} {wanted[1]}"


@pytest.mark.check(id="CG-HOST-002", severity="major", tier="hypervisor", plane="data")
def test_kernel_matches_the_baseline(hypervisor, hypervisor_facts, baseline):
    kernel = hypervisor_facts.output("kernel").strip()
    assert kernel == baseline.kernel, (
        f"{hypervisor.name}: running kernel {kernel}, baseline {baseline.kernel} — reboot on the qualified kernel"
    )


@pytest.mark.check(id="CG-HOST-003", severity="critical", tier="hypervisor", plane="data")
def test_xen_toolstack_answers(hypervisor, hypervisor_facts):
    out = hypervisor_facts["xe_host_list"]
    assert out.rc == 0 and "uuid ( RO)" in out.stdout, (
        f"{hypervisor.name}: `xe host-list` failed (rc {out.rc}): {(out.stderr or out.stdout).strip()[:200]} — is xapi running?"
    )


@pytest.mark.check(id="CG-HOST-004", severity="major", tier="hypervisor", plane="data")
def test_clock_is_synchronised_by_ntp(hypervisor, hypervisor_facts, thresholds):
    out = hypervisor_facts["chrony"]
    assert out.rc == 0, f"{hypervisor.name}: `chronyc tracking` failed (rc {out.rc}) — is chronyd running?"
    tracking = chrony_tracking(out.stdout)
    assert tracking.leap_status == "Normal", (
        f"{hypervisor.name}: clock not synchronised by NTP (chrony leap status: {tracking.leap_status})"
    )
    assert abs(tracking.offset_ms) <= thresholds.ntp_offset_ms, (
        f"{hypervisor.name}: clock off by {tracking.offset_ms:.1f} ms (limit {thresholds.ntp_offset_ms:g} ms)"
    )


@pytest.mark.check(id="CG-FIO-001", severity="critical", tier="hypervisor", plane="data")
def test_fusionio_driver_is_loaded(hypervisor, hypervisor_facts, baseline):
    module = baseline.fusionio.module
    loaded = module in hypervisor_facts.output("lsmod").split()
    in_sysfs = hypervisor_facts["fio_module_dir"].succeeded
    assert loaded and in_sysfs, (
        f"{hypervisor.name}: Fusion-IO driver {module} not loaded (lsmod: {'yes' if loaded else 'no'}, "
        f"/sys/module: {'yes' if in_sysfs else 'no'}) — `modprobe {module}` or reinstall iomemory-vsl for this kernel"
    )


@pytest.mark.check(id="CG-FIO-002", severity="critical", tier="hypervisor", plane="data")
def test_fusionio_card_is_healthy(hypervisor, hypervisor_facts):
    bad = [
        f"{c.device}: {c.media_status or c.status}" for c in fio_cards(hypervisor_facts, hypervisor.name) if not c.healthy
    ]
    assert not bad, f"{hypervisor.name}: Fusion-IO card not healthy: {', '.join(bad)} — drain the host and replace the card"


@pytest.mark.check(id="CG-FIO-003", severity="major", tier="hypervisor", plane="data")
def test_fusionio_driver_and_firmware_match_the_baseline(hypervisor, hypervisor_facts, baseline):
    wanted = (baseline.fusionio.driver_version, baseline.fusionio.firmware)
    drift = [
        f"{c.device}: driver {c.driver_version}, firmware {c.firmware}"
        for c in fio_cards(hypervisor_facts, hypervisor.name)
        if (c.driver_version, c.firmware) != wanted
    ]
    assert not drift, f"{hypervisor.name}: Fusion-IO versions differ from baseline (driver {wanted[0]}, firmware {wanted[1]}): {', '.join(drift)}"


@pytest.mark.check(id="CG-FIO-004", severity="major", tier="hypervisor", plane="data")
def test_fusionio_temperature_and_reserve_are_within_limits(hypervisor, hypervisor_facts, thresholds):
    problems = []
    for card in fio_cards(hypervisor_facts, hypervisor.name):
        if card.temperature_c is None or card.temperature_c > thresholds.fio_max_temperature_c:
            problems.append(f"{card.device} at {card.temperature_c} degC (limit {thresholds.fio_max_temperature_c:g})")
        if card.reserve_percent is None or card.reserve_percent < thresholds.fio_min_reserve_percent:
            problems.append(f"{card.device} reserve {card.reserve_percent}% (minimum {thresholds.fio_min_reserve_percent:g}%)")
    assert not problems, f"{hypervisor.name}: Fusion-IO out of limits: {', '.join(problems)}"


@pytest.mark.check(id="CG-FIO-005", severity="critical", tier="hypervisor", plane="data")
def test_fusionio_block_device_is_present(hypervisor, hypervisor_facts, baseline):
    device = baseline.fusionio.device
    assert hypervisor_facts["fio_device"].succeeded, (
        f"{hypervisor.name}: {device} missing — card detached or driver not attached (see fio-status)"
    )
