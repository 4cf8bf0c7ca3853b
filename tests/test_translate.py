"""The reference controller's pure core: translate(snapshot) -> RoutingTable, Events, served."""

from __future__ import annotations

import base64
import datetime
import random
import ssl
from collections.abc import Iterable

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

from simulator.controller.backends import BackendResolver
from simulator.controller.classes import (
    IS_DEFAULT_CLASS_ANNOTATION,
    LEGACY_CLASS_ANNOTATION,
    default_class_name,
    is_served,
)
from simulator.controller.tls import covers
from simulator.controller.translate import (
    ControllerEvent,
    Snapshot,
    TranslateResult,
    Translator,
    translate,
)
from simulator.routing import Endpoint, PathType

CONTROLLER = "ingress-sim.dev/reference"
T0 = "2024-01-01T00:00:00Z"


# -- object factories: plain dicts shaped as the Kubernetes API returns them ------------------

def meta(name: str, namespace: str | None = "default", created: str = T0,
         annotations: dict | None = None, labels: dict | None = None) -> dict:
    m: dict = {"name": name, "creationTimestamp": created}
    if namespace is not None:
        m["namespace"] = namespace
    if annotations:
        m["annotations"] = annotations
    if labels:
        m["labels"] = labels
    return m


def ingress_class(name: str = "sim", controller: str = CONTROLLER, default: bool = False,
                  created: str = T0) -> dict:
    annotations = {IS_DEFAULT_CLASS_ANNOTATION: "true"} if default else None
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": meta(name, None, created, annotations),
            "spec": {"controller": controller}}


def backend(service: str, port: int | str = 80) -> dict:
    ref = {"number": port} if isinstance(port, int) else {"name": port}
    return {"service": {"name": service, "port": ref}}


def path(p: str, service: str = "web", port: int | str = 80, path_type: str = "Prefix") -> dict:
    return {"path": p, "pathType": path_type, "backend": backend(service, port)}


def rule(host: str | None, *paths: dict) -> dict:
    r: dict = {"http": {"paths": list(paths)}}
    if host is not None:
        r["host"] = host
    return r


def ingress(name: str, *rules: dict, namespace: str = "default", created: str = T0,
            class_name: str | None = "sim", annotations: dict | None = None,
            default_backend: dict | None = None, tls: Iterable[dict] = ()) -> dict:
    spec: dict = {}
    if class_name is not None:
        spec["ingressClassName"] = class_name
    if rules:
        spec["rules"] = list(rules)
    if default_backend is not None:
        spec["defaultBackend"] = default_backend
    if tls:
        spec["tls"] = list(tls)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": meta(name, namespace, created, annotations), "spec": spec}


def service(name: str = "web", namespace: str = "default",
            ports: Iterable[tuple[str | None, int, int]] = (("http", 80, 8080),)) -> dict:
    entries = []
    for port_name, port, target in ports:
        entry: dict = {"port": port, "targetPort": target, "protocol": "TCP"}
        if port_name is not None:
            entry["name"] = port_name
        entries.append(entry)
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, namespace),
            "spec": {"type": "ClusterIP", "ports": entries}}


def ep(ip: str, ready: bool | None = True, serving: bool | None = None,
       terminating: bool | None = None, pod: str = "") -> dict:
    conditions = {k: v for k, v in (("ready", ready), ("serving", serving),
                                     ("terminating", terminating)) if v is not None}
    item: dict = {"addresses": [ip], "conditions": conditions}
    if pod:
        item["targetRef"] = {"kind": "Pod", "name": pod, "namespace": "default"}
    return item


def endpoint_slice(svc: str, *endpoints: dict, namespace: str = "default", name: str = "",
                   ports: Iterable[tuple[str, int]] = (("http", 8080),),
                   address_type: str = "IPv4") -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": meta(name or f"{svc}-abc", namespace,
                             labels={"kubernetes.io/service-name": svc}),
            "addressType": address_type,
            "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports],
            "endpoints": list(endpoints)}


def tls_secret(name: str, cert_pem: bytes, key_pem: bytes, namespace: str = "default",
               secret_type: str = "kubernetes.io/tls") -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta(name, namespace),
            "type": secret_type,
            "data": {"tls.crt": base64.b64encode(cert_pem).decode(),
                     "tls.key": base64.b64encode(key_pem).decode()}}


def snapshot(ingresses: Iterable[dict] = (), services: Iterable[dict] = (),
             slices: Iterable[dict] = (), secrets: Iterable[dict] = (),
             classes: Iterable[dict] | None = None,
             watch_namespace: str | None = None) -> Snapshot:
    return Snapshot(tuple(ingresses), tuple(services), tuple(slices), tuple(secrets),
                    tuple([ingress_class()] if classes is None else classes), CONTROLLER,
                    watch_namespace)


def web(ns: str = "default") -> tuple[list[dict], list[dict]]:
    """A Service "web" (http 80 -> 8080) with one ready endpoint."""
    return [service(namespace=ns)], [endpoint_slice("web", ep("10.0.0.1"), namespace=ns)]


def run(*ingresses: dict, **kwargs) -> TranslateResult:
    services, slices = web()
    kwargs.setdefault("services", services)
    kwargs.setdefault("slices", slices)
    return translate(snapshot(ingresses, **kwargs))


def host_paths(result: TranslateResult, host: str) -> list[tuple[str, PathType, str]]:
    [routes] = [h for h in result.table.hosts if h.host == host]
    return [(r.path, r.path_type, r.source) for r in routes.paths]


