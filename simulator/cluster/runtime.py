"""What the kubelet needs from the pod runtime (`simulator.workloads`), as protocols.

The kubelet codes against these shapes; the real implementation is
`simulator.workloads.PodRuntime` (pods as HTTP servers on loopback), imported lazily so the
cluster package loads on its own and tests can pass another runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class RunningPodLike(Protocol):
    """One started pod: its real listening ports and its lifecycle."""

    ports: dict[int, int]  # containerPort -> the port the process really listens on
    image_kind: str  # "hello-plain-text" | "echo-basic" | "generic"

    async def prestop(self, timeout: float | None = None) -> None:
        """Run the containers' preStop hooks (for at most `timeout` seconds)."""

    async def terminate(self, grace: float | None = None) -> None:
        """Stop signal; returns once stopped, cutting a shutdown longer than `grace` short."""

    async def kill(self) -> None:
        """SIGKILL: everything closed at once."""


class PodRuntimeLike(Protocol):
    async def start_pod(self, spec: Any) -> RunningPodLike:
        """Start the pod's processes; returns once they accept connections."""

    async def stop_all(self) -> None:
        """Kill every pod started."""


@dataclass(frozen=True)
class _PodSpecView:
    """Stand-in with PodSpecView's fields when `simulator.workloads` is not importable."""

    namespace: str
    name: str
    ip: str
    containers: tuple[dict, ...]


def pod_spec_view(namespace: str, name: str, ip: str, containers: tuple[dict, ...]) -> Any:
    """A `simulator.workloads.PodSpecView` for the runtime."""
    try:
        from simulator.workloads import PodSpecView
    except ImportError:
        return _PodSpecView(namespace, name, ip, containers)
    return PodSpecView(namespace, name, ip, containers)


def default_runtime() -> PodRuntimeLike:
    from simulator.workloads import PodRuntime

    return PodRuntime()


def default_ip_for(index: int) -> str:
    """`simulator.workloads.pod_ip_for`: a distinct loopback address per pod index."""
    from simulator.workloads import pod_ip_for

    return pod_ip_for(index)
