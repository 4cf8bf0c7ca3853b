"""Request-smuggling checks h11 does not make on its own. Pure.

h11 parses the request and already rejects: an empty or malformed header name, whitespace
before the colon, a non-numeric or empty Content-Length, conflicting Content-Length values,
and any Transfer-Encoding other than exactly "chunked". It quietly ACCEPTS some shapes that
one hop may read differently from the next, so the proxy refuses them here, before anything
is forwarded (a request that reaches no upstream cannot desynchronise one):

- Content-Length together with Transfer-Encoding. RFC 9112 6.1: "A server MAY reject a request
  that contains both Content-Length and Transfer-Encoding ... Regardless, the server MUST
  close the connection after responding to such a request".
- Content-Length repeated, even with equal values, or as a list ("5, 5"). RFC 9110 8.6 lets a
  recipient "either reject the message as invalid or replace the duplicated field values";
  rejecting is the choice that no downstream parser can disagree with.
- Transfer-Encoding in an HTTP/1.0 request. RFC 9112 6.1: such a message MUST be treated "as
  if the framing is faulty".
- obs-fold (a header line starting with SP or HTAB), which h11 unfolds silently. RFC 9112 5.2:
  a server that receives obs-fold "MUST either reject the message by sending a 400 (Bad
  Request) ... or replace each received obs-fold with one or more SP octets".

h11 hides duplicates of equal Content-Length values, so the checks read the raw header
block too: `raw_head` is the bytes h11 parsed the request from (up to the blank line).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_HEAD_END = re.compile(rb"\n\r?\n")


def head_lines(raw: bytes) -> list[bytes] | None:
    """The header lines (request line excluded) of the first message head in `raw`, split the
    way h11 splits them (LF, an optional CR before it removed); None if the head is
    incomplete."""
    end = _HEAD_END.search(raw)
    if end is None:
        return None
    lines = raw[: end.start()].split(b"\n")
    return [line[:-1] if line.endswith(b"\r") else line for line in lines[1:]]


def framing_problem(
    raw_head: bytes, headers: Iterable[tuple[bytes, bytes]], http_version: bytes
) -> str | None:
    """Why a request's framing is refused (a short reason for the 400 body), or None.

    `headers` are h11's parsed (lower-case name, value) pairs; `raw_head` as above.
    """
    names = [name.lower() for name, _ in headers]
    has_te = b"transfer-encoding" in names
    has_cl = b"content-length" in names
    if has_te and has_cl:
        return "both Content-Length and Transfer-Encoding"
    if has_te and http_version == b"1.0":
        return "Transfer-Encoding in an HTTP/1.0 request"
    lines = head_lines(raw_head)
    if lines is None:  # cannot happen for a head h11 accepted; refuse rather than guess
        return "unreadable header block"
    content_lengths = 0
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            return "obsolete line folding"
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            content_lengths += 1
            if b"," in value:
                return "Content-Length with several values"
    if content_lengths > 1:
        return "duplicate Content-Length"
    return None
