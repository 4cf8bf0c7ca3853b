"""Pure helpers that turn a request's Host and request-target into the keys routing uses.

Nothing here touches sockets. The proxy forwards the ORIGINAL request-target; these
normalised forms are only for choosing a backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

# RFC 3986 3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ); IP-literal = "[" ... "]".
# RFC 3986 3.2.3: port = *DIGIT (empty allowed).
_REG_NAME = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=%]*")
_IP_LITERAL = re.compile(r"\[[0-9A-Fa-f:.]+(%25[A-Za-z0-9\-._~]+)?\]|\[v[0-9A-Fa-f]+\.[^\]\s]+\]")
_PORT = re.compile(r"[0-9]*")

Segments = tuple[str, ...]


def split_authority(authority: str) -> tuple[str, str] | None:
    """Split `host[:port]` (RFC 3986 3.2.2-3.2.3, IPv6 literals in brackets) into host and
    port text; None when it is not a valid authority (e.g. spaces, `/`, userinfo)."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return None
        host, rest = authority[: end + 1], authority[end + 1:]
        if not _IP_LITERAL.fullmatch(host):
            return None
    else:
        host, sep, port = authority.rpartition(":")
        if not sep:
            host, rest = authority, ""
        else:
            rest = ":" + port
        if not _REG_NAME.fullmatch(host):
            return None
    if rest and not (rest.startswith(":") and _PORT.fullmatch(rest[1:])):
        return None
    return host, rest[1:]


def normalize_host(host: str) -> str:
    """The routing key of a Host header value: lower case, port dropped, one trailing dot
    dropped. Lenient: an unparsable value is only lower-cased (it will match nothing).

    RFC 9110 4.2.3: the host is case-insensitive; Ingress hosts carry no port; a fully
    qualified name may end in a dot (RFC 1034 3.1) and names the same host.
    """
    host = host.strip()
    parts = split_authority(host)
    name = parts[0] if parts is not None else host
    name = name.lower()
    if name.endswith(".") and not name.startswith("["):
        name = name[:-1]
    return name


@dataclass(frozen=True)
class Target:
    """A request-target in the two forms a reverse proxy serves (RFC 9112 3.2)."""

    origin: str  # origin-form: absolute-path [ "?" query ], exactly as sent
    authority: str | None = None  # the authority of an absolute-form target, else None


def parse_target(target: str) -> Target | None:
    """Split an origin-form ("/p?q") or absolute-form ("http://host/p?q") request-target;
    None for the asterisk and authority forms, which name no path to route."""
    if target.startswith("/"):
        return Target(target)
    scheme, sep, rest = target.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    # absolute-URI: the authority ends at the first "/", "?" or "#" (RFC 3986 3.2).
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    origin = rest[end:]
    if not origin.startswith("/"):
        origin = "/" + origin  # "http://h?q" -> "/?q" (RFC 9112 3.2.1: empty path is "/")
    return Target(origin, rest[:end])


def split_target(target: str) -> str:
    """The path of an origin-form or absolute-form request-target, without query or
    fragment (RFC 9112 3.2: origin-form = absolute-path [ "?" query ])."""
    parsed = parse_target(target)
    path = parsed.origin if parsed is not None else target
    for sep in ("?", "#"):
        path = path.split(sep, 1)[0]
    return path


def remove_dot_segments(segments: list[str]) -> Segments:
    """RFC 3986 5.2.4 over a path already split at "/" (first element is the empty string
    before the leading "/"): "." is dropped, ".." drops the previous segment (never above
    the root), and a path ending in "." or ".." keeps a trailing slash ("/a/b/.." -> "/a/")."""
    out: list[str] = []
    last = len(segments) - 1
    for i, seg in enumerate(segments[1:], start=1):
        if seg in (".", ".."):
            if seg == ".." and out:
                out.pop()
            if i == last:
                out.append("")
        else:
            out.append(seg)
    return ("", *out) if out else ("", "")


def path_segments(path: str) -> Segments:
    """The segments routing compares: the path split at its literal "/" characters, each
    segment percent-decoded afterwards (so `%2F` stays data inside one segment, never a
    separator), then dot segments removed (so `%2e%2e` is a ".." too: RFC 3986 6.2.2.2 says
    percent-encoded unreserved characters are equivalent to the characters themselves).

    "/" -> ("", ""), "/a/b" -> ("", "a", "b"), "/a/" -> ("", "a", "").
    """
    if not path.startswith("/"):
        path = "/" + path
    raw = path.split("/")
    # surrogateescape keeps distinct undecodable bytes distinct instead of folding them to
    # U+FFFD; invalid escapes such as "%zz" stay as written.
    decoded = [unquote(seg, errors="surrogateescape") for seg in raw]
    return remove_dot_segments(decoded)


def rule_segments(path: str) -> Segments:
    """A rule's path split for comparison. Rule paths are literal (never decoded): kube-apiserver
    rejects "//", "/./", "/../" and "%2F" in Exact and Prefix paths."""
    if not path.startswith("/"):
        path = "/" + path
    return tuple(path.split("/"))
