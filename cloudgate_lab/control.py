"""`cloudgate lab up | down | status | env | fault | upgrade`: build, inspect, break, upgrade and remove the lab.

The lab is a target, not a mock: `up` builds a two-datacenter network of namespaced hypervisor
hosts running sshd, then starts the CloudStack API simulator on loopback, which creates guests on
those hosts when asked to deploy. `down` removes everything it made — processes, namespaces,
bridges, the state directory — and then checks that nothing of it is left. `up` after a crash
cleans first. `upgrade` restarts the management server on a new CloudStack version, clean or with
regressions (cloudgate_lab/cloudstack/upgrade.py), for the upgrade gate.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cloudgate.target import Environment, load_target
from cloudgate_lab import clusterfile, extra, footprint, paths
from cloudgate_lab.cloudstack import upgrade as cs_upgrade
from cloudgate_lab.topology import NETNS_PREFIX, LabTopology, build_topology


class LabControlError(Exception):
    """One line for the operator."""


SIMULATOR_PID = "cloudstack.pid"
SIMULATOR_LOG = "cloudstack.log"
TIMINGS = "timings.json"


# --------------------------------------------------------------------------- helpers
def _require_root() -> None:
    if os.geteuid() != 0:
        raise LabControlError("the lab needs root (it creates network namespaces, bridges and sshd processes)")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _credentials() -> dict[str, str]:
    """The lab's API keys (FileNotFoundError when no lab is up); a damaged file is named, and kept."""
    path = paths.credentials_file()
    text = path.read_text()
    try:
        creds = json.loads(text)
    except ValueError as exc:
        creds = exc
    if not isinstance(creds, dict) or not {"api_key", "secret_key"} <= creds.keys():
        raise LabControlError(f"{path}: corrupt (not the lab's api_key and secret_key), kept as it is; "
                              "`cloudgate lab up --rebuild` writes new ones")
    return creds


def _write_credentials() -> dict[str, str]:
    creds = {"api_key": secrets.token_urlsafe(32), "secret_key": secrets.token_urlsafe(48)}
    path = paths.credentials_file()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds, fh)
    return creds


