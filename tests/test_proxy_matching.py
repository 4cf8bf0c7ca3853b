"""The proxy's pure routing decisions: the Kubernetes docs' examples, host rules, path
normalisation, and property tests against a deliberately naive oracle; and the other pure
parts of the proxy (request framing checks, header rewriting)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.proxy.framing import examine, framing_problem
from simulator.proxy.headers import (
    ClientInfo,
    forward_request_headers,
    forward_response_headers,
    serialize,
)
from simulator.proxy.matching import MatchKind, RouteIndex, match
from simulator.proxy.uri import (
    Target,
    normalize_host,
    parse_target,
    path_segments,
    remove_dot_segments,
)
from simulator.routing import (
    Backend,
    Endpoint,
    HostRoutes,
    PathRule,
    PathType,
    RoutingTable,
    group_key,
    host_groups,
    sort_paths,
)

EXACT, PREFIX, IMPL = PathType.EXACT, PathType.PREFIX, PathType.IMPLEMENTATION_SPECIFIC
DEFAULT = Backend("ns", "default", "80", (Endpoint("10.0.0.1", 80),))


def backend(name: str) -> Backend:
    return Backend("ns", name, "80", (Endpoint("10.0.0.2", 80),))


def rule(path: str, path_type: PathType = PREFIX, name: str | None = None) -> PathRule:
    return PathRule(path, path_type, backend(name or f"{path_type.value}:{path}"))


def table(*groups: tuple[str, list[PathRule]], default: Backend | None = DEFAULT) -> RoutingTable:
    return RoutingTable(
        hosts=tuple(HostRoutes(host, sort_paths(rules)) for host, rules in groups),
        default_backend=default)


# https://kubernetes.io/docs/concepts/services-networking/ingress/#examples, all 18 rows:
# (kind, rule paths, request paths, the rule that must win or None for "no match").
P, E = PREFIX, EXACT
EXAMPLES = [
    ("Prefix", [("/", P)], ["/", "/foo", "/foo/bar/", "/a/b/c"], ("/", P)),
    ("Exact", [("/foo", E)], ["/foo"], ("/foo", E)),
    ("Exact", [("/foo", E)], ["/bar"], None),
    ("Exact", [("/foo", E)], ["/foo/"], None),
    ("Exact", [("/foo/", E)], ["/foo"], None),
    ("Prefix", [("/foo", P)], ["/foo", "/foo/"], ("/foo", P)),
    ("Prefix", [("/foo/", P)], ["/foo", "/foo/"], ("/foo/", P)),
    ("Prefix", [("/aaa/bb", P)], ["/aaa/bbb"], None),
    ("Prefix", [("/aaa/bbb", P)], ["/aaa/bbb"], ("/aaa/bbb", P)),
    ("Prefix", [("/aaa/bbb/", P)], ["/aaa/bbb"], ("/aaa/bbb/", P)),  # ignores trailing slash
    ("Prefix", [("/aaa/bbb", P)], ["/aaa/bbb/"], ("/aaa/bbb", P)),  # matches trailing slash
    ("Prefix", [("/aaa/bbb", P)], ["/aaa/bbb/ccc"], ("/aaa/bbb", P)),  # matches subpath
    ("Prefix", [("/aaa/bbb", P)], ["/aaa/bbbxyz"], None),  # not a string prefix
    ("Prefix", [("/", P), ("/aaa", P)], ["/aaa/ccc"], ("/aaa", P)),
    ("Prefix", [("/", P), ("/aaa", P), ("/aaa/bbb", P)], ["/aaa/bbb"], ("/aaa/bbb", P)),
    ("Prefix", [("/", P), ("/aaa", P), ("/aaa/bbb", P)], ["/ccc"], ("/", P)),
    ("Prefix", [("/aaa", P)], ["/ccc"], None),  # uses default backend
    ("Mixed", [("/foo", P), ("/foo", E)], ["/foo"], ("/foo", E)),  # prefers Exact
]


def test_examples_table_is_complete() -> None:
    assert len(EXAMPLES) == 18


@pytest.mark.parametrize(("kind", "rules", "requests", "winner"), EXAMPLES,
                         ids=[f"{i + 1:02d}-{row[0]}-{row[2][0]}" for i, row in
                              enumerate(EXAMPLES)])
def test_kubernetes_docs_examples(kind: str, rules: list[tuple[str, PathType]],
                                  requests: list[str],
                                  winner: tuple[str, PathType] | None) -> None:
    t = table(("foo.example", [rule(p, pt) for p, pt in rules]))
    for request in requests:
        m = match(t, "foo.example", request)
        if winner is None:
            assert m.kind is MatchKind.DEFAULT and m.backend == DEFAULT, request
        else:
            assert m.kind is MatchKind.RULE, request
            assert m.rule is not None and (m.rule.path, m.rule.path_type) == winner, request


def test_exact_wins_over_a_prefix_that_differs_only_by_its_trailing_slash() -> None:
    """Prefix "/foo/" matches "/foo" over the same length as Exact "/foo" (its trailing slash
    is ignored), so the two are "equally matched" and Exact wins; "/foo/x" is Prefix's."""
    t = table(("foo.example", [rule("/foo/", P), rule("/foo", E)]))
    assert match(t, "foo.example", "/foo").rule == rule("/foo", E)
    assert match(t, "foo.example", "/foo/").rule == rule("/foo/", P)
    assert match(t, "foo.example", "/foo/x").rule == rule("/foo/", P)
    # a longer Prefix still beats a shorter Exact
    t = table(("foo.example", [rule("/foo/bar/", P), rule("/foo", E)]))
    assert match(t, "foo.example", "/foo/bar").rule == rule("/foo/bar/", P)


