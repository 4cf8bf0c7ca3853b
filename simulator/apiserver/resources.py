"""The registry of resource types the API server serves.

Each `ResourceType` says where a kind lives in the REST tree (group, version, plural),
what discovery says about it (short names, categories, verbs) and what the server
does with it beyond storage (subresources, extra field selectors).  CustomResourceDefinitions
add entries at run time through `Registry.add` / `Registry.remove`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One served resource (e.g. networking.k8s.io/v1 ingresses)."""

    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "scale"
    # Field selectors beyond metadata.name / metadata.namespace, as kube-apiserver allows them.
    field_selectors: tuple[str, ...] = ()
    # A custom resource: stored and served, no typed validation or defaults.
    custom: bool = False
    verbs: tuple[str, ...] = ALL_VERBS
    # For custom resources: the printer columns from the CRD (additionalPrinterColumns).
    printer_columns: tuple[dict, ...] = field(default=(), compare=False)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def key(self) -> str:
        """The group-qualified kind, e.g. `networking.k8s.io/Ingress`, `/Service` for core."""
        return f"{self.group}/{self.kind}"

    @property
    def group_resource(self) -> str:
        """`ingresses.networking.k8s.io` as used in error messages (`services` for core)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """`Ingress.networking.k8s.io`, the subject of an Invalid Status message."""
        return f"{self.kind}.{self.group}" if self.group else self.kind


def _core(kind: str, plural: str, namespaced: bool = True, **kw) -> ResourceType:
    return ResourceType("", "v1", kind, plural, namespaced, **kw)


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    # core/v1
    _core("Namespace", "namespaces", namespaced=False, short_names=("ns",),
          subresources=("status",), field_selectors=("status.phase",)),
    _core("Service", "services", short_names=("svc",), categories=("all",),
          subresources=("status",), field_selectors=("spec.clusterIP", "spec.type")),
    _core("Endpoints", "endpoints", short_names=("ep",)),
    _core("Pod", "pods", short_names=("po",), categories=("all",), subresources=("status",),
          field_selectors=("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                           "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                           "status.podIP", "status.nominatedNodeName")),
    _core("Secret", "secrets", field_selectors=("type",)),
    _core("ConfigMap", "configmaps", short_names=("cm",)),
    _core("ServiceAccount", "serviceaccounts", short_names=("sa",)),
    _core("Event", "events", short_names=("ev",),
          field_selectors=("involvedObject.kind", "involvedObject.namespace",
                           "involvedObject.name", "involvedObject.uid",
                           "involvedObject.apiVersion", "involvedObject.resourceVersion",
                           "involvedObject.fieldPath", "reason", "reportingComponent",
                           "source", "type")),
    _core("Node", "nodes", namespaced=False, short_names=("no",), subresources=("status",),
          field_selectors=("spec.unschedulable",)),
    # apps/v1
    ResourceType("apps", "v1", "Deployment", "deployments", True, short_names=("deploy",),
                 categories=("all",), subresources=("status", "scale")),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", True, short_names=("rs",),
                 categories=("all",), subresources=("status", "scale"),
                 field_selectors=("status.replicas",)),
    # discovery.k8s.io/v1
    ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True,
                 field_selectors=("addressType",)),
    # networking.k8s.io/v1
    ResourceType("networking.k8s.io", "v1", "Ingress", "ingresses", True, short_names=("ing",),
                 subresources=("status",)),
    ResourceType("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    # coordination.k8s.io/v1
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", True),
    # events.k8s.io/v1
    ResourceType("events.k8s.io", "v1", "Event", "events", True, short_names=("ev",),
                 field_selectors=("regarding.kind", "regarding.namespace", "regarding.name",
                                  "regarding.uid", "reason", "reportingController", "type")),
    # Kinds that controller install manifests use: stored with metadata semantics only.
    ResourceType("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    ResourceType("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
                 False),
    ResourceType("batch", "v1", "Job", "jobs", True, categories=("all",),
                 subresources=("status",)),
    ResourceType("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
                 "validatingwebhookconfigurations", False),
    ResourceType("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
                 "mutatingwebhookconfigurations", False),
    ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True,
                 short_names=("pdb",), subresources=("status",)),
    ResourceType("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
                 "customresourcedefinitions", False, short_names=("crd", "crds"),
                 subresources=("status",)),
)

# Preferred order of groups in discovery, as kube-apiserver lists them.
GROUP_ORDER = (
    "", "apps", "events.k8s.io", "networking.k8s.io", "discovery.k8s.io",
    "coordination.k8s.io", "rbac.authorization.k8s.io", "batch", "policy",
    "admissionregistration.k8s.io", "apiextensions.k8s.io",
)


class Registry:
    """Thread-safe lookup of served resource types by (group, version, plural) and by kind."""

    def __init__(self, types: Iterable[ResourceType] = BUILTIN_TYPES) -> None:
        self._lock = threading.Lock()
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        for rt in types:
            self._by_path[(rt.group, rt.version, rt.plural)] = rt

    def add(self, rt: ResourceType) -> None:
        with self._lock:
            self._by_path[(rt.group, rt.version, rt.plural)] = rt

    def remove(self, group: str, version: str, plural: str) -> None:
        with self._lock:
            self._by_path.pop((group, version, plural), None)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for rt in self.all():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        return None

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._by_path.values())

    def groups(self) -> dict[str, list[str]]:
        """Group name -> served versions (preferred first), core group included as ""."""
        found: dict[str, list[str]] = {}
        for rt in self.all():
            versions = found.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        order = {g: i for i, g in enumerate(GROUP_ORDER)}
        return dict(sorted(found.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.all() if rt.group == group and rt.version == version]
