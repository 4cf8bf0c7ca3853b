"""Real-proxy data planes (simulator/dataplanes/): for nginx and HAProxy, each where its
binary is installed,

1. the time to apply a whole new RoutingTable (render + validate + graceful reload, as
   `update()` then the supervisor reporting the version served) with 100, 1,000 and 10,000
   Ingresses' worth of hosts (ingress-nginx is reported at 6-12 s per reload at large scale:
   kubernetes/ingress-nginx#6731, #1386);
2. the time to apply an endpoint-only change at the same sizes (nginx OSS must reload;
   HAProxy can use its runtime API);
3. the time from an endpoint change to traffic moving: requests polled every 5 ms until 10
   answers in a row come from the new backend, timed to the first of those (real loopback
   backends; during a reload, old and new nginx workers both answer for a while).

The in-process reference proxy swaps tables in microseconds; it is shown for (3) only."""

from __future__ import annotations

import asyncio
import http.client
import http.server
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from simulator.dataplanes.base import BinaryNotFound, find_binary
from simulator.routing import Backend, Endpoint, HostRoutes, PathRule, PathType, RoutingTable

SIZES = (100, 1_000, 10_000)
HOST = "move.bench.test"
STREAK = 10


def table(ingresses: int, version: int, port_shift: int = 0) -> RoutingTable:
    """One host per Ingress with two paths, two endpoints per backend (nothing listens on
    them: only the configuration is measured)."""
    hosts = []
    for i in range(ingresses):
        endpoints = tuple(Endpoint(f"127.1.{i // 250}.{i % 250 + 1}", 8080 + port_shift + k)
                          for k in range(2))
        backend = Backend(f"ns{i % 100}", f"svc{i}", "80", endpoints)
        hosts.append(HostRoutes(f"h{i}.bench.test", (
            PathRule("/api", PathType.PREFIX, backend), PathRule("/", PathType.PREFIX, backend))))
    return RoutingTable(hosts=tuple(hosts), version=version)


def make_plane(name: str) -> Any:
    if name == "nginx":
        from simulator.dataplanes.nginx_process import NginxDataPlane
        return NginxDataPlane(0, None, "127.0.0.1")
    from simulator.dataplanes.haproxy_process import HAProxyDataPlane
    return HAProxyDataPlane(0, None, "127.0.0.1")


def apply_seconds(plane: Any, new: RoutingTable, timeout: float = 300.0) -> float:
    started = time.monotonic()
    plane.update(new)
    if not plane.wait_for_version(new.version, timeout):
        raise RuntimeError(f"version {new.version} not applied: {plane.last_error}")
    return time.monotonic() - started


class _Named(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = self.server.name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def backends(*names: str) -> Iterator[dict[str, int]]:
    servers = {}
    for name in names:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Named)
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[name] = server
    try:
        yield {n: s.server_address[1] for n, s in servers.items()}
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()


def moving_table(port: int, version: int) -> RoutingTable:
    backend = Backend("bench", "move", "80", (Endpoint("127.0.0.1", port),))
    return RoutingTable(hosts=(HostRoutes(HOST, (PathRule("/", PathType.PREFIX, backend),)),),
                        version=version)


def answer(address: tuple[str, int]) -> str:
    conn = http.client.HTTPConnection(*address, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": HOST})
        return conn.getresponse().read().decode()
    except OSError:
        return ""
    finally:
        conn.close()


def traffic_moves(plane: Any, ports: dict[str, int], rounds: int = 10) -> list[float]:
    """Seconds from update() to the first answer from the other backend, `rounds` times."""
    version = 1_000_000
    current = "a"
    plane.update(moving_table(ports[current], version))
    deadline = time.monotonic() + 30
    while answer(plane.http_address) != current:
        if time.monotonic() > deadline:
            raise RuntimeError("the first table was never served")
        time.sleep(0.01)
    samples = []
    for _ in range(rounds):
        current = "b" if current == "a" else "a"
        version += 1
        started = time.monotonic()
        plane.update(moving_table(ports[current], version))
        streak, streak_started = 0, started
        while streak < STREAK:
            at = time.monotonic()
            if answer(plane.http_address) == current:
                streak, streak_started = streak + 1, streak_started if streak else at
            else:
                streak = 0
            if at - started > 30:
                raise RuntimeError("traffic never moved")
            time.sleep(0.005)
        samples.append(streak_started - started)
    return samples


def _run(loop_call: Callable[[Any], Any], coro: Any) -> Any:
    return loop_call(coro)


def bench_plane(name: str) -> None:
    try:
        find_binary(name)
    except BinaryNotFound as exc:
        print(f"  {name}: skipped ({exc})")
        return
    loop = asyncio.new_event_loop()
    plane = make_plane(name)
    loop.run_until_complete(plane.start())
    try:
        with backends("a", "b") as ports:
            moves = traffic_moves(plane, ports)
        print(f"  {name}: endpoint change -> traffic moved: median "
              f"{statistics.median(moves) * 1000:.0f} ms, max {max(moves) * 1000:.0f} ms "
              f"over {len(moves)} changes (reloads: {getattr(plane, 'reloads', '?')})")
        version = 2_000_000  # above the versions traffic_moves used
        for size in SIZES:
            full = apply_seconds(plane, table(size, version))
            version += 1
            endpoints_only = apply_seconds(plane, table(size, version, port_shift=10))
            version += 1
            extra = ""
            if hasattr(plane, "reloads"):
                extra = f" (reloads so far: {plane.reloads})"
            print(f"  {name}: {size:>6,} Ingresses: whole table applied in {full:6.2f} s, "
                  f"endpoint-only change in {endpoints_only:6.2f} s{extra}")
    finally:
        loop.run_until_complete(plane.stop())
        loop.close()


def bench_builtin() -> None:
    from simulator.proxy import Proxy

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    proxy = Proxy(0, None, "127.0.0.1")
    asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
    try:
        with backends("a", "b") as ports:
            moves = traffic_moves(proxy, ports)
        print(f"  builtin: endpoint change -> traffic moved: median "
              f"{statistics.median(moves) * 1000:.1f} ms, max {max(moves) * 1000:.1f} ms")
    finally:
        asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)


def main() -> None:
    print("== dataplanes (render + validate + reload; endpoint change -> traffic moving)")
    bench_builtin()
    for name in ("nginx", "haproxy"):
        bench_plane(name)


if __name__ == "__main__":
    main()
