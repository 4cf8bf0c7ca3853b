"""What client-go based controllers send, as Traefik v3.7 (client-go v0.36) sent it to the
API server during `--target traefik` (captured through a logging proxy): informers start with
watch-list requests (`sendInitialEvents=true`) across all namespaces, accept protobuf before
JSON, and Ingress status is written with a protobuf PUT to the status subresource. Raw HTTP, so
the requests are exactly those."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import uuid
from typing import Any

import kubernetes
import pytest

from simulator.apiserver.app import ApiServer
from simulator.apiserver.protobuf import encode

ACCEPT = "application/vnd.kubernetes.protobuf,application/json"  # client-go's default
PROTOBUF = "application/vnd.kubernetes.protobuf"
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def _watch_list(apiserver: ApiServer, path: str, **params: str) -> list[dict[str, Any]]:
    """A client-go watch-list request; the events up to the initial-events-end bookmark."""
    query = {"allowWatchBookmarks": "true", "resourceVersionMatch": "NotOlderThan",
             "sendInitialEvents": "true", "timeout": "7m49s", "timeoutSeconds": "469",
             "watch": "true", **params}
    request = urllib.request.Request(f"{apiserver.url}{path}?{urllib.parse.urlencode(query)}",
                                     headers={"Accept": ACCEPT, "User-Agent": "traefik/v3.7.13"})
    events = []
    with urllib.request.urlopen(request, timeout=10) as response:
        # Protobuf is accepted, JSON is served: client-go decodes by the response type.
        assert response.headers["Content-Type"].startswith("application/json")
        for line in response:
            event = json.loads(line)
            events.append(event)
            annotations = event["object"]["metadata"].get("annotations") or {}
            if event["type"] == "BOOKMARK" and annotations.get(INITIAL_EVENTS_END) == "true":
                return events
    raise AssertionError(f"the watch ended before the initial-events-end bookmark: {events}")


@pytest.fixture
def two_namespaces(core: kubernetes.client.CoreV1Api) -> Any:
    names = [f"cg-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for name in names:
        core.create_namespace({"metadata": {"name": name}})
    yield names
    for name in names:
        core.delete_namespace(name)


def test_watch_list_all_namespaces_with_label_selector(
        apiserver: ApiServer, core: kubernetes.client.CoreV1Api, two_namespaces: list[str]
) -> None:
    """Traefik's Secret informer: all namespaces, `labelSelector=owner!=helm`; the initial
    events are the matching Secrets of every namespace, then the end bookmark, whose
    resourceVersion is not older than theirs."""
    a, b = two_namespaces
    core.create_namespaced_secret(a, {"metadata": {"name": "tls"}, "data": {}})
    core.create_namespaced_secret(b, {"metadata": {"name": "tls"}, "data": {}})
    core.create_namespaced_secret(b, {"metadata": {"name": "helm-release",
                                                   "labels": {"owner": "helm"}}})
    events = _watch_list(apiserver, "/api/v1/secrets", labelSelector="owner!=helm")
    added = {(e["object"]["metadata"]["namespace"], e["object"]["metadata"]["name"])
             for e in events if e["type"] == "ADDED"}
    assert {(a, "tls"), (b, "tls")} <= added
    assert (b, "helm-release") not in added
    assert all(e["type"] in ("ADDED", "BOOKMARK") for e in events)
    end = events[-1]["object"]
    assert end["kind"] == "Secret" and end["apiVersion"] == "v1"
    newest = max(int(e["object"]["metadata"]["resourceVersion"]) for e in events[:-1])
    assert int(end["metadata"]["resourceVersion"]) >= newest


@pytest.mark.parametrize("path,kind", [
    ("/apis/networking.k8s.io/v1/ingresses", "Ingress"),
    ("/apis/networking.k8s.io/v1/ingressclasses", "IngressClass"),
    ("/api/v1/services", "Service"),
    ("/apis/discovery.k8s.io/v1/endpointslices", "EndpointSlice"),
    ("/api/v1/nodes", "Node"),
])
def test_watch_list_of_each_informer(apiserver: ApiServer, path: str, kind: str) -> None:
    """Every informer Traefik's Ingress provider starts gets its initial-events-end bookmark
    (an informer without it never syncs, and Traefik never serves)."""
    events = _watch_list(apiserver, path)
    assert events[-1]["type"] == "BOOKMARK"
    assert events[-1]["object"]["kind"] == kind


def test_protobuf_put_of_ingress_status(
        apiserver: ApiServer, api_client: kubernetes.client.ApiClient,
        two_namespaces: list[str]) -> None:
    """Traefik's UpdateIngressStatus: a protobuf PUT of the whole Ingress to /status with
    status.loadBalancer.ingress [{ip, hostname}]; the status is stored, the spec is not
    touched, and the answer is the stored object."""
    ns = two_namespaces[0]
    net = kubernetes.client.NetworkingV1Api(api_client)
    created = api_client.sanitize_for_serialization(net.create_namespaced_ingress(ns, {
        "metadata": {"name": "web"},
        "spec": {"ingressClassName": "traefik", "rules": [{"host": "web.test", "http": {
            "paths": [{"path": "/", "pathType": "Prefix", "backend": {
                "service": {"name": "web", "port": {"number": 80}}}}]}}]}}))
    body = dict(created, apiVersion="networking.k8s.io/v1", kind="Ingress")
    body["spec"] = dict(body["spec"], rules=[])  # ignored by the status subresource
    body["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1",
                                                    "hostname": "localhost"}]}}
    request = urllib.request.Request(
        f"{apiserver.url}/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/web/status",
        data=encode(body), method="PUT",
        headers={"Content-Type": PROTOBUF, "Accept": ACCEPT})
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["status"]["loadBalancer"]["ingress"] == [{"ip": "127.0.0.1",
                                                            "hostname": "localhost"}]
    stored = net.read_namespaced_ingress("web", ns)
    assert stored.status.load_balancer.ingress[0].hostname == "localhost"
    assert len(stored.spec.rules) == 1
    assert int(stored.metadata.resource_version) > int(created["metadata"]["resourceVersion"])
