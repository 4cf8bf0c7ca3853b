"""kube-apiserver semantics a client relies on: error Statuses, resourceVersions,
generation, status subresources, server-side defaults."""

from __future__ import annotations

import json

import kubernetes
import pytest
import requests
from kubernetes.client import ApiException

from .conftest import ingress_body


def _status(exc: ApiException) -> dict:
    return json.loads(exc.body)


def test_not_found_status(networking, namespace):
    with pytest.raises(ApiException) as err:
        networking.read_namespaced_ingress("missing", namespace)
    body = _status(err.value)
    assert err.value.status == 404
    assert body["reason"] == "NotFound"
    assert body["message"] == 'ingresses.networking.k8s.io "missing" not found'
    assert body["details"] == {"name": "missing", "group": "networking.k8s.io",
                               "kind": "ingresses"}


def test_already_exists(networking, namespace):
    networking.create_namespaced_ingress(namespace, ingress_body("dup"))
    with pytest.raises(ApiException) as err:
        networking.create_namespaced_ingress(namespace, ingress_body("dup"))
    assert err.value.status == 409
    assert _status(err.value)["reason"] == "AlreadyExists"
    assert _status(err.value)["message"] == \
        'ingresses.networking.k8s.io "dup" already exists'


def test_stale_resource_version_conflicts(networking, namespace):
    created = networking.create_namespaced_ingress(namespace, ingress_body("c"))
    networking.patch_namespaced_ingress("c", namespace, {"metadata": {"labels": {"a": "b"}}})
    created.metadata.labels = {"x": "y"}
    with pytest.raises(ApiException) as err:
        networking.replace_namespaced_ingress("c", namespace, created)
    body = _status(err.value)
    assert err.value.status == 409
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on ingresses.networking.k8s.io "c": the object has been '
        "modified; please apply your changes to the latest version and try again")


def test_invalid_ingress_has_causes(apiserver, namespace):
    # Raw HTTP: the Python client's own models refuse to send an Ingress without pathType.
    body = ingress_body("bad")
    del body["spec"]["rules"][0]["http"]["paths"][0]["pathType"]
    body["spec"]["rules"][0]["host"] = "Bad_Host"
    resp = requests.post(f"{apiserver.url}/apis/networking.k8s.io/v1/namespaces/{namespace}/"
                         f"ingresses", json=body, timeout=10)
    status = resp.json()
    assert resp.status_code == 422
    assert status["reason"] == "Invalid"
    assert status["message"].startswith('Ingress.networking.k8s.io "bad" is invalid: [')
    fields = {c["field"]: c["reason"] for c in status["details"]["causes"]}
    assert fields["spec.rules[0].http.paths[0].pathType"] == "FieldValueRequired"
    assert fields["spec.rules[0].host"] == "FieldValueInvalid"
    assert status["details"]["kind"] == "Ingress"


def test_namespace_mismatch_is_bad_request(networking, namespace):
    body = ingress_body("m", metadata={"namespace": "elsewhere"})
    with pytest.raises(ApiException) as err:
        networking.create_namespaced_ingress(namespace, body)
    assert err.value.status == 400
    assert _status(err.value)["reason"] == "BadRequest"
    assert "does not match the namespace sent on the request" in _status(err.value)["message"]


