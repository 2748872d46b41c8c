"""A 6-host lab (2 DCs x 2 racks, 2+1 hosts), checked over SSH the way the suite will check real hosts."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import paramiko
import pytest
import testinfra
import testinfra.backend
import testinfra.host
from hosts_labkit import Lab, running_lab, ssh_run, topology_for

from cloudgate.hypervisor.fusionio import parse_fio_status
from cloudgate_lab import guests, hostfaults, hosts, net
from cloudgate_lab.net import LabError
from cloudgate_lab.topology import LabHost

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with running_lab(topology_for(2, 1, 1)) as lab:
        yield lab


@pytest.fixture(scope="module")
def testinfra_hosts(lab: Lab, nodelay_paramiko: None) -> Iterator[dict[str, testinfra.host.Host]]:
    """testinfra paramiko handles, built directly (not get_host's cache) so we can close them."""
    made = {
        h.name: testinfra.host.Host(testinfra.backend.get_backend(
            f"paramiko://root@{h.ip}", ssh_identity_file=str(lab.key), ssh_config=str(lab.ssh_config), timeout=3))
        for h in lab.topology.hosts
    }
    yield made
    for host in made.values():
        if "client" in host.backend.__dict__:
            host.backend.client.close()


@pytest.fixture
def clean_faults(lab: Lab) -> Iterator[None]:
    yield
    hostfaults.clear_all(lab.topology)
    net.heal()


def _hosts(lab_topology_hosts: list[LabHost]) -> list[str]:
    return [h.name for h in lab_topology_hosts]


HOSTS = _hosts(topology_for(2, 1, 1).hosts)


# -- a healthy host ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTS)
def test_host_answers_like_an_xcpng_hypervisor(lab: Lab, testinfra_hosts: dict[str, testinfra.host.Host],
                                               name: str) -> None:
    host = testinfra_hosts[name]
    assert host.check_output("hostname") == name
    osr = host.file("/etc/os-release").content_string
    assert 'NAME="XCP-ng"' in osr and 'VERSION_ID="8.2.1"' in osr
    assert host.check_output("uname -r") == hosts.HOST_KERNEL
    assert host.check_output("uname -s") == "Linux"
    assert host.run("test -b /dev/fioa || test -e /dev/fioa").rc == 0
    assert host.run("test -d /sys/module/iomemory_vsl").rc == 0
    assert host.check_output("cat /sys/module/iomemory_vsl/version") == "3.2.16"
    assert "iomemory_vsl" in host.check_output("lsmod").split()
    xe = host.check_output("xe host-list")
    assert f"name-label ( RW): {name}" in xe and "uuid ( RO)" in xe and "name-description ( RW)" in xe
    tracking = host.check_output("chronyc -n tracking")
    assert "Leap status     : Normal" in tracking and "Reference ID" in tracking
    cards = parse_fio_status(host.check_output("fio-status -a"))
    assert len(cards) == 1
    card = cards[0]
    assert card.healthy and card.attached_as == "/dev/fioa" and card.device == "fct0"
    assert (card.driver_version, card.firmware) == ("3.2.16", "7.1.17")
    assert card.temperature_c == 45.0 and card.reserve_percent == 100.0
    assert host.check_output("swapon --show") == ""
    assert hosts.host_status(name) == "Up"


def test_host_shell_is_lean_and_path_has_the_standins(lab: Lab) -> None:
    ip = lab.topology.hosts[0].ip
    rc, out, _ = ssh_run(lab, ip, "command -v fio-status xe chronyc; echo $PATH; type pyenv 2>&1 | head -1")
    assert rc == 0
    assert out.splitlines()[:3] == ["/usr/local/sbin/fio-status", "/usr/local/sbin/xe", "/usr/local/sbin/chronyc"]
    assert "pyenv" not in out.splitlines()[3]
    assert "not found" in out.splitlines()[4]


def test_host_reaches_the_other_datacenter_through_cg_wan(lab: Lab) -> None:
    dc1 = lab.topology.hosts[0]
    dc2 = next(h for h in lab.topology.hosts if h.dc != dc1.dc)
    rc, out, _ = ssh_run(lab, dc1.ip, f"ip route; timeout 2 bash -c 'exec 3<>/dev/tcp/{dc2.ip}/22; head -c 7 <&3'")
    assert rc == 0 and "default via 198.18.1.1" in out and out.endswith("SSH-2.0")


# -- faults visible over SSH -------------------------------------------------------------------------

FAULT_CHECKS = {
    "fio-driver-missing": (
        "fio-status -a; lsmod; test -d /sys/module/iomemory_vsl && echo MOD; test -e /dev/fioa && echo DEV",
        lambda out: (not parse_fio_status(out)[0].driver_loaded and "iomemory_vsl" not in out
                     and "MOD" not in out.split() and "DEV" not in out.split()),
    ),
    "fio-degraded": ("fio-status -a", lambda out: parse_fio_status(out)[0].media_status == "Read-only"),
    "fio-hot": ("fio-status -a", lambda out: parse_fio_status(out)[0].temperature_c == 85.0),
    "fio-low-reserve": ("fio-status -a", lambda out: parse_fio_status(out)[0].reserve_percent == 5.0),
    "wrong-kernel": ("uname -r", lambda out: out.strip() == "4.4.52-4.0.12"),
    "ntp-unsync": ("chronyc -n tracking",
                   lambda out: "Leap status     : Not synchronised" in out and "12.500000000 seconds" in out),
    "swap-on": ("swapon --show", lambda out: "/dev/xvdb2" in out and "partition" in out),
}
HEALTHY = {
    "fio-driver-missing": lambda out: parse_fio_status(out)[0].healthy and "MOD" in out.split() and "DEV" in out.split(),
    "fio-degraded": lambda out: parse_fio_status(out)[0].healthy,
    "fio-hot": lambda out: parse_fio_status(out)[0].temperature_c == 45.0,
    "fio-low-reserve": lambda out: parse_fio_status(out)[0].reserve_percent == 100.0,
    "wrong-kernel": lambda out: out.strip() == hosts.HOST_KERNEL,
    "ntp-unsync": lambda out: "Leap status     : Normal" in out,
    "swap-on": lambda out: out == "",
}


@pytest.mark.parametrize("fault", sorted(FAULT_CHECKS))
def test_fault_shows_over_ssh_and_clears(lab: Lab, clean_faults: None, fault: str) -> None:
    host = lab.topology.hosts[1]
    command, faulty = FAULT_CHECKS[fault]
    hostfaults.apply_fault(lab.topology, host.name, fault)
    _, out, _ = ssh_run(lab, host.ip, command)
    assert faulty(out), out
    assert hostfaults.active_faults(lab.topology, host.name) == [fault]
    hostfaults.clear_fault(lab.topology, host.name, fault)
    _, out, _ = ssh_run(lab, host.ip, command)
    assert HEALTHY[fault](out), out
    assert hosts.host_status(host.name) == "Up"


def test_stacked_faults_clear_in_any_order(lab: Lab, clean_faults: None) -> None:
    host = lab.topology.hosts[1]
    hostfaults.apply_fault(lab.topology, host.name, "fio-hot", temperature="90")
    hostfaults.apply_fault(lab.topology, host.name, "fio-degraded", status="Reduced-write")
    hostfaults.clear_fault(lab.topology, host.name, "fio-hot")
    card = parse_fio_status(ssh_run(lab, host.ip, "fio-status -a")[1])[0]
    assert card.temperature_c == 45.0 and card.media_status == "Reduced-write"
    hostfaults.clear_all(lab.topology, host.name)
    assert parse_fio_status(ssh_run(lab, host.ip, "fio-status -a")[1])[0].healthy


def test_agent_alert_keeps_sshd(lab: Lab, clean_faults: None) -> None:
    host = lab.topology.hosts[1]
    hostfaults.apply_fault(lab.topology, host.name, "agent-alert")
    assert hosts.host_status(host.name) == "Alert"
    assert ssh_run(lab, host.ip, "hostname")[1].strip() == host.name
    hostfaults.clear_fault(lab.topology, host.name, "agent-alert")
    assert hosts.host_status(host.name) == "Up"


def test_sshd_down_refuses_connections(lab: Lab, clean_faults: None) -> None:
    host = lab.topology.hosts[1]
    hostfaults.apply_fault(lab.topology, host.name, "sshd-down")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host.ip, 22), timeout=2).close()
    assert hosts.host_status(host.name) == "Up"
    hostfaults.clear_fault(lab.topology, host.name, "sshd-down")
    assert ssh_run(lab, host.ip, "hostname")[1].strip() == host.name


