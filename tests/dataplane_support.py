"""What the nginx and HAProxy data plane tests share (tests/test_dataplane_nginx.py,
tests/test_dataplane_haproxy.py): the golden RoutingTables and their builders, the golden
file check, path strategies, and the loopback backends and fixtures of the end-to-end tests.

Where the two differ on purpose (FAKE_W's hosts, tables only one renderer is held to, the
slow request's length), the test file says so and passes it in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import pytest
import trustme
from hypothesis import strategies as st

from conformance.harness.client import HttpClient
from simulator.dataplanes.base import BinaryNotFound, find_binary
from simulator.dataplanes.haproxy_process import HAProxyDataPlane
from simulator.dataplanes.nginx_process import NginxDataPlane
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

EXACT, PREFIX, IMPL = PathType.EXACT, PathType.PREFIX, PathType.IMPLEMENTATION_SPECIFIC

Rule = tuple[str, PathType, Backend]
Plane = TypeVar("Plane", NginxDataPlane, HAProxyDataPlane)


def locate(name: str) -> tuple[str | None, str]:
    """The binary `name` (None when it is missing) and, when it is missing, why (with the
    install hint): the reason to skip the tests that need it."""
    try:
        return find_binary(name), ""
    except BinaryNotFound as exc:
        return None, f"{name} is missing: {exc}"


# -- golden tables ------------------------------------------------------------------------------

def fixed(name: str, *addresses: str, terminating: tuple[int, ...] = ()) -> Backend:
    """Backend `shop/name:80` with one endpoint (port 8080) per address; the endpoints at
    the `terminating` indexes are terminating and not ready."""
    return Backend("shop", name, "80", tuple(
        Endpoint(a, 8080, ready=i not in terminating, terminating=i in terminating,
                 target=f"{name}-{i}") for i, a in enumerate(addresses)))


def group(host: str, *rules: Rule) -> HostRoutes:
    return HostRoutes(host, sort_paths([PathRule(p, t, b, source="shop/web")
                                        for p, t, b in rules]))


FAKE_A = Certificate(("a.shop.test", "b.shop.test"), b"CERT-A", b"KEY-A", "shop/tls-a")
FAKE_BROKEN = Certificate(("broken.shop.test",), b"junk", b"junk", "shop/broken")

# The "hosts" table's groups: exact, wildcard, host-less.
HOSTS = (group("foo.bar.com", ("/", PREFIX, fixed("exact", "10.0.0.1"))),
         group("*.foo.com", ("/", PREFIX, fixed("wildcard", "10.0.0.2", "10.0.0.3"))),
         group("", ("/hostless", PREFIX, fixed("hostless", "10.0.0.4"))))

# The "paths" table's rules (one host, paths.test).
PATHS: tuple[Rule, ...] = (
    ("/", PREFIX, fixed("root", "10.0.1.1")),
    ("/foo", PREFIX, fixed("foo-prefix", "10.0.1.2")),
    ("/foo", EXACT, fixed("foo-exact", "10.0.1.3")),
    ("/aaa/bbb/", PREFIX, fixed("aaa-bbb", "10.0.1.4")),
    ("/aaa", IMPL, fixed("aaa", "10.0.1.5")),
    ("/bar/", EXACT, fixed("bar-slash", "10.0.1.6")),
    ("/café", PREFIX, fixed("cafe", "10.0.1.7")),
)


def golden_tables(fake_w: Certificate, hosts: tuple[HostRoutes, ...] = HOSTS,
                  paths: tuple[Rule, ...] = PATHS) -> dict[str, RoutingTable]:
    """The golden tables both renderers are held to; `fake_w` is the "tls" table's wildcard
    certificate, `hosts` the "hosts" table's groups, `paths` the "paths" table's rules."""
    return {
        "empty": RoutingTable(),
        "hosts": RoutingTable(hosts=hosts, default_backend=fixed("default", "10.0.0.9"),
                              version=7),
        "paths": RoutingTable(hosts=(group("paths.test", *paths),), version=8),
        "no_default_404": RoutingTable(
            hosts=(group("a.test", ("/only", EXACT, fixed("only", "10.0.2.1"))),
                   group("*.test", ("/w", PREFIX, fixed("w", "10.0.2.2"))))),
        "default_backend_only": RoutingTable(default_backend=fixed("default", "10.0.3.1")),
        "no_endpoints": RoutingTable(
            hosts=(group("empty.test", ("/", PREFIX, fixed("nobody")),
                         ("/up", PREFIX, fixed("up", "10.0.4.1", "fd00::1"))),),
            default_backend=fixed("default-nobody")),
        "tls": RoutingTable(
            hosts=(group("a.shop.test", ("/", PREFIX, fixed("a", "10.0.5.1"))),
                   group("*.w.shop.test", ("/", PREFIX, fixed("w", "10.0.5.2"))),
                   group("", ("/", PREFIX, fixed("hostless", "10.0.5.3")))),
            certificates=(FAKE_A, fake_w, FAKE_BROKEN), version=9),
    }


def check_golden(path: Path, text: str) -> None:
    """`text` is the golden file `path` (UPDATE_GOLDEN=1 rewrites it instead)."""
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path} differs (UPDATE_GOLDEN=1)"


# Rule paths over a few segments, with and without a trailing slash.
SEGMENTS = ["a", "b", "aa", "ab", "é", ""]
rule_path = st.lists(st.sampled_from(SEGMENTS[:-1]), max_size=3).flatmap(
    lambda segs: st.sampled_from(["/" + "/".join(segs)] + (["/" + "/".join(segs) + "/"]
                                                           if segs else [])))


# -- real backends ------------------------------------------------------------------------------

class EchoHandler(BaseHTTPRequestHandler):
    """Answers with its server's name and the request it saw (the echo format the harness's
    `Response.echo` reads); a path under /slow first waits the server's `slow_s`."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/slow"):
            time.sleep(self.server.slow_s)  # type: ignore[attr-defined]
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            headers.setdefault(name, []).append(value)
        name = self.server.name  # type: ignore[attr-defined]
        body = json.dumps({"service": name, "pod": name, "namespace": "ns", "path": self.path,
                           "host": self.headers.get("Host", ""), "method": self.command,
                           "headers": headers}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, *args: object) -> None:
        pass