def test_malformed_json_is_bad_request(apiserver, namespace):
    resp = requests.post(f"{apiserver.url}/apis/networking.k8s.io/v1/namespaces/{namespace}/"
                         f"ingresses", data=b"{not json", timeout=10,
                         headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert resp.json()["reason"] == "BadRequest"
    assert resp.json()["kind"] == "Status"


def test_create_in_missing_namespace(networking):
    with pytest.raises(ApiException) as err:
        networking.create_namespaced_ingress("no-such-ns", ingress_body("x"))
    assert err.value.status == 404
    assert _status(err.value)["message"] == 'namespaces "no-such-ns" not found'


def test_every_write_bumps_one_global_resource_version(core, networking, namespace):
    a = networking.create_namespaced_ingress(namespace, ingress_body("a"))
    b = core.create_namespaced_config_map(namespace, {"metadata": {"name": "b"}})
    c = networking.patch_namespaced_ingress("a", namespace, {"metadata": {"labels": {"x": "1"}}})
    rvs = [int(o.metadata.resource_version) for o in (a, b, c)]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3


def test_noop_update_keeps_resource_version(networking, namespace):
    created = networking.create_namespaced_ingress(namespace, ingress_body("same"))
    again = networking.replace_namespaced_ingress("same", namespace, created)
    assert again.metadata.resource_version == created.metadata.resource_version


def test_generation_bumps_on_spec_changes_only(networking, namespace):
    created = networking.create_namespaced_ingress(namespace, ingress_body("g"))
    assert created.metadata.generation == 1
    labelled = networking.patch_namespaced_ingress("g", namespace,
                                                   {"metadata": {"labels": {"a": "b"}}})
    assert labelled.metadata.generation == 1
    respec = networking.patch_namespaced_ingress(
        "g", namespace, {"spec": {"ingressClassName": "other"}})
    assert respec.metadata.generation == 2


def test_status_subresource_ignores_spec_and_main_ignores_status(networking, namespace):
    networking.create_namespaced_ingress(namespace, ingress_body("s"))
    status = {"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}},
              "spec": {"ingressClassName": "sneaky"}}
    updated = networking.patch_namespaced_ingress_status("s", namespace, status)
    assert updated.status.load_balancer.ingress[0].ip == "127.0.0.1"
    assert updated.spec.ingress_class_name is None
    assert updated.metadata.generation == 1
    main = networking.patch_namespaced_ingress(
        "s", namespace, {"status": {"loadBalancer": {"ingress": [{"ip": "10.9.9.9"}]}}})
    assert main.status.load_balancer.ingress[0].ip == "127.0.0.1"


def test_invalid_status_update_is_rejected(networking, namespace):
    networking.create_namespaced_ingress(namespace, ingress_body("st"))
    with pytest.raises(ApiException) as err:
        networking.patch_namespaced_ingress_status(
            "st", namespace, {"status": {"loadBalancer": {"ingress": [{"ip": "not-an-ip"}]}}})
    assert err.value.status == 422


def test_server_side_defaults(core, apps, api_client, namespace):
    import kubernetes

    svc = core.create_namespaced_service(namespace, {
        "metadata": {"name": "svc"},
        "spec": {"selector": {"app": "a"}, "ports": [{"port": 80}]}})
    assert svc.spec.ports[0].protocol == "TCP"
    assert svc.spec.ports[0].target_port == 80
    assert svc.spec.type == "ClusterIP"
    assert svc.spec.cluster_ip

    discovery = kubernetes.client.DiscoveryV1Api(api_client)
    eps = discovery.create_namespaced_endpoint_slice(namespace, {
        "metadata": {"name": "svc-abc", "labels": {"kubernetes.io/service-name": "svc"}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["127.0.0.2"]}],
        "ports": [{"port": 8080}]})
    assert eps.ports[0].name == ""
    assert eps.ports[0].protocol == "TCP"

    dep = apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {
            "metadata": {"labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "img:1"}]}}}})
    assert dep.spec.replicas == 1
    assert dep.spec.strategy.type == "RollingUpdate"
    assert dep.spec.strategy.rolling_update.max_surge == "25%"
    assert dep.spec.strategy.rolling_update.max_unavailable == "25%"
    assert dep.spec.revision_history_limit == 10


def test_secret_string_data_is_merged_into_data(core, namespace):
    secret = core.create_namespaced_secret(namespace, {
        "metadata": {"name": "s"}, "stringData": {"user": "admin"}})
    assert secret.data == {"user": "YWRtaW4="}
    assert secret.type == "Opaque"


def test_deployment_scale_subresource(apps, namespace):
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "d"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "a"}}, "template": {
            "metadata": {"labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "img:1"}]}}}})
    scale = apps.read_namespaced_deployment_scale("d", namespace)
    assert scale.spec.replicas == 2
    assert scale.status.selector == "app=a"
    apps.patch_namespaced_deployment_scale("d", namespace, {"spec": {"replicas": 5}})
    assert apps.read_namespaced_deployment("d", namespace).spec.replicas == 5


def test_delete_with_finalizer_sets_deletion_timestamp(core, namespace):
    core.create_namespaced_config_map(namespace, {
        "metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    core.delete_namespaced_config_map("held", namespace)
    held = core.read_namespaced_config_map("held", namespace)
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", namespace, {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("held", namespace)
    assert err.value.status == 404


def test_delete_returns_success_status(api_client, core, namespace):
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "gone"}})
    status = core.delete_namespaced_config_map("gone", namespace)
    assert status["kind"] == "Status"
    assert status["status"] == "Success"
    assert status["details"]["name"] == "gone"


def test_delete_service_returns_the_deleted_object(core, namespace):
    core.create_namespaced_service(namespace, {"metadata": {"name": "svc"},
                                               "spec": {"ports": [{"port": 80}]}})
    deleted = core.delete_namespaced_service("svc", namespace)
    assert deleted.metadata.name == "svc"


def test_delete_collection(core, namespace):
    for i in range(3):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"c{i}",
                                                                   "labels": {"g": "x"}}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "keep"}})
    core.delete_collection_namespaced_config_map(namespace, label_selector="g=x")
    names = [c.metadata.name for c in core.list_namespaced_config_map(namespace).items]
    assert names == ["keep"]