def test_ssh_hang_times_out_on_the_banner(lab: Lab, clean_faults: None) -> None:
    host = lab.topology.hosts[1]
    hostfaults.apply_fault(lab.topology, host.name, "ssh-hang")
    with socket.create_connection((host.ip, 22), timeout=1) as s:  # TCP is accepted ...
        s.settimeout(1.0)
        with pytest.raises(TimeoutError):  # ... but no "SSH-2.0-..." banner ever comes
            s.recv(8)
    t0 = time.monotonic()
    with pytest.raises(paramiko.SSHException):  # paramiko: banner timeout ("No existing session" after it)
        ssh_run(lab, host.ip, "true", timeout=1.0)
    assert time.monotonic() - t0 < 3
    hostfaults.clear_fault(lab.topology, host.name, "ssh-hang")
    assert ssh_run(lab, host.ip, "hostname")[1].strip() == host.name


def test_power_off_takes_host_and_its_guests_down(lab: Lab, clean_faults: None) -> None:
    host = lab.topology.hosts[1]
    spec = guests.GuestSpec("0d5e7c1a-0000-4000-8000-00000000000a", "vm-on-h2", host.name, "198.18.1.120", "guest")
    guests.start_guest(spec)
    hostfaults.apply_fault(lab.topology, host.name, "power-off")
    assert hosts.host_status(host.name) == "Down"
    assert not net.netns_exists(guests.guest_node(spec.vm_id).netns)
    with pytest.raises(OSError):
        socket.create_connection((host.ip, 22), timeout=1).close()
    with pytest.raises(LabError, match="Down"):
        guests.start_guest(spec)
    hostfaults.clear_fault(lab.topology, host.name, "power-off")
    assert hosts.host_status(host.name) == "Up"
    assert ssh_run(lab, host.ip, "hostname")[1].strip() == host.name


