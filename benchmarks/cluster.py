"""Simulated-cluster figures: pods started per second (a Deployment scaled from 0 to N through
the API, timed until every pod is Running and Ready), memory and idle CPU with many pods
running, and the time from a Deployment scale to the updated EndpointSlice (p50/p99).
The goals in brackets are this file's own working targets: the issue text states none.

The API server, the cluster's control loops and every pod (a real loopback HTTP server) run in
this one process, so memory is the process's resident set and idle CPU its CPU time while
nothing changes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import threading
import time
from collections.abc import Iterator

import kubernetes
from kubernetes import watch

from simulator.apiserver.app import ApiServer
from simulator.cluster import Cluster

HELLO = "nginxdemos/hello:plain-text"
N_STARTUP = 500
N_MANY = 10_000
MANY_BUDGET_SECONDS = 120.0  # give up growing past this and report what was reached
MANY_STEP = 500
IDLE_SECONDS = 10.0
N_SCALES = 50
NAMESPACE = "default"


@contextlib.contextmanager
def _cluster() -> Iterator[kubernetes.client.ApiClient]:
    """An API server and the cluster's control loops, and a `kubernetes` client for them."""
    with ApiServer() as server:
        handle = Cluster(server.url, seed=1).run_in_thread()
        client = kubernetes.config.new_client_from_config_dict(server.kubeconfig())
        try:
            yield client
        finally:
            client.close()
            handle.stop(timeout=120)
            runtime = handle.cluster.runtime
            if runtime is not None:  # the pods outlive the loops; close their sockets too
                with contextlib.suppress(Exception):
                    asyncio.run(runtime.stop_all())


def _deployment(name: str, replicas: int) -> dict:
    labels = {"app": name}
    return {"metadata": {"name": name}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
            "name": "app", "image": HELLO, "ports": [{"containerPort": 80}]}]}}}}


def _scale(apps: kubernetes.client.AppsV1Api, name: str, replicas: int) -> None:
    apps.patch_namespaced_deployment_scale(name, NAMESPACE, {"spec": {"replicas": replicas}})


