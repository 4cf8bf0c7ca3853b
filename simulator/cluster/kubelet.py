"""The kubelet of the simulated node `sim-node` (and, there being no scheduler, its binder).

For each pod it owns, through the API server only:

1. Binding. A pod without `spec.nodeName` (and for the default scheduler) is started, then
   claimed with one ordinary update that sets `spec.nodeName` and publishes the pod's real
   ports (below). A pod created already bound to the node is started and annotated.
2. Running. The pod is started through the runtime (`simulator.workloads`) at
   `pod_ip_for(n)`; its status says Running with podIP(s), hostIP 127.0.0.1, startTime,
   containerStatuses and the PodReadyToStartContainers/Initialized/Ready/ContainersReady/
   PodScheduled conditions (`podstatus.py`). Readiness follows each container's
   readinessProbe (`probes.py`) or is immediate without one. A pod whose image the runtime
   only emulates generically gets a Warning Event `Emulated`.
3. Graceful deletion. When the pod gets a deletionTimestamp: preStop hooks (bounded by the
   grace period), then SIGTERM semantics (`terminate`) with what is left of the grace period
   but at least 2 s (minimumGracePeriodInSeconds), then `kill`. Readiness probes keep running
   meanwhile, so the Ready condition (EndpointSlice `serving`) follows the pod's real
   readiness while it drains. Once stopped: a terminal status (Ready=False, containers
   terminated, phase Succeeded or Failed as kubelet 1.27+ reports deleted pods) and a DELETE
   with gracePeriodSeconds=0 and a uid precondition, as the status manager's final delete.
4. Crashes (restartPolicy Always). A relist loop (the PLEG's, every `PLEG_PERIOD`) notices a
   pod whose processes have exited without being stopped by the kubelet (`RunningPod.kill()`
   from the `kill_pod` event): its containers go terminated (exitCode 137, reason Error) and
   not ready, then after `RESTART_DELAY_SECONDS` the runtime starts the pod again at the same
   IP; the new real ports are published, restartCount grows, lastState.terminated keeps the
   previous instance and readiness is probed anew. The runtime runs a pod's containers as one
   unit, so all of them crash and restart together. Upstream the first restart is immediate
   and CrashLoopBackOff then waits 10 s, 20 s, ... (up to 5 min); here every restart waits a
   flat 1 s, short enough for tests and still long enough to observe the terminated state.
5. Partition (`partition()` / `reconnect()`, driven by `nodelifecycle.py`): while cut off
   the kubelet neither binds nor writes anything; its pods keep running and being probed.
   On reconnecting it re-posts every pod's status.

Difference from a real cluster: pods here listen on their own loopback address at a port the
runtime picks, not at containerPort. The kubelet publishes the mapping on the pod as the
annotation `simulator.dev/ports` (`{"80": 41234}`: containerPort -> real port), which the
EndpointSlice and Endpoints controllers read to advertise reachable ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .bootstrap import NODE_IP, NODE_NAME
from .client import ApiClient, ApiError
from .controller import Controller
from .events import EventRecorder
from .informer import Informer, SharedInformers
from .kinds import PODS
from .objects import (
    being_deleted,
    is_pod_terminal,
    key_of,
    meta,
    node_name_of,
    now_rfc3339,
    uid_of,
)
from .podstatus import ContainerState, PodState, build_status
from .probes import ReadinessWorker
from .runtime import PodRuntimeLike, RunningPodLike, pod_spec_view

Obj = dict[str, Any]
log = logging.getLogger(__name__)

PORTS_ANNOTATION = "simulator.dev/ports"
MINIMUM_GRACE_PERIOD_SECONDS = 2  # minimumGracePeriodInSeconds in kuberuntime_container.go
DEFAULT_SCHEDULER = "default-scheduler"
PLEG_PERIOD = 0.2  # seconds between relists (upstream: 1 s)
RESTART_DELAY_SECONDS = 1.0  # see 4. above (upstream: 10 s CrashLoopBackOff, doubling)


def ports_annotation(ports: dict[int, int]) -> str:
    return orjson.dumps({str(k): v for k, v in sorted(ports.items())}).decode()


def published_ports(pod: Obj) -> dict[int, int]:
    """The containerPort -> real port map the kubelet published on `pod` (empty if none)."""
    raw = (meta(pod).get("annotations") or {}).get(PORTS_ANNOTATION)
    if not raw:
        return {}
    try:
        return {int(k): int(v) for k, v in orjson.loads(raw).items()}
    except (orjson.JSONDecodeError, ValueError, AttributeError):
        return {}


@dataclass
class PodWorker:
    """The kubelet's record of one pod it runs."""

    key: str
    uid: str
    ip: str
    running: RunningPodLike
    state: PodState
    containers: tuple[Obj, ...] = ()
    probes: list[ReadinessWorker] = field(default_factory=list)
    published: bool = False
    termination: asyncio.Task[None] | None = None
    final: bool = False  # the terminal status is written (or being written)
    last_posted: Obj | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    restart: asyncio.Task[None] | None = None  # the pending restart after a crash


