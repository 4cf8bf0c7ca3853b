"""The HAProxy data plane: the pure renderer (golden files, `haproxy -c` on every rendering,
the rendered routing rules interpreted against the reference matcher) and the supervisor
driving a real HAProxy on loopback with real backends (the Kubernetes docs path table,
hosts, path normalisation, TLS per SNI with a default certificate, 421, 404/502/503, runtime
API endpoint changes and draining, reloads under load, a refused configuration, stop).

The end-to-end tests are skipped (with the install hint) only when haproxy is missing.
Golden files: `UPDATE_GOLDEN=1 python -m pytest tests/test_dataplane_haproxy.py` rewrites
them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.harness.client import HttpClient, Response, dns_names
from conformance.harness.load import OpenLoop
from simulator.dataplanes import haproxy_process
from simulator.dataplanes.base import free_port
from simulator.dataplanes.haproxy import (
    NO_ROUTE,
    HAProxySettings,
    certificate_id,
    path_conditions,
    plan_backends,
    render_crt_list,
    render_haproxy_cfg,
    wildcard_regex,
    word,
)
from simulator.dataplanes.haproxy_process import (
    HAProxyDataPlane,
    parse_show_proc,
    skeleton,
)
from simulator.proxy.matching import match, rule_matches
from simulator.proxy.tls import DEFAULT_COMMON_NAME
from simulator.proxy.uri import normalize_host, path_segments, split_target
from simulator.routing import (
    Backend,
    Certificate,
    Endpoint,
    HostRoutes,
    PathRule,
    PathType,
    RoutingTable,
    sort_paths,
)

from . import dataplane_support
from .dataplane_support import (
    EXACT,
    FAKE_BROKEN,
    HOSTS,
    IMPL,
    PATHS,
    PREFIX,
    SEGMENTS,
    Backends,
    EchoHandler,
    apply_fresh,
    check_golden,
    fixed,
    fresh_version,
    golden_tables,
    group,
    locate,
    raw_request,
    rule_path,
    running,
    tls_certificate,
)
from .test_proxy_matching import EXAMPLES, cases

GOLDEN = Path(__file__).parent / "fixtures" / "dataplanes" / "haproxy"
WORK = "/var/lib/ingress-sim/haproxy"

HAPROXY, MISSING = locate("haproxy")
needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason=MISSING)


# -- the pure renderer --------------------------------------------------------------------------

# The wildcard certificate also names a.shop.test, which FAKE_A (listed first) owns: the
# crt-list names it once (test_crt_list_default_first_and_names_owned_once).
FAKE_W = Certificate(("*.w.shop.test", "a.shop.test"), b"CERT-W", b"KEY-W", "shop/tls-w")

GOLDEN_TABLES: dict[str, RoutingTable] = {
    # The groups listed host-less first, exact last: the renderer orders them itself; and a
    # path that needs quoting.
    **golden_tables(FAKE_W, hosts=HOSTS[::-1], paths=(
        *PATHS, ('/odd "quoted" $path', EXACT, fixed("odd", "10.0.1.8")))),
    "draining": RoutingTable(
        hosts=(group("drain.test",
                     ("/mixed", PREFIX, fixed("mixed", "10.0.6.1", "10.0.6.2", "10.0.6.3",
                                              terminating=(1,))),
                     ("/old", PREFIX, fixed("old", "10.0.6.4", terminating=(0,)))),)),
}


def golden_settings(table: RoutingTable, work: str = WORK,
                    files: dict[str, str] | None = None) -> HAProxySettings:
    if files is None:  # every certificate but the broken one "loads"
        files = {certificate_id(c): f"{work}/certificates/{certificate_id(c)}.pem"
                 for c in table.certificates if c is not FAKE_BROKEN}
    return HAProxySettings(
        http_bind=("127.0.0.1", 8080),
        https_bind=("127.0.0.1", 8443) if table.certificates else None,
        admin_socket=f"{work}/admin.sock", crt_list=f"{work}/crt-list.txt",
        default_certificate=f"{work}/default.pem", certificates=files)


@pytest.mark.parametrize("name", sorted(GOLDEN_TABLES))
def test_golden(name: str) -> None:
    table = GOLDEN_TABLES[name]
    check_golden(GOLDEN / f"{name}.cfg", render_haproxy_cfg(table, golden_settings(table)))
    if table.certificates:
        check_golden(GOLDEN / f"{name}.crt-list",
                     render_crt_list(table, golden_settings(table)))


def test_render_is_deterministic_and_pure() -> None:
    table = GOLDEN_TABLES["tls"]
    assert render_haproxy_cfg(table, golden_settings(table)) == \
        render_haproxy_cfg(table, golden_settings(table))


def test_crt_list_default_first_and_names_owned_once() -> None:
    table = GOLDEN_TABLES["tls"]
    lines = [x for x in render_crt_list(table, golden_settings(table)).splitlines()
             if not x.startswith("#")]
    assert lines[0] == f"{WORK}/default.pem default.ingress-sim.invalid"
    # a.shop.test belongs to the first certificate listing it (the reference's TLSIndex)
    assert lines[1].endswith(" a.shop.test b.shop.test")
    assert lines[2].endswith(" *.w.shop.test")
    assert len(lines) == 3  # the broken certificate is left out


def test_quoting_and_patterns() -> None:
    assert word("/plain/path-1.2_~") == "/plain/path-1.2_~"
    assert word('/a "b"\\c $x') == '"/a \\"b\\"\\\\c \\$x"'
    assert word("/café") == '"/caf\\xc3\\xa9"'
    assert word("") == '""'
    assert wildcard_regex("*.foo-1.com") == "^[^.]+[.]foo\\-1[.]com$"
    assert path_conditions(PathRule("/", PREFIX, fixed("x"))) is None
    assert path_conditions(PathRule("", IMPL, fixed("x"))) is None
    assert path_conditions(PathRule("/a/", PREFIX, fixed("x"))) == [("str", "/a"),
                                                                   ("beg", "/a/")]
    assert path_conditions(PathRule("/a/", EXACT, fixed("x"))) == [("str", "/a/")]


def test_slots_double_until_the_endpoints_fit() -> None:
    table = RoutingTable(default_backend=fixed("d", *[f"10.0.0.{i}" for i in range(5)]))
    settings = golden_settings(table)
    assert plan_backends(table, settings)["shop/d:80"].capacity == 8  # min_slots 4, doubled
    kept = dataclasses.replace(settings, slots={"shop/d:80": 10})  # what the supervisor had
    assert plan_backends(table, kept)["shop/d:80"].capacity == 10


def test_skeleton_ignores_endpoints_only() -> None:
    a = GOLDEN_TABLES["hosts"]
    b = dataclasses.replace(a, version=99, default_backend=fixed("default", "10.9.9.9"))
    assert skeleton(a) == skeleton(b)
    c = dataclasses.replace(a, default_backend=fixed("other", "10.0.0.9"))
    assert skeleton(a) != skeleton(c)


def test_parse_show_proc() -> None:
    text = ("#<PID>          <type>          <reloads>       <uptime>        <version>\n"
            "9674            master          3 [failed: 1]   0d00h10m12s     2.6.12\n"
            "# workers\n2058            worker          0               0d00h00m00s     2.6\n"
            "# old workers\n1999            worker          1               0d00h00m03s     2.6\n"
            "# programs\n\n")
    state = parse_show_proc(text)
    assert (state.reloads, state.failed, state.workers, state.old_workers) == \
        (3, 1, (2058,), (1999,))


# An interpreter for the rendered routing rules (acl / use_backend / default_backend over
# txn.host and txn.path), to hold them against the reference matcher for any table.

_WORD = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')


def _unquote(text: str) -> str:
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "\\":
            nxt = text[i + 1]
            if nxt == "x":
                out.append(int(text[i + 2:i + 4], 16))
                i += 4
                continue
            out += b"\n" if nxt == "n" else nxt.encode()
            i += 2
            continue
        out += text[i].encode()
        i += 1
    return out.decode("utf-8", "surrogateescape")


def _words(line: str) -> list[str]:
    words = []
    for m in _WORD.finditer(line):
        quoted, bare = m.groups()
        words.append(_unquote(quoted) if bare is None else bare)
    return words


def route_like_haproxy(config: str, host: str, path: str) -> str:
    """The backend the frontend's use_backend rules pick, given HAProxy's txn.host (host_only,
    lower, one trailing dot dropped) and txn.path (decoded, dot segments removed, an encoded
    `/` kept as the text `%2F`)."""
    txn = {"var(txn.host)": normalize_host(host),
           "var(txn.path)": "/".join(s.replace("/", "%2F")
                                     for s in path_segments(split_target(path)))}
    acls: dict[str, list[tuple[str, str, list[str]]]] = {}
    in_frontend = False
    for raw in config.splitlines():
        if not raw.startswith("    "):
            in_frontend = raw.startswith("frontend ")
            continue
        if not in_frontend or raw.strip().startswith("#"):
            continue
        words = _words(raw.strip())
        if words[0] == "acl" and words[2] in txn:
            acls.setdefault(words[1], []).append((words[2], words[4], words[5:]))
        elif words[0] == "use_backend":
            conds = words[3:] if len(words) > 2 else []
            if all(_acl_true(acls, txn, c) for c in conds):
                return words[1]
        elif words[0] == "default_backend":
            return words[1]
    raise AssertionError("no default_backend")


def _acl_true(acls: dict, txn: dict, cond: str) -> bool:
    negate = cond.startswith("!")
    name = cond.lstrip("!")
    hit = False
    for fetch, method, patterns in acls[name]:
        value = txn[fetch]
        for p in patterns:
            if method == "str":
                hit |= value == p
            elif method == "beg":
                hit |= value.startswith(p)
            elif method == "reg":
                hit |= re.search(p, value) is not None
    return hit != negate


@settings(max_examples=600, deadline=None)
@given(cases())
def test_rendered_rules_agree_with_the_reference(case: tuple[RoutingTable, str, str]) -> None:
    """For the reference matcher's own property-test tables, hosts and paths: the rendered
    rules pick the backend `match` picks (host groups, no fallthrough, precedence, Exact vs
    element-wise Prefix, default backend or 404)."""
    table, host, path = case
    settings_ = golden_settings(table)
    config = render_haproxy_cfg(table, settings_)
    ids = {p.id: name for name, p in plan_backends(table, settings_).items()}
    chosen = route_like_haproxy(config, host, path)
    expected = match(table, host, path).backend
    assert ids.get(chosen) == (expected.name if expected else None), (host, path, chosen)
    if expected is None:
        assert chosen == NO_ROUTE


@settings(max_examples=400, deadline=None)
@given(rule_path, st.sampled_from([EXACT, PREFIX, IMPL]),
       st.lists(st.sampled_from(SEGMENTS), max_size=4))
def test_path_conditions_are_element_wise(path: str, path_type: PathType,
                                          segments: list[str]) -> None:
    rule = PathRule(path, path_type, fixed("x"))
    uri = "/" + "/".join(segments)
    conditions = path_conditions(rule)
    hit = conditions is None or any(
        uri == p if m == "str" else uri.startswith(p) for m, p in conditions)
    assert hit == rule_matches(rule, path_segments(uri)), (rule, uri)


@needs_haproxy
@pytest.mark.parametrize("name", sorted(GOLDEN_TABLES))
def test_rendered_config_passes_haproxy_c(name: str, tmp_path: Path, ca: trustme.CA) -> None:
    table = GOLDEN_TABLES[name]
    leaf = ca.issue_cert("x.invalid")
    pem = tmp_path / "leaf.pem"
    pem.write_bytes(leaf.cert_chain_pems[0].bytes() + leaf.private_key_pem.bytes())
    files = {certificate_id(c): str(pem) for c in table.certificates if c is not FAKE_BROKEN}
    settings_ = dataclasses.replace(golden_settings(table, str(tmp_path), files),
                                    default_certificate=str(pem))
    (tmp_path / "crt-list.txt").write_text(render_crt_list(table, settings_))
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(render_haproxy_cfg(table, settings_), encoding="utf-8")
    assert HAPROXY is not None
    result = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr, result.stdout + result.stderr


# -- real HAProxy, real backends ------------------------------------------------------------------

class _Handler(EchoHandler):
    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):  # HAProxy closing an idle connection
            super().handle()


# Fixtures shared with the nginx tests: a CA, and a client for `plane`.
ca = dataplane_support.ca
client = dataplane_support.client


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    with Backends(slow_s=0.5, handler=_Handler) as b:
        yield b


@pytest.fixture(scope="module")
def plane() -> Iterator[HAProxyDataPlane]:
    if HAPROXY is None:
        pytest.skip(MISSING)
    yield from running(HAProxyDataPlane(connect_timeout=2.0, upstream_timeout=5.0,
                                        hard_stop_after=5.0))


def serve(plane: HAProxyDataPlane, table: RoutingTable) -> RoutingTable:
    """Apply `table` (under a fresh version) and wait until HAProxy serves it."""
    return apply_fresh(plane, table, plane.wait_applied)


def served_by(resp: Response) -> str | None:
    echo = resp.echo
    return echo.service if echo is not None and resp.status == 200 else None


def test_docs_path_table(plane: HAProxyDataPlane, client: HttpClient,
                         backends: Backends) -> None:
    """Every row of the Kubernetes docs' examples table, each on its own host of one table."""
    groups = []
    for i, (_, rules, _, _) in enumerate(EXAMPLES):
        groups.append(HostRoutes(f"row{i}.docs.test", sort_paths([
            PathRule(p, t, backends.backend(f"r{i}-{t.value}-{p}".replace("/", "_")))
            for p, t in rules])))
    serve(plane, RoutingTable(hosts=tuple(groups),
                              default_backend=backends.backend("docs-default")))
    for i, (_, rules, requests, winner) in enumerate(EXAMPLES):
        for path in requests:
            got = served_by(client.get(f"row{i}.docs.test", path))
            want = "docs-default" if winner is None else \
                f"r{i}-{winner[1].value}-{winner[0]}".replace("/", "_")
            assert got == want, (i + 1, rules, path)