def reasons(result: TranslateResult) -> list[tuple[str, str, str]]:
    return [(e.namespace, e.ingress, e.reason) for e in result.events]


# -- class selection --------------------------------------------------------------------------

def test_served_by_ingress_class_name() -> None:
    result = run(ingress("a", rule("a.example.com", path("/"))))
    assert result.served == (("default", "a"),)
    assert [h.host for h in result.table.hosts] == ["a.example.com"]


def test_foreign_and_unknown_classes_are_ignored_entirely() -> None:
    classes = [ingress_class(), ingress_class("other", "example.com/other")]
    broken = path("/", service="missing")  # would be a Warning if it were ours
    result = run(ingress("foreign", rule("a.example.com", broken), class_name="other"),
                 ingress("unknown", rule("b.example.com", broken), class_name="nope"),
                 classes=classes)
    assert result.served == ()
    assert result.table.hosts == ()
    assert result.events == ()


def test_default_class_serves_ingresses_without_class() -> None:
    bare = ingress("bare", rule("a.example.com", path("/")), class_name=None)
    assert run(bare, classes=[ingress_class(default=True)]).served == (("default", "bare"),)
    # Not a default class: the Ingress belongs to nobody.
    assert run(bare, classes=[ingress_class()]).served == ()
    # The default class is another controller's.
    classes = [ingress_class(), ingress_class("other", "example.com/other", default=True)]
    assert run(bare, classes=classes).served == ()


def test_newest_default_class_wins_like_the_admission_plugin() -> None:
    bare = ingress("bare", rule("a.example.com", path("/")), class_name=None)
    ours_old = ingress_class("sim", default=True, created="2024-01-01T00:00:00Z")
    theirs_new = ingress_class("other", "example.com/other", default=True,
                               created="2024-02-01T00:00:00Z")
    assert default_class_name([ours_old, theirs_new]) == "other"
    assert run(bare, classes=[ours_old, theirs_new]).served == ()
    ours_new = ingress_class("sim", default=True, created="2024-03-01T00:00:00Z")
    assert run(bare, classes=[theirs_new, ours_new]).served == (("default", "bare"),)
    # Same age: the smallest name.
    tie = ingress_class("aaa", "example.com/other", default=True, created=T0)
    assert default_class_name([ingress_class("sim", default=True), tie]) == "aaa"


def test_legacy_annotation_names_one_of_our_ingress_classes() -> None:
    classes = [ingress_class("sim"), ingress_class("other", "example.com/other", default=True)]
    legacy = ingress("legacy", rule("a.example.com", path("/")), class_name=None,
                     annotations={LEGACY_CLASS_ANNOTATION: "sim"})
    assert run(legacy, classes=classes).served == (("default", "legacy"),)
    # Another controller's class, or the controller name instead of a class name: not ours.
    for value in ("other", CONTROLLER, ""):
        legacy["metadata"]["annotations"][LEGACY_CLASS_ANNOTATION] = value
        assert run(legacy, classes=classes).served == ()


def test_annotation_never_falls_back_to_the_default_class() -> None:
    legacy = ingress("legacy", rule("a.example.com", path("/")), class_name=None,
                     annotations={LEGACY_CLASS_ANNOTATION: "nginx"})
    assert run(legacy, classes=[ingress_class(default=True)]).served == ()


def test_class_name_takes_precedence_over_the_annotation() -> None:
    classes = [ingress_class("sim"), ingress_class("other", "example.com/other")]
    ing = ingress("x", rule("a.example.com", path("/")), class_name="other",
                  annotations={LEGACY_CLASS_ANNOTATION: "sim"})
    assert not is_served(ing, classes, CONTROLLER)
    ing["spec"]["ingressClassName"] = "sim"
    ing["metadata"]["annotations"][LEGACY_CLASS_ANNOTATION] = "other"
    assert is_served(ing, classes, CONTROLLER)


def test_watch_namespace_limits_the_ingresses() -> None:
    services, slices = web("a")
    services2, slices2 = web("b")
    result = translate(snapshot(
        [ingress("x", rule("a.example.com", path("/")), namespace="a"),
         ingress("y", rule("b.example.com", path("/")), namespace="b")],
        services + services2, slices + slices2, watch_namespace="a"))
    assert result.served == (("a", "x"),)
    assert [h.host for h in result.table.hosts] == ["a.example.com"]


# -- hosts and paths --------------------------------------------------------------------------

def test_hosts_lowercased_wildcards_kept_and_hostless_rules() -> None:
    result = run(ingress("a", rule("A.Example.COM", path("/")),
                         rule("*.Wild.example.com", path("/")), rule(None, path("/x"))))
    assert [h.host for h in result.table.hosts] == ["", "*.wild.example.com", "a.example.com"]


def test_paths_in_precedence_order() -> None:
    result = run(ingress("a", rule("a.example.com",
                                   path("/"), path("/foo", path_type="Prefix"),
                                   path("/foo", path_type="Exact"), path("/foo/bar"),
                                   path("/zz", path_type="ImplementationSpecific"))))
    assert [(p, t.value) for p, t, _ in host_paths(result, "a.example.com")] == [
        ("/foo/bar", "Prefix"), ("/foo", "Exact"), ("/foo", "Prefix"),
        ("/zz", "ImplementationSpecific"), ("/", "Prefix")]
    assert result.events == ()


def test_exact_precedes_a_prefix_with_the_same_path_and_a_trailing_slash() -> None:
    result = run(ingress("a", rule("a.example.com", path("/foo/", path_type="Prefix"),
                                   path("/foo", path_type="Exact"))))
    assert [(p, t.value) for p, t, _ in host_paths(result, "a.example.com")] == [
        ("/foo", "Exact"), ("/foo/", "Prefix")]