def test_unknown_fault_and_registry(lab: Lab) -> None:
    with pytest.raises(LabError, match="unknown host fault"):
        hostfaults.apply_fault(lab.topology, lab.topology.hosts[0].name, "no-such-fault")
    assert {"fio-driver-missing", "fio-degraded", "fio-hot", "fio-low-reserve", "wrong-kernel", "ntp-unsync",
            "sshd-down", "power-off", "agent-alert", "ssh-hang", "swap-on"} <= set(hostfaults.FAULTS)
    assert all(isinstance(d, str) and d for d in hostfaults.FAULTS.values())


# -- guests ------------------------------------------------------------------------------------------


@pytest.fixture
def guest(lab: Lab) -> Iterator[guests.GuestSpec]:
    spec = guests.GuestSpec("7a0c9e3b-5d21-4f6e-9b7a-2c4d6e8f0a1b", "cass-dc1-1", lab.topology.hosts[0].name,
                            "198.18.1.150", "cassandra")
    t0 = time.perf_counter()
    guests.start_guest(spec)
    assert time.perf_counter() - t0 < 5
    yield spec
    guests.stop_guest(spec.vm_id)
    net.heal()


def test_guest_is_a_cassandra_ready_ubuntu_node(lab: Lab, guest: guests.GuestSpec) -> None:
    rc, out, err = ssh_run(lab, guest.ip, "; ".join([
        "hostname", "grep ^VERSION_ID= /etc/os-release", "uname -r", "ulimit -n", "ulimit -l",
        "sysctl -n vm.max_map_count", "cat /sys/kernel/mm/transparent_hugepage/enabled",
        "swapon --show | wc -l", "findmnt -n -o SOURCE /var/lib/cassandra", "chronyc -n tracking | tail -1",
        "ip route | head -1",
    ]))
    assert rc == 0, err
    assert out.splitlines() == [
        "cass-dc1-1", 'VERSION_ID="22.04"', guests.GUEST_KERNEL, "100000", "unlimited", "1048575",
        "always madvise [never]", "0", "/dev/fioa", "Leap status     : Normal",
        "default via 198.18.1.1 dev eth0 ",
    ]


def test_guest_sits_on_its_hosts_xenbr0(lab: Lab, guest: guests.GuestSpec) -> None:
    _, out, _ = ssh_run(lab, lab.topology.hosts[0].ip, "ip -o link show master xenbr0")
    assert "eth0" in out and f"vif{guests.short_id(guest.vm_id)}.0" in out


def test_guest_reachable_across_dcs_until_partitioned(lab: Lab, guest: guests.GuestSpec) -> None:
    dc2 = next(h for h in lab.topology.hosts if h.dc == "dc2")
    probe = f"timeout 1 bash -c 'exec 3<>/dev/tcp/{guest.ip}/22; head -c 7 <&3'; echo \" rc=$?\""
    assert ssh_run(lab, dc2.ip, probe)[1].strip() == "SSH-2.0 rc=0"
    net.partition("dc1", "dc2", lab.topology)
    assert net.partitions(lab.topology) == [("dc1", "dc2")]
    assert ssh_run(lab, dc2.ip, probe)[1].strip().endswith("rc=124")
    assert ssh_run(lab, guest.ip, "hostname")[1].strip() == guest.name  # the root namespace still reaches it
    net.heal()
    assert ssh_run(lab, dc2.ip, probe)[1].strip() == "SSH-2.0 rc=0"


def test_guest_side_faults(lab: Lab, guest: guests.GuestSpec) -> None:
    for fault in ("thp-enabled", "max-map-count-low", "nofile-low", "swap-on"):
        hostfaults.apply_fault(lab.topology, guest.name, fault)
    cmd = "cat /sys/kernel/mm/transparent_hugepage/enabled; sysctl -n vm.max_map_count; ulimit -n; swapon --show"
    out = ssh_run(lab, guest.ip, cmd)[1].splitlines()
    assert out[:3] == ["[always] madvise never", "65530", "4096"] and "/dev/xvdb2" in out[4]
    hostfaults.clear_all(lab.topology, guest.name)
    assert ssh_run(lab, guest.ip, cmd)[1].splitlines() == ["always madvise [never]", "1048575", "100000"]


def test_stop_guest_is_idempotent_and_driver_reports_host(lab: Lab, guest: guests.GuestSpec) -> None:
    driver = guests.NamespaceGuestDriver()
    driver.start_guest(guest)  # same spec again: no-op
    assert driver.host_status(guest.host_name) == "Up"
    driver.stop_guest(guest.vm_id)
    driver.stop_guest(guest.vm_id)
    assert not net.netns_exists(guests.guest_node(guest.vm_id).netns)
    assert not hosts.ssh_banner(guest.ip, timeout=0.5)
