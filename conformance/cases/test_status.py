"""Ingress status: the controller publishes where it serves an Ingress in
status.loadBalancer.ingress and takes it back when it stops serving it. Spec:
networking.k8s.io/v1 IngressStatus ("loadBalancer contains the current status of the
load-balancer"), IngressLoadBalancerIngress ("ip is set for load-balancer ingress points that
are IP based; hostname is set for load-balancer ingress points that are DNS based");
ingress-controller-conformance: "The Ingress status shows the IP address or FQDN where it is
exposed"."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from conformance.harness.checks import not_served, served_by
from conformance.harness.client import HttpClient
from conformance.harness.consistency import eventually
from conformance.harness.kube import Kube, unique_name
from conformance.harness.manifests import hostname, path, rule

pytestmark = [pytest.mark.feature("status"), pytest.mark.level("core")]


def addresses(kube: Kube, namespace: str, name: str) -> list[str]:
    """The Ingress's status.loadBalancer.ingress as ip or hostname; fails on an entry with
    neither."""
    ing = kube.net.read_namespaced_ingress(name, namespace)
    lb = ing.status.load_balancer if ing.status else None
    entries = (lb.ingress or []) if lb else []
    for entry in entries:
        assert entry.ip or entry.hostname, (
            f"Ingress {namespace}/{name}: a status.loadBalancer.ingress entry has neither ip "
            f"nor hostname: {entry}")
    return [e.ip or e.hostname for e in entries]


def has_address(kube: Kube, namespace: str, name: str) -> list[str]:
    found = addresses(kube, namespace, name)
    assert found, f"Ingress {namespace}/{name} has no status.loadBalancer.ingress yet"
    return found


@dataclass(frozen=True)
class Site:
    """Ingresses `first` and `second` (hosts of the same names) to the backend `echo`."""

    namespace: str

    def host(self, label: str) -> str:
        return hostname(self.namespace, label)


@pytest.fixture(scope="module")
def site(kube: Kube, http: HttpClient, module_namespace: str) -> Site:
    s = Site(module_namespace)
    kube.echo_backends(s.namespace, "echo")
    for name in ("first", "second"):
        kube.ingress(s.namespace, name, rule(s.host(name), path("/", "echo")))

    def served() -> None:
        for name in ("first", "second"):
            served_by(http, s.host(name), "/", "echo", namespace=s.namespace)
    eventually(served, "the status Ingresses are served")
    return s


def test_address_published(site: Site, kube: Kube) -> None:
    """A served Ingress gets at least one status.loadBalancer.ingress entry with an ip or a
    hostname (IngressLoadBalancerIngress; ingress-controller-conformance checks it before
    every scenario)."""
    eventually(lambda: has_address(kube, site.namespace, "first"), "status address")


@pytest.mark.level("extended")
def test_same_address_for_all_ingresses(site: Site, kube: Kube) -> None:
    """Two Ingresses served by the same controller show the same address (the controller's
    entry point; ingress-nginx and Traefik publish their Service's or configured address for
    every Ingress they serve)."""
    def check() -> None:
        first = has_address(kube, site.namespace, "first")
        second = has_address(kube, site.namespace, "second")
        assert sorted(first) == sorted(second), f"first: {first}, second: {second}"
    eventually(check, "the same address on both Ingresses")


@pytest.mark.level("extended")
def test_status_cleared_when_class_changes(namespace: str, kube: Kube,
                                           http: HttpClient) -> None:
    """After an Ingress is switched to an IngressClass that does not exist, the controller
    stops serving it and clears the address it published (ingress-nginx and the reference
    controller remove their address from Ingresses they no longer serve; a stale address
    would point clients at a controller that ignores the Ingress)."""
    kube.echo_backends(namespace, "echo")
    host = hostname(namespace, "moving")
    body = kube.ingress(namespace, "moving", rule(host, path("/", "echo")))

    def published() -> None:
        served_by(http, host, "/", "echo", namespace=namespace)
        has_address(kube, namespace, "moving")
    eventually(published, "served with an address")
    body["spec"]["ingressClassName"] = unique_name("conformance-no-such-class")
    kube.replace_ingress(namespace, body)

    def cleared() -> None:
        not_served(http, host, "/", namespace)
        found = addresses(kube, namespace, "moving")
        assert not found, f"status.loadBalancer.ingress still shows {found}"
    eventually(cleared, "status cleared after the class change")