class Kubelet(Controller):
    name = "kubelet"
    workers = 8

    def __init__(self, client: ApiClient, informers: SharedInformers, recorder: EventRecorder,
                 runtime: PodRuntimeLike, rng: random.Random, ip_for: Callable[[int], str],
                 node_name: str = NODE_NAME) -> None:
        super().__init__()
        self.client = client
        self.recorder = recorder
        self.runtime = runtime
        self.rng = rng
        self.ip_for = ip_for
        self.node_name = node_name
        self.pods: Informer = informers.get(PODS)
        self.pod_workers: dict[str, PodWorker] = {}
        self._next_index = 0  # pod_ip_for is 0-based
        self.partitioned = False
        self._connected = asyncio.Event()
        self._connected.set()
        self._pleg: asyncio.Task[None] | None = None
        self.pods.add_handler(lambda p: self.enqueue(key_of(p)),
                              lambda old, new: self.enqueue(key_of(new)),
                              lambda p: self.enqueue(key_of(p)))

    # ---- the pod sync loop -----------------------------------------------------------------

    async def sync(self, key: Any) -> None:
        if self.partitioned:
            return  # `reconnect` syncs every pod again
        pod = self.pods.get(key)
        worker = self.pod_workers.get(key)
        if worker is not None and (pod is None or uid_of(pod) != worker.uid):
            # Gone (or replaced by a namesake): stop what still runs.
            await self._forget(worker)
            worker = None
        if pod is None:
            return
        node = node_name_of(pod)
        if node and node != self.node_name:
            if worker is not None:  # someone else bound it while we were starting it
                await self._forget(worker)
            return
        if not node and not self._schedulable(pod):
            return
        if being_deleted(pod):
            if not node:
                return  # the API server removes unbound pods at once
            if worker is None:
                await self._delete_finally(pod)  # bound here but never started
                return
            if worker.termination is None:
                worker.termination = asyncio.create_task(self._terminate(worker, pod),
                                                         name=f"terminate-{key}")
            await self._post_status(worker, pod)
            return
        if is_pod_terminal(pod):
            return
        if worker is None:
            worker = await self._start(pod)
        if not node:
            await self._bind(worker, pod)
            return  # the bind's update event brings the pod back for its status
        if not worker.published and (
                PORTS_ANNOTATION not in (meta(pod).get("annotations") or {})
                or published_ports(pod) != worker.running.ports):
            await self._publish_ports(worker, pod)
        worker.published = True
        await self._post_status(worker, pod)

    def _schedulable(self, pod: Obj) -> bool:
        """Pods the default scheduler would place (this node is the only one)."""
        scheduler = (pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER
        return scheduler == DEFAULT_SCHEDULER and not being_deleted(pod)

    # ---- start -----------------------------------------------------------------------------

    async def _start(self, pod: Obj) -> PodWorker:
        md = meta(pod)
        index = self._next_index
        self._next_index += 1
        ip = self.ip_for(index)
        containers = tuple(copy.deepcopy((pod.get("spec") or {}).get("containers") or []))
        try:
            running = await self.runtime.start_pod(pod_spec_view(md["namespace"], md["name"],
                                                                 ip, containers))
        except Exception as exc:
            # Retried with backoff by the queue; say why, as the kubelet's sandbox errors do.
            self.recorder.event(pod, PODS, "Warning", "FailedCreatePodSandBox",
                                f"Failed to start the pod's processes: {exc}")
            raise
        started = now_rfc3339()
        states = [ContainerState(
            name=c.get("name", ""), image=c.get("image", ""),
            container_id=f"containerd://{self.rng.getrandbits(256):064x}", started_at=started,
            ready=not isinstance(c.get("readinessProbe"), dict)) for c in containers]
        worker = PodWorker(key=key_of(pod), uid=uid_of(pod), ip=ip, running=running,
                           state=PodState(pod_ip=ip, host_ip=NODE_IP, start_time=started,
                                          containers=states), containers=containers)
        self.pod_workers[worker.key] = worker
        self._start_probes(worker)
        generic = tuple(getattr(running, "generic_images", ()) or ())
        if running.image_kind == "generic" or generic:
            images = ", ".join(sorted(set(generic) or {c.get("image", "") for c in containers}))
            first = next((c.get("name") for c in containers
                          if c.get("image") in generic), None) or \
                (containers[0].get("name") if containers else None)
            self.recorder.event(pod, PODS, "Warning", "Emulated",
                                f"Image {images} is not emulated: running a generic HTTP echo "
                                f"server on its declared ports instead",
                                field_path=f"spec.containers{{{first}}}" if first else None)
        return worker

    def _start_probes(self, worker: PodWorker) -> None:
        def real_port(port: int) -> int:
            return worker.running.ports.get(port, port)  # the current instance's ports

        for i, container in enumerate(worker.containers):
            probe = container.get("readinessProbe")
            if isinstance(probe, dict):
                probe_worker = ReadinessWorker(
                    probe, container, worker.ip, real_port,
                    lambda ready, i=i: self._readiness_changed(worker, i, ready))
                worker.probes.append(probe_worker)
                probe_worker.start()

    def _readiness_changed(self, worker: PodWorker, index: int, ready: bool) -> None:
        if self.pod_workers.get(worker.key) is not worker:
            return
        worker.state.containers[index].ready = ready
        self.enqueue(worker.key)

    async def _bind(self, worker: PodWorker, pod: Obj) -> None:
        """Claim the pod for this node with a normal update (there is no scheduler), and
        publish its real ports in the same write."""
        body = copy.deepcopy(pod)
        body.pop("status", None)
        body["spec"]["nodeName"] = self.node_name
        annotations = body["metadata"].setdefault("annotations", {}) or {}
        annotations[PORTS_ANNOTATION] = ports_annotation(worker.running.ports)
        body["metadata"]["annotations"] = annotations
        try:
            await self.client.update(PODS, body)
        except ApiError as exc:
            if exc.not_found:
                return
            raise
        worker.published = True

    async def _publish_ports(self, worker: PodWorker, pod: Obj) -> None:
        md = meta(pod)
        patch = {"metadata": {"annotations": {
            PORTS_ANNOTATION: ports_annotation(worker.running.ports)}}}
        try:
            await self.client.patch(PODS, md["name"], patch, md["namespace"])
        except ApiError as exc:
            if not exc.not_found:
                raise

    # ---- status ----------------------------------------------------------------------------

    async def _post_status(self, worker: PodWorker, pod: Obj, final: bool = False) -> None:
        """Write the pod's status if it changed; after the terminal status, nothing else."""
        async with worker.lock:
            if (worker.final or self.partitioned) and not final:
                return
            status = build_status(worker.state, now_rfc3339())
            if status == worker.last_posted:
                return
            if final:
                worker.final = True
            md = meta(pod)
            try:
                await self.client.patch(PODS, md["name"], {"status": status}, md["namespace"],
                                        subresource="status")
            except ApiError as exc:
                if exc.not_found:
                    return
                raise
            worker.last_posted = status

    # ---- termination -----------------------------------------------------------------------

    async def _terminate(self, worker: PodWorker, pod: Obj) -> None:
        """killPod: preStop, SIGTERM, SIGKILL at the deadline; then the final status and
        delete."""
        md = meta(pod)
        grace = md.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        grace = max(0, int(grace))
        loop = asyncio.get_running_loop()
        started = loop.time()
        killed = False
        try:
            has_prestop = any(((c.get("lifecycle") or {}).get("preStop"))
                              for c in (pod.get("spec") or {}).get("containers") or [])
            if has_prestop and grace > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(worker.running.prestop(grace), grace + 1)
            remaining = max(grace - (loop.time() - started), MINIMUM_GRACE_PERIOD_SECONDS)
            stop_started = loop.time()
            try:
                # The runtime cuts a longer shutdown short itself (SIGKILL at `remaining`);
                # the outer timeout only guards against a runtime that would not.
                await asyncio.wait_for(worker.running.terminate(remaining), remaining + 1)
            except asyncio.TimeoutError:
                await worker.running.kill()
            killed = loop.time() - stop_started >= remaining
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the pod must still go away
            log.exception("kubelet: stopping %s failed; killing it", worker.key)
            with contextlib.suppress(Exception):
                await worker.running.kill()
            killed = True
        self._stop_probes(worker)
        finished = now_rfc3339()
        for c in worker.state.containers:
            c.running, c.ready, c.finished_at = False, False, finished
            c.exit_code, c.reason = (137, "Error") if killed else (0, "Completed")
        worker.state.terminal = True
        for attempt in range(20):
            await self._connected.wait()  # a partitioned kubelet cannot finish the pod
            try:
                await self._post_status(worker, pod, final=True)
                await self._delete_finally(pod)
                return
            except ApiError as exc:
                if exc.not_found:
                    return
                log.debug("kubelet: finishing %s failed: %s", worker.key, exc)
            except (OSError, asyncio.TimeoutError) as exc:
                log.debug("kubelet: finishing %s failed: %r", worker.key, exc)
            await asyncio.sleep(min(2.0, 0.05 * 2 ** attempt))

    async def _delete_finally(self, pod: Obj) -> None:
        """The status manager's last word: DELETE gracePeriodSeconds=0, precondition uid."""
        md = meta(pod)
        try:
            await self.client.delete(PODS, md["name"], md["namespace"], grace_period_seconds=0,
                                     precondition_uid=md.get("uid"))
        except ApiError as exc:
            if not (exc.not_found or exc.conflict):
                raise

    # ---- crashes and restarts ----------------------------------------------------------------

    async def _relist(self) -> None:
        """The PLEG: notice pods whose processes exited while nobody was stopping them."""
        while True:
            await asyncio.sleep(PLEG_PERIOD)
            for worker in list(self.pod_workers.values()):
                if worker.termination is None and worker.restart is None \
                        and not worker.state.terminal and worker.state.containers \
                        and getattr(worker.running, "exited", False) is True:
                    self._crashed(worker)

    def _crashed(self, worker: PodWorker) -> None:
        log.info("kubelet: %s exited; restarting in %ss", worker.key, RESTART_DELAY_SECONDS)
        self._stop_probes(worker)
        finished = now_rfc3339()
        for c in worker.state.containers:
            c.running, c.ready, c.finished_at = False, False, finished
            c.exit_code, c.reason = 137, "Error"  # SIGKILL
        worker.restart = asyncio.create_task(self._restart(worker),
                                             name=f"restart-{worker.key}")
        self.enqueue(worker.key)

    def _current(self, worker: PodWorker) -> bool:
        return self.pod_workers.get(worker.key) is worker and worker.termination is None

    async def _restart(self, worker: PodWorker) -> None:
        """Start the crashed pod again: same IP, new processes (and real ports)."""
        namespace, name = worker.key.split("/", 1)
        try:
            while True:
                await asyncio.sleep(RESTART_DELAY_SECONDS)
                if not self._current(worker):
                    return
                try:
                    running = await self.runtime.start_pod(
                        pod_spec_view(namespace, name, worker.ip, worker.containers))
                    break
                except Exception as exc:  # noqa: BLE001 - retried, as the kubelet would
                    log.warning("kubelet: restarting %s failed: %s", worker.key, exc)
            if not self._current(worker):
                await running.kill()
                return
            worker.running = running
            started = now_rfc3339()
            for c, spec in zip(worker.state.containers, worker.containers, strict=False):
                c.last_terminated = c.terminated()
                c.restart_count += 1
                c.container_id = f"containerd://{self.rng.getrandbits(256):064x}"
                c.started_at, c.finished_at = started, ""
                c.running, c.exit_code, c.reason = True, None, ""
                c.ready = not isinstance(spec.get("readinessProbe"), dict)
            worker.published = False  # the new ports go into the annotation
            self._start_probes(worker)
            self.enqueue(worker.key)
        finally:
            worker.restart = None

    # ---- partition ---------------------------------------------------------------------------

    def partition(self) -> None:
        """Lose the API server: no binding, no status, no deletes until `reconnect`."""
        self.partitioned = True
        self._connected.clear()

    def reconnect(self) -> None:
        """Reach the API server again and re-post every pod's status."""
        self.partitioned = False
        self._connected.set()
        for worker in self.pod_workers.values():
            worker.last_posted = None
            # The API says Ready=False (the node lifecycle controller wrote it): a transition.
            worker.state.transitions.pop("Ready", None)
        for pod in self.pods.list():
            self.enqueue(key_of(pod))

    def _stop_probes(self, worker: PodWorker) -> None:
        for probe in worker.probes:
            probe.stop()
        worker.probes.clear()

    async def _forget(self, worker: PodWorker) -> None:
        """The pod object is gone: stop the process if it still runs."""
        self.pod_workers.pop(worker.key, None)
        self._stop_probes(worker)
        if worker.restart is not None:
            worker.restart.cancel()
        if worker.termination is not None and not worker.termination.done():
            worker.termination.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker.termination
        if not worker.state.terminal:
            with contextlib.suppress(Exception):
                await worker.running.kill()

    def start(self) -> None:
        super().start()
        self._pleg = asyncio.create_task(self._relist(), name="kubelet-pleg")

    async def stop(self) -> None:
        if self._pleg is not None:
            self._pleg.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pleg
            self._pleg = None
        self._connected.set()  # let terminations finish (or be cancelled) below
        await super().stop()
        for worker in list(self.pod_workers.values()):
            self._stop_probes(worker)
            if worker.restart is not None:
                worker.restart.cancel()
            if worker.termination is not None:
                worker.termination.cancel()
        await asyncio.gather(*(w.termination for w in self.pod_workers.values()
                               if w.termination is not None), return_exceptions=True)
        self.pod_workers.clear()
        await self.runtime.stop_all()
