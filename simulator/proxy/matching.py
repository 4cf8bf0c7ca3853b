"""Routing decisions: which backend serves a request (Host + path). Pure: no I/O, no clock.

Rules (docs/DESIGN.md, principle 2; the Ingress API reference and the Kubernetes docs'
"Ingress" page are the spec):

Host. "Incoming requests are first evaluated for a host match, then routed to the backend
associated with the matching IngressRuleValue" (IngressRule). The Host header is compared
case-insensitively with its port and one trailing dot removed. Groups are tried from most to
least specific and the FIRST group whose host matches is the only one consulted:

1. the exact host (`foo.bar.com`);
2. the wildcard `*.bar.com`, which "only covers a single DNS label": `x.bar.com` matches,
   `y.x.bar.com` and `bar.com` do not;
3. the host-less rules (host ""), which apply to every host.

Fallback when the chosen group has no matching path: the DEFAULT BACKEND (or 404 when there
is none), never a less specific group. Reasons:

- IngressSpec.rules: "If unspecified, or no rule matches, all traffic is sent to the default
  backend"; defaultBackend "is the backend that should handle requests that don't match any
  rule". A request for `foo.bar.com` is matched by the `foo.bar.com` rule (host first), so
  its paths are the only candidates, and a miss goes to the default backend.
- Gateway API's listener isolation (conformance test GatewayHTTPListenerIsolation): a
  request "matches" only the most specific listener hostname; routes of a less specific
  (wildcard or empty) hostname answer 404 even when their path would match.
- ingress-nginx renders each host as its own `server` block (wildcards and host-less rules
  live in other blocks) and an unmatched location goes to the default backend. Traefik
  differs (each rule is an independent router, so a miss can fall through to a host-less
  `PathPrefix` router), so a conformance case probing this fallback belongs at the
  implementation-specific level.

Path. Compared on the percent-decoded, dot-segment-normalised path (see `uri.path_segments`),
query stripped; within a group the first rule that matches wins (the controller sorted them
with `routing.sort_paths`). Exact = equal, case-sensitive, trailing slash significant.
Prefix = element-wise over "/"-separated elements, the rule's trailing slash ignored, so `/`
matches everything. ImplementationSpecific = Prefix (what the reference controller
documents); an empty ImplementationSpecific path means "/".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from simulator.routing import Backend, PathRule, PathType, RoutingTable, host_groups

from .uri import Segments, normalize_host, path_segments, rule_segments, split_target


class MatchKind(str, Enum):
    RULE = "rule"  # a path rule of the chosen host group matched
    DEFAULT = "default"  # nothing matched; the table's default backend serves it
    NONE = "none"  # nothing matched and there is no default backend: 404


@dataclass(frozen=True)
class Match:
    """The routing decision for one request."""

    kind: MatchKind
    backend: Backend | None = None
    rule: PathRule | None = None
    # The host group that was consulted ("foo.com", "*.foo.com", "" for host-less rules), or
    # None when no group's host matched.
    host_group: str | None = None

    @property
    def found(self) -> bool:
        """True when a backend (a rule's or the default) was chosen."""
        return self.backend is not None


def rule_matches(rule: PathRule, request: Segments) -> bool:
    """Whether `rule` matches a request path already split by `uri.path_segments`."""
    path = rule.path or "/"
    segs = rule_segments(path)
    if rule.path_type is PathType.EXACT:
        return segs == request
    # Prefix / ImplementationSpecific: "/foo/" behaves as "/foo" and "/" as the empty prefix.
    if segs[-1] == "" and len(segs) > 1:
        segs = segs[:-1]
    return request[: len(segs)] == segs


def wildcard_for(host: str) -> str | None:
    """The only wildcard name that can match `host`: `*.` plus everything after its first
    label ("a.b.c" -> "*.b.c"); None for a single-label host or an IP literal."""
    if host.startswith("["):
        return None
    first, dot, rest = host.partition(".")
    if not dot or not first or not rest:
        return None
    return "*." + rest


class RouteIndex:
    """A table prepared for lookups: host groups in a dict. Build once per table."""

    def __init__(self, table: RoutingTable) -> None:
        self.table = table
        # One group per host (duplicates merged and re-sorted: `routing.host_groups`).
        self._groups: dict[str, tuple[PathRule, ...]] = host_groups(table)

    def host_group(self, host: str) -> str | None:
        """The most specific group whose host matches the (normalised) host, if any."""
        if host and host in self._groups:
            return host
        wildcard = wildcard_for(host)
        if wildcard is not None and wildcard in self._groups:
            return wildcard
        if "" in self._groups:
            return ""
        return None

    def match(self, host: str, path: str) -> Match:
        """Route a request: `host` is the Host header value (any case, maybe with a port),
        `path` the request-target (query allowed)."""
        group = self.host_group(normalize_host(host))
        if group is not None:
            request = path_segments(split_target(path))
            for rule in self._groups[group]:
                if rule_matches(rule, request):
                    return Match(MatchKind.RULE, rule.backend, rule, group)
        default = self.table.default_backend
        if default is not None:
            return Match(MatchKind.DEFAULT, default, None, group)
        return Match(MatchKind.NONE, None, None, group)


def match(table: RoutingTable, host: str, path: str) -> Match:
    """Route one request against `table` (see the module docstring for the rules).

    Builds a `RouteIndex` per call; a server handling many requests per table should keep
    one `RouteIndex(table)` and call its `match`.
    """
    return RouteIndex(table).match(host, path)
