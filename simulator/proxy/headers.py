"""Header rewriting between client and upstream. Pure: every function maps header lists to
header lists ((name, value) byte pairs, names as received)."""

from __future__ import annotations

import re
from collections.abc import Iterable

Headers = list[tuple[bytes, bytes]]

# RFC 9110 7.6.1: "Connection" lists the connection options of this hop; a proxy MUST remove
# it and every field it names, plus the hop-by-hop fields RFC 9110 and RFC 9112 define
# (Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade) and the Proxy-* fields, which speak to
# the proxy itself (RFC 9110 11.7).
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade",
    b"proxy-connection", b"proxy-authenticate", b"proxy-authorization",
})

# Set by this proxy from what it saw; the client's values are not trusted and are replaced.
# X-Forwarded-For is the exception: it is a chain and the client's address is appended.
_REPLACED = frozenset({
    b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-port", b"x-real-ip",
})

# Fields forward_request_headers looks at (everything else passes unless Connection names it).
_SPECIAL = HOP_BY_HOP | _REPLACED | {b"x-forwarded-for", b"x-request-id", b"expect", b"host"}

# Connection options never honoured: the message framing and the Host. The proxy forwards the
# body exactly as it parsed it (Content-Length as received, or re-chunked under its own
# Transfer-Encoding), so dropping the field that says how long it is would hand the next hop
# unframed bytes: "Connection: content-length" would smuggle the body in as a second request
# the proxy never routed, and a response would reach the client with no end. RFC 9110 7.6.1:
# "A sender MUST NOT send a connection option corresponding to a field that is intended for
# all recipients of the content"; these are, so such an option is a broken (or hostile)
# message and is ignored, as nginx ignores every Connection-listed name.
PROTECTED = frozenset({b"content-length", b"transfer-encoding", b"host"})

# Options that cannot name a field still to be removed: the protected ones, the hop-by-hop
# fields (removed anyway) and "close". Dropping them first spares the usual
# "Connection: keep-alive" a second pass over the fields.
_NOT_REMOVED = PROTECTED | HOP_BY_HOP | {b"close"}

# A client-supplied request id is kept only if it is a plain token (it ends up in logs).
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,200}")


def connection_options(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    """The lower-case field names listed in every Connection header (RFC 9110 7.6.1)."""
    options: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            options.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return options


def without_hop_by_hop(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """`headers` minus the hop-by-hop fields and the fields named in Connection (except the
    PROTECTED ones: Content-Length and Host stay whatever Connection says)."""
    out: Headers = []
    options: set[bytes] | None = None
    for name, value in headers:
        lower = name.lower()
        if lower in HOP_BY_HOP or lower.startswith(b"proxy-"):
            if lower == b"connection":
                options = options or set()
                options.update(t.strip().lower() for t in value.split(b",") if t.strip())
            continue
        out.append((name, value))
    if options:
        options.difference_update(_NOT_REMOVED)
        if options:
            return [(n, v) for n, v in out if n.lower() not in options]
    return out


class ClientInfo:
    """What the proxy knows about a client connection, for the forwarding headers."""

    __slots__ = ("address", "proto", "port")

    def __init__(self, address: str, proto: str, port: int) -> None:
        self.address = address.encode("ascii")  # the client's IP address
        self.proto = proto.encode("ascii")  # "http" or "https", as the client reached us
        self.port = str(port).encode("ascii")  # the proxy port the client connected to


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The client's X-Request-ID if present and sane, else None."""
    for name, value in headers:
        if name.lower() == b"x-request-id" and _REQUEST_ID.fullmatch(value):
            return value
    return None


def forward_request_headers(
    headers: Iterable[tuple[bytes, bytes]], client: ClientInfo, forwarded_host: bytes,
    req_id: bytes, *, chunked: bool, host: bytes | None = None,
) -> Headers:
    """The header list sent upstream: hop-by-hop fields removed, Expect removed (the proxy
    answers 100-continue itself), forwarding fields set (`forwarded_host`: the Host the
    client asked for, port included), `Host` replaced when `host` is given (absolute-form
    request-target, RFC 9112 3.2.2), and `Transfer-Encoding: chunked` added when the body is
    streamed without a length. Content-Length and Host are kept even when Connection names
    them (see PROTECTED)."""
    kept: list[tuple[bytes, bytes, bytes]] = []
    forwarded_for: list[bytes] = []
    options: set[bytes] | None = None
    for name, value in headers:
        lower = name.lower()
        if lower in _SPECIAL:
            if lower == b"host":
                kept.append((lower, name, value if host is None else host))
            elif lower == b"x-forwarded-for":
                forwarded_for.append(value.strip())
            elif lower == b"connection":
                options = options or set()
                options.update(t.strip().lower() for t in value.split(b",") if t.strip())
            continue
        if lower.startswith(b"proxy-"):
            continue
        kept.append((lower, name, value))
    if options:
        options.difference_update(_NOT_REMOVED)
    if options:
        out = [(n, v) for lower, n, v in kept if lower not in options]
    else:
        out = [(n, v) for _, n, v in kept]
    address = client.address
    chain = b", ".join([v for v in forwarded_for if v] + [address]) if forwarded_for \
        else address
    out += [
        (b"X-Forwarded-For", chain),
        (b"X-Forwarded-Proto", client.proto),
        (b"X-Forwarded-Host", forwarded_host),
        (b"X-Forwarded-Port", client.port),
        (b"X-Real-IP", address),
        (b"X-Request-ID", req_id),
    ]
    if chunked:
        out.append((b"Transfer-Encoding", b"chunked"))
    return out


def forward_response_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """The header list sent back to the client: hop-by-hop fields removed (the proxy adds
    the framing and Connection fields this hop needs)."""
    return without_hop_by_hop(headers)


def serialize(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Header lines as they go on the wire (each ending in CRLF)."""
    return b"".join([b"%s: %s\r\n" % pair for pair in headers])
