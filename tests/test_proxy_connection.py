"""The Connection header over real loopback sockets: options naming the message framing or
the Host are not honoured, so a client cannot smuggle a second request to the upstream in a
body, and an upstream cannot send the client a response without an end. The upstream is a
raw asyncio server that records every request it parses, so what it sees is counted, not
inferred. Also: HTTP/1.0 clients get unchunked responses on connections that then close."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator

import pytest
from httptools import HttpRequestParser

from simulator.proxy import Proxy
from simulator.routing import RoutingTable

from .test_proxy import (  # noqa: F401 - fixtures
    DEADLINE,
    LoopbackServer,
    LoopThread,
    RawUpstream,
    backend,
    lt,
    proxy_factory,
    raw_exchange,
    routes,
)

SMUGGLED = b"GET /admin HTTP/1.1\r\nHost: x\r\n\r\n"


class Seen:
    """One request as the recording upstream parsed it."""

    def __init__(self) -> None:
        self.method = b""
        self.target = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""

    def header(self, name: bytes) -> list[bytes]:
        return [v for n, v in self.headers if n.lower() == name]


class _Parsing:
    """httptools callbacks collecting the requests of one upstream connection."""

    def __init__(self, done: Callable[[Seen], None]) -> None:
        self.parser = HttpRequestParser(self)
        self.current = Seen()
        self.done = done

    def on_message_begin(self) -> None:
        self.current = Seen()

    def on_url(self, url: bytes) -> None:
        self.current.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.current.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.current.method = self.parser.get_method()

    def on_body(self, body: bytes) -> None:
        self.current.body += body

    def on_message_complete(self) -> None:
        self.done(self.current)


class RecordingUpstream(LoopbackServer):
    """An asyncio server that parses every request it receives (kept in `requests`) and
    answers each with `reply`, keeping the connection open."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.requests: list[Seen] = []

    async def _handle(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        def done(seen: Seen) -> None:
            self.requests.append(seen)
            writer.write(self.reply)

        parsing = _Parsing(done)
        try:
            while data := await reader.read(65536):
                parsing.parser.feed_data(data)
                await writer.drain()
        except Exception:  # a parse error or a reset: the test asserts what was recorded
            pass
        writer.close()


class Client:
    """A raw client connection that reads responses by their framing (Content-Length or
    chunked), so a response without framing shows up as a failure, not as a hang."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=DEADLINE)
        self.buffer = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def closed(self) -> bool:
        """Whether the proxy closed the connection (after everything was read)."""
        return not self.buffer and not self._fill()

    def exchange(self, request: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
        """Send `request`; the response's status line, fields (lower-case names) and body."""
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), "connection closed before a response head"
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status, *lines = head.split(b"\r\n")
        fields: dict[bytes, bytes] = {}
        for line in lines:
            name, _, value = line.partition(b":")
            assert name.lower() not in fields, f"repeated {name!r}"
            fields[name.lower()] = value.strip()
        if b"content-length" in fields:
            assert b"transfer-encoding" not in fields
            size = int(fields[b"content-length"])
            while len(self.buffer) < size:
                assert self._fill(), "connection closed mid-body"
            body, self.buffer = self.buffer[:size], self.buffer[size:]
        elif fields.get(b"transfer-encoding") == b"chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buffer:
                    assert self._fill(), "connection closed mid-body"
                size_line, _, self.buffer = self.buffer.partition(b"\r\n")
                size = int(size_line, 16)
                while len(self.buffer) < size + 2:
                    assert self._fill(), "connection closed mid-body"
                body += self.buffer[:size]
                self.buffer = self.buffer[size + 2:]
                if size == 0:
                    break
        else:
            assert fields.get(b"connection") == b"close", \
                f"a response without framing on a kept-alive connection: {head!r}"
            while self._fill():
                pass
            body, self.buffer = self.buffer, b""
        return status, fields, body

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def recording(lt: LoopThread) -> Iterator[Callable[[bytes], RecordingUpstream]]:  # noqa: F811
    started: list[RecordingUpstream] = []

    def make(reply: bytes) -> RecordingUpstream:
        upstream = lt.run(RecordingUpstream(reply).start())
        started.append(upstream)
        return upstream

    yield make
    for upstream in started:
        lt.run(upstream.stop())


