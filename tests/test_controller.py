"""The reference controller against the API server: tables follow the objects, status is
published and cleared, Warning Events are recorded once, faults keep the last table."""

from __future__ import annotations

import threading
import time

import kubernetes
import pytest

from simulator.apiserver.app import ApiServer
from simulator.controller.controller import (
    CONTROLLER_NAME,
    ControllerConfig,
    ReferenceController,
)
from simulator.controller.translate import ControllerEvent
from simulator.routing import RoutingTable

from .conftest import eventually, ingress_body


class Tables:
    """The data plane stand-in: records every table the controller publishes."""

    def __init__(self) -> None:
        self.latest = RoutingTable()
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, table: RoutingTable) -> None:
        with self.lock:
            self.latest = table
            self.count += 1

    def backend_of(self, host: str, path: str = "/"):
        for group in self.latest.hosts:
            if group.host == host:
                for rule in group.paths:
                    if rule.path == path:
                        return rule.backend
        return None


@pytest.fixture
def cluster(tmp_path):
    with ApiServer() as server:
        client = kubernetes.config.new_client_from_config(
            config_file=str(server.write_kubeconfig(tmp_path / "kc")))
        net = kubernetes.client.NetworkingV1Api(client)
        net.create_ingress_class({"metadata": {"name": "reference", "annotations": {
            "ingressclass.kubernetes.io/is-default-class": "true"}},
            "spec": {"controller": CONTROLLER_NAME}})
        tables = Tables()
        controller = ReferenceController(client, tables, ControllerConfig(resync_seconds=0))
        controller.start()
        yield server, client, controller, tables
        controller.stop()
        client.close()


