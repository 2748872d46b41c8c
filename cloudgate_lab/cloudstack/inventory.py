"""The lab's fixed estate, seeded from the topology: zones, pods, clusters, hosts, system VMs, offerings,
templates and guest networks.

Ids are uuid5 of the object's kind and name, so a restarted simulator (or a rebuilt state dir) hands out
the same ids; seeding is INSERT OR IGNORE, so it never overwrites what the API changed (host states,
allocation states) and a grown topology only adds rows.
"""

from __future__ import annotations

import ipaddress
import time
import uuid

from cloudgate_lab.topology import LabTopology, pod_ip_range

from .db import Database

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "cloudstack.lab.cloudgate")

HYPERVISOR = "XenServer"
HYPERVISOR_VERSION = "8.2.1"
CLOUDSTACK_VERSION = "4.19.1.0"  # what a fresh lab runs; upgrade.py records later ones in the database

# (name, displaytext, cores, MHz per core, MiB)
SERVICE_OFFERINGS = [
    ("Small Instance", "Small Instance, 1 core, 1 GiB", 1, 2000, 1024),
    ("Medium Instance", "Medium Instance, 2 cores, 4 GiB", 2, 2000, 4096),
    ("Cassandra", "Cassandra node, 8 cores, 16 GiB", 8, 2000, 16384),
    ("Front", "Front end (haproxy or web), 2 cores, 2 GiB", 2, 2000, 2048),
]
# (name, displaytext, template tag, os type)
TEMPLATES = [
    ("Ubuntu 22.04 cloudgate guest", "Ubuntu 22.04 guest for cloudgate checks", "guest", "Ubuntu 22.04 LTS"),
    ("Cassandra 4.1 node", "Ubuntu 22.04 with Apache Cassandra 4.1", "cassandra", "Ubuntu 22.04 LTS"),
    ("Front haproxy node", "Ubuntu 22.04 with haproxy 2.6 and keepalived 2.2", "front-lb", "Ubuntu 22.04 LTS"),
    ("Front web node", "Ubuntu 22.04 with Apache 2.4, PHP-FPM 8.2 and the C++ api", "front-web", "Ubuntu 22.04 LTS"),
]


def stable_id(kind: str, name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name}"))


def seed(db: Database, topology: LabTopology, now: float | None = None) -> None:
    """Insert every object the topology implies that is not there yet, in topology (= DB) order."""
    now = time.time() if now is None else now
    hosts_by_rack: dict[str, list] = {}
    for h in topology.hosts:
        hosts_by_rack.setdefault(h.rack, []).append(h)
    with db.tx():
        for dc in topology.datacenters:
            zone_id = stable_id("zone", dc.zone)
            db.run("INSERT OR IGNORE INTO zones(id, name, dc_index, allocationstate, created) VALUES (?,?,?,?,?)",
                   (zone_id, dc.zone, dc.index, "Enabled", now))
            db.run("INSERT OR IGNORE INTO networks(id, name, zone_id, cidr, gateway, created) VALUES (?,?,?,?,?,?)",
                   (stable_id("network", dc.zone), f"{dc.zone}-guest", zone_id, dc.subnet, dc.gateway, now))
            first_pod_id, first_host_id = None, None
            for r, rack in enumerate(dc.racks, start=1):
                pod_id = stable_id("pod", rack)
                first_pod_id = first_pod_id or pod_id
                db.run("INSERT OR IGNORE INTO pods(id, name, zone_id, gateway, netmask, startip, endip, "
                       "allocationstate, created) VALUES (?,?,?,?,?,?,?,?,?)",
                       (pod_id, rack, zone_id, dc.hosts_gateway, str(ipaddress.ip_network(f"0.0.0.0/{dc.host_prefix}").netmask),
                        *pod_ip_range(dc, r), "Enabled", now))
                cluster_name = f"{rack}-pool"
                cluster_id = stable_id("cluster", cluster_name)
                db.run("INSERT OR IGNORE INTO clusters(id, name, zone_id, pod_id, allocationstate, managedstate, "
                       "created) VALUES (?,?,?,?,?,?,?)",
                       (cluster_id, cluster_name, zone_id, pod_id, "Enabled", "Managed", now))
                for h in hosts_by_rack.get(rack, []):
                    host_id = stable_id("host", h.name)
                    first_host_id = first_host_id or host_id
                    db.run("INSERT OR IGNORE INTO hosts(id, name, zone_id, pod_id, cluster_id, ip, cpu_cores, "
                           "cpu_mhz, memory_mib, state, resourcestate, hosttags, created) "
                           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           (host_id, h.name, zone_id, pod_id, cluster_id, h.ip, h.cpu_cores, h.cpu_mhz,
                            h.memory_mib, "Up", "Enabled", f"rack:{h.rack}", now))
            for n, (kind, prefix) in enumerate([("secondarystoragevm", "s"), ("consoleproxy", "v")]):
                number = 2 * dc.index - 1 + n
                name = f"{prefix}-{number}-VM"
                db.run("INSERT OR IGNORE INTO system_vms(id, name, type, zone_id, pod_id, host_id, state, "
                       "privateip, publicip, linklocalip, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (stable_id("systemvm", name), name, kind, zone_id, first_pod_id, first_host_id, "Running",
                        f"198.18.{dc.index}.{2 + n}", f"198.18.{dc.index}.{2 + n}", f"169.254.0.{number + 10}",
                        now))
        for name, text, cores, mhz, mem in SERVICE_OFFERINGS:
            db.run("INSERT OR IGNORE INTO offerings(id, name, displaytext, cpunumber, cpuspeed, memory, created) "
                   "VALUES (?,?,?,?,?,?,?)", (stable_id("offering", name), name, text, cores, mhz, mem, now))
        for name, text, tag, os_name in TEMPLATES:
            db.run("INSERT OR IGNORE INTO templates(id, name, displaytext, tag, ostypename, created) "
                   "VALUES (?,?,?,?,?,?)", (stable_id("template", name), name, text, tag, os_name, now))
        db.run("INSERT OR IGNORE INTO meta(key, value) VALUES ('first_start', ?)", (str(now),))