def test_implementation_specific_is_prefix() -> None:
    t = table(("", [rule("/foo", IMPL), rule("", IMPL, name="root")]))
    assert match(t, "x", "/foo/bar").rule == rule("/foo", IMPL)
    assert match(t, "x", "/foobar").rule == rule("", IMPL, name="root")  # "" means "/"


# -- hosts ----------------------------------------------------------------------------------

HOSTS = table(
    ("foo.bar.com", [rule("/", name="exact")]),
    ("*.foo.com", [rule("/", name="wildcard")]),
    ("", [rule("/hostless", name="hostless")]),
    default=None,
)


@pytest.mark.parametrize(("host", "expected"), [
    ("foo.bar.com", "exact"),
    ("FOO.Bar.COM", "exact"),  # RFC 9110 4.2.3: case-insensitive
    ("foo.bar.com:8080", "exact"),  # the port is ignored
    ("foo.bar.com.", "exact"),  # a trailing dot names the same host
    ("foo.bar.com.:80", "exact"),
    ("bar.foo.com", "wildcard"),  # shared suffix, one label
    ("BAR.foo.com:1", "wildcard"),
    ("baz.bar.foo.com", None),  # wildcard covers a single label only
    ("foo.com", None),  # ... and not zero labels
    (".foo.com", None),
    ("subdomain.bar.com", None),
])
def test_host_rules(host: str, expected: str | None) -> None:
    m = match(HOSTS, host, "/")
    assert (m.backend.service if m.backend else None) == expected


def test_host_less_rules_apply_to_any_host() -> None:
    for host in ("baz.bar.foo.com", "[::1]:8080", "127.0.0.1:80", "", "other"):
        m = match(HOSTS, host, "/hostless/x")
        assert m.backend is not None and m.backend.service == "hostless", host
        assert m.host_group == ""


def test_ipv6_literal_host() -> None:
    t = table(("[::1]", [rule("/", name="v6")]), default=None)
    assert normalize_host("[::1]:8080") == "[::1]"
    assert match(t, "[::1]:8080", "/").backend == backend("v6")
    assert match(t, "[::1]", "/").backend == backend("v6")
    assert not match(t, "[::2]", "/").found


