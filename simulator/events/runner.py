"""Replay a Scenario against a running simulator and record the timeline."""

from __future__ import annotations

import heapq
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import kubernetes
import urllib3
from kubernetes import utils

from ..up import SimulatorThread
from .actions import ACTIONS, Context, Outcome
from .clock import Clock
from .scenario import Scenario
from .timeline import Entry

log = logging.getLogger(__name__)


class Runner:
    """Creates the scenario's setup objects, waits for its Deployments, then runs every step
    at its offset. `run()` returns the timeline; `on_entry` sees each entry as it is made."""

    def __init__(self, scenario: Scenario, seed: int, thread: SimulatorThread,
                 clock: Clock | None = None,
                 on_entry: Callable[[Entry], None] | None = None) -> None:
        self.scenario = scenario
        self.seed = seed
        self.thread = thread
        self.clock = clock or Clock()
        self.on_entry = on_entry
        self.rng = random.Random(seed)
        self.timeline: list[Entry] = []
        sim = thread.simulator
        self.client = kubernetes.config.new_client_from_config_dict(sim.apiserver.kubeconfig())
        self.ctx = Context(self.client, sim.apiserver, scenario.namespace, thread.loop,
                           sim.cluster.kubelet, sim.cluster.node_lifecycle)

    def close(self) -> None:
        self.client.close()

    # ---- setup -----------------------------------------------------------------------------

    def setup(self, timeout: float = 60.0) -> None:
        """Create the namespace and the setup manifests; wait until their Deployments have
        every replica available, so the clock starts from a settled cluster."""
        core = kubernetes.client.CoreV1Api(self.client)
        namespace = self.scenario.namespace
        try:
            core.read_namespace(namespace)
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise
            core.create_namespace({"metadata": {"name": namespace}})
        deployments = []
        for manifest in self.scenario.setup:
            utils.create_from_dict(self.client, manifest, namespace=namespace)
            if manifest.get("kind") == "Deployment":
                deployments.append(manifest["metadata"]["name"])
        deadline = time.monotonic() + timeout
        for name in deployments:
            while not self._available(name):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"setup: Deployment {name} not available in {timeout}s")
                time.sleep(0.05)

    def _available(self, name: str) -> bool:
        dep = kubernetes.client.AppsV1Api(self.client).read_namespaced_deployment(
            name, self.scenario.namespace)
        return (dep.status.available_replicas or 0) >= (dep.spec.replicas or 0) \
            and (dep.status.observed_generation or 0) >= dep.metadata.generation

    # ---- the run ---------------------------------------------------------------------------

    def run(self, setup: bool = True) -> list[Entry]:
        """Run setup (unless told not to), then every step in schedule order."""
        if setup:
            self.setup()
        # (offset, step, occurrence, order, name, callable): `order` keeps follow-ups of
        # one occurrence after the occurrence and makes the heap never compare callables.
        queue: list[tuple[float, int, int, int, str, Callable[[], Outcome]]] = []
        for order, (t, index, n, step) in enumerate(self.scenario.schedule()):
            queue.append((t, index, n, order, step.action, self._bind(step.action,
                                                                      step.params)))
        heapq.heapify(queue)
        order = len(queue)
        self.clock.start()
        while queue:
            t, index, n, _, name, act = heapq.heappop(queue)
            self.clock.sleep_until(t)
            entry, outcome = self._perform(t, index, n, name, act)
            for delay, follow, fn in outcome.followups:
                heapq.heappush(queue, (t + delay, index, n, order, follow, fn))
                order += 1
        return self.timeline

    def _bind(self, action: str, params: dict[str, Any]) -> Callable[[], Outcome]:
        fn = ACTIONS[action]
        return lambda: fn(self.ctx, self.rng, params)

    def _perform(self, t: float, index: int, n: int, name: str,
                 act: Callable[[], Outcome]) -> tuple[Entry, Outcome]:
        offset = self.clock.now()
        try:
            outcome = act()
        except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            # The API can be down on purpose (an outage step): record it and go on.
            outcome = Outcome(result={"error": f"{type(exc).__name__}: {exc}"[:300]})
        entry = Entry(t=round(offset, 3), step=index, n=n, action=name, target=outcome.target,
                      choice=outcome.choice, objects=outcome.objects, result=outcome.result)
        entry.result.setdefault("scheduled", round(t, 3))
        self.timeline.append(entry)
        if self.on_entry is not None:
            self.on_entry(entry)
        log.info("t=%.3f %s %s %s", offset, name, entry.target, entry.choice)
        return entry, outcome