def test_hosts_wildcards_and_no_fallthrough(plane: HAProxyDataPlane, client: HttpClient,
                                            backends: Backends) -> None:
    b = backends.backend
    serve(plane, RoutingTable(hosts=(
        HostRoutes("foo.bar.com", (PathRule("/", PREFIX, b("exact")),)),
        HostRoutes("a.foo.com", (PathRule("/only", EXACT, b("a-only")),)),
        HostRoutes("*.foo.com", (PathRule("/", PREFIX, b("wildcard")),)),
        HostRoutes("", (PathRule("/hostless", PREFIX, b("hostless")),)))))
    expectations = {
        ("foo.bar.com", "/"): "exact", ("FOO.Bar.COM", "/x"): "exact",
        ("foo.bar.com:8080", "/"): "exact", ("foo.bar.com.", "/"): "exact",
        ("bar.foo.com", "/"): "wildcard", ("BAR.foo.com:1", "/z"): "wildcard",
        ("baz.bar.foo.com", "/"): None, ("foo.com", "/"): None,
        ("baz.bar.foo.com", "/hostless/x"): "hostless", ("127.0.0.1", "/hostless"): "hostless",
        ("a.foo.com", "/only"): "a-only",
        ("a.foo.com", "/other"): None,  # no fallthrough to the wildcard
        ("a.foo.com", "/hostless"): None,  # ... nor to the host-less rules
        ("b.foo.com", "/hostless"): "wildcard",
    }
    for (host, path), want in expectations.items():
        resp = client.get(host, path)
        assert served_by(resp) == want, (host, path, resp.summary())
        if want is None:
            assert resp.status == 404, (host, path, resp.summary())


