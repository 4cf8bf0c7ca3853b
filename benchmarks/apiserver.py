"""API server figures: LIST of 10,000 Ingresses, watch fan-out to 10 watchers, memory per
stored Ingress. Goals from the issue: LIST 10k <= 300 ms, >= 20,000 events/s delivered,
<= 5 KB per Ingress. Watchers run in a separate process so they do not share the server's
GIL, as real clients would not."""

from __future__ import annotations

import gc
import http.client
import multiprocessing as mp
import statistics
import threading
import time
import tracemalloc
from urllib.parse import urlsplit

import requests

from simulator.apiserver.app import ApiServer
from simulator.apiserver.rest import WriteOptions

N_LIST = 10_000
N_WATCHERS = 10
N_EVENTS = 5_000


def _ingress(i: int) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": f"ing-{i:05d}", "labels": {"app": f"app-{i % 50}"}},
        "spec": {"ingressClassName": "sim", "rules": [{"host": f"h{i}.example.com", "http": {
            "paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {
                "name": f"svc-{i}", "port": {"number": 80}}}}]}}]},
    }


def _populate(server: ApiServer, n: int, namespace: str = "default") -> None:
    rt = server.api.registry.lookup("networking.k8s.io", "v1", "ingresses")
    assert rt is not None
    opts = WriteOptions("bench")
    for i in range(n):
        server.api.create(rt, namespace, _ingress(i), opts)


def bench_list() -> None:
    with ApiServer() as server:
        _populate(server, N_LIST)
        url = f"{server.url}/apis/networking.k8s.io/v1/namespaces/default/ingresses"
        session = requests.Session()
        times, size = [], 0
        for _ in range(7):
            start = time.perf_counter()
            resp = session.get(url, timeout=60)
            body = resp.content
            times.append((time.perf_counter() - start) * 1000)
            size = len(body)
            assert len(resp.json()["items"]) == N_LIST
        print(f"LIST {N_LIST} Ingresses over HTTP: median {statistics.median(times):.0f} ms, "
              f"best {min(times):.0f} ms ({size / 1e6:.1f} MB) [goal <= 300 ms]")


def _watch_worker(url: str, rv: str, expected: int, ready: mp.Queue, done: mp.Queue) -> None:
    parts = urlsplit(url)
    conns = []
    for _ in range(N_WATCHERS):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        conn.request("GET", f"{parts.path}?watch=true&resourceVersion={rv}")
        conns.append(conn.getresponse())
    ready.put(True)
    counts = [0] * N_WATCHERS

    def read(i: int) -> None:
        resp = conns[i]
        while counts[i] < expected:
            line = resp.readline()
            if not line:
                break
            if line.strip():
                counts[i] += 1

    threads = [threading.Thread(target=read, args=(i,)) for i in range(N_WATCHERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.put((time.time(), sum(counts)))


def bench_watch_fanout() -> None:
    with ApiServer() as server:
        rv = str(server.api.store.resource_version)
        url = f"{server.url}/apis/networking.k8s.io/v1/namespaces/default/ingresses"
        ctx = mp.get_context("spawn")
        ready, done = ctx.Queue(), ctx.Queue()
        proc = ctx.Process(target=_watch_worker, args=(url, rv, N_EVENTS, ready, done))
        proc.start()
        ready.get(timeout=60)
        time.sleep(0.5)
        start = time.time()
        _populate(server, N_EVENTS)
        written = time.time()
        finished, delivered = done.get(timeout=300)
        proc.join(30)
        elapsed = finished - start
        print(f"watch fan-out: {N_EVENTS} writes to {N_WATCHERS} watchers, {delivered} events "
              f"delivered in {elapsed:.2f} s = {delivered / elapsed:,.0f} events/s "
              f"(writes alone {N_EVENTS / (written - start):,.0f}/s) [goal >= 20,000 events/s]")


def bench_memory() -> None:
    server = ApiServer()  # not started: only the store is measured
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    _populate(server, N_LIST)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    history = len(server.api.store._history.get("networking.k8s.io/ingresses", ()))  # noqa: SLF001
    print(f"memory: {grown / N_LIST / 1024:.2f} KB per stored Ingress, including its "
          f"watch-history entry ({history} events kept) [goal <= 5 KB]")


def main() -> None:
    print("== apiserver")
    bench_list()
    bench_watch_fanout()
    bench_memory()
