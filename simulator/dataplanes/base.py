"""What every data plane offers the simulator, and helpers the process supervisors share."""

from __future__ import annotations

import shutil
import socket
from typing import Protocol

from ..routing import RoutingTable


class DataPlane(Protocol):
    """The face `simulator.proxy.Proxy` already has."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def update(self, table: RoutingTable) -> None:
        """Serve `table` from now on (called from the controller's threads; must not block
        for long: apply asynchronously, coalescing bursts)."""

    @property
    def http_address(self) -> tuple[str, int] | None: ...

    @property
    def https_address(self) -> tuple[str, int] | None: ...


class BinaryNotFound(RuntimeError):
    """The proxy binary is missing; the message says how to install it."""


INSTALL_HINTS = {
    "nginx": "install it (Debian/Ubuntu: `apt-get install -y nginx-light`; macOS: "
             "`brew install nginx`) or pass --nginx-bin PATH",
    "haproxy": "install it (Debian/Ubuntu: `apt-get install -y haproxy`; macOS: "
               "`brew install haproxy`) or pass --haproxy-bin PATH",
}


def find_binary(name: str, explicit: str | None = None) -> str:
    """`explicit` if given (and executable), else `name` on PATH (or /usr/sbin)."""
    candidate = explicit or shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if candidate is None or (explicit and shutil.which(explicit) is None):
        where = f"{explicit!r} is not an executable" if explicit else f"no `{name}` on PATH"
        raise BinaryNotFound(f"{where}: {INSTALL_HINTS.get(name, 'install it')}")
    return candidate


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the proxies cannot report an ephemeral port they
    bound, so the supervisor picks one; a lost race shows as a clear start error)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