def test_default_backend_404_503_502(plane: HAProxyDataPlane, client: HttpClient,
                                     backends: Backends) -> None:
    dead = Backend("ns", "dead", "80", (Endpoint("127.0.0.1", free_port()),))
    serve(plane, RoutingTable(hosts=(
        HostRoutes("app.test", (PathRule("/empty", PREFIX, Backend("ns", "nobody", "80")),
                                PathRule("/dead", PREFIX, dead),
                                PathRule("/app", PREFIX, backends.backend("app")))),),
        default_backend=backends.backend("fallback")))
    assert served_by(client.get("app.test", "/app/x")) == "app"
    assert served_by(client.get("app.test", "/other")) == "fallback"
    assert served_by(client.get("unknown.test", "/")) == "fallback"
    assert client.get("app.test", "/empty").status == 503
    assert client.get("app.test", "/dead").status == 502
    serve(plane, RoutingTable(hosts=(
        HostRoutes("app.test", (PathRule("/app", PREFIX, backends.backend("app")),)),)))
    assert client.get("app.test", "/other").status == 404
    assert client.get("unknown.test", "/").status == 404


PATH_CASES = [  # (request-target, expected service or None); see test_proxy_matching
    ("/public/../admin", "admin"), ("/public/%2e%2e/admin", "admin"),
    ("/public/%2E%2E/admin/x", "admin"), ("/public/./x", "public"), ("/x/../public", "public"),
    ("/../../public", "public"), ("/a%2Fb", None), ("/a%2fb/c", None),
    ("/a/b%2F..%2F..%2Fadmin", None), ("/a/%62", "ab"), ("/x?y=1", "x"),
    ("/public?/admin", "public"), ("/x/", None), ("/X", None), ("/caf%C3%A9/menu", "cafe"),
    ("/publicity", None), ("/public/", "public"), ("/public/..", None), ("/foo/%zz", "foo"),
    ("/a//b", None), ("/semi%3Bcolon", "semi"),
]


