"""Conformance targets by name: `--target simulator` (default), `nginx` and `haproxy` (the
reference controller driving a real proxy), `kubeconfig` (an existing cluster), `traefik` and
`haproxy-ingress` (real controllers run out of cluster against the simulator's API server) or
`kind` (a real controller in a kind or k3s cluster)."""

from __future__ import annotations

from .base import Target, TargetError, TargetInfo, TargetOptions
from .haproxy_ingress import HAProxyIngressTarget
from .kind import KindTarget
from .kubeconfig import KubeconfigTarget
from .simulator import HAProxyTarget, NginxTarget, SimulatorTarget
from .traefik import TraefikTarget

TARGETS: dict[str, type[Target]] = {
    SimulatorTarget.name: SimulatorTarget,
    NginxTarget.name: NginxTarget,
    HAProxyTarget.name: HAProxyTarget,
    KubeconfigTarget.name: KubeconfigTarget,
    TraefikTarget.name: TraefikTarget,
    HAProxyIngressTarget.name: HAProxyIngressTarget,
    KindTarget.name: KindTarget,
}


def make_target(name: str, options: TargetOptions) -> Target:
    try:
        return TARGETS[name](options)
    except KeyError:
        raise TargetError(f"unknown target {name!r}; choose one of: "
                          f"{', '.join(sorted(TARGETS))}") from None


__all__ = ["TARGETS", "Target", "TargetError", "TargetInfo", "TargetOptions", "make_target"]
