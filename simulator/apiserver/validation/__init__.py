"""Validation of API objects, as kube-apiserver does it (Kubernetes 1.33/1.34 wording).

Public interface::

    validate(kind_key, obj, old=None)   -> list[FieldError]   create (old is None) or update
    validate_status(kind_key, obj, old) -> list[FieldError]   update through /status
    invalid_message(qualified_kind, name, errors) -> str      the 422 Status message

`kind_key` is "<group>/<Kind>" ("networking.k8s.io/Ingress", "/Service").  Objects are the JSON
dicts a client sent, after defaulting, with metadata.name (and, for namespaced kinds,
metadata.namespace) set.

The order of checks follows the generic registry (`k8s.io/apiserver/pkg/registry/rest`):

* create (BeforeCreate): the kind's strategy Validate; only if that passes, the common
  ObjectMeta validation every resource gets (names must be valid path segments).
* update (BeforeUpdate): the common ObjectMeta and ObjectMeta-update checks, then the
  strategy's ValidateUpdate, all in one list.  Like kube-apiserver this can report the same
  metadata problem more than once in the causes; `invalid_message` dedups, as
  `ErrorList.ToAggregate` does.

Kinds without a typed validator (CRDs' custom resources, batch, policy, ...) get ObjectMeta
validation with DNS-1123 subdomain names; RBAC kinds use path-segment names as upstream.
"""

from __future__ import annotations

from collections.abc import Callable

from . import apps, coordination, core, discovery, names, networking
from .field import FieldError, go_quote
from .meta import as_dict, as_str, validate_object_meta, validate_object_meta_update

__all__ = ["FieldError", "invalid_message", "validate", "validate_status"]

CreateFn = Callable[[dict], list[FieldError]]
UpdateFn = Callable[[dict, dict], list[FieldError]]

# Cluster-scoped kinds among those with known scope; everything else listed is namespaced.
_CLUSTER_SCOPED = {
    "/Namespace", "/Node", "networking.k8s.io/IngressClass",
    "rbac.authorization.k8s.io/ClusterRole", "rbac.authorization.k8s.io/ClusterRoleBinding",
    "apiextensions.k8s.io/CustomResourceDefinition",
}
_NAMESPACED = {
    "/Service", "/Pod", "/Secret", "/ConfigMap", "/Endpoints", "/ServiceAccount", "/Event",
    "networking.k8s.io/Ingress", "apps/Deployment", "apps/ReplicaSet",
    "discovery.k8s.io/EndpointSlice", "coordination.k8s.io/Lease", "events.k8s.io/Event",
    "rbac.authorization.k8s.io/Role", "rbac.authorization.k8s.io/RoleBinding",
}

_CREATE: dict[str, CreateFn] = {
    "networking.k8s.io/Ingress": networking.validate_ingress_create,
    "networking.k8s.io/IngressClass": networking.validate_ingress_class,
    "/Service": core.validate_service,
    "/Namespace": core.validate_namespace,
    "/Pod": core.validate_pod,
    "/Secret": core.validate_secret,
    "/ConfigMap": core.validate_config_map,
    "/Endpoints": core.validate_endpoints,
    "/ServiceAccount": core.validate_service_account,
    "/Node": core.validate_node,
    "/Event": lambda obj: core.validate_event_create(obj, strict=False),
    "events.k8s.io/Event": lambda obj: core.validate_event_create(obj, strict=True),
    "apps/Deployment": apps.validate_deployment,
    "apps/ReplicaSet": apps.validate_replica_set,
    "discovery.k8s.io/EndpointSlice": discovery.validate_endpoint_slice,
    "coordination.k8s.io/Lease": coordination.validate_lease,
}


def _meta_update_only(obj: dict, old: dict) -> list[FieldError]:
    return validate_object_meta_update(obj.get("metadata"), old.get("metadata"))


def _meta_update_then(create: CreateFn) -> UpdateFn:
    """The common "ValidateObjectMetaUpdate, then the create validation" update shape."""
    def update(obj: dict, old: dict) -> list[FieldError]:
        return _meta_update_only(obj, old) + create(obj)
    return update


_UPDATE: dict[str, UpdateFn] = {
    "networking.k8s.io/Ingress": networking.validate_ingress_update,
    "networking.k8s.io/IngressClass": networking.validate_ingress_class_update,
    "/Service": core.validate_service_update,
    "/Namespace": _meta_update_only,  # ValidateNamespaceUpdate checks metadata only
    "/Pod": core.validate_pod_update,
    "/Secret": core.validate_secret_update,
    "/ConfigMap": core.validate_config_map_update,
    "/Endpoints": _meta_update_then(core.validate_endpoints),
    "/ServiceAccount": _meta_update_then(core.validate_service_account),
    "/Node": _meta_update_only,
    "/Event": lambda obj, old: core.validate_event_update(obj, old, strict=False),
    "events.k8s.io/Event": lambda obj, old: core.validate_event_update(obj, old, strict=True),
    "apps/Deployment": apps.validate_deployment_update,
    "apps/ReplicaSet": apps.validate_replica_set_update,
    "discovery.k8s.io/EndpointSlice": discovery.validate_endpoint_slice_update,
    "coordination.k8s.io/Lease": coordination.validate_lease_update,
}

