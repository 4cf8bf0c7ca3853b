"""Path rules: Exact and Prefix matching, precedence (longest path first, then Exact over
Prefix; across Ingresses of one host at level extended), ImplementationSpecific (recorded),
and the request path reaching the backend unchanged.

Sources: networking.k8s.io/v1 HTTPIngressPath.pathType and the "Examples" table of the
Kubernetes Ingress docs (https://kubernetes.io/docs/concepts/services-networking/ingress/
#examples), and kubernetes-sigs/ingress-controller-conformance features/path_rules.feature.

Every case reads one module-scoped setup: one namespace with one echo backend per distinct
(path, pathType) of the rules, named the way the upstream feature file names them
(`/aaa/bbb/` Prefix -> `aaa-slash-bbb-slash-prefix`), so the backend that answers says which
rule won; each docs row and each precedence case on its own host with its own Ingress(es).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from conformance.harness import record
from conformance.harness.checks import not_served, served_by, status_is
from conformance.harness.client import HttpClient
from conformance.harness.consistency import eventually, recheck
from conformance.harness.kube import Kube
from conformance.harness.manifests import hostname, path, rule

pytestmark = [pytest.mark.feature("path_rules"), pytest.mark.level("core")]

EXACT, PREFIX, IMPL = "Exact", "Prefix", "ImplementationSpecific"

# The setup waits (default settings) until every Ingress of the module is served; a case then
# re-checks its own requests with consistency.recheck(): still 3 consecutive successes, still
# measured, polled faster (the module has ~50 cases; a 200 ms floor each would dominate).


def svc(value: str, path_type: str) -> str:
    """The backend a rule points at, named after the rule as the upstream feature file does:
    `/` -> root-prefix, `/foo` Exact -> foo-exact, `/aaa/bbb/` -> aaa-slash-bbb-slash-prefix."""
    kind = {EXACT: "exact", PREFIX: "prefix", IMPL: "implementation-specific"}[path_type]
    if value == "/":
        return f"root-{kind}"
    name = "-slash-".join(value.strip("/").split("/"))
    return f"{name}{'-slash' if value.endswith('/') else ''}-{kind}"


Rule = tuple[str, str]  # (path, pathType); the backend is svc(path, pathType)


def P(value: str) -> Rule:  # noqa: N802 (reads like the docs table)
    return (value, PREFIX)


def E(value: str) -> Rule:  # noqa: N802
    return (value, EXACT)


# ---- the Kubernetes docs' "Examples" table, all 18 rows ----------------------------------


@dataclass(frozen=True)
class Row:
    """One row: the rules of its Ingress, the request paths, and the rule that must serve
    them (None: "No", nothing matches)."""

    id: str
    rules: tuple[Rule, ...]
    requests: tuple[str, ...]
    winner: Rule | None

    @property
    def label(self) -> str:
        return f"docs-{self.id}"


DOCS_TABLE = [
    Row("prefix-root-matches-all-paths", (P("/"),), ("/", "/foo", "/foo/bar/", "/a/b/c"),
        P("/")),
    Row("exact-foo-matches-foo", (E("/foo"),), ("/foo",), E("/foo")),
    Row("exact-foo-not-bar", (E("/foo"),), ("/bar",), None),
    Row("exact-foo-not-foo-slash", (E("/foo"),), ("/foo/",), None),
    Row("exact-foo-slash-not-foo", (E("/foo/"),), ("/foo",), None),
    Row("prefix-foo-matches-foo-and-foo-slash", (P("/foo"),), ("/foo", "/foo/"), P("/foo")),
    Row("prefix-foo-slash-matches-foo-and-foo-slash", (P("/foo/"),), ("/foo", "/foo/"),
        P("/foo/")),
    Row("prefix-aaa-bb-not-aaa-bbb", (P("/aaa/bb"),), ("/aaa/bbb",), None),
    Row("prefix-aaa-bbb-matches-aaa-bbb", (P("/aaa/bbb"),), ("/aaa/bbb",), P("/aaa/bbb")),
    Row("prefix-aaa-bbb-slash-matches-aaa-bbb", (P("/aaa/bbb/"),), ("/aaa/bbb",),
        P("/aaa/bbb/")),
    Row("prefix-aaa-bbb-matches-aaa-bbb-slash", (P("/aaa/bbb"),), ("/aaa/bbb/",),
        P("/aaa/bbb")),
    Row("prefix-aaa-bbb-matches-aaa-bbb-ccc", (P("/aaa/bbb"),), ("/aaa/bbb/ccc",),
        P("/aaa/bbb")),
    Row("prefix-aaa-bbb-not-aaa-bbbxyz", (P("/aaa/bbb"),), ("/aaa/bbbxyz",), None),
    Row("prefix-root-aaa-matches-aaa-ccc", (P("/"), P("/aaa")), ("/aaa/ccc",), P("/aaa")),
    Row("prefix-root-aaa-aaa-bbb-matches-aaa-bbb", (P("/"), P("/aaa"), P("/aaa/bbb")),
        ("/aaa/bbb",), P("/aaa/bbb")),
    Row("prefix-root-aaa-aaa-bbb-matches-ccc", (P("/"), P("/aaa"), P("/aaa/bbb")), ("/ccc",),
        P("/")),
    Row("prefix-aaa-not-ccc-default-backend", (P("/aaa"),), ("/ccc",), None),
    Row("mixed-foo-prefers-exact", (P("/foo"), E("/foo")), ("/foo",), E("/foo")),
]


# ---- kubernetes-sigs/ingress-controller-conformance features/path_rules.feature -----------

# The feature file's Background: one Ingress `path-rules` with four hosts.
UPSTREAM_HOSTS: dict[str, tuple[Rule, ...]] = {
    "exact-path-rules": (E("/foo"),),
    "prefix-path-rules": (P("/foo"), P("/aaa/bbb"), P("/aaa")),
    "mixed-path-rules": (P("/foo"), E("/foo")),
    "trailing-slash-path-rules": (P("/aaa/bbb/"), E("/foo/")),
}


@dataclass(frozen=True)
class Scenario:
    """One upstream scenario: GET http://HOST/PATH must be served by `service` with the
    request path unchanged, or (service None) must get 404."""

    id: str
    host: str
    request: str
    service: str | None


UPSTREAM_SCENARIOS = [
    Scenario("exact-foo-matches-foo", "exact-path-rules", "/foo", "foo-exact"),
    Scenario("exact-foo-not-foo-slash", "exact-path-rules", "/foo/", None),
    Scenario("exact-foo-not-FOO", "exact-path-rules", "/FOO", None),
    Scenario("exact-foo-not-bar", "exact-path-rules", "/bar", None),
    Scenario("prefix-foo-matches-foo", "prefix-path-rules", "/foo", "foo-prefix"),
    Scenario("prefix-foo-matches-foo-slash", "prefix-path-rules", "/foo/", "foo-prefix"),
    Scenario("prefix-foo-not-FOO", "prefix-path-rules", "/FOO", None),
    Scenario("prefix-aaa-bbb-matches-aaa-bbb", "prefix-path-rules", "/aaa/bbb",
             "aaa-slash-bbb-prefix"),
    Scenario("prefix-aaa-bbb-matches-aaa-bbb-ccc", "prefix-path-rules", "/aaa/bbb/ccc",
             "aaa-slash-bbb-prefix"),
    Scenario("prefix-aaa-matches-aaa-ccc", "prefix-path-rules", "/aaa/ccc", "aaa-prefix"),
    Scenario("prefix-aaa-not-aaaccc", "prefix-path-rules", "/aaaccc", None),
    # Upstream has this scenario twice (same title, same steps); both copies are kept.
    Scenario("prefix-foo-matches-foo-slash-again", "prefix-path-rules", "/foo/", "foo-prefix"),
    Scenario("mixed-foo-prefers-exact", "mixed-path-rules", "/foo", "foo-exact"),
    Scenario("trailing-prefix-aaa-bbb-slash-matches-aaa-bbb", "trailing-slash-path-rules",
             "/aaa/bbb", "aaa-slash-bbb-slash-prefix"),
    Scenario("trailing-prefix-aaa-bbb-slash-matches-aaa-bbb-slash",
             "trailing-slash-path-rules", "/aaa/bbb/", "aaa-slash-bbb-slash-prefix"),
    Scenario("trailing-exact-foo-slash-not-foo", "trailing-slash-path-rules", "/foo", None),
]


# ---- precedence across Ingresses of one host ---------------------------------------------

# host label -> the rules of its first and of its second Ingress (created in that order, and
# named so that they also sort in that order).
ACROSS_INGRESSES: dict[str, tuple[Rule, Rule]] = {
    "longest-in-second": (P("/foo"), P("/foo/bar")),
    "longest-in-first": (P("/foo/bar"), P("/foo")),
    "exact-in-second": (P("/foo"), E("/foo")),
    "exact-in-first": (E("/foo"), P("/foo")),
}
LONGEST_EXPECTED = [("/foo/bar", "foo-slash-bar-prefix"), ("/foo/bar/baz", "foo-slash-bar-prefix"),
                    ("/foo", "foo-prefix"), ("/foo/baz", "foo-prefix"),
                    ("/foo/barbaz", "foo-prefix")]
EXACT_EXPECTED = [("/foo", "foo-exact"), ("/foo/", "foo-prefix"), ("/foo/x", "foo-prefix")]

# One Ingress, Prefix `/foo/` listed before Exact `/foo`: both match `/foo` over the same
# length (a Prefix path's trailing slash is ignored), so Exact must win it.
SLASH_HOST = "exact-vs-prefix-slash"
SLASH_RULES: tuple[Rule, ...] = (P("/foo/"), E("/foo"))
SLASH_EXPECTED = [("/foo", "foo-exact"), ("/foo/", "foo-slash-prefix"),
                  ("/foo/x", "foo-slash-prefix")]

IMPL_HOST = "implementation-specific"
IMPL_SENTINEL = "/sentinel"  # a Prefix rule in the same Ingress: shows the Ingress is live
IMPL_REQUESTS = ["/foo", "/foo/", "/foo/bar", "/foobar", "/FOO"]

PASSTHROUGH_HOST = "passthrough"


def _all_backends() -> list[str]:
    rules: set[Rule] = set()
    for row in DOCS_TABLE:
        rules.update(row.rules)
    for host_rules in UPSTREAM_HOSTS.values():
        rules.update(host_rules)
    for pair in ACROSS_INGRESSES.values():
        rules.update(pair)
    rules.update(SLASH_RULES)
    rules.add(P(IMPL_SENTINEL))
    names = {svc(*r) for r in rules}
    names.add(svc("/foo", IMPL))
    return sorted(names)


# ---- the shared setup --------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    namespace: str

    def host(self, label: str) -> str:
        return hostname(self.namespace, label)


def _paths(rules: tuple[Rule, ...]) -> list[dict[str, Any]]:
    return [path(value, svc(value, kind), kind) for value, kind in rules]


@pytest.fixture(scope="module")
def site(kube: Kube, http: HttpClient, module_namespace: str) -> Site:
    s = Site(module_namespace)
    ns = s.namespace
    kube.echo_backends(ns, *_all_backends())
    for row in DOCS_TABLE:
        kube.ingress(ns, row.label, rule(s.host(row.label), *_paths(row.rules)))
    kube.ingress(ns, "path-rules", *[rule(s.host(h), *_paths(rs))
                                     for h, rs in UPSTREAM_HOSTS.items()])
    for label, (first, second) in ACROSS_INGRESSES.items():
        kube.ingress(ns, f"{label}-1", rule(s.host(label), *_paths((first,))))
        kube.ingress(ns, f"{label}-2", rule(s.host(label), *_paths((second,))))
    kube.ingress(ns, SLASH_HOST, rule(s.host(SLASH_HOST), *_paths(SLASH_RULES)))
    kube.ingress(ns, IMPL_HOST, rule(s.host(IMPL_HOST), path("/foo", svc("/foo", IMPL), IMPL),
                                     *_paths((P(IMPL_SENTINEL),))))
    kube.ingress(ns, PASSTHROUGH_HOST, rule(s.host(PASSTHROUGH_HOST), *_paths((P("/foo"),))))

    # One probe per rule: its own path, which any implementation routes to some rule of
    # the host, whatever its matching semantics.
    probes: list[tuple[str, str]] = []
    for row in DOCS_TABLE:
        probes += [(row.label, value) for value, _ in row.rules]
    probes += [(host, value) for host, rules in UPSTREAM_HOSTS.items() for value, _ in rules]
    probes += [(label, value) for label, pair in ACROSS_INGRESSES.items()
               for value, _ in pair]
    probes += [(SLASH_HOST, value) for value, _ in SLASH_RULES]
    probes += [(IMPL_HOST, IMPL_SENTINEL), (PASSTHROUGH_HOST, "/foo")]

    # Live, not judged: every probe is answered by some backend of this namespace. Whether
    # the right one answers is each case's question, so one divergence fails one case
    # instead of erroring the whole module.
    def everything_live() -> None:
        for label, request in probes:
            resp = http.get(s.host(label), request)
            echo = resp.echo
            assert echo is not None and echo.namespace == ns, (
                f"GET {request} Host: {s.host(label)}: not live yet ({resp.summary()})")
    eventually(everything_live, "the path_rules Ingresses are live")
    return s


# ---- 1. the docs table ---------------------------------------------------------------------


@pytest.mark.parametrize("row", DOCS_TABLE, ids=[r.id for r in DOCS_TABLE])
def test_docs_example(site: Site, http: HttpClient, row: Row) -> None:
    """One row of the Kubernetes docs' path-matching "Examples" table, on its own host with
    its own Ingress: a "Yes" row's requests reach the winning rule's backend with the path
    unchanged; a "No" row's request reaches none of the case's backends (the exact answer,
    404 without a default backend, is test_unmatched_path_answered_404)."""
    host = site.host(row.label)

    def check() -> None:
        for request in row.requests:
            if row.winner is None:
                not_served(http, host, request, site.namespace)
            else:
                served_by(http, host, request, svc(*row.winner), namespace=site.namespace)
    eventually(check, f"docs example {row.id}", recheck())


# ---- 2. the upstream feature file ------------------------------------------------------------


@pytest.mark.parametrize("scenario", UPSTREAM_SCENARIOS, ids=[s.id for s in UPSTREAM_SCENARIOS])
def test_upstream_scenario(site: Site, http: HttpClient, scenario: Scenario) -> None:
    """One scenario of kubernetes-sigs/ingress-controller-conformance
    features/path_rules.feature (its Background Ingress `path-rules`, hosts exact-, prefix-,
    mixed- and trailing-slash-path-rules). "Must be served by X, request path must be P":
    served by X with the path unchanged. "Status-code must be 404": none of the case's
    backends answers (the 404 itself is test_unmatched_path_answered_404, extended).
    Upstream lists "prefix /foo matches request /foo/" twice; both copies are kept
    (`prefix-foo-matches-foo-slash` and `prefix-foo-matches-foo-slash-again`)."""
    host = site.host(scenario.host)

    def check() -> None:
        if scenario.service is None:
            not_served(http, host, scenario.request, site.namespace)
        else:
            served_by(http, host, scenario.request, scenario.service,
                      namespace=site.namespace)
    eventually(check, f"upstream scenario {scenario.id}", recheck())


UNMATCHED = ([pytest.param(s.host, s.request, id=f"upstream-{s.id}")
              for s in UPSTREAM_SCENARIOS if s.service is None]
             + [pytest.param(r.label, r.requests[0], id=f"docs-{r.id}")
                for r in DOCS_TABLE if r.winner is None])


@pytest.mark.level("extended")
@pytest.mark.parametrize(("label", "request_path"), UNMATCHED)
def test_unmatched_path_answered_404(site: Site, http: HttpClient, label: str,
                                     request_path: str, no_catch_all: None) -> None:
    """A request whose host has rules but none whose path matches, with no default backend
    anywhere, gets 404: the upstream scenarios' "the response status-code must be 404", and
    the docs table's "No" rows ("uses default backend": there is none)."""
    eventually(lambda: status_is(http, site.host(label), request_path, 404),
               f"{request_path} on {label}: 404", recheck())


