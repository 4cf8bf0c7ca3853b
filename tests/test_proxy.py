"""The reference proxy over real loopback sockets: aiohttp upstreams that echo what they
received, blocking clients (http.client, raw sockets, ssl) in the test thread, the proxy and
upstreams on an event loop in a background thread."""

from __future__ import annotations

import asyncio
import http.client
import importlib.util
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
import trustme
from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import NameOID

from simulator.proxy import Proxy
from simulator.proxy.timeouts import Deadline
from simulator.proxy.tls import DEFAULT_COMMON_NAME
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

from .conftest import eventually

T = TypeVar("T")
DEADLINE = 30.0  # generous: only there to turn a hang into a failure


# -- harness ----------------------------------------------------------------------------------

class LoopThread:
    """An asyncio loop running in a daemon thread; `run` executes a coroutine on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop or asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = DEADLINE) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], object]) -> None:
        self.loop.call_soon_threadsafe(fn)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(DEADLINE)
        self.loop.close()


class Upstream:
    """An aiohttp server that answers with JSON describing the request it received.

    Query parameters steer it: `delay=<s>` sleeps first, `hold=1` waits for `release()`,
    `chunks=<n>` streams a chunked response of n lines.
    """

    def __init__(self, lt: LoopThread, name: str) -> None:
        self.lt = lt
        self.name = name
        self.requests: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0
        self._gate: asyncio.Event | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        info = {
            "name": self.name,
            "method": request.method,
            "raw_path": request.raw_path,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")]
                        for k, v in request.raw_headers],
            "body": body.decode("latin-1"),
            "peer_port": request.transport.get_extra_info("peername")[1]
            if request.transport else 0,
        }
        self.requests.append(info)
        if "delay" in request.query:
            await asyncio.sleep(float(request.query["delay"]))
        if "hold" in request.query:
            assert self._gate is not None
            await self._gate.wait()
        if "big" in request.query:
            return web.Response(body=b"x" * int(request.query["big"]),
                                headers={"X-Upstream": self.name})
        if "chunks" in request.query:
            response = web.StreamResponse(headers={"X-Upstream": self.name})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for i in range(int(request.query["chunks"])):
                await response.write(f"chunk {i}\n".encode())
            await response.write_eof()
            return response
        return web.json_response(info, headers={
            "X-Upstream": self.name, "Keep-Alive": "timeout=5", "Connection": "keep-alive"})

    async def start(self) -> Upstream:
        self._gate = asyncio.Event()
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    def release(self) -> None:
        assert self._gate is not None
        self.lt.call(self._gate.set)

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("127.0.0.1", self.port, target=self.name)


def free_port() -> int:
    """A loopback port nobody listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def backend(name: str, *endpoints: Endpoint) -> Backend:
    return Backend("ns", name, "80", tuple(endpoints))


def routes(host: str, *rules: tuple[str, Backend] | tuple[str, Backend, PathType]
           ) -> HostRoutes:
    prs = [PathRule(r[0], r[2] if len(r) > 2 else PathType.PREFIX, r[1])  # type: ignore[misc]
           for r in rules]
    return HostRoutes(host, sort_paths(prs))


# The stock loop (as in `simulator up`), and uvloop when it is installed: the proxy uses only
# the asyncio Protocol API, which both implement.
LOOPS = ["asyncio"] + (["uvloop"] if importlib.util.find_spec("uvloop") else [])


@pytest.fixture(scope="module", params=LOOPS)
def lt(request: pytest.FixtureRequest) -> Iterator[LoopThread]:
    if request.param == "uvloop":
        import uvloop

        loop_thread = LoopThread(uvloop.new_event_loop())
    else:
        loop_thread = LoopThread()
    yield loop_thread
    loop_thread.close()


@pytest.fixture
def upstream_factory(lt: LoopThread) -> Iterator[Callable[[str], Upstream]]:
    started: list[Upstream] = []

    def make(name: str) -> Upstream:
        up = lt.run(Upstream(lt, name).start())
        started.append(up)
        return up

    yield make
    for up in started:
        up.release()
        if up.runner is not None:
            lt.run(up.runner.cleanup())


@pytest.fixture
def proxy_factory(lt: LoopThread) -> Iterator[Callable[..., Proxy]]:
    started: list[Proxy] = []

    def make(table: RoutingTable, **kwargs: Any) -> Proxy:
        proxy = Proxy(table=table, **kwargs)
        lt.run(proxy.start())
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        lt.run(proxy.stop())


@pytest.fixture
def two(upstream_factory: Callable[[str], Upstream]) -> tuple[Upstream, Upstream]:
    return upstream_factory("one"), upstream_factory("two")


