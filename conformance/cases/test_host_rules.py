"""Host rules: exact hosts, one-label wildcards, host-less rules, and how the Host header is
read (case, port, trailing dot). Spec: networking.k8s.io/v1 IngressRule.host and the
"Hostname wildcards" table of the Kubernetes Ingress docs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from conformance.harness import record
from conformance.harness.checks import not_served, served_by, status_is
from conformance.harness.client import HttpClient
from conformance.harness.consistency import eventually
from conformance.harness.kube import Kube
from conformance.harness.manifests import hostname, path, rule

pytestmark = [pytest.mark.feature("host_rules"), pytest.mark.level("core")]


@dataclass(frozen=True)
class Site:
    """The module's objects: backends exact, wild, other, hostless in one namespace."""

    namespace: str

    def host(self, label: str) -> str:
        return hostname(self.namespace, label)

    @property
    def hostless_path(self) -> str:
        # Host-less rules match every host; a path only this module uses keeps them from
        # catching other cases' traffic.
        return f"/hostless-{self.namespace}"


@pytest.fixture(scope="module")
def site(kube: Kube, http: HttpClient, module_namespace: str) -> Site:
    s = Site(module_namespace)
    ns = s.namespace
    kube.echo_backends(ns, "exact", "wild", "other", "hostless")
    kube.ingress(ns, "exact", rule(s.host("exact"), path("/", "exact")))
    kube.ingress(ns, "wildcard", rule(f"*.{s.host('wild')}", path("/", "wild")))
    kube.ingress(ns, "mixed",
                 rule(f"*.{s.host('mixed')}", path("/", "wild")),
                 rule(f"one.{s.host('mixed')}", path("/", "exact")))
    kube.ingress(ns, "hostless", rule(None, path(s.hostless_path, "hostless")),
                 rule(s.host("both"), path(s.hostless_path, "exact")))
    kube.ingress(ns, "shared-1", rule(s.host("shared"), path("/one", "exact")))
    kube.ingress(ns, "shared-2", rule(s.host("shared"), path("/two", "other")))

    def everything_served() -> None:
        served_by(http, s.host("exact"), "/", "exact")
        served_by(http, f"a.{s.host('wild')}", "/", "wild")
        served_by(http, f"one.{s.host('mixed')}", "/", "exact")
        served_by(http, s.host("anything"), s.hostless_path, "hostless")
        served_by(http, s.host("shared"), "/one", "exact")
        served_by(http, s.host("shared"), "/two", "other")
    eventually(everything_served, "the host_rules Ingresses are served")
    return s


def test_exact_host(site: Site, http: HttpClient) -> None:
    """A rule's host matches requests whose Host header is exactly that name."""
    eventually(lambda: served_by(http, site.host("exact"), "/some/path", "exact",
                                 namespace=site.namespace), "exact host")


def test_exact_host_does_not_match_other_names(site: Site, http: HttpClient) -> None:
    """A rule for one host does not serve a sibling name or a parent domain."""
    def check() -> None:
        not_served(http, site.host("exact2"), "/", site.namespace)
        not_served(http, f"x.{site.host('exact')}", "/", site.namespace)
    eventually(check, "exact host only")


def test_wildcard_matches_one_label(site: Site, http: HttpClient) -> None:
    """`*.foo.com` matches `bar.foo.com` (the docs' Hostname wildcards table)."""
    def check() -> None:
        served_by(http, f"bar.{site.host('wild')}", "/", "wild")
        served_by(http, f"x-1.{site.host('wild')}", "/p", "wild")
    eventually(check, "wildcard, one label")


def test_wildcard_does_not_match_two_labels(site: Site, http: HttpClient) -> None:
    """`*.foo.com` does not match `baz.bar.foo.com`."""
    eventually(lambda: not_served(http, f"baz.bar.{site.host('wild')}", "/", site.namespace),
               "wildcard, two labels")


def test_wildcard_does_not_match_zero_labels(site: Site, http: HttpClient) -> None:
    """`*.foo.com` does not match `foo.com`."""
    eventually(lambda: not_served(http, site.host("wild"), "/", site.namespace),
               "wildcard, no label")


@pytest.mark.level("extended")
def test_exact_host_preferred_over_wildcard(site: Site, http: HttpClient) -> None:
    """With `*.foo.com` and `one.foo.com` both defined, `one.foo.com` goes to its own rule
    and `two.foo.com` to the wildcard."""
    def check() -> None:
        served_by(http, f"one.{site.host('mixed')}", "/", "exact")
        served_by(http, f"two.{site.host('mixed')}", "/", "wild")
    eventually(check, "exact over wildcard")


def test_hostless_rule_matches_any_host(site: Site, http: HttpClient) -> None:
    """A rule without host applies to all inbound HTTP traffic (spec: IngressRule.host)."""
    def check() -> None:
        served_by(http, site.host("anything"), site.hostless_path, "hostless")
        served_by(http, "203.0.113.9", site.hostless_path, "hostless")
    eventually(check, "host-less rule")


def test_host_rule_preferred_over_hostless_rule(site: Site, http: HttpClient) -> None:
    """A request for a host with its own rule uses that rule, even where a host-less rule
    has the same path."""
    eventually(lambda: served_by(http, site.host("both"), site.hostless_path, "exact"),
               "host rule over host-less rule")


@pytest.mark.level("extended")
def test_host_header_with_port(site: Site, http: HttpClient) -> None:
    """`Host: name:port` routes as `name` (RFC 9110: the port is not part of the name)."""
    port = http.http_address[1]
    eventually(lambda: served_by(http, f"{site.host('exact')}:{port}", "/", "exact"),
               "Host with port")


def test_host_header_is_case_insensitive(site: Site, http: HttpClient) -> None:
    """Host names compare case-insensitively (RFC 9110 4.2.3, DNS)."""
    def check() -> None:
        served_by(http, site.host("exact").upper(), "/", "exact")
        served_by(http, f"BAR.{site.host('wild')}".upper(), "/", "wild")
    eventually(check, "Host case")


@pytest.mark.level("implementation-specific")
def test_host_header_with_trailing_dot(site: Site, http: HttpClient) -> None:
    """`Host: name.` (a fully qualified name): recorded, not judged."""
    resp = http.get(site.host("exact") + ".", "/")
    echo = resp.echo
    record.observe("status", resp.status)
    record.observe("served_by", echo.service if echo else None)


def test_several_ingresses_on_one_host(site: Site, http: HttpClient) -> None:
    """Two Ingresses with rules for the same host and different paths are both served."""
    def check() -> None:
        served_by(http, site.host("shared"), "/one", "exact")
        served_by(http, site.host("shared"), "/two/x", "other")
    eventually(check, "merged host")


def test_unknown_host_not_routed(site: Site, http: HttpClient) -> None:
    """A Host no rule names reaches none of the case's backends."""
    eventually(lambda: not_served(http, site.host("unknown"), "/", site.namespace),
               "unknown host")


@pytest.mark.level("extended")
def test_unknown_host_answered_404(site: Site, http: HttpClient, no_catch_all: None) -> None:
    """A request matching no rule, with no default backend anywhere, gets 404 (what
    ingress-controller-conformance expects)."""
    eventually(lambda: status_is(http, site.host("unknown"), "/", 404), "unknown host 404")
