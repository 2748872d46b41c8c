"""Rows to API objects: the field names and formats of CloudStack's *Response classes.

A `Catalog` snapshots the small inventory tables and the host loads once per request, so rendering a
list of hosts or VMs does not query per row for names. Admin-only fields (hostid, hostname,
instancename) are left out for non-admin callers, as the real server does.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .accounts import ROOT_DOMAIN_ID, Account
from .capacity import HostLoad, host_loads
from .context import SimContext
from .envelope import cs_date, percent
from .inventory import HYPERVISOR, HYPERVISOR_VERSION, stable_id
from .jobs import pending_jobs

MANAGEMENT_SERVER_ID = stable_id("managementserver", "lab-ms1")
OS_TYPE_ID = stable_id("ostype", "Ubuntu 22.04 LTS")


class Catalog:
    def __init__(self, sim: SimContext, *, listing: bool = False) -> None:
        """`listing`: list responses show jobid/jobstatus of pending jobs on objects (buildAsyncListResponse)."""
        db = sim.db
        self.sim = sim

        def by_id(table: str) -> dict[str, sqlite3.Row]:
            return {r["id"]: r for r in db.all(f"SELECT * FROM {table} ORDER BY seq")}

        self.zones = by_id("zones")
        self.pods = by_id("pods")
        self.clusters = by_id("clusters")
        self.hosts = by_id("hosts")
        self.offerings = by_id("offerings")
        self.templates = by_id("templates")
        self.networks = by_id("networks")
        self.loads = host_loads(db)
        self.pending = pending_jobs(sim) if listing else {}

    def _pending(self, out: dict[str, Any], entity_id: str) -> dict[str, Any]:
        if entity_id in self.pending:
            out["jobid"] = self.pending[entity_id]
            out["jobstatus"] = 0
        return out

    def network_of_zone(self, zone_id: str) -> sqlite3.Row:
        return next(n for n in self.networks.values() if n["zone_id"] == zone_id)

    # -- inventory ------------------------------------------------------------------------------------
    def zone(self, z: sqlite3.Row) -> dict[str, Any]:
        net = self.network_of_zone(z["id"])
        return {
            "id": z["id"], "name": z["name"], "description": f"lab datacenter {z['dc_index']}",
            "dns1": net["gateway"], "internaldns1": net["gateway"], "guestcidraddress": net["cidr"],
            "networktype": "Advanced", "securitygroupsenabled": False, "allocationstate": z["allocationstate"],
            "zonetoken": stable_id("zonetoken", z["name"]), "dhcpprovider": "VirtualRouter",
            "localstorageenabled": False, "tags": [], "hasannotations": False, "type": "Core",
        }

    def pod(self, p: sqlite3.Row) -> dict[str, Any]:
        zone = self.zones[p["zone_id"]]
        return {
            "id": p["id"], "name": p["name"], "zoneid": zone["id"], "zonename": zone["name"],
            "gateway": p["gateway"], "netmask": p["netmask"], "startip": [p["startip"]], "endip": [p["endip"]],
            "allocationstate": p["allocationstate"], "hasannotations": False,
        }

    def cluster(self, c: sqlite3.Row) -> dict[str, Any]:
        zone, pod = self.zones[c["zone_id"]], self.pods[c["pod_id"]]
        return {
            "id": c["id"], "name": c["name"], "podid": pod["id"], "podname": pod["name"],
            "zoneid": zone["id"], "zonename": zone["name"], "hypervisortype": HYPERVISOR,
            "clustertype": "CloudManaged", "allocationstate": c["allocationstate"], "managedstate": c["managedstate"],
            "cpuovercommitratio": "1.0", "memoryovercommitratio": "1.0", "arch": "x86_64", "hasannotations": False,
        }

    def host(self, h: sqlite3.Row) -> dict[str, Any]:
        zone, pod, cluster = self.zones[h["zone_id"]], self.pods[h["pod_id"]], self.clusters[h["cluster_id"]]
        load = self.loads.get(h["id"], HostLoad())
        cpu_total = h["cpu_cores"] * h["cpu_mhz"]
        mem_total = h["memory_mib"] * 1024 * 1024
        mem_alloc = load.memory_mib * 1024 * 1024
        out: dict[str, Any] = {
            "id": h["id"], "name": h["name"], "state": h["state"], "type": "Routing", "ipaddress": h["ip"],
            "zoneid": zone["id"], "zonename": zone["name"], "podid": pod["id"], "podname": pod["name"],
            "version": self.sim.release.version, "hypervisor": HYPERVISOR, "hypervisorversion": HYPERVISOR_VERSION,
            "cpusockets": 2, "cpunumber": h["cpu_cores"], "cpuspeed": h["cpu_mhz"],
            "cpuallocated": percent(load.cpu_mhz, cpu_total), "cpuallocatedvalue": load.cpu_mhz,
            "cpuallocatedpercentage": percent(load.cpu_mhz, cpu_total),
            "cpuallocatedwithoverprovisioning": percent(load.cpu_mhz, cpu_total),
            "cpuused": "0%", "cpuwithoverprovisioning": str(cpu_total), "cpuloadaverage": 0.0,
            "memorytotal": mem_total, "memorywithoverprovisioning": str(mem_total),
            "memoryallocated": mem_alloc, "memoryallocatedbytes": mem_alloc,
            "memoryallocatedpercentage": percent(mem_alloc, mem_total), "memoryused": 0,
            "networkkbsread": 0, "networkkbswrite": 0,
            "lastpinged": cs_date(h["lastpinged"] or h["created"]), "managementserverid": MANAGEMENT_SERVER_ID,
            "clusterid": cluster["id"], "clustername": cluster["name"], "clustertype": "CloudManaged",
            "islocalstorageactive": False, "created": cs_date(h["created"]), "events": "", "hosttags": h["hosttags"],
            "hahost": False, "resourcestate": h["resourcestate"], "capabilities": "xen-3.0-x86_64 , hvm",
            "outofbandmanagement": {"powerstate": "Disabled", "enabled": False},
            "hostha": {"haenable": False, "hastate": "Disabled"},
            "ueficapability": False, "encryptionsupported": False, "instanceconversionsupported": False,
            "arch": "x86_64", "hasannotations": False,
        }
        if h["disconnected"]:
            out["disconnected"] = cs_date(h["disconnected"])
        return self._pending(out, h["id"])

    def system_vm(self, s: sqlite3.Row) -> dict[str, Any]:
        zone, pod = self.zones[s["zone_id"]], self.pods[s["pod_id"]]
        host = self.hosts.get(s["host_id"]) if s["state"] == "Running" else None
        template = next(iter(self.templates.values()))
        out: dict[str, Any] = {
            "id": s["id"], "name": s["name"], "systemvmtype": s["type"], "state": s["state"],
            "zoneid": zone["id"], "zonename": zone["name"], "podid": pod["id"], "podname": pod["name"],
            "hypervisor": HYPERVISOR, "privateip": s["privateip"], "privatenetmask": "255.255.255.0",
            "publicip": s["publicip"], "publicnetmask": "255.255.255.0", "linklocalip": s["linklocalip"],
            "linklocalnetmask": "255.255.0.0", "gateway": self.network_of_zone(zone["id"])["gateway"],
            "templateid": template["id"], "templatename": "systemvm-xenserver-4.19.1",
            "created": cs_date(s["created"]), "version": self.sim.release.version, "isdynamicallyscalable": False,
            "hasannotations": False,
        }
        if host is not None:
            out.update(hostid=host["id"], hostname=host["name"], agentstate=host["state"])
        if s["type"] == "consoleproxy":
            out["activeviewersessions"] = 0
        return self._pending(out, s["id"])

    def offering(self, o: sqlite3.Row) -> dict[str, Any]:
        return {
            "id": o["id"], "name": o["name"], "displaytext": o["displaytext"], "cpunumber": o["cpunumber"],
            "cpuspeed": o["cpuspeed"], "memory": o["memory"], "created": cs_date(o["created"]),
            "storagetype": "shared", "provisioningtype": "thin", "offerha": False, "limitcpuuse": False,
            "isvolatile": False, "issystem": False, "defaultuse": False, "iscustomized": False,
            "dynamicscalingenabled": True, "diskofferingstrictness": False, "hasannotations": False,
        }

    def template(self, t: sqlite3.Row, zone: sqlite3.Row) -> dict[str, Any]:
        return {
            "id": t["id"], "name": t["name"], "displaytext": t["displaytext"], "ispublic": True,
            "created": cs_date(t["created"]), "isready": True, "passwordenabled": False, "format": "VHD",
            "isfeatured": True, "crossZones": False, "ostypeid": OS_TYPE_ID, "ostypename": t["ostypename"],
            "account": "system", "zoneid": zone["id"], "zonename": zone["name"], "status": "Download Complete",
            "size": 10 * 1024**3, "templatetype": "USER", "templatetag": t["tag"], "hypervisor": HYPERVISOR,
            "domain": "ROOT", "domainid": ROOT_DOMAIN_ID, "isextractable": False, "details": {},
            "bootable": True, "isdynamicallyscalable": False, "requireshvm": True, "sshkeyenabled": False,
            "directdownload": False, "deployasis": False, "arch": "x86_64", "tags": [], "hasannotations": False,
        }

    def network(self, n: sqlite3.Row) -> dict[str, Any]:
        zone = self.zones[n["zone_id"]]
        return {
            "id": n["id"], "name": n["name"], "displaytext": n["name"], "type": "Shared", "state": "Setup",
            "traffictype": "Guest", "zoneid": zone["id"], "zonename": zone["name"], "cidr": n["cidr"],
            "gateway": n["gateway"], "netmask": "255.255.255.0", "acltype": "Domain", "broadcastdomaintype": "Vlan",
            "isdefault": True, "canusefordeploy": True, "specifyipranges": True, "tags": [],
        }

    # -- tenant objects -------------------------------------------------------------------------------
    def affinity_group(self, g: sqlite3.Row, member_ids: list[str] | None = None) -> dict[str, Any]:
        if member_ids is None:
            member_ids = [r["vm_id"] for r in self.sim.db.all(
                "SELECT a.vm_id FROM vm_affinity a JOIN vms v ON v.id=a.vm_id "
                "WHERE a.group_id=? AND v.removed IS NULL ORDER BY v.seq", (g["id"],))]
        out = {
            "id": g["id"], "name": g["name"], "description": g["description"] or "", "type": g["type"],
            "account": g["account"], "domainid": ROOT_DOMAIN_ID, "domain": "ROOT",
            "virtualmachineIds": member_ids,
        }
        return self._pending(out, g["id"])

    def tag(self, t: sqlite3.Row) -> dict[str, Any]:
        out = {
            "key": t["key"], "value": t["value"], "resourcetype": t["resource_type"], "resourceid": t["resource_id"],
            "account": t["account"], "domainid": ROOT_DOMAIN_ID, "domain": "ROOT",
        }
        if t["customer"]:
            out["customer"] = t["customer"]
        return out

    def vm(self, v: sqlite3.Row, caller: Account) -> dict[str, Any]:
        db = self.sim.db
        zone = self.zones[v["zone_id"]]
        offering, template = self.offerings[v["offering_id"]], self.templates[v["template_id"]]
        owner = self.sim.account_named(v["account"])
        net = self.network_of_zone(zone["id"])
        groups = db.all("SELECT g.* FROM affinity_groups g JOIN vm_affinity a ON a.group_id=g.id "
                        "WHERE a.vm_id=? AND g.removed IS NULL ORDER BY g.seq", (v["id"],))
        tags = db.all("SELECT * FROM tags WHERE resource_id=? AND resource_type='UserVm' ORDER BY seq", (v["id"],))
        out: dict[str, Any] = {
            "id": v["id"], "name": v["name"], "displayname": v["displayname"], "account": v["account"],
            "userid": owner.user_uuid if owner else None, "username": v["account"],
            "domainid": ROOT_DOMAIN_ID, "domain": "ROOT", "created": cs_date(v["created"]), "state": v["state"],
            "haenable": False, "groupid": None, "zoneid": zone["id"], "zonename": zone["name"],
        }
        host = self.hosts.get(v["host_id"]) if v["host_id"] else None
        if caller.is_root_admin:
            if host is not None:
                out.update(hostid=host["id"], hostname=host["name"])
                pod = self.pods[host["pod_id"]]
                out.update(podid=pod["id"], podname=pod["name"])
            out["instancename"] = v["instancename"]
        out.update({
            "templateid": template["id"], "templatename": template["name"],
            "templatedisplaytext": template["displaytext"], "passwordenabled": False,
            "serviceofferingid": offering["id"], "serviceofferingname": offering["name"],
            "cpunumber": offering["cpunumber"], "cpuspeed": offering["cpuspeed"], "memory": offering["memory"],
            "guestosid": OS_TYPE_ID, "ostypeid": OS_TYPE_ID, "osdisplayname": template["ostypename"],
            "rootdeviceid": 0, "rootdevicetype": "ROOT", "hypervisor": HYPERVISOR,
            "securitygroup": [],
            "nic": [{
                "id": stable_id("nic", v["id"]), "networkid": net["id"], "networkname": net["name"],
                "netmask": "255.255.255.0", "gateway": net["gateway"], "ipaddress": v["ip"],
                "isolationuri": "vlan://untagged", "broadcasturi": "vlan://untagged", "traffictype": "Guest",
                "type": "Shared", "isdefault": True, "macaddress": _mac(v["ip"]), "deviceid": "0",
                "extradhcpoption": [], "secondaryip": [],
            }],
            "affinitygroup": [self.affinity_group(g, member_ids=[]) | {"virtualmachineIds": None} for g in groups],
            "tags": [self.tag(t) for t in tags],
            "details": {}, "isdynamicallyscalable": False, "ostypename": template["ostypename"],
            "lastupdated": cs_date(v["updated"]), "hasannotations": False,
        })
        for g in out["affinitygroup"]:
            g.pop("virtualmachineIds", None)
            g.pop("jobid", None)
            g.pop("jobstatus", None)
        return self._pending({k: val for k, val in out.items() if val is not None}, v["id"])


def _mac(ip: str | None) -> str:
    if not ip:
        return "02:00:00:00:00:00"
    a, b, c, d = (int(x) for x in ip.split("."))
    return f"1e:00:{a:02x}:{b:02x}:{c:02x}:{d:02x}"