def get(proxy: Proxy, path: str = "/", host: str = "app.example", method: str = "GET",
        headers: dict[str, str] | None = None, body: bytes | None = None,
        conn: http.client.HTTPConnection | None = None
        ) -> tuple[http.client.HTTPResponse, bytes]:
    """One request over HTTP (on `conn` if given, else a new connection)."""
    address = proxy.http_address
    assert address is not None
    c = conn or http.client.HTTPConnection(*address, timeout=DEADLINE)
    c.request(method, path, body=body, headers={"Host": host, **(headers or {})})
    response = c.getresponse()
    data = response.read()
    if conn is None:
        c.close()
    return response, data


def echo(data: bytes) -> dict[str, Any]:
    return json.loads(data)


def header(info: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in info["headers"] if k.lower() == name.lower()]


def raw_exchange(address: tuple[str, int], data: bytes) -> bytes:
    """Send raw bytes, read until the proxy closes the connection (or the deadline)."""
    with socket.create_connection(address, timeout=DEADLINE) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_deadline_moves_and_expires() -> None:
    async def scenario() -> list[tuple[bool, float]]:
        loop = asyncio.get_running_loop()
        deadline = Deadline(loop)
        results = []
        for timeout in (0.2, 0.05, 0.1):  # a later deadline, then a shorter one, then later
            waiter = loop.create_future()
            deadline.arm(waiter, timeout)
            started = loop.time()
            results.append((await waiter, loop.time() - started))
            deadline.disarm()
        waiter = loop.create_future()  # resolved before the deadline: never expired
        deadline.arm(waiter, 0.05)
        loop.call_later(0.01, waiter.set_result, True)
        results.append((await waiter, 0.0))
        deadline.disarm()
        await asyncio.sleep(0.1)
        assert waiter.result() is True
        deadline.cancel()
        return results

    results = asyncio.run(scenario())
    assert [r for r, _ in results] == [False, False, False, True]
    for (_, took), timeout in zip(results[:3], (0.2, 0.05, 0.1), strict=True):
        assert timeout - 0.01 <= took < timeout + 1.0


# -- routing and answers ----------------------------------------------------------------------

def test_routes_by_host_and_path(proxy_factory: Callable[..., Proxy],
                                 two: tuple[Upstream, Upstream]) -> None:
    one, other = two
    table = RoutingTable(hosts=(
        routes("app.example", ("/", backend("one", one.endpoint)),
               ("/api", backend("two", other.endpoint))),
        routes("*.wild.example", ("/", backend("two", other.endpoint))),
    ))
    proxy = proxy_factory(table)
    assert echo(get(proxy, "/", "app.example")[1])["name"] == "one"
    assert echo(get(proxy, "/api/v1", "APP.example:1234")[1])["name"] == "two"
    assert echo(get(proxy, "/apix", "app.example")[1])["name"] == "one"
    assert echo(get(proxy, "/", "x.wild.example")[1])["name"] == "two"
    response, body = get(proxy, "/", "y.x.wild.example")
    assert response.status == 404


def test_default_backend_404_and_503(proxy_factory: Callable[..., Proxy],
                                     two: tuple[Upstream, Upstream]) -> None:
    one, _ = two
    table = RoutingTable(hosts=(
        routes("app.example", ("/ok", backend("one", one.endpoint)),
               ("/empty", backend("empty"))),
    ))
    proxy = proxy_factory(table)
    response, body = get(proxy, "/nothing", "app.example")
    assert response.status == 404
    assert response.getheader("Content-Type", "").startswith("text/plain")
    assert body.startswith(b"404 Not Found") and len(body) < 200
    response, body = get(proxy, "/empty", "app.example")
    assert response.status == 503 and b"Traceback" not in body
    proxy.update(RoutingTable(hosts=table.hosts, default_backend=backend("d", one.endpoint)))
    response, body = get(proxy, "/nothing", "other.example")
    assert response.status == 200 and echo(body)["name"] == "one"


def test_forwarding_headers_and_original_uri(proxy_factory: Callable[..., Proxy],
                                             two: tuple[Upstream, Upstream]) -> None:
    one, _ = two
    proxy = proxy_factory(RoutingTable(hosts=(routes("", ("/", backend("one", one.endpoint))),)))
    weird = "/a/../b/./c%2Fd/%2e%2e?x=%2F&y=1"
    response, data = get(proxy, weird, "app.example:8080", headers={
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "gopher",
        "X-Real-IP": "203.0.113.99",
        "Connection": "keep-alive, X-Secret",
        "X-Secret": "hop",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Proxy-Authorization": "Basic eDp5",
        "Upgrade": "websocket",
        "X-Custom": "end-to-end",
    })
    assert response.status == 200
    info = echo(data)
    assert info["raw_path"] == weird  # the original request-target, not the normalised path
    assert header(info, "Host") == ["app.example:8080"]
    assert header(info, "X-Forwarded-For") == ["203.0.113.7, 127.0.0.1"]
    assert header(info, "X-Forwarded-Proto") == ["http"]
    assert header(info, "X-Forwarded-Host") == ["app.example:8080"]
    assert header(info, "X-Real-IP") == ["127.0.0.1"]
    assert header(info, "X-Forwarded-Port") == [str(proxy.http_address[1])]  # type: ignore
    request_ids = header(info, "X-Request-ID")
    assert len(request_ids) == 1 and len(request_ids[0]) == 32
    assert header(info, "X-Custom") == ["end-to-end"]
    for hop in ("X-Secret", "Keep-Alive", "TE", "Proxy-Authorization", "Upgrade",
                "Transfer-Encoding"):
        assert header(info, hop) == [], hop
    # Connection is this hop's business: whatever the proxy sends upstream, not the client's.
    assert all("x-secret" not in v.lower() for v in header(info, "Connection"))
    # Response hop-by-hop fields are dropped too.
    assert response.getheader("Keep-Alive") is None
    assert response.getheader("X-Upstream") == "one"

    _, data = get(proxy, "/", headers={"X-Request-ID": "abc-123"})
    assert header(echo(data), "X-Request-ID") == ["abc-123"]