def _wait_ready(apps: kubernetes.client.AppsV1Api, name: str, replicas: int,
                timeout: float) -> bool:
    """Until the Deployment reports `replicas` Ready pods (polled every 50 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = apps.read_namespaced_deployment_status(name, NAMESPACE).status
        if (status.ready_replicas or 0) >= replicas:
            return True
        time.sleep(0.05)
    return False


def _running_and_ready(core: kubernetes.client.CoreV1Api, name: str) -> int:
    count = 0
    for pod in core.list_namespaced_pod(NAMESPACE, label_selector=f"app={name}").items:
        conditions = {c.type: c.status for c in pod.status.conditions or []}
        if pod.status.phase == "Running" and conditions.get("Ready") == "True":
            count += 1
    return count


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_startup() -> None:
    with _cluster() as client:
        apps, core = kubernetes.client.AppsV1Api(client), kubernetes.client.CoreV1Api(client)
        apps.create_namespaced_deployment(NAMESPACE, _deployment("startup", 0))
        start = time.perf_counter()
        _scale(apps, "startup", N_STARTUP)
        ok = _wait_ready(apps, "startup", N_STARTUP, timeout=300)
        elapsed = time.perf_counter() - start
        confirmed = _running_and_ready(core, "startup")
        print(f"pod start-up: 0 -> {N_STARTUP} pods Running and Ready in {elapsed:.1f} s = "
              f"{N_STARTUP / elapsed:,.0f} pods/s ({confirmed} confirmed by LIST"
              f"{'' if ok else ', TIMED OUT'}) [goal >= 100 pods/s]")


def bench_many() -> None:
    with _cluster() as client:
        apps = kubernetes.client.AppsV1Api(client)
        apps.create_namespaced_deployment(NAMESPACE, _deployment("many", 0))
        rss_before = _rss_mb()
        start, reached = time.monotonic(), 0
        while reached < N_MANY and time.monotonic() - start < MANY_BUDGET_SECONDS:
            target = min(N_MANY, reached + MANY_STEP)
            _scale(apps, "many", target)
            left = MANY_BUDGET_SECONDS - (time.monotonic() - start)
            if not _wait_ready(apps, "many", target, timeout=max(left, 1.0)):
                status = apps.read_namespaced_deployment_status("many", NAMESPACE).status
                reached = status.ready_replicas or 0
                break
            reached = target
        grown = time.monotonic() - start
        if reached < N_MANY:
            print(f"many pods: only {reached} of {N_MANY} pods Ready within "
                  f"{MANY_BUDGET_SECONDS:.0f} s on this {os.cpu_count()}-core machine; "
                  f"figures below are for {reached}")
        time.sleep(2)  # let the last status writes settle before measuring idle
        cpu0, wall0 = time.process_time(), time.monotonic()
        time.sleep(IDLE_SECONDS)
        cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
        rss = _rss_mb()
        per_pod = (rss - rss_before) * 1024 / reached if reached else float("nan")
        print(f"many pods: {reached} pods Ready in {grown:.0f} s; memory {rss:,.0f} MB RSS "
              f"({per_pod:.0f} KB per pod) [goal <= 50 KB per pod]; idle CPU "
              f"{cpu * 100:.1f}% of one core over {IDLE_SECONDS:.0f} s [goal <= 5%]")


class _SliceWatcher:
    """Records when the Service's EndpointSlices first show each count of ready endpoints."""

    def __init__(self, client: kubernetes.client.ApiClient, service: str) -> None:
        self.discovery = kubernetes.client.DiscoveryV1Api(client)
        self.service = service
        self.seen: dict[int, float] = {}
        self.changed = threading.Condition()
        self._watch = watch.Watch()
        self._slices: dict[str, int] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._watch.stop()

    def _run(self) -> None:
        selector = f"kubernetes.io/service-name={self.service}"
        with contextlib.suppress(Exception):
            for event in self._watch.stream(self.discovery.list_namespaced_endpoint_slice,
                                            NAMESPACE, label_selector=selector,
                                            timeout_seconds=600):
                obj = event["object"]
                ready = sum(1 for e in obj.endpoints or []
                            if e.conditions is None or e.conditions.ready is not False)
                if event["type"] == "DELETED":
                    self._slices.pop(obj.metadata.name, None)
                else:
                    self._slices[obj.metadata.name] = ready
                total = sum(self._slices.values())
                with self.changed:
                    self.seen.setdefault(total, time.perf_counter())
                    self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = 30.0) -> float | None:
        with self.changed:
            self.changed.wait_for(lambda: count in self.seen, timeout)
            return self.seen.get(count)


def bench_scale_to_slice() -> None:
    with _cluster() as client:
        apps, core = kubernetes.client.AppsV1Api(client), kubernetes.client.CoreV1Api(client)
        apps.create_namespaced_deployment(NAMESPACE, _deployment("slice", 1))
        core.create_namespaced_service(NAMESPACE, {"metadata": {"name": "slice"}, "spec": {
            "selector": {"app": "slice"}, "ports": [{"port": 80, "targetPort": 80}]}})
        watcher = _SliceWatcher(client, "slice")
        watcher.start()
        watcher.wait_for(1)
        times = []
        for k in range(2, N_SCALES + 2):
            start = time.perf_counter()
            _scale(apps, "slice", k)
            seen = watcher.wait_for(k)
            if seen is not None:
                times.append((seen - start) * 1000)
        watcher.stop()
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))] if times else float("nan")
        print(f"scale -> EndpointSlice: {len(times)} scale-ups by one pod, p50 "
              f"{statistics.median(times):.0f} ms, p99 {p99:.0f} ms "
              f"[goal p50 <= 100 ms, p99 <= 500 ms]")


def main() -> None:
    print("== cluster")
    bench_startup()
    bench_scale_to_slice()
    bench_many()
