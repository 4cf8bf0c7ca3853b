"""Bits of Go's standard library that the echo-basic image's output depends on.

echo-basic is a Go net/http program, so its JSON is encoding/json's, its header names are
net/textproto's canonical form, and its `?delay=` is parsed by time.ParseDuration. These are
small, faithful ports of just those behaviours.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..gotime import DurationError, go_quote, parse_duration_ns  # noqa: F401 - re-exported

__all__ = ["canonical_header_key", "marshal_indent", "marshal", "parse_duration", "go_quote"]

# RFC 7230 token characters: textproto.CanonicalMIMEHeaderKey leaves a key that contains
# anything else untouched.
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def canonical_header_key(name: str) -> str:
    """textproto.CanonicalMIMEHeaderKey: 'x-forwarded-for' -> 'X-Forwarded-For'."""
    raw = name.encode("latin-1", "replace")
    if not raw or any(c not in _TOKEN for c in raw):
        return name
    out = []
    upper = True
    for ch in name:
        out.append(ch.upper() if upper else ch.lower())
        upper = ch == "-"
    return "".join(out)


# encoding/json escapes these even inside otherwise plain strings (HTML safety, and the two
# JavaScript line terminators); they never occur outside strings in JSON text, so a textual
# replace after Python's encoder is exact.
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
               "\u2029": "\\u2029"}
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


def _go_escape(text: str) -> str:
    return _GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group(0)], text)


def marshal_indent(value: Any, indent: str = " ") -> bytes:
    """json.MarshalIndent(value, "", indent) for dicts/lists/strings (keys of maps sorted).

    Callers pass struct fields as a plain dict in declaration order (Go keeps struct order)
    and Go maps as dicts built with sorted keys (Go sorts map keys).
    """
    text = json.dumps(value, ensure_ascii=False, indent=len(indent), separators=(",", ": "))
    return _go_escape(text).encode()


def marshal(value: Any) -> bytes:
    """json.Marshal: compact form."""
    return _go_escape(json.dumps(value, ensure_ascii=False, separators=(",", ":"))).encode()


def parse_duration(text: str) -> float:
    """time.ParseDuration ("300ms", "1.5h", "2h45m", "-1s") -> seconds; DurationError carries
    Go's message, which echo-basic returns in its 500 response body."""
    return parse_duration_ns(text) / 1e9


# net/http's StatusText (src/net/http/status.go); Python's phrases differ for a few codes
# (418 "I'm a Teapot", 414 "Request-URI Too Long", ...), and echo-basic's /status/NNN makes
# the status line a visible output.
STATUS_TEXT = {
    100: "Continue", 101: "Switching Protocols", 102: "Processing", 103: "Early Hints",
    200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information",
    204: "No Content", 205: "Reset Content", 206: "Partial Content", 207: "Multi-Status",
    208: "Already Reported", 226: "IM Used",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other",
    304: "Not Modified", 305: "Use Proxy", 307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 409: "Conflict",
    410: "Gone", 411: "Length Required", 412: "Precondition Failed",
    413: "Request Entity Too Large", 414: "Request URI Too Long",
    415: "Unsupported Media Type", 416: "Requested Range Not Satisfiable",
    417: "Expectation Failed", 418: "I'm a teapot", 421: "Misdirected Request",
    422: "Unprocessable Entity", 423: "Locked", 424: "Failed Dependency", 425: "Too Early",
    426: "Upgrade Required", 428: "Precondition Required", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 451: "Unavailable For Legal Reasons",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
    506: "Variant Also Negotiates", 507: "Insufficient Storage", 508: "Loop Detected",
    510: "Not Extended", 511: "Network Authentication Required",
}


def status_line_text(code: int) -> str:
    """The reason phrase Go writes: StatusText, or "status code N" for unknown codes."""
    return STATUS_TEXT.get(code) or f"status code {code}"