def test_no_rule_and_no_default_is_none() -> None:
    m = match(table(("a.example", [rule("/x")]), default=None), "a.example", "/y")
    assert m.kind is MatchKind.NONE and m.backend is None and not m.found


def test_host_group_is_isolated_no_fallthrough() -> None:
    """A host that matches a group is routed by that group only: a path miss goes to the
    default backend, never to a wildcard or host-less rule (see matching's docstring)."""
    t = table(
        ("a.foo.com", [rule("/only", name="exact")]),
        ("*.foo.com", [rule("/", name="wildcard")]),
        ("", [rule("/", name="hostless")]),
    )
    assert match(t, "a.foo.com", "/only").backend == backend("exact")
    miss = match(t, "a.foo.com", "/other")
    assert miss.kind is MatchKind.DEFAULT and miss.host_group == "a.foo.com"
    assert match(t, "b.foo.com", "/other").backend == backend("wildcard")
    t2 = table(("*.foo.com", [rule("/w")]), ("", [rule("/", name="hostless")]), default=None)
    assert match(t2, "b.foo.com", "/x").kind is MatchKind.NONE
    assert match(t2, "foo.com", "/x").backend == backend("hostless")


def test_duplicate_host_groups_are_merged() -> None:
    t = RoutingTable(hosts=(HostRoutes("a.example", (rule("/a"),)),
                            HostRoutes("A.example", (rule("/a/b"),))))
    assert match(t, "a.example", "/a/b/c").rule == rule("/a/b")
    assert match(t, "a.example", "/a/x").rule == rule("/a")


def test_host_groups_key_merge_and_order() -> None:
    assert [group_key(h) for h in [" Foo.COM. ", "*.A.test", "a.test..", "", " "]] == \
        ["foo.com", "*.a.test", "a.test.", "", ""]
    once = (rule("/b"), rule("/a/b"))  # a group listed once keeps its rules as given
    t = RoutingTable(hosts=(HostRoutes("x.test", (rule("/x"),)),
                            HostRoutes("", once),
                            HostRoutes("A.example.", (rule("/a", name="first"), rule("/a/b"))),
                            HostRoutes("a.example", (rule("/a/b/c"), rule("/a", EXACT),
                                                     rule("/a", name="second")))))
    groups = host_groups(t)
    assert list(groups) == ["x.test", "", "a.example"]  # table order, one key per group
    assert groups[""] == once and groups["x.test"] == (rule("/x"),)
    # merged and re-sorted with sort_paths: stable, so equal rules keep the table's order
    assert groups["a.example"] == (rule("/a/b/c"), rule("/a/b"), rule("/a", EXACT),
                                   rule("/a", name="first"), rule("/a", name="second"))
    assert host_groups(RoutingTable()) == {}


# -- paths ----------------------------------------------------------------------------------

PATHS = table(("", [rule("/public", name="public"), rule("/admin", name="admin"),
                    rule("/a/b", name="ab"), rule("/x", EXACT, name="x"),
                    rule("/café", name="cafe")]), default=None)


@pytest.mark.parametrize(("path", "expected"), [
    ("/public/../admin", "admin"),  # RFC 3986 5.2.4: never the /public backend
    ("/public/%2e%2e/admin", "admin"),  # encoded dots are dots (RFC 3986 6.2.2.2)
    ("/public/%2E%2E/admin/x", "admin"),
    ("/public/./x", "public"),
    ("/x/../public", "public"),
    ("/../../public", "public"),  # never above the root
    ("/a%2Fb", None),  # %2F is data, not a separator
    ("/a%2fb/c", None),
    ("/a/b%2F..%2F..%2Fadmin", None),  # one segment "b/../../admin": neither b nor admin
    ("/a/%62", "ab"),  # %62 is "b"
    ("/x?y=1", "x"),  # query stripped
    ("/x#frag", "x"),
    ("/public?/admin", "public"),
    ("/x/", None),  # Exact: the trailing slash counts
    ("/X", None),  # case-sensitive
    ("/caf%C3%A9/menu", "cafe"),
    ("/publicity", None),
    ("/public/", "public"),
    ("/public/..", None),  # -> "/"
    ("http://any.example/admin/x?q", "admin"),  # absolute-form request-target
])
def test_path_normalisation(path: str, expected: str | None) -> None:
    m = match(PATHS, "h", path)
    assert (m.backend.service if m.backend else None) == expected


