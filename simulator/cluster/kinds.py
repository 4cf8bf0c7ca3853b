"""The resource types the simulated cluster reads and writes, and their REST paths.

Only what the control loops use: they address the API server by path, exactly as client-go's
typed clients do (`/api/v1/namespaces/NS/pods/NAME/status`, `/apis/apps/v1/...`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Kind:
    """One served resource: where it lives in the REST tree."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
        """The REST path; `namespace=None` on a namespaced kind lists across namespaces."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [root]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{quote(namespace, safe='')}")
        parts.append(self.plural)
        if name is not None:
            parts.append(quote(name, safe=""))
            if subresource:
                parts.append(subresource)
        return "/".join(parts)

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


NAMESPACES = Kind("", "v1", "namespaces", "Namespace", namespaced=False)
NODES = Kind("", "v1", "nodes", "Node", namespaced=False)
PODS = Kind("", "v1", "pods", "Pod")
SERVICES = Kind("", "v1", "services", "Service")
ENDPOINTS = Kind("", "v1", "endpoints", "Endpoints")
EVENTS = Kind("", "v1", "events", "Event")
CONFIGMAPS = Kind("", "v1", "configmaps", "ConfigMap")
SECRETS = Kind("", "v1", "secrets", "Secret")
DEPLOYMENTS = Kind("apps", "v1", "deployments", "Deployment")
REPLICASETS = Kind("apps", "v1", "replicasets", "ReplicaSet")
ENDPOINTSLICES = Kind("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
INGRESSCLASSES = Kind("networking.k8s.io", "v1", "ingressclasses", "IngressClass",
                      namespaced=False)

ALL_KINDS = (NAMESPACES, NODES, PODS, SERVICES, ENDPOINTS, EVENTS, CONFIGMAPS, SECRETS,
             DEPLOYMENTS, REPLICASETS, ENDPOINTSLICES, INGRESSCLASSES)


def kind_for(api_version: str, kind: str) -> Kind | None:
    """The Kind an ownerReference (apiVersion, kind) names, if the cluster knows it."""
    for k in ALL_KINDS:
        if k.api_version == api_version and k.kind == kind:
            return k
    return None
