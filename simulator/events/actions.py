"""The perturbations themselves. Each takes the run's context, its seeded generator and the
step's parameters, acts, and returns an Outcome for the timeline (plus follow-ups: the end of
a readiness flap or of added latency, scheduled at a fixed offset so they replay too).

Random draws happen before any cluster state is read and consume the generator the same way
whatever that state is, so a seed yields the same choices even when timing differs."""

from __future__ import annotations

import asyncio
import datetime
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import kubernetes

from ..apiserver.app import ApiServer


@dataclass
class Context:
    """What actions act through: the API, the API server's faults, and (flaps, crashes and
    node loss) the kubelet's record of the pods it runs and the node lifecycle, reached on
    the simulator's loop."""

    client: kubernetes.client.ApiClient
    apiserver: ApiServer
    namespace: str
    loop: asyncio.AbstractEventLoop | None = None
    kubelet: Any = None  # simulator.cluster.kubelet.Kubelet, when flaps are possible
    nodes: Any = None  # simulator.cluster.nodelifecycle.NodeLifecycle, for node loss

    @property
    def core(self) -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.client)

    @property
    def apps(self) -> kubernetes.client.AppsV1Api:
        return kubernetes.client.AppsV1Api(self.client)


@dataclass
class Outcome:
    target: str = ""
    choice: dict[str, Any] = field(default_factory=dict)
    objects: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    # (seconds after this action's scheduled time, follow-up action name, what it does)
    followups: list[tuple[float, str, Callable[[], Outcome]]] = field(default_factory=list)


Action = Callable[[Context, random.Random, dict[str, Any]], Outcome]


def draw(rng: random.Random, value: Any) -> Any:
    """A parameter's value: literal, `{min, max}` (an integer in that range), or a list (one
    of its items)."""
    if isinstance(value, dict) and set(value) == {"min", "max"}:
        return rng.randint(int(value["min"]), int(value["max"]))
    if isinstance(value, list):
        return value[int(rng.random() * len(value))]
    return value


def _pick(ctx: Context, rng: random.Random, selector: str) -> tuple[float, Any | None]:
    """A pod matching `selector` and not being deleted, chosen by one draw `u` in [0, 1)
    over the pods sorted by name (one draw whatever their number)."""
    u = rng.random()
    pods = sorted((p for p in ctx.core.list_namespaced_pod(
        ctx.namespace, label_selector=selector).items
        if p.metadata.deletion_timestamp is None), key=lambda p: p.metadata.name)
    return round(u, 6), (pods[int(u * len(pods))] if pods else None)


def scale(ctx: Context, rng: random.Random, params: dict[str, Any]) -> Outcome:
    """Set a Deployment's replicas through its scale subresource."""
    name, replicas = params["deployment"], int(draw(rng, params["replicas"]))
    ctx.apps.patch_namespaced_deployment_scale(name, ctx.namespace,
                                              {"spec": {"replicas": replicas}})
    return Outcome(f"Deployment {ctx.namespace}/{name}", {"replicas": replicas},
                   [f"Deployment {ctx.namespace}/{name}"])