def test_path_normalisation_and_target_unchanged(plane: HAProxyDataPlane, client: HttpClient,
                                                 backends: Backends) -> None:
    b = backends.backend
    table = serve(plane, RoutingTable(hosts=(HostRoutes("", sort_paths([
        PathRule("/public", PREFIX, b("public")), PathRule("/admin", PREFIX, b("admin")),
        PathRule("/a/b", PREFIX, b("ab")), PathRule("/x", EXACT, b("x")),
        PathRule("/café", PREFIX, b("cafe")), PathRule("/foo", PREFIX, b("foo")),
        PathRule("/semi;colon", EXACT, b("semi"))])),)))
    for target, want in PATH_CASES:
        reference = match(table, "h", target).backend
        assert (reference.service if reference else None) == want, target
        resp = client.get("h", target)
        assert served_by(resp) == want, (target, resp.summary())
        if want is not None:
            echo = resp.echo
            assert echo is not None and echo.path == target, (target, echo)
        else:
            assert resp.status == 404, (target, resp.summary())


def test_forwarding_headers(plane: HAProxyDataPlane, client: HttpClient,
                            backends: Backends) -> None:
    serve(plane, RoutingTable(hosts=(
        HostRoutes("hdr.test", (PathRule("/", PREFIX, backends.backend("hdr")),)),)))
    echo = client.get("hdr.test:8080", "/p", headers={
        "X-Forwarded-For": "192.0.2.1", "Proxy-Foo": "1", "X-Request-ID": "abc-1"}).echo
    assert echo is not None
    h = {k.lower(): v for k, v in echo.headers.items()}
    assert h["x-forwarded-for"] == ["192.0.2.1, 127.0.0.1"]
    assert h["x-forwarded-proto"] == ["http"]
    assert h["x-forwarded-host"] == ["hdr.test:8080"]
    assert h["x-real-ip"] == ["127.0.0.1"]
    assert h["x-request-id"] == ["abc-1"]
    assert "proxy-foo" not in h
    echo = client.get("hdr.test", "/p", headers={"X-Request-ID": "bad id!"}).echo
    assert echo is not None
    rid = {k.lower(): v for k, v in echo.headers.items()}["x-request-id"]
    assert len(rid) == 1 and re.fullmatch(r"[0-9a-f]{32}", rid[0]), rid
    # HTTP/1.1 without Host: 400 (RFC 9112 3.2)
    assert raw(plane, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").startswith(
        b"HTTP/1.1 400")