_STATUS: dict[str, UpdateFn] = {
    "networking.k8s.io/Ingress": networking.validate_ingress_status_update,
    "/Service": core.validate_service_status_update,
    "apps/Deployment": lambda obj, old: apps.validate_status_update(obj, old, deployment=True),
    "apps/ReplicaSet": lambda obj, old: apps.validate_status_update(obj, old, deployment=False),
}


def _namespaced(kind_key: str) -> bool | None:
    if kind_key in _CLUSTER_SCOPED:
        return False
    if kind_key in _NAMESPACED:
        return True
    return None  # unknown: validate metadata.namespace only if present


# --------------------------------------------------------------------------- kinds without
# typed validation


def _generic_name_fn(kind_key: str, obj: dict) -> names.NameFunc:
    if kind_key.startswith("rbac.authorization.k8s.io/"):
        return names.is_path_segment_name  # rbac ValidateRBACName
    if kind_key == "apiextensions.k8s.io/CustomResourceDefinition":
        spec = as_dict(obj.get("spec"))
        required_name = (as_str(as_dict(spec.get("names")).get("plural")) + "."
                         + as_str(spec.get("group")))

        def crd_name(name: str, prefix: bool) -> list[str]:
            errs = names.name_is_dns_subdomain(name, prefix)
            if name != required_name:
                errs.append('must be spec.names.plural+"."+spec.group')
            return errs
        return crd_name
    return names.name_is_dns_subdomain


def _generic_create(kind_key: str, obj: dict) -> list[FieldError]:
    return validate_object_meta(obj.get("metadata"), _namespaced(kind_key),
                                _generic_name_fn(kind_key, obj), kube_finalizers=False)


def _generic_update(kind_key: str, obj: dict, old: dict) -> list[FieldError]:
    errs = validate_object_meta_update(obj.get("metadata"), old.get("metadata"),
                                       kube_finalizers=False)
    return errs + _generic_create(kind_key, obj)


# --------------------------------------------------------------------------- REST-layer checks


def _common_object_meta(kind_key: str, obj: dict) -> list[FieldError]:
    """rest.BeforeCreate's final ValidateObjectMetaAccessor with ValidatePathSegmentName."""
    return validate_object_meta(obj.get("metadata"), _namespaced(kind_key),
                                names.is_path_segment_name, kube_finalizers=False)


def _common_update_fields(kind_key: str, obj: dict, old: dict) -> list[FieldError]:
    """rest.validateCommonFields, run by BeforeUpdate before the strategy's ValidateUpdate."""
    errs = _common_object_meta(kind_key, obj)
    errs.extend(validate_object_meta_update(obj.get("metadata"), old.get("metadata"),
                                            kube_finalizers=False))
    return errs


# --------------------------------------------------------------------------- public API


def validate(kind_key: str, obj: dict, old: dict | None = None) -> list[FieldError]:
    """Validation of a create (old is None) or update (old is the stored object) of the main
    resource (spec + metadata), as kube-apiserver does it."""
    obj = as_dict(obj)
    if old is None:
        create = _CREATE.get(kind_key)
        errs = create(obj) if create else _generic_create(kind_key, obj)
        if errs:
            return errs
        return _common_object_meta(kind_key, obj)
    old = as_dict(old)
    update = _UPDATE.get(kind_key)
    strategy_errs = update(obj, old) if update else _generic_update(kind_key, obj, old)
    return _common_update_fields(kind_key, obj, old) + strategy_errs


def validate_status(kind_key: str, obj: dict, old: dict) -> list[FieldError]:
    """Validation of an update through the /status subresource (e.g. Ingress
    status.loadBalancer.ingress[*].ip must be a valid IP)."""
    obj, old = as_dict(obj), as_dict(old)
    status = _STATUS.get(kind_key)
    strategy_errs = status(obj, old) if status else _meta_update_only(obj, old)
    return _common_update_fields(kind_key, obj, old) + strategy_errs


def invalid_message(qualified_kind: str, name: str, errors: list[FieldError]) -> str:
    """The Status message, as apierrors.NewInvalid builds it: 'Ingress.networking.k8s.io "x"
    is invalid: spec.rules[0].host: Invalid value: ...' and for several errors
    '... is invalid: [err1, err2]'."""
    head = f"{qualified_kind} {go_quote(name)} is invalid"
    # ErrorList.ToAggregate drops repeated messages; the aggregate brackets several.
    messages: list[str] = []
    for err in errors:
        text = err.error()
        if text not in messages:
            messages.append(text)
    if not messages:
        return head
    if len(messages) == 1:
        return f"{head}: {messages[0]}"
    return f"{head}: [{', '.join(messages)}]"


def status_causes(errors: list[FieldError]) -> list[dict]:
    """The Status details.causes of apierrors.NewInvalid (one per error, not deduplicated)."""
    return [err.cause() for err in errors]