# ---- 3. precedence across Ingresses ------------------------------------------------------


# Extended, not core: the docs' "Multiple matches" speaks only of "multiple paths within an
# Ingress"; nothing in the spec says how the rules of several Ingresses for one host combine.


@pytest.mark.level("extended")
@pytest.mark.parametrize("label", ["longest-in-first", "longest-in-second"])
def test_longest_prefix_wins_across_ingresses(site: Site, http: HttpClient, label: str) -> None:
    """`/foo` Prefix in one Ingress and `/foo/bar` Prefix in another, same host: the longest
    matching path wins whichever Ingress holds it. The docs' "Multiple matches" ("precedence
    will be given first to the longest matching path") speaks of the paths of an Ingress;
    controllers merge the rules of every Ingress for a host (ingress-nginx: one server
    block), so users expect the same precedence across them (extended: what users rely on,
    not what the spec says). `/foo/barbaz` is not under `/foo/bar` (Prefix matches
    element-wise)."""
    def check() -> None:
        for request, service in LONGEST_EXPECTED:
            served_by(http, site.host(label), request, service, namespace=site.namespace)
    eventually(check, f"longest path across Ingresses ({label})", recheck())


@pytest.mark.level("extended")
@pytest.mark.parametrize("label", ["exact-in-first", "exact-in-second"])
def test_exact_beats_prefix_across_ingresses(site: Site, http: HttpClient, label: str) -> None:
    """`/foo` Exact in one Ingress and `/foo` Prefix in another, same host: `/foo` goes to
    the Exact rule whichever Ingress holds it, `/foo/` and `/foo/x` to the Prefix rule (the
    docs' "Multiple matches": "precedence will be given to paths with an exact path type
    over prefix path type", applied to the merged rules of the host as above)."""
    def check() -> None:
        for request, service in EXACT_EXPECTED:
            served_by(http, site.host(label), request, service, namespace=site.namespace)
    eventually(check, f"Exact over Prefix across Ingresses ({label})", recheck())