def lab_client(topology: LabTopology | None = None) -> Any:
    """A `cs` client with the lab's root-admin credentials (the lab's own use: faults, deploys)."""
    from cs import CloudStack

    topo = topology or LabTopology.load(paths.topology_file())
    creds = _credentials()
    return CloudStack(
        endpoint=f"http://127.0.0.1:{topo.api_port}/client/api",
        key=creds["api_key"], secret=creds["secret_key"], timeout=10, poll_interval=0.2, job_timeout=120,
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running(pid: int) -> bool:
    """Alive and not a zombie; reaps it if it is our own child (a simulator this process started)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- simulator process
def start_simulator(topology: LabTopology) -> int:
    state = paths.cloudstack_dir()
    state.mkdir(parents=True, exist_ok=True)
    log = open(paths.lab_dir() / SIMULATOR_LOG, "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "cloudgate_lab.cloudstack", "serve",
            "--state-dir", str(state), "--topology", str(paths.topology_file()),
            "--port", str(topology.api_port), "--credentials", str(paths.credentials_file()),
            "--guest-driver", "cloudgate_lab.hostfaults:driver_for",
        ],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
    )
    log.close()
    (paths.lab_dir() / SIMULATOR_PID).write_text(str(proc.pid))
    return proc.pid


def wait_api(topology: LabTopology, timeout: float = 20.0) -> None:
    client = lab_client(topology)
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        pid = _read_pid(paths.lab_dir() / SIMULATOR_PID)
        if pid is not None and not _pid_alive(pid):
            tail = (paths.lab_dir() / SIMULATOR_LOG).read_text(errors="replace").strip().splitlines()[-1:]
            raise LabControlError(f"CloudStack simulator exited at start: {' '.join(tail) or 'no log'}")
        try:
            client.listZones()
            return
        except Exception as exc:  # noqa: BLE001 - any failure here means "not ready yet"
            last = type(exc).__name__
        time.sleep(0.2)
    raise LabControlError(f"CloudStack simulator not answering on 127.0.0.1:{topology.api_port} after {timeout:g} s ({last})")


def stop_simulator() -> None:
    pid = _read_pid(paths.lab_dir() / SIMULATOR_PID)
    pids = {pid} if pid else set()
    pids.update(_simulator_pids_by_cmdline())
    for p in pids:
        try:
            os.killpg(p, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                continue
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_running(p) for p in pids):
        time.sleep(0.05)
    for p in pids:
        if _running(p):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and any(_running(p) for p in pids):
        time.sleep(0.02)


def _simulator_pids_by_cmdline() -> set[int]:
    """Simulators of this lab dir still running (e.g. after the pid file was lost in a crash)."""
    found = set()
    marker = str(paths.cloudstack_dir())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = [c.decode(errors="replace") for c in cmd]
        if "cloudgate_lab.cloudstack" in text and marker in text:
            found.add(int(entry.name))
    return found


def simulator_pid() -> int | None:
    """The running simulator's pid (pid file first, else found by command line), or None."""
    found = {p for p in _simulator_pids_by_cmdline() if _running(p)}
    pid = _read_pid(paths.lab_dir() / SIMULATOR_PID)
    if pid in found:
        return pid
    return min(found) if found else None


def _lab_topology_for_mgmt() -> LabTopology:
    _require_root()
    if not paths.topology_file().exists():
        raise LabControlError("the lab is not up (no topology file); run `cloudgate lab up`")
    return LabTopology.load(paths.topology_file())


def mgmt_stop() -> bool:
    """Stop the CloudStack management server (the simulator process), as `systemctl stop
    cloudstack-management` would: the API stops answering, every guest keeps running, the state
    (SQLite) stays for mgmt_start. Idempotent; returns False if it was already stopped."""
    _lab_topology_for_mgmt()
    if simulator_pid() is None:
        return False
    stop_simulator()
    if simulator_pid() is not None:
        raise LabControlError("CloudStack simulator still running after SIGTERM and SIGKILL")
    return True


def mgmt_start(timeout: float = 20.0) -> bool:
    """Start the management server again on the same state and wait until the API answers.
    Idempotent; returns False if it was already running (it is still waited for)."""
    topology = _lab_topology_for_mgmt()
    if simulator_pid() is not None:
        wait_api(topology, timeout=timeout)
        return False
    if not _port_free(topology.api_port):
        raise LabControlError(f"cannot start the CloudStack simulator: 127.0.0.1:{topology.api_port} is in use")
    start_simulator(topology)
    wait_api(topology, timeout=timeout)
    return True


# --------------------------------------------------------------------------- upgrade
def upgrade(version: str, regressions: list[str], timeout: float = 20.0) -> cs_upgrade.UpgradeReport:
    """Upgrade the lab's CloudStack as an operator would: stop the management server, migrate its
    database, start it again on the same state. Guests and Cassandra keep running (mgmt_stop/mgmt_start).

    Everything that can refuse does so before the management server is stopped, so a refused upgrade
    leaves the lab exactly as it was. Once stopped it is always started again, even if the migration
    failed (then on the old release: the migration is one transaction).
    """
    try:
        cs_upgrade.parse_version(version)
        cs_upgrade.check_regressions(regressions)
        _lab_topology_for_mgmt()
        current = cs_upgrade.current_release(paths.cloudstack_dir())
        if current is None:
            raise LabControlError("the lab is not up (no CloudStack database); run `cloudgate lab up`")
        cs_upgrade.plan_upgrade(current, version, regressions)
        mgmt_stop()
        try:
            return cs_upgrade.apply_upgrade(paths.cloudstack_dir(), version, regressions)
        finally:
            mgmt_start(timeout)
    except cs_upgrade.UpgradeError as exc:
        raise LabControlError(str(exc)) from None


def list_regressions() -> str:
    heading = "upgrade regressions (cloudgate lab upgrade --to VERSION --regression NAME):"
    return f"{heading}\n{cs_upgrade.describe_regressions()}"


def _print_release() -> None:
    try:
        release = cs_upgrade.current_release(paths.cloudstack_dir())
    except Exception as exc:  # noqa: BLE001 - status reports, it does not fail on an unreadable database
        print(f"CloudStack version: unknown ({type(exc).__name__}: {exc})")
        return
    print(f"CloudStack version: {release.describe() if release else 'unknown (no database yet)'}")


# --------------------------------------------------------------------------- up / down
def leftovers() -> list[str]:
    """What of a lab exists on this machine now (empty = clean)."""
    from cloudgate_lab import net

    found = [f"netns {n}" for n in net.list_netns(NETNS_PREFIX)]
    found += [f"link {link}" for link in net.list_root_links()]
    found += [f"process {p} (simulator)" for p in sorted(_simulator_pids_by_cmdline())]
    if paths.lab_dir().exists():
        found.append(f"dir {paths.lab_dir()}")
    return found


def load_lab_target(target_path: str) -> Any:
    """The lab target file, loaded, or one line: unreadable, invalid, or not `environment: lab`."""
    loaded = load_target(target_path)
    if loaded.target.environment is not Environment.lab:
        raise LabControlError(f"{loaded.path}: environment is {loaded.target.environment.value}; "
                              "the lab needs environment: lab")
    return loaded


def up(target_path: str, placement: str = "cloudgate", quiet: bool = False) -> dict[str, Any]:
    """Build the lab; returns timings. Cleans a previous (possibly crashed) lab first."""
    extra.require()  # before anything is built or cleaned: a lab without its extra measures the wrong thing
    _require_root()
    t0 = time.monotonic()
    loaded = load_lab_target(target_path)
    target = loaded.target
    topology = build_topology(target)
    if leftovers():
        if not quiet:
            print("lab: cleaning what a previous lab left behind")
        down(quiet=True)
    if not _port_free(topology.api_port):
        raise LabControlError(f"127.0.0.1:{topology.api_port} is already in use; set lab.api_port in {loaded.path}")

    from cloudgate_lab import hosts, net

    lab = paths.lab_dir()
    lab.mkdir(parents=True, exist_ok=True)
    os.chmod(lab, 0o700)
    paths.topology_file().write_text(topology.to_json())
    _write_credentials()
    try:
        available_before = footprint.mem_available_kib()
        net.build_network(topology)
        t_net = time.monotonic()
        hosts.build_hosts(topology)
        t_hosts = time.monotonic()
        start_simulator(topology)
        wait_api(topology)
        hosts.wait_ssh([h.ip for h in topology.hosts], timeout=hosts.boot_timeout(len(topology.hosts)))
        t_hosts_ready = time.monotonic()
        memory = footprint.per_host_figures([h.netns for h in topology.hosts], available_before)
        cassandra_nodes = _deploy_cassandra(loaded, topology, placement)
        t_cassandra = time.monotonic()
        front = _deploy_front(loaded, topology, placement)
        t_ready = time.monotonic()
    except BaseException:
        down(quiet=True)
        raise
    timings = {
        "hosts": len(topology.hosts),
        "datacenters": len(topology.datacenters),
        "network_seconds": round(t_net - t0, 3),
        "hosts_seconds": round(t_hosts - t_net, 3),
        "infrastructure_seconds": round(t_hosts_ready - t0, 3),
        "cassandra_seconds": round(t_cassandra - t_hosts_ready, 3),
        "cassandra_nodes": cassandra_nodes,
        "front_seconds": round(t_ready - t_cassandra, 3),
        **front,
        "lab_up_seconds": round(t_ready - t0, 3),
        "placement": placement,
        **memory,
    }
    (lab / TIMINGS).write_text(json.dumps(timings, indent=2))
    if not quiet:
        print(
            f"lab up: {len(topology.hosts)} hosts in {len(topology.datacenters)} datacenters, CloudStack API at "
            f"http://127.0.0.1:{topology.api_port}/client/api, {timings['cassandra_nodes']} Cassandra nodes "
            f"({placement} placement), {timings['front_vms']} front VMs, in {timings['lab_up_seconds']:.1f} s"
        )
    return timings


def suite_client(loaded: Any) -> Any:
    """The suite's own (read-only) client on the lab, for the estate model."""
    from pydantic import SecretStr

    from cloudgate.cloudstack.client import CloudStackClient

    creds = _credentials()
    return CloudStackClient(loaded.target.name, loaded.target.cloudstack.endpoint, creds["api_key"],
                            SecretStr(creds["secret_key"]))


def _deploy_cassandra(loaded: Any, topology: LabTopology, placement: str) -> int:
    """Deploy the lab's Cassandra VMs and start their CQL nodes; returns the node count."""
    target = loaded.target
    if placement == "none" or target.cassandra is None or not (target.lab and target.lab.cassandra_nodes_per_dc):
        return 0
    from cloudgate_lab import cassandra

    try:
        vms = cassandra.deploy(suite_client(loaded), lab_client(topology), topology, target, placement)
        cassandra.write_cluster(topology, vms)
        cassandra.start_nodes(vms)
        cassandra.wait_ready(vms)
    except cassandra.CassandraDeployError as exc:
        raise LabControlError(str(exc)) from None
    return len(vms)


def _deploy_front(loaded: Any, topology: LabTopology, placement: str) -> dict[str, Any]:
    """Deploy the lab's front tier (real haproxy, keepalived, Apache, PHP-FPM, C++); its VM count and memory."""
    target = loaded.target
    if placement == "none" or target.frontends is None:
        return {"front_vms": 0}
    from cloudgate_lab import guests
    from cloudgate_lab.front import deploy as front_deploy

    try:
        plan = front_deploy.deploy(suite_client(loaded), lab_client(topology), topology, target)
    except front_deploy.FrontDeployError as exc:
        raise LabControlError(str(exc)) from None
    figures: dict[str, Any] = {"front_vms": 0, "front_memory_mib": {}}
    total = 0
    for dc in plan.dcs:
        for vm in dc.lbs + dc.webs:
            node = guests.guest_node_by_name(vm.name)
            pss, _ = footprint.pss_in_netns_kib([node.netns] if node else [])
            figures["front_memory_mib"][vm.name] = round(pss / 1024, 1)
            figures["front_vms"] += 1
            total += pss
    figures["front_memory_total_mib"] = round(total / 1024, 1)
    return figures


def down(quiet: bool = False) -> None:
    """Remove every process, namespace, bridge and file of the lab; verify nothing is left."""
    _require_root()
    from cloudgate_lab import guests, hosts, net, runners

    stop_simulator()
    steps = (("runners", runners.teardown_runners), ("guests", guests.stop_all_guests), ("hosts", hosts.teardown_hosts), ("network", net.teardown_network))
    problems = []
    for name, step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - keep tearing down the rest
            problems.append(f"{name}: {exc}")
    shutil.rmtree(paths.lab_dir(), ignore_errors=True)
    left = leftovers()
    if left or problems:
        raise LabControlError(f"lab down left {', '.join(left + problems)}")
    if not quiet:
        print("lab down: nothing of the lab is left on this machine")


def status() -> int:
    if not paths.topology_file().exists():
        left = leftovers()
        print("lab: not running" + (f" (leftovers: {', '.join(left)})" if left else ""))
        return 1 if left else 0
    topology = LabTopology.load(paths.topology_file())
    from cloudgate_lab import hosts

    pid = _read_pid(paths.lab_dir() / SIMULATOR_PID)
    alive = pid is not None and _pid_alive(pid)
    print(f"CloudStack simulator: {'running, pid ' + str(pid) if alive else 'NOT running'} (port {topology.api_port})")
    _print_release()
    for h in topology.hosts:
        print(f"  {h.name:<14} {h.ip:<14} {hosts.host_status(h.name)}")
    _print_cassandra_status()
    return 0 if alive else 1


def _print_cassandra_status() -> None:
    from cloudgate_lab.cql.cluster import probe_native
    from cloudgate_lab.cql.tuning import idle_polling_holders

    nodes = clusterfile.cluster_nodes()
    if not nodes:
        print("Cassandra: none deployed")
        return
    print(f"Cassandra: {len(nodes)} nodes (an emulator of the CQL protocol)")
    for n in nodes:
        up = probe_native(n["address"], n.get("native_port", 9042))
        print(f"  {n['name']:<14} {n['address']:<14} {n['dc']}/{n['rack']}  CQL {'up' if up else 'DOWN'}")
    if os.geteuid() != 0:
        print("idle CPUs: unknown (reading other processes' descriptors needs root)")
        return
    holders = idle_polling_holders()
    print(f"idle CPUs: {'polling, PM QoS held by ' + str(len(holders)) + ' process(es)' if holders else 'halting (default)'}")


def env_exports(target_path: str) -> str:
    loaded = load_target(target_path)
    creds = _credentials()
    cs = loaded.target.cloudstack
    return f"export {cs.api_key_env}={creds['api_key']}\nexport {cs.secret_key_env}={creds['secret_key']}\n"


# --------------------------------------------------------------------------- faults
CLOUD_FAULTS = {
    "boot-delay": "guests take SECONDS to boot (param seconds=N)",
    "api-error": "a command answers an error code (params command=listHosts code=530)",
    "mgmt-down": "listManagementServers shows the management server Down",
    "zone-disabled": "a zone is Disabled (param zone=NAME)",
    "systemvm-stopped": "the first system VM is Stopped",
    "host-maintenance": "host HOST put in maintenance through the API (param host=NAME)",
    "partition": "the link between two datacenters is cut (params a=dc1 b=dc2)",
    "cql-write-delay": "every Cassandra node's write path is slowed (param ms=3; param node=NAME for one node)",
    "hints-off": "hinted handoff off on every Cassandra node (hinted_handoff_enabled: false; param node=NAME "
                 "for one node): a replica cut off misses the writes it was not there for, for good",
    "vm-orphaned": "CloudStack's database loses VM NAME while its guest keeps running (param vm=NAME)",
    "anti-affinity-race": "parallel deploys of one host anti-affinity group race (CloudStack #9110): each is "
                          "planned on a stale view and reserved SECONDS later without the group's check, so "
                          "they share a host (param seconds=2; one-at-a-time deploys stay correct)",
    "rebalance-onto-sibling": "a DRS that ignores affinity: VM NAME is live-migrated onto a host of its DC "
                              "running another member of its group (param vm=cass-dc1-2, or a comma-separated "
                              "list: vm=web-dc1-2,web-dc1-3 stacks a group on one host); --clear migrates back",
}
# The parameters each cloud fault takes, and what each must be: checked before the lab is touched
# (cloud_fault reads them with defaults, so a misspelt one would silently run the default).
NUMBER, WHOLE, NAME = "number >= 0", "whole number", "name"
CLOUD_FAULT_PARAMS: dict[str, dict[str, str]] = {
    "boot-delay": {"seconds": NUMBER}, "api-error": {"command": NAME, "code": WHOLE}, "mgmt-down": {},
    "zone-disabled": {"zone": NAME}, "systemvm-stopped": {}, "host-maintenance": {"host": NAME},
    "partition": {"a": NAME, "b": NAME}, "cql-write-delay": {"ms": NUMBER, "node": NAME},
    "hints-off": {"node": NAME}, "vm-orphaned": {"vm": NAME}, "anti-affinity-race": {"seconds": NUMBER},
    "rebalance-onto-sibling": {"vm": NAME},
}
CLOUD_FAULT_REQUIRED = {"host-maintenance": ("host",)}
REBALANCE_DEFAULT_VM = "cass-dc1-2"
NODE_BACK_SECONDS = 30.0  # a migrated Cassandra guest boots its CQL node again within this


def check_cloud_fault(fault: str, params: dict[str, str], clear: bool) -> None:
    """A cloud fault's name and parameters, refused in one line before the lab is read or changed."""
    if fault not in CLOUD_FAULT_PARAMS:
        raise LabControlError(f"unknown fault {fault!r}; `cloudgate lab fault --list` lists them")
    takes = CLOUD_FAULT_PARAMS[fault]
    for key, value in params.items():
        kind = takes.get(key)
        if kind is None:
            known = ", ".join(f"{k}=<{v}>" for k, v in takes.items()) or "no parameter"
            raise LabControlError(f"fault {fault}: --param {key}={value}: not one of its parameters (it takes {known})")
        if not _param_ok(kind, value):
            raise LabControlError(f"fault {fault}: --param {key}={value}: must be a {kind}")
    missing = [k for k in CLOUD_FAULT_REQUIRED.get(fault, ()) if k not in params and not clear]
    if missing:
        raise LabControlError(f"fault {fault}: --param {missing[0]}=... is required")


def _param_ok(kind: str, value: str) -> bool:
    if kind == NAME:
        return bool(value.strip())
    try:
        number = int(value) if kind == WHOLE else float(value)
    except ValueError:
        return False
    return kind == WHOLE or (number >= 0 and number != float("inf"))


def cloud_fault(fault: str, params: dict[str, str], clear: bool = False) -> None:
    from cloudgate_lab import net

    client = lab_client()
    if fault == "boot-delay":
        topology = LabTopology.load(paths.topology_file())
        value = str(topology.boot_delay_seconds) if clear else params.get("seconds", "400")
        client.updateConfiguration(name="lab.boot.delay.seconds", value=value)
    elif fault == "api-error":
        command = params.get("command", "listHosts")
        client.updateConfiguration(name=f"lab.fail.{command}", value="" if clear else params.get("code", "530"))
    elif fault == "mgmt-down":
        client.updateConfiguration(name="lab.managementserver.state", value="Up" if clear else "Down")
    elif fault == "zone-disabled":
        zones = client.listZones(name=params.get("zone"), fetch_list=True)
        for zone in zones[:1]:
            client.updateZone(id=zone["id"], allocationstate="Enabled" if clear else "Disabled")
    elif fault == "systemvm-stopped":
        vms = client.listSystemVms(fetch_list=True)
        for vm in vms[:1] if not clear else vms:
            if clear and vm.get("state") == "Running":
                continue
            getattr(client, "startSystemVm" if clear else "stopSystemVm")(id=vm["id"], fetch_result=True)
    elif fault == "host-maintenance":
        hosts = client.listHosts(name=params["host"], fetch_list=True)
        for h in hosts:
            command = client.cancelHostMaintenance if clear else client.prepareHostForMaintenance
            command(id=h["id"], fetch_result=True)
    elif fault == "cql-write-delay":
        from cloudgate_lab.cql import faults as cql_faults

        cluster = str(clusterfile.cluster_file())
        names = [params["node"]] if "node" in params else [n["name"] for n in clusterfile.cluster_nodes()]
        for name in names:
            if clear:
                cql_faults.clear_faults(cluster, name)
            else:
                cql_faults.set_fault(cluster, name, write_delay_ms=float(params.get("ms", "3")))
    elif fault == "hints-off":
        from cloudgate_lab.cql import faults as cql_faults

        cluster = str(clusterfile.cluster_file())
        names = [params["node"]] if "node" in params else [n["name"] for n in clusterfile.cluster_nodes()]
        silent = []
        for name in names:
            try:
                cql_faults.set_fault(cluster, name, hints_off=not clear)
            except TimeoutError:  # written all the same: a stopped node applies it when it starts
                silent.append(name)
        if silent:
            raise LabControlError(f"hints-off: {', '.join(silent)} did not acknowledge (node not running?); "
                                  "the setting applies when it starts")
    elif fault == "vm-orphaned":
        rows = client.listConfigurations(name="lab.orphaned.vms", fetch_list=True)
        value = next((r.get("value") or "" for r in rows if r["name"] == "lab.orphaned.vms"), "")
        lost = {n for n in value.split(",") if n}
        if not clear:
            lost.add(params.get("vm", "cass-dc1-3"))
        elif "vm" in params:
            lost.discard(params["vm"])
        else:
            lost.clear()
        client.updateConfiguration(name="lab.orphaned.vms", value=",".join(sorted(lost)))
    elif fault == "partition":
        if clear:
            net.heal()
        else:
            net.partition(params.get("a", "dc1"), params.get("b", "dc2"))
    elif fault == "anti-affinity-race":
        seconds = "0" if clear else params.get("seconds", "2")
        client.updateConfiguration(name="lab.antiaffinity.race.seconds", value=seconds)
    elif fault == "rebalance-onto-sibling":
        names = [n.strip() for n in params.get("vm", "" if clear else REBALANCE_DEFAULT_VM).split(",") if n.strip()]
        if clear:
            for name in names or [None]:
                _rebalance_back(client, name)
        else:
            for name in names:  # one after the other: the next one may join the host the last one moved to
                _rebalance_onto_sibling(client, name)
    else:
        raise LabControlError(f"unknown fault {fault!r}; `cloudgate lab fault --list` lists them")


# --------------------------------------------------------------------------- rebalance-onto-sibling
def _rebalance_record() -> Path:
    """Where `rebalance-onto-sibling` remembers each moved VM's origin host (removed with the lab)."""
    return paths.lab_dir() / "faults" / "rebalance-onto-sibling.json"


def _read_rebalanced() -> dict[str, dict[str, str]]:
    try:
        return dict(json.loads(_rebalance_record().read_text()))
    except (OSError, ValueError):
        return {}


def _write_rebalanced(moved: dict[str, dict[str, str]]) -> None:
    path = _rebalance_record()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(moved, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _vm_named(client: Any, name: str) -> dict[str, Any]:
    found = [vm for vm in client.listVirtualMachines(listall=True, name=name, fetch_list=True) if vm["name"] == name]
    if not found:
        raise LabControlError(f"no VM named {name} in the lab's CloudStack")
    return found[0]


def _migrate(client: Any, vm: dict[str, Any], host_id: str, host_name: str) -> None:
    """migrateVirtualMachine through the API, then wait until the guest's CQL node answers again."""
    from cs import CloudStackException

    from cloudgate_lab.cql.cluster import probe_native

    try:
        client.migrateVirtualMachine(virtualmachineid=vm["id"], hostid=host_id, fetch_result=True)
    except CloudStackException as exc:  # CloudStackApiException included
        raise LabControlError(f"migrating {vm['name']} to {host_name} failed: {exc}") from None
    ip = (vm.get("nic") or [{}])[0].get("ipaddress")
    if not ip or not any(n["name"] == vm["name"] for n in clusterfile.cluster_nodes()):
        return  # not a Cassandra node: nothing to wait for
    deadline = time.monotonic() + NODE_BACK_SECONDS
    while not probe_native(ip, 9042):
        if time.monotonic() > deadline:
            raise LabControlError(f"{vm['name']} migrated to {host_name}, but its CQL node at {ip} does not "
                                  f"answer after {NODE_BACK_SECONDS:g} s")
        time.sleep(0.2)


def _rebalance_onto_sibling(client: Any, name: str) -> str:
    """Live-migrate VM `name` onto a host of its zone that runs another member of one of its host
    anti-affinity groups, as a DRS ignoring affinity does (CloudStack #12473); returns that host's name.

    migrateVirtualMachine with an explicit hostid checks only state and capacity (as CloudStack's
    does), so the API accepts it. The guest keeps its address and MAC and its node's data (kept
    outside the guest, as on shared storage); its CQL node restarts on the new host with the rack it
    was deployed with, as cassandra-rackdc.properties would. The origin is written before the
    migration, so `--clear` (`_rebalance_back`) finds it even if this is interrupted.
    """
    vm = _vm_named(client, name)
    moved = _read_rebalanced()
    if name in moved and vm.get("hostid") == moved[name]["onto_host_id"]:
        return moved[name]["onto_host"]  # already there
    if vm.get("state") != "Running":
        raise LabControlError(f"{name} is {vm.get('state')}, not Running: a rebalancer moves only running VMs")
    groups = [g for g in vm.get("affinitygroup") or [] if g.get("type") == "host anti-affinity"]
    if not groups:
        raise LabControlError(f"{name} is in no host anti-affinity group: it has no sibling to be moved next to")
    siblings: dict[str, dict[str, Any]] = {}
    for g in groups:
        for other in client.listVirtualMachines(listall=True, affinitygroupid=g["id"], fetch_list=True):
            if (other["id"] != vm["id"] and other.get("state") == "Running" and other.get("zoneid") == vm["zoneid"]
                    and other.get("hostid") and other["hostid"] != vm.get("hostid")):
                siblings[other["name"]] = other
    if not siblings:
        raise LabControlError(f"no other member of {name}'s group runs on another host of its zone")
    sibling = siblings[sorted(siblings)[0]]
    if name not in moved:
        moved[name] = {"vm_id": vm["id"], "origin_host_id": vm["hostid"], "origin_host": vm.get("hostname", "")}
    moved[name].update(onto_host_id=sibling["hostid"], onto_host=sibling.get("hostname", ""), sibling=sibling["name"])
    _write_rebalanced(moved)
    _migrate(client, vm, sibling["hostid"], sibling.get("hostname", ""))
    return str(sibling.get("hostname", ""))


def _rebalance_back(client: Any, name: str | None = None) -> list[str]:
    """Migrate VM `name` (default: every VM the fault moved) back to the host it came from."""
    moved = _read_rebalanced()
    names = [name] if name else sorted(moved)
    back = []
    for vm_name in names:
        record = moved.get(vm_name)
        if record is None:
            continue
        vm = _vm_named(client, vm_name)
        if vm.get("hostid") != record["origin_host_id"]:
            _migrate(client, vm, record["origin_host_id"], record["origin_host"])
        del moved[vm_name]
        _write_rebalanced(moved)
        back.append(vm_name)
    return back


def list_faults() -> str:
    from cloudgate_lab.hostfaults import FAULTS

    width = max(map(len, [*FAULTS, *CLOUD_FAULTS]))
    lines = ["host faults (cloudgate lab fault HOST FAULT):"]
    lines += [f"  {name:<{width}} {desc}" for name, desc in FAULTS.items()]
    lines.append("cloud faults (cloudgate lab fault cloud FAULT --param k=v):")
    lines += [f"  {name:<{width}} {desc}" for name, desc in CLOUD_FAULTS.items()]
    from cloudgate_lab.front.faults import FAULTS as FRONT_FAULTS

    lines.append("front-tier faults (cloudgate lab fault front FAULT --param k=v):")
    lines += [f"  {name:<{width}} {desc}" for name, desc in FRONT_FAULTS.items()]
    return "\n".join(lines)


def fault(host: str | None, name: str | None, params: dict[str, str], clear: bool) -> None:
    if host is None:
        raise LabControlError("which host? `cloudgate lab fault HOST FAULT` (or `cloud FAULT`), `--list` lists faults")
    if host == "front":
        if not name:
            raise LabControlError("which front-tier fault? `cloudgate lab fault --list`")
        from cloudgate_lab.front import faults as front_faults

        try:
            front_faults.apply(name, params, clear)
        except front_faults.FrontFaultError as exc:
            raise LabControlError(str(exc)) from None
        return
    if host == "cloud":
        if not name:
            raise LabControlError("which cloud fault? `cloudgate lab fault --list`")
        check_cloud_fault(name, params, clear)
        cloud_fault(name, params, clear)
        return
    from cloudgate_lab import hostfaults
    from cloudgate_lab.net import LabError

    if name:
        try:
            hostfaults.check_params(name, params)
        except LabError as exc:
            raise LabControlError(str(exc)) from None
    elif not clear:
        raise LabControlError("which fault? `cloudgate lab fault --list`")
    topology = LabTopology.load(paths.topology_file())
    from cloudgate_lab import guests

    try:
        topology.host(host)
    except KeyError as exc:
        if guests.guest_node_by_name(host) is None:
            raise LabControlError(f"{exc.args[0]}; nor a running guest VM of that name") from None
    if clear:
        if name:
            hostfaults.clear_fault(topology, host, name)
        else:
            hostfaults.clear_all(topology, host)
    else:
        if not name:
            raise LabControlError("which fault? `cloudgate lab fault --list`")
        hostfaults.apply_fault(topology, host, name, **params)