def test_unauthorized_without_token():
    from simulator.apiserver.app import ApiServer

    with ApiServer(token="s3cret") as server:
        resp = requests.get(f"{server.url}/api/v1/namespaces", timeout=10)
        assert resp.status_code == 401
        assert resp.json()["reason"] == "Unauthorized"
        ok = requests.get(f"{server.url}/api/v1/namespaces", timeout=10,
                          headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_https_with_token_through_the_official_client(tmp_path):
    import kubernetes

    from simulator.apiserver.app import ApiServer

    with ApiServer(tls=True, token="tok") as server:
        path = server.write_kubeconfig(tmp_path / "kubeconfig")
        client = kubernetes.config.new_client_from_config(config_file=str(path))
        try:
            names = [n.metadata.name for n in
                     kubernetes.client.CoreV1Api(client).list_namespace().items]
            assert "default" in names
        finally:
            client.close()
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{server.url}/version", timeout=10)


def test_pod_on_a_node_deletes_gracefully_until_the_kubelet_confirms(core, namespace):
    core.create_namespaced_pod(namespace, {"metadata": {"name": "p"}, "spec": {
        "nodeName": "node-1", "containers": [{"name": "c", "image": "img:1"}]}})
    terminating = core.delete_namespaced_pod("p", namespace)
    assert terminating.metadata.deletion_timestamp is not None
    assert terminating.metadata.deletion_grace_period_seconds == 30
    assert core.read_namespaced_pod("p", namespace).metadata.deletion_timestamp is not None
    core.delete_namespaced_pod("p", namespace, grace_period_seconds=0)  # the kubelet's last word
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("p", namespace)
    assert err.value.status == 404


def test_unscheduled_pod_is_deleted_at_once(core, namespace):
    core.create_namespaced_pod(namespace, {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "img:1"}]}})
    core.delete_namespaced_pod("p", namespace)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("p", namespace)
    assert err.value.status == 404


def test_kubernetes_service_points_at_the_api_server(apiserver, core, api_client):
    """default/kubernetes, as kube-apiserver keeps it: clients (HAProxy Ingress, in-cluster
    configs) read it at start and exit without it."""
    svc = core.read_namespaced_service("kubernetes", "default")
    assert svc.spec.cluster_ip == "10.96.0.1" and svc.spec.type == "ClusterIP"
    assert svc.metadata.labels == {"component": "apiserver", "provider": "kubernetes"}
    assert [(p.name, p.port, p.target_port) for p in svc.spec.ports] == [
        ("https", 443, apiserver.port)]
    endpoints = core.read_namespaced_endpoints("kubernetes", "default")
    assert [a.ip for a in endpoints.subsets[0].addresses] == ["127.0.0.1"]
    assert endpoints.subsets[0].ports[0].port == apiserver.port
    slice_ = kubernetes.client.DiscoveryV1Api(api_client).read_namespaced_endpoint_slice(
        "kubernetes", "default")
    assert slice_.metadata.labels["kubernetes.io/service-name"] == "kubernetes"
    assert [(e.addresses, e.conditions.ready) for e in slice_.endpoints] == [
        (["127.0.0.1"], True)]


