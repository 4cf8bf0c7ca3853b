"""The simulated container runtime: pods as loopback HTTP servers on one event loop.

`PodRuntime.start_pod` binds one socket per port the pod's processes listen on (ephemeral
ports on the pod's 127.x address, so no privileges are needed) and serves them from the
running event loop; a pod costs a few sockets and objects, so thousands fit in a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterable

import h11

from .hooks import HookError, Step, normalise_signal, plan_prestop
from .httpserver import HttpRequest, HttpResponse, Listener, bind_socket
from .images import ContainerImage, GenericEcho, StopMode, select_image
from .images.base import Handler
from .spec import ContainerView, PodSpecView

__all__ = ["PodRuntime", "RunningPod", "KUBE_VERSION"]

# The kubelet's User-Agent carries its minor version: kube-probe/1.33, kube-lifecycle/1.33.
KUBE_VERSION = "1.33"
# Requests from the kubelet itself are not counted as served traffic.
_KUBELET_AGENTS = ("kube-probe/", "kube-lifecycle/")
DEFAULT_GRACE_SECONDS = 30.0


class _Container:
    """One container's process: its image emulation and its listeners."""

    def __init__(self, view: ContainerView, image: ContainerImage) -> None:
        self.view = view
        self.image = image
        self.listeners: list[Listener] = []
        self.exited = False
        self._stopping: asyncio.Task[None] | None = None

    @property
    def stop_signal(self) -> str:
        # lifecycle.stopSignal (KEP-4960) overrides the image's STOPSIGNAL.
        override = (self.view.spec.get("lifecycle") or {}).get("stopSignal")
        return normalise_signal(override) if override else self.image.stop_signal

    def mode_for(self, signal: str) -> StopMode:
        return "immediate" if signal == "SIGKILL" else self.image.stop_mode(signal)

    async def signal(self, signal: str, grace: float | None) -> None:
        """Deliver `signal`; if it stops the process, wait until it has exited (a graceful
        stop still running after `grace` seconds is cut short, as SIGKILL would)."""
        mode = self.mode_for(signal)
        if self.exited or mode == "ignore":
            return
        if mode == "immediate":
            self._abort()
            await asyncio.sleep(0)  # let the aborted transports report connection_lost
            return
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._graceful())
        try:
            await asyncio.wait_for(asyncio.shield(self._stopping), grace)
        except asyncio.TimeoutError:
            self._abort()
            await self._stopping

    def _abort(self) -> None:
        for listener in self.listeners:
            listener.stop_accepting()
            listener.abort_all()
        self.exited = True

    async def _graceful(self) -> None:
        for listener in self.listeners:
            listener.stop_accepting()
            listener.close_idle()
        await asyncio.gather(*(listener.wait_drained() for listener in self.listeners))
        self.exited = True


class RunningPod:
    """A started pod: its listeners, readiness switch, hooks and stop semantics."""

    def __init__(self, spec: PodSpecView) -> None:
        self.spec = spec
        # containerPort -> real port. Ports a container declares but nothing listens on map
        # to a bound, non-listening socket: connecting there is refused, as in the pod.
        self.ports: dict[int, int] = {}
        self.image_kind: str = "generic"
        # Images emulated generically, and other caveats worth a Warning Event.
        self.generic_images: tuple[str, ...] = ()
        self.notes: tuple[str, ...] = ()
        self.requests_served = 0
        self.last_prestop_error: str | None = None
        self._containers: list[_Container] = []
        self._closed_ports: list[socket.socket] = []
        self._ready = True
        self._probes: set[tuple[int, str]] = set()  # (containerPort, path) of readiness probes
        self._tasks: set[asyncio.Task[None]] = set()  # signals sent by hooks, in progress

    # -- public interface ---------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """The readiness switch (for exec/tcpSocket probes, which have no HTTP endpoint)."""
        return self._ready

    @property
    def exited(self) -> bool:
        """True once every container's process has exited."""
        return all(c.exited for c in self._containers)

    def set_ready(self, ok: bool) -> None:
        """Make readiness probe paths answer 200 (ok) or 503 (not ok)."""
        self._ready = ok

    async def prestop(self, timeout: float | None = None) -> None:
        """Run every container's preStop hook concurrently (the kubelet kills containers in
        parallel). A failing hook does not raise: its message is kept in
        `last_prestop_error`, as the kubelet only records a FailedPreStopHook event."""
        async def run(container: _Container) -> None:
            try:
                steps = plan_prestop(dict(container.view.spec), container.image.executables)
                for step in steps:
                    await self._run_step(container, step)
            except HookError as exc:
                self.last_prestop_error = f"{container.view.name}: {exc}"

        work = asyncio.gather(*(run(c) for c in self._containers))
        # Retrieve the outcome even when the kubelet is stopped mid-hook (cancellation), so
        # asyncio does not log "exception was never retrieved".
        work.add_done_callback(lambda f: f.cancelled() or f.exception())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(work, timeout)

    async def terminate(self, grace: float | None = DEFAULT_GRACE_SECONDS) -> None:
        """Send each container its stop signal (lifecycle.stopSignal, else the image's
        STOPSIGNAL, else SIGTERM) and wait until all have exited. A graceful shutdown still
        running after `grace` seconds is cut short, as the kubelet's SIGKILL would."""
        await asyncio.gather(*(c.signal(c.stop_signal, grace) for c in self._containers))
        self._release_closed_ports()

    async def kill(self) -> None:
        """SIGKILL: every listener and connection closed at once."""
        await asyncio.gather(*(c.signal("SIGKILL", None) for c in self._containers))
        self._release_closed_ports()

    # -- internals ------------------------------------------------------------------------
    def _release_closed_ports(self) -> None:
        for sock in self._closed_ports:
            sock.close()
        self._closed_ports.clear()

    async def _run_step(self, container: _Container, step: Step) -> None:
        if step.kind == "sleep":
            await asyncio.sleep(step.seconds)
        elif step.kind == "signal":
            # `nginx -s quit` and `kill` return as soon as the signal is sent.
            task = asyncio.get_running_loop().create_task(
                container.signal(step.signal, DEFAULT_GRACE_SECONDS))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif step.kind == "http" and step.http is not None:
            await self._http_hook(container, step.http)

    async def _http_hook(self, container: _Container, action: dict) -> None:
        port = container.view.resolve_port(action.get("port"))
        if port is None or port not in self.ports:
            raise HookError(f"httpGet: no port {action.get('port')!r}")
        if (action.get("scheme") or "HTTP").upper() != "HTTP":
            raise HookError("httpGet: only HTTP is emulated")
        host = action.get("host") or self.spec.ip
        path = action.get("path") or "/"
        headers = [("Host", f"{host}:{port}"), ("User-Agent", f"kube-lifecycle/{KUBE_VERSION}")]
        headers += [(h["name"], h.get("value", "")) for h in action.get("httpHeaders") or ()]
        try:
            await http_get(self.spec.ip, self.ports[port], path, headers)
        except OSError as exc:
            raise HookError(f"httpGet {path}: {exc}") from None

    def _wrap(self, container_port: int, handler: Handler, image: ContainerImage) -> Handler:
        async def serve(request: HttpRequest) -> HttpResponse:
            if not self._ready and (container_port, request.path) in self._probes:
                return image.error_response(503)
            response = await handler(request)
            agent = request.header("User-Agent") or ""
            if not agent.startswith(_KUBELET_AGENTS):
                self.requests_served += 1
            return response
        return serve


