"""apps/v1: Deployment and ReplicaSet.

Port of `pkg/apis/apps/validation/validation.go` (ValidateDeployment, ValidateDeploymentUpdate,
ValidateReplicaSet, ...) and of the registry strategies' apps/v1 rule that spec.selector is
immutable on update.
"""

from __future__ import annotations

from typing import Any

from . import names
from .core import validate_pod_template_spec
from .field import ErrorList, GoJSON, GoStruct, Path, forbidden, invalid, not_supported, required
from .meta import (
    as_dict,
    as_int,
    as_list,
    as_str,
    label_selector_as_selector,
    selector_struct,
    str_map,
    validate_immutable,
    validate_label_selector,
    validate_nonnegative,
    validate_object_meta,
    validate_object_meta_update,
)


def _replicas(spec: dict) -> int:
    # apps/v1 defaults replicas to 1.
    return 1 if spec.get("replicas") is None else as_int(spec.get("replicas"))


def _validate_selector(spec: dict, path: Path, kind_word: str) -> ErrorList:
    # The selector part shared by ValidateDeploymentSpec and ValidateReplicaSetSpec.
    selector = spec.get("selector")
    if selector is None:
        return [required(path.child("selector"), "")]
    errs = validate_label_selector(selector, path.child("selector"))
    sel = as_dict(selector)
    if not str_map(sel.get("matchLabels")) and not as_list(sel.get("matchExpressions")):
        errs.append(invalid(path.child("selector"), selector_struct(selector),
                            f"empty selector is invalid for {kind_word}"))
    return errs


def _validate_template_for_replica_set(spec: dict, path: Path) -> ErrorList:
    # LabelSelectorAsSelector + ValidatePodTemplateSpecForReplicaSet
    selector = label_selector_as_selector(spec.get("selector"))
    if selector is None:
        return [invalid(path.child("selector"), selector_struct(spec.get("selector")),
                        "invalid label selector")]
    template = spec.get("template")
    template_path = path.child("template")
    if template is None:
        # A missing template decodes to its zero value, which is then validated as such.
        template = {}
    template = as_dict(template)
    errs: ErrorList = []
    labels = as_dict(template.get("metadata")).get("labels")
    if not selector.empty() and not selector.matches(str_map(labels)):
        errs.append(invalid(template_path.child("metadata", "labels"),
                            GoJSON(str_map(labels) if labels is not None else None),
                            "`selector` does not match template `labels`"))
    errs.extend(validate_pod_template_spec(template, template_path))
    pod_spec = as_dict(template.get("spec"))
    restart = pod_spec.get("restartPolicy")
    if restart is not None and as_str(restart) != "Always":
        errs.append(not_supported(template_path.child("spec", "restartPolicy"),
                                  GoJSON(as_str(restart)), ("Always",)))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        errs.append(forbidden(template_path.child("spec", "activeDeadlineSeconds"),
                              "activeDeadlineSeconds in ReplicaSet is not Supported"))
    return errs


# --------------------------------------------------------------------------- Deployment


def validate_deployment(obj: dict) -> ErrorList:
    """ValidateDeployment."""
    errs = validate_object_meta(obj.get("metadata"), True, names.name_is_dns_subdomain)
    errs.extend(validate_deployment_spec(as_dict(obj.get("spec")), Path("spec")))
    return errs


def validate_deployment_update(obj: dict, old: dict) -> ErrorList:
    """ValidateDeploymentUpdate plus the apps/v1 selector immutability of the strategy."""
    errs = validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
    errs.extend(validate_deployment_spec(as_dict(obj.get("spec")), Path("spec")))
    errs.extend(_selector_immutable(obj, old))
    return errs


def _selector_immutable(obj: dict, old: dict) -> ErrorList:
    new_sel = as_dict(obj.get("spec")).get("selector")
    old_sel = as_dict(old.get("spec")).get("selector")
    return validate_immutable(selector_struct(new_sel), selector_struct(old_sel),
                              Path("spec").child("selector"))


def validate_deployment_spec(spec: dict, path: Path) -> ErrorList:
    """ValidateDeploymentSpec."""
    errs = validate_nonnegative(_replicas(spec), path.child("replicas"))
    errs.extend(_validate_selector(spec, path, "deployment"))
    errs.extend(_validate_template_for_replica_set(spec, path))
    errs.extend(_validate_strategy(spec.get("strategy"), path.child("strategy")))
    min_ready = as_int(spec.get("minReadySeconds"))
    errs.extend(validate_nonnegative(min_ready, path.child("minReadySeconds")))
    if spec.get("revisionHistoryLimit") is not None:
        errs.extend(validate_nonnegative(as_int(spec.get("revisionHistoryLimit")),
                                         path.child("revisionHistoryLimit")))
    deadline = spec.get("progressDeadlineSeconds")
    if deadline is not None:
        deadline = as_int(deadline)
        errs.extend(validate_nonnegative(deadline, path.child("progressDeadlineSeconds")))
        if deadline <= min_ready:
            errs.append(invalid(path.child("progressDeadlineSeconds"), deadline,
                                "must be greater than minReadySeconds"))
    return errs


