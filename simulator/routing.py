"""The one routing model every data plane consumes.

The reference controller's pure `translate(snapshot)` produces a `RoutingTable`; the
in-process proxy serves it, and the nginx/HAProxy renderers turn it into configuration. Data
planes may differ in implementation, never in meaning (docs/DESIGN.md, principle 3).

Everything here is immutable plain data, so a table can be swapped atomically and shared by
threads without locks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class PathType(str, Enum):
    EXACT = "Exact"
    PREFIX = "Prefix"
    # Treated with Prefix semantics by the reference controller (documented in translate).
    IMPLEMENTATION_SPECIFIC = "ImplementationSpecific"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One address:port a backend may send requests to (from an EndpointSlice)."""

    address: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    target: str = ""  # the pod name (targetRef), for logs and reports

    @property
    def hostport(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else \
            f"{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class Backend:
    """A Service port, resolved to the endpoints that may take new requests.

    `endpoints` is already the usable set: the ready endpoints, or, when none is ready, the
    serving and terminating ones. Empty means "matched but nothing can serve it": 503.
    """

    namespace: str
    service: str
    port: str  # as the Ingress names it: a number ("80") or a port name ("http")
    endpoints: tuple[Endpoint, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.namespace}/{self.service}:{self.port}"


@dataclass(frozen=True, slots=True)
class PathRule:
    path: str
    path_type: PathType
    backend: Backend
    source: str = ""  # "namespace/ingress" that contributed this rule


@dataclass(frozen=True, slots=True)
class HostRoutes:
    """The path rules of one host: an exact name (lower case), a wildcard `*.example.com`,
    or "" for rules without a host. `paths` are in precedence order (first match wins)."""

    host: str
    paths: tuple[PathRule, ...]


@dataclass(frozen=True, slots=True)
class Certificate:
    """A TLS certificate (PEM chain and key) and the host names it serves (SNI)."""

    hosts: tuple[str, ...]
    cert_pem: bytes
    key_pem: bytes
    source: str = ""  # "namespace/secret"


@dataclass(frozen=True, slots=True)
class RoutingTable:
    """Everything a data plane needs to route requests."""

    hosts: tuple[HostRoutes, ...] = ()
    default_backend: Backend | None = None
    certificates: tuple[Certificate, ...] = ()
    # Monotonic version, bumped by the controller on every change (for logs and tests).
    version: int = 0
    # Free-form notes about what was dropped and why (also sent as Warning Events).
    warnings: tuple[str, ...] = field(default=(), compare=False)


def precedence_key(rule: PathRule) -> tuple[int, int, str]:
    """Sort key putting the rule that wins first: the longest path, then Exact before
    Prefix/ImplementationSpecific ("precedence will be given first to the longest matching
    path; if two paths are still equally matched, to paths with an exact path type"). A
    Prefix path's trailing slash is not part of what it matches (Prefix `/foo/` matches
    `/foo`, the docs' table), so Exact `/foo` and Prefix `/foo/` tie on length and Exact
    wins."""
    if rule.path_type is PathType.EXACT:
        return (-len(rule.path), 0, rule.path)
    return (-len(rule.path.rstrip("/") or "/"), 1, rule.path)


def sort_paths(rules: list[PathRule] | tuple[PathRule, ...]) -> tuple[PathRule, ...]:
    """Rules in the order a data plane must try them (stable for equal keys)."""
    return tuple(sorted(rules, key=precedence_key))


def group_key(host: str) -> str:
    """The host group a `HostRoutes.host` belongs to: stripped, lower-cased, one trailing dot
    removed (`" Foo.COM. "` -> `"foo.com"`; "" stays the host-less group)."""
    host = host.strip().lower()
    return host[:-1] if host.endswith(".") else host


def host_groups(table: RoutingTable) -> dict[str, tuple[PathRule, ...]]:
    """Host group (see `group_key`) -> its rules in precedence order, in table order.

    The controller is expected to emit one HostRoutes per host; if it did not, the groups
    listed twice are merged and re-sorted with `sort_paths` (stable: ties keep the table's
    order). Groups listed once keep their rules as given. Every data plane builds its host
    groups here, so they all merge the same way.
    """
    groups: dict[str, list[PathRule]] = {}
    merged: set[str] = set()
    for routes in table.hosts:
        key = group_key(routes.host)
        if key in groups:
            merged.add(key)
        groups.setdefault(key, []).extend(routes.paths)
    return {key: sort_paths(rules) if key in merged else tuple(rules)
            for key, rules in groups.items()}
