"""Helpers for the namespaced-host tests: a small real lab per module, always torn down.

The lab is built with the same functions `cloudgate lab up` uses (net.build_network, hosts.build_hosts)
under a CLOUDGATE_LAB_DIR in a tmp dir, and reached over SSH only. Teardown runs in a `finally`,
so a failing test or an error during bring-up still leaves no namespace, bridge, process or file.
The tests need root; they skip, rather than trample it, if another lab is already running here.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from cloudgate.target import LabSection, load_target
from cloudgate_lab import guests, hosts, net, paths
from cloudgate_lab.topology import LabTopology, build_topology

REPO = Path(__file__).resolve().parents[3]
LAB_YAML = REPO / "fixtures" / "targets" / "lab.yaml"


def require_root_and_no_lab() -> None:
    if os.geteuid() != 0:
        pytest.skip("lab tests need root (network namespaces, mounts)")
    others = net.list_netns() + net.list_root_links()
    if others:
        pytest.skip(f"another lab is running on this machine ({', '.join(others[:3])}…); `cloudgate lab down` first")


def topology_for(racks_per_dc: int, hosts_per_rack: int, extra_first_racks: int) -> LabTopology:
    target = load_target(LAB_YAML).target
    section = (target.lab or LabSection()).model_copy(update={
        "racks_per_dc": racks_per_dc, "hosts_per_rack": hosts_per_rack, "extra_hosts_first_racks": extra_first_racks,
    })
    return build_topology(target.model_copy(update={"lab": section}))


def teardown_everything() -> list[str]:
    """The same order `lab down` uses; collect problems instead of stopping at the first."""
    problems = []
    for step in (guests.stop_all_guests, hosts.teardown_hosts, net.teardown_network):
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - keep cleaning
            problems.append(f"{step.__name__}: {exc}")
    return problems


@dataclass
class Lab:
    topology: LabTopology
    dir: Path
    key: Path
    ssh_config: Path
    bringup_seconds: float


@contextmanager
def running_lab(topology: LabTopology) -> Iterator[Lab]:
    """Build the lab in a fresh temp dir, yield it, then remove every trace (also if the build failed)."""
    require_root_and_no_lab()
    base = Path(tempfile.mkdtemp(prefix="cg-hosts-test-"))
    lab_dir = base / "lab"
    mp = pytest.MonkeyPatch()
    mp.setenv("CLOUDGATE_LAB_DIR", str(lab_dir))
    try:
        lab_dir.mkdir(parents=True, exist_ok=True)
        paths.topology_file().write_text(topology.to_json())
        t0 = time.perf_counter()
        net.build_network(topology)
        hosts.build_hosts(topology)
        elapsed = time.perf_counter() - t0
        cfg = lab_dir / "ssh_config"
        cfg.write_text("Host *\n  User root\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n")
        yield Lab(topology, lab_dir, paths.client_key(), cfg, elapsed)
    finally:
        problems = teardown_everything()
        shutil.rmtree(base, ignore_errors=True)
        mp.undo()
        assert not problems, problems


def leftovers(lab_dir: Path) -> list[str]:
    """Everything a lab could leave behind on this machine."""
    found = [f"netns {n}" for n in net.list_netns()]
    found += [f"link {n}" for n in net.list_root_links()]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(lab_dir) in cmd:
                found.append(f"process {pid}: {cmd[:80]}")
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [f"mount {line.split()[4]}" for line in mounts.splitlines() if str(lab_dir) in line or "/run/netns/cg-" in line]
    if lab_dir.exists():
        found.append(f"dir {lab_dir}")
    return found


# -- SSH helpers -------------------------------------------------------------------------------------


def nodelay_socket(ip: str, timeout: float) -> socket.socket:
    """paramiko does not set TCP_NODELAY: each exec would stall ~40 ms (see shared/reference/ssh-fanout.md)."""
    sock = socket.create_connection((ip, 22), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def ssh_connect(lab: Lab, ip: str, timeout: float = 3.0) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.MissingHostKeyPolicy())  # lab hosts are rebuilt every run
    client.connect(ip, username="root", key_filename=str(lab.key), sock=nodelay_socket(ip, timeout),
                   timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                   look_for_keys=False, allow_agent=False)
    return client


def ssh_run(lab: Lab, ip: str, command: str, timeout: float = 5.0) -> tuple[int, str, str]:
    """One fresh connection per call (faults change what a *new* connection sees)."""
    client = ssh_connect(lab, ip, timeout=timeout)
    try:
        _, out, err = client.exec_command(command, timeout=timeout)
        rc = out.channel.recv_exit_status()
        return rc, out.read().decode(), err.read().decode()
    finally:
        client.close()
