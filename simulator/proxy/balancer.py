"""Load balancing: per-backend round-robin over the endpoints of the table in use, and a
count of in-flight requests per endpoint (for draining and tests)."""

from __future__ import annotations

from collections import Counter

from simulator.routing import Backend, Endpoint


class RoundRobin:
    """Round-robin per backend. The position survives table swaps (keyed by the backend's
    name), so a swap does not send the next requests back to the first endpoint."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def order(self, backend: Backend) -> tuple[Endpoint, ...]:
        """The endpoints to try for one request: the round-robin pick first, then the others
        in ring order (used only to retry after a connect failure). Advances the ring by one.
        """
        endpoints = tuple(backend.endpoints)
        if not endpoints:
            return endpoints
        start = self._next.get(backend.name, 0) % len(endpoints)
        self._next[backend.name] = start + 1
        return endpoints[start:] + endpoints[:start] if start else endpoints


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
