"""Who a level-1 operator hands over to: the escalation roles, one vocabulary for two readers.

The runbooks (cloudgate.runbook) name a role for every check, and the target file's `escalation:`
section says how to reach each role on that cloud. Both check names against this list, so it sits
below both: the target file does not import the runbooks (which import the target file's helpers).
A role here is one the catalogue uses (a guard test refuses an unused one).
"""

from __future__ import annotations

# Who a level 1 hands over to. A role here is one the catalogue uses (the guard test refuses an unused
# one), and the only names the target file's `escalation:` section accepts.
ESCALATION_ROLES: dict[str, str] = {
    "virtualization": "the hypervisor team: XenServer/XCP-ng hosts (dom0), xapi and pools, host maintenance, "
                      "VM migration",
    "storage-flash": "the Fusion-IO owners: flash cards, iomemory-vsl drivers and firmware, card replacement",
    "cloudstack-admin": "CloudStack's administrators: management servers and their database, zones, system VMs, "
                        "capacity, the allocator, upgrades",
    "cassandra-dba": "the Cassandra DBAs: the ring, the nodes and their settings, repairs, replica placement, "
                     "the applications' driver settings",
    "web-ops": "the front-end team: haproxy and keepalived, Apache, PHP-FPM and the C++ services, their "
               "deployments, certificates and scaling",
    "network": "the network team: the link between the datacenters, DNS, the NTP servers, firewalls",
    "on-call-manager": "the incident manager on call: declares the incident, decides what production may lose, "
                       "brings in the other teams",
}