def _validate_strategy(strategy: Any, path: Path) -> ErrorList:
    # ValidateDeploymentStrategy; apps/v1 defaults to RollingUpdate 25%/25%.
    if strategy is None:
        return []
    strategy = as_dict(strategy)
    strategy_type = as_str(strategy.get("type")) or "RollingUpdate"
    rolling = strategy.get("rollingUpdate")
    if strategy_type == "Recreate":
        if rolling is not None:
            return [forbidden(path.child("rollingUpdate"),
                              "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if strategy_type == "RollingUpdate":
        return _validate_rolling_update(as_dict(rolling), path.child("rollingUpdate"))
    # The bad value is the internal DeploymentStrategy struct (Go field names, no json tags).
    rolling_struct = None
    if rolling is not None:
        rolling = as_dict(rolling)
        rolling_struct = GoStruct(MaxUnavailable=rolling.get("maxUnavailable", 0),
                                  MaxSurge=rolling.get("maxSurge", 0))
    return [not_supported(path, GoStruct(Type=strategy_type, RollingUpdate=rolling_struct),
                          ("Recreate", "RollingUpdate"))]


def _validate_rolling_update(rolling: dict, path: Path) -> ErrorList:
    # ValidateRollingUpdateDeployment; absent values are the 25% defaults.
    max_unavailable = rolling.get("maxUnavailable", "25%")
    max_surge = rolling.get("maxSurge", "25%")
    errs = _validate_int_or_percent(max_unavailable, path.child("maxUnavailable"))
    errs.extend(_validate_int_or_percent(max_surge, path.child("maxSurge")))
    if _int_or_percent_value(max_unavailable) == 0 and _int_or_percent_value(max_surge) == 0:
        errs.append(invalid(path.child("maxUnavailable"), GoJSON(max_unavailable),
                            "may not be 0 when `maxSurge` is 0"))
    percent = _percent_value(max_unavailable)
    if percent is not None and percent > 100:
        errs.append(invalid(path.child("maxUnavailable"), GoJSON(max_unavailable),
                            "must not be greater than 100%"))
    return errs


def _validate_int_or_percent(value: Any, path: Path) -> ErrorList:
    # ValidatePositiveIntOrPercent
    if isinstance(value, str):
        return [invalid(path, GoJSON(value), msg) for msg in names.is_valid_percent(value)]
    return validate_nonnegative(as_int(value), path)


def _percent_value(value: Any) -> int | None:
    if isinstance(value, str) and not names.is_valid_percent(value):
        return int(value[:-1])
    return None


def _int_or_percent_value(value: Any) -> int:
    percent = _percent_value(value)
    if percent is not None:
        return percent
    if isinstance(value, str):
        return 0  # intstr.IntValue of a non-numeric string
    return as_int(value)


# --------------------------------------------------------------------------- ReplicaSet


def validate_replica_set(obj: dict) -> ErrorList:
    """ValidateReplicaSet."""
    errs = validate_object_meta(obj.get("metadata"), True, names.name_is_dns_subdomain)
    errs.extend(validate_replica_set_spec(as_dict(obj.get("spec")), Path("spec")))
    return errs


def validate_replica_set_update(obj: dict, old: dict) -> ErrorList:
    """ValidateReplicaSetUpdate plus the apps/v1 selector immutability of the strategy."""
    errs = validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
    errs.extend(validate_replica_set_spec(as_dict(obj.get("spec")), Path("spec")))
    errs.extend(_selector_immutable(obj, old))
    return errs


def validate_replica_set_spec(spec: dict, path: Path) -> ErrorList:
    """ValidateReplicaSetSpec (its empty-selector message also says "deployment", as upstream)."""
    errs = validate_nonnegative(_replicas(spec), path.child("replicas"))
    errs.extend(validate_nonnegative(as_int(spec.get("minReadySeconds")),
                                     path.child("minReadySeconds")))
    errs.extend(_validate_selector(spec, path, "deployment"))
    errs.extend(_validate_template_for_replica_set(spec, path))
    return errs


# --------------------------------------------------------------------------- status


def validate_status_update(obj: dict, old: dict, deployment: bool) -> ErrorList:
    """ValidateDeploymentStatusUpdate / ValidateReplicaSetStatusUpdate (replica counts)."""
    errs = validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
    status = as_dict(obj.get("status"))
    path = Path("status")
    if deployment:
        counts = ["observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
                  "availableReplicas", "unavailableReplicas"]
    else:
        counts = ["replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas",
                  "observedGeneration"]
    for fld in counts:
        errs.extend(validate_nonnegative(as_int(status.get(fld)), path.child(fld)))
    replicas = as_int(status.get("replicas"))
    msg = "cannot be greater than status.replicas"
    over = ["updatedReplicas"] if deployment else ["fullyLabeledReplicas"]
    for fld in [*over, "readyReplicas", "availableReplicas"]:
        if as_int(status.get(fld)) > replicas:
            errs.append(invalid(path.child(fld), as_int(status.get(fld)), msg))
    if as_int(status.get("availableReplicas")) > as_int(status.get("readyReplicas")):
        errs.append(invalid(path.child("availableReplicas"),
                            as_int(status.get("availableReplicas")),
                            "cannot be greater than readyReplicas"))
    return errs
