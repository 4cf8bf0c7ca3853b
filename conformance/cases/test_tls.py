"""TLS termination: Ingress `spec.tls` entries (hosts + secretName), certificate selection by
SNI, wildcard certificates, what unknown names get, certificate rotation and broken Secrets.
Spec: networking.k8s.io/v1 IngressTLS and the "TLS" section of the Kubernetes Ingress docs
("You can secure an Ingress by specifying a Secret that contains a TLS private key and
certificate ... the TLS secret must contain keys named tls.crt and tls.key")."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import trustme
from cryptography import x509

from conformance.harness import record
from conformance.harness.checks import served_by, status_is
from conformance.harness.client import HttpClient, dns_names
from conformance.harness.consistency import eventually
from conformance.harness.kube import Kube
from conformance.harness.manifests import hostname, path, rule, tls_secret
from conformance.targets import TargetInfo

pytestmark = [pytest.mark.feature("tls"), pytest.mark.level("core")]

NO_HTTPS = ("no --https-address given: the TLS cases need the controller's HTTPS entry "
            "point (HOST:PORT)")


@pytest.fixture(scope="module", autouse=True)
def https_entry(target: TargetInfo) -> None:
    """Every case here talks TLS: without an HTTPS entry address (optional for the
    kubeconfig target) they are skipped, with the reason, before any setup."""
    if target.https_address is None:
        pytest.skip(NO_HTTPS)


# Every case of the suite names its hosts `label.namespace.conformance.test` (manifests.hostname).
CASE_DOMAIN = ".conformance.test"


@dataclass(frozen=True)
class Issued:
    """A certificate issued for a case: the PEMs for its Secret and its serial number."""

    cert_pem: bytes
    key_pem: bytes
    serial: int


def issue(ca: trustme.CA, *names: str) -> Issued:
    leaf = ca.issue_cert(*names)
    cert_pem = leaf.cert_chain_pems[0].bytes()
    return Issued(cert_pem, leaf.private_key_pem.bytes(),
                  x509.load_pem_x509_certificate(cert_pem).serial_number)


def tls_entry(secret_name: str, *hosts: str) -> dict[str, Any]:
    return {"hosts": list(hosts), "secretName": secret_name}


def served_over_tls(http: HttpClient, ca: trustme.CA, host: str, service: str,
                    serial: int, **kwargs: Any) -> None:
    """An HTTPS request with SNI = Host = `host`: the presented certificate is the one with
    `serial`, it verifies against the case's CA for `host`, and `service` answers."""
    resp = served_by(http, host, "/", service, tls=True, sni=host, ca=ca, **kwargs)
    assert resp.certificate is not None
    got = resp.certificate.serial_number
    assert got == serial, f"SNI {host}: presented certificate serial {got:x}, not {serial:x}"


def presented(http: HttpClient, sni: str | None) -> x509.Certificate | None:
    """The certificate presented for `sni` (None: no SNI), or None when the handshake is
    refused (which never hands out another host's certificate either)."""
    try:
        return http.certificate(sni)
    except (ssl.SSLError, ConnectionResetError):
        return None


def no_other_case_certificate(http: HttpClient, sni: str | None,
                              allowed: frozenset[str] = frozenset()) -> list[str]:
    """The certificate presented for `sni` names no host of any case (of this or another
    worker, whose certificates come from other CAs: so judged by name), except `allowed`."""
    cert = presented(http, sni)
    names = sorted(dns_names(cert)) if cert is not None else []
    foreign = [n for n in names if n.lower().endswith(CASE_DOMAIN) and n.lower() not in allowed]
    assert not foreign, f"SNI {sni!r}: presented a certificate for {foreign}"
    return names


# ---- the shared site: two TLS hosts with their own Secrets, a wildcard TLS host ----------


@dataclass(frozen=True)
class Site:
    namespace: str
    one: Issued
    two: Issued
    wild: Issued

    def host(self, label: str) -> str:
        return hostname(self.namespace, label)


