"""coordination.k8s.io/v1: Lease.

Port of `pkg/apis/coordination/validation/validation.go` (ValidateLease, ValidateLeaseUpdate).
Leases use apimachinery's ObjectMeta validation directly, without core's finalizer check.
"""

from __future__ import annotations

from . import names
from .field import ErrorList, GoJSON, Path, forbidden, invalid, not_supported
from .meta import as_dict, as_int, as_str, validate_object_meta, validate_object_meta_update

VALID_LEASE_STRATEGIES = ("OldestEmulationVersion",)


def validate_lease(obj: dict) -> ErrorList:
    """ValidateLease."""
    errs = validate_object_meta(obj.get("metadata"), True, names.name_is_dns_subdomain,
                                kube_finalizers=False)
    errs.extend(_validate_lease_spec(as_dict(obj.get("spec")), Path("spec")))
    return errs


def validate_lease_update(obj: dict, old: dict) -> ErrorList:
    """ValidateLeaseUpdate."""
    errs = validate_object_meta_update(obj.get("metadata"), old.get("metadata"),
                                       kube_finalizers=False)
    errs.extend(_validate_lease_spec(as_dict(obj.get("spec")), Path("spec")))
    return errs


def _validate_lease_spec(spec: dict, path: Path) -> ErrorList:
    # ValidateLeaseSpec
    errs: ErrorList = []
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and as_int(duration) <= 0:
        errs.append(invalid(path.child("leaseDurationSeconds"), as_int(duration),
                            "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if transitions is not None and as_int(transitions) < 0:
        errs.append(invalid(path.child("leaseTransitions"), as_int(transitions),
                            "must be greater than or equal to 0"))
    strategy = spec.get("strategy")
    if strategy is not None:
        errs.extend(_validate_strategy(as_str(strategy), path.child("strategy")))
    holder = spec.get("preferredHolder")
    if holder is not None and as_str(holder) and not as_str(strategy):
        errs.append(forbidden(path.child("preferredHolder"),
                              "may only be specified if `strategy` is defined"))
    return errs


def _validate_strategy(strategy: str, path: Path) -> ErrorList:
    # ValidateCoordinatedLeaseStrategy; upstream appends "strategy" to an already-"strategy"
    # path, so errors read "spec.strategy.strategy".
    if "/" not in strategy:
        if strategy not in VALID_LEASE_STRATEGIES:
            return [not_supported(path.child("strategy"), GoJSON(strategy),
                                  VALID_LEASE_STRATEGIES)]
        return []
    return [invalid(path.child("strategy"), GoJSON(strategy), msg)
            for msg in names.is_qualified_name(strategy)]