def test_put_with_another_uid_is_a_conflict(apiserver, core, namespace):
    """metadata.uid in a PUT is a precondition (a client replacing an object that was deleted
    and created again must not overwrite the new one)."""
    url = f"{apiserver.url}/api/v1/namespaces/{namespace}/configmaps/c"
    created = core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"},
                                                            "data": {"v": "1"}})
    resp = requests.put(url, timeout=10, json={
        "metadata": {"name": "c", "uid": "0000-1111"}, "data": {"v": "2"}})
    assert resp.status_code == 409
    assert resp.json()["reason"] == "Conflict"
    assert resp.json()["message"] == (
        f'Operation cannot be fulfilled on configmaps "c": StorageError: invalid object, '
        f"Code: 4, Key: /registry/configmaps/{namespace}/c, ResourceVersion: 0, "
        f"AdditionalErrorMsg: Precondition failed: UID in precondition: 0000-1111, UID in "
        f"object meta: {created.metadata.uid}")
    assert core.read_namespaced_config_map("c", namespace).data == {"v": "1"}
    same_uid = requests.put(url, timeout=10, json={
        "metadata": {"name": "c", "uid": created.metadata.uid}, "data": {"v": "3"}})
    assert same_uid.status_code == 200
    assert same_uid.json()["data"] == {"v": "3"}


@pytest.mark.parametrize("how", ["put", "strategic-merge-patch"])
def test_service_type_change_to_cluster_ip_drops_type_dependent_fields(apiserver, core,
                                                                       namespace, how):
    """dropTypeDependentFields: NodePorts, externalTrafficPolicy and the LoadBalancer status
    the client left as they were go with the type (kubectl edit / patch of `type` alone)."""
    url = f"{apiserver.url}/api/v1/namespaces/{namespace}/services/web"
    created = requests.post(url.rsplit("/", 1)[0], timeout=10, json={
        "metadata": {"name": "web"}, "spec": {"type": "LoadBalancer", "selector": {"a": "b"},
                                              "ports": [{"port": 80}]}}).json()
    assert created["spec"]["ports"][0]["nodePort"]
    if how == "put":
        created["spec"]["type"] = "ClusterIP"
        resp = requests.put(url, json=created, timeout=10)
    else:
        resp = requests.patch(url, json={"spec": {"type": "ClusterIP"}}, timeout=10,
                              headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert resp.status_code == 200, resp.text
    spec = resp.json()["spec"]
    assert spec["type"] == "ClusterIP"
    assert "nodePort" not in spec["ports"][0]
    assert "externalTrafficPolicy" not in spec
    assert spec["clusterIP"] == created["spec"]["clusterIP"]
    assert resp.json()["status"] == {"loadBalancer": {}}


def test_create_resets_pod_and_namespace_status(apiserver, core, namespace):
    """PrepareForCreate: a Pod starts Pending with its QoS class, a Namespace Active, whatever
    status the body carries (the status subresource is how status changes)."""
    pod = requests.post(f"{apiserver.url}/api/v1/namespaces/{namespace}/pods", timeout=10,
                        json={"metadata": {"name": "p"}, "spec": {"containers": [{
                            "name": "c", "image": "img:1",
                            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]},
                            "status": {"phase": "Running", "podIP": "10.0.0.9"}}).json()
    assert pod["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1",
                                                                     "memory": "1Gi"}
    name = f"{namespace}-status"
    ns = requests.post(f"{apiserver.url}/api/v1/namespaces", timeout=10, json={
        "metadata": {"name": name}, "status": {"phase": "Terminating"}}).json()
    try:
        assert ns["status"] == {"phase": "Active"}
    finally:
        core.delete_namespace(name)


def test_delete_options_body_of_the_wrong_type_is_refused(apiserver, core, namespace):
    """A DeleteOptions body that does not decode: kube-apiserver answers the decode error as
    it comes (500, no reason), and deletes nothing."""
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    resp = requests.delete(f"{apiserver.url}/api/v1/namespaces/{namespace}/configmaps/c",
                           json={"gracePeriodSeconds": "abc"}, timeout=10)
    assert resp.status_code == 500
    assert "reason" not in resp.json()
    assert resp.json()["message"] == ("json: cannot unmarshal string into Go struct field "
                                      "DeleteOptions.gracePeriodSeconds of type int64")
    assert core.read_namespaced_config_map("c", namespace).metadata.name == "c"
