"""Patch metadata of the built-in kinds: the Go struct tags strategic merge patch reads and the
list/map types server-side apply reads.

Transcribed from the `patchStrategy`/`patchMergeKey` struct tags and the `+listType`,
`+listMapKey`, `+mapType`/`+structType` markers in `k8s.io/api/{core,apps,batch,networking,
discovery,policy,...}/v1/types.go` and `k8s.io/apimachinery/pkg/apis/meta/v1/types.go`.
Only fields that deviate from the defaults are listed: a field missing from a type is a
plain field (maps merge recursively, lists are replaced by SMP and atomic for SSA).

Server-side apply derives a list's type the way kube-openapi's schemaconv does: an explicit
`+listType` wins, otherwise `patchStrategy=merge` with a `patchMergeKey` makes an associative
list keyed by that key (`k:{"name":...}`), `patchStrategy=merge` without one makes a set
(`v:...`), and anything else is atomic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldSpec:
    """What the schema says about one field (or list element, or map value)."""

    type: str | None = None  # named struct type of the value / list element / map value
    strategy: str | None = None  # patchStrategy tag: "merge", "retainKeys", "merge,retainKeys"
    merge_key: str | None = None  # patchMergeKey tag
    list_type: str | None = None  # explicit +listType: "atomic", "set" or "map"
    list_keys: tuple[str, ...] = ()  # explicit +listMapKey markers
    key_defaults: tuple[tuple[str, Any], ...] = ()  # openapi defaults of list map key fields
    atomic: bool = False  # +mapType=atomic / +structType=atomic
    is_map: bool = False  # a Go map (keys are data, not named fields)
    always: bool = False  # present in the Go zero value (non-pointer struct, list w/o omitempty)

    @property
    def smp_strategy(self) -> str:
        """The strategic-merge strategy without `retainKeys` ("merge", "replace" or "")."""
        parts = [p for p in (self.strategy or "").split(",") if p and p != "retainKeys"]
        return parts[0] if parts else ""

    @property
    def ssa_list_type(self) -> str:
        """The list type server-side apply uses: "atomic", "set" or "map"."""
        if self.list_type:
            return self.list_type
        if self.smp_strategy == "merge":
            return "map" if self.merge_key else "set"
        return "atomic"

    @property
    def ssa_keys(self) -> tuple[str, ...]:
        if self.list_keys:
            return self.list_keys
        return (self.merge_key,) if self.merge_key else ()

    @property
    def is_list(self) -> bool:
        return self.list_type is not None or self.smp_strategy == "merge"

    @property
    def is_atomic(self) -> bool:
        return self.atomic or self.type in ATOMIC_TYPES


PLAIN = FieldSpec()


def _struct(type_name: str, **kw: Any) -> FieldSpec:
    return FieldSpec(type=type_name, **kw)


def _merge(key: str | None, type_name: str | None = None, **kw: Any) -> FieldSpec:
    return FieldSpec(type=type_name, strategy=kw.pop("strategy", "merge"), merge_key=key, **kw)


ATOMIC_LIST = FieldSpec(list_type="atomic")
ALWAYS_LIST = FieldSpec(list_type="atomic", always=True)  # `json:"x"` without omitempty
MAP = FieldSpec(is_map=True)
ATOMIC_MAP = FieldSpec(is_map=True, atomic=True)
CONDITIONS = _merge("type", "Condition")  # every status.conditions is keyed by type
TCP = (("protocol", "TCP"),)

# Types marked +structType=atomic (owned as a whole by server-side apply).
ATOMIC_TYPES = frozenset({
    "LabelSelector", "OwnerReference", "LocalObjectReference", "ObjectReference",
    "TypedLocalObjectReference", "ConfigMapKeySelector", "SecretKeySelector",
    "ObjectFieldSelector", "ResourceFieldSelector", "NodeSelector", "RoleRef",
})

TYPES: dict[str, dict[str, FieldSpec]] = {
    # meta/v1
    "ObjectMeta": {
        "labels": MAP,
        "annotations": MAP,
        "finalizers": FieldSpec(strategy="merge", list_type="set"),
        "ownerReferences": _merge("uid", "OwnerReference", list_type="map", list_keys=("uid",)),
        "managedFields": ATOMIC_LIST,
    },
    # core/v1 pods and templates
    "PodTemplateSpec": {
        "metadata": _struct("ObjectMeta", always=True),
        "spec": _struct("PodSpec", always=True),
    },
    "PodSpec": {
        "volumes": _merge("name", "Volume", strategy="merge,retainKeys"),
        "initContainers": _merge("name", "Container"),
        "containers": _merge("name", "Container", always=True),
        "ephemeralContainers": _merge("name", "Container"),
        "imagePullSecrets": _merge("name", "LocalObjectReference"),
        "hostAliases": _merge("ip"),
        "topologySpreadConstraints": _merge(
            "topologyKey", "TopologySpreadConstraint", list_type="map",
            list_keys=("topologyKey", "whenUnsatisfiable")),
        "schedulingGates": _merge("name"),
        "resourceClaims": _merge("name", strategy="merge,retainKeys"),
        "nodeSelector": ATOMIC_MAP,
        "overhead": MAP,
        "affinity": _struct("Affinity"),
    },
    "TopologySpreadConstraint": {"labelSelector": _struct("LabelSelector")},
    "Affinity": {"nodeAffinity": _struct("NodeAffinity")},
    "NodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": _struct("NodeSelector")},
    "Container": {
        "ports": _merge("containerPort", list_type="map",
                        list_keys=("containerPort", "protocol"), key_defaults=TCP),
        "env": _merge("name", "EnvVar"),
        "volumeMounts": _merge("mountPath"),
        "volumeDevices": _merge("devicePath"),
        "resources": _struct("ResourceRequirements"),
    },
    "EnvVar": {"valueFrom": _struct("EnvVarSource")},
    "EnvVarSource": {
        "configMapKeyRef": _struct("ConfigMapKeySelector"),
        "secretKeyRef": _struct("SecretKeySelector"),
        "fieldRef": _struct("ObjectFieldSelector"),
        "resourceFieldRef": _struct("ResourceFieldSelector"),
    },
    "ResourceRequirements": {
        "limits": MAP,
        "requests": MAP,
        "claims": FieldSpec(list_type="map", list_keys=("name",)),
    },
    "Volume": {},
    "PodStatus": {
        "conditions": CONDITIONS,
        "podIPs": _merge("ip"),
        "hostIPs": _merge("ip", list_type="atomic"),
        "resourceClaimStatuses": _merge("name", strategy="merge,retainKeys"),
    },
    "Pod": {"spec": _struct("PodSpec", always=True), "status": _struct("PodStatus", always=True)},
    "PodTemplate": {"template": _struct("PodTemplateSpec", always=True)},
    # core/v1 services and friends
    "Service": {
        "spec": _struct("ServiceSpec", always=True),
        "status": _struct("ServiceStatus", always=True),
    },
    "ServiceSpec": {
        "ports": _merge("port", list_type="map", list_keys=("port", "protocol"),
                        key_defaults=TCP),
        "selector": ATOMIC_MAP,
    },
    "ServiceStatus": {
        "loadBalancer": FieldSpec(always=True),
        "conditions": CONDITIONS,
    },
    "ServiceAccount": {"secrets": _merge("name", "ObjectReference")},
    "Event": {
        "involvedObject": _struct("ObjectReference", always=True),
        "related": _struct("ObjectReference"),
        "source": FieldSpec(always=True),
    },
    "ConfigMap": {"data": MAP, "binaryData": MAP},
    "Secret": {"data": MAP, "stringData": MAP},
    "Namespace": {
        "spec": FieldSpec(always=True),
        "status": _struct("NamespaceStatus", always=True),
    },
    "NamespaceStatus": {"conditions": CONDITIONS},
    "Node": {
        "spec": _struct("NodeSpec", always=True),
        "status": _struct("NodeStatus", always=True),
    },
    "NodeSpec": {"podCIDRs": FieldSpec(strategy="merge", list_type="set")},
    "NodeStatus": {
        "conditions": CONDITIONS,
        "addresses": _merge("type"),
        "capacity": MAP,
        "allocatable": MAP,
        "daemonEndpoints": FieldSpec(always=True),
        "nodeInfo": FieldSpec(always=True),
    },
    "PersistentVolumeClaim": {
        "spec": _struct("PersistentVolumeClaimSpec", always=True),
        "status": _struct("PersistentVolumeClaimStatus", always=True),
    },
    "PersistentVolumeClaimSpec": {"selector": _struct("LabelSelector")},
    "PersistentVolumeClaimStatus": {"conditions": CONDITIONS, "capacity": MAP},
    "ReplicationController": {
        "spec": _struct("ReplicationControllerSpec", always=True),
        "status": _struct("WorkloadStatus", always=True),
    },
    "ReplicationControllerSpec": {"selector": ATOMIC_MAP, "template": _struct("PodTemplateSpec")},
    # apps/v1
    "Deployment": {
        "spec": _struct("DeploymentSpec", always=True),
        "status": _struct("WorkloadStatus", always=True),
    },
    "DeploymentSpec": {
        "selector": _struct("LabelSelector"),
        "template": _struct("PodTemplateSpec", always=True),
        "strategy": FieldSpec(strategy="retainKeys", always=True),
    },
    "WorkloadStatus": {"conditions": CONDITIONS},
    "ReplicaSet": {
        "spec": _struct("WorkloadSpec", always=True),
        "status": _struct("WorkloadStatus", always=True),
    },
    "WorkloadSpec": {
        "selector": _struct("LabelSelector"),
        "template": _struct("PodTemplateSpec", always=True),
        "updateStrategy": FieldSpec(always=True),
        "volumeClaimTemplates": ATOMIC_LIST,
    },
    "StatefulSet": {
        "spec": _struct("WorkloadSpec", always=True),
        "status": _struct("WorkloadStatus", always=True),
    },
    "DaemonSet": {
        "spec": _struct("WorkloadSpec", always=True),
        "status": _struct("WorkloadStatus", always=True),
    },
    # batch/v1
    "Job": {"spec": _struct("JobSpec", always=True), "status": _struct("JobStatus", always=True)},
    "JobSpec": {
        "selector": _struct("LabelSelector"),
        "template": _struct("PodTemplateSpec", always=True),
    },
    "JobStatus": {"conditions": _merge("type", list_type="atomic")},
    "CronJob": {"spec": _struct("CronJobSpec", always=True), "status": FieldSpec(always=True)},
    "CronJobSpec": {"jobTemplate": _struct("JobTemplateSpec", always=True)},
    "JobTemplateSpec": {
        "metadata": _struct("ObjectMeta", always=True),
        "spec": _struct("JobSpec", always=True),
    },
    # networking.k8s.io/v1: every Ingress list is atomic (no patch strategy).
    "Ingress": {
        "spec": FieldSpec(always=True),
        "status": _struct("IngressStatus", always=True),
    },
    "IngressStatus": {"loadBalancer": FieldSpec(always=True)},
    "IngressClass": {"spec": FieldSpec(always=True)},
    "NetworkPolicy": {"spec": _struct("NetworkPolicySpec", always=True)},
    "NetworkPolicySpec": {"podSelector": _struct("LabelSelector", always=True)},
    # discovery.k8s.io/v1: endpoints and ports are atomic, addresses a set (no SMP strategy).
    "EndpointSlice": {"endpoints": ALWAYS_LIST, "ports": ALWAYS_LIST},
    # policy/v1
    "PodDisruptionBudget": {
        "spec": _struct("PodDisruptionBudgetSpec", always=True),
        "status": _struct("WorkloadStatus", always=True),
    },
    "PodDisruptionBudgetSpec": {"selector": _struct("LabelSelector")},
    # autoscaling/v2
    "HorizontalPodAutoscaler": {
        "spec": FieldSpec(always=True),
        "status": _struct("WorkloadStatus", always=True),
    },
    # rbac.authorization.k8s.io/v1
    "Role": {"rules": ALWAYS_LIST},
    "RoleBinding": {"roleRef": _struct("RoleRef", always=True)},
    # admissionregistration.k8s.io/v1
    "ValidatingWebhookConfiguration": {"webhooks": _merge("name")},
    # apiextensions.k8s.io/v1
    "CustomResourceDefinition": {
        "spec": FieldSpec(always=True),
        "status": _struct("CRDStatus", always=True),
    },
    "CRDStatus": {"conditions": FieldSpec(list_type="map", list_keys=("type",))},
    "Lease": {"spec": FieldSpec(always=True)},
    "Object": {},
}

# Every root type has metadata; add it once here instead of in each entry above.
for _name in (
    "Pod", "PodTemplate", "Service", "ServiceAccount", "Event", "ConfigMap", "Secret",
    "Namespace", "Node", "PersistentVolumeClaim", "ReplicationController", "Deployment",
    "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "Ingress", "IngressClass",
    "NetworkPolicy", "EndpointSlice", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Role",
    "RoleBinding", "ValidatingWebhookConfiguration", "CustomResourceDefinition", "Lease",
    "Object",
):
    TYPES[_name]["metadata"] = _struct("ObjectMeta", always=True)

# kind_key ("<group>/<Kind>") -> root type.  These are the kinds kube-apiserver serves from Go
# types, so strategic merge patch is supported for them; anything else (custom resources)
# answers 415.
ROOTS: dict[str, str] = {
    "/Pod": "Pod",
    "/PodTemplate": "PodTemplate",
    "/Service": "Service",
    "/Endpoints": "Object",
    "/ServiceAccount": "ServiceAccount",
    "/Event": "Event",
    "/ConfigMap": "ConfigMap",
    "/Secret": "Secret",
    "/Namespace": "Namespace",
    "/Node": "Node",
    "/PersistentVolume": "Object",
    "/PersistentVolumeClaim": "PersistentVolumeClaim",
    "/ReplicationController": "ReplicationController",
    "/LimitRange": "Object",
    "/ResourceQuota": "Object",
    "/Binding": "Object",
    "apps/Deployment": "Deployment",
    "apps/ReplicaSet": "ReplicaSet",
    "apps/StatefulSet": "StatefulSet",
    "apps/DaemonSet": "DaemonSet",
    "apps/ControllerRevision": "Object",
    "batch/Job": "Job",
    "batch/CronJob": "CronJob",
    "networking.k8s.io/Ingress": "Ingress",
    "networking.k8s.io/IngressClass": "IngressClass",
    "networking.k8s.io/NetworkPolicy": "NetworkPolicy",
    "discovery.k8s.io/EndpointSlice": "EndpointSlice",
    "coordination.k8s.io/Lease": "Lease",
    "events.k8s.io/Event": "Object",
    "policy/PodDisruptionBudget": "PodDisruptionBudget",
    "autoscaling/HorizontalPodAutoscaler": "HorizontalPodAutoscaler",
    "rbac.authorization.k8s.io/Role": "Role",
    "rbac.authorization.k8s.io/ClusterRole": "Role",
    "rbac.authorization.k8s.io/RoleBinding": "RoleBinding",
    "rbac.authorization.k8s.io/ClusterRoleBinding": "RoleBinding",
    "admissionregistration.k8s.io/ValidatingWebhookConfiguration":
        "ValidatingWebhookConfiguration",
    "admissionregistration.k8s.io/MutatingWebhookConfiguration":
        "ValidatingWebhookConfiguration",
    "apiextensions.k8s.io/CustomResourceDefinition": "CustomResourceDefinition",
    "apiregistration.k8s.io/APIService": "Object",
    "storage.k8s.io/StorageClass": "Object",
    "scheduling.k8s.io/PriorityClass": "Object",
    "node.k8s.io/RuntimeClass": "Object",
    "certificates.k8s.io/CertificateSigningRequest": "Object",
    "autoscaling/Scale": "Object",
}

# Kinds whose status lives behind a /status subresource: server-side apply and update on the
# main resource do not track `.status` (the registry strategies' GetResetFields).
STATUS_RESET_KINDS = frozenset({
    "/Pod", "/Service", "/Namespace", "/Node", "/PersistentVolumeClaim",
    "/PersistentVolume", "/ReplicationController", "/ResourceQuota", "apps/Deployment",
    "apps/ReplicaSet", "apps/StatefulSet", "apps/DaemonSet", "batch/Job", "batch/CronJob",
    "networking.k8s.io/Ingress", "policy/PodDisruptionBudget",
    "autoscaling/HorizontalPodAutoscaler", "apiextensions.k8s.io/CustomResourceDefinition",
    "apiregistration.k8s.io/APIService", "certificates.k8s.io/CertificateSigningRequest",
})


def is_known_kind(kind_key: str) -> bool:
    """Whether `kind_key` is a built-in kind (strategic merge patch is supported for it)."""
    return kind_key in ROOTS


def root_spec(kind_key: str) -> FieldSpec:
    """The spec of a whole object of kind `kind_key` (plain for unknown kinds)."""
    return FieldSpec(type=ROOTS.get(kind_key, "Object"))


def field_spec(parent: FieldSpec, name: str) -> FieldSpec:
    """The spec of field `name` of a value described by `parent`."""
    if parent.is_map:
        return item_spec(parent)
    return TYPES.get(parent.type or "", {}).get(name, PLAIN)


def item_spec(parent: FieldSpec) -> FieldSpec:
    """The spec of an element of the list (or a value of the map) described by `parent`."""
    return FieldSpec(type=parent.type) if parent.type else PLAIN
