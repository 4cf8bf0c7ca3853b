"""End to end under API-server faults (issue 4): while a constant request loop runs against a
route nobody touches, the API server drops every watch, answers watches with 410 Expired, then
goes away for 10 seconds. The data plane must not drop a single request, and the controller
must pick up what changed meanwhile once the API server is back.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import pytest

from simulator.apiserver.rest import DeleteOptions, WriteOptions

from .conftest import eventually
from .e2e_helpers import (
    Env,
    create_app,
    create_ingress,
    current_pods,
    fresh_namespace,
    http_get,
    ingress_manifest,
    measure,
    names_seen,
    rule,
    running_simulator,
    server_name,
    unique,
)

OUTAGE_SECONDS = 10.0


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    # A simulator of its own: the faults hit everything that talks to its API server.
    with running_simulator(tmp_path_factory.mktemp("e2e-faults")) as env:
        yield env


@pytest.fixture
def namespace(env):
    with fresh_namespace(env) as name:
        yield name


@dataclass
class RequestLoop:
    """GETs `host` through the proxy at a fixed total rate from a few client threads (a new
    connection per request, as many clients do), bounded in count and time, and records
    every outcome."""

    env: Env
    host: str
    pods: set[str]  # the only pods allowed to answer
    rate: float = 50.0
    workers: int = 4  # enough to keep the rate whatever one request's latency
    max_requests: int = 3000
    max_seconds: float = 90.0
    results: list[tuple[float, str]] = field(default_factory=list)  # (time, "ok" or why not)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> RequestLoop:
        started = time.monotonic()
        for worker in range(self.workers):
            thread = threading.Thread(target=self._run, args=(worker, started),
                                      name=f"request-loop-{worker}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
            assert not thread.is_alive(), "the request loop hangs"

    def _one(self) -> str:
        try:
            answer = http_get(self.env, self.host)
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"
        if answer.status != 200:
            return f"status {answer.status}: {answer.body[:100]!r}"
        name = server_name(answer.body)
        return "ok" if name in self.pods else f"answered by unexpected pod {name}"

    def _run(self, worker: int, started: float) -> None:
        # Worker w sends requests number w, w + workers, w + 2 * workers, ... on schedule.
        for i in range(worker, self.max_requests, self.workers):
            due = started + i / self.rate
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            if time.monotonic() - started > self.max_seconds:
                return
            outcome = self._one()
            self.results.append((time.monotonic(), outcome))  # list.append is atomic

    def between(self, start: float, end: float) -> list[tuple[float, str]]:
        return [r for r in list(self.results) if start <= r[0] <= end]

    def failures(self) -> list[tuple[float, str]]:
        return [r for r in self.results if r[1] != "ok"]


def _api_reachable(env: Env) -> bool:
    try:
        with socket.create_connection((env.sim.apiserver.host, env.sim.apiserver.port),
                                      timeout=1):
            return True
    except OSError:
        return False


def test_unchanged_route_survives_watch_faults_and_an_outage(env, namespace, capsys,
                                                            record_property):
    steady, probe, during, doomed = (f"{unique(p)}.example.com"
                                     for p in ("steady", "probe", "during", "doomed"))
    create_app(env, namespace, "app", replicas=2)
    create_ingress(env, namespace, "steady", [rule(steady, "app")])
    create_ingress(env, namespace, "doomed", [rule(doomed, "app")])
    eventually(lambda: len(current_pods(env, namespace, "app")) == 2
               and names_seen(env, steady, 8) == current_pods(env, namespace, "app")
               and http_get(env, doomed).status == 200)
    pods = current_pods(env, namespace, "app")
    api = env.sim.apiserver
    relists_before = sum(i.relists for i in env.sim.controller.informers.values())

    loop = RequestLoop(env, steady, pods).start()
    try:
        eventually(lambda: len(loop.results) >= 10)

        # 1. Every watch dropped, then the re-established ones answered 410 Expired: the
        # informers resume, then relist.
        api.drop_watches()
        api.expire_next_watches(5)
        eventually(lambda: api.api.store.watcher_count() > 0)
        api.drop_watches()
        # All five 410s were served (to whichever informers, the controller's or the
        # cluster's, reconnected first).
        eventually(lambda: api.handler.faults.expire_next_watches == 0)
        create_ingress(env, namespace, "probe", [rule(probe, "app")])
        eventually(lambda: http_get(env, probe).status == 200)
        relists = sum(i.relists for i in env.sim.controller.informers.values())

        # 2. A 10-second outage; meanwhile one Ingress is created and one deleted, straight
        # in the store since the API's HTTP side is down.
        outage_started = time.monotonic()
        api.outage(OUTAGE_SECONDS)
        # Down: the listener refuses connections and no watch is left to leak our writes.
        eventually(lambda: not _api_reachable(env) and api.api.store.watcher_count() == 0,
                   timeout=5)
        ingresses = api.api.registry.lookup("networking.k8s.io", "v1", "ingresses")
        api.api.create(ingresses, namespace,
                       ingress_manifest("during", [rule(during, "app")]),
                       WriteOptions("e2e-test"))
        api.api.delete(ingresses, namespace, "doomed", DeleteOptions())
        # Nobody can tell the controller yet: the routes it had keep serving as they were.
        assert http_get(env, during).status == 404
        assert http_get(env, doomed).status == 200

        eventually(lambda: _api_reachable(env), timeout=OUTAGE_SECONDS + 20)
        api_back = time.monotonic()
        converged = measure(lambda: http_get(env, during).status == 200
                            and http_get(env, doomed).status == 404, timeout=45)
        # Keep the loop going a little after convergence.
        after = time.monotonic()
        eventually(lambda: loop.between(after, time.monotonic() + 1)
                   and time.monotonic() - after > 1.0)
    finally:
        loop.stop()

    during_outage = loop.between(outage_started, api_back)
    failures = loop.failures()
    record_property("requests_total", len(loop.results))
    record_property("requests_during_outage", len(during_outage))
    record_property("failed_requests", len(failures))
    record_property("convergence_after_outage_seconds", round(converged, 3))
    with capsys.disabled():
        print(f"\n[e2e] faults: {len(loop.results)} requests to the unchanged route "
              f"({len(during_outage)} during the {api_back - outage_started:.1f}s outage), "
              f"{len(failures)} failed; controller informer relists after the watch faults: "
              f"{relists - relists_before}; "
              f"change made during the outage served {converged:.2f}s after the API "
              f"server came back")
    assert not failures, failures[:10]
    assert len(during_outage) >= OUTAGE_SECONDS * loop.rate * 0.8
    # The pods serving the steady route are still the same ones.
    assert names_seen(env, steady, 8) == pods
