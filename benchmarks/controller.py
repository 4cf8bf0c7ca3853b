"""Reference controller figures: the pure `translate` for 10,000 Ingresses, and the time from
an API change (Ingress create, Ingress update, EndpointSlice change) to the new route reaching
the data plane (the reference proxy, fed by the controller's `on_table` callback: the clock
stops once the proxy routes new requests with the new table), with 1, 1,000 and 10,000
Ingresses already stored. Goals from the issue: translate 10k <= 200 ms; change -> route
p99 <= 100 ms at 1,000 Ingresses. `translate` is timed on the controller's own snapshot (its
informers' caches once started), the input it translates.

Objects are written in-process (`server.api.create`/`patch`, as benchmarks/apiserver.py
does), so the clock starts just before the write is committed; the controller sees them the
way it sees any cluster: the official `kubernetes` client, list+watch over loopback HTTP. The
API server, the controller and this driver share one process and its GIL, as they do in
`python -m simulator up`."""

from __future__ import annotations

import bisect
import gc
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import kubernetes

from simulator.apiserver.app import ApiServer
from simulator.apiserver.resources import ResourceType
from simulator.apiserver.rest import Api, WriteOptions
from simulator.controller.controller import (
    CONTROLLER_NAME,
    ControllerConfig,
    ReferenceController,
)
from simulator.controller.informer import _interrupt
from simulator.controller.translate import Snapshot, Translator, translate
from simulator.loopthread import LoopThread
from simulator.proxy import Proxy
from simulator.routing import HostRoutes, RoutingTable

N_TRANSLATE = 10_000
TRANSLATE_RUNS = 5
INCREMENTAL_RUNS = 20
SIZES = (1, 1_000, 10_000)
SAMPLES = 50  # changes per kind and size
# Wall-clock budget for the changes at one size (all three kinds): at 10,000 Ingresses every
# reconcile translates everything, so fewer samples fit and the output says how many.
SIZE_BUDGET_SECONDS = {1: 30.0, 1_000: 40.0, 10_000: 60.0}
CHANGE_TIMEOUT = 20.0  # a change not served by then counts as lost (reported, not waited on)
NAMESPACE = "default"
CLASS = "reference"
MERGE_PATCH = "application/merge-patch+json"
OPTS = WriteOptions("bench")


# -- objects ------------------------------------------------------------------------------------

def _ingress(name: str, host: str, service: str, path: str = "/") -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name},
        "spec": {"ingressClassName": CLASS, "rules": [_rule(host, service, path)]},
    }


def _rule(host: str, service: str, path: str) -> dict:
    return {"host": host, "http": {"paths": [{"path": path, "pathType": "Prefix", "backend": {
        "service": {"name": service, "port": {"number": 80}}}}]}}


def _service(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}


def _slice(service: str, address: str) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service}-abcde",
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "ports": [{"port": 8080}],
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}]}


def _address(i: int, net: int = 0) -> str:
    return f"10.{net}.{(i >> 8) & 255}.{i & 255}"


