"""Round-robin per route (the Ingress spec: "round-robin across endpoints (per-route)"): two
routes to one Service rotate independently, a route keeps its position across table swaps
that leave it alone, and the routes a swap removes are forgotten. Pure parts first, then
the proxy over real loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from simulator.proxy import Proxy
from simulator.proxy.balancer import RoundRobin, route_key, route_keys
from simulator.proxy.matching import RouteIndex
from simulator.routing import Endpoint, PathType, RoutingTable

from .test_proxy import (  # noqa: F401 - fixtures
    LoopThread,
    Upstream,
    backend,
    echo,
    get,
    lt,
    proxy_factory,
    routes,
    two,
    upstream_factory,
)

E1, E2, E3 = (Endpoint("10.0.0.1", 80), Endpoint("10.0.0.2", 80), Endpoint("10.0.0.3", 80))


def picks(rr: RoundRobin, key: tuple, count: int, endpoints: tuple[Endpoint, ...]
          ) -> list[str]:
    service = backend("svc", *endpoints)
    return [rr.order(key, service)[0].address for _ in range(count)]  # type: ignore[arg-type]


def test_routes_rotate_independently() -> None:
    rr = RoundRobin()
    a = ("a.test", "/a", "Prefix", "ns/svc:80")
    b = ("a.test", "/b", "Prefix", "ns/svc:80")
    assert picks(rr, a, 3, (E1, E2)) == ["10.0.0.1", "10.0.0.2", "10.0.0.1"]
    assert picks(rr, b, 2, (E1, E2)) == ["10.0.0.1", "10.0.0.2"]  # its own ring
    assert picks(rr, a, 1, (E1, E2)) == ["10.0.0.2"]
    # The whole ring comes back, the pick first (the rest is for connect-failure retries).
    assert rr.order(a, backend("svc", E1, E2, E3)) == (E3, E1, E2)


def test_retain_forgets_removed_routes() -> None:
    rr = RoundRobin()
    keys = [("h", f"/{i}", "Prefix", "ns/svc:80") for i in range(50)]
    for key in keys:
        picks(rr, key, 1, (E1, E2))
    assert len(rr) == 50
    rr.retain(set(keys[:3]))
    assert len(rr) == 3
    assert picks(rr, keys[0], 1, (E1, E2)) == ["10.0.0.2"]  # kept its position
    rr.retain(iter(()))
    assert len(rr) == 0


def test_route_keys_name_what_matching_chooses() -> None:
    svc = backend("svc", E1, E2)
    table = RoutingTable(
        hosts=(routes("a.test", ("/", svc), ("/x", svc, PathType.EXACT), ("/x", svc)),
               routes("*.w.test", ("/", svc)), routes("", ("/y", backend("other", E3)))),
        default_backend=backend("default", E3))
    index = RouteIndex(table)
    keys = route_keys(table)
    chosen = {route_key(index.match(host, path))
              for host in ("a.test", "A.TEST.", "b.w.test", "none.test")
              for path in ("/", "/x", "/x/", "/y", "/z")}
    assert chosen == keys
    assert ("a.test", "/x", "Exact", "ns/svc:80") in keys
    assert (None, "", "", "ns/default:80") in keys  # one route whatever the host


def test_two_paths_to_one_service_alternate_independently(
        proxy_factory: Callable[..., Proxy],  # noqa: F811
        two: tuple[Upstream, Upstream]) -> None:  # noqa: F811
    one, other = two
    svc = backend("svc", one.endpoint, other.endpoint)
    proxy = proxy_factory(RoutingTable(hosts=(routes("a.test", ("/a", svc), ("/b", svc)),)))
    seen: dict[str, list[str]] = {"/a": [], "/b": []}
    for _ in range(4):
        for path in ("/a", "/b"):  # interleaved: a shared ring would give each path one pod
            response, data = get(proxy, path, "a.test")
            assert response.status == 200
            seen[path].append(echo(data)["name"])
    assert seen == {"/a": ["one", "two", "one", "two"], "/b": ["one", "two", "one", "two"]}


def test_rotation_survives_swaps_and_state_stays_bounded(
        lt: LoopThread, proxy_factory: Callable[..., Proxy],  # noqa: F811
        two: tuple[Upstream, Upstream]) -> None:  # noqa: F811
    one, other = two
    svc = backend("svc", one.endpoint, other.endpoint)
    kept = ("/kept", svc)

    def swap(table: RoutingTable) -> None:
        proxy.update(table)  # from this thread: the pruning is scheduled on the loop
        lt.run(asyncio.sleep(0))

    proxy = proxy_factory(RoutingTable(hosts=(routes("a.test", kept),)))
    assert echo(get(proxy, "/kept", "a.test")[1])["name"] == "one"
    for i in range(30):  # every swap replaces the other routes and keeps /kept
        swap(RoutingTable(hosts=(routes("a.test", kept, (f"/r{i}", svc), (f"/s{i}", svc)),),
                          version=i + 1))
        for path in (f"/r{i}", f"/s{i}"):
            assert get(proxy, path, "a.test")[0].status == 200
        # pruned at a swap once over twice the table's 3 routes, then the 2 new ones used
        assert len(proxy.balancer) <= 2 * 3 + 2
    # /kept was not touched by 30 swaps: its ring goes on where it stopped.
    assert echo(get(proxy, "/kept", "a.test")[1])["name"] == "two"
    swap(RoutingTable())
    assert len(proxy.balancer) == 0
