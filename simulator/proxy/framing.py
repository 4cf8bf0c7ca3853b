"""Request-smuggling checks on a parsed request head. Pure.

llhttp (the httptools parser) already rejects, before the head is complete: an empty or
malformed header name, whitespace before the colon, obs-fold (RFC 9112 5.2 lets a server
reject it with 400), control characters in values, a non-numeric, signed, empty or listed
("5, 5") Content-Length, a repeated Content-Length (RFC 9110 8.6 lets a recipient "reject the
message as invalid"), Content-Length together with Transfer-Encoding, and a request
Transfer-Encoding whose final coding is not chunked. The proxy repeats those framing checks
here on the fields as received (a request that reaches no upstream cannot desynchronise one)
and adds the shapes llhttp accepts:

- Content-Length together with Transfer-Encoding. RFC 9112 6.1: "A server MAY reject a request
  that contains both Content-Length and Transfer-Encoding ... Regardless, the server MUST
  close the connection after responding to such a request".
- Content-Length repeated, even with equal values, or as a list ("5, 5").
- Transfer-Encoding other than exactly one `chunked` (what h11 accepted before).
- Transfer-Encoding in an HTTP/1.0 request. RFC 9112 6.1: such a message MUST be treated "as
  if the framing is faulty".
- HTTP versions other than 1.0 and 1.1 (llhttp reads "GET /" as HTTP/0.9).
"""

from __future__ import annotations

from collections.abc import Iterable


class Framing:
    """What a request head says about its framing and host, read in one pass."""

    __slots__ = ("problem", "hosts", "content_length", "chunked")

    def __init__(self, problem: str | None, hosts: list[bytes], content_length: bytes | None,
                 chunked: bool) -> None:
        self.problem = problem  # why the request is refused (400), or None
        self.hosts = hosts  # the values of every Host field
        self.content_length = content_length  # the (single, numeric) Content-Length value
        self.chunked = chunked  # Transfer-Encoding: chunked

    @property
    def has_body(self) -> bool:
        """Whether a body follows the head (RFC 9112 6.3)."""
        return self.chunked or (self.content_length is not None
                                and self.content_length.strip(b" \t0") != b"")


def examine(headers: Iterable[tuple[bytes, bytes]], http_version: str) -> Framing:
    """The framing of a request head (`headers`: the (name, value) pairs as received;
    `http_version`: "1.1", "1.0", ...), with the reason to refuse it if any."""
    hosts: list[bytes] = []
    content_length: bytes | None = None
    content_lengths = 0
    transfer_encodings = 0
    problem = None
    for name, value in headers:
        lower = name.lower()
        if lower == b"host":
            hosts.append(value)
        elif lower == b"content-length":
            content_lengths += 1
            content_length = value
            if b"," in value:
                problem = problem or "Content-Length with several values"
        elif lower == b"transfer-encoding":
            transfer_encodings += 1
            if value.strip().lower() != b"chunked":
                problem = problem or "unsupported Transfer-Encoding"
    if http_version != "1.1" and http_version != "1.0":
        problem = "unsupported HTTP version"
    elif problem is not None:
        pass
    elif transfer_encodings and content_lengths:
        problem = "both Content-Length and Transfer-Encoding"
    elif transfer_encodings and http_version == "1.0":
        problem = "Transfer-Encoding in an HTTP/1.0 request"
    elif content_lengths > 1:
        problem = "duplicate Content-Length"
    elif transfer_encodings > 1:
        problem = "Transfer-Encoding repeated"
    return Framing(problem, hosts, content_length, transfer_encodings > 0)


def framing_problem(headers: Iterable[tuple[bytes, bytes]], http_version: str) -> str | None:
    """Why a request's framing is refused (a short reason for the 400 body), or None."""
    return examine(headers, http_version).problem
