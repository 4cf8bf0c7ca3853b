"""Load balancing: requests for one Ingress backend spread over all ready pods of its
Service. Spec: the Ingress docs ("An Ingress may provide load balancing") and Service
semantics (every ready endpoint of the Service is a valid destination)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from conformance.harness import record
from conformance.harness.checks import served_by
from conformance.harness.client import HttpClient
from conformance.harness.consistency import eventually
from conformance.harness.kube import Kube
from conformance.harness.manifests import hostname, path, rule

pytestmark = [pytest.mark.feature("load_balancing"), pytest.mark.level("core")]

MANY = 10  # replicas of the spread backend
REQUESTS = 100  # per look at the spread


@dataclass(frozen=True)
class Site:
    namespace: str

    def host(self, label: str) -> str:
        return hostname(self.namespace, label)


def pods_answering(http: HttpClient, host: str, service: str, count: int) -> Counter[str]:
    """`count` requests (each on its own connection); how many each pod answered. Every
    request must be answered by `service`."""
    seen: Counter[str] = Counter()
    for _ in range(count):
        resp = served_by(http, host, "/", service)
        echo = resp.echo
        assert echo is not None
        seen[echo.pod] += 1
    return seen


@pytest.fixture(scope="module")
def site(kube: Kube, http: HttpClient, module_namespace: str) -> Site:
    s = Site(module_namespace)
    ns = s.namespace
    # Both Deployments are created before waiting for either.
    kube.echo_backends(ns, "many", replicas=MANY, wait=False)
    kube.echo_backends(ns, "pair", replicas=2, wait=False)
    kube.wait_rolled_out(ns, "many", MANY)
    kube.wait_rolled_out(ns, "pair", 2)
    kube.ingress(ns, "lb", rule(s.host("many"), path("/", "many")),
                 rule(s.host("pair"), path("/", "pair")))

    def served() -> None:
        served_by(http, s.host("many"), "/", "many")
        served_by(http, s.host("pair"), "/", "pair")
    eventually(served, "the load_balancing Ingress is served")
    return s


@pytest.mark.level("extended")
def test_all_replicas_receive_traffic(site: Site, kube: Kube, http: HttpClient) -> None:
    """With 10 ready replicas, 100 requests reach every one of them, and only them (no
    endpoint is left out of the rotation; round robin or random both pass)."""
    def check() -> dict[str, int]:
        ready = kube.ready_pods(site.namespace, "many")
        assert len(ready) == MANY, f"{len(ready)} ready pods, expected {MANY}"
        seen = pods_answering(http, site.host("many"), "many", REQUESTS)
        missing, unknown = ready - set(seen), set(seen) - ready
        assert not missing, f"{len(missing)} ready pods got none of {REQUESTS} requests"
        assert not unknown, f"answers from pods that are not ready: {sorted(unknown)}"
        return dict(seen)
    counts = eventually(check, f"{REQUESTS} requests reach all {MANY} replicas")
    record.observe("requests_per_pod", sorted(counts.values()))


@pytest.mark.level("implementation-specific")
def test_distribution_over_two_replicas(site: Site, http: HttpClient) -> None:
    """How 100 requests split between 2 replicas (round robin: 50/50): recorded."""
    counts = eventually(lambda: pods_answering(http, site.host("pair"), "pair", REQUESTS),
                        "the pair backend answers")
    record.observe("requests_per_pod", sorted(counts.values()))
    record.observe("pods", len(counts))