def test_path_segments() -> None:
    assert path_segments("/") == ("", "")
    assert path_segments("/a/b/..") == ("", "a", "")
    assert path_segments("/a%2Fb") == ("", "a/b")
    assert path_segments("/a/./b/../c") == ("", "a", "c")
    assert path_segments("/%zz") == ("", "%zz")  # an invalid escape stays as written


@pytest.mark.parametrize(("target", "origin", "authority"), [
    ("/p?q=1", "/p?q=1", None),
    ("http://h.example/p?q", "/p?q", "h.example"),
    ("HTTPS://H.example:8443", "/", "H.example:8443"),
    ("http://h?q=/x", "/?q=/x", "h"),
    ("http://[::1]:80/a", "/a", "[::1]:80"),
])
def test_parse_target(target: str, origin: str, authority: str | None) -> None:
    assert parse_target(target) == Target(origin, authority)


@pytest.mark.parametrize("target", ["*", "h.example:443", "ftp://h/p", "p"])
def test_parse_target_refuses_other_forms(target: str) -> None:
    assert parse_target(target) is None


def rfc3986_remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, transcribed step by step over strings (the oracle)."""
    inp, out = path, ""
    while inp:
        if inp.startswith("../"):
            inp = inp[3:]
        elif inp.startswith("./"):
            inp = inp[2:]
        elif inp.startswith("/./"):
            inp = "/" + inp[3:]
        elif inp == "/.":
            inp = "/"
        elif inp.startswith("/../"):
            inp = "/" + inp[4:]
            out = out[: out.rfind("/")] if "/" in out else ""
        elif inp == "/..":
            inp = "/"
            out = out[: out.rfind("/")] if "/" in out else ""
        elif inp in (".", ".."):
            inp = ""
        else:
            start = 1 if inp.startswith("/") else 0
            end = inp.find("/", start)
            end = len(inp) if end < 0 else end
            out += inp[:end]
            inp = inp[end:]
    return out


@given(st.lists(st.sampled_from(["a", "b", ".", "..", "", "c.d", "..."]), max_size=8))
def test_remove_dot_segments_matches_rfc(segments: list[str]) -> None:
    path = "/" + "/".join(segments)
    assert "/".join(remove_dot_segments(path.split("/"))) == rfc3986_remove_dot_segments(path)


# -- property test against a naive oracle ---------------------------------------------------

LABELS = ["a", "b", "foo"]
RULE_SEGMENTS = ["a", "b", "aa", "é"]
REQUEST_TOKENS = ["a", "b", "aa", "ab", "é", "%C3%A9", ".", "..", "%2e%2E", "%2F", "%2f",
                  "%25", "2F", "%252F", "a%2F..", "%2F..", "%61", "", "A", "%zz"]


def oracle_decode(path: str) -> str:
    """Percent-decode a whole path at once, turning %2F into NUL (data that no rule has)."""
    path = re.split(r"[?#]", path, maxsplit=1)[0]
    out = bytearray()
    i = 0
    while i < len(path):
        esc = re.match(r"%([0-9A-Fa-f]{2})", path[i:])
        if esc:
            byte = int(esc.group(1), 16)
            out += b"\0" if byte == 0x2F else bytes([byte])
            i += 3
        else:
            out += path[i].encode()
            i += 1
    return out.decode("utf-8", "surrogateescape")


def oracle(t: RoutingTable, host: str, path: str) -> Backend | None:
    """Brute force with plain string comparisons: score every group, then every rule."""
    h = host.lower()
    h = re.sub(r":[0-9]*$", "", h)
    if h.endswith("."):
        h = h[:-1]
    best, best_score = None, -1
    for group in t.hosts:
        if group.host == h and h:
            score = 2
        elif group.host.startswith("*.") and h.endswith(group.host[1:]) \
                and h[: -len(group.host) + 1] and "." not in h[: -len(group.host) + 1]:
            score = 1
        elif group.host == "":
            score = 0
        else:
            continue
        if score > best_score:
            best, best_score = group, score
    if best is not None:
        norm = rfc3986_remove_dot_segments(oracle_decode(path))
        candidates = []
        for r in best.paths:
            if r.path_type is EXACT:
                hit = norm == r.path
            else:
                p = r.path.rstrip("/")
                hit = p == "" or norm == p or norm.startswith(p + "/")
            if hit:
                candidates.append(r)
        if candidates:
            # the longest matching path: what the rule matches, so a Prefix rule's trailing
            # slash does not count; then Exact over Prefix
            return max(candidates, key=lambda r: (
                len(r.path if r.path_type is EXACT else r.path.rstrip("/")),
                r.path_type is EXACT)).backend
    return t.default_backend


rule_paths = st.lists(st.sampled_from(RULE_SEGMENTS), min_size=0, max_size=3).flatmap(
    lambda segs: st.sampled_from(["/" + "/".join(segs)] + (["/" + "/".join(segs) + "/"]
                                                           if segs else [])))
rules = st.lists(st.tuples(rule_paths, st.sampled_from([EXACT, PREFIX, IMPL])),
                 max_size=6, unique_by=lambda r: (r[0], r[1] is EXACT))
host_names = st.lists(st.sampled_from(LABELS), min_size=1, max_size=3).map(".".join)
group_hosts = st.one_of(host_names, host_names.map(lambda h: "*." + h), st.just(""))


@st.composite
def tables(draw: st.DrawFn) -> RoutingTable:
    hosts = draw(st.lists(group_hosts, max_size=5, unique=True))
    groups = []
    for host in hosts:
        prs = [PathRule(p, pt, backend(f"{host}|{pt.value}|{p}")) for p, pt in draw(rules)]
        groups.append(HostRoutes(host, sort_paths(prs)))
    default = draw(st.sampled_from([None, DEFAULT]))
    return RoutingTable(hosts=tuple(groups), default_backend=default)


def decorate_host(draw: st.DrawFn, host: str) -> str:
    host = "".join(c.upper() if draw(st.booleans()) else c for c in host)
    return host + draw(st.sampled_from(["", ".", ":8080", ".:1", ":"]))


@st.composite
def cases(draw: st.DrawFn) -> tuple[RoutingTable, str, str]:
    """A table, a Host and a request path; the host and path are usually derived from the
    table's own names and rules so that every branch gets exercised."""
    t = draw(tables())
    names = [g.host for g in t.hosts if g.host]
    host = draw(host_names)
    if names and draw(st.integers(0, 3)):
        host = draw(st.sampled_from(names))
        if host.startswith("*."):
            host = draw(st.sampled_from(["x", "", "x.y"])) + host[1:]
    rule_paths = [r.path for g in t.hosts for r in g.paths]
    tokens = draw(st.lists(st.sampled_from(REQUEST_TOKENS), max_size=4))
    base = draw(st.sampled_from(rule_paths)) if rule_paths and draw(st.booleans()) else ""
    path = base.rstrip("/") + "/" + "/".join(tokens) if tokens else (base or "/")
    path = draw(st.sampled_from([path, path + "?q=/a/b", path + "/"]))
    return t, decorate_host(draw, host), path