def test_absolute_form_target(proxy_factory: Callable[..., Proxy],
                              two: tuple[Upstream, Upstream]) -> None:
    one, other = two
    proxy = proxy_factory(RoutingTable(hosts=(
        routes("a.example", ("/", backend("one", one.endpoint))),
        routes("b.example", ("/", backend("two", other.endpoint))),
    )))
    assert proxy.http_address is not None
    raw = raw_exchange(proxy.http_address, b"GET http://b.example/p?q=1 HTTP/1.1\r\n"
                       b"Host: a.example\r\nConnection: close\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    info = echo(body)
    assert info["name"] == "two" and info["raw_path"] == "/p?q=1"
    assert header(info, "Host") == ["b.example"]


# -- keep-alive, pooling, load balancing -----------------------------------------------------

def test_client_and_upstream_keep_alive(proxy_factory: Callable[..., Proxy],
                                        two: tuple[Upstream, Upstream]) -> None:
    one, _ = two
    proxy = proxy_factory(RoutingTable(hosts=(routes("", ("/", backend("one", one.endpoint))),)))
    assert proxy.http_address is not None
    conn = http.client.HTTPConnection(*proxy.http_address, timeout=DEADLINE)
    get(proxy, "/1", conn=conn)
    sock = conn.sock
    for i in range(2, 6):
        response, _ = get(proxy, f"/{i}", conn=conn)
        assert response.status == 200 and response.getheader("Connection") != "close"
    assert conn.sock is sock  # one client connection for all five requests
    conn.close()
    for i in range(5):  # and new client connections reuse the pooled upstream connection
        get(proxy, f"/again/{i}")
    assert len({r["peer_port"] for r in one.requests}) == 1
    assert proxy.pool.connects == 1


def test_round_robin_spread(proxy_factory: Callable[..., Proxy],
                            upstream_factory: Callable[[str], Upstream]) -> None:
    ups = [upstream_factory(f"u{i}") for i in range(3)]
    proxy = proxy_factory(RoutingTable(hosts=(
        routes("", ("/", backend("rr", *(u.endpoint for u in ups)))),)))
    names = [echo(get(proxy, f"/{i}")[1])["name"] for i in range(30)]
    assert {n: names.count(n) for n in set(names)} == {"u0": 10, "u1": 10, "u2": 10}
    assert names[:3] == ["u0", "u1", "u2"]


def test_connect_failure_retries_idempotent_only(proxy_factory: Callable[..., Proxy],
                                                 two: tuple[Upstream, Upstream]) -> None:
    one, _ = two
    dead = Endpoint("127.0.0.1", free_port())
    proxy = proxy_factory(RoutingTable(hosts=(
        routes("", ("/", backend("mixed", dead, one.endpoint))),
        routes("dead.example", ("/", backend("dead", dead))),
    )))
    for i in range(4):  # every GET lands, whichever endpoint round-robin picked first
        response, _ = get(proxy, f"/{i}")
        assert response.status == 200
    statuses = sorted(get(proxy, "/post", method="POST", body=b"x")[0].status
                      for _ in range(2))
    assert statuses == [200, 502]  # the POST that drew the dead endpoint is not retried
    response, body = get(proxy, "/", "dead.example")
    assert response.status == 502 and body.startswith(b"502 Bad Gateway")


def test_upstream_timeout_is_504(proxy_factory: Callable[..., Proxy],
                                 two: tuple[Upstream, Upstream]) -> None:
    one, _ = two
    proxy = proxy_factory(
        RoutingTable(hosts=(routes("", ("/", backend("one", one.endpoint))),)),
        upstream_timeout=0.5)
    started = time.monotonic()
    response, body = get(proxy, "/slow?delay=5")
    assert response.status == 504 and body.startswith(b"504 Gateway Timeout")
    assert time.monotonic() - started < 4
    response, _ = get(proxy, "/fast")  # the proxy is fine afterwards
    assert response.status == 200


# -- streaming --------------------------------------------------------------------------------

def test_request_and_response_bodies_stream(proxy_factory: Callable[..., Proxy],
                                            two: tuple[Upstream, Upstream]) -> None:
    one, _ = two
    proxy = proxy_factory(RoutingTable(hosts=(routes("", ("/", backend("one", one.endpoint))),)))
    big = bytes(range(256)) * 4096  # 1 MiB with a Content-Length
    response, data = get(proxy, "/upload", method="PUT", body=big)
    info = echo(data)
    assert response.status == 200 and info["body"].encode("latin-1") == big
    assert header(info, "Content-Length") == [str(len(big))]

    assert proxy.http_address is not None
    conn = http.client.HTTPConnection(*proxy.http_address, timeout=DEADLINE)
    conn.request("POST", "/chunked", body=iter([b"hello ", b"chunked ", b"world"]),
                 headers={"Host": "a"}, encode_chunked=True)
    response = conn.getresponse()
    info = echo(response.read())
    assert info["body"] == "hello chunked world"
    assert header(info, "Transfer-Encoding") == ["chunked"]

    conn.request("GET", "/stream?chunks=50", headers={"Host": "a"})
    response = conn.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.read() == b"".join(f"chunk {i}\n".encode() for i in range(50))
    conn.close()


# -- malformed and smuggling-shaped requests -------------------------------------------------

SMUGGLING = {
    "cl-and-te": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-and-cl": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                 b"Content-Length: 4\r\n\r\n0\r\n\r\n",
    "duplicate-cl": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
                    b"Content-Length: 4\r\n\r\nabcd",
    "conflicting-cl": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
                      b"Content-Length: 5\r\n\r\nabcde",
    "cl-list": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\nabcd",
    "empty-cl": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\nabcd",
    "signed-cl": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd",
    "empty-header-name": b"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n",
    "space-before-colon": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 4\r\n\r\nabcd",
    "te-not-chunked": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabcd",
    "te-chunked-twice": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-obfuscated": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
    "te-http10": b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  folded\r\n\r\n",
    "two-hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "no-host": b"GET / HTTP/1.1\r\n\r\n",
    "bad-request-line": b"GET /\r\n\r\n",
    "garbage": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
    "bad-host": b"GET / HTTP/1.1\r\nHost: a b/c\r\n\r\n",
    "asterisk": b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
    "bad-chunk-size": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"zz\r\nabcd\r\n0\r\n\r\n",
    "http-2-version": b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    "connect": b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
    "control-char-in-value": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n",
    "te-chunked-then-gzip": b"POST / HTTP/1.1\r\nHost: a\r\n"
                            b"Transfer-Encoding: chunked, gzip\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_malformed_and_smuggling_rejected(name: str, proxy_factory: Callable[..., Proxy],
                                          two: tuple[Upstream, Upstream]) -> None:
    one, _ = two
    proxy = proxy_factory(RoutingTable(hosts=(routes("", ("/", backend("one", one.endpoint))),)))
    assert proxy.http_address is not None
    raw = raw_exchange(proxy.http_address, SMUGGLING[name])
    assert raw.startswith(b"HTTP/1.1 400 "), raw[:80]
    assert raw.count(b"HTTP/1.1") == 1  # one answer, then the connection is closed
    assert b"Traceback" not in raw
    if name != "bad-chunk-size":  # (its head is fine; the body breaks mid-stream)
        assert one.requests == []  # nothing reached the upstream


def test_pipelined_requests_are_checked_one_by_one(proxy_factory: Callable[..., Proxy],
                                                   two: tuple[Upstream, Upstream]) -> None:
    one, _ = two
    proxy = proxy_factory(RoutingTable(hosts=(routes("", ("/", backend("one", one.endpoint))),)))
    assert proxy.http_address is not None
    raw = raw_exchange(proxy.http_address,
                       b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
                       b"GET /second HTTP/1.1\r\nHost: a\r\n\r\n"
                       b"POST /third HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
                       b"Content-Length: 1\r\n\r\nx"
                       b"GET /never HTTP/1.1\r\nHost: a\r\n\r\n")
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", raw) == [b"200", b"200", b"400"]
    assert [r["raw_path"] for r in one.requests] == ["/first", "/second"]


def test_many_pipelined_requests_answered_in_order(
        proxy_factory: Callable[..., Proxy], two: tuple[Upstream, Upstream]) -> None:
    # More than the proxy queues before it stops reading: reading pauses and resumes.
    one, _ = two
    proxy = proxy_factory(RoutingTable(hosts=(routes("", ("/", backend("one", one.endpoint))),)))
    assert proxy.http_address is not None
    requests = b"".join(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(30))
    raw = raw_exchange(proxy.http_address,
                       requests + b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", raw) == [b"200"] * 31
    assert raw.count(b"\r\nConnection: close\r\n") == 1
    assert [r["raw_path"] for r in one.requests] == [f"/{i}" for i in range(30)] + ["/last"]


def test_upgrade_requests_are_declined(proxy_factory: Callable[..., Proxy],
                                       two: tuple[Upstream, Upstream]) -> None:
    # The parser stops at a request asking to switch protocols; the proxy answers it as a
    # plain request (Upgrade is hop-by-hop) and goes on reading the connection, body included.
    one, _ = two
    proxy = proxy_factory(RoutingTable(hosts=(routes("", ("/", backend("one", one.endpoint))),)))
    assert proxy.http_address is not None
    raw = raw_exchange(proxy.http_address,
                       b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                       b"Upgrade: websocket\r\n\r\n"
                       b"POST /length HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
                       b"Upgrade: h2c\r\nContent-Length: 5\r\n\r\nhello"
                       b"POST /chunked HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
                       b"Upgrade: h2c\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                       b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", raw) == [b"200"] * 4
    assert [(r["raw_path"], r["body"]) for r in one.requests] == [
        ("/ws", ""), ("/length", "hello"), ("/chunked", "abcde"), ("/last", "")]
    for info in one.requests:
        assert header(info, "Upgrade") == []


def test_half_closed_client_is_answered(proxy_factory: Callable[..., Proxy],
                                        two: tuple[Upstream, Upstream]) -> None:
    one, _ = two
    proxy = proxy_factory(RoutingTable(hosts=(routes("", ("/", backend("one", one.endpoint))),)))
    assert proxy.http_address is not None
    with socket.create_connection(proxy.http_address, timeout=DEADLINE) as s:
        s.sendall(b"GET /half HTTP/1.1\r\nHost: a\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 ") and b'"/half"' in reply


def test_client_connection_close_and_request_ids(proxy_factory: Callable[..., Proxy],
                                                 two: tuple[Upstream, Upstream]) -> None:
    one, _ = two
    proxy = proxy_factory(RoutingTable(hosts=(routes("", ("/", backend("one", one.endpoint))),)))
    assert proxy.http_address is not None
    raw = raw_exchange(proxy.http_address,
                       b"GET /1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                       b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
    assert raw.count(b"HTTP/1.1 ") == 1 and b"\r\nConnection: close\r\n" in raw
    ids = {header(echo(get(proxy, f"/{i}")[1]), "X-Request-ID")[0] for i in range(100)}
    assert len(ids) == 100 and all(re.fullmatch("[0-9a-f]{32}", i) for i in ids)


def test_expect_100_continue(proxy_factory: Callable[..., Proxy],
                             two: tuple[Upstream, Upstream]) -> None:
    one, _ = two
    proxy = proxy_factory(RoutingTable(hosts=(routes("", ("/", backend("one", one.endpoint))),)))
    assert proxy.http_address is not None
    with socket.create_connection(proxy.http_address, timeout=DEADLINE) as s:
        s.sendall(b"PUT /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        assert s.recv(1024).startswith(b"HTTP/1.1 100 ")
        s.sendall(b"hello")
        reply = b""
        while b"}" not in reply:
            reply += s.recv(65536)
    info = echo(reply.partition(b"\r\n\r\n")[2])
    assert info["body"] == "hello" and header(info, "Expect") == []


def test_head_and_http10_and_unread_body(proxy_factory: Callable[..., Proxy],
                                         two: tuple[Upstream, Upstream]) -> None:
    one, _ = two
    proxy = proxy_factory(RoutingTable(hosts=(routes("a", ("/", backend("one", one.endpoint))),)))
    assert proxy.http_address is not None
    conn = http.client.HTTPConnection(*proxy.http_address, timeout=DEADLINE)
    response, body = get(proxy, "/h", "a", method="HEAD", conn=conn)
    assert response.status == 200 and body == b"" and int(response.getheader("Content-Length"))
    response, body = get(proxy, "/after-head", "a", conn=conn)  # framing intact
    assert echo(body)["raw_path"] == "/after-head"
    conn.close()
    raw = raw_exchange(proxy.http_address, b"GET /old HTTP/1.0\r\nHost: a\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 ") and b'"/old"' in raw
    # A refused request whose body was not read must not leave it to be parsed as the next
    # request: the proxy closes the connection.
    raw = raw_exchange(proxy.http_address, b"POST / HTTP/1.1\r\nHost: nowhere\r\n"
                       b"Content-Length: 1000\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 404 ") and b"\r\nConnection: close\r\n" in raw
    assert raw.count(b"HTTP/1.1 ") == 1


def test_slow_and_oversized_heads(proxy_factory: Callable[..., Proxy],
                                  two: tuple[Upstream, Upstream]) -> None:
    one, _ = two
    proxy = proxy_factory(
        RoutingTable(hosts=(routes("", ("/", backend("one", one.endpoint))),)),
        client_timeout=0.5)
    assert proxy.http_address is not None
    assert raw_exchange(proxy.http_address, b"GET / HTTP/1.1\r\nHost: a\r\n").startswith(
        b"HTTP/1.1 408 ")
    huge = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * 100_000 + b"\r\n\r\n"
    assert raw_exchange(proxy.http_address, huge).startswith(b"HTTP/1.1 431 ")
    assert raw_exchange(proxy.http_address, b"") == b""  # idle connection: just closed
    assert one.requests == []
    stalled = b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"
    assert raw_exchange(proxy.http_address, stalled).startswith(b"HTTP/1.1 408 ")


_Server = TypeVar("_Server", bound="LoopbackServer")


class LoopbackServer:
    """An asyncio server on a free loopback port; subclasses answer in `_handle`."""

    server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def start(self: _Server) -> _Server:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def endpoint(self) -> Endpoint:
        assert self.server is not None
        return Endpoint("127.0.0.1", self.server.sockets[0].getsockname()[1])


class RawUpstream(LoopbackServer):
    """An asyncio server answering each request with fixed bytes (and maybe closing)."""

    def __init__(self, lt: LoopThread, reply: bytes, close: bool,
                 answers_per_connection: int | None = None) -> None:
        self.lt, self.reply, self.close = lt, reply, close
        self.answers_per_connection = answers_per_connection
        self.connections = 0

    async def _handle(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = 0
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                if answered == self.answers_per_connection:
                    break  # a keep-alive connection that dies when reused
                answered += 1
                writer.write(self.reply)
                await writer.drain()
                if self.close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.mark.parametrize(("reply", "close", "expected"), [
    (b"NOT HTTP AT ALL\r\n\r\n", True, 502),
    (b"", True, 502),  # closes without answering
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", True, 200),  # truncated body
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", True, 200),  # keep-alive, then closes
    (b"HTTP/1.0 200 OK\r\n\r\nclose-delimited", True, 200),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
     False, 201),
    (b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n",
     False, 502),  # a switch nobody asked for
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n", False, 502),  # ambiguous framing
])
def test_misbehaving_upstreams(reply: bytes, close: bool, expected: int, lt: LoopThread,
                               proxy_factory: Callable[..., Proxy]) -> None:
    upstream = lt.run(RawUpstream(lt, reply, close).start())
    try:
        proxy = proxy_factory(RoutingTable(hosts=(
            routes("", ("/", backend("raw", upstream.endpoint))),)))
        for _ in range(3):  # the proxy keeps working (and stale pooled connections are not used)
            try:
                response, body = get(proxy, "/")
            except http.client.IncompleteRead:
                assert b"short" in reply  # a response cut mid-body is cut for the client too
                continue
            assert response.status == expected
            if expected == 502:
                assert body.startswith(b"502 Bad Gateway") and b"Traceback" not in body
    finally:
        lt.run(upstream.stop())


def test_close_delimited_response_reframed(lt: LoopThread,
                                           proxy_factory: Callable[..., Proxy]) -> None:
    upstream = lt.run(RawUpstream(lt, b"HTTP/1.0 200 OK\r\nX-A: 1\r\n\r\nclose-delimited",
                                  close=True).start())
    try:
        proxy = proxy_factory(RoutingTable(hosts=(
            routes("", ("/", backend("raw", upstream.endpoint))),)))
        assert proxy.http_address is not None
        conn = http.client.HTTPConnection(*proxy.http_address, timeout=DEADLINE)
        for _ in range(2):  # HTTP/1.1 client: chunked, and the connection stays open
            response, body = get(proxy, "/", conn=conn)
            assert (response.status, body) == (200, b"close-delimited")
            assert response.getheader("Transfer-Encoding") == "chunked"
            assert response.getheader("X-A") == "1"
        conn.close()
        raw = raw_exchange(proxy.http_address, b"GET / HTTP/1.0\r\nHost: a\r\n\r\n")
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and b"\r\nConnection: close" in head
        assert b"Transfer-Encoding" not in head and body == b"close-delimited"
    finally:
        lt.run(upstream.stop())


def test_head_response_keeps_pooled_connection(lt: LoopThread,
                                               proxy_factory: Callable[..., Proxy]) -> None:
    upstream = lt.run(RawUpstream(lt, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                                  close=False).start())
    try:
        proxy = proxy_factory(RoutingTable(hosts=(
            routes("", ("/", backend("raw", upstream.endpoint))),)))
        for _ in range(3):
            response, body = get(proxy, "/", method="HEAD")
            assert response.status == 200 and body == b""
            assert response.getheader("Content-Length") == "5"
        assert proxy.pool.connects == 1 and upstream.connections == 1
    finally:
        lt.run(upstream.stop())


def test_dead_pooled_connection_is_retried_for_idempotent_requests(
        lt: LoopThread, proxy_factory: Callable[..., Proxy]) -> None:
    upstream = lt.run(RawUpstream(lt, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                                  close=False, answers_per_connection=1).start())
    try:
        proxy = proxy_factory(RoutingTable(hosts=(
            routes("", ("/", backend("raw", upstream.endpoint))),)))
        for _ in range(3):
            response, body = get(proxy, "/")
            assert (response.status, body) == (200, b"ok")
        assert proxy.pool.connects == 3  # each reuse failed and was retried on a new one
        response, _ = get(proxy, "/", method="POST", body=b"data")
        assert response.status == 502  # a request with a body is never replayed
    finally:
        lt.run(upstream.stop())


# -- table swaps and draining ----------------------------------------------------------------

def test_table_swap_mid_request(proxy_factory: Callable[..., Proxy],
                                two: tuple[Upstream, Upstream]) -> None:
    one, other = two
    old = RoutingTable(hosts=(routes("", ("/", backend("svc", one.endpoint))),), version=1)
    new = RoutingTable(hosts=(routes("", ("/", backend("svc", other.endpoint))),), version=2)
    proxy = proxy_factory(old)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(get, proxy, "/held?hold=1")
        wait_for(lambda: len(one.requests) == 1)
        proxy.update(new)
        assert proxy.table.version == 2
        response, data = get(proxy, "/after")
        assert echo(data)["name"] == "two"  # new requests use the new table at once
        wait_for(lambda: proxy.in_flight.snapshot() == {one.endpoint.hostport: 1})
        one.release()
        response, data = pending.result(DEADLINE)
    assert response.status == 200 and echo(data)["name"] == "one"  # finished on its table
    wait_for(lambda: proxy.in_flight.snapshot() == {})
    # The removed endpoint's connection was not returned to the pool.
    assert proxy.pool.idle_count(one.endpoint.hostport) == 0


def test_slow_reader_gets_a_large_response_whole(proxy_factory: Callable[..., Proxy],
                                                 upstream_factory: Callable[[str], Upstream]
                                                 ) -> None:
    """A client that does not read for a while: the proxy's writes pause (asyncio's write
    flow control), it stops reading the upstream, and resumes when the client reads; the
    body arrives complete."""
    up = upstream_factory("big")
    proxy = proxy_factory(RoutingTable(hosts=(routes("app.example",
                                                     ("/", backend("big", up.endpoint))),)))
    size = 8 * 1024 * 1024
    address = proxy.http_address
    assert address is not None
    with socket.create_connection(address, timeout=DEADLINE) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        sock.sendall(f"GET /x?big={size} HTTP/1.1\r\nHost: app.example\r\n"
                     "Connection: close\r\n\r\n".encode())
        time.sleep(0.5)  # not reading: the proxy must wait, not buffer 8 MB or give up
        data = bytearray()
        while chunk := sock.recv(1 << 16):
            data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert len(body) == size and body.count(b"x") == size


def test_removed_endpoint_drains(proxy_factory: Callable[..., Proxy],
                                 two: tuple[Upstream, Upstream]) -> None:
    one, other = two
    both = RoutingTable(hosts=(routes("", ("/", backend("svc", one.endpoint,
                                                           other.endpoint))),))
    proxy = proxy_factory(both)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(get, proxy, "/held?hold=1")  # round-robin: first to "one"
        wait_for(lambda: len(one.requests) == 1)
        proxy.update(RoutingTable(hosts=(routes("", ("/", backend("svc", other.endpoint))),)))
        names = [echo(get(proxy, f"/{i}")[1])["name"] for i in range(6)]
        assert names == ["two"] * 6  # the leaving endpoint gets no new request
        one.release()
        response, data = pending.result(DEADLINE)
    assert response.status == 200 and echo(data)["name"] == "one"  # in-flight completed
    assert len(one.requests) == 1


def wait_for(condition: Callable[[], bool], deadline: float = DEADLINE) -> None:
    """Poll until `condition()` holds (a deadline only to avoid hanging)."""
    eventually(condition, deadline, interval=0.01)


# -- TLS --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def certificate(ca: trustme.CA, *hosts: str) -> Certificate:
    issued = ca.issue_cert(*hosts)
    return Certificate(hosts=hosts,
                       cert_pem=b"".join(b.bytes() for b in issued.cert_chain_pems),
                       key_pem=issued.private_key_pem.bytes(), source="ns/" + hosts[0])


def tls_get(proxy: Proxy, sni: str | None, host: str, path: str = "/",
            context: ssl.SSLContext | None = None) -> tuple[int, bytes, bytes]:
    """GET over TLS with SNI and Host chosen independently: (status, body, peer cert DER)."""
    address = proxy.https_address
    assert address is not None
    if context is None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(address, timeout=DEADLINE)
    try:
        tls = context.wrap_socket(raw, server_hostname=sni)
    except BaseException:
        raw.close()
        raise
    der = tls.getpeercert(binary_form=True) or b""
    conn = http.client.HTTPConnection(*address, timeout=DEADLINE)
    conn.sock = tls  # already connected: http.client uses it as is
    conn.request("GET", path, headers={"Host": host})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body, der


def verifying(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def common_name(der: bytes) -> str:
    """The subject CN of a certificate ("" when it has none, as trustme's leaves)."""
    cert = x509.load_der_x509_certificate(der)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


@pytest.fixture
def tls_table(ca: trustme.CA, two: tuple[Upstream, Upstream]) -> RoutingTable:
    one, other = two
    return RoutingTable(
        hosts=(
            routes("a.example", ("/", backend("one", one.endpoint))),
            routes("b.example", ("/", backend("two", other.endpoint))),
            routes("x.w.example", ("/", backend("two", other.endpoint))),
            routes("plain.example", ("/", backend("one", one.endpoint))),
        ),
        certificates=(certificate(ca, "a.example"), certificate(ca, "b.example"),
                      certificate(ca, "*.w.example")),
    )


def test_tls_sni_certificates_verify(proxy_factory: Callable[..., Proxy], ca: trustme.CA,
                                     tls_table: RoutingTable) -> None:
    proxy = proxy_factory(tls_table)
    status, body, _ = tls_get(proxy, "a.example", "a.example", context=verifying(ca))
    assert status == 200 and echo(body)["name"] == "one"
    assert header(echo(body), "X-Forwarded-Proto") == ["https"]
    status, body, _ = tls_get(proxy, "b.example", "b.example", context=verifying(ca))
    assert status == 200 and echo(body)["name"] == "two"
    status, body, _ = tls_get(proxy, "x.w.example", "x.w.example", context=verifying(ca))
    assert status == 200 and echo(body)["name"] == "two"
    # SNI is case-insensitive too; the wildcard covers exactly one label.
    status, _, der = tls_get(proxy, "A.EXAMPLE", "a.example")
    assert common_name(der) != DEFAULT_COMMON_NAME
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_get(proxy, "y.x.w.example", "x.w.example", context=verifying(ca))


@pytest.mark.parametrize("sni", ["unknown.example", None])
def test_tls_default_certificate(sni: str | None, proxy_factory: Callable[..., Proxy],
                                 ca: trustme.CA, tls_table: RoutingTable) -> None:
    proxy = proxy_factory(tls_table)
    status, _, der = tls_get(proxy, sni, "plain.example")
    assert common_name(der) == DEFAULT_COMMON_NAME  # never another host's certificate
    assert status == 200  # the request is still routed by its Host
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_get(proxy, "unknown.example", "unknown.example", context=verifying(ca))


def test_tls_misdirected_request(proxy_factory: Callable[..., Proxy], ca: trustme.CA,
                                 tls_table: RoutingTable) -> None:
    proxy = proxy_factory(tls_table)
    status, body, _ = tls_get(proxy, "a.example", "b.example", context=verifying(ca))
    assert status == 421 and body.startswith(b"421 Misdirected Request")
    # A Host without a certificate of its own may ride any TLS connection.
    status, body, _ = tls_get(proxy, "a.example", "plain.example", context=verifying(ca))
    assert status == 200
    # A name covered by the connection's (wildcard) certificate is fine.
    status, _, _ = tls_get(proxy, "x.w.example", "X.w.example:443", context=verifying(ca))
    assert status == 200


def test_tls_certificates_follow_table_swaps(proxy_factory: Callable[..., Proxy],
                                             ca: trustme.CA, tls_table: RoutingTable) -> None:
    proxy = proxy_factory(RoutingTable(hosts=tls_table.hosts))
    _, _, der = tls_get(proxy, "a.example", "a.example")
    assert common_name(der) == DEFAULT_COMMON_NAME
    proxy.update(tls_table)
    status, _, _ = tls_get(proxy, "a.example", "a.example", context=verifying(ca))
    assert status == 200
    broken = Certificate(hosts=("b.example",), cert_pem=b"nope", key_pem=b"nope")
    proxy.update(RoutingTable(hosts=tls_table.hosts, certificates=(broken,)))
    _, _, der = tls_get(proxy, "b.example", "b.example")  # a bad Secret: default cert
    assert common_name(der) == DEFAULT_COMMON_NAME


def test_plain_http_to_tls_host(proxy_factory: Callable[..., Proxy],
                                tls_table: RoutingTable) -> None:
    proxy = proxy_factory(tls_table)
    response, data = get(proxy, "/x?y=1", "a.example")
    assert response.status == 200 and echo(data)["name"] == "one"

    redirecting = proxy_factory(tls_table, https_redirect=True)
    assert redirecting.https_address is not None
    response, _ = get(redirecting, "/x?y=1", "a.example:8080")
    assert response.status == 308
    assert response.getheader("Location") == \
        f"https://a.example:{redirecting.https_address[1]}/x?y=1"
    response, _ = get(redirecting, "/x", "plain.example")  # no certificate: served
    assert response.status == 200