def test_several_ingresses_on_one_host_are_merged() -> None:
    result = run(ingress("one", rule("shop.example.com", path("/cart"))),
                 ingress("two", rule("shop.example.com", path("/pay")), namespace="default"),
                 ingress("three", rule("other.example.com", path("/"))))
    assert host_paths(result, "shop.example.com") == [
        ("/cart", PathType.PREFIX, "default/one"), ("/pay", PathType.PREFIX, "default/two")]
    assert result.served == (("default", "one"), ("default", "three"), ("default", "two"))


def test_conflict_oldest_wins_and_loser_gets_a_warning() -> None:
    old = ingress("zeta", rule("a.example.com", path("/api")), created="2024-01-01T00:00:00Z")
    new = ingress("alpha", rule("a.example.com", path("/api"), path("/new")),
                  created="2024-01-02T00:00:00Z")
    for order in ((old, new), (new, old)):
        result = run(*order)
        assert host_paths(result, "a.example.com") == [
            ("/api", PathType.PREFIX, "default/zeta"), ("/new", PathType.PREFIX, "default/alpha")]
        assert reasons(result) == [("default", "alpha", "PathConflict")]
        assert "default/zeta" in result.events[0].message
        assert result.events[0].type == "Warning"
        assert result.table.warnings == (
            f"default/alpha: PathConflict: {result.events[0].message}",)


def test_conflict_same_age_broken_by_namespace_then_name() -> None:
    services, slices = web("b")
    s2, sl2 = web("a")
    result = translate(snapshot(
        [ingress("x", rule("h.example.com", path("/")), namespace="b"),
         ingress("y", rule("h.example.com", path("/")), namespace="a"),
         ingress("w", rule("h.example.com", path("/")), namespace="a")],
        services + s2, slices + sl2))
    assert host_paths(result, "h.example.com") == [("/", PathType.PREFIX, "a/w")]
    assert reasons(result) == [("a", "y", "PathConflict"), ("b", "x", "PathConflict")]


def test_conflicts_are_about_matching_the_same_requests() -> None:
    old = ingress("old", rule("a.example.com", path("/p"), path("/q/", path_type="Prefix"),
                              path("/e", path_type="Exact")))
    new = ingress("new", rule("a.example.com",
                              path("/p", path_type="ImplementationSpecific"),  # Prefix here
                              path("/q", path_type="Prefix"),  # "/q/" == "/q" for Prefix
                              path("/e", path_type="Prefix"),  # Exact vs Prefix: both kept
                              path("/e/", path_type="Exact")),  # Exact "/e/" != Exact "/e"
                  created="2024-06-01T00:00:00Z")
    result = run(old, new)
    assert [(p, t.value, s) for p, t, s in host_paths(result, "a.example.com")] == [
        ("/e/", "Exact", "default/new"),
        ("/e", "Exact", "default/old"), ("/e", "Prefix", "default/new"),
        ("/p", "Prefix", "default/old"), ("/q/", "Prefix", "default/old")]  # "/q/" is "/q"
    assert reasons(result) == [("default", "new", "PathConflict")] * 2


def test_duplicate_path_within_one_ingress_keeps_the_first() -> None:
    services = [service("web"), service("api")]
    result = run(ingress("a", rule("a.example.com", path("/", "web"), path("/", "api"))),
                 services=services)
    [routes] = result.table.hosts
    assert [r.backend.service for r in routes.paths] == ["web"]
    assert reasons(result) == [("default", "a", "PathConflict")]


def test_invalid_paths_are_dropped_with_a_warning() -> None:
    result = run(ingress("a", rule("a.example.com", path("nope"), path("/ok"),
                                   path("/r", path_type="Regex"),
                                   {"pathType": "ImplementationSpecific",
                                    "backend": backend("web")})))
    assert [p for p, _, _ in host_paths(result, "a.example.com")] == ["/ok", "/"]
    assert reasons(result) == [("default", "a", "InvalidPath")] * 2


# -- default backend --------------------------------------------------------------------------

def test_default_backend_only_ingress_is_the_catch_all() -> None:
    result = run(ingress("catch-all", default_backend=backend("web")))
    assert result.table.hosts == ()
    default = result.table.default_backend
    assert default is not None
    assert (default.namespace, default.service, default.port) == ("default", "web", "80")
    assert default.endpoints == (Endpoint("10.0.0.1", 8080),)
    assert result.served == (("default", "catch-all"),)


def test_default_backend_conflict_oldest_wins() -> None:
    services = [service("web"), service("other")]
    old = ingress("old", default_backend=backend("web"), created="2024-01-01T00:00:00Z")
    new = ingress("new", rule("a.example.com", path("/")), default_backend=backend("other"),
                  created="2024-01-05T00:00:00Z")
    result = run(new, old, services=services)
    assert result.table.default_backend is not None
    assert result.table.default_backend.service == "web"
    assert reasons(result) == [("default", "new", "DefaultBackendConflict")]
    assert "default/old" in result.events[0].message
    # The loser's rules are still served.
    assert host_paths(result, "a.example.com") == [("/", PathType.PREFIX, "default/new")]


# -- backends ---------------------------------------------------------------------------------

