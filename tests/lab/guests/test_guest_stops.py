"""What a VM's peers see when it stops, and the lab's other drill levers, on the whole lab.

A powered-off host, a forced VM stop or a cut link is SILENT in a datacenter: no FIN, no RST; a
client's connection hangs until its own timeout. A clean shutdown closes connections at once. The
failover drills are only meaningful if the lab behaves the same, so:
- stopVirtualMachine forced=true: a connection to the VM's CQL port and to its sshd sees nothing
  for 2 s (neither EOF nor RST);
- stopVirtualMachine (not forced): both see EOF/RST promptly;
- the `power-off` host fault: the connections to its guest (and to the host itself) stay silent;
- drill partitions: iptables over SSH inside a Cassandra guest cuts it from dc2, and goes with it;
- the Cassandra service: `systemctl stop cassandra` over SSH stops the guest's node cleanly (peers
  see it go), `systemctl start cassandra` starts the same node again (standins/services.py);
- the management server stopped and started (`control.mgmt_stop/mgmt_start`): guests keep running.
Every test restores what it broke; the module's lab is removed by the fixture (conftest.py).
"""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import paramiko
import pytest
import requests
from guests_labkit import FullLab

from cloudgate_lab import control, hostfaults, hosts, paths
from cloudgate_lab.cql.cluster import probe_native

pytestmark = pytest.mark.lab

SILENCE_SECONDS = 2.0
DC2_SUBNET = "198.18.2.0/24"


# -- helpers -----------------------------------------------------------------------------------------


def _wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)
    return value


def _vm(lab: FullLab, name: str) -> dict[str, Any]:
    return lab.client().listVirtualMachines(name=name, listall=True)["virtualmachine"][0]


def _cql_connection(ip: str) -> socket.socket:
    """A CQL connection that got an answer (OPTIONS -> SUPPORTED): established end to end, then idle."""
    s = socket.create_connection((ip, 9042), timeout=2)
    s.sendall(struct.pack(">BBhBI", 4, 0, 1, 0x05, 0))
    header = b""
    while len(header) < 9:
        header += s.recv(9 - len(header))
    body = struct.unpack(">I", header[5:9])[0]
    while body > 0:
        body -= len(s.recv(body))
    assert header[4] == 0x06, "no SUPPORTED frame"
    return s


def _ssh_connection(ip: str) -> socket.socket:
    s = socket.create_connection((ip, 22), timeout=2)
    assert s.recv(64).startswith(b"SSH-")
    return s


def _outcome(s: socket.socket, timeout: float) -> str:
    """'silent' if nothing comes within `timeout`, else 'eof' / 'rst' / what came."""
    s.settimeout(max(0.01, timeout))
    try:
        data = s.recv(1)
    except TimeoutError:
        return "silent"
    except ConnectionResetError:
        return "rst"
    except OSError as exc:
        return f"error {exc}"
    return "eof" if data == b"" else f"data {data!r}"


def _outcomes(conns: dict[str, socket.socket], within: float) -> dict[str, str]:
    """Every connection's outcome over the same window (they wait side by side, not one after the other)."""
    deadline = time.monotonic() + within
    out = {name: _outcome(s, deadline - time.monotonic()) for name, s in conns.items()}
    for s in conns.values():
        s.close()
    return out


def _start_vm_again(lab: FullLab, vm: dict[str, Any]) -> None:
    lab.client().startVirtualMachine(id=vm["id"], fetch_result=True)
    ip = vm["nic"][0]["ipaddress"]
    _wait(lambda: probe_native(ip, 9042), 30, f"{vm['name']}'s CQL node back after the restart")


