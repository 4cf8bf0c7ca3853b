"""What a target is: something that provides a kubeconfig, the HTTP and HTTPS entry
addresses, the ingress class to use and the controller's name and version, and sets itself up
and tears itself down. Cases see only `TargetInfo`."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TargetInfo:
    """Everything a case may know about the target (sent to pytest-xdist workers as JSON)."""

    name: str
    kubeconfig: str
    http_address: str  # host:port
    https_address: str | None
    ingress_class: str
    controller: str
    version: str
    # preStop sleep for the zero-downtime recipe: longer than the target takes to stop
    # routing to a terminating pod (the simulator converges in well under a second).
    prestop_seconds: int = 10
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TargetInfo:
        return cls(**json.loads(text))


class TargetError(Exception):
    """A target could not start; the message says what to do."""


@dataclass
class TargetOptions:
    """The command-line options targets read."""

    kubeconfig: str | None = None
    http_address: str | None = None
    https_address: str | None = None
    ingress_class: str | None = None
    controller_version: str | None = None
    prestop_seconds: int | None = None
    simulator_process: bool = False
    traefik_bin: str | None = None
    haproxy_ingress_bin: str | None = None
    nginx_bin: str | None = None
    haproxy_bin: str | None = None
    controller: str | None = None  # target kind: ingress-nginx, traefik or haproxy-ingress
    provider: str | None = None  # target kind: kind (default) or k3s
    keep_cluster: bool = False  # target kind: leave the cluster running
    workdir: str = "."


class Target(ABC):
    """Set up on the pytest controller process before any case runs; torn down after."""

    name: str = ""

    def __init__(self, options: TargetOptions) -> None:
        self.options = options

    @abstractmethod
    def start(self, progress: Any) -> TargetInfo:
        """Bring the target up (calling `progress(message)` on the way) and describe it."""

    def finished(self, report: dict[str, Any], folders: list[Path]) -> None:
        """Called once the reports are in `folders` (latest first); a target may add to
        them (e.g. the controller's logs after a failure). Nothing by default."""
        return None

    @abstractmethod
    def stop(self) -> None:
        """Release whatever start() acquired; safe to call after a failed start."""
