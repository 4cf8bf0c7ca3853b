"""Default backends: an Ingress's `spec.defaultBackend` handles the requests no rule matches.
Spec: networking.k8s.io/v1 IngressSpec.defaultBackend ("the backend that should handle
requests that don't match any rule. If Rules are not specified, DefaultBackend must be
specified. If DefaultBackend is not set, the handling of requests that do not match any of the
rules will be up to the Ingress controller"); the "Default backend" section of the Kubernetes
Ingress docs; kubernetes-sigs/ingress-controller-conformance features/default_backend.feature.

An Ingress with a defaultBackend catches every unmatched request of the cluster, so the cases
that create one take `catch_all` (one at a time across workers) and remove it before they
end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes.client import ApiException

from conformance.harness.checks import not_served, served_by, status_is
from conformance.harness.client import HttpClient
from conformance.harness.consistency import eventually
from conformance.harness.kube import Kube
from conformance.harness.manifests import SERVICE_PORT_NAME, backend, hostname, path, rule

pytestmark = [pytest.mark.feature("default_backend"), pytest.mark.level("core")]


@dataclass(frozen=True)
class Site:
    """The module's backends `app` and `fallback`, and an Ingress routing only
    `app.<ns>` /app to `app` (no default backend)."""

    namespace: str

    def host(self, label: str) -> str:
        return hostname(self.namespace, label)

    @property
    def unknown_host(self) -> str:
        """A host no rule of the cluster names."""
        return self.host("unknown")


@pytest.fixture(scope="module")
def site(kube: Kube, http: HttpClient, module_namespace: str) -> Site:
    s = Site(module_namespace)
    kube.echo_backends(s.namespace, "app", "fallback")
    kube.ingress(s.namespace, "rules", rule(s.host("app"), path("/app", "app")))
    eventually(lambda: served_by(http, s.host("app"), "/app", "app"),
               "the default_backend rules Ingress is served")
    return s


CatchAll = Callable[..., None]


@pytest.fixture
def catch_all_ingress(catch_all: None, kube: Kube, http: HttpClient,
                      site: Site) -> Iterator[CatchAll]:
    """Creates Ingresses with a defaultBackend in the module's namespace (the `catch_all` lock
    is held); afterwards deletes them and waits until an unknown host no longer reaches the
    module's backends, so the next case sees a cluster without this catch-all."""
    created: list[str] = []

    def create(name: str, *rules: dict[str, Any], **kwargs: Any) -> None:
        kube.ingress(site.namespace, name, *rules, **kwargs)
        created.append(name)

    yield create
    for name in created:
        try:
            kube.net.delete_namespaced_ingress(name, site.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
    if created:
        eventually(lambda: not_served(http, site.unknown_host, "/", site.namespace),
                   "the catch-all is gone")


# The Examples table of default_backend.feature: (method, host label, request-target); host
# None is the bare address of the entry point (the feature's empty host).
ONLY_DEFAULT_BACKEND = [
    ("GET", "my-host", "/"),
    ("GET", "my-host", "/sub-path"),
    ("POST", "some-host", "/"),
    ("PUT", None, "/resource"),
    ("DELETE", "some-host", "/resource"),
    ("PATCH", "my-host", "/resource"),
    ("GET", "my-host", "/some/deep/path?q=1"),
    ("PATCH", "some-host", "/some/deep/path?q=1"),
]


def test_only_default_backend(catch_all_ingress: CatchAll, site: Site,
                              http: HttpClient) -> None:
    """An Ingress with no rules sends all traffic to its default backend ("An Ingress with no
    rules sends all traffic to a single default backend", Kubernetes docs): requests with
    methods GET, POST, PUT, DELETE and PATCH for hosts nothing routes reach it with method and
    request-target unchanged (default_backend.feature, "An Ingress with no rules should send
    all requests to the default backend"; one case rather than one per row, since a case
    with a catch-all runs alone)."""
    catch_all_ingress("only-default", default_backend=backend("fallback"))

    def check() -> None:
        for method, label, target in ONLY_DEFAULT_BACKEND:
            host = site.host(label) if label else http.http_address[0]
            body = None if method in ("GET", "DELETE") else b'{"conformance": true}'
            served_by(http, host, target, "fallback", namespace=site.namespace, method=method,
                      body=body)
    eventually(check, "every method to the default backend")


def test_default_backend_beside_rules(catch_all_ingress: CatchAll, site: Site,
                                      http: HttpClient) -> None:
    """In an Ingress with rules and a defaultBackend, the rules win for their host and path;
    the default backend gets what no rule matches: another path of a rule's host and a host
    no rule names (IngressSpec.defaultBackend: "requests that don't match any rule")."""
    host = site.host("beside")
    catch_all_ingress("beside-rules", rule(host, path("/app", "app", "Prefix")),
                      default_backend=backend("fallback"))

    def check() -> None:
        served_by(http, host, "/app", "app", namespace=site.namespace)
        served_by(http, host, "/app/sub", "app", namespace=site.namespace)
        served_by(http, site.host("app"), "/app", "app", namespace=site.namespace)
        # An unmatched path of the rule's host, then a host no rule names.
        served_by(http, host, "/elsewhere", "fallback", namespace=site.namespace)
        served_by(http, site.unknown_host, "/app", "fallback", namespace=site.namespace)
    eventually(check, "rules first, then the default backend")


def test_default_backend_port_by_name(catch_all_ingress: CatchAll, site: Site,
                                      http: HttpClient) -> None:
    """A defaultBackend may name the Service port instead of numbering it
    (ServiceBackendPort: "name is the name of the port on the Service ... This is a mutually
    exclusive setting with Number")."""
    catch_all_ingress("port-name", default_backend=backend("fallback", SERVICE_PORT_NAME))
    eventually(lambda: served_by(http, site.unknown_host, "/by-name", "fallback",
                                 namespace=site.namespace),
               "default backend with a named port")


@pytest.mark.level("extended")
def test_no_match_without_default_backend_is_404(site: Site, http: HttpClient,
                                                 no_catch_all: None) -> None:
    """With no default backend anywhere, a request matching no rule (an unknown host, or an
    unmatched path of a known host) gets 404, what ingress-controller-conformance and the
    common controllers answer (the spec leaves it "up to the Ingress controller")."""
    def check() -> None:
        status_is(http, site.unknown_host, "/", 404)
        status_is(http, site.host("app"), "/not-app", 404)
    eventually(check, "no match, no default backend: 404")