def raw(plane: HAProxyDataPlane, request: bytes) -> bytes:
    """Send `request` as is on a new connection to the plane's HTTP port; the whole answer."""
    return raw_request(plane.http_address or ("", 0), request)


def test_absolute_form_is_routed_by_its_authority(plane: HAProxyDataPlane,
                                                  backends: Backends) -> None:
    serve(plane, RoutingTable(hosts=(
        HostRoutes("abs.test", (PathRule("/abs", PREFIX, backends.backend("abs")),)),
        HostRoutes("", (PathRule("/", PREFIX, backends.backend("abs-hostless")),)))))
    for request in (b"GET http://ABS.test:80/abs/x?q=1 HTTP/1.1\r\nHost: ABS.test:80\r\n"
                    b"Connection: close\r\n\r\n",
                    b"GET HTTP://abs.test./abs/x?q=1 HTTP/1.0\r\n\r\n"):
        head, _, body = raw(plane, request).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), (request, head)
        echo = json.loads(body)
        # routed by the authority; the backend gets the origin-form target
        assert (echo["service"], echo["path"]) == ("abs", "/abs/x?q=1"), echo


def test_tls_sni_default_certificate_and_421(plane: HAProxyDataPlane, client: HttpClient,
                                             backends: Backends, ca: trustme.CA) -> None:
    b = backends.backend
    one = tls_certificate(ca, "one.tls.test", "*.w.tls.test", source="ns/one")
    two = tls_certificate(ca, "two.tls.test", source="ns/two")
    three = tls_certificate(ca, "e.w.tls.test", source="ns/three")  # exact beats one's wildcard
    broken = Certificate(("broken.tls.test",), b"junk", b"junk", "ns/broken")
    serve(plane, RoutingTable(hosts=(
        HostRoutes("one.tls.test", (PathRule("/", PREFIX, b("one")),)),
        HostRoutes("two.tls.test", (PathRule("/", PREFIX, b("two")),)),
        HostRoutes("*.w.tls.test", (PathRule("/", PREFIX, b("w")),)),
        HostRoutes("broken.tls.test", (PathRule("/", PREFIX, b("broken")),)),
        HostRoutes("plain.tls.test", (PathRule("/", PREFIX, b("plain")),))),
        certificates=(broken, one, two, three)))
    assert plane.skipped_certificates and "ns/broken" in plane.skipped_certificates[0]
    for host, want in [("one.tls.test", "one"), ("two.tls.test", "two"),
                       ("x.w.tls.test", "w")]:
        resp = client.get(host, "/", tls=True, ca=ca)  # verified against the CA, SNI = host
        assert served_by(resp) == want, (host, resp.summary())
        echo = resp.echo
        assert echo is not None
        assert {k.lower(): v for k, v in echo.headers.items()}["x-forwarded-proto"] == ["https"]
    assert dns_names(client.certificate("two.tls.test")) == {"two.tls.test"}
    assert "*.w.tls.test" in dns_names(client.certificate("a.w.tls.test"))
    assert dns_names(client.certificate("e.w.tls.test")) == {"e.w.tls.test"}
    for sni in ("unknown.tls.test", "a.b.w.tls.test", "broken.tls.test", None):
        cert = client.certificate(sni)
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert names and names[0].value == DEFAULT_COMMON_NAME, sni
    # 421: the SNI chose one certificate, the Host names a TLS host it does not cover
    assert client.get("two.tls.test", "/", tls=True, sni="one.tls.test",
                      ca=ca).status == 421
    assert client.get("x.w.tls.test", "/", tls=True, sni="one.tls.test",
                      ca=ca).status == 200  # the same certificate covers both
    assert client.get("one.tls.test", "/", tls=True, sni="y.w.tls.test",
                      ca=ca).status == 200
    assert client.get("plain.tls.test", "/", tls=True, sni="one.tls.test",
                      ca=ca).status == 200  # no certificate for the Host: no 421
    assert client.get("x.w.tls.test", "/", tls=True, sni="e.w.tls.test",
                      ca=ca).status == 421  # e.w has its own certificate
    assert client.get("two.tls.test", "/", tls=True, sni="unknown.tls.test").status == 200


