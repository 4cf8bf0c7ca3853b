"""Any image this package does not know: a generic HTTP echo on every declared TCP
containerPort (80 when the container declares none).

Nothing here copies a real image, so the caller is expected to say so (a Warning Event):
`image_kind == "generic"`. The answer is a JSON description of the request, in the same
layout as echo-basic's so clients can read both; `?delay=<duration>` (Go syntax, or plain
seconds) slows it down. SIGTERM is handled like a well-behaved server: stop accepting,
finish what is in flight, then exit.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from .. import golang
from ..httpserver import ConnectionPolicy, HttpRequest, HttpResponse
from ..spec import ContainerView
from .base import ContainerImage, Handler, http_date
from .echo_basic import go_host, go_request_headers

__all__ = ["GenericEcho", "DEFAULT_PORT"]

DEFAULT_PORT = 80


class GenericEcho(ContainerImage):
    """Echo server standing in for an unknown image."""

    kind: ClassVar[str] = "generic"

    def __init__(self, container: ContainerView, default_port: int | None = DEFAULT_PORT
                 ) -> None:
        super().__init__(container)
        declared = [p["containerPort"] for p in container.declared_ports()]
        self.ports = declared or ([default_port] if default_port is not None else [])

    @property
    def policy(self) -> ConnectionPolicy:
        return ConnectionPolicy(keepalive_timeout=60.0, error_response=self.error_response)

    def listen_ports(self) -> dict[int, Handler]:
        return {port: self.handle for port in self.ports}

    async def handle(self, request: HttpRequest) -> HttpResponse:
        delay = request.query_value("delay")
        if delay:
            try:
                seconds = float(delay)
            except ValueError:
                try:
                    seconds = golang.parse_duration(delay)
                except golang.DurationError as exc:
                    return self._json(request, 400, {"message": str(exc)})
            if seconds > 0:
                await asyncio.sleep(seconds)
        pod = self.container.pod
        return self._json(request, 200, {
            "path": request.target,
            "host": go_host(request),
            "method": request.method,
            "proto": f"HTTP/{request.http_version}",
            "headers": go_request_headers(request),
            "namespace": pod.namespace,
            "pod": pod.name,
            "container": self.container.name,
            "image": self.container.image,
            "containerPort": request.container_port,
        })

    def _json(self, request: HttpRequest, status: int, value: object) -> HttpResponse:
        body = golang.marshal_indent(value) + b"\n"
        return HttpResponse(status, [
            ("Content-Type", "application/json"),
            ("Date", http_date()),
            ("Content-Length", str(len(body))),
        ], body)