@contextlib.contextmanager
def connected(proxy_factory: Callable[..., Proxy],  # noqa: F811
              upstream: RecordingUpstream) -> Iterator[tuple[Proxy, Client]]:
    """A proxy routing every path of host a.test to `upstream`, and a client connection
    to it."""
    proxy = proxy_factory(RoutingTable(hosts=(
        routes("a.test", ("/", backend("up", upstream.endpoint))),)))
    assert proxy.http_address is not None
    client = Client(proxy.http_address)
    try:
        yield proxy, client
    finally:
        client.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_connection_content_length_does_not_smuggle_a_request(
        proxy_factory: Callable[..., Proxy],  # noqa: F811
        recording: Callable[[bytes], RecordingUpstream]) -> None:
    upstream = recording(OK)
    with connected(proxy_factory, upstream) as (proxy, client):
        status, _, body = client.exchange(
            b"POST / HTTP/1.1\r\nHost: a.test\r\nConnection: content-length\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(SMUGGLED), SMUGGLED))
        assert (status, body) == (b"HTTP/1.1 200 OK", b"ok")
        # The connection goes on, and the upstream saw what the client sent, no more.
        status, _, body = client.exchange(b"GET /next HTTP/1.1\r\nHost: a.test\r\n\r\n")
        assert (status, body) == (b"HTTP/1.1 200 OK", b"ok")
    assert [(r.method, r.target) for r in upstream.requests] == [(b"POST", b"/"),
                                                                 (b"GET", b"/next")]
    first = upstream.requests[0]
    assert first.body == SMUGGLED
    assert first.header(b"content-length") == [b"%d" % len(SMUGGLED)]
    assert first.header(b"connection") == []


def test_connection_transfer_encoding_keeps_a_chunked_body_framed(
        proxy_factory: Callable[..., Proxy],  # noqa: F811
        recording: Callable[[bytes], RecordingUpstream]) -> None:
    upstream = recording(OK)
    with connected(proxy_factory, upstream) as (proxy, client):
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED)
        status, _, _ = client.exchange(
            b"POST / HTTP/1.1\r\nHost: a.test\r\nConnection: Transfer-Encoding\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
        assert status == b"HTTP/1.1 200 OK"
        status, _, _ = client.exchange(b"GET /next HTTP/1.1\r\nHost: a.test\r\n\r\n")
        assert status == b"HTTP/1.1 200 OK"
    assert [(r.method, r.target, r.body) for r in upstream.requests] == [
        (b"POST", b"/", SMUGGLED), (b"GET", b"/next", b"")]


def test_connection_host_keeps_the_host(proxy_factory: Callable[..., Proxy],  # noqa: F811
                                        recording: Callable[[bytes], RecordingUpstream]
                                        ) -> None:
    upstream = recording(OK)
    with connected(proxy_factory, upstream) as (proxy, client):
        status, _, _ = client.exchange(
            b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: host, x-gone\r\nX-Gone: 1\r\n\r\n")
    assert status == b"HTTP/1.1 200 OK"
    [seen] = upstream.requests
    assert seen.header(b"host") == [b"a.test"] and seen.header(b"x-gone") == []


@pytest.mark.parametrize("reply", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: Content-Length\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nConnection: keep-alive, content-length\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: transfer-encoding\r\n\r\n"
    b"2\r\nok\r\n0\r\n\r\n",
], ids=["content-length", "keep-alive-content-length", "transfer-encoding"])
def test_connection_in_a_response_cannot_unframe_it(
        reply: bytes, proxy_factory: Callable[..., Proxy],  # noqa: F811
        recording: Callable[[bytes], RecordingUpstream]) -> None:
    upstream = recording(reply)
    with connected(proxy_factory, upstream) as (proxy, client):
        for path in (b"/1", b"/2", b"/3"):  # one kept-alive connection, framed each time
            status, fields, body = client.exchange(
                b"GET %s HTTP/1.1\r\nHost: a.test\r\n\r\n" % path)
            assert (status, body) == (b"HTTP/1.1 200 OK", b"ok")
            assert b"connection" not in fields
    assert [r.target for r in upstream.requests] == [b"/1", b"/2", b"/3"]
    assert proxy.pool.connects == 1  # the upstream connection was kept too


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"


@pytest.mark.parametrize("request_head", [
    b"GET / HTTP/1.0\r\nHost: a.test\r\n\r\n",
    b"GET / HTTP/1.0\r\nHost: a.test\r\nConnection: keep-alive\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",  # HTTP/1.0 may omit Host: the only host-less route serves it
], ids=["plain", "keep-alive", "no-host"])
def test_http10_gets_an_unchunked_response_and_a_close(
        request_head: bytes, proxy_factory: Callable[..., Proxy],  # noqa: F811
        recording: Callable[[bytes], RecordingUpstream]) -> None:
    upstream = recording(CHUNKED)  # the upstream streams: the proxy must not re-chunk
    proxy = proxy_factory(RoutingTable(hosts=(
        routes("", ("/", backend("up", upstream.endpoint))),)))
    assert proxy.http_address is not None
    client = Client(proxy.http_address)
    try:
        status, fields, body = client.exchange(request_head)
        assert (status, body) == (b"HTTP/1.1 200 OK", b"ok")
        assert b"transfer-encoding" not in fields and fields[b"connection"] == b"close"
        assert client.closed()
    finally:
        client.close()
    assert len(upstream.requests) == 1


# ---- transfer codings other than chunked ----------------------------------------------------

@pytest.mark.parametrize(("reply", "close", "body"), [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
     False, b"abc"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabcdef", True, b"abcdef"),  # to close
], ids=["gzip-chunked", "gzip-until-close"])
def test_other_transfer_codings_reach_an_http11_client(
        reply: bytes, close: bool, body: bytes, lt: LoopThread,  # noqa: F811
        proxy_factory: Callable[..., Proxy]) -> None:  # noqa: F811
    """The proxy undoes only the chunked framing of an upstream response: a body still
    encoded with another transfer coding goes on under that coding (re-chunked), never
    passed off as plain."""
    upstream = lt.run(RawUpstream(lt, reply, close).start())
    try:
        proxy = proxy_factory(RoutingTable(hosts=(
            routes("", ("/", backend("raw", upstream.endpoint))),)))
        assert proxy.http_address is not None
        response = raw_exchange(proxy.http_address,
                                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        head, _, rest = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"\r\nTransfer-Encoding: gzip, chunked\r\n" in head + b"\r\n"
        assert rest == b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    finally:
        lt.run(upstream.stop())


def test_other_transfer_codings_cannot_reach_an_http10_client(
        lt: LoopThread, proxy_factory: Callable[..., Proxy]) -> None:  # noqa: F811
    """HTTP/1.0 has no Transfer-Encoding: the encoded body could only arrive as if it were
    plain, so the client gets a 502 (as from nginx) instead."""
    upstream = lt.run(RawUpstream(
        lt, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        False).start())
    try:
        proxy = proxy_factory(RoutingTable(hosts=(
            routes("", ("/", backend("raw", upstream.endpoint))),)))
        assert proxy.http_address is not None
        response = raw_exchange(proxy.http_address, b"GET / HTTP/1.0\r\nHost: a\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 502 ") and b"abc" not in response
    finally:
        lt.run(upstream.stop())
