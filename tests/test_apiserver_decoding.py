"""Bodies kube-apiserver cannot decode into the Go struct of their kind are refused, worded as
upstream words them for each write path, and nothing is stored (a stored ConfigMap with a
number in `data` made every client-go list of ConfigMaps fail). Raw HTTP, so the bodies are
exactly those; kubectl for the YAML case users hit."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest
import requests

SECRET_NOT_BASE64 = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                     "data": {"token": "abc!"}}


def _url(apiserver, namespace: str, plural: str, group: str = "") -> str:
    prefix = f"/apis/{group}" if group else "/api/v1"
    return f"{apiserver.url}{prefix}/namespaces/{namespace}/{plural}"


@pytest.mark.parametrize(("plural", "group", "body", "message"), [
    ("configmaps", "", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                        "data": {"port": 8080}},
     'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal '
     "number into Go struct field ConfigMap.data of type string"),
    ("deployments", "apps/v1", {"apiVersion": "apps/v1", "kind": "Deployment",
                                "metadata": {"name": "d"}, "spec": {"replicas": "2"}},
     'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal '
     "string into Go struct field DeploymentSpec.spec.replicas of type int32"),
    ("configmaps", "", {"metadata": {"name": "l", "labels": {"n": 1}}},
     'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal '
     "number into Go struct field ObjectMeta.metadata.labels of type string"),
    ("secrets", "", SECRET_NOT_BASE64,
     'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input '
     "byte 3"),
    ("services", "", {"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80,
                                                                       "protocol": 6}]}},
     'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal number '
     "into Go struct field ServicePort.spec.ports.protocol of type v1.Protocol"),
    ("pods", "", {"metadata": {"name": "p"}, "spec": {"containers": [{
        "name": "c", "image": "nginx", "resources": {"limits": {"cpu": "1x"}}}]}},
     'Pod in version "v1" cannot be handled as a Pod: quantities must match the regular '
     "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
    ("leases", "coordination.k8s.io/v1", {"metadata": {"name": "l"}, "spec": {
        "holderIdentity": "me", "renewTime": "2026-01-01T00:00:00Z"}},
     'Lease in version "v1" cannot be handled as a Lease: parsing time '
     '"2026-01-01T00:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as '
     '".000000"'),
], ids=["configmap-data", "replicas", "labels", "secret-base64", "protocol", "quantity",
        "microtime"])
def test_create_with_values_go_cannot_decode_is_400(apiserver, namespace, plural, group, body,
                                                     message):
    resp = requests.post(_url(apiserver, namespace, plural, group), json=body, timeout=10)
    assert resp.status_code == 400, resp.text
    assert resp.json()["reason"] == "BadRequest"
    assert resp.json()["message"] == message
    name = body["metadata"]["name"]
    assert requests.get(f"{_url(apiserver, namespace, plural, group)}/{name}",
                        timeout=10).status_code == 404


def test_update_with_a_wrong_type_is_400_and_keeps_the_object(apiserver, namespace):
    url = f"{_url(apiserver, namespace, 'configmaps')}/c"
    created = requests.post(_url(apiserver, namespace, "configmaps"),
                            json={"metadata": {"name": "c"}, "data": {"a": "1"}},
                            timeout=10).json()
    created["data"]["a"] = 1
    resp = requests.put(url, json=created, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["message"].endswith(
        "json: cannot unmarshal number into Go struct field ConfigMap.data of type string")
    assert requests.get(url, timeout=10).json()["data"] == {"a": "1"}


def test_scale_with_a_string_replica_count_is_400(apiserver, namespace):
    deployments = _url(apiserver, namespace, "deployments", "apps/v1")
    requests.post(deployments, timeout=10, json={
        "metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    resp = requests.put(f"{deployments}/web/scale", timeout=10, json={
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": "web", "namespace": namespace}, "spec": {"replicas": "3"}})
    assert resp.status_code == 400
    assert resp.json()["message"] == (
        'Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal string '
        "into Go struct field ScaleSpec.spec.replicas of type int32")


@pytest.mark.parametrize(("content_type", "patch", "code", "message"), [
    # JSON and merge patches: the patched document is decoded (422 on field "patch").
    ("application/merge-patch+json", {"data": {"port": 8080}}, 422,
     "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"),
    ("application/json-patch+json", [{"op": "add", "path": "/data/port", "value": 8080}], 422,
     "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"),
    # Strategic merge patches: the patched map is converted (the converter's wording).
    ("application/strategic-merge-patch+json", {"data": {"port": 8080}}, 422,
     'Invalid value: "map[data:map[port:8080]]": cannot convert int64 to string'),
    # Server-side apply: structured-merge-diff cannot type the configuration (500 upstream).
    ("application/apply-patch+yaml", {"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": {"name": "c"}, "data": {"port": 8080}}, 500,
     "failed to create typed patch object (/c; /v1, Kind=ConfigMap): .data.port: expected "
     "string, got &value.valueUnstructured{Value:8080}"),
], ids=["merge", "json", "strategic", "apply"])
def test_patch_whose_result_does_not_decode_is_refused(apiserver, namespace, content_type,
                                                       patch, code, message):
    url = f"{_url(apiserver, namespace, 'configmaps')}/c"
    requests.post(_url(apiserver, namespace, "configmaps"),
                  json={"metadata": {"name": "c"}, "data": {"a": "1"}}, timeout=10)
    resp = requests.patch(url, json=patch, params={"fieldManager": "test"},
                          headers={"Content-Type": content_type}, timeout=10)
    assert resp.status_code == code, resp.text
    status = resp.json()
    assert message in status["message"]
    if code == 422:
        assert status["message"].startswith(' "" is invalid: patch: Invalid value: ')
        assert status["details"]["causes"][0]["field"] == "patch"
    assert requests.get(url, timeout=10).json()["data"] == {"a": "1"}


def test_unknown_fields_and_custom_resources_are_not_type_checked(apiserver, namespace):
    """Field validation (pruning, Strict) is another matter: unknown fields decode."""
    resp = requests.post(_url(apiserver, namespace, "configmaps"), timeout=10, json={
        "metadata": {"name": "extra"}, "data": {"a": "1"}, "unknown": 5, "Data": {"b": 2}})
    assert resp.status_code == 201, resp.text
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    crds = f"{apiserver.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    requests.post(crds, timeout=10, json={
        "metadata": {"name": f"gadgets.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                     "openAPIV3Schema": {"type": "object",
                                         "x-kubernetes-preserve-unknown-fields": True}}}]}})
    try:
        resp = requests.post(_url(apiserver, namespace, "gadgets", f"{group}/v1"), timeout=10,
                             json={"apiVersion": f"{group}/v1", "kind": "Gadget",
                                   "metadata": {"name": "g"}, "spec": {"replicas": "2"},
                                   "data": {"port": 8080}})
        assert resp.status_code == 201, resp.text
    finally:
        requests.delete(f"{crds}/gadgets.{group}", timeout=10)


def test_kubectl_create_of_an_unquoted_number_is_refused(apiserver, kubeconfig, namespace,
                                                         tmp_path):
    """The classic YAML slip: `port: 8080` in a ConfigMap."""
    kubectl = shutil.which("kubectl") or "/usr/bin/kubectl"
    if not shutil.which(kubectl):
        pytest.skip("kubectl is not installed (looked on PATH and at /usr/bin/kubectl)")
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n"
                        "data:\n  port: 8080\n")
    proc = subprocess.run([kubectl, "--kubeconfig", str(kubeconfig), "-n", namespace,
                           "create", "-f", str(manifest)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "Error from server (BadRequest)" in proc.stderr
    assert ('ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot '
            "unmarshal number into Go struct field ConfigMap.data of type string"
            in proc.stderr)
    listed = requests.get(f"{apiserver.url}/api/v1/configmaps", timeout=10).json()["items"]
    assert (namespace, "app") not in {(i["metadata"]["namespace"], i["metadata"]["name"])
                                      for i in listed}