def test_named_and_numbered_service_ports() -> None:
    svc = service("app", ports=[("http", 80, 8080), ("admin", 9000, 9090)])
    slices = [endpoint_slice("app", ep("10.0.0.7"), ports=[("http", 8080), ("admin", 9090)])]
    result = run(ingress("a", rule("a.example.com", path("/", "app", 80),
                                   path("/admin", "app", "admin"))),
                 services=[svc], slices=slices)
    [routes] = result.table.hosts
    by_path = {r.path: r.backend for r in routes.paths}
    assert by_path["/"].port == "80"
    assert by_path["/"].endpoints == (Endpoint("10.0.0.7", 8080),)
    assert by_path["/admin"].port == "admin"
    assert by_path["/admin"].endpoints == (Endpoint("10.0.0.7", 9090),)
    assert by_path["/admin"].name == "default/app:admin"


def test_single_unnamed_service_port() -> None:
    svc = service("app", ports=[(None, 80, 3000)])
    slices = [endpoint_slice("app", ep("10.0.0.9"), ports=[("", 3000)])]
    result = run(ingress("a", rule("a.example.com", path("/", "app", 80))),
                 services=[svc], slices=slices)
    assert result.table.hosts[0].paths[0].backend.endpoints == (Endpoint("10.0.0.9", 3000),)


def test_missing_service_keeps_the_rule_with_no_endpoints() -> None:
    result = run(ingress("a", rule("a.example.com", path("/", "ghost"))))
    [rule_] = result.table.hosts[0].paths
    assert rule_.backend.service == "ghost" and rule_.backend.endpoints == ()
    assert reasons(result) == [("default", "a", "ServiceNotFound")]
    assert '"default/ghost"' in result.events[0].message


def test_service_in_another_namespace_is_not_found() -> None:
    services, slices = web("elsewhere")
    result = run(ingress("a", rule("a.example.com", path("/"))),
                 services=services, slices=slices)
    assert result.table.hosts[0].paths[0].backend.endpoints == ()
    assert reasons(result) == [("default", "a", "ServiceNotFound")]


def test_missing_service_port_keeps_the_rule_with_no_endpoints() -> None:
    result = run(ingress("a", rule("a.example.com", path("/a", "web", 81),
                                   path("/b", "web", "grpc"))))
    assert [r.backend.endpoints for r in result.table.hosts[0].paths] == [(), ()]
    assert reasons(result) == [("default", "a", "PortNotFound")] * 2


def test_resource_backend_is_unsupported_and_dropped() -> None:
    resource = {"resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket",
                             "name": "static"}}
    result = run(ingress("a", rule("a.example.com", path("/"),
                                   {"path": "/static", "pathType": "Prefix",
                                    "backend": resource})))
    assert [p for p, _, _ in host_paths(result, "a.example.com")] == ["/"]
    assert reasons(result) == [("default", "a", "UnsupportedBackend")]


# -- endpoints --------------------------------------------------------------------------------

def endpoints_of(*slices: dict) -> tuple[Endpoint, ...]:
    result = run(ingress("a", rule("a.example.com", path("/"))), slices=slices)
    return result.table.hosts[0].paths[0].backend.endpoints


def test_only_ready_endpoints_are_used() -> None:
    got = endpoints_of(endpoint_slice(
        "web", ep("10.0.0.3", pod="c"), ep("10.0.0.1", ready=None, pod="a"),
        ep("10.0.0.2", ready=False, serving=False, pod="b"),
        ep("10.0.0.4", ready=False, serving=True, terminating=True, pod="d")))
    assert got == (Endpoint("10.0.0.1", 8080, target="a"), Endpoint("10.0.0.3", 8080, target="c"))


def test_terminating_fallback_when_nothing_is_ready() -> None:
    got = endpoints_of(endpoint_slice(
        "web", ep("10.0.0.2", ready=False, serving=True, terminating=True, pod="b"),
        ep("10.0.0.1", ready=False, serving=False, terminating=True, pod="a"),
        ep("10.0.0.3", ready=False, pod="c"),  # serving nil defers to ready: not serving
        ep("10.0.0.4", ready=False, serving=True, pod="d")))  # serving, not terminating
    assert got == (Endpoint("10.0.0.2", 8080, False, True, True, "b"),)
    assert endpoints_of(endpoint_slice("web", ep("10.0.0.1", ready=False))) == ()


def test_endpoints_deduplicated_across_slices_and_sorted() -> None:
    got = endpoints_of(
        endpoint_slice("web", ep("10.0.0.10"), ep("10.0.0.9"), name="s1"),
        endpoint_slice("web", ep("10.0.0.10"), ep("10.0.0.2", ready=False), name="s2"),
        endpoint_slice("web", ep("fd00::1"), name="s3", address_type="IPv6"),
        endpoint_slice("web", ep("pod.example.com"), name="s4", address_type="FQDN"),
        endpoint_slice("web", ep("10.0.0.99"), name="s5", ports=[("metrics", 9100)]),
        endpoint_slice("web", ep("10.0.0.98"), name="s6", namespace="elsewhere"))
    assert [e.hostport for e in got] == ["10.0.0.9:8080", "10.0.0.10:8080", "[fd00::1]:8080"]



def test_non_canonical_addresses_are_canonicalised_before_deduplication() -> None:
    got = endpoints_of(
        endpoint_slice("web", ep("FD00::0:2"), ep("fd00::1", ready=False, pod="old"),
                       name="s1", address_type="IPv6"),
        endpoint_slice("web", ep("fd00:0::1", pod="new"), name="s2", address_type="IPv6"),
        endpoint_slice("web", ep("10.0.0.010"), ep("10.0.0.7"), name="s3"))
    assert [(e.address, e.target) for e in got] == [("10.0.0.7", ""), ("fd00::1", "new"),
                                                    ("fd00::2", "")]

