"""The nginx data plane: the pure renderer (golden files, the location algorithm against the
reference matcher, `nginx -t` on every rendering) and the supervisor driving a real nginx
on loopback with real backends (the Kubernetes docs path table, hosts, TLS per SNI with a
default certificate, 421, 404/503, reloads under load, a rejected configuration, stop).

The end-to-end tests are skipped (with the install hint) only when nginx is missing.
Golden files: `UPDATE_GOLDEN=1 python -m pytest tests/test_dataplane_nginx.py` rewrites them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.harness.client import HttpClient, Response
from conformance.harness.load import OpenLoop
from simulator.dataplanes.base import BinaryNotFound
from simulator.dataplanes.nginx import (
    Location,
    NginxSettings,
    certificate_id,
    host_pattern,
    locations,
    quote,
    render_nginx_conf,
)
from simulator.dataplanes.nginx_process import NginxDataPlane, _session_members
from simulator.proxy.matching import match, rule_matches
from simulator.proxy.tls import DEFAULT_COMMON_NAME
from simulator.proxy.uri import path_segments
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
    IMPL,
    PREFIX,
    SEGMENTS,
    Backends,
    apply_fresh,
    check_golden,
    fixed,
    fresh_version,
    golden_tables,
    locate,
    raw_request,
    rule_path,
    running,
    tls_certificate,
)
from .test_proxy_matching import EXAMPLES

GOLDEN = Path(__file__).parent / "fixtures" / "dataplanes" / "nginx"

NGINX, MISSING = locate("nginx")
needs_nginx = pytest.mark.skipif(NGINX is None, reason=MISSING)


# -- the pure renderer --------------------------------------------------------------------------

# The wildcard certificate names only its wildcard (HAProxy's also names a.shop.test).
FAKE_W = Certificate(("*.w.shop.test",), b"CERT-W", b"KEY-W", "shop/tls-w")

GOLDEN_TABLES: dict[str, RoutingTable] = golden_tables(FAKE_W)


def golden_settings(table: RoutingTable, work: str = "/var/lib/ingress-sim/nginx",
                    files: dict[str, tuple[str, str]] | None = None,
                    default: tuple[str, str] | None = None) -> NginxSettings:
    tls = bool(table.certificates)
    if files is None:  # every certificate but the broken one "loads"
        files = {certificate_id(c): (f"{work}/certificates/{certificate_id(c)}.crt",
                                     f"{work}/certificates/{certificate_id(c)}.key")
                 for c in table.certificates if c is not FAKE_BROKEN}
    return NginxSettings(
        work_dir=work, http_port=8080, https_port=8443 if tls else None, control_port=10254,
        generation=3, certificates=files,
        default_certificate=default or (f"{work}/certificates/default.crt",
                                        f"{work}/certificates/default.key"))


@pytest.mark.parametrize("name", sorted(GOLDEN_TABLES))
def test_golden(name: str) -> None:
    table = GOLDEN_TABLES[name]
    check_golden(GOLDEN / f"{name}.conf", render_nginx_conf(table, golden_settings(table)))


def test_render_is_deterministic_and_pure() -> None:
    table = GOLDEN_TABLES["tls"]
    assert render_nginx_conf(table, golden_settings(table)) == \
        render_nginx_conf(table, golden_settings(table))


@needs_nginx
@pytest.mark.parametrize("name", sorted(GOLDEN_TABLES))
def test_rendered_config_passes_nginx_t(name: str, tmp_path: Path, ca: trustme.CA) -> None:
    table = GOLDEN_TABLES[name]
    files: dict[str, tuple[str, str]] = {}
    leaf = ca.issue_cert("x.invalid")
    for i, cert in enumerate([*table.certificates, None]):
        crt, key = tmp_path / f"c{i}.crt", tmp_path / f"c{i}.key"
        leaf.cert_chain_pems[0].write_to_path(str(crt))
        leaf.private_key_pem.write_to_path(str(key))
        if cert is not None and cert is not FAKE_BROKEN:
            files[certificate_id(cert)] = (str(crt), str(key))
    (tmp_path / "tmp").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx_conf(table, golden_settings(
        table, str(tmp_path), files, (str(crt), str(key)))), encoding="utf-8")
    assert NGINX is not None
    result = subprocess.run([NGINX, "-t", "-q", "-p", f"{tmp_path}/", "-e", "stderr", "-c",
                             str(conf)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_quoting_and_host_patterns() -> None:
    assert quote('/a "b"\\c') == '"/a \\"b\\"\\\\c"'
    with pytest.raises(ValueError):
        quote("/a\nb")
    assert host_pattern("foo.bar.com") == "foo.bar.com"
    assert host_pattern("*.foo-1.com") == r"~^[^.]+\.foo\-1\.com$"


def test_https_needs_a_default_certificate() -> None:
    with pytest.raises(ValueError, match="default_certificate"):
        render_nginx_conf(RoutingTable(), NginxSettings(work_dir="/w", https_port=443))


def nginx_pick(locs: list[Location], uri: str) -> Location | None:
    """nginx's choice among exact and prefix locations (no regex locations): an exact
    location equal to the URI, else the longest prefix."""
    for loc in locs:
        if loc.exact and loc.path == uri:
            return loc
    prefixes = [loc for loc in locs if not loc.exact and uri.startswith(loc.path)]
    return max(prefixes, key=lambda loc: len(loc.path)) if prefixes else None


rule_sets = st.lists(st.tuples(rule_path, st.sampled_from([EXACT, PREFIX, IMPL])),
                     max_size=7, unique_by=lambda r: (r[0], r[1] is EXACT))
uris = st.lists(st.sampled_from(SEGMENTS), max_size=4).map(lambda s: "/" + "/".join(s))


@settings(max_examples=600, deadline=None)
@given(rule_sets, st.lists(uris, min_size=1, max_size=8))
def test_locations_agree_with_the_reference(rules: list[tuple[str, PathType]],
                                            requests: list[str]) -> None:
    """For any rules and any (normalised) URI, the location nginx picks carries the rule the
    reference matcher picks; and every prefix location `/x/` has a companion `= /x` (else
    nginx would answer `/x` with a 301 to `/x/`)."""
    ordered = sort_paths([PathRule(p, t, fixed(f"{t.value}:{p}")) for p, t in rules])
    locs = locations(ordered)
    assert len({(loc.exact, loc.path) for loc in locs}) == len(locs)  # no duplicates
    exact = {loc.path for loc in locs if loc.exact}
    assert all(loc.path[:-1] in exact for loc in locs if len(loc.path) > 1
               and loc.path.endswith("/"))
    for uri in requests:
        chosen = nginx_pick(locs, uri)
        assert chosen is not None, uri  # `location /` always exists
        segs = path_segments(uri)
        reference = next((r for r in ordered if rule_matches(r, segs)), None)
        assert chosen.rule == reference, (uri, chosen)


@pytest.mark.parametrize("row", EXAMPLES, ids=[f"{i + 1:02d}" for i in range(len(EXAMPLES))])
def test_docs_rows_locations(row: tuple) -> None:
    _, rules, requests, winner = row
    ordered = sort_paths([PathRule(p, t, fixed(f"{t.value}:{p}")) for p, t in rules])
    locs = locations(ordered)
    for uri in requests:
        chosen = nginx_pick(locs, uri)
        got = (chosen.rule.path, chosen.rule.path_type) if chosen.rule else None
        assert got == winner, uri


# -- real nginx, real backends --------------------------------------------------------------------

# Fixtures shared with the HAProxy tests: a CA, and a client for `plane`.
ca = dataplane_support.ca
client = dataplane_support.client


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    with Backends(slow_s=0.8) as b:
        yield b


@pytest.fixture(scope="module")
def plane() -> Iterator[NginxDataPlane]:
    if NGINX is None:
        pytest.skip(MISSING)
    yield from running(NginxDataPlane(apply_timeout=10.0, drain_timeout=5.0))


def serve(plane: NginxDataPlane, table: RoutingTable) -> RoutingTable:
    """Apply `table` (under a fresh version) and wait until nginx serves it."""
    return apply_fresh(plane, table, plane.wait_for_version)


def outcome(resp: Response) -> str:
    echo = resp.echo
    return echo.service if echo is not None else str(resp.status)


def reference(table: RoutingTable, host: str, path: str) -> str:
    found = match(table, host, path)
    if found.backend is None:
        return "404"
    return found.backend.service if found.backend.endpoints else "503"


def check(client: HttpClient, table: RoutingTable, host: str, path: str,
          expected: str | None = None) -> None:
    got = outcome(client.get(host, path))
    want = reference(table, host, path)
    assert got == want, f"{host}{path}: nginx {got}, reference {want}"
    if expected is not None:
        assert got == expected, f"{host}{path}"


@needs_nginx
def test_docs_path_table(plane: NginxDataPlane, client: HttpClient, backends: Backends) -> None:
    """All 18 rows of the Kubernetes docs table, each row one host, one reload."""
    hosts = []
    for i, (_, rules, _, _) in enumerate(EXAMPLES):
        hosts.append(HostRoutes(f"row{i}.docs.test", sort_paths(
            [PathRule(p, t, backends.backend(f"row{i}-{t.value}-{p}")) for p, t in rules])))
    table = serve(plane, RoutingTable(hosts=tuple(hosts),
                                      default_backend=backends.backend("default")))
    for i, (_, _, requests, winner) in enumerate(EXAMPLES):
        want = f"row{i}-{winner[1].value}-{winner[0]}" if winner else "default"
        for path in requests:
            check(client, table, f"row{i}.docs.test", path, want)


@needs_nginx
def test_hosts_wildcard_hostless_no_fallthrough(plane: NginxDataPlane, client: HttpClient,
                                                backends: Backends) -> None:
    b = backends.backend
    table = serve(plane, RoutingTable(hosts=(
        HostRoutes("foo.bar.com", (PathRule("/", PREFIX, b("exact")),)),
        HostRoutes("a.foo.com", (PathRule("/only", PREFIX, b("a-only")),)),
        HostRoutes("*.foo.com", (PathRule("/", PREFIX, b("wildcard")),)),
        HostRoutes("", (PathRule("/hostless", PREFIX, b("hostless")),)),
    ), default_backend=b("default")))
    for host, path, want in [
        ("foo.bar.com", "/", "exact"), ("FOO.Bar.COM", "/x", "exact"),
        ("foo.bar.com:8080", "/", "exact"), ("foo.bar.com.", "/", "exact"),
        ("bar.foo.com", "/", "wildcard"), ("BAR.foo.com:1", "/", "wildcard"),
        ("baz.bar.foo.com", "/", "default"),  # one label only
        ("foo.com", "/", "default"), ("baz.bar.foo.com", "/hostless/x", "hostless"),
        ("other.test", "/hostless", "hostless"), ("127.0.0.1", "/hostless", "hostless"),
        ("a.foo.com", "/only/x", "a-only"),
        ("a.foo.com", "/other", "default"),  # no fallthrough to *.foo.com
        ("a.foo.com", "/hostless", "default"),  # nor to the host-less rules
        ("foo.bar.com", "/hostless", "exact"),
    ]:
        check(client, table, host, path, want)
    # Absolute-form request-target: its authority is the host.
    assert outcome(client.get("ignored.test", "http://bar.foo.com/x")) == "wildcard"
    # HTTP/1.0 without Host: the host-less rules.
    http = plane.http_address
    assert http is not None
    data = raw_request(http, b"GET /hostless/x HTTP/1.0\r\n\r\n")
    assert b'"service": "hostless"' in data

    # Without a default backend: 404 for a miss, and still no fallthrough.
    table = serve(plane, dataclasses.replace(table, default_backend=None))
    check(client, table, "a.foo.com", "/other", "404")
    check(client, table, "nowhere.test", "/", "404")
    check(client, table, "bar.foo.com", "/", "wildcard")


@needs_nginx
def test_404_503_and_default_backend(plane: NginxDataPlane, client: HttpClient,
                                     backends: Backends) -> None:
    empty = Backend("ns", "nobody", "80")
    table = serve(plane, RoutingTable(hosts=(
        HostRoutes("s.test", (PathRule("/empty", PREFIX, empty),
                              PathRule("/up", PREFIX, backends.backend("up")))),),
        default_backend=backends.backend("default")))
    check(client, table, "s.test", "/empty/x", "503")
    check(client, table, "s.test", "/up", "up")
    check(client, table, "s.test", "/down", "default")
    table = serve(plane, dataclasses.replace(table, default_backend=empty))
    check(client, table, "s.test", "/down", "503")
    table = serve(plane, RoutingTable(default_backend=backends.backend("default")))
    check(client, table, "any.test", "/whatever", "default")
    table = serve(plane, RoutingTable())
    check(client, table, "any.test", "/", "404")


@needs_nginx
def test_paths_and_what_nginx_normalises(plane: NginxDataPlane, client: HttpClient,
                                         backends: Backends) -> None:
    b = backends.backend
    table = serve(plane, RoutingTable(hosts=(HostRoutes("", sort_paths([
        PathRule("/public", PREFIX, b("public")), PathRule("/admin", PREFIX, b("admin")),
        PathRule("/a/b", PREFIX, b("ab")), PathRule("/x", EXACT, b("x")),
        PathRule("/café", PREFIX, b("cafe")), PathRule("", IMPL, b("root")),
        PathRule("/y/", EXACT, b("y-slash"))])),)))
    for path in ["/public/../admin", "/public/%2e%2e/admin", "/public/%2E%2E/admin/x",
                 "/public/./x", "/x/../public", "/a/%62", "/x?y=1", "/x/", "/X",
                 "/caf%C3%A9/menu", "/publicity", "/public/", "/public/..", "//public",
                 "/public//x", "/y", "/y/", "/y/z"]:
        check(client, table, "h.test", path)
    # The request-target goes upstream exactly as sent.
    echo = client.get("h.test", "/public/%2e%2e/admin/%41?q=%2F").echo
    assert echo is not None and echo.service == "admin"
    assert echo.path == "/public/%2e%2e/admin/%41?q=%2F"
    # Documented differences (see simulator/dataplanes/nginx.py): nginx decodes %2F to "/"
    # before matching, and refuses ".." above the root.
    assert outcome(client.get("h.test", "/a%2Fb")) == "ab"  # reference: "root"
    assert outcome(client.get("h.test", "/a/b%2F..%2F..%2Fadmin")) == "admin"  # ref: "ab"
    assert outcome(client.get("h.test", "/../../public")) == "400"  # reference: "public"


@needs_nginx
def test_forwarding_headers(plane: NginxDataPlane, client: HttpClient,
                            backends: Backends) -> None:
    serve(plane, RoutingTable(hosts=(
        HostRoutes("hdr.test", (PathRule("/", PREFIX, backends.backend("hdr")),)),)))
    http = plane.http_address
    assert http is not None
    echo = client.get("hdr.test:1234", "/h", headers={
        "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "gopher",
        "X-Request-ID": "abc-123", "Connection": "close, X-Drop", "Keep-Alive": "x"}).echo
    assert echo is not None
    h = {k.lower(): v for k, v in echo.headers.items()}
    assert h["host"] == ["hdr.test:1234"]
    assert h["x-forwarded-for"] == ["203.0.113.9, 127.0.0.1"]
    assert h["x-forwarded-proto"] == ["http"]
    assert h["x-forwarded-host"] == ["hdr.test:1234"]
    assert h["x-forwarded-port"] == [str(http[1])]
    assert h["x-real-ip"] == ["127.0.0.1"]
    assert h["x-request-id"] == ["abc-123"]
    assert "keep-alive" not in h
    echo = client.get("hdr.test", "/h", headers={"X-Request-ID": "bad id!"}).echo
    assert echo is not None
    rid = {k.lower(): v for k, v in echo.headers.items()}["x-request-id"][0]
    assert len(rid) == 32 and rid != "bad id!"


def _common_name(cert: x509.Certificate) -> str:
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


@needs_nginx
def test_tls_sni_default_certificate_and_421(plane: NginxDataPlane, client: HttpClient,
                                             backends: Backends, ca: trustme.CA) -> None:
    b = backends.backend
    broken = Certificate(("broken.tls.test",), b"junk", b"junk", "ns/broken")
    serve(plane, RoutingTable(hosts=(
        HostRoutes("a.tls.test", (PathRule("/", PREFIX, b("tls-a")),)),
        HostRoutes("*.w.tls.test", (PathRule("/", PREFIX, b("tls-w")),)),
        HostRoutes("plain.tls.test", (PathRule("/", PREFIX, b("plain")),)),
        HostRoutes("", (PathRule("/", PREFIX, b("tls-hostless")),)),
    ), certificates=(tls_certificate(ca, "a.tls.test"), tls_certificate(ca, "*.w.tls.test"),
                     tls_certificate(ca, "c.tls.test"), broken)))
    assert plane.broken_certificates == ["ns/broken"]

    def get(host: str, sni: str | None = None) -> str:
        return outcome(client.get(host, "/", tls=True, sni=sni, ca=ca))

    assert get("a.tls.test") == "tls-a"  # verified against the CA, for the SNI name
    assert get("x.w.tls.test") == "tls-w"
    assert get("c.tls.test") == "tls-hostless"  # a TLS host routed by the host-less rules
    assert get("A.TLS.TEST:8443", sni="a.tls.test") == "tls-a"  # case and port normalised
    assert get("a.tls.test", sni="A.Tls.Test") == "tls-a"
    # SNI names one TLS host, Host another whose certificate is a different one: 421.
    assert get("x.w.tls.test", sni="a.tls.test") == "421"
    assert get("c.tls.test", sni="a.tls.test") == "421"
    assert get("A.TLS.Test:443", sni="y.w.tls.test") == "421"
    # ... but not when Host names no TLS host, or when the SNI names none.
    assert get("plain.tls.test", sni="a.tls.test") == "plain"
    assert outcome(client.get("a.tls.test", "/", tls=True, sni="unknown.tls.test")) == "tls-a"
    assert outcome(client.get("a.tls.test", "/", tls=True, sni=None)) == "tls-a"
    # Unknown, two-label, missing SNI and broken certificates: the default certificate.
    for sni in ["unknown.tls.test", "y.x.w.tls.test", None, "broken.tls.test"]:
        assert _common_name(client.certificate(sni)) == DEFAULT_COMMON_NAME, sni
    with pytest.raises(ssl.SSLCertVerificationError):
        client.get("unknown.tls.test", "/", tls=True, ca=ca)
    # Plain HTTP never gets 421.
    assert outcome(client.get("a.tls.test", "/")) == "tls-a"


@needs_nginx
def test_reload_under_load_loses_nothing(plane: NginxDataPlane, backends: Backends) -> None:
    """Endpoints change (each change a graceful reload) under an open-loop 200 requests/s:
    no request fails; a slow request on an endpoint that leaves the table finishes."""
    table = serve(plane, RoutingTable(hosts=(HostRoutes("load.test", (
        PathRule("/", PREFIX, backends.backend("load-1", "load-1", "load-2")),)),)))
    http = plane.http_address
    assert http is not None
    slow: list[Response] = []
    client = HttpClient(f"{http[0]}:{http[1]}", None)
    slow_thread = threading.Thread(target=lambda: slow.append(client.get("load.test", "/slow")))
    loop = OpenLoop(http, "load.test", rate=200, max_seconds=20).start()
    reloads = plane.reloads
    try:
        time.sleep(0.2)
        slow_thread.start()
        time.sleep(0.1)
        for names in [("load-3",), ("load-1", "load-3"), ("load-2",), ("load-1",),
                      ("load-3", "load-2"), ("load-1", "load-2")]:
            table = serve(plane, dataclasses.replace(table, hosts=(HostRoutes("load.test", (
                PathRule("/", PREFIX, backends.backend(names[0], *names)),)),)))
            time.sleep(0.1)
    finally:
        result = loop.stop()
        slow_thread.join(10)
    assert plane.reloads - reloads == 6
    assert result.requests > 200
    assert result.failures == 0, result.summary()
    assert [r.status for r in slow] == [200]


@needs_nginx
def test_invalid_config_is_kept_out(plane: NginxDataPlane, client: HttpClient,
                                    backends: Backends) -> None:
    good = serve(plane, RoutingTable(hosts=(
        HostRoutes("keep.test", (PathRule("/", PREFIX, backends.backend("kept")),)),)))
    running = plane.config_text
    bad = dataclasses.replace(good, version=fresh_version(), hosts=(
        HostRoutes("keep.test", (PathRule("/", PREFIX, Backend(
            "ns", "ghost", "80", (Endpoint("ghost.invalid", 80),))),)),))
    plane.update(bad)
    assert not plane.wait_for_version(bad.version, 15)
    assert plane.last_rejected is not None and plane.last_rejected.version == bad.version
    assert plane.last_error is not None and "host not found" in plane.last_error
    assert "ghost.invalid" in Path(plane.last_rejected.config_path).read_text()
    assert plane.config_text == running
    assert Path(plane.config_path).read_text() == running
    assert plane.applied_version == good.version
    check(client, good, "keep.test", "/", "kept")
    # The next good table is applied as usual.
    table = serve(plane, RoutingTable(hosts=(
        HostRoutes("keep.test", (PathRule("/", PREFIX, backends.backend("kept-2")),)),)))
    check(client, table, "keep.test", "/", "kept-2")


@needs_nginx
def test_coalescing_and_unchanged_tables(plane: NginxDataPlane, backends: Backends) -> None:
    tables = [RoutingTable(hosts=(HostRoutes(f"c{i}.test", (
        PathRule("/", PREFIX, backends.backend("coalesce")),)),), version=fresh_version())
        for i in range(20)]
    reloads = plane.reloads
    for t in tables:
        plane.update(t)
    assert plane.wait_for_version(tables[-1].version, 15)
    assert plane.table == tables[-1]
    assert plane.reloads - reloads < 20
    reloads = plane.reloads
    serve(plane, tables[-1])  # same configuration, new version: no reload
    assert plane.reloads == reloads


@needs_nginx
def test_clean_stop(tmp_path: Path, backends: Backends) -> None:
    dp = NginxDataPlane(https_port=None, table=RoutingTable(
        default_backend=backends.backend("stop")))
    asyncio.run(dp.start())
    pid, work = dp.pid, dp.work_dir
    assert pid is not None and dp.running and dp.https_address is None
    assert len(_session_members(pid)) >= 2  # master and worker
    http = dp.http_address
    assert http is not None
    assert outcome(HttpClient(f"{http[0]}:{http[1]}", None).get("x", "/")) == "stop"
    asyncio.run(dp.stop())
    assert dp.pid is None and dp.http_address is None and not dp.running
    assert _session_members(pid) == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not os.path.exists(work)
    with pytest.raises(OSError):
        socket.create_connection(http, timeout=1).close()


def test_missing_binary_has_an_install_hint() -> None:
    with pytest.raises(BinaryNotFound, match="apt-get install -y nginx-light"):
        NginxDataPlane(nginx_bin="/nonexistent/nginx")
