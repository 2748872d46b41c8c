"""The simulator speaks CloudStack's wire format: inventory, signing, errors, pagination, roles."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from cs import CloudStack, CloudStackApiException
from cs_lab_helpers import CREDENTIALS, Lab

from cloudgate_lab.cloudstack.signing import compute_signature, java_urlencode, string_to_sign


def test_inventory_has_a_zone_per_datacenter_a_pod_per_rack_and_a_cluster_per_pod(admin: CloudStack, lab: Lab) -> None:
    zones = admin.listZones()["zone"]
    assert [z["name"] for z in zones] == ["lab-dc1", "lab-dc2"]
    assert all(z["networktype"] == "Advanced" and z["allocationstate"] == "Enabled" for z in zones)
    pods = admin.listPods()["pod"]
    assert [p["name"] for p in pods] == ["dc1-r1", "dc1-r2", "dc2-r1", "dc2-r2"]
    clusters = admin.listClusters()["cluster"]
    assert [c["name"] for c in clusters] == ["dc1-r1-pool", "dc1-r2-pool", "dc2-r1-pool", "dc2-r2-pool"]
    assert {(c["hypervisortype"], c["clustertype"]) for c in clusters} == {("XenServer", "CloudManaged")}


def test_every_lab_host_is_an_up_enabled_xenserver_routing_host_tagged_with_its_rack(admin: CloudStack,
                                                                                     lab: Lab) -> None:
    hosts = admin.listHosts(type="Routing")["host"]
    assert [h["name"] for h in hosts] == [h.name for h in lab.topology.hosts]
    first = hosts[0]
    assert first["ipaddress"] == "198.18.1.11"
    assert (first["state"], first["resourcestate"], first["hypervisor"]) == ("Up", "Enabled", "XenServer")
    assert first["cpunumber"] == 8 and first["cpuspeed"] == 2400
    assert first["memorytotal"] == 32768 * 1024 * 1024
    assert first["hosttags"] == "rack:dc1-r1"
    assert first["cpuallocated"] == "0%" and first["memoryallocated"] == 0
    assert admin.listHosts(name="dc2-r2-h2")["host"][0]["podname"] == "dc2-r2"


def test_system_vms_management_server_offerings_and_templates_are_listed(admin: CloudStack) -> None:
    svms = admin.listSystemVms()["systemvm"]
    assert sorted(s["name"] for s in svms) == ["s-1-VM", "s-3-VM", "v-2-VM", "v-4-VM"]
    assert {s["state"] for s in svms} == {"Running"}
    assert {s["systemvmtype"] for s in svms} == {"secondarystoragevm", "consoleproxy"}
    ms = admin.listManagementServers()["managementserver"]
    assert ms[0]["state"] == "Up" and ms[0]["version"].startswith("4.19")
    offerings = {o["name"]: (o["cpunumber"], o["memory"]) for o in admin.listServiceOfferings()["serviceoffering"]}
    assert offerings == {"Small Instance": (1, 1024), "Medium Instance": (2, 4096), "Cassandra": (8, 16384),
                         "Front": (2, 2048)}
    templates = admin.listTemplates(templatefilter="featured")["template"]
    assert {t["templatetag"] for t in templates} == {"guest", "cassandra", "front-lb", "front-web"}
    assert all(t["isready"] and t["hypervisor"] == "XenServer" for t in templates)
    assert admin.listCapabilities()["capability"]["cloudstackversion"].startswith("4.19")
    types = admin.listCapacity(zoneid=admin.listZones()["zone"][0]["id"])["capacity"]
    assert {0, 1, 90} <= {c["type"] for c in types}


def test_ids_are_stable_across_state_dirs(admin: CloudStack, tmp_path, topology) -> None:
    from cloudgate_lab.cloudstack import start_in_thread

    other = start_in_thread(tmp_path / "other", topology, 0, CREDENTIALS)
    try:
        client = CloudStack(endpoint=other.endpoint, key=CREDENTIALS["api_key"], secret=CREDENTIALS["secret_key"])
        assert [h["id"] for h in client.listHosts()["host"]] == [h["id"] for h in admin.listHosts()["host"]]
        assert [z["id"] for z in client.listZones()["zone"]] == [z["id"] for z in admin.listZones()["zone"]]
    finally:
        other.stop()


def test_a_wrong_secret_is_refused_with_401(lab: Lab) -> None:
    client = CloudStack(endpoint=lab.handle.endpoint, key=CREDENTIALS["api_key"], secret="not-the-secret")
    with pytest.raises(CloudStackApiException) as exc:
        client.listZones()
    assert exc.value.error["errorcode"] == 401
    assert exc.value.response.status_code == 401
    assert exc.value.error["errortext"] == "unable to verify user credentials and/or request signature"


def test_an_unknown_api_key_is_refused_with_401(lab: Lab) -> None:
    client = CloudStack(endpoint=lab.handle.endpoint, key="nobody", secret="whatever")
    with pytest.raises(CloudStackApiException) as exc:
        client.listZones()
    assert exc.value.error["errorcode"] == 401


def test_an_expired_request_is_refused_with_401(lab: Lab, admin: CloudStack) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S%z")
    with pytest.raises(CloudStackApiException) as exc:
        admin.listZones(expires=past, signatureVersion="3")
    assert exc.value.error["errorcode"] == 401


def test_signed_post_with_characters_that_need_escaping_is_accepted(lab: Lab) -> None:
    client = lab.client(method="post")
    assert client.listVirtualMachines(keyword="a b*c/d+e=f&g") == {}
    assert java_urlencode("a b*c~") == "a+b*c%7E"


def test_unsigned_raw_requests_and_the_string_to_sign_match_the_reference(lab: Lab) -> None:
    params = {"command": "listZones", "apiKey": CREDENTIALS["api_key"], "response": "json", "templateId": "x",
              "templatefilter": "y"}
    assert string_to_sign(params).startswith("apikey=lab-admin-key&command=listzones&response=json&templateid=x")
    params["signature"] = compute_signature(CREDENTIALS["secret_key"], params)
    resp = requests.get(lab.handle.endpoint, params=params, timeout=5)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    assert list(resp.json()) == ["listzonesresponse"]
    del params["signature"]
    assert requests.get(lab.handle.endpoint, params=params, timeout=5).status_code == 401


def test_an_unknown_command_answers_432_in_errorresponse(lab: Lab, admin: CloudStack) -> None:
    with pytest.raises(CloudStackApiException) as exc:
        admin.listFlyingSaucers()
    assert exc.value.error["errorcode"] == 432
    resp = requests.get(lab.handle.endpoint, params={"command": "listFlyingSaucers", "response": "json"}, timeout=5)
    assert list(resp.json()) == ["errorresponse"]


def test_a_missing_required_parameter_answers_431(admin: CloudStack) -> None:
    with pytest.raises(CloudStackApiException) as exc:
        admin.listTemplates()
    assert exc.value.error["errorcode"] == 431
    assert exc.value.error["errortext"] == ("Unable to execute API command listtemplates due to missing "
                                            "parameter templatefilter")
    with pytest.raises(CloudStackApiException) as exc:
        admin.listHosts(id="3c8c2a4e-0000-0000-0000-000000000000")
    assert exc.value.error["errorcode"] == 431


def test_pages_carry_the_total_count_and_fetch_list_walks_them_all(admin: CloudStack) -> None:
    first = admin.listHosts(page=1, pagesize=3)
    assert first["count"] == 8 and len(first["host"]) == 3
    last = admin.listHosts(page=3, pagesize=3)
    assert len(last["host"]) == 2
    assert admin.listHosts(page=4, pagesize=3) == {"count": 8}
    assert len(admin.listHosts(fetch_list=True)) == 8
    with pytest.raises(CloudStackApiException) as exc:
        admin.listHosts(page=1, pagesize=501)
    assert exc.value.error["errorcode"] == 431


def test_an_empty_list_is_an_empty_object(admin: CloudStack) -> None:
    assert admin.listVirtualMachines() == {}
    assert admin.listAffinityGroups() == {}
    assert admin.listHosts(name="no-such-host") == {}


def test_a_plain_user_cannot_list_hosts_nor_sees_them(lab: Lab) -> None:
    user = lab.client(user=True)
    with pytest.raises(CloudStackApiException) as exc:
        user.listHosts()
    assert exc.value.error["errorcode"] == 432
    assert len(user.listZones()["zone"]) == 2


def test_listapis_describes_every_command_the_way_cmk_expects(admin: CloudStack) -> None:
    apis = {a["name"]: a for a in admin.listApis(listall=True)["api"]}
    assert apis["deployVirtualMachine"]["isasync"] is True
    assert apis["listHosts"]["isasync"] is False
    for api in apis.values():
        assert isinstance(api["name"], str) and isinstance(api["description"], str)
        for p in api["params"]:
            assert isinstance(p["name"], str) and isinstance(p["type"], str)
            assert isinstance(p["required"], bool) and isinstance(p["description"], str)
    required = {p["name"] for p in apis["listTemplates"]["params"] if p["required"]}
    assert required == {"templatefilter"}


def test_the_request_log_records_calls_but_never_keys_or_signatures(lab: Lab, admin: CloudStack) -> None:
    admin.listZones()
    with pytest.raises(CloudStackApiException):
        lab.client(user=True).listHosts()
    text = (lab.state_dir / "api.log").read_text()
    assert "command=listZones status=200" in text and "status=432" in text
    for secret in ("lab-admin-key", "lab-admin-secret", "lab-user-key", "signature"):
        assert secret not in text
    assert json.dumps(CREDENTIALS["secret_key"]) not in text