class _Store:
    """In-process writes to one API server's store."""

    def __init__(self, api: Api) -> None:
        self.api = api
        lookup = api.registry.lookup
        self.ingresses = lookup("networking.k8s.io", "v1", "ingresses")
        self.services = lookup("", "v1", "services")
        self.slices = lookup("discovery.k8s.io", "v1", "endpointslices")
        classes = lookup("networking.k8s.io", "v1", "ingressclasses")
        assert None not in (self.ingresses, self.services, self.slices, classes)
        self.ingress_class = api.create(classes, "", {
            "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": CLASS}, "spec": {"controller": CONTROLLER_NAME}}, OPTS)

    def populate(self, n: int) -> tuple[list[dict], list[dict], list[dict]]:
        """n Ingresses `ing-i` (host hi.example.com) -> Service `svc-i` -> one EndpointSlice
        with one ready endpoint; every Ingress's status already names the controller's
        address, as after a controller restart (so start-up does not patch n statuses)."""
        ingresses, services, slices = [], [], []
        for i in range(n):
            ing = self.api.create(self.ingresses, NAMESPACE,
                                  _ingress(f"ing-{i:05d}", f"h{i}.example.com", f"svc-{i:05d}"),
                                  OPTS)
            ing["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
            ing, _ = self.api.update(self.ingresses, NAMESPACE, ing["metadata"]["name"], ing,
                                     OPTS, subresource="status")
            ingresses.append(ing)
            services.append(self.api.create(self.services, NAMESPACE,
                                            _service(f"svc-{i:05d}"), OPTS))
            slices.append(self.api.create(self.slices, NAMESPACE,
                                          _slice(f"svc-{i:05d}", _address(i)), OPTS))
        return ingresses, services, slices

    def patch(self, rt: ResourceType, name: str, patch: dict) -> None:
        self.api.patch(rt, NAMESPACE, name, MERGE_PATCH, json.dumps(patch).encode(), OPTS)


# -- (a) translate -----------------------------------------------------------------------------

def bench_translate(snapshot: Snapshot, store_snapshot: Snapshot) -> None:
    """The full translation of `snapshot`, the running controller's own (its informers'
    caches right after start-up: the objects as the `kubernetes` client's list decoded them,
    what the controller translates). `store_snapshot` holds the same objects as the API
    server's store keeps them, each allocated by its own write and scattered over memory:
    printed alongside, since the same work there costs more (memory locality, not code)."""
    median, best, no_gc = _time_translate(snapshot)
    verdict = "meets the goal" if median <= 200 else "ABOVE the goal"
    print(f"  translate {len(snapshot.ingresses):,} Ingresses (+ as many Services and "
          f"EndpointSlices), the controller's snapshot: median {median:.0f} ms, best "
          f"{best:.0f} ms over {TRANSLATE_RUNS} runs ({no_gc:.0f} ms with gc disabled) "
          f"[goal <= 200 ms: {verdict}]")
    median, best, _ = _time_translate(store_snapshot)
    print(f"  the same objects as the API server's store holds them (scattered over memory): "
          f"median {median:.0f} ms, best {best:.0f} ms")
    bench_incremental(snapshot)


def _time_translate(snapshot: Snapshot) -> tuple[float, float, float]:
    """(median, best, once with the cyclic gc disabled) of `translate(snapshot)`, in ms."""
    times = []
    for _ in range(TRANSLATE_RUNS):
        start = time.perf_counter()
        result = translate(snapshot)
        times.append((time.perf_counter() - start) * 1000)
        assert len(result.table.hosts) == len(snapshot.ingresses)
    gc.disable()  # how much of it is the cyclic garbage collector walking the snapshot
    try:
        start = time.perf_counter()
        translate(snapshot)
        no_gc = (time.perf_counter() - start) * 1000
    finally:
        gc.enable()
    return statistics.median(times), min(times), no_gc


def bench_incremental(snapshot: Snapshot) -> None:
    """The controller's Translator after one changed Ingress or EndpointSlice (a new object
    in its place, as the informer makes it), checked against the full translation."""
    translator = Translator()
    translator.translate(snapshot)
    ingresses, slices = list(snapshot.ingresses), list(snapshot.endpoint_slices)
    for kind in ("Ingress", "EndpointSlice"):
        times = []
        for k in range(INCREMENTAL_RUNS):
            j = (k * 7919) % len(ingresses)
            if kind == "Ingress":
                ing = ingresses[j]
                host = ing["spec"]["rules"][0]["host"]
                ingresses[j] = {**ing, "spec": {**ing["spec"], "rules": [
                    _rule(host, f"svc-{j:05d}", f"/v{k}")]}}
            else:
                slices[j] = {**slices[j], "endpoints": [
                    {"addresses": [_address(k, net=1)], "conditions": {"ready": True}}]}
            snapshot = replace(snapshot, ingresses=tuple(ingresses),
                               endpoint_slices=tuple(slices))
            start = time.perf_counter()
            result = translator.translate(snapshot)
            times.append((time.perf_counter() - start) * 1000)
        assert result == translate(snapshot)
        print(f"  translate again after one {kind} changed (Translator): median "
              f"{statistics.median(times):.1f} ms, worst {max(times):.1f} ms over "
              f"{INCREMENTAL_RUNS} changes")


# -- (b) change -> route ----------------------------------------------------------------------

class _TimedController(ReferenceController):
    """The reference controller, telling the benchmark when it is busy reconciling."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.busy = False
        self.reconcile_seconds: list[float] = []

    def reconcile(self) -> None:
        self.busy = True
        start = time.perf_counter()
        try:
            super().reconcile()
        finally:
            self.reconcile_seconds.append(time.perf_counter() - start)
            self.busy = False

    def idle(self) -> bool:
        return not self.busy and not self._dirty.is_set()

    def halt(self, server: ApiServer) -> None:
        """Stop without waiting for each watch to time out: flag everything, then have the
        API server close the watches the informer threads are blocked on."""
        self._stop.set()
        self._dirty.set()
        for informer in self.informers.values():
            informer._stop.set()  # noqa: SLF001
            _interrupt(informer._response)  # noqa: SLF001
        server.drop_watches()
        self.stop()


class _Tables:
    """The data plane: the reference proxy, started on its own loop thread as in
    `simulator up`. Every table the controller publishes is handed to it and timestamped
    once `Proxy.update` has returned: from then on new requests are routed with it (the swap
    is atomic), so the time includes what the proxy does to apply a table."""

    def __init__(self, proxy: Proxy | None = None) -> None:
        self.cond = threading.Condition()
        self.tables: list[tuple[float, RoutingTable]] = []
        self.proxy = proxy

    def __call__(self, table: RoutingTable) -> None:
        if self.proxy is not None:
            self.proxy.update(table)
        now = time.perf_counter()
        with self.cond:
            self.tables.append((now, table))
            self.cond.notify_all()

    def reset(self) -> None:
        with self.cond:
            self.tables.clear()  # do not keep 10k-host tables alive

    def wait_for(self, served: Callable[[RoutingTable], bool], timeout: float) -> float | None:
        """perf_counter() of the first table since `reset` for which `served` holds."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                while seen < len(self.tables):
                    at, table = self.tables[seen]
                    seen += 1
                    if served(table):
                        return at
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.cond.wait(remaining)


def _host(table: RoutingTable, host: str) -> HostRoutes | None:
    hosts = table.hosts  # sorted by name
    i = bisect.bisect_left(hosts, host, key=lambda h: h.host)
    return hosts[i] if i < len(hosts) and hosts[i].host == host else None


def _has_path(host: str, path: str) -> Callable[[RoutingTable], bool]:
    def served(table: RoutingTable) -> bool:
        routes = _host(table, host)
        return routes is not None and any(rule.path == path for rule in routes.paths)
    return served


def _has_endpoint(host: str, address: str) -> Callable[[RoutingTable], bool]:
    def served(table: RoutingTable) -> bool:
        routes = _host(table, host)
        return routes is not None and any(e.address == address for rule in routes.paths
                                          for e in rule.backend.endpoints)
    return served


def _settle(controller: _TimedController, quiet: float = 0.05, timeout: float = 30.0) -> None:
    """Wait until the controller has been idle for `quiet` seconds (the follow-up reconciles a
    change causes, e.g. after its status update, are over)."""
    deadline = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < deadline:
        if controller.idle():
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= quiet:
                return
        else:
            idle_since = None
        time.sleep(0.005)


class _FullCollections:
    """Counts the cyclic collector's full (generation 2) passes and their pauses: each one
    walks every object in the process, the API server's store included, while holding the
    GIL, so it shows up in the tail latencies."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def __enter__(self) -> _FullCollections:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((time.perf_counter() - self._started) * 1000)

    def summary(self) -> str:
        if not self.pauses:
            return "no full gc pass"
        return (f"{len(self.pauses)} full gc pass{'es' if len(self.pauses) > 1 else ''}, "
                f"longest {max(self.pauses):.0f} ms")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _changes(store: _Store, n: int, kind: str, k: int) -> tuple[Callable[[], None],
                                                                 Callable[[RoutingTable], bool]]:
    """The k-th change of `kind` on a store of n Ingresses: (write it, is it served?)."""
    j = (k * 7919) % n  # spread over the stored Ingresses
    host = f"h{j}.example.com"
    if kind == "Ingress update":
        path = f"/v{k}"
        return (lambda: store.patch(store.ingresses, f"ing-{j:05d}", {"spec": {"rules": [
            _rule(host, f"svc-{j:05d}", path)]}}), _has_path(host, path))
    if kind == "EndpointSlice change":
        address = _address(k, net=1 + k // 65536)
        return (lambda: store.patch(store.slices, f"svc-{j:05d}-abcde", {"endpoints": [
            {"addresses": [address], "conditions": {"ready": True}}]}),
            _has_endpoint(host, address))
    new_host = f"new{k}.example.com"
    return (lambda: store.api.create(store.ingresses, NAMESPACE, _ingress(
        f"new-{k:05d}", new_host, f"svc-{j:05d}"), OPTS), _has_path(new_host, "/"))


KINDS = ("Ingress update", "EndpointSlice change", "Ingress create")  # create last: n grows


def bench_change_to_route(server: ApiServer, store: _Store, n: int, workdir: Path,
                          store_snapshot: Snapshot | None = None) -> None:
    """Start a controller (and the proxy it feeds) on `store`'s objects, then time each kind
    of change. With `store_snapshot` (the same objects as the store holds them), also time
    `translate` on the controller's snapshot once it has started."""
    proxy = Proxy(http_port=0, https_port=None)
    proxy_thread = LoopThread("proxy", proxy.start, proxy.stop)
    proxy_thread.start()
    try:
        _changes_to_route(server, store, n, workdir, _Tables(proxy), store_snapshot)
    finally:
        proxy_thread.stop()


def _changes_to_route(server: ApiServer, store: _Store, n: int, workdir: Path,
                      tables: _Tables, store_snapshot: Snapshot | None) -> None:
    client = kubernetes.config.new_client_from_config(
        config_file=str(server.write_kubeconfig(workdir / f"kubeconfig-{n}")))
    controller = _TimedController(client, tables, ControllerConfig(resync_seconds=0))
    try:
        start = time.perf_counter()
        controller.start(wait_synced=120)
        first = tables.wait_for(lambda t: len(t.hosts) == n, 120)
        startup = f"{first - start:.2f} s" if first else "NOT reached in 120 s"
        _settle(controller)
        print(f"  {n:,} Ingress{'es' if n > 1 else ''}: start-up (list 3x{n:,} objects, "
              f"first table) {startup}")
        if store_snapshot is not None:
            bench_translate(controller.snapshot(), store_snapshot)
        budget = SIZE_BUDGET_SECONDS[n] / len(KINDS)
        for kind in KINDS:
            controller.reconcile_seconds.clear()
            latencies: list[float] = []
            lost = 0
            ends = time.monotonic() + budget
            with _FullCollections() as collections:
                for k in range(SAMPLES):
                    if time.monotonic() > ends:
                        break
                    write, served = _changes(store, n, kind, k)
                    tables.reset()
                    begin = time.perf_counter()
                    write()
                    at = tables.wait_for(served, CHANGE_TIMEOUT)
                    if at is None:
                        lost += 1
                    else:
                        latencies.append((at - begin) * 1000)
                    _settle(controller)
            _report(n, kind, latencies, lost, controller.reconcile_seconds, collections)
    finally:
        controller.halt(server)
        client.close()


def _report(n: int, kind: str, latencies: list[float], lost: int, reconciles: list[float],
            collections: _FullCollections) -> None:
    goal = " [goal p99 <= 100 ms]" if n == 1_000 else ""
    count = len(latencies) + lost
    short = f", only {count} of {SAMPLES} samples fit the time budget" if count < SAMPLES else ""
    missing = f", {lost} NOT served within {CHANGE_TIMEOUT:.0f} s" if lost else ""
    if not latencies:
        print(f"    {kind:<21} -> route: no sample served{short}{missing}{goal}")
        return
    rec = f"reconcile median {statistics.median(reconciles) * 1000:.0f} ms" if reconciles \
        else "no reconcile"
    print(f"    {kind:<21} -> route: p50 {_pct(latencies, 0.5):.1f} ms, "
          f"p99 {_pct(latencies, 0.99):.1f} ms over {len(latencies)} changes ({rec}; "
          f"{collections.summary()}){short}{missing}{goal}")


def main() -> None:
    print("== controller")
    print(f"(load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs: other work on "
          "the machine inflates every figure)")
    print(f"change -> route served (the proxy routes with the new table): up to {SAMPLES} "
          "changes per kind, the clock started just before the in-process write; p99 of "
          "<= 100 samples is the worst one")
    with tempfile.TemporaryDirectory(prefix="bench-controller-") as tmp:
        for n in SIZES:  # smallest first: a big store left in memory slows every gc pass
            server = ApiServer()
            store = _Store(server.api)
            ingresses, services, slices = store.populate(n)
            store_snapshot = Snapshot(tuple(ingresses), tuple(services), tuple(slices), (),
                                      (store.ingress_class,), CONTROLLER_NAME) \
                if n == N_TRANSLATE else None
            del ingresses, services, slices
            with server:
                bench_change_to_route(server, store, n, Path(tmp), store_snapshot)
            del server, store, store_snapshot
            gc.collect()
