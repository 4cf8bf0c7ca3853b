"""Bad input: a broken reference degrades only what it touches, and an invalid object is
refused by the API server before any controller sees it. Spec: the Ingress docs ("The
service must exist in the same namespace"), networking.k8s.io/v1 validation
(kubernetes/pkg/apis/networking/validation, ValidateIngressCreate/Update: 422 Invalid), and
docs/DESIGN.md principle 7 (skip the bad part, keep serving everything else)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes.client import ApiException

from conformance.harness.checks import not_served, served_by, status_is
from conformance.harness.client import HttpClient
from conformance.harness.consistency import eventually
from conformance.harness.kube import Kube
from conformance.harness.manifests import hostname, path, rule

pytestmark = [pytest.mark.feature("bad_input"), pytest.mark.level("core")]


@dataclass(frozen=True)
class Site:
    """The module's objects, in one namespace:

    - `missing-service`: host `missing`, /ok -> ok, /gone -> a Service that does not exist;
    - `drained`: host `drained` -> the Deployment `drained`, scaled to 0 once served;
    - `tls-missing`: hosts `tls-a` (listed in a TLS entry whose Secret does not exist) and
      `tls-b`, both -> ok; then `bystander`: host `bystander` -> ok."""

    namespace: str

    def host(self, label: str) -> str:
        return hostname(self.namespace, label)


@pytest.fixture(scope="module")
def site(kube: Kube, http: HttpClient, module_namespace: str) -> Site:
    s = Site(module_namespace)
    ns = s.namespace
    kube.echo_backends(ns, "ok", "drained")
    kube.ingress(ns, "missing-service", rule(s.host("missing"), path("/ok", "ok"),
                                             path("/gone", "no-such-service")))
    kube.ingress(ns, "drained", rule(s.host("drained"), path("/", "drained")))
    kube.ingress(ns, "tls-missing", rule(s.host("tls-a"), path("/", "ok")),
                 rule(s.host("tls-b"), path("/", "ok")),
                 tls=[{"hosts": [s.host("tls-a")], "secretName": "no-such-secret"}])
    kube.ingress(ns, "bystander", rule(s.host("bystander"), path("/", "ok")))

    def served() -> None:
        served_by(http, s.host("missing"), "/ok", "ok", namespace=ns)
        served_by(http, s.host("drained"), "/", "drained", namespace=ns)
    eventually(served, "the bad_input Ingresses are served")
    kube.scale(ns, "drained", 0)  # the case watches the endpoints go
    return s


def test_missing_service_keeps_other_paths(site: Site, http: HttpClient) -> None:
    """A path whose Service does not exist does not take the Ingress's other paths down
    (principle 7; every controller resolves backends per path)."""
    eventually(lambda: served_by(http, site.host("missing"), "/ok/x", "ok",
                                 namespace=site.namespace), "the other path of the Ingress")


@pytest.mark.level("extended")
def test_missing_service_is_503(site: Site, http: HttpClient) -> None:
    """A path whose Service does not exist answers 503 Service Unavailable (ingress-nginx
    keeps the location with an empty upstream; Traefik answers 404, which a baseline
    records)."""
    eventually(lambda: status_is(http, site.host("missing"), "/gone", 503),
               "missing Service: 503")


@pytest.mark.level("extended")
def test_no_ready_endpoints_is_503(site: Site, http: HttpClient) -> None:
    """A Service whose Deployment is scaled to 0 (no ready endpoints) answers 503 Service
    Unavailable, not a connection error or a hang (what ingress-nginx, Traefik and HAProxy
    answer when an upstream has no servers)."""
    eventually(lambda: status_is(http, site.host("drained"), "/", 503),
               "no endpoints: 503")


def test_missing_tls_secret_keeps_http(site: Site, http: HttpClient) -> None:
    """An Ingress whose TLS entry names a Secret that does not exist still serves its other
    hosts, and other Ingresses are unaffected, over HTTP (the missing Secret only concerns
    HTTPS for the hosts the entry lists)."""
    def check() -> None:
        served_by(http, site.host("tls-b"), "/", "ok", namespace=site.namespace)
        served_by(http, site.host("bystander"), "/", "ok", namespace=site.namespace)
    eventually(check, "HTTP beside a missing TLS Secret")


@dataclass(frozen=True)
class Invalid:
    """An invalid Ingress spec, the field kube-apiserver blames, and the request the Ingress
    would route had it been stored (None: it routes nothing)."""

    spec: dict[str, Any]
    field: str
    probe: tuple[str, str] | None


def _exact_path_without_slash(ns: str) -> Invalid:
    # "must be an absolute path"
    host = hostname(ns, "noslash")
    return Invalid({"rules": [rule(host, path("noslash", "ok", "Exact"))]},
                   "spec.rules[0].http.paths[0].path", (host, "/noslash"))


def _invalid_host(ns: str) -> Invalid:
    # "Foo_Bar.<ns>.conformance.test": "a lowercase RFC 1123 subdomain must consist of ..."
    host = hostname(ns, "Foo_Bar")
    return Invalid({"rules": [rule(host, path("/", "ok"))]}, "spec.rules[0].host", (host, "/"))


def _wildcard_in_middle(ns: str) -> Invalid:
    # "a wildcard DNS-1123 subdomain must start with '*.'"
    return Invalid({"rules": [rule(f"foo.*.{hostname(ns, 'mid')}", path("/", "ok"))]},
                   "spec.rules[0].host", (f"foo.bar.{hostname(ns, 'mid')}", "/"))


def _neither_rules_nor_default_backend(ns: str) -> Invalid:
    # "either `defaultBackend` or `rules` must be specified"
    return Invalid({}, "spec", None)


INVALID: dict[str, Callable[[str], Invalid]] = {
    "exact-path-without-slash": _exact_path_without_slash,
    "invalid-host": _invalid_host,
    "wildcard-in-middle": _wildcard_in_middle,
    "neither-rules-nor-default-backend": _neither_rules_nor_default_backend,
}


def _causes(exc: ApiException) -> list[str]:
    """The `field`s of the details.causes of an API error's Status body."""
    try:
        status = json.loads(exc.body or "{}")
    except ValueError:
        return []
    causes = (status.get("details") or {}).get("causes") or []
    return [c.get("field", "") for c in causes if isinstance(c, dict)]