class Backends:
    """Loopback HTTP servers that answer with their own name and the request they saw;
    `backend(name, ...)` is a Backend with one endpoint per named server. A context manager
    that closes the servers."""

    def __init__(self, slow_s: float, handler: type[EchoHandler] = EchoHandler) -> None:
        self.slow_s, self.handler = slow_s, handler
        self.servers: dict[str, ThreadingHTTPServer] = {}

    def endpoint(self, name: str, terminating: bool = False) -> Endpoint:
        server = self.servers.get(name)
        if server is None:
            server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
            server.daemon_threads = True
            server.name = name  # type: ignore[attr-defined]
            server.slow_s = self.slow_s  # type: ignore[attr-defined]
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
            self.servers[name] = server
        return Endpoint("127.0.0.1", server.server_address[1], ready=not terminating,
                        terminating=terminating, target=name)

    def backend(self, service: str, *names: str) -> Backend:
        """Backend `service` served by the servers `names` (default: one named `service`)."""
        return Backend("ns", service, "80",
                       tuple(self.endpoint(n) for n in (names or (service,))))

    def close(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()

    def __enter__(self) -> Backends:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def running(plane: Plane) -> Iterator[Plane]:
    """The body of a module's `plane` fixture: `plane` started, and stopped after."""
    asyncio.run(plane.start())
    yield plane
    asyncio.run(plane.stop())


_versions = iter(range(100, 10**6))


def fresh_version() -> int:
    """A table version above every one handed out before (in this process)."""
    return next(_versions)


def apply_fresh(plane: NginxDataPlane | HAProxyDataPlane, table: RoutingTable,
                wait: Callable[[int, float], bool]) -> RoutingTable:
    """Apply `table` under a fresh version and wait (`wait(version, 15)`) until the plane
    serves it; the table as applied."""
    table = dataclasses.replace(table, version=fresh_version())
    plane.update(table)
    assert wait(table.version, 15), plane.last_error
    return table


def tls_certificate(ca: trustme.CA, *hosts: str, source: str | None = None) -> Certificate:
    """A real certificate for `hosts` from `ca` (source: `ns/<first host>` unless given)."""
    leaf = ca.issue_cert(*hosts)
    chain = b"".join(p.bytes() for p in leaf.cert_chain_pems)
    if source is None:
        source = f"ns/{hosts[0]}"
    return Certificate(hosts, chain, leaf.private_key_pem.bytes(), source)


def raw_request(address: tuple[str, int], request: bytes) -> bytes:
    """Send `request` as is on a new connection; the whole answer."""
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


# -- fixtures (a test module takes them with `ca = dataplane_support.ca` and so on) ----------

@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def client(plane: NginxDataPlane | HAProxyDataPlane) -> HttpClient:
    """A client for the module's `plane` fixture (HTTP and HTTPS)."""
    http, https = plane.http_address, plane.https_address
    assert http is not None and https is not None
    return HttpClient(f"{http[0]}:{http[1]}", f"{https[0]}:{https[1]}", timeout_s=5.0)

