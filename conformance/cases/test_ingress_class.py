"""Ingress classes: which Ingresses a controller serves. Spec: networking.k8s.io/v1
IngressSpec.ingressClassName and IngressClass, the "Ingress class" and "Default IngressClass"
sections of the Kubernetes Ingress docs, and the deprecated `kubernetes.io/ingress.class`
annotation.

"Not served" cannot be waited for, so the module creates the Ingresses the target must ignore
first and a sentinel Ingress of the target's class last: once the sentinel is served (over
HTTP: a controller need not publish status to route correctly, and status has its own
cases), the target has seen the others, and a short `holds` shows it ignores them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes.client import ApiException

from conformance.harness import record
from conformance.harness.checks import not_served, served_by
from conformance.harness.client import HttpClient
from conformance.harness.consistency import NotConsistent, Settings, eventually, holds
from conformance.harness.kube import Kube, unique_name
from conformance.harness.manifests import (
    DEFAULT_CLASS_ANNOTATION,
    LEGACY_CLASS_ANNOTATION,
    hostname,
    path,
    rule,
)

pytestmark = [pytest.mark.feature("ingress_class"), pytest.mark.level("core")]

OTHER_CONTROLLER = "example.com/not-this-controller"
HOLD_S = 1.0  # how long "not served" must hold once the sentinel is served
# How long the implementation-specific case looks for a route that may never come (the
# sentinel, created after it, is already served).
LOOK = Settings(poll_s=0.1, successes=3, timeout_s=2.0)


def default_class(kube: Kube) -> str | None:
    """The IngressClass the DefaultIngressClass admission plugin assigns: the newest one
    annotated `ingressclass.kubernetes.io/is-default-class: "true"`, ties to the smallest
    name; None when no class is annotated."""
    defaults = [c for c in kube.ingress_class_names().values()
                if (c.metadata.annotations or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"]
    if not defaults:
        return None

    def newest_first(c: Any) -> tuple[float, str]:
        created = c.metadata.creation_timestamp  # None counts as the oldest (Go's zero time)
        return (-created.timestamp() if created else float("inf"), c.metadata.name)
    return min(defaults, key=newest_first).metadata.name


@dataclass(frozen=True)
class Site:
    """Ingresses `unknown-class`, `other-controller`, `legacy` and (when the target's class
    is the cluster default) `no-class`, then the sentinel `named`, each on its own host and
    all backed by `echo`."""

    namespace: str
    default_class: str | None
    target_class: str

    def host(self, label: str) -> str:
        return hostname(self.namespace, label)

    @property
    def target_is_default(self) -> bool:
        return self.default_class == self.target_class


def _echo_rule(site: Site, label: str) -> dict[str, Any]:
    return rule(site.host(label), path("/", "echo"))


@pytest.fixture(scope="module")
def site(kube: Kube, http: HttpClient, module_namespace: str) -> Iterator[Site]:
    s = Site(module_namespace, default_class(kube), kube.ingress_class)
    ns = s.namespace
    other_class = unique_name("conformance-other-controller")
    # Labelled as the suite's: a run killed before the `finally` below leaves it for the
    # next run's sweep (harness.leftovers), not for good.
    kube.create_ingress_class(other_class, OTHER_CONTROLLER, "ingress_class")
    try:
        kube.echo_backends(ns, "echo")
        # What the target must ignore (or may serve, for `legacy`) first ...
        kube.ingress(ns, "unknown-class", _echo_rule(s, "unknown-class"),
                     ingress_class=unique_name("conformance-no-such-class"))
        kube.ingress(ns, "other-controller", _echo_rule(s, "other-controller"),
                     ingress_class=other_class)
        kube.ingress(ns, "legacy", _echo_rule(s, "legacy"), ingress_class=None,
                     annotations={LEGACY_CLASS_ANNOTATION: kube.ingress_class})
        if s.target_is_default:
            kube.ingress(ns, "no-class", _echo_rule(s, "no-class"), ingress_class=None)
        # ... then the sentinel.
        kube.ingress(ns, "named", _echo_rule(s, "named"))
        eventually(lambda: served_by(http, s.host("named"), "/", "echo", namespace=ns),
                   "the sentinel Ingress is served")
        yield s
    finally:
        try:
            kube.net.delete_ingress_class(other_class)
        except ApiException as exc:
            if exc.status != 404:
                raise


def test_ingress_class_name(site: Site, http: HttpClient) -> None:
    """An Ingress whose spec.ingressClassName names the target's IngressClass is served
    (IngressSpec.ingressClassName: "the name of an IngressClass cluster resource. Ingress
    controller implementations use this field to know whether they should be serving this
    Ingress resource")."""
    eventually(lambda: served_by(http, site.host("named"), "/by-class", "echo",
                                 namespace=site.namespace), "ingressClassName")


def test_default_class(site: Site, kube: Kube, http: HttpClient) -> None:
    """An Ingress with no class is served when the target's IngressClass is the cluster's
    default: annotated `ingressclass.kubernetes.io/is-default-class: "true"` ("Ingresses
    without an ingressClassName specified will be assigned this default IngressClass",
    Kubernetes docs, Default IngressClass)."""
    if not site.target_is_default:
        pytest.skip(
            f"the target's IngressClass {site.target_class!r} is not the cluster's default "
            f"({site.default_class!r}); to run this case, make it the default: kubectl "
            f"annotate ingressclass {site.target_class} {DEFAULT_CLASS_ANNOTATION}=true "
            "(and remove the annotation from any other class)")
    stored = kube.net.read_namespaced_ingress("no-class", site.namespace)
    record.observe("ingressClassName_after_create", stored.spec.ingress_class_name)
    eventually(lambda: served_by(http, site.host("no-class"), "/", "echo",
                                 namespace=site.namespace), "Ingress without a class")


def _ignored(site: Site, kube: Kube, http: HttpClient, name: str) -> None:
    """The Ingress `name` (on host `name`) is not routed and has no status address, for
    HOLD_S seconds; the sentinel created after it is already served. (Whether the sentinel
    has an address by now is recorded: without one, "no address" on `name` says little.)"""
    record.observe("sentinel_has_address",
                   bool(kube.load_balancer_addresses(site.namespace, "named")))
    def check() -> None:
        not_served(http, site.host(name), "/", site.namespace)
        addresses = kube.load_balancer_addresses(site.namespace, name)
        assert not addresses, f"Ingress {name} got status addresses {addresses}"
    holds(check, f"Ingress {name} is ignored", HOLD_S)


def test_unknown_class_not_served(site: Site, kube: Kube, http: HttpClient) -> None:
    """An Ingress naming an IngressClass that does not exist is not served and gets no status
    address: no controller implements that class ("ingressClassName ... should reference an
    IngressClass resource that contains the name of the controller that should implement
    the class")."""
    _ignored(site, kube, http, "unknown-class")


def test_other_controllers_class_not_served(site: Site, kube: Kube, http: HttpClient) -> None:
    """An Ingress whose IngressClass exists but names another controller
    (spec.controller `example.com/not-this-controller`) is not served and gets no status
    address (IngressClassSpec.controller: "the name of the controller that should handle
    this class")."""
    _ignored(site, kube, http, "other-controller")


@pytest.mark.level("implementation-specific")
def test_legacy_class_annotation(site: Site, kube: Kube, http: HttpClient) -> None:
    """An Ingress with only the deprecated annotation `kubernetes.io/ingress.class: <the
    target's class>` and no ingressClassName: recorded whether it is served (the annotation
    "was never formally defined, but was widely supported by Ingress controllers")."""
    def served() -> None:
        served_by(http, site.host("legacy"), "/", "echo", namespace=site.namespace)
    try:
        eventually(served, "legacy annotation", LOOK)
        record.observe("served", True)
    except NotConsistent:
        record.observe("served", False)
    record.observe("status_addresses", kube.load_balancer_addresses(site.namespace, "legacy"))
