"""What every emulated container image provides: the ports its process listens on and how
it answers there, how it reacts to each stop signal, and which programs exist in it (for
exec hooks)."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Awaitable, Callable
from typing import ClassVar, Literal

from ..httpserver import ConnectionPolicy, HttpRequest, HttpResponse
from ..spec import ContainerView

__all__ = ["ContainerImage", "StopMode", "Handler", "http_date"]

# graceful: stop accepting, close idle connections, let requests in progress finish;
# immediate: the process is gone, every connection drops with it;
# ignore: the signal does not stop the process (nginx's HUP reloads, for instance).
StopMode = Literal["graceful", "immediate", "ignore"]
Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


def http_date(ts: float | None = None) -> str:
    """RFC 9110 IMF-fixdate, as both nginx and Go write `Date:`."""
    return email.utils.formatdate(time.time() if ts is None else ts, usegmt=True)


class ContainerImage:
    """Base class of the emulated images. One instance per container."""

    kind: ClassVar[str] = "generic"
    # The image's STOPSIGNAL (Dockerfile); containerd's CRI sends it instead of SIGTERM
    # unless the container spec sets lifecycle.stopSignal.
    stop_signal: ClassVar[str] = "SIGTERM"
    # Programs an exec hook can run; None: an unknown or distribution-based image, assumed
    # to have a shell and coreutils/busybox.
    executables: ClassVar[frozenset[str] | None] = None

    def __init__(self, container: ContainerView) -> None:
        self.container = container
        self.env = container.env()
        # Set by `select_image` when this emulation stands in for something it cannot run.
        self.note: str | None = None

    @property
    def policy(self) -> ConnectionPolicy:
        """How the image's server treats connections (timeouts, errors)."""
        return ConnectionPolicy(error_response=self.error_response)

    def listen_ports(self) -> dict[int, Handler]:
        """containerPort -> request handler, for every port the process listens on."""
        raise NotImplementedError

    def stop_mode(self, signal: str) -> StopMode:
        """What the process does on `signal` (normalised, e.g. "SIGTERM"; never SIGKILL,
        which is always immediate). By default: what a well-behaved server does."""
        return "graceful" if signal in ("SIGTERM", "SIGINT", "SIGQUIT") else "ignore"

    def error_response(self, status: int) -> HttpResponse:
        """The image's answer to a request its HTTP parser rejects (400, 414, 431) or to
        a failure (500, 503)."""
        body = f"{status}\n".encode()
        return HttpResponse(status, [("Date", http_date()), ("Content-Type", "text/plain"),
                                     ("Content-Length", str(len(body)))], body, close=True)
