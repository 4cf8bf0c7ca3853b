"""`python -m simulator up`: the whole simulated environment in one process.

The API server, the cluster's control loops and pods, and the data plane's supervisor (the
in-process reference proxy by default; `--data-plane nginx|haproxy` runs the real proxy as a
child process) share one asyncio event loop; the reference controller runs on its own
threads with the official `kubernetes` client, talking to the API server over HTTP like any
other controller.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes

from .apiserver.app import ApiServer
from .cluster import Cluster
from .controller.controller import ControllerConfig, ReferenceController
from .dataplanes.base import DataPlane
from .loopthread import LoopThread
from .proxy import Proxy

# builtin: the in-process reference proxy; nginx and haproxy: the real processes, driven
# through configuration files rendered from the same RoutingTable (simulator/dataplanes/).
DATA_PLANES = ("builtin", "nginx", "haproxy")
INGRESS_CLASS = "reference"


@dataclass
class SimulatorOptions:
    seed: int = 0
    api_port: int = 0
    http_port: int = 0
    https_port: int = 0
    host: str = "127.0.0.1"
    data_plane: str = "builtin"
    token: str | None = None
    nginx_bin: str | None = None
    haproxy_bin: str | None = None
    # Answer plain-HTTP requests for hosts that have a TLS certificate with a 308 to https
    # (the reference proxy's `https_redirect`; off: such requests are served over HTTP).
    https_redirect: bool = False


def make_data_plane(options: SimulatorOptions) -> DataPlane:
    """The data plane `options.data_plane` names (raises BinaryNotFound, saying how to
    install it, when a real proxy is missing, and ValueError for an option it lacks)."""
    ports = (options.http_port, options.https_port, options.host)
    if options.https_redirect and options.data_plane != "builtin":
        # The nginx and HAProxy renderers do not render the redirect: refuse rather than
        # serve plain HTTP while the user asked for redirects.
        raise ValueError(f"https_redirect is not supported by the {options.data_plane} data "
                         f"plane (only by builtin)")
    if options.data_plane == "nginx":
        from .dataplanes.nginx_process import NginxDataPlane

        return NginxDataPlane(*ports, nginx_bin=options.nginx_bin)
    if options.data_plane == "haproxy":
        from .dataplanes.haproxy_process import HAProxyDataPlane

        return HAProxyDataPlane(*ports, haproxy_bin=options.haproxy_bin)
    return Proxy(*ports, https_redirect=options.https_redirect)


class Simulator:
    """API server + cluster + reference controller + proxy."""

    def __init__(self, options: SimulatorOptions | None = None) -> None:
        self.options = options or SimulatorOptions()
        if self.options.data_plane not in DATA_PLANES:
            raise ValueError(f"unknown data plane {self.options.data_plane!r}; choose one of: "
                             f"{', '.join(DATA_PLANES)}")
        self.apiserver = ApiServer(self.options.host, self.options.api_port,
                                   token=self.options.token)
        self.cluster = Cluster("", token=self.options.token, seed=self.options.seed)
        # The data plane the controller drives (the reference proxy unless --data-plane).
        self.proxy: DataPlane = make_data_plane(self.options)
        self.controller: ReferenceController | None = None
        self._client: kubernetes.client.ApiClient | None = None

    async def start(self) -> None:
        await self.apiserver.start_async()
        self.cluster.api_url = self.apiserver.url
        await self.cluster.start()
        await self.proxy.start()
        self._client = kubernetes.config.new_client_from_config_dict(self.apiserver.kubeconfig())
        self.controller = ReferenceController(
            self._client, self.proxy.update,
            ControllerConfig(status_address=self.options.host))
        # The controller's informers block until synced, and need this loop to answer them.
        await asyncio.get_running_loop().run_in_executor(None, self.controller.start)

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        if self.controller is not None:
            await loop.run_in_executor(None, self.controller.stop)
        if self._client is not None:
            self._client.close()
        await self.proxy.stop()
        await self.cluster.stop()
        if self.cluster.runtime is not None:
            await self.cluster.runtime.stop_all()
        await self.apiserver.stop_async()

    def ready_info(self, kubeconfig: Path | str) -> dict[str, Any]:
        http = self.proxy.http_address
        https = self.proxy.https_address
        return {
            "apiserver": self.apiserver.url,
            "http": f"{http[0]}:{http[1]}" if http else None,
            "https": f"{https[0]}:{https[1]}" if https else None,
            "kubeconfig": str(kubeconfig),
            "ingress_class": INGRESS_CLASS,
        }


class SimulatorThread(LoopThread):
    """A Simulator on a daemon thread with its own event loop (tests, the conformance
    target): `with SimulatorThread() as sim: sim.simulator.ready_info(...)`."""

    def __init__(self, options: SimulatorOptions | None = None) -> None:
        self.simulator = Simulator(options)
        super().__init__("simulator", self.simulator.start, self.simulator.stop)

    def start(self, timeout: float = 60.0) -> SimulatorThread:  # type: ignore[override]
        super().start(timeout)
        return self

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
