"""CRUD on every typed kind through the official `kubernetes` client's typed APIs."""

from __future__ import annotations

import copy
import re

import kubernetes
import pytest
import requests
from kubernetes.client import ApiException

from .conftest import ingress_body

POD_TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "web", "image": "nginxdemos/hello:plain-text",
                             "ports": [{"containerPort": 80}]}]},
}

# (API class, method suffix, namespaced, body without metadata.name)
KINDS: list[tuple[str, str, bool, dict]] = [
    ("CoreV1Api", "service", True, {"spec": {"selector": {"app": "web"},
                                             "ports": [{"port": 80}]}}),
    ("CoreV1Api", "endpoints", True, {"subsets": [{"addresses": [{"ip": "10.0.0.1"}],
                                                   "ports": [{"port": 80}]}]}),
    ("CoreV1Api", "pod", True, {"spec": POD_TEMPLATE["spec"]}),
    ("CoreV1Api", "secret", True, {"type": "Opaque", "data": {"k": "dg=="}}),
    ("CoreV1Api", "config_map", True, {"data": {"k": "v"}}),
    ("CoreV1Api", "service_account", True, {}),
    ("CoreV1Api", "event", True, {"involvedObject": {"kind": "Pod", "name": "p"},
                                  "reason": "Test", "message": "m", "type": "Normal"}),
    ("CoreV1Api", "node", False, {"spec": {}}),
    ("AppsV1Api", "deployment", True, {"spec": {"replicas": 2,
                                                "selector": {"matchLabels": {"app": "web"}},
                                                "template": POD_TEMPLATE}}),
    ("AppsV1Api", "replica_set", True, {"spec": {"replicas": 1,
                                                 "selector": {"matchLabels": {"app": "web"}},
                                                 "template": POD_TEMPLATE}}),
    ("DiscoveryV1Api", "endpoint_slice", True, {
        "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"],
                                               "conditions": {"ready": True}}],
        "ports": [{"port": 80}]}),
    ("NetworkingV1Api", "ingress", True, {"spec": ingress_body("x")["spec"]}),
    ("NetworkingV1Api", "ingress_class", False, {"spec": {"controller": "example.com/ctrl"}}),
    ("CoordinationV1Api", "lease", True, {"spec": {"holderIdentity": "me",
                                                   "leaseDurationSeconds": 15}}),
    # Not a whole second: the Python client sends datetimes in isoformat(), which leaves out
    # zero microseconds, and a MicroTime without them does not decode (400, as upstream).
    ("EventsV1Api", "event", True, {"eventTime": "2026-01-01T00:00:00.500000Z",
                                    "reportingController": "example.com/c",
                                    "reportingInstance": "i", "action": "Test",
                                    "reason": "Test", "type": "Normal",
                                    "regarding": {"kind": "Pod", "name": "p"}}),
    ("RbacAuthorizationV1Api", "role", True, {"rules": [{"apiGroups": [""], "resources":
                                                         ["pods"], "verbs": ["get"]}]}),
    ("RbacAuthorizationV1Api", "cluster_role", False, {"rules": []}),
    ("RbacAuthorizationV1Api", "role_binding", True, {
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "default"}]}),
    ("RbacAuthorizationV1Api", "cluster_role_binding", False, {
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "r"}, "subjects": []}),
    ("BatchV1Api", "job", True, {"spec": {"template": {
        "metadata": {}, "spec": {**POD_TEMPLATE["spec"], "restartPolicy": "Never"}}}}),
    ("AdmissionregistrationV1Api", "validating_webhook_configuration", False, {"webhooks": []}),
    ("AdmissionregistrationV1Api", "mutating_webhook_configuration", False, {"webhooks": []}),
    ("PolicyV1Api", "pod_disruption_budget", True, {"spec": {
        "minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}),
]


def _call(api, verb: str, suffix: str, namespaced: bool, namespace: str, **kw):
    name = f"{verb}_namespaced_{suffix}" if namespaced else f"{verb}_{suffix}"
    if namespaced and verb not in ("list_for_all_namespaces",):
        kw["namespace"] = namespace
    return getattr(api, name)(**kw)


@pytest.mark.parametrize(("api_name", "suffix", "namespaced", "spec"), KINDS,
                         ids=[f"{a}.{s}" for a, s, _, _ in KINDS])
def test_crud_every_typed_kind(api_client, namespace, api_name, suffix, namespaced, spec):
    api = getattr(kubernetes.client, api_name)(api_client)
    name = f"obj-{namespace}"
    body = {"metadata": {"name": name, "labels": {"stage": "one"}}, **copy.deepcopy(spec)}
    for ref in ("involvedObject", "regarding"):  # an Event's subject lives in its namespace
        if ref in body:
            body[ref]["namespace"] = namespace

    created = _call(api, "create", suffix, namespaced, namespace, body=body)
    assert created.metadata.name == name
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None
    if namespaced:
        assert created.metadata.namespace == namespace

    read = _call(api, "read", suffix, namespaced, namespace, name=name)
    assert read.metadata.uid == created.metadata.uid

    listed = _call(api, "list", suffix, namespaced, namespace)
    assert name in [item.metadata.name for item in listed.items]
    assert int(listed.metadata.resource_version) >= int(created.metadata.resource_version)

    read.metadata.labels = {"stage": "two"}
    replaced = _call(api, "replace", suffix, namespaced, namespace, name=name, body=read)
    assert replaced.metadata.labels == {"stage": "two"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)

    patched = _call(api, "patch", suffix, namespaced, namespace, name=name,
                    body={"metadata": {"labels": {"extra": "yes"}}})
    assert patched.metadata.labels == {"stage": "two", "extra": "yes"}

    _call(api, "delete", suffix, namespaced, namespace, name=name)
    with pytest.raises(ApiException) as err:
        _call(api, "read", suffix, namespaced, namespace, name=name)
    assert err.value.status == 404


def test_namespace_crud(core):
    created = core.create_namespace({"metadata": {"name": "crud-ns"}})
    assert created.status.phase == "Active"
    assert created.metadata.labels["kubernetes.io/metadata.name"] == "crud-ns"
    assert created.spec.finalizers == ["kubernetes"]
    assert "crud-ns" in [n.metadata.name for n in core.list_namespace().items]
    core.patch_namespace("crud-ns", {"metadata": {"labels": {"team": "a"}}})
    assert core.read_namespace("crud-ns").metadata.labels["team"] == "a"
    core.delete_namespace("crud-ns")
    with pytest.raises(ApiException) as err:
        core.read_namespace("crud-ns")
    assert err.value.status == 404


def test_namespace_deletion_removes_its_contents(core, networking):
    core.create_namespace({"metadata": {"name": "doomed"}})
    networking.create_namespaced_ingress("doomed", ingress_body("ing"))
    core.create_namespaced_config_map("doomed", {"metadata": {"name": "cm"}})
    core.delete_namespace("doomed")
    with pytest.raises(ApiException):
        core.read_namespace("doomed")
    assert networking.list_namespaced_ingress("doomed").items == []


def test_list_across_all_namespaces(core, networking, namespace):
    core.create_namespace({"metadata": {"name": f"{namespace}-b"}})
    try:
        networking.create_namespaced_ingress(namespace, ingress_body("a"))
        networking.create_namespaced_ingress(f"{namespace}-b", ingress_body("b"))
        items = networking.list_ingress_for_all_namespaces().items
        found = {(i.metadata.namespace, i.metadata.name) for i in items}
        assert {(namespace, "a"), (f"{namespace}-b", "b")} <= found
    finally:
        core.delete_namespace(f"{namespace}-b")


def test_generate_name(core, namespace):
    cm = core.create_namespaced_config_map(namespace, {"metadata": {"generateName": "cfg-"}})
    assert re.fullmatch(r"cfg-[bcdfghjklmnpqrstvwxz2456789]{5}", cm.metadata.name)


def test_generate_name_after_a_restart_from_state(tmp_path):
    """The name sequence is seeded (same seed, same names); a server restarted from `--state`
    draws from another one, and a taken name is drawn again (createWithGenerateNameRetry),
    so no create fails with AlreadyExists."""
    from simulator.apiserver.app import ApiServer

    state = tmp_path / "state.json"

    def create_all(count: int) -> list[str]:
        with ApiServer(state_file=state) as server:
            url = f"{server.url}/api/v1/namespaces/default/configmaps"
            answers = [requests.post(url, json={"metadata": {"generateName": "cfg-"}},
                                     timeout=10) for _ in range(count)]
        assert [a.status_code for a in answers] == [201] * count, answers[-1].text
        return [a.json()["metadata"]["name"] for a in answers]

    first = create_all(12)
    again = create_all(12)
    assert not set(first) & set(again)
    state.unlink()
    assert create_all(12) == first  # a fresh server with the same seed: the same names


def test_node_ports_stay_allocated_after_a_restart_from_state(tmp_path):
    from simulator.apiserver.app import ApiServer

    state = tmp_path / "state.json"
    ports = []
    for name, cluster_ip in (("a", "10.96.100.1"), ("b", "10.96.100.2")):
        # The ClusterIP is given, so each run's first random draw is for the NodePort.
        with ApiServer(state_file=state) as server:
            svc = requests.post(f"{server.url}/api/v1/namespaces/default/services", timeout=10,
                                json={"metadata": {"name": name}, "spec": {
                                    "type": "NodePort", "clusterIP": cluster_ip,
                                    "ports": [{"port": 80}]}}).json()
            ports.append(svc["spec"]["ports"][0]["nodePort"])
    assert ports[0] != ports[1]


def test_empty_list_has_items_not_null(apiserver, namespace):
    resp = requests.get(f"{apiserver.url}/api/v1/namespaces/{namespace}/configmaps", timeout=10)
    assert resp.json()["items"] == []


def test_custom_resource_definition_serves_its_kind(api_client, namespace):
    ext = kubernetes.client.ApiextensionsV1Api(api_client)
    crd = {
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                      "listKind": "WidgetList"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": {
                              "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }
    ext.create_custom_resource_definition(crd)
    try:
        established = ext.read_custom_resource_definition("widgets.example.com")
        conditions = {c.type: c.status for c in established.status.conditions}
        assert conditions["Established"] == "True"
        custom = kubernetes.client.CustomObjectsApi(api_client)
        custom.create_namespaced_custom_object(
            "example.com", "v1", namespace, "widgets",
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"},
             "spec": {"size": 3}})
        got = custom.get_namespaced_custom_object("example.com", "v1", namespace, "widgets", "w1")
        assert got["spec"] == {"size": 3}
        assert got["metadata"]["generation"] == 1
        listed = custom.list_namespaced_custom_object("example.com", "v1", namespace, "widgets")
        assert [i["metadata"]["name"] for i in listed["items"]] == ["w1"]
    finally:
        ext.delete_custom_resource_definition("widgets.example.com")
    with pytest.raises(ApiException) as err:
        kubernetes.client.CustomObjectsApi(api_client).list_namespaced_custom_object(
            "example.com", "v1", namespace, "widgets")
    assert err.value.status == 404