def test_exact_beats_a_prefix_that_differs_by_a_trailing_slash(site: Site,
                                                               http: HttpClient) -> None:
    """Prefix `/foo/` and Exact `/foo` in one Ingress: `/foo` goes to the Exact rule, `/foo/`
    and `/foo/x` to the Prefix rule. Prefix `/foo/` matches `/foo` ("ignores trailing slash",
    the docs' table), over the same path as Exact `/foo`, so "if two paths are still equally
    matched, precedence will be given to paths with an exact path type" decides; a trailing
    slash does not make the Prefix path the longer match."""
    def check() -> None:
        for request, service in SLASH_EXPECTED:
            served_by(http, site.host(SLASH_HOST), request, service, namespace=site.namespace)
    eventually(check, "Exact /foo over Prefix /foo/", recheck())


# ---- 4. ImplementationSpecific ----------------------------------------------------------------


@pytest.mark.level("implementation-specific")
def test_implementation_specific_path(site: Site, http: HttpClient) -> None:
    """`/foo` ImplementationSpecific: "matching is up to the IngressClass" (HTTPIngressPath
    pathType). Recorded for /foo, /foo/, /foo/bar, /foobar and /FOO: whether the rule's
    backend answered, and the status."""
    host = site.host(IMPL_HOST)
    backend = svc("/foo", IMPL)
    eventually(lambda: served_by(http, host, IMPL_SENTINEL, svc(IMPL_SENTINEL, PREFIX)),
               "the ImplementationSpecific Ingress is served", recheck())
    for request in IMPL_REQUESTS:
        try:
            resp = http.get(host, request)
        except OSError as exc:
            record.observe(request, f"error ({type(exc).__name__}: {exc})")
            continue
        echo = resp.echo
        matched = (echo is not None and echo.namespace == site.namespace
                   and echo.service == backend)
        record.observe(request, f"{'matched' if matched else 'not matched'} ({resp.status})")