@settings(max_examples=1000, deadline=None)
@given(cases())
def test_match_agrees_with_oracle(case: tuple[RoutingTable, str, str]) -> None:
    t, host, path = case
    assert match(t, host, path).backend == oracle(t, host, path)


@settings(max_examples=200, deadline=None)
@given(cases())
def test_route_index_is_match(case: tuple[RoutingTable, str, str]) -> None:
    t, host, path = case
    index = RouteIndex(t)
    assert index.match(host, path) == match(t, host, path)


# -- framing and headers -------------------------------------------------------------------

@pytest.mark.parametrize(("headers", "version", "problem"), [
    ([(b"Host", b"a")], "1.1", None),
    ([(b"Host", b"a"), (b"Content-Length", b"4")], "1.0", None),
    ([(b"Host", b"a"), (b"Transfer-Encoding", b"Chunked ")], "1.1", None),
    ([(b"Content-Length", b"4"), (b"Transfer-Encoding", b"chunked")], "1.1",
     "both Content-Length and Transfer-Encoding"),
    ([(b"Content-length", b"4"), (b"CONTENT-LENGTH", b"4")], "1.1", "duplicate Content-Length"),
    ([(b"Content-Length", b"4, 4")], "1.1", "Content-Length with several values"),
    ([(b"Transfer-Encoding", b"chunked")], "1.0", "Transfer-Encoding in an HTTP/1.0 request"),
    ([(b"Transfer-Encoding", b"gzip, chunked")], "1.1", "unsupported Transfer-Encoding"),
    ([(b"Transfer-Encoding", b"chunked")] * 2, "1.1", "Transfer-Encoding repeated"),
    ([(b"Host", b"a")], "0.9", "unsupported HTTP version"),
    ([(b"Host", b"a")], "2.0", "unsupported HTTP version"),
])
def test_framing_problem(headers: list[tuple[bytes, bytes]], version: str,
                         problem: str | None) -> None:
    assert framing_problem(headers, version) == problem