def _delete_quietly(kube: Kube, namespace: str, name: str) -> None:
    try:
        kube.net.delete_namespaced_ingress(name, namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise


def _rejected(call: Callable[[], object]) -> ApiException | None:
    try:
        call()
    except ApiException as exc:
        return exc
    return None


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_ingress_rejected(case: str, site: Site, kube: Kube, http: HttpClient) -> None:
    """An invalid Ingress is refused by the API server with 422 Unprocessable Entity (a
    Status of reason Invalid, as kube-apiserver's ValidateIngressCreate answers), so it is
    never stored and never routed: an Exact path not starting with "/", a host that is not a
    DNS-1123 subdomain, a wildcard that is not the first label, an Ingress with neither rules
    nor a defaultBackend."""
    invalid = INVALID[case](site.namespace)
    name = f"invalid-{case}"[:63]
    body = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name},
            "spec": {"ingressClassName": kube.ingress_class, **invalid.spec}}
    exc = _rejected(lambda: kube.apply(site.namespace, body))
    if exc is None:
        _delete_quietly(kube, site.namespace, name)
        pytest.fail(f"the API server accepted the invalid Ingress ({case}): {invalid.spec}")
    assert exc.status == 422, f"expected 422 Invalid, got {exc.status} {exc.reason}: {exc.body}"
    assert invalid.field in _causes(exc), (
        f"the Status does not blame {invalid.field}: {exc.body}")
    stored = _rejected(lambda: kube.net.read_namespaced_ingress(name, site.namespace))
    assert stored is not None and stored.status == 404, "the rejected Ingress was stored"
    if invalid.probe is not None:
        host, target = invalid.probe
        eventually(lambda: not_served(http, host, target, site.namespace),
                   "the rejected Ingress is not routed")


def test_invalid_update_rejected_and_old_routes_kept(namespace: str, kube: Kube,
                                                     http: HttpClient) -> None:
    """Updating a valid Ingress to an invalid one is refused with 422 (ValidateIngressUpdate),
    the stored object stays as it was, and its routes keep serving."""
    kube.echo_backends(namespace, "ok")
    host = hostname(namespace, "app")
    body = kube.ingress(namespace, "app", rule(host, path("/", "ok")))
    eventually(lambda: served_by(http, host, "/", "ok", namespace=namespace),
               "the valid Ingress is served")
    before = kube.net.read_namespaced_ingress("app", namespace)
    invalid = {**body, "spec": {**body["spec"], "rules": [
        rule(host, path("/", "ok"), path("noslash", "ok", "Exact"))]}}
    exc = _rejected(lambda: kube.replace_ingress(namespace, invalid))
    assert exc is not None, "the API server accepted the invalid update"
    assert exc.status == 422, f"expected 422 Invalid, got {exc.status} {exc.reason}: {exc.body}"
    assert "spec.rules[0].http.paths[1].path" in _causes(exc), (
        f"the Status does not blame the bad path: {exc.body}")
    after = kube.net.read_namespaced_ingress("app", namespace)
    assert after.metadata.resource_version == before.metadata.resource_version, (
        "the rejected update changed the stored Ingress")
    eventually(lambda: served_by(http, host, "/still", "ok", namespace=namespace),
               "the previous routes keep serving")
