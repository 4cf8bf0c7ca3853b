"""Running the API server: on a background thread (tests, the simulator) or in the
foreground (`python -m simulator apiserver`), over HTTP or HTTPS, writing a kubeconfig."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import ssl
import tempfile
from pathlib import Path
from typing import Any

import orjson
import trustme
import yaml
from aiohttp import web

from ..loopthread import LoopThread
from .lifecycle import ensure_kubernetes_service
from .rest import Api
from .server import ApiHandler, build_api


class ApiServer:
    """An in-memory kube-apiserver on loopback.

    >>> server = ApiServer().start()
    >>> server.write_kubeconfig("kubeconfig")   # kubectl --kubeconfig kubeconfig get ns
    >>> server.stop()
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, tls: bool = False,
                 token: str | None = None, state_file: str | os.PathLike | None = None,
                 history: int | None = None, api: Api | None = None) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.state_file = Path(state_file) if state_file else None
        self.api = api or build_api(history=history)
        if self.state_file and self.state_file.exists():
            self.load_state()
        self.handler = ApiHandler(self.api, token)
        self.ca: trustme.CA | None = None
        self._ssl: ssl.SSLContext | None = None
        if tls:
            self.ca = trustme.CA()
            cert = self.ca.issue_cert(host, "localhost")
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(self._ssl)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._runner_thread = LoopThread(f"API server on {host}:{port}", self.start_async,
                                         self.stop_async)

    # ---- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def start_async(self) -> None:
        """Start serving on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._runner = web.AppRunner(self.handler.app(), access_log=None,
                                     handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._ssl,
                           reuse_address=True)
        await site.start()
        sockets = site._server.sockets if site._server else []  # noqa: SLF001
        self.port = sockets[0].getsockname()[1]
        self.handler.server_address = f"{self.host}:{self.port}"
        address = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        ensure_kubernetes_service(self.api, address, self.port)

    async def stop_async(self) -> None:
        self.handler.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.state_file:
            self.save_state()

    def start(self) -> ApiServer:
        """Start on a daemon thread with its own event loop; returns when it listens."""
        self._runner_thread.start(30)
        return self

    def stop(self) -> None:
        self._runner_thread.stop(10)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- faults (injected by the event model and by tests) -------------------------------

    def drop_watches(self) -> int:
        """Close every open watch, as an API server restart or a load balancer would."""
        return self.api.store.close_all_watchers()

    def expire_next_watches(self, count: int = 1, namespace: str | None = None) -> None:
        """Answer the next `count` watch requests (of `namespace` only, when given) with
        410 Expired, which forces the watcher to relist."""
        faults = self.handler.faults
        if namespace is None:
            faults.expire_next_watches += count
        else:
            faults.expire_in_namespace[namespace] = \
                faults.expire_in_namespace.get(namespace, 0) + count

    def set_latency(self, seconds: float) -> None:
        """Delay every request by `seconds` (0 to stop)."""
        self.handler.faults.latency_seconds = seconds

    def outage(self, seconds: float) -> None:
        """Refuse connections for `seconds`: the listener closes and reopens on the same port.
        Returns at once; call from any thread but the server's."""
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._outage(seconds), self._loop)

    async def _outage(self, seconds: float) -> None:
        assert self._runner is not None
        for site in list(self._runner.sites):
            await site.stop()
        self.drop_watches()
        server = self._runner.server
        for handler in list(server.connections if server else []):
            # Kept-alive client connections go too, as they would in a real outage.
            if handler.transport is not None:
                handler.transport.close()
        await asyncio.sleep(seconds)
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._ssl,
                           reuse_address=True)
        await site.start()

    # ---- kubeconfig ----------------------------------------------------------------------

    def kubeconfig(self, namespace: str = "default") -> dict[str, Any]:
        cluster: dict[str, Any] = {"server": self.url}
        if self.ca is not None:
            import base64

            cluster["certificate-authority-data"] = base64.b64encode(
                self.ca.cert_pem.bytes()).decode()
        user: dict[str, Any] = {"token": self.token} if self.token else {}
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "simulator", "cluster": cluster}],
            "users": [{"name": "simulator", "user": user}],
            "contexts": [{"name": "simulator", "context": {
                "cluster": "simulator", "user": "simulator", "namespace": namespace}}],
            "current-context": "simulator",
            "preferences": {},
        }

    def write_kubeconfig(self, path: str | os.PathLike) -> Path:
        """Write a kubeconfig that kubectl and the `kubernetes` client load unchanged."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, yaml.safe_dump(self.kubeconfig(), sort_keys=False).encode())
        path.chmod(0o600)
        return path

    # ---- persistence ---------------------------------------------------------------------

    def save_state(self) -> None:
        assert self.state_file is not None
        _atomic_write(self.state_file, orjson.dumps(self.api.store.dump(),
                                                    option=orjson.OPT_INDENT_2))

    def load_state(self) -> None:
        assert self.state_file is not None
        try:
            state = orjson.loads(self.state_file.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise RuntimeError(f"cannot read state file {self.state_file}: {exc}; delete it "
                               f"to start empty") from exc
        # The fresh Api created the system namespaces: the saved state replaces them.
        self.api.store._objects.clear()  # noqa: SLF001 - restoring is the store's sibling
        self.api.store.load(state)
        crd = self.api.registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        assert crd is not None
        from .lifecycle import _crd_types

        for _, stored in self.api.store.items(self.api.resource_key(crd)).items():
            for rt in _crd_types(stored.view()):
                self.api.registry.add(rt)
        allocator = self.api.allocator
        for _, stored in self.api.store.items("/services").items():
            spec = stored.view().get("spec") or {}
            if spec.get("clusterIP"):
                allocator.used_ips.add(spec["clusterIP"])
            allocator.used_ports.update(port["nodePort"] for port in spec.get("ports") or []
                                        if isinstance(port, dict) and port.get("nodePort"))
        # The names this state holds came from the seed's sequence: continue on another.
        self.api.reseed(self.api.store.resource_version)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