def _ssh(ip: str, command: str, timeout: float = 10.0) -> tuple[int, str, str]:
    """One command over SSH with the lab's key, as the suite's paramiko backend runs it."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.MissingHostKeyPolicy())  # lab guests are rebuilt every run
    client.connect(ip, username="root", key_filename=str(paths.client_key()), timeout=timeout,
                   banner_timeout=timeout, auth_timeout=timeout, look_for_keys=False, allow_agent=False)
    try:
        _, out, err = client.exec_command(command, timeout=timeout)
        rc = out.channel.recv_exit_status()
        return rc, out.read().decode(), err.read().decode()
    finally:
        client.close()


def _reaches(from_ip: str, to_ip: str, port: int = 9042) -> bool:
    rc, out, err = _ssh(from_ip, f"timeout 1 bash -c 'exec 3<>/dev/tcp/{to_ip}/{port}'; echo rc=$?")
    assert rc == 0, err
    return out.strip() == "rc=0"


def _node_view(name: str) -> dict[str, bool]:
    """Which peers a lab Cassandra node sees UP (its status.json, written on every change)."""
    return json.loads((paths.lab_dir() / "cassandra" / name / "status.json").read_text())["up"]


# -- drill partitions: iptables inside a guest over SSH ----------------------------------------------


def test_iptables_over_ssh_in_a_cassandra_guest_cuts_it_from_dc2(full_lab: FullLab) -> None:
    a, b = _vm(full_lab, "cass-dc1-3"), _vm(full_lab, "cass-dc2-1")
    a_ip, b_ip = a["nic"][0]["ipaddress"], b["nic"][0]["ipaddress"]
    dc2 = [f"cass-dc2-{i}" for i in (1, 2, 3)]
    rc, out, err = _ssh(a_ip, "command -v iptables; iptables -V; echo $PATH")
    assert rc == 0, err
    where, version, path = out.splitlines()
    assert where == "/usr/sbin/iptables" and "nf_tables" in version, out
    assert _reaches(b_ip, a_ip)

    tag = "cloudgate-drill-selftest"
    cut = (f"iptables -w -I INPUT -s {DC2_SUBNET} -j DROP -m comment --comment {tag} && "
           f"iptables -w -I OUTPUT -d {DC2_SUBNET} -j DROP -m comment --comment {tag}")
    rc, _, err = _ssh(a_ip, cut)
    assert rc == 0, err
    rules = _ssh(a_ip, "iptables -w -S")[1]
    assert f"-A INPUT -s {DC2_SUBNET} -m comment --comment {tag} -j DROP" in rules, rules
    assert f"-A OUTPUT -d {DC2_SUBNET} -m comment --comment {tag} -j DROP" in rules, rules
    assert not _reaches(b_ip, a_ip), "dc2 still reaches the cut node"
    assert probe_native(a_ip, 9042), "the suite's side (root namespace, dc1 subnet) must still reach it"
    _wait(lambda: not any(_node_view("cass-dc1-3")[n] for n in dc2), 10, "cass-dc1-3 to see dc2 DOWN")
    assert all(_node_view("cass-dc1-3")[n] for n in ("cass-dc1-1", "cass-dc1-2"))

    rc, _, err = _ssh(a_ip, cut.replace(" -I ", " -D "))
    assert rc == 0, err
    assert tag not in _ssh(a_ip, "iptables -w -S")[1]
    assert _reaches(b_ip, a_ip)
    _wait(lambda: all(_node_view("cass-dc1-3")[n] for n in dc2), 10, "cass-dc1-3 to see dc2 UP again")

    # the nemesis' own form (cloudgate/drills/nemesis.py Partition): one pair of rules per dc2 node, -w 5
    per_node = [f"{chain} {flag} {_vm(full_lab, n)['nic'][0]['ipaddress']} -j DROP -m comment --comment {tag}"
                for n in dc2 for chain, flag in (("INPUT", "-s"), ("OUTPUT", "-d"))]
    rc, _, err = _ssh(a_ip, " && ".join(f"iptables -w 5 -I {r}" for r in per_node))
    assert rc == 0, err
    assert not _reaches(b_ip, a_ip)
    rc, _, err = _ssh(a_ip, " && ".join(f"iptables -w 5 -D {r}" for r in per_node))
    assert rc == 0, err
    assert _reaches(b_ip, a_ip)
    # left in place on purpose: `lab down` must take it with the guest (the fixture checks the root
    # namespace's rules afterwards)
    assert _ssh(a_ip, f"iptables -w -I INPUT -s 198.18.2.250 -j DROP -m comment --comment {tag}")[0] == 0


# -- the Cassandra service: systemctl inside a guest over SSH ---------------------------------------


def _cql_pids(ip: str) -> set[int]:
    rc, out, err = _ssh(ip, "systemctl status cassandra | sed -n 's/.*Main PID: //p'")
    return {int(p) for p in out.split()} if rc == 0 else set()


def test_systemctl_stop_cassandra_over_ssh_closes_the_node_cleanly_and_start_brings_the_same_node_back(
        full_lab: FullLab) -> None:
    vm = _vm(full_lab, "cass-dc2-2")
    ip = vm["nic"][0]["ipaddress"]
    other = _vm(full_lab, "cass-dc2-3")["nic"][0]["ipaddress"]
    assert _ssh(ip, "systemctl is-active cassandra") == (0, "active\n", "")
    before, other_before = _cql_pids(ip), _cql_pids(other)
    assert len(before) == 1 and len(other_before) == 1
    conn = _cql_connection(ip)

    rc, _, err = _ssh(ip, "systemctl stop cassandra")
    assert rc == 0, err
    assert _outcome(conn, 2.0) in ("eof", "rst"), "a clean stop closes the node's connections at once"
    assert not probe_native(ip, 9042)
    assert _ssh(ip, "systemctl is-active cassandra.service") == (3, "inactive\n", "")
    assert _cql_pids(other) == other_before, "stopping one guest's service touched another guest's node"
    assert hosts.ssh_banner(ip), "the VM itself keeps running: only its service stopped"
    _wait(lambda: not _node_view("cass-dc2-3")["cass-dc2-2"], 10, "cass-dc2-3 to see cass-dc2-2 DOWN")

    assert _ssh(ip, "systemctl stop cassandra")[0] == 0, "stopping a stopped service is not an error"
    rc, _, err = _ssh(ip, "systemctl start cassandra")
    assert rc == 0, err
    _wait(lambda: probe_native(ip, 9042), 30, "cass-dc2-2 answering CQL again")
    after = _cql_pids(ip)
    assert len(after) == 1 and after != before, "a new node process (the same command line)"
    assert _ssh(ip, "systemctl start cassandra")[0] == 0 and _cql_pids(ip) == after, "start of a running unit"
    _wait(lambda: _node_view("cass-dc2-3")["cass-dc2-2"], 10, "cass-dc2-3 to see cass-dc2-2 UP again")

    rc, _, err = _ssh(ip, "systemctl stop nosuch")
    assert rc == 5 and "Unit nosuch.service not found." in err, (rc, err)


# -- the management server -------------------------------------------------------------------------


def test_management_server_stop_and_start_leave_guests_running(full_lab: FullLab) -> None:
    endpoint = f"http://127.0.0.1:{full_lab.topology.api_port}/client/api"
    before = {v["name"]: v["state"] for v in full_lab.client().listVirtualMachines(listall=True)["virtualmachine"]}
    nodes = [n["address"] for n in json.loads((paths.lab_dir() / "cassandra" / "cluster.json").read_text())["nodes"]]
    t0 = time.monotonic()
    assert control.mgmt_stop() is True
    stopped_in = time.monotonic() - t0
    with pytest.raises(requests.ConnectionError):
        requests.get(endpoint, timeout=1)
    assert control.mgmt_stop() is False  # idempotent
    assert all(probe_native(ip, 9042) for ip in nodes), "a Cassandra guest went down with the management server"
    assert all(hosts.ssh_banner(ip) for ip in nodes)
    t0 = time.monotonic()
    assert control.mgmt_start() is True
    started_in = time.monotonic() - t0
    assert control.mgmt_start() is False  # idempotent
    after = {v["name"]: v["state"] for v in full_lab.client().listVirtualMachines(listall=True)["virtualmachine"]}
    assert after == before and set(after.values()) == {"Running"}
    assert stopped_in < 6 and started_in < 20, (stopped_in, started_in)


# -- how a VM stops ---------------------------------------------------------------------------------


def test_a_forced_stop_is_silent_to_open_connections(full_lab: FullLab) -> None:
    vm = _vm(full_lab, "cass-dc1-1")
    ip = vm["nic"][0]["ipaddress"]
    conns = {"cql": _cql_connection(ip), "ssh": _ssh_connection(ip)}
    full_lab.client().stopVirtualMachine(id=vm["id"], forced=True, fetch_result=True)
    assert not hosts.ssh_banner(ip, timeout=0.5), "the VM is still running"
    assert _outcomes(conns, SILENCE_SECONDS) == {"cql": "silent", "ssh": "silent"}
    _start_vm_again(full_lab, vm)


def test_a_graceful_stop_closes_connections_at_once(full_lab: FullLab) -> None:
    vm = _vm(full_lab, "cass-dc1-2")
    ip = vm["nic"][0]["ipaddress"]
    conns = {"cql": _cql_connection(ip), "ssh": _ssh_connection(ip)}
    t0 = time.monotonic()
    full_lab.client().stopVirtualMachine(id=vm["id"], fetch_result=True)
    stop_seconds = time.monotonic() - t0
    outcomes = _outcomes(conns, 1.0)
    assert all(o in ("eof", "rst") for o in outcomes.values()), outcomes
    assert stop_seconds < 5, f"a clean stop took {stop_seconds:.1f} s"
    _start_vm_again(full_lab, vm)


def test_a_host_power_off_is_silent_to_its_guests_connections(full_lab: FullLab) -> None:
    vm = _vm(full_lab, "cass-dc2-1")
    ip, host_name = vm["nic"][0]["ipaddress"], vm["hostname"]
    host_ip = full_lab.topology.host(host_name).ip
    conns = {"cql": _cql_connection(ip), "ssh": _ssh_connection(ip), "host ssh": _ssh_connection(host_ip)}
    hostfaults.apply_fault(full_lab.topology, host_name, "power-off")
    try:
        assert _outcomes(conns, SILENCE_SECONDS) == {"cql": "silent", "ssh": "silent", "host ssh": "silent"}
        assert not hosts.ssh_banner(ip, timeout=0.3)
        _wait(lambda: _vm(full_lab, "cass-dc2-1")["state"] == "Stopped", 10, "CloudStack to stop the VM of the dead host")
    finally:
        hostfaults.clear_fault(full_lab.topology, host_name, "power-off")
    client = full_lab.client()
    _wait(lambda: client.listHosts(name=host_name)["host"][0]["state"] == "Up", 10, f"{host_name} Up again")
    _start_vm_again(full_lab, vm)


# -- Cassandra: hinted handoff off through the lab's cloud fault ------------------------------------


def test_the_hints_off_cloud_fault_reaches_every_cassandra_node(full_lab: FullLab) -> None:
    from cloudgate_lab.cql import faults

    names = [n["name"] for n in json.loads((paths.lab_dir() / "cassandra" / "cluster.json").read_text())["nodes"]]

    def hints_off() -> dict[str, bool]:
        return {n: faults.read_control(str(paths.lab_dir() / "cassandra" / n))["faults"].get("hints_off", False)
                for n in names}

    control.cloud_fault("hints-off", {})
    assert set(hints_off().values()) == {True}, hints_off()
    control.cloud_fault("hints-off", {}, clear=True)
    assert set(hints_off().values()) == {False}, hints_off()
    assert "hints-off" in control.CLOUD_FAULTS