@pytest.fixture(scope="module")
def site(kube: Kube, http: HttpClient, ca: trustme.CA, module_namespace: str) -> Site:
    ns = module_namespace
    one, two = hostname(ns, "one"), hostname(ns, "two")
    wild = f"*.{hostname(ns, 'wild')}"
    s = Site(ns, issue(ca, one), issue(ca, two), issue(ca, wild))
    kube.echo_backends(ns, "one", "two", "wild")
    kube.apply(ns, tls_secret("one-tls", s.one.cert_pem, s.one.key_pem))
    kube.apply(ns, tls_secret("two-tls", s.two.cert_pem, s.two.key_pem))
    kube.apply(ns, tls_secret("wild-tls", s.wild.cert_pem, s.wild.key_pem))
    kube.ingress(ns, "pair", rule(one, path("/", "one")), rule(two, path("/", "two")),
                 tls=[tls_entry("one-tls", one), tls_entry("two-tls", two)])
    kube.ingress(ns, "wild", rule(wild, path("/", "wild")), tls=[tls_entry("wild-tls", wild)])

    def everything_served() -> None:
        served_over_tls(http, ca, one, "one", s.one.serial)
        served_over_tls(http, ca, two, "two", s.two.serial)
        served_over_tls(http, ca, f"a.{s.host('wild')}", "wild", s.wild.serial)
    eventually(everything_served, "the TLS Ingresses are served")
    return s


def test_sni_selects_host_certificate(site: Site, http: HttpClient, ca: trustme.CA) -> None:
    """Two TLS hosts with different Secrets: each SNI name gets its own host's certificate,
    valid for the name, and reaches its backend (IngressTLS: "hosts ... included in the TLS
    certificate", the Secret named by secretName)."""
    def check() -> None:
        served_over_tls(http, ca, site.host("one"), "one", site.one.serial)
        served_over_tls(http, ca, site.host("two"), "two", site.two.serial)
    eventually(check, "certificate per SNI name")


def test_wildcard_certificate(site: Site, http: HttpClient, ca: trustme.CA) -> None:
    """A TLS entry for `*.foo.com` with a wildcard certificate serves `a.foo.com` (and any
    other one-label name) over HTTPS with that certificate (the docs' Hostname wildcards,
    applied to IngressTLS.hosts)."""
    def check() -> None:
        served_over_tls(http, ca, f"a.{site.host('wild')}", "wild", site.wild.serial)
        served_over_tls(http, ca, f"b-2.{site.host('wild')}", "wild", site.wild.serial)
    eventually(check, "wildcard certificate")


@pytest.mark.level("extended")
def test_unknown_sni_gets_no_host_certificate(site: Site, http: HttpClient) -> None:
    """A TLS client naming no TLS host (an unknown name, or no SNI at all) never gets a
    certificate of some Ingress's host (it gets the controller's default certificate, or the
    handshake is refused): serving another tenant's certificate leaks its names."""
    def check() -> dict[str, list[str]]:
        return {"unknown": no_other_case_certificate(http, site.host("unknown")),
                "none": no_other_case_certificate(http, None)}
    names = eventually(check, "no host certificate for unknown or missing SNI")
    record.observe("default_certificate_names", names)


@pytest.mark.level("implementation-specific")
def test_plain_http_to_tls_host(site: Site, http: HttpClient) -> None:
    """Plain HTTP to a host with TLS: recorded (ingress-nginx redirects with 308 by default,
    the reference proxy serves it; the spec says nothing)."""
    resp = http.get(site.host("one"), "/")
    echo = resp.echo
    record.observe("status", resp.status)
    record.observe("location", resp.headers.get("location"))
    record.observe("served_by", echo.service if echo else None)


@pytest.mark.level("extended")
def test_sni_host_mismatch_misdirected(site: Site, http: HttpClient, ca: trustme.CA) -> None:
    """A request on a connection whose SNI named one TLS host, with a Host header naming
    another TLS host whose certificate is a different one, gets 421 Misdirected Request
    (RFC 9110 15.5.20): the connection's certificate was not chosen for that host."""
    eventually(lambda: status_is(http, site.host("two"), "/", 421, tls=True,
                                 sni=site.host("one"), ca=ca), "SNI/Host mismatch 421")


def test_certificate_rotation(namespace: str, kube: Kube, http: HttpClient,
                              ca: trustme.CA) -> None:
    """Replacing the certificate in a TLS Secret (a renewal) makes the host present the new
    certificate, without touching the Ingress (the controller watches Secrets)."""
    host = hostname(namespace, "rotate")
    old, new = issue(ca, host), issue(ca, host)
    kube.echo_backends(namespace, "rotate")
    kube.apply(namespace, tls_secret("rotate-tls", old.cert_pem, old.key_pem))
    kube.ingress(namespace, "rotate", rule(host, path("/", "rotate")),
                 tls=[tls_entry("rotate-tls", host)])
    eventually(lambda: served_over_tls(http, ca, host, "rotate", old.serial),
               "the first certificate is served")
    kube.replace(namespace, tls_secret("rotate-tls", new.cert_pem, new.key_pem))
    eventually(lambda: served_over_tls(http, ca, host, "rotate", new.serial),
               "the renewed certificate is served")


