"""The proxy's header rewriting (pure): Connection options can remove end-to-end fields, but
never the message framing (Content-Length, Transfer-Encoding) nor the Host, which would let
a client smuggle a request body past the proxy as a second request, or an upstream send the
client a response without an end."""

from __future__ import annotations

import pytest

from simulator.proxy.headers import (
    PROTECTED,
    ClientInfo,
    forward_request_headers,
    forward_response_headers,
    without_hop_by_hop,
)

CLIENT = ClientInfo("10.0.0.1", "http", 80)
ADDED = [b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-port",
         b"x-real-ip", b"x-request-id"]


def names(headers: list[tuple[bytes, bytes]]) -> list[bytes]:
    return [name.lower() for name, _ in headers]


def forward(headers: list[tuple[bytes, bytes]], *, chunked: bool = False,
            host: bytes | None = None) -> list[tuple[bytes, bytes]]:
    return forward_request_headers(headers, CLIENT, b"a.test", b"id-1", chunked=chunked,
                                   host=host)


@pytest.mark.parametrize(("connection", "kept"), [
    (b"content-length", [b"host", b"content-length", b"x"]),
    (b"Content-Length", [b"host", b"content-length", b"x"]),
    (b"keep-alive, CONTENT-LENGTH", [b"host", b"content-length", b"x"]),
    (b" content-length ,x", [b"host", b"content-length"]),  # X goes, Content-Length stays
])
def test_connection_cannot_remove_request_content_length(connection: bytes,
                                                         kept: list[bytes]) -> None:
    out = forward([(b"Host", b"a.test"), (b"Connection", connection),
                   (b"Content-Length", b"32"), (b"X", b"1")])
    assert names(out) == [*kept, *ADDED]
    assert (b"Content-Length", b"32") in out


def test_connection_cannot_remove_host() -> None:
    out = forward([(b"Host", b"a.test"), (b"Connection", b"host, x-gone"), (b"X-Gone", b"1")])
    assert out[0] == (b"Host", b"a.test")
    assert names(out) == [b"host", *ADDED]
    # The absolute-form authority that replaces Host is kept as well.
    out = forward([(b"Host", b"a.test"), (b"Connection", b"Host")], host=b"b.test")
    assert out[0] == (b"Host", b"b.test")


def test_connection_cannot_remove_request_transfer_encoding() -> None:
    # The client's Transfer-Encoding is hop-by-hop and always replaced: the proxy re-chunks
    # the body it parsed and says so itself, whatever Connection lists.
    out = forward([(b"Host", b"a.test"), (b"Connection", b"transfer-encoding"),
                   (b"Transfer-Encoding", b"chunked")], chunked=True)
    assert out[-1] == (b"Transfer-Encoding", b"chunked")
    assert names(out).count(b"transfer-encoding") == 1


def test_connection_still_removes_other_request_fields() -> None:
    out = forward([(b"Host", b"a.test"), (b"Connection", b"content-length, X-Hop, upgrade"),
                   (b"Content-Length", b"0"), (b"X-Hop", b"1"), (b"X-Keep", b"2")])
    assert names(out) == [b"host", b"content-length", b"x-keep", *ADDED]


def test_connection_cannot_remove_response_content_length() -> None:
    received = [(b"Content-Length", b"2"), (b"Connection", b"Content-Length"),
                (b"X-A", b"1")]
    assert forward_response_headers(received) == [(b"Content-Length", b"2"), (b"X-A", b"1")]
    assert without_hop_by_hop(received) == [(b"Content-Length", b"2"), (b"X-A", b"1")]


def test_connection_still_removes_other_response_fields() -> None:
    assert forward_response_headers([
        (b"Connection", b"keep-alive, content-length, X-Gone"), (b"X-Gone", b"1"),
        (b"Content-Length", b"5"), (b"Transfer-Encoding", b"chunked"), (b"Server", b"s"),
    ]) == [(b"Content-Length", b"5"), (b"Server", b"s")]


def test_protected_fields() -> None:
    assert frozenset({b"content-length", b"transfer-encoding", b"host"}) == PROTECTED
