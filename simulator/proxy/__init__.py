"""The reference data plane: pure routing decisions (`matching`) and an asyncio HTTP/1.1 +
TLS reverse proxy (`server.Proxy`) serving a `simulator.routing.RoutingTable`."""

from .matching import Match, MatchKind, RouteIndex, match
from .server import Proxy

__all__ = ["Match", "MatchKind", "Proxy", "RouteIndex", "match"]