def test_endpoint_changes_use_the_runtime_api(plane: HAProxyDataPlane, client: HttpClient,
                                              backends: Backends) -> None:
    def table(*names: str) -> RoutingTable:
        backend = Backend("ns", "rt", "80", tuple(backends.endpoint(n) for n in names))
        return RoutingTable(hosts=(HostRoutes("rt.test", (PathRule("/", PREFIX, backend),)),))

    def seen(n: int = 8) -> set[str | None]:
        return {served_by(client.get("rt.test", "/")) for _ in range(n)}

    serve(plane, table("rt-a"))
    reloads, runtime = plane.reloads, plane.runtime_updates
    serve(plane, table("rt-a", "rt-b"))
    assert seen() == {"rt-a", "rt-b"}
    serve(plane, table("rt-c"))
    assert seen() == {"rt-c"}
    serve(plane, table())
    assert client.get("rt.test", "/").status == 503
    serve(plane, table("rt-d", "rt-a"))  # slots freed earlier are reused
    assert seen() == {"rt-d", "rt-a"}
    assert plane.reloads == reloads and plane.runtime_updates == runtime + 4
    serve(plane, table(*[f"rt-{i}" for i in range(9)]))  # outgrows its slots: a reload
    assert plane.reloads == reloads + 1
    assert seen(18) == {f"rt-{i}" for i in range(9)}
    # a terminating endpoint next to ready ones is drained; alone, it still serves
    drain = Backend("ns", "rt", "80", (backends.endpoint("rt-a"),
                                       backends.endpoint("rt-b", terminating=True)))
    serve(plane, RoutingTable(hosts=(HostRoutes("rt.test", (PathRule("/", PREFIX, drain),)),)))
    assert seen() == {"rt-a"}
    only = Backend("ns", "rt", "80", (backends.endpoint("rt-b", terminating=True),))
    serve(plane, RoutingTable(hosts=(HostRoutes("rt.test", (PathRule("/", PREFIX, only),)),)))
    assert seen() == {"rt-b"}
    assert plane.reloads == reloads + 1