# -- TLS --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def leaf(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("secure.example.com", "*.wild.example.com")


def pems(leaf: trustme.LeafCert) -> tuple[bytes, bytes]:
    return b"".join(p.bytes() for p in leaf.cert_chain_pems), leaf.private_key_pem.bytes()


def test_tls_certificate_with_exact_and_wildcard_hosts(leaf, tmp_path) -> None:
    secret = tls_secret("cert", *pems(leaf))
    ing = ingress("a", rule("secure.example.com", path("/")),
                  rule("*.wild.example.com", path("/")),
                  tls=[{"hosts": ["Secure.Example.com", "*.wild.example.com"],
                        "secretName": "cert"}])
    result = run(ing, secrets=[secret])
    assert result.events == ()
    [cert] = result.table.certificates
    assert cert.hosts == ("*.wild.example.com", "secure.example.com")
    assert cert.source == "default/cert"
    # The data plane can load what we hand it.
    (tmp_path / "c.pem").write_bytes(cert.cert_pem)
    (tmp_path / "k.pem").write_bytes(cert.key_pem)
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
        tmp_path / "c.pem", tmp_path / "k.pem")


def test_tls_entry_without_hosts_serves_the_rule_hosts_it_covers(leaf) -> None:
    ing = ingress("a", rule("secure.example.com", path("/")), rule("x.wild.example.com",
                                                                  path("/")),
                  rule("plain.example.com", path("/")), tls=[{"secretName": "cert"}])
    result = run(ing, secrets=[tls_secret("cert", *pems(leaf))])
    assert result.table.certificates[0].hosts == ("secure.example.com", "x.wild.example.com")
    assert result.events == ()
    nothing = ingress("b", rule("plain.example.com", path("/")), tls=[{"secretName": "cert"}])
    result = run(nothing, secrets=[tls_secret("cert", *pems(leaf))])
    assert result.table.certificates == ()
    assert reasons(result) == [("default", "b", "TLSHostMismatch")]


def test_tls_listed_host_not_in_certificate_is_served_with_a_warning(leaf) -> None:
    ing = ingress("a", rule("other.example.com", path("/")),
                  tls=[{"hosts": ["other.example.com"], "secretName": "cert"}])
    result = run(ing, secrets=[tls_secret("cert", *pems(leaf))])
    assert result.table.certificates[0].hosts == ("other.example.com",)
    assert reasons(result) == [("default", "a", "TLSHostMismatch")]


def tls_ingress(secret_name: str = "cert") -> dict:
    return ingress("a", rule("secure.example.com", path("/")),
                   tls=[{"hosts": ["secure.example.com"], "secretName": secret_name}])


def test_tls_secret_of_wrong_type_is_rejected(leaf) -> None:
    result = run(tls_ingress(), secrets=[tls_secret("cert", *pems(leaf), secret_type="Opaque")])
    assert result.table.certificates == ()
    assert reasons(result) == [("default", "a", "InvalidSecret")]
    assert "Opaque" in result.events[0].message
    # The host is still served over HTTP.
    assert [h.host for h in result.table.hosts] == ["secure.example.com"]


def test_tls_key_must_match_the_certificate(ca, leaf) -> None:
    other = ca.issue_cert("secure.example.com")
    cert_pem, _ = pems(leaf)
    result = run(tls_ingress(),
                 secrets=[tls_secret("cert", cert_pem, other.private_key_pem.bytes())])
    assert result.table.certificates == ()
    assert reasons(result) == [("default", "a", "InvalidSecret")]
    assert "does not match" in result.events[0].message


def test_tls_garbage_data_is_rejected(leaf) -> None:
    cert_pem, key_pem = pems(leaf)
    bad_base64 = tls_secret("cert", cert_pem, key_pem)
    bad_base64["data"]["tls.key"] = "!!!"
    not_pem = tls_secret("cert", b"hello", key_pem)
    missing = tls_secret("cert", cert_pem, key_pem)
    del missing["data"]["tls.crt"]
    for secret, why in ((bad_base64, "base64"), (not_pem, "PEM certificate"),
                        (missing, "missing")):
        result = run(tls_ingress(), secrets=[secret])
        assert result.table.certificates == ()
        assert reasons(result) == [("default", "a", "InvalidSecret")]
        assert why in result.events[0].message


