"""The simulated cluster: the control loops of kube-controller-manager and a kubelet, run
against an API server through its REST API only.

>>> from simulator.apiserver.app import ApiServer
>>> server = ApiServer().start()
>>> handle = Cluster(server.url, seed=7).run_in_thread()   # or: await Cluster(...).start()
>>> ...                                                    # apply Deployments, Services...
>>> handle.stop()

Control loops (one asyncio event loop runs them all, with one shared informer per kind):

| module | follows upstream |
|---|---|
| `deployment.py` | pkg/controller/deployment (rolling update, recreate, scaling, status) |
| `replicaset.py` | pkg/controller/replicaset (pods, expectations, status) |
| `endpointslice.py` | pkg/controller/endpointslice and the endpointslice reconciler |
| `endpoints.py` | pkg/controller/endpoint (legacy Endpoints) |
| `gc.py` | pkg/controller/garbagecollector (background, foreground, orphan) |
| `kubelet.py` | the kubelet of the one node `sim-node`, which also binds pods |
| `nodelifecycle.py` | node loss/recovery (pkg/controller/nodelifecycle, MarkPodsNotReady) |
| `bootstrap.py` | the Node object and the default IngressClass `reference` |

Every random choice (generated names, watch timeouts, container ids) comes from
`random.Random` seeded from `seed`, one generator per component.
"""

from __future__ import annotations

import random
import ssl as ssl_module
from collections.abc import Callable
from typing import Any

from ..loopthread import LoopThread
from .bootstrap import INGRESS_CLASS_NAME, NODE_NAME, ensure_ingress_class, register_node
from .client import ApiClient, ApiError
from .controller import Controller
from .deployment import DeploymentController
from .endpoints import EndpointsController
from .endpointslice import EndpointSliceController
from .events import EventRecorder
from .gc import GarbageCollector
from .informer import SharedInformers
from .kinds import DEPLOYMENTS, ENDPOINTSLICES, PODS, REPLICASETS, SERVICES
from .kubelet import PORTS_ANNOTATION, Kubelet
from .nodelifecycle import NodeLifecycle
from .replicaset import ReplicaSetController
from .runtime import PodRuntimeLike, default_ip_for, default_runtime

__all__ = ["Cluster", "ClusterThread", "ApiClient", "ApiError", "INGRESS_CLASS_NAME",
           "NODE_NAME", "PORTS_ANNOTATION"]

CONTROLLER_MANAGER = "kube-controller-manager"


class Cluster:
    """The simulated cluster's control loops, attached to the API server at `api_url`."""

    def __init__(self, api_url: str, token: str | None = None, seed: int = 0,
                 runtime: PodRuntimeLike | None = None, *, node_name: str = NODE_NAME,
                 ssl: ssl_module.SSLContext | bool | None = None,
                 ip_for: Callable[[int], str] | None = None) -> None:
        self.api_url = api_url
        self.token = token
        self.seed = seed
        self.node_name = node_name
        self.runtime = runtime
        self.ssl = ssl
        self.ip_for = ip_for or default_ip_for
        self.client: ApiClient | None = None
        self.informers: SharedInformers | None = None
        self.controllers: list[Controller] = []
        self.kubelet: Kubelet | None = None
        self.node_lifecycle: NodeLifecycle | None = None
        self._recorders: list[EventRecorder] = []
        self._started = False

    def rng(self, component: str) -> random.Random:
        """The seeded random generator of one component (independent of the others)."""
        return random.Random(f"{self.seed}/{component}")

    async def start(self) -> None:
        """Register the node and the IngressClass, start the informers and the control
        loops; returns once every informer has synced."""
        if self._started:
            return
        self._started = True
        base = ApiClient(self.api_url, self.token, ssl=self.ssl,
                         field_manager=CONTROLLER_MANAGER,
                         user_agent=f"{CONTROLLER_MANAGER}/v1.33.0 (simulator)")
        self.client = base
        kcm = base.view(CONTROLLER_MANAGER, f"{CONTROLLER_MANAGER}/v1.33.0 (simulator)")
        kubelet_client = base.view("kubelet", "kubelet/v1.33.0 (simulator)")
        runtime = self.runtime if self.runtime is not None else default_runtime()
        self.runtime = runtime
        await register_node(kubelet_client, self.node_name)
        await ensure_ingress_class(kcm)

        informers = SharedInformers(kcm, self.rng("informers"))
        self.informers = informers
        deployments = EventRecorder(kcm, "deployment-controller")
        replicasets = EventRecorder(kcm, "replicaset-controller")
        kubelet_events = EventRecorder(kubelet_client, "kubelet", self.node_name)
        self._recorders = [deployments, replicasets, kubelet_events]
        self.kubelet = Kubelet(kubelet_client, informers, kubelet_events, runtime,
                               self.rng("kubelet"), self.ip_for, self.node_name)
        self.node_lifecycle = NodeLifecycle(kcm, kubelet_client, self.kubelet,
                                            informers.get(PODS), self.node_name)
        self.controllers = [
            DeploymentController(kcm, informers, deployments),
            ReplicaSetController(kcm, informers, replicasets, self.rng("replicaset")),
            EndpointSliceController(kcm, informers, self.rng("endpointslice")),
            EndpointsController(kcm, informers),
            GarbageCollector(kcm, informers, [DEPLOYMENTS, REPLICASETS, PODS, SERVICES,
                                              ENDPOINTSLICES]),
            self.kubelet,
        ]
        informers.start()
        await informers.wait_for_sync()
        for controller in self.controllers:
            controller.start()

    async def stop(self) -> None:
        """Stop the control loops and informers, then every pod."""
        for controller in reversed(self.controllers):
            await controller.stop()
        self.controllers = []
        if self.informers is not None:
            await self.informers.stop()
        for recorder in self._recorders:
            await recorder.stop()
        if self.client is not None:
            await self.client.close()
        self._started = False

    def run_in_thread(self, timeout: float = 60.0) -> ClusterThread:
        """Run the cluster on a daemon thread with its own event loop (tests, CLI)."""
        return ClusterThread(self).start(timeout)


class ClusterThread(LoopThread):
    """A Cluster running on its own thread; `stop()` ends it."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__("simulated cluster", cluster.start, cluster.stop)
        self.cluster = cluster

    def start(self, timeout: float = 60.0) -> ClusterThread:  # type: ignore[override]
        super().start(timeout)
        return self

    def __enter__(self) -> ClusterThread:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