def test_in_flight_requests_finish_across_changes(plane: HAProxyDataPlane, client: HttpClient,
                                                  backends: Backends) -> None:
    """A request in progress when its endpoint leaves (runtime API: maintenance) or when
    HAProxy reloads (the old worker finishes it) gets its answer from where it started."""
    def table(name: str, extra: str) -> RoutingTable:
        return RoutingTable(hosts=(
            HostRoutes("flight.test", (PathRule("/", PREFIX, backends.backend("flight", name)),)),
            HostRoutes(extra, (PathRule("/", PREFIX, backends.backend("extra")),))))

    serve(plane, table("flight-a", "x1.test"))
    for change, name in ((table("flight-b", "x1.test"), "flight-a"),  # endpoint leaves
                         (table("flight-b", "x2.test"), "flight-b")):  # reload
        answers: list[Response] = []
        slow = threading.Thread(target=lambda out=answers: out.append(
            client.get("flight.test", "/slow")))
        slow.start()
        time.sleep(0.15)  # the slow request reached its endpoint
        reloads = plane.reloads
        serve(plane, change)
        slow.join(5)
        assert answers and answers[0].status == 200, answers
        echo = answers[0].echo
        assert echo is not None and echo.pod == name
        assert served_by(client.get("flight.test", "/")) == "flight-b"
        assert plane.reloads == reloads + (name == "flight-b")