def malformed_san_certificate(host: str) -> tuple[bytes, bytes]:
    """A self-signed certificate and its key whose subjectAltName extension is not valid
    DER: cryptography parses extensions lazily, so it loads and fails on first use."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.UnrecognizedExtension(
                ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x03\xff\xff\xff"),
                critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def test_tls_certificate_with_malformed_extensions_costs_only_its_own_hosts(leaf) -> None:
    good = tls_ingress("good")
    bad = ingress("bad", rule("bad.example.com", path("/")), created="2024-06-01T00:00:00Z",
                  tls=[{"hosts": ["bad.example.com"], "secretName": "bad"}])
    result = run(good, bad, secrets=[tls_secret("good", *pems(leaf)),
                                     tls_secret("bad", *malformed_san_certificate(
                                         "bad.example.com"))])
    assert [c.hosts for c in result.table.certificates] == [("secure.example.com",)]
    assert {h.host for h in result.table.hosts} == {"secure.example.com", "bad.example.com"}
    assert reasons(result) == [("default", "bad", "InvalidSecret")]
    assert "malformed extensions" in result.events[0].message


def test_tls_unexpected_parser_error_is_an_invalid_secret(leaf, monkeypatch) -> None:
    """Whatever else the certificate parser raises costs that Secret's hosts their TLS and
    leaves the rest of the translation alone."""
    def explode(data: bytes) -> list:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(x509, "load_pem_x509_certificates", explode)
    result = run(tls_ingress(), ingress("plain", rule("plain.example.com", path("/"))),
                 secrets=[tls_secret("cert", *pems(leaf))])
    assert result.table.certificates == ()
    assert {h.host for h in result.table.hosts} == {"secure.example.com", "plain.example.com"}
    assert reasons(result) == [("default", "a", "InvalidSecret")]
    assert "RuntimeError" in result.events[0].message


def test_tls_missing_secret(leaf) -> None:
    result = run(tls_ingress("nope"), secrets=[tls_secret("cert", *pems(leaf))])
    assert result.table.certificates == ()
    assert reasons(result) == [("default", "a", "SecretNotFound")]


def test_tls_secret_in_another_namespace_is_ignored(leaf) -> None:
    result = run(tls_ingress(), secrets=[tls_secret("cert", *pems(leaf), namespace="other")])
    assert result.table.certificates == ()
    assert reasons(result) == [("default", "a", "SecretNotFound")]


def test_tls_host_conflict_oldest_wins_and_shared_secret_merges(ca, leaf) -> None:
    other = ca.issue_cert("secure.example.com", "api.example.com")
    secrets = [tls_secret("cert", *pems(leaf)), tls_secret("other", *pems(other))]
    old = ingress("old", rule("secure.example.com", path("/")), created="2024-01-01T00:00:00Z",
                  tls=[{"hosts": ["secure.example.com"], "secretName": "cert"}])
    new = ingress("new", rule("api.example.com", path("/")), created="2024-02-01T00:00:00Z",
                  tls=[{"hosts": ["secure.example.com", "api.example.com"],
                        "secretName": "other"}])
    same = ingress("same", rule("a.wild.example.com", path("/")), created="2024-03-01T00:00:00Z",
                   tls=[{"hosts": ["a.wild.example.com"], "secretName": "cert"}])
    result = run(same, new, old, secrets=secrets)
    assert [(c.source, c.hosts) for c in result.table.certificates] == [
        ("default/cert", ("a.wild.example.com", "secure.example.com")),
        ("default/other", ("api.example.com",))]
    assert reasons(result) == [("default", "new", "TLSConflict")]
    assert "default/old" in result.events[0].message


def test_covers_follows_go_verify_hostname() -> None:
    names = ("a.example.com", "*.wild.example.com")
    assert covers(names, "A.Example.com")
    assert covers(names, "x.wild.example.com")
    assert not covers(names, "wild.example.com")
    assert not covers(names, "x.y.wild.example.com")
    assert covers(names, "*.wild.example.com")
    assert not covers(("a.example.com",), "*.example.com")


# -- robustness, determinism, speed -----------------------------------------------------------

def test_malformed_objects_do_not_break_translation() -> None:
    junk = [
        {"metadata": {"name": "nospec", "namespace": "default"}},
        {"metadata": {"name": "weird", "namespace": "default"},
         "spec": {"ingressClassName": "sim", "rules": [None, {"host": 5, "http": {"paths": 3}},
                                                       {"http": {"paths": [None, {}]}}],
                  "tls": "nope", "defaultBackend": {}}},
        {"metadata": None, "spec": {"ingressClassName": "sim"}},
    ]
    result = run(*junk, ingress("ok", rule("a.example.com", path("/"))),
                 services=[service(), {"metadata": {"name": "x"}, "spec": {"ports": [None]}}],
                 slices=[endpoint_slice("web", ep("10.0.0.1")), {"metadata": {}},
                         endpoint_slice("web", {"addresses": ["bogus"]}, name="bad")])
    assert ("default", "ok") in result.served
    assert [h.host for h in result.table.hosts] == ["a.example.com"]
    assert all(isinstance(e, ControllerEvent) for e in result.events)


def random_snapshot(rng: random.Random, ingress_count: int) -> Snapshot:
    hosts = ["a.example.com", "b.example.com", "*.w.example.com", None]
    paths = ["/", "/a", "/a/", "/b", "/a/b"]
    types = ["Prefix", "Exact", "ImplementationSpecific"]
    times = [f"2024-01-0{d}T00:00:00Z" for d in range(1, 4)]
    ingresses = []
    for i in range(ingress_count):
        rules = [rule(rng.choice(hosts), *[path(rng.choice(paths), rng.choice(["web", "api",
                                                                               "gone"]),
                                                rng.choice([80, "http", 81]),
                                                rng.choice(types))
                                           for _ in range(rng.randint(0, 3))])
                 for _ in range(rng.randint(0, 2))]
        ingresses.append(ingress(
            f"i{i}", *rules, namespace=rng.choice(["default", "team"]),
            created=rng.choice(times),
            default_backend=backend("web") if rng.random() < 0.2 else None))
    services, slices = [], []
    for ns in ("default", "team"):
        for name in ("web", "api"):
            services.append(service(name, ns))
            for s in range(2):
                slices.append(endpoint_slice(
                    name, *[ep(f"10.0.{s}.{rng.randint(1, 5)}", rng.choice([True, False, None]),
                               rng.choice([True, False, None]), rng.choice([True, None]))
                            for _ in range(3)], namespace=ns, name=f"{name}-{s}"))
    return snapshot(ingresses, services, slices)


def shuffled(snap: Snapshot, rng: random.Random) -> Snapshot:
    def mix(items: tuple[dict, ...]) -> tuple[dict, ...]:
        out = list(items)
        rng.shuffle(out)
        return tuple(out)
    return Snapshot(mix(snap.ingresses), mix(snap.services), mix(snap.endpoint_slices),
                    mix(snap.secrets), mix(snap.ingress_classes), snap.controller_name,
                    snap.watch_namespace)


def assert_same(a: TranslateResult, b: TranslateResult) -> None:
    assert a == b
    assert a.table.warnings == b.table.warnings  # not part of RoutingTable equality


def test_translate_is_independent_of_input_order_seeded() -> None:
    for seed in range(20):
        rng = random.Random(seed)
        snap = random_snapshot(rng, 12)
        assert_same(translate(snap), translate(shuffled(snap, rng)))


def test_translate_is_independent_of_input_order_property() -> None:
    hypothesis = pytest.importorskip("hypothesis")
    strategies = pytest.importorskip("hypothesis.strategies")

    @hypothesis.settings(max_examples=60, deadline=None)
    @hypothesis.given(strategies.integers(0, 2**32), strategies.integers(0, 20),
                      strategies.randoms(use_true_random=False))
    def check(seed: int, count: int, shuffler: random.Random) -> None:
        snap = random_snapshot(random.Random(seed), count)
        assert_same(translate(snap), translate(shuffled(snap, shuffler)))

    check()


def test_ten_thousand_ingresses_all_served() -> None:
    """Scale without loss (the time is measured by `nox -s bench`, not asserted here)."""
    services, slices, ingresses = [], [], []
    for n in range(100):
        ns = f"ns{n}"
        services.append(service("web", ns))
        slices.append(endpoint_slice("web", *[ep(f"10.{n}.0.{i}") for i in range(3)],
                                     namespace=ns))
        for i in range(100):
            ingresses.append(ingress(
                f"ing{i}", rule(f"h{i}.{ns}.example.com", path("/"), path("/api", port="http")),
                namespace=ns, created=f"2024-01-01T00:{i % 60:02d}:00Z"))
    result = translate(snapshot(ingresses, services, slices))
    assert len(result.table.hosts) == 10_000 and len(result.served) == 10_000



def test_an_ingress_listed_twice_is_served_once() -> None:
    ing = ingress("twice", rule("a.example.com", path("/")))
    result = run(ing, ingress("other", rule("b.example.com", path("/"))), dict(ing))
    assert result.served == (("default", "other"), ("default", "twice"))


def test_translate_pauses_the_collector_and_restores_its_state() -> None:
    import gc
    import threading

    seen: list[bool] = []
    original = gc.isenabled()
    snap = snapshot([ingress("a", rule("a.example.com", path("/")))], *web())

    class Spy(dict):  # reads the collector's state while translate runs
        def get(self, key, default=None):  # noqa: ANN001, ANN202
            if key == "pathType":
                seen.append(gc.isenabled())
            return super().get(key, default)

    spied = snapshot([ingress("a", rule("a.example.com", Spy(path("/"))))], *web())
    try:
        gc.enable()
        expected = translate(snap)
        assert translate(spied) == expected and seen == [False] and gc.isenabled()
        gc.disable()  # a caller that disabled it keeps it disabled
        assert translate(spied) == expected and seen == [False, False]
        assert not gc.isenabled()
        gc.enable()
        results: list[TranslateResult] = []
        threads = [threading.Thread(target=lambda: results.append(translate(snap)))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [expected] * 4 and gc.isenabled()
    finally:
        (gc.enable if original else gc.disable)()

# -- the Translator (translate with a memory) equals translate --------------------------------

def mutate(snap: Snapshot, rng: random.Random, step: int) -> Snapshot:
    """One random change, the way the informers make them: a changed object is a new dict
    (the others are the very same objects), an added one appears, a deleted one disappears."""
    ingresses, services, slices = list(snap.ingresses), list(snap.services), \
        list(snap.endpoint_slices)
    classes = list(snap.ingress_classes)
    other = random_snapshot(rng, 4)  # a source of fresh objects
    kind = rng.randrange(8)
    if kind == 0 and ingresses:  # an Ingress changes
        i = rng.randrange(len(ingresses))
        fresh = dict(rng.choice(other.ingresses) if other.ingresses else ingresses[i])
        fresh["metadata"] = dict(ingresses[i]["metadata"])
        ingresses[i] = fresh
    elif kind == 1:  # an Ingress is created
        fresh = dict(rng.choice(other.ingresses)) if other.ingresses else ingress("x")
        fresh["metadata"] = {**fresh["metadata"], "name": f"new{step}"}
        ingresses.append(fresh)
    elif kind == 2 and ingresses:  # an Ingress is deleted
        del ingresses[rng.randrange(len(ingresses))]
    elif kind == 3 and slices:  # an EndpointSlice changes
        i = rng.randrange(len(slices))
        slices[i] = {**slices[i], "endpoints": [ep(f"10.9.{step % 250}.{rng.randint(1, 9)}",
                                                   rng.choice([True, False]))]}
    elif kind == 4 and slices:  # an EndpointSlice is deleted
        del slices[rng.randrange(len(slices))]
    elif kind == 5 and services:  # a Service is deleted or changes its ports
        i = rng.randrange(len(services))
        if rng.random() < 0.5:
            del services[i]
        else:
            md = services[i]["metadata"]
            services[i] = service(md["name"], md["namespace"],
                                  ports=rng.choice([(("http", 80, 8080),), ((None, 81, 8080),)]))
    elif kind == 6:  # a Service comes back
        services.append(service(rng.choice(["web", "api", "gone"]),
                                rng.choice(["default", "team"])))
    else:  # the IngressClasses change (or come back)
        classes = [ingress_class()] if rng.random() < 0.7 else [ingress_class(controller="x")]
    return Snapshot(tuple(ingresses), tuple(services), tuple(slices), snap.secrets,
                    tuple(classes), snap.controller_name, snap.watch_namespace)


def check_translator(seed: int, count: int, steps: int) -> None:
    rng = random.Random(seed)
    snap = random_snapshot(rng, count)
    translator = Translator()
    assert_same(translator.translate(snap), translate(snap))
    for step in range(steps):
        snap = mutate(snap, rng, step)
        if rng.random() < 0.2:
            snap = shuffled(snap, rng)  # a relist may reorder everything
        assert_same(translator.translate(snap), translate(snap))


def test_translator_follows_changes_like_translate_seeded() -> None:
    for seed in range(30):
        check_translator(seed, 10, 25)


def test_translator_follows_changes_like_translate_property() -> None:
    hypothesis = pytest.importorskip("hypothesis")
    strategies = pytest.importorskip("hypothesis.strategies")

    @hypothesis.settings(max_examples=40, deadline=None)
    @hypothesis.given(strategies.integers(0, 2**32), strategies.integers(0, 15),
                      strategies.integers(1, 30))
    def check(seed: int, count: int, steps: int) -> None:
        check_translator(seed, count, steps)

    check()


def test_translator_reloads_a_changed_tls_secret_and_keeps_an_unchanged_one(ca, leaf) -> None:
    cert, key = pems(leaf)
    ing = ingress("secure", rule("a.example.com", path("/")),
                  tls=[{"hosts": ["a.example.com"], "secretName": "cert"}])
    services, slices = web()
    translator = Translator()
    missing = snapshot([ing], services, slices)
    assert reasons(translator.translate(missing)) == [("default", "secure", "SecretNotFound")]
    good = snapshot([ing], services, slices, [tls_secret("cert", cert, key)])
    assert_same(translator.translate(good), translate(good))
    assert [c.hosts for c in translator.translate(good).table.certificates] == \
        [("a.example.com",)]
    other_key = ca.issue_cert("a.example.com").private_key_pem.bytes()
    bad = snapshot([ing], services, slices, [tls_secret("cert", cert, other_key)])
    assert_same(translator.translate(bad), translate(bad))
    assert reasons(translator.translate(bad)) == [("default", "secure", "InvalidSecret")]


def test_translator_keeps_unchanged_hosts_as_the_same_objects() -> None:
    services, slices = web()
    ingresses = [ingress(f"i{i}", rule(f"h{i}.example.com", path("/"))) for i in range(50)]
    translator = Translator()
    first = translator.translate(snapshot(ingresses, services, slices))
    changed = list(ingresses)
    changed[7] = ingress("i7", rule("h7.example.com", path("/"), path("/seven")))
    second = translator.translate(snapshot(changed, services, slices))
    assert second == translate(snapshot(changed, services, slices))
    kept = {a.host for a, b in zip(first.table.hosts, second.table.hosts, strict=True)
            if a is b}
    assert kept == {h.host for h in first.table.hosts} - {"h7.example.com"}


def test_resolver_carries_unchanged_backends_and_patches_changed_ones() -> None:
    """A resolver built on the previous one resolves like a fresh one, reuses the Resolution
    of a backend whose Service and EndpointSlices did not change, and follows the ones that
    did (an EndpointSlice replaced, added or removed; a Service replaced or removed)."""
    services = [service("web"), service("api")]
    slices = [endpoint_slice("web", ep("10.0.0.1")), endpoint_slice("api", ep("10.0.1.1"))]
    first = BackendResolver(services, slices)
    web_before, api_before = first.lookup("default", "web", "80"), \
        first.lookup("default", "api", "80")

    slices[0] = endpoint_slice("web", ep("10.0.0.2"))  # web's endpoints move
    slices.append(endpoint_slice("web", ep("10.0.0.3"), name="web-def"))  # a second slice
    second = BackendResolver(services, slices, first)
    assert second.lookup("default", "api", "80") is api_before
    web = second.lookup("default", "web", "80")
    assert [e.address for e in web.backend.endpoints] == ["10.0.0.2", "10.0.0.3"]
    assert web == BackendResolver(services, slices).lookup("default", "web", "80")
    assert web != web_before

    del services[1]  # api's Service goes; its slice stays
    del slices[2]
    third = BackendResolver(services, slices, second)
    assert third.lookup("default", "api", "80").problem.reason == "ServiceNotFound"
    assert [e.address for e in third.lookup("default", "web", "80").backend.endpoints] == \
        ["10.0.0.2"]


def test_resolver_after_a_duplicate_service_key_matches_a_fresh_index() -> None:
    """Two Services with one namespace/name (no API server stores that, but the translation
    must not depend on it): the last one listed wins, whether the index is patched or not."""
    one = service("web", ports=(("http", 80, 8080),))
    two = service("web", ports=((None, 81, 8080),))
    slices = [endpoint_slice("web", ep("10.0.0.1"))]
    first = BackendResolver([one], slices)
    assert first.lookup("default", "web", "80").problem is None
    for services in ([one, two], [two, one], [one]):
        fresh = BackendResolver(services, slices)
        patched = BackendResolver(services, slices, first)
        for port in ("80", "81"):
            assert patched.lookup("default", "web", port) == fresh.lookup("default", "web", port)
        first = patched