# ---- broken Secrets ------------------------------------------------------------------------


@dataclass(frozen=True)
class Broken:
    """A namespace where host `good` has a valid certificate, `garbage`'s Secret was
    overwritten with a tls.crt that is no certificate, and `mismatch`'s Secret holds a key
    that does not belong to its certificate."""

    namespace: str
    good: Issued

    def host(self, label: str) -> str:
        return hostname(self.namespace, label)


@pytest.fixture(scope="module")
def broken(kube: Kube, http: HttpClient, ca: trustme.CA) -> Iterator[Broken]:
    ns = kube.create_namespace("tls")
    try:
        b = Broken(ns, issue(ca, hostname(ns, "good")))
        good, garbage = b.host("good"), b.host("garbage")
        mismatch, sentinel = b.host("mismatch"), b.host("sentinel")
        first, sentinel_cert = issue(ca, garbage), issue(ca, sentinel)
        kube.echo_backends(ns, "good", "bad")
        kube.apply(ns, tls_secret("good-tls", b.good.cert_pem, b.good.key_pem))
        kube.apply(ns, tls_secret("garbage-tls", first.cert_pem, first.key_pem))
        kube.ingress(ns, "good", rule(good, path("/", "good")),
                     tls=[tls_entry("good-tls", good)])
        kube.ingress(ns, "garbage", rule(garbage, path("/", "bad")),
                     tls=[tls_entry("garbage-tls", garbage)])

        def both_served() -> None:
            served_over_tls(http, ca, good, "good", b.good.serial)
            served_over_tls(http, ca, garbage, "bad", first.serial)
        eventually(both_served, "the TLS hosts are served before anything breaks")

        # Break things: garbage over a Secret in use, and a new host whose key is not its
        # certificate's; then a sentinel, served once the controller has caught up.
        kube.replace(ns, tls_secret("garbage-tls", b"-----BEGIN CERTIFICATE-----\n"
                                            b"Z2FyYmFnZQ==\n-----END CERTIFICATE-----\n",
                                            first.key_pem))
        cert_of, key_of = issue(ca, mismatch), issue(ca, mismatch)
        kube.apply(ns, tls_secret("mismatch-tls", cert_of.cert_pem, key_of.key_pem))
        kube.ingress(ns, "mismatch", rule(mismatch, path("/", "bad")),
                     tls=[tls_entry("mismatch-tls", mismatch)])
        kube.apply(ns, tls_secret("sentinel-tls", sentinel_cert.cert_pem,
                                  sentinel_cert.key_pem))
        kube.ingress(ns, "sentinel", rule(sentinel, path("/", "good")),
                     tls=[tls_entry("sentinel-tls", sentinel)])
        eventually(lambda: served_over_tls(http, ca, sentinel, "good", sentinel_cert.serial),
                   "a host added after the broken Secrets is served")
        yield b
    finally:
        kube.delete_namespace(ns)


def test_broken_secret_spares_other_hosts(broken: Broken, http: HttpClient,
                                          ca: trustme.CA) -> None:
    """A Secret whose tls.crt is garbage, and one whose key does not match its certificate,
    affect only their own hosts: another TLS host keeps its certificate and its answers (the
    docs: the Secret "must contain" a certificate and key; one bad object must not take down
    the rest)."""
    eventually(lambda: served_over_tls(http, ca, broken.host("good"), "good",
                                       broken.good.serial),
               "the good host keeps its certificate")


@pytest.mark.level("extended")
def test_broken_secret_host_gets_no_other_certificate(broken: Broken,
                                                      http: HttpClient) -> None:
    """A host whose Secret is unusable is not served with another host's certificate (the
    default certificate, its last good one, or a refused handshake are all fine)."""
    def check() -> dict[str, list[str]]:
        return {label: no_other_case_certificate(http, broken.host(label),
                                                 frozenset({broken.host(label)}))
                for label in ("garbage", "mismatch")}
    record.observe("presented_names", eventually(check, "no other host's certificate"))