def _service_with_endpoints(client, name: str, ips: list[str], port: int = 8080) -> None:
    core = kubernetes.client.CoreV1Api(client)
    core.create_namespaced_service("default", {"metadata": {"name": name}, "spec": {
        "selector": {"app": name}, "ports": [{"port": 80, "targetPort": port}]}})
    kubernetes.client.DiscoveryV1Api(client).create_namespaced_endpoint_slice("default", {
        "metadata": {"name": f"{name}-abcde", "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4", "ports": [{"port": port}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]})


def test_routes_follow_ingresses_services_and_endpoints(cluster):
    server, client, controller, tables = cluster
    net = kubernetes.client.NetworkingV1Api(client)
    _service_with_endpoints(client, "app", ["127.0.0.2", "127.0.0.3"])
    net.create_namespaced_ingress("default", ingress_body("web", host="app.example.com"))
    backend = eventually(lambda: tables.backend_of("app.example.com"))
    assert sorted(e.hostport for e in backend.endpoints) == ["127.0.0.2:8080", "127.0.0.3:8080"]
    status = eventually(lambda: net.read_namespaced_ingress("web", "default")
                         .status.load_balancer.ingress)
    assert status[0].ip == "127.0.0.1"
    kubernetes.client.DiscoveryV1Api(client).patch_namespaced_endpoint_slice(
        "app-abcde", "default", {"endpoints": [{"addresses": ["127.0.0.4"],
                                                "conditions": {"ready": True}}]})
    eventually(lambda: [e.hostport for e in tables.backend_of("app.example.com").endpoints]
                == ["127.0.0.4:8080"])
    net.delete_namespaced_ingress("web", "default")
    eventually(lambda: tables.backend_of("app.example.com") is None)


def test_foreign_class_is_ignored_and_status_untouched(cluster):
    _, client, _, tables = cluster
    net = kubernetes.client.NetworkingV1Api(client)
    net.create_ingress_class({"metadata": {"name": "other"},
                              "spec": {"controller": "example.com/other"}})
    body = ingress_body("theirs", host="theirs.example.com")
    body["spec"]["ingressClassName"] = "other"
    net.create_namespaced_ingress("default", body)
    net.create_namespaced_ingress("default", ingress_body("ours", host="ours.example.com"))
    eventually(lambda: tables.backend_of("ours.example.com"))
    assert tables.backend_of("theirs.example.com") is None
    assert net.read_namespaced_ingress("theirs", "default").status.load_balancer.ingress \
        is None


def test_status_another_controller_wrote_is_left_alone(cluster):
    """Another controller publishing the same address (both on loopback) keeps it: only an
    Ingress no other IngressClass claims gets our stale address cleared."""
    _, client, _, tables = cluster
    net = kubernetes.client.NetworkingV1Api(client)
    net.create_ingress_class({"metadata": {"name": "traefik-like"},
                              "spec": {"controller": "example.com/traefik-like"}})
    ours_address = {"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}}
    for name, class_name in (("claimed", "traefik-like"), ("orphan", "no-such-class")):
        body = ingress_body(name, host=f"{name}.example.com")
        body["spec"]["ingressClassName"] = class_name
        net.create_namespaced_ingress("default", body)
        net.patch_namespaced_ingress_status(name, "default", ours_address)
    # A change of ours makes the controller look at every Ingress again.
    net.create_namespaced_ingress("default", ingress_body("ours", host="ours.example.com"))
    eventually(lambda: tables.backend_of("ours.example.com"))
    eventually(lambda: not net.read_namespaced_ingress("orphan", "default")
               .status.load_balancer.ingress, what="orphan's status cleared")
    claimed = net.read_namespaced_ingress("claimed", "default").status.load_balancer.ingress
    assert [e.ip for e in claimed] == ["127.0.0.1"]


def test_status_is_cleared_when_the_controller_stops_serving_an_ingress(cluster):
    """An Ingress moved to a class no controller has, and the Ingresses of an IngressClass
    of ours that is deleted, lose their route and the address we published."""
    _, client, _, tables = cluster
    net = kubernetes.client.NetworkingV1Api(client)
    net.create_ingress_class({"metadata": {"name": "second"},
                              "spec": {"controller": CONTROLLER_NAME}})
    moved = ingress_body("moved", host="moved.example.com")
    retired = ingress_body("retired", host="retired.example.com")
    retired["spec"]["ingressClassName"] = "second"
    for body in (moved, retired):
        net.create_namespaced_ingress("default", body)

    def address(name: str) -> list[str]:
        status = net.read_namespaced_ingress(name, "default").status.load_balancer.ingress
        return [entry.ip for entry in status or []]

    for name in ("moved", "retired"):
        eventually(lambda name=name: address(name) == ["127.0.0.1"], what=f"{name} status")
    net.patch_namespaced_ingress("moved", "default",
                                 {"spec": {"ingressClassName": "nobodys"}})
    net.delete_ingress_class("second")
    for name in ("moved", "retired"):
        eventually(lambda name=name: address(name) == [], what=f"{name} status cleared")
        assert tables.backend_of(f"{name}.example.com") is None


def test_missing_service_records_one_warning_event(cluster):
    _, client, controller, tables = cluster
    net = kubernetes.client.NetworkingV1Api(client)
    core = kubernetes.client.CoreV1Api(client)
    net.create_namespaced_ingress("default", ingress_body("lonely", host="l.example.com",
                                                          service="nowhere"))
    backend = eventually(lambda: tables.backend_of("l.example.com"))
    assert backend.endpoints == ()  # kept, so the data plane answers 503

    def warnings():
        return [e for e in core.list_namespaced_event("default").items
                if e.involved_object.name == "lonely" and e.type == "Warning"]

    events = eventually(warnings)
    assert events[0].reason == "ServiceNotFound"
    # Later reconciles (another object changes) do not record it again.
    _service_with_endpoints(client, "unrelated", ["127.0.0.9"])
    eventually(lambda: controller.stats.reconciles >= 3)
    assert len(warnings()) == 1


def test_last_table_keeps_serving_through_an_outage(cluster):
    server, client, controller, tables = cluster
    net = kubernetes.client.NetworkingV1Api(client)
    _service_with_endpoints(client, "steady", ["127.0.0.5"])
    net.create_namespaced_ingress("default", ingress_body("steady", host="s.example.com",
                                                          service="steady"))
    eventually(lambda: tables.backend_of("s.example.com"))
    before = tables.latest
    server.outage(1.5)
    time.sleep(1.0)
    assert tables.latest == before  # nothing was torn down while the API was away
    net_after = eventually(lambda: _try(lambda: net.create_namespaced_ingress(
        "default", ingress_body("late", host="late.example.com", service="steady"))))
    assert net_after
    eventually(lambda: tables.backend_of("late.example.com"))
    assert tables.backend_of("s.example.com") is not None


def _try(fn):
    try:
        return fn()
    except Exception:  # noqa: BLE001 - the API server is still down: try again
        return None


class _Events:
    """CoreV1Api stand-in: records the Events the controller creates."""

    def __init__(self) -> None:
        self.created: list[dict] = []

    def create_namespaced_event(self, namespace: str, body: dict):
        self.created.append(body)
        return kubernetes.client.CoreV1Event(
            involved_object=kubernetes.client.V1ObjectReference(),
            metadata=kubernetes.client.V1ObjectMeta(name=f"e{len(self.created)}"))


def test_warning_is_recorded_only_once_the_problem_has_persisted():
    """A problem that lasts less than warning_delay_seconds (a Secret created a few ms after
    the Ingress naming it) is no Event; one that persists is recorded once, and again only
    after it was resolved and came back for long enough."""
    controller = ReferenceController(kubernetes.client.ApiClient(), lambda _: None,
                                     ControllerConfig(warning_delay_seconds=1.0))
    now = [100.0]
    controller._clock = lambda: now[0]  # noqa: SLF001
    controller.core = events = _Events()
    controller.informers["ingresses"].cache[("default", "web")] = {
        "metadata": {"name": "web", "namespace": "default", "uid": "u1",
                     "resourceVersion": "7"}}
    missing = ControllerEvent("default", "web", "Warning", "SecretNotFound",
                              'Secret "default/cert" not found; TLS for its hosts is not served')
    record = controller._record_events  # noqa: SLF001

    def at(t: float, *current: ControllerEvent) -> list[str]:
        now[0] = 100.0 + t
        record(current)
        return [e["reason"] for e in events.created]

    assert at(0.0, missing) == []
    assert controller._next_warning_due() == pytest.approx(1.001)  # noqa: SLF001
    assert at(0.5, missing) == []
    assert at(0.6) == []  # the Secret arrived: transient, forgotten
    assert controller._next_warning_due() is None  # noqa: SLF001
    assert at(0.7, missing) == []  # back: the clock starts again
    assert at(1.6, missing) == []
    assert at(1.7, missing) == ["SecretNotFound"]  # persisted for 1 s: recorded
    assert events.created[0]["involvedObject"]["uid"] == "u1"
    assert at(5.0, missing) == ["SecretNotFound"]  # once while it persists
    assert at(6.0) == ["SecretNotFound"]  # resolved
    assert at(6.1, missing) == ["SecretNotFound"]
    assert at(7.1, missing) == ["SecretNotFound", "SecretNotFound"]  # came back and stayed


def test_transient_missing_secret_records_no_warning_event(cluster):
    """End to end: the Secret lands shortly after the Ingress naming it; no Warning."""
    _, client, controller, tables = cluster
    net = kubernetes.client.NetworkingV1Api(client)
    core = kubernetes.client.CoreV1Api(client)
    body = ingress_body("soon", host="soon.example.com", service="nowhere")
    body["spec"]["tls"] = [{"hosts": ["soon.example.com"], "secretName": "soon-cert"}]
    net.create_namespaced_ingress("default", body)
    eventually(lambda: tables.backend_of("soon.example.com"))
    core.create_namespaced_secret("default", {"metadata": {"name": "soon-cert"},
                                              "type": "Opaque", "data": {}})
    # The Secret is there but not a TLS Secret, so that problem persists and gets recorded;
    # the SecretNotFound before it must not have been.
    def reasons():
        return sorted(e.reason for e in core.list_namespaced_event("default").items
                      if e.involved_object.name == "soon")

    eventually(lambda: "InvalidSecret" in reasons())
    assert "SecretNotFound" not in reasons()
