"""What each role's checks read from a host: one Probe per role, gathered in one exec (cloudgate.ssh.gather).

The roles come from the estate snapshot, not from a host list: hypervisors are the hosts CloudStack
lists (type Routing), Cassandra nodes are the VMs the ring names. A check reads a named result
(`facts["kernel"]`); the names below are the whole of what a role's checks may read, so adding a
check that needs a new command means adding it here, where every host gathers it in the same exec.
"""

from __future__ import annotations

import shlex

from cloudgate.hypervisor.baselines import HypervisorBaseline
from cloudgate.ssh.gather import Probe
from cloudgate.target import CassandraNodeSettings, HaproxySettings


def hypervisor_probe(baseline: HypervisorBaseline) -> Probe:
    """A XenServer/XCP dom0 with a Fusion-IO card (tests/infra/test_hypervisors.py)."""
    fio = baseline.fusionio
    return Probe("hypervisor", {
        "os_release": "cat /etc/os-release",
        "kernel": "uname -r",
        "xe_host_list": "xe host-list",
        "chrony": "chronyc -n tracking",
        "lsmod": "lsmod",
        "fio_module_dir": f"test -d {shlex.quote(f'/sys/module/{fio.module}')}",
        "fio_status": "fio-status -a",
        "fio_device": f"test -e {shlex.quote(fio.device)}",
    })


def cassandra_node_probe(settings: CassandraNodeSettings) -> Probe:
    """A Cassandra VM: the production checklist (tests/infra/test_cassandra_nodes.py) and its view of
    the ring (tests/infra/test_cassandra_liveness.py)."""
    return Probe("cassandra-node", {
        "chrony": "chronyc -n tracking",
        "swaps": "swapon --show --noheadings",
        "nofile": "ulimit -n",
        "memlock": "ulimit -l",
        "max_map_count": "sysctl -n vm.max_map_count",
        "thp": "cat /sys/kernel/mm/transparent_hugepage/enabled",
        "data_dir_source": f"findmnt -n -o SOURCE --target {shlex.quote(settings.data_directory)}",
        "nodetool_status": "nodetool status",  # the node's own gossip view of its peers
    })


def haproxy_node_probe(settings: HaproxySettings) -> Probe:
    """A haproxy node of the front tier (tests/infra/test_front_tier.py): its runtime view through the
    operator-level stats socket, its configuration, its addresses (who holds the VIP) and keepalived."""
    def runtime(command: str) -> str:
        return f"echo {shlex.quote(command)} | " + settings.socket_command.format(socket=shlex.quote(settings.stats_socket))

    return Probe("haproxy-node", {
        "show_stat": runtime("show stat"),
        "show_info": runtime("show info"),
        "config": f"cat {shlex.quote(settings.config)}",
        "addresses": "ip -o -4 addr show",
        "keepalived": "systemctl is-active keepalived",
    })