class PodRuntime:
    """Starts and stops simulated pods on the running event loop."""

    def __init__(self) -> None:
        self.pods: list[RunningPod] = []

    async def start_pod(self, spec: PodSpecView) -> RunningPod:
        """Bind and serve every port of `spec`'s containers; returns once they accept."""
        pod = RunningPod(spec)
        views = [ContainerView(spec, c, i) for i, c in enumerate(spec.containers)]
        images = _select_images(views)
        pod.image_kind = images[0].kind if images else "generic"
        pod.generic_images = tuple(i.container.image for i in images if i.kind == "generic")
        pod.notes = tuple(i.note for i in images if i.note)
        try:
            for view, image in zip(views, images, strict=True):
                container = _Container(view, image)
                pod._containers.append(container)
                for container_port, handler in image.listen_ports().items():
                    if container_port in pod.ports:
                        # Same port twice in one network namespace: the second bind would
                        # fail (EADDRINUSE) and that process crash; the first one keeps it.
                        pod.notes += (f"{view.name}: port {container_port} already in use",)
                        continue
                    listener = Listener(bind_socket(spec.ip), pod._wrap(container_port, handler,
                                                                        image),
                                        image.policy, container_port)
                    await listener.start()
                    container.listeners.append(listener)
                    pod.ports[container_port] = listener.port
                _add_probes(pod, view)
            for view in views:
                for declared in view.declared_ports():
                    if declared["containerPort"] not in pod.ports:
                        sock = bind_socket(spec.ip)
                        pod._closed_ports.append(sock)
                        pod.ports[declared["containerPort"]] = sock.getsockname()[1]
        except BaseException:
            await pod.kill()
            raise
        self.pods.append(pod)
        return pod

    async def stop_all(self) -> None:
        """Kill every pod this runtime started."""
        pods, self.pods = self.pods, []
        await asyncio.gather(*(pod.kill() for pod in pods))


def _select_images(views: Iterable[ContainerView]) -> list[ContainerImage]:
    views = list(views)
    images = [select_image(view) for view in views]
    # The generic image's default port 80 is for a pod whose only server it is: a portless
    # sidecar next to a real server must not take (or shadow) the main container's port.
    for i, image in enumerate(images):
        if isinstance(image, GenericEcho) and not views[i].declared_ports():
            others = [j for j in range(len(views)) if j != i]
            if any(views[j].declared_ports() or images[j].kind != "generic" for j in others):
                image.ports = []
    return images


def _add_probes(pod: RunningPod, view: ContainerView) -> None:
    http_get = (view.spec.get("readinessProbe") or {}).get("httpGet")
    if not http_get:
        return
    port = view.resolve_port(http_get.get("port"))
    if port is not None:
        path = (http_get.get("path") or "/").split("?", 1)[0]
        pod._probes.add((port, path))


async def http_get(ip: str, port: int, path: str, headers: list[tuple[str, str]],
                   ) -> int:
    """A GET with h11 over a fresh connection; returns the status code."""
    reader, writer = await asyncio.open_connection(ip, port)
    conn = h11.Connection(h11.CLIENT)
    try:
        writer.write(conn.send(h11.Request(method="GET", target=path, headers=headers)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        status = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return status
    except h11.ProtocolError as exc:
        raise OSError(str(exc)) from None
    finally:
        writer.close()