def rolling_restart(ctx: Context, rng: random.Random, params: dict[str, Any]) -> Outcome:
    """What `kubectl rollout restart` does: stamp the pod template."""
    name = params["deployment"]
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat()
    ctx.apps.patch_namespaced_deployment(name, ctx.namespace, {"spec": {"template": {
        "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}})
    return Outcome(f"Deployment {ctx.namespace}/{name}", {},
                   [f"Deployment {ctx.namespace}/{name}"], {"restartedAt": stamp})


def delete_pod(ctx: Context, rng: random.Random, params: dict[str, Any]) -> Outcome:
    """Delete one matching pod, gracefully (its own grace period) or with `grace: N`."""
    selector = params["selector"]
    grace = params.get("grace")
    u, pod = _pick(ctx, rng, selector)
    choice = {"pick": u, "grace": grace}
    if pod is None:
        return Outcome(f"Pod {ctx.namespace} {selector}", choice, result={"skipped": "no pod"})
    name = pod.metadata.name
    ctx.core.delete_namespaced_pod(name, ctx.namespace, grace_period_seconds=grace)
    return Outcome(f"Pod {ctx.namespace} {selector}", choice, [f"Pod {ctx.namespace}/{name}"],
                   {"uid": pod.metadata.uid})


def _set_ready(ctx: Context, key: str, ok: bool) -> bool:
    """Flip the readiness switch of the pod `key` on the simulator's loop (the kubelet's
    dict and the pod belong to it); False if the kubelet does not run that pod."""
    if ctx.loop is None or ctx.kubelet is None:
        return False

    async def flip() -> bool:
        worker = ctx.kubelet.pod_workers.get(key)
        if worker is None or not hasattr(worker.running, "set_ready"):
            return False
        worker.running.set_ready(ok)
        return True

    return asyncio.run_coroutine_threadsafe(flip(), ctx.loop).result(10)


def readiness_flap(ctx: Context, rng: random.Random, params: dict[str, Any]) -> Outcome:
    """Make one matching pod's readiness endpoint fail for `down` seconds (its readinessProbe
    then marks it not Ready, and Ready again afterwards)."""
    selector, down = params["selector"], float(draw(rng, params["down"]))
    u, pod = _pick(ctx, rng, selector)
    choice = {"pick": u, "down": down}
    target = f"Pod {ctx.namespace} {selector}"
    if pod is None:
        return Outcome(target, choice, result={"skipped": "no pod"})
    key = f"{ctx.namespace}/{pod.metadata.name}"
    objects = [f"Pod {key}"]
    flipped = _set_ready(ctx, key, False)

    def restore() -> Outcome:
        return Outcome(target, {}, objects, {"restored": _set_ready(ctx, key, True)})

    return Outcome(target, choice, objects, {"flipped": flipped},
                   [(down, "readiness_restore", restore)])


def _on_loop(ctx: Context, fn: Callable[[], Any], timeout: float = 30) -> Any:
    """Await `fn()` on the simulator's loop (where the kubelet and its pods live)."""
    async def run() -> Any:
        return await fn()

    return asyncio.run_coroutine_threadsafe(run(), ctx.loop).result(timeout)


def kill_pod(ctx: Context, rng: random.Random, params: dict[str, Any]) -> Outcome:
    """Crash one matching pod's processes (SIGKILL): the kubelet notices, reports the
    containers terminated (137, Error) and restarts them after a short back-off."""
    selector = params["selector"]
    u, pod = _pick(ctx, rng, selector)
    choice = {"pick": u}
    target = f"Pod {ctx.namespace} {selector}"
    if pod is None:
        return Outcome(target, choice, result={"skipped": "no pod"})
    key = f"{ctx.namespace}/{pod.metadata.name}"
    if ctx.loop is None or ctx.kubelet is None:
        return Outcome(target, choice, [f"Pod {key}"], {"killed": False})

    async def kill() -> bool:
        worker = ctx.kubelet.pod_workers.get(key)
        if worker is None or worker.termination is not None or worker.restart is not None:
            return False  # not running here, being stopped, or already crashed
        await worker.running.kill()
        return True

    return Outcome(target, choice, [f"Pod {key}"], {"killed": _on_loop(ctx, kill)})


def node_recover(ctx: Context, rng: random.Random, params: dict[str, Any]) -> Outcome:
    """The lost node is back: Ready again, its pods' statuses re-posted."""
    if ctx.loop is None or ctx.nodes is None:
        return Outcome(result={"skipped": "no node lifecycle"})
    _on_loop(ctx, ctx.nodes.recover)
    return Outcome(f"Node {ctx.nodes.node_name}", {}, [f"Node {ctx.nodes.node_name}"],
                   {"recovered": True})


def node_loss(ctx: Context, rng: random.Random, params: dict[str, Any]) -> Outcome:
    """The node stops reporting (network partition): Node Ready=Unknown, its pods Ready=False,
    their processes still running; with `seconds`, it comes back that much later."""
    seconds = params.get("seconds")
    seconds = None if seconds is None else float(draw(rng, seconds))
    if ctx.loop is None or ctx.nodes is None:
        return Outcome(choice={"seconds": seconds}, result={"skipped": "no node lifecycle"})
    name = f"Node {ctx.nodes.node_name}"
    marked = _on_loop(ctx, ctx.nodes.lose)
    followups = []
    if seconds is not None:
        followups.append((seconds, "node_recover", lambda: node_recover(ctx, rng, {})))
    return Outcome(name, {"seconds": seconds}, [name], {"pods_not_ready": marked},
                   followups)


def drop_watches(ctx: Context, rng: random.Random, params: dict[str, Any]) -> Outcome:
    """Close every open watch."""
    return Outcome("apiserver", {}, result={"closed": ctx.apiserver.drop_watches()})


def expire_watches(ctx: Context, rng: random.Random, params: dict[str, Any]) -> Outcome:
    """Answer the next `watches` (default 1) watch requests with 410 Gone; with
    `namespace`, only watches of that namespace."""
    n = int(draw(rng, params.get("watches", 1)))
    namespace = params.get("namespace")
    ctx.apiserver.expire_next_watches(n, namespace)
    choice: dict[str, Any] = {"watches": n}
    if namespace:
        choice["namespace"] = namespace
    return Outcome("apiserver", choice)


def outage(ctx: Context, rng: random.Random, params: dict[str, Any]) -> Outcome:
    """Refuse connections for `seconds`."""
    seconds = float(draw(rng, params["seconds"]))
    ctx.apiserver.outage(seconds)
    return Outcome("apiserver", {"seconds": seconds})


def latency(ctx: Context, rng: random.Random, params: dict[str, Any]) -> Outcome:
    """Delay every request by `seconds`, for `duration` seconds if given (else until a later
    step sets another latency)."""
    seconds = float(draw(rng, params["seconds"]))
    duration = params.get("duration")
    ctx.apiserver.set_latency(seconds)
    followups = []
    if duration is not None:
        def end() -> Outcome:
            ctx.apiserver.set_latency(0)
            return Outcome("apiserver", {"seconds": 0.0})
        followups.append((float(duration), "latency_end", end))
    return Outcome("apiserver", {"seconds": seconds, "duration": duration},
                   followups=followups)


ACTIONS: dict[str, Action] = {
    "scale": scale,
    "rolling_restart": rolling_restart,
    "delete_pod": delete_pod,
    "readiness_flap": readiness_flap,
    "kill_pod": kill_pod,
    "node_loss": node_loss,
    "node_recover": node_recover,
    "drop_watches": drop_watches,
    "expire_watches": expire_watches,
    "outage": outage,
    "latency": latency,
}
