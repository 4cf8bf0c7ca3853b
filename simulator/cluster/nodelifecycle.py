"""Node loss and recovery: what the node lifecycle controller (pkg/controller/nodelifecycle)
does when a kubelet stops posting, and what the kubelet does when it is back.

Upstream the controller notices missing heartbeats after node-monitor-grace-period (40 s);
here `lose()` is the perturbation itself and acts at once:

1. the kubelet is partitioned (`Kubelet.partition()`): it stops writing; its pods keep running
   and serving, as in a network partition;
2. every Node condition becomes Unknown, reason NodeStatusUnknown ("Kubelet stopped posting
   node status."), and the node gets the `node.kubernetes.io/unreachable` NoSchedule and
   NoExecute taints (nothing evicts here: there is no taint-eviction controller);
3. MarkPodsNotReady: every pod bound to the node gets Ready=False, so the EndpointSlices mark
   its endpoints not ready.

`recover()`: the kubelet posts a Ready node status again, the controller removes the taints,
and the kubelet re-posts every pod's status (`Kubelet.reconnect()`), Ready as probed.
"""

from __future__ import annotations

import logging
from typing import Any

from .bootstrap import node_conditions
from .client import ApiClient, ApiError
from .informer import Informer
from .kinds import NODES, PODS
from .objects import meta, node_name_of, now_rfc3339

Obj = dict[str, Any]
log = logging.getLogger(__name__)

UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."
RETRIES = 10


class NodeLifecycle:
    def __init__(self, controller_client: ApiClient, kubelet_client: ApiClient, kubelet: Any,
                 pods: Informer, node_name: str) -> None:
        self.kcm = controller_client
        self.kubelet_client = kubelet_client
        self.kubelet = kubelet
        self.pods = pods
        self.node_name = node_name

    async def lose(self) -> int:
        """Partition the node; returns how many pods were marked not ready."""
        self.kubelet.partition()
        await self._set_taints(True)
        await self._update_node_status(self.kcm, _unknown_conditions)
        return await self.mark_pods_not_ready()

    async def recover(self) -> None:
        await self._update_node_status(self.kubelet_client, _ready_conditions)
        await self._set_taints(False)
        self.kubelet.reconnect()

    async def mark_pods_not_ready(self) -> int:
        """nodelifecycle's MarkPodsNotReady: Ready=False on every pod of the node."""
        marked = 0
        for pod in self.pods.list():
            if node_name_of(pod) != self.node_name:
                continue
            md = meta(pod)
            for _ in range(RETRIES):
                try:
                    current = await self.kcm.get(PODS, md["name"], md["namespace"])
                except ApiError as exc:
                    if exc.not_found:
                        break
                    raise
                status = current.setdefault("status", {})
                conditions = status.get("conditions") or []
                ready = next((c for c in conditions if c.get("type") == "Ready"), None)
                if ready is None or ready.get("status") == "False":
                    break
                ready.update(status="False", lastTransitionTime=now_rfc3339())
                status["conditions"] = conditions
                try:
                    await self.kcm.update_status(PODS, current)
                    marked += 1
                    break
                except ApiError as exc:
                    if exc.not_found:
                        break
                    if not exc.conflict:
                        raise
        return marked

    async def _update_node_status(self, client: ApiClient, change: Any) -> None:
        for _ in range(RETRIES):
            node = await client.get(NODES, self.node_name)
            status = node.setdefault("status", {})
            status["conditions"] = change(status.get("conditions") or [], now_rfc3339())
            try:
                await client.update_status(NODES, node)
                return
            except ApiError as exc:
                if not exc.conflict:
                    raise

    async def _set_taints(self, present: bool) -> None:
        for _ in range(RETRIES):
            node = await self.kcm.get(NODES, self.node_name)
            spec = node.setdefault("spec", {})
            taints = [t for t in spec.get("taints") or [] if t.get("key") != UNREACHABLE_TAINT]
            if present:
                at = now_rfc3339()
                taints += [{"key": UNREACHABLE_TAINT, "effect": "NoSchedule"},
                           {"key": UNREACHABLE_TAINT, "effect": "NoExecute", "timeAdded": at}]
            if taints:
                spec["taints"] = taints
            else:
                spec.pop("taints", None)
            try:
                await self.kcm.update(NODES, node)
                return
            except ApiError as exc:
                if not exc.conflict:
                    raise


def _unknown_conditions(conditions: list[Obj], at: str) -> list[Obj]:
    """Every condition Unknown, heartbeats kept (the kubelet sent none since)."""
    out = []
    for c in conditions:
        c = dict(c)
        if c.get("status") != "Unknown":
            c["lastTransitionTime"] = at
        c.update(status="Unknown", reason=UNKNOWN_REASON, message=UNKNOWN_MESSAGE,
                 lastProbeTime=at)
        out.append(c)
    return out


def _ready_conditions(conditions: list[Obj], at: str) -> list[Obj]:
    """A healthy kubelet's conditions, fresh heartbeats; times move only on a change."""
    previous = {c.get("type"): c for c in conditions}
    out = []
    for c in node_conditions(at):
        old = previous.get(c["type"])
        if old is not None and old.get("status") == c["status"]:
            c["lastTransitionTime"] = old.get("lastTransitionTime", at)
        out.append(c)
    return out
