"""Readiness probes, as the kubelet's prober runs them (pkg/kubelet/prober).

`probe_once` performs one check: httpGet (success for 200 <= status < 400, as
`probe/http` decides), tcpSocket (the connection opens) and, since there is no container to
run a command or a gRPC health server in, exec and grpc probes count as successes.
`ReadinessWorker` runs one container's probe: the first check after initialDelaySeconds, then
one every periodSeconds, each bounded by timeoutSeconds; the result flips only after
successThreshold consecutive successes or failureThreshold consecutive failures
(`worker.doProbe`), and starts as not ready (readiness's initial result is Failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]

USER_AGENT = "kube-probe/1.33"


def resolve_port(port: Any, container: Obj) -> int | None:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) and not isinstance(port, bool):
        return port
    if isinstance(port, str):
        if port.isdigit():
            return int(port)
        for p in container.get("ports") or []:
            if p.get("name") == port:
                return int(p.get("containerPort"))
    return None


async def http_get(host: str, port: int, path: str, *, scheme: str = "HTTP",
                   headers: list[Obj] | None = None, timeout: float = 1.0) -> bool:
    """One HTTP GET; True for a 2xx or 3xx answer."""
    ctx = None
    if scheme.upper() == "HTTPS":
        # The kubelet does not verify probe certificates.
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx), timeout)
        lines = [f"GET {path or '/'} HTTP/1.1", f"Host: {host}:{port}",
                 f"User-Agent: {USER_AGENT}", "Accept: */*", "Connection: close"]
        for h in headers or []:
            if h.get("name"):
                lines.append(f"{h['name']}: {h.get('value', '')}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        parts = status_line.split()
        return len(parts) >= 2 and parts[1].isdigit() and 200 <= int(parts[1]) < 400
    except (OSError, asyncio.TimeoutError, ValueError, ssl.SSLError):
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def tcp_connect(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


async def probe_once(probe: Obj, container: Obj, pod_ip: str,
                     real_port: Callable[[int], int]) -> bool:
    """Run `probe` once against the pod; `real_port` maps a containerPort to the port the
    pod's process listens on."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    if isinstance(probe.get("httpGet"), dict):
        spec = probe["httpGet"]
        port = resolve_port(spec.get("port"), container)
        if port is None:
            return False
        return await http_get(spec.get("host") or pod_ip, real_port(port),
                              spec.get("path") or "/", scheme=spec.get("scheme") or "HTTP",
                              headers=spec.get("httpHeaders"), timeout=timeout)
    if isinstance(probe.get("tcpSocket"), dict):
        spec = probe["tcpSocket"]
        port = resolve_port(spec.get("port"), container)
        if port is None:
            return False
        return await tcp_connect(spec.get("host") or pod_ip, real_port(port), timeout)
    return True  # exec / grpc: nothing to run them in


class ReadinessWorker:
    """One container's readiness probe loop; `on_change(ready)` fires when the result flips."""

    def __init__(self, probe: Obj, container: Obj, pod_ip: str,
                 real_port: Callable[[int], int], on_change: Callable[[bool], None]) -> None:
        self.probe = probe
        self.container = container
        self.pod_ip = pod_ip
        self.real_port = real_port
        self.on_change = on_change
        self.ready = False
        self._last: bool | None = None
        self._run = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"probe-{self.pod_ip}")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _loop(self) -> None:
        await asyncio.sleep(max(0, int(self.probe.get("initialDelaySeconds") or 0)))
        period = max(1, int(self.probe.get("periodSeconds") or 10))
        success_threshold = max(1, int(self.probe.get("successThreshold") or 1))
        failure_threshold = max(1, int(self.probe.get("failureThreshold") or 3))
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            result = await probe_once(self.probe, self.container, self.pod_ip, self.real_port)
            if result == self._last:
                self._run += 1
            else:
                self._last, self._run = result, 1
            threshold = success_threshold if result else failure_threshold
            if self._run >= threshold and result != self.ready:
                self.ready = result
                self.on_change(result)
            await asyncio.sleep(max(0.0, period - (loop.time() - started)))