# ---- 5. the request path reaches the backend unchanged ------------------------------------


PASSTHROUGH = [
    pytest.param(PASSTHROUGH_HOST, "/foo?q=1&r=a%20b", "foo-prefix", id="prefix-with-query"),
    pytest.param(PASSTHROUGH_HOST, "/foo/a%20b", "foo-prefix", id="encoded-space"),
    pytest.param(PASSTHROUGH_HOST, "/foo/caf%C3%A9", "foo-prefix", id="encoded-utf8"),
    pytest.param(PASSTHROUGH_HOST, "/foo/x%20y?q=caf%C3%A9&q=a+b", "foo-prefix",
                 id="encoded-path-and-query"),
    pytest.param("exact-path-rules", "/foo?q=1", "foo-exact", id="exact-with-query"),
]


@pytest.mark.level("extended")
@pytest.mark.parametrize(("label", "request_target", "service"), PASSTHROUGH)
def test_request_path_unchanged(site: Site, http: HttpClient, label: str,
                                request_target: str, service: str) -> None:
    """The backend receives the request-target as the client sent it: the query string
    kept, percent-encoded characters left encoded, nothing rewritten (no rewrite annotation
    is set; users rely on it, the Ingress spec does not say). The query is not part of the
    path matched: `/foo?q=1` matches `/foo` Exact."""
    eventually(lambda: served_by(http, site.host(label), request_target, service,
                                 namespace=site.namespace),
               f"{request_target} unchanged", recheck())
