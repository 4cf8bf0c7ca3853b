"""Header rewriting between client and upstream. Pure: every function maps header lists to
header lists (h11 style: (name, value) byte pairs)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

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
    """`headers` minus the hop-by-hop fields and the fields named in Connection."""
    headers = list(headers)
    drop = HOP_BY_HOP | connection_options(headers)
    return [(n, v) for n, v in headers
            if n.lower() not in drop and not n.lower().startswith(b"proxy-")]


@dataclass(frozen=True)
class ClientInfo:
    """What the proxy knows about the request's hop, for the forwarding headers."""

    address: str  # the client's IP address
    proto: str  # "http" or "https": the scheme the client used to reach the proxy
    port: int  # the proxy port the client connected to
    host: str  # the Host the client asked for (as sent, port included)


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The client's X-Request-ID if present and sane, else None."""
    for name, value in headers:
        if name.lower() == b"x-request-id" and _REQUEST_ID.fullmatch(value):
            return value
    return None


def forward_request_headers(
    headers: Iterable[tuple[bytes, bytes]], client: ClientInfo, req_id: bytes, *,
    chunked: bool, host: bytes | None = None,
) -> Headers:
    """The header list sent upstream: hop-by-hop fields removed, Expect removed (the proxy
    answers 100-continue itself), forwarding fields set, `Host` replaced when `host` is
    given (absolute-form request-target, RFC 9112 3.2.2), and `Transfer-Encoding: chunked`
    added when the body is streamed without a length."""
    out: Headers = []
    forwarded_for: list[bytes] = []
    for name, value in without_hop_by_hop(headers):
        lower = name.lower()
        if lower == b"x-forwarded-for":
            forwarded_for.append(value.strip())
        elif lower in _REPLACED or lower in (b"x-request-id", b"expect"):
            continue
        elif lower == b"host" and host is not None:
            out.append((name, host))
        else:
            out.append((name, value))
    address = client.address.encode("ascii")
    chain = b", ".join([v for v in forwarded_for if v] + [address])
    out += [
        (b"X-Forwarded-For", chain),
        (b"X-Forwarded-Proto", client.proto.encode("ascii")),
        (b"X-Forwarded-Host", client.host.encode("ascii", "replace")),
        (b"X-Forwarded-Port", str(client.port).encode("ascii")),
        (b"X-Real-IP", address),
        (b"X-Request-ID", req_id),
    ]
    if chunked:
        out.append((b"Transfer-Encoding", b"chunked"))
    return out


def forward_response_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """The header list sent back to the client: hop-by-hop fields removed (h11 adds the
    framing and Connection fields this hop needs)."""
    return without_hop_by_hop(headers)
