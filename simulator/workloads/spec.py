"""What a workload sees of its pod: the PodSpecView handed over by the kubelet, plus the
per-container facts a process inside the container could observe (environment, hostname)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PodSpecView", "ContainerView", "image_repository", "pod_hostname"]


@dataclass(frozen=True)
class PodSpecView:
    """The part of a Pod a simulated container runtime needs.

    `containers` are the pod's `spec.containers` as JSON dicts (image, ports, env,
    readinessProbe, lifecycle, ...), exactly as stored by the API server.
    """

    namespace: str
    name: str
    ip: str
    containers: tuple[dict, ...] = field(default_factory=tuple)


def pod_hostname(pod_name: str) -> str:
    """The hostname the kubelet gives a pod's containers (no spec.hostname in the view).

    Copies kubelet's truncatePodHostnameIfNeeded (pkg/kubelet/kubelet_pods.go): a pod name
    longer than 63 characters is cut to 63, then trailing '-' and '.' are trimmed.
    """
    if len(pod_name) <= 63:
        return pod_name
    return pod_name[:63].rstrip("-.")


def image_repository(image: str) -> str:
    """The repository path of an image reference, without registry host, tag or digest.

    `docker.io/nginxdemos/hello:plain-text` -> `nginxdemos/hello`;
    `gcr.io/k8s-staging-gateway-api/echo-basic:v2024@sha256:..` ->
    `k8s-staging-gateway-api/echo-basic`; `nginx` -> `library/nginx`.
    """
    ref = image.strip().split("@", 1)[0]
    # A ':' after the last '/' starts a tag; one before it belongs to a registry host:port.
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref = ref[:colon]
    parts = ref.split("/")
    # Docker's rule (distribution/reference): the first component is a registry host when it
    # contains '.' or ':' or is 'localhost'.
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if len(parts) == 1:
        parts = ["library", *parts]
    return "/".join(parts).lower()


@dataclass(frozen=True)
class ContainerView:
    """One container of a pod, with its environment resolved as the kubelet would."""

    pod: PodSpecView
    spec: Mapping[str, Any]
    index: int

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or f"container-{self.index}")

    @property
    def image(self) -> str:
        return str(self.spec.get("image") or "")

    @property
    def hostname(self) -> str:
        return pod_hostname(self.pod.name)

    def env(self) -> dict[str, str]:
        """`env` entries as the process sees them.

        Plain values are used as they are; `valueFrom.fieldRef` is resolved for the downward
        API fields this view knows (metadata.name, metadata.namespace, status.podIP); other
        sources (secrets, config maps, resources) resolve to "" since they are not visible here.
        Later entries override earlier ones, as in the container runtime.
        """
        resolved: dict[str, str] = {}
        for entry in self.spec.get("env") or ():
            name = entry.get("name")
            if not name:
                continue
            if "value" in entry:
                resolved[name] = str(entry.get("value") or "")
                continue
            field_path = ((entry.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
            resolved[name] = {
                "metadata.name": self.pod.name,
                "metadata.namespace": self.pod.namespace,
                "status.podIP": self.pod.ip,
                "status.podIPs": self.pod.ip,
            }.get(field_path or "", "")
        return resolved

    def declared_ports(self) -> list[dict[str, Any]]:
        """`ports` entries carrying TCP (the default protocol): only those can serve HTTP."""
        return [
            p for p in self.spec.get("ports") or ()
            if isinstance(p.get("containerPort"), int)
            and (p.get("protocol") or "TCP").upper() == "TCP"
        ]

    def resolve_port(self, port: int | str | None) -> int | None:
        """A probe or hook `port`: a number, or the name of one of this container's ports."""
        if isinstance(port, int):
            return port
        if isinstance(port, str):
            if port.isdigit():
                return int(port)
            for p in self.spec.get("ports") or ():
                if p.get("name") == port:
                    return int(p["containerPort"])
        return None