def test_updates_coalesce(plane: HAProxyDataPlane, client: HttpClient,
                          backends: Backends) -> None:
    before = plane.reloads + plane.runtime_updates
    last = None
    for i in range(30):
        last = RoutingTable(hosts=(HostRoutes(f"burst{i}.test", (
            PathRule("/", PREFIX, backends.backend("burst")),)),), version=fresh_version())
        plane.update(last)
    assert last is not None and plane.wait_applied(last.version, 15), plane.last_error
    assert plane.reloads + plane.runtime_updates - before < 30
    assert served_by(client.get("burst29.test", "/")) == "burst"
    assert client.get("burst3.test", "/").status == 404


def test_reloads_and_endpoint_churn_under_load_lose_nothing(
        plane: HAProxyDataPlane, backends: Backends) -> None:
    b = backends.backend
    def table(extra: int, *names: str) -> RoutingTable:
        return RoutingTable(hosts=(
            HostRoutes("load.test", (PathRule("/", PREFIX, b("load", *names)),)),
            HostRoutes(f"extra{extra}.test", (PathRule("/", PREFIX, b("extra")),))))

    serve(plane, table(-1, "load-a", "load-b"))
    address = plane.http_address
    assert address is not None
    loop = OpenLoop(address, "load.test", rate=250, max_seconds=20).start()
    reloads, runtime = plane.reloads, plane.runtime_updates
    try:
        for i in range(6):
            time.sleep(0.12)
            serve(plane, table(i, "load-a", "load-b"))  # another host: a reload
            time.sleep(0.12)
            # endpoints come and go: the runtime API
            serve(plane, table(i, *(("load-b", "load-c") if i % 2 else ("load-c", "load-a"))))
    finally:
        result = loop.stop()
    assert plane.reloads - reloads == 6 and plane.runtime_updates - runtime == 6
    assert result.requests > 300
    assert result.failures == 0, result.summary()


def test_refused_configuration_keeps_the_last_good_one(
        plane: HAProxyDataPlane, client: HttpClient, backends: Backends,
        monkeypatch: pytest.MonkeyPatch) -> None:
    good = serve(plane, RoutingTable(hosts=(HostRoutes("good.test", (
        PathRule("/", PREFIX, backends.backend("good")),)),)))
    real = haproxy_process.render_haproxy_cfg
    monkeypatch.setattr(haproxy_process, "render_haproxy_cfg",
                        lambda t, s: real(t, s) + "    this-is-not-a-directive\n")
    rejected = plane.rejected
    bad = dataclasses.replace(good, hosts=(*good.hosts, HostRoutes("bad.test", (
        PathRule("/", PREFIX, backends.backend("bad")),))), version=fresh_version())
    plane.update(bad)
    assert plane.wait_processed(bad.version, 15)
    assert plane.applied_version < bad.version and plane.rejected == rejected + 1
    assert plane.last_error and "this-is-not-a-directive" in plane.last_error, plane.last_error
    assert plane.last_rejected_config and "bad.test" in plane.last_rejected_config
    assert "bad.test" not in plane.config_text
    assert served_by(client.get("good.test", "/")) == "good"
    assert client.get("bad.test", "/").status == 404
    monkeypatch.undo()
    serve(plane, bad)
    assert served_by(client.get("bad.test", "/")) == "bad"


@needs_haproxy
def test_start_and_clean_stop(tmp_path: Path) -> None:
    dp = HAProxyDataPlane(https_port=None, table=RoutingTable(version=3))
    asyncio.run(dp.start())
    master = dp.process
    assert master is not None and dp.https_address is None and dp.applied_version == 3
    workdir = dp.workdir
    pids = dp.worker_pids
    assert workdir and os.path.isdir(workdir) and pids
    resp = HttpClient(f"{dp.http_address[0]}:{dp.http_address[1]}",  # type: ignore[index]
                      None).get("x.test", "/")
    assert resp.status == 404
    asyncio.run(dp.stop())
    assert master.poll() is not None
    for pid in pids:
        assert not haproxy_process._is_haproxy(pid), pid
    assert not os.path.exists(workdir)