def test_examine_reads_hosts_and_body_framing() -> None:
    framing = examine([(b"host", b"a"), (b"HOST", b"b"), (b"Content-Length", b"000")], "1.1")
    assert framing.hosts == [b"a", b"b"] and framing.content_length == b"000"
    assert not framing.has_body and not framing.chunked
    assert examine([(b"Content-Length", b"10")], "1.1").has_body
    assert examine([(b"Transfer-Encoding", b"chunked")], "1.1").has_body
    assert not examine([], "1.1").has_body


def test_forward_request_headers() -> None:
    client = ClientInfo("10.0.0.1", "https", 8443)
    out = forward_request_headers(
        [(b"Host", b"a.example"), (b"Connection", b"keep-alive, X-Hop"), (b"X-Hop", b"1"),
         (b"x-forwarded-for", b"192.0.2.1"), (b"X-Real-IP", b"6.6.6.6"), (b"Expect", b"100"),
         (b"Proxy-Foo", b"1"), (b"TE", b"trailers"), (b"X-Keep", b"yes")],
        client, b"a.example:8443", b"id-1", chunked=True, host=b"b.example")
    assert out == [
        (b"Host", b"b.example"), (b"X-Keep", b"yes"),
        (b"X-Forwarded-For", b"192.0.2.1, 10.0.0.1"), (b"X-Forwarded-Proto", b"https"),
        (b"X-Forwarded-Host", b"a.example:8443"), (b"X-Forwarded-Port", b"8443"),
        (b"X-Real-IP", b"10.0.0.1"), (b"X-Request-ID", b"id-1"),
        (b"Transfer-Encoding", b"chunked"),
    ]
    assert serialize(out[:2]) == b"Host: b.example\r\nX-Keep: yes\r\n"


def test_forward_response_headers() -> None:
    assert forward_response_headers([
        (b"Server", b"x"), (b"Connection", b"close, X-Gone"), (b"x-gone", b"1"),
        (b"Keep-Alive", b"timeout=5"), (b"Transfer-Encoding", b"chunked"),
        (b"Proxy-Authenticate", b"Basic"), (b"Content-Length", b"2"),
    ]) == [(b"Server", b"x"), (b"Content-Length", b"2")]
