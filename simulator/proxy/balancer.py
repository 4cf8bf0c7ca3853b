"""Load balancing: per-route round-robin over the endpoints of the table in use, and a count
of in-flight requests per endpoint (for draining and tests)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from simulator.routing import Backend, Endpoint, PathRule, RoutingTable, host_groups

from .matching import Match, MatchKind

# A route's identity: (host group, rule path, path type, backend name) for a path rule, and
# (None, "", "", backend name) for the default backend (one route whatever the host). It
# names the route, not the table, so a swap that leaves a route alone keeps its rotation.
RouteKey = tuple[str | None, str, str, str]


def _rule_key(host_group: str | None, rule: PathRule) -> RouteKey:
    return (host_group, rule.path, rule.path_type.value, rule.backend.name)


def _default_key(backend: Backend) -> RouteKey:
    return (None, "", "", backend.name)


def route_key(found: Match) -> RouteKey | None:
    """The identity of the route `found` chose (None when it chose no backend)."""
    if found.backend is None:
        return None
    if found.kind is MatchKind.RULE and found.rule is not None:
        return _rule_key(found.host_group, found.rule)
    return _default_key(found.backend)


def route_keys(table: RoutingTable) -> set[RouteKey]:
    """The identities of every route of `table` (what `route_key` can return for it)."""
    keys = {_rule_key(group, rule)
            for group, rules in host_groups(table).items() for rule in rules}
    if table.default_backend is not None:
        keys.add(_default_key(table.default_backend))
    return keys


class RoundRobin:
    """Round-robin per route (the Ingress spec's "round-robin across endpoints (per-route)"):
    two paths to the same Service rotate independently. A route's position survives table
    swaps that keep the route, so a swap does not send its next requests back to the first
    endpoint; `retain` forgets the routes a swap removed."""

    def __init__(self) -> None:
        self._next: dict[RouteKey, int] = {}

    def order(self, key: RouteKey, backend: Backend) -> tuple[Endpoint, ...]:
        """The endpoints to try for one request on route `key`: the round-robin pick first,
        then the others in ring order (used only to retry after a connect failure). Advances
        the route's ring by one."""
        endpoints = backend.endpoints
        count = len(endpoints)
        if count <= 1:
            return endpoints
        start = self._next.get(key, 0) % count
        # Stored already wrapped, so the counter stays small however long the route lives.
        self._next[key] = start + 1
        return endpoints[start:] + endpoints[:start] if start else endpoints

    def retain(self, keys: Iterable[RouteKey]) -> None:
        """Forget the rotation of every route not in `keys` (the routes of the new table)."""
        keep = keys if isinstance(keys, (set, frozenset)) else set(keys)
        for key in [k for k in self._next if k not in keep]:
            del self._next[key]

    def __len__(self) -> int:
        """How many routes have a rotation position (for tests: it stays bounded)."""
        return len(self._next)


class InFlight:
    """How many requests each endpoint ("addr:port") is serving right now."""

    def __init__(self) -> None:
        self._count: Counter[str] = Counter()

    def enter(self, hostport: str) -> None:
        self._count[hostport] += 1

    def leave(self, hostport: str) -> None:
        self._count[hostport] -= 1
        if self._count[hostport] <= 0:
            del self._count[hostport]

    def snapshot(self) -> dict[str, int]:
        """A copy of the current counts (endpoints with none are absent)."""
        return dict(self._count)
