"""ObjectMeta, labels, annotations and label selectors.

Ports of apimachinery `pkg/api/validation/objectmeta.go`, `pkg/apis/meta/v1/validation`
(ValidateLabels, ValidateLabelSelector), `pkg/apis/meta/v1` LabelSelectorAsSelector and the
core wrappers in `pkg/apis/core/validation` (ValidateObjectMeta with the kube finalizer check).

Objects are plain JSON dicts; a missing or null field is Go's zero value.
"""

from __future__ import annotations

from typing import Any

from ...jsonobj import as_dict, as_int, as_list, as_str  # noqa: F401 - re-exported
from . import names
from .field import (
    ErrorList,
    GoJSON,
    GoStruct,
    Path,
    forbidden,
    invalid,
    required,
    too_long,
)

FIELD_IMMUTABLE_ERROR_MSG = "field is immutable"
IS_NEGATIVE_ERROR_MSG = "must be greater than or equal to 0"
TOTAL_ANNOTATION_SIZE_LIMIT_B = 256 * (1 << 10)  # 256 kB

FINALIZER_ORPHAN = "orphan"
FINALIZER_FOREGROUND = "foregroundDeletion"
# helper.IsStandardFinalizerName: the finalizers without a domain that core accepts.
_STANDARD_FINALIZERS = {"kubernetes", FINALIZER_ORPHAN, FINALIZER_FOREGROUND}


# --------------------------------------------------------------------------- JSON access helpers


def str_map(value: Any) -> dict[str, str]:
    """A map[string]string (labels, annotations, selectors); non-string values become ""."""
    return {str(k): as_str(v) for k, v in as_dict(value).items()}


# --------------------------------------------------------------------------- small validators


def validate_nonnegative(value: int, path: Path) -> ErrorList:
    """apimachineryvalidation.ValidateNonnegativeField."""
    return [invalid(path, value, IS_NEGATIVE_ERROR_MSG)] if value < 0 else []


def validate_immutable(new: Any, old: Any, path: Path) -> ErrorList:
    """apimachineryvalidation.ValidateImmutableField (the new value is shown)."""
    if _semantic_equal(new, old):
        return []
    return [invalid(path, new, FIELD_IMMUTABLE_ERROR_MSG)]


def _semantic_equal(a: Any, b: Any) -> bool:
    # apiequality.Semantic.DeepEqual treats nil and empty maps/slices alike only through
    # conversion; JSON null and a missing field are both Go's zero value.
    if isinstance(a, GoJSON):
        a = a.value
    if isinstance(b, GoJSON):
        b = b.value
    return a == b


def validate_dns1123_label(value: str, path: Path) -> ErrorList:
    """apivalidation.ValidateDNS1123Label."""
    return [invalid(path, value, msg) for msg in names.is_dns1123_label(value)]


def validate_dns1123_subdomain(value: str, path: Path) -> ErrorList:
    """apivalidation.ValidateDNS1123Subdomain."""
    return [invalid(path, value, msg) for msg in names.is_dns1123_subdomain(value)]


def validate_qualified_name(value: str, path: Path) -> ErrorList:
    """apivalidation.ValidateQualifiedName."""
    return [invalid(path, value, msg) for msg in names.is_qualified_name(value)]


# --------------------------------------------------------------------------- labels, annotations


def validate_label_name(name: str, path: Path) -> ErrorList:
    """v1validation.ValidateLabelName."""
    return [invalid(path, name, msg) for msg in names.is_qualified_name(name)]


def validate_labels(labels: Any, path: Path) -> ErrorList:
    """v1validation.ValidateLabels: keys are qualified names, values label values.

    The errors carry the map's path ("metadata.labels"), not a per-key path, as upstream.
    """
    errs: ErrorList = []
    for k, v in str_map(labels).items():
        errs.extend(validate_label_name(k, path))
        errs.extend(invalid(path, v, msg) for msg in names.is_valid_label_value(v))
    return errs


def validate_annotations(annotations: Any, path: Path) -> ErrorList:
    """apimachineryvalidation.ValidateAnnotations: case-insensitive qualified keys, 256 kB total."""
    errs: ErrorList = []
    ann = str_map(annotations)
    for k in ann:
        errs.extend(invalid(path, k, msg) for msg in names.is_qualified_name(k.lower()))
    total = sum(len(k.encode()) + len(v.encode()) for k, v in ann.items())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT_B))
    return errs


# --------------------------------------------------------------------------- owners, finalizers


def _gvk(api_version: str, kind: str) -> tuple[str, str, str]:
    """schema.FromAPIVersionAndKind: (group, version, kind); a bad apiVersion keeps kind only."""
    if not api_version:
        return "", "", kind
    parts = api_version.split("/")
    if len(parts) == 1:
        return "", parts[0], kind
    if len(parts) == 2:
        return parts[0], parts[1], kind
    return "", "", kind


def _owner_ref_struct(ref: dict) -> GoStruct:
    # metav1.OwnerReference JSON, fields in declaration order, omitempty ones dropped.
    out = GoStruct(apiVersion=as_str(ref.get("apiVersion")), kind=as_str(ref.get("kind")),
                   name=as_str(ref.get("name")), uid=as_str(ref.get("uid")))
    for key in ("controller", "blockOwnerDeletion"):
        if isinstance(ref.get(key), bool):
            out[key] = ref[key]
    return out


def validate_owner_references(refs: Any, path: Path) -> ErrorList:
    """apimachineryvalidation.ValidateOwnerReferences."""
    errs: ErrorList = []
    first_controller = ""
    ref_list = [as_dict(r) for r in as_list(refs)]
    for ref in ref_list:
        api_version, kind = as_str(ref.get("apiVersion")), as_str(ref.get("kind"))
        group, version, kind = _gvk(api_version, kind)
        if not version:
            errs.append(invalid(path.child("apiVersion"), api_version,
                                "version must not be empty"))
        if not kind:
            errs.append(invalid(path.child("kind"), as_str(ref.get("kind")), "must not be empty"))
        if not as_str(ref.get("name")):
            errs.append(invalid(path.child("name"), as_str(ref.get("name")), "must not be empty"))
        if not as_str(ref.get("uid")):
            errs.append(invalid(path.child("uid"), as_str(ref.get("uid")), "must not be empty"))
        if (group, version, kind) == ("", "v1", "Event"):  # BannedOwners
            errs.append(invalid(path, _owner_ref_struct(ref),
                                "/v1, Kind=Event is disallowed from being an owner"))
        if ref.get("controller") is True:
            current = f"{as_str(ref.get('kind'))}/{as_str(ref.get('name'))}"
            if first_controller:
                errs.append(invalid(
                    path, [_owner_ref_struct(r) for r in ref_list],
                    'Only one reference can have Controller set to true. Found "true" in '
                    f"references for {first_controller} and {current}"))
            else:
                first_controller = current
    return errs


def validate_finalizers(finalizers: Any, path: Path) -> ErrorList:
    """apimachineryvalidation.ValidateFinalizers (note: errors use the list's path)."""
    errs: ErrorList = []
    items = [as_str(f) for f in as_list(finalizers)]
    for f in items:
        errs.extend(invalid(path, f, msg) for msg in names.is_qualified_name(f))
    if FINALIZER_ORPHAN in items and FINALIZER_FOREGROUND in items:
        errs.append(invalid(path, items, f"finalizer {FINALIZER_ORPHAN} and "
                                         f"{FINALIZER_FOREGROUND} cannot be both set"))
    return errs


def validate_kube_finalizer_name(value: str, path: Path) -> ErrorList:
    """core validateKubeFinalizerName: a finalizer without '/' must be a standard one."""
    if "/" not in value and value not in _STANDARD_FINALIZERS:
        return [invalid(path, value, "name is neither a standard finalizer name nor is it fully "
                                     "qualified")]
    return []


# --------------------------------------------------------------------------- ObjectMeta


def _common_meta(meta: dict, namespaced: bool | None, path: Path) -> ErrorList:
    """validateObjectMetaAccessorWithOptsCommon.

    `namespaced` None means "unknown scope": the namespace is only checked if present.  For
    cluster-scoped kinds the REST layer clears metadata.namespace before validation, so a
    namespace sent on one is not an error.
    """
    errs: ErrorList = []
    namespace = as_str(meta.get("namespace"))
    if namespaced or (namespaced is None and namespace):
        if not namespace:
            errs.append(required(path.child("namespace"), ""))
        else:
            errs.extend(invalid(path.child("namespace"), namespace, msg)
                        for msg in names.name_is_dns_label(namespace, False))
    errs.extend(validate_nonnegative(as_int(meta.get("generation")), path.child("generation")))
    errs.extend(validate_labels(meta.get("labels"), path.child("labels")))
    errs.extend(validate_annotations(meta.get("annotations"), path.child("annotations")))
    errs.extend(validate_owner_references(meta.get("ownerReferences"),
                                          path.child("ownerReferences")))
    errs.extend(validate_finalizers(meta.get("finalizers"), path.child("finalizers")))
    return errs


def validate_object_meta(meta: Any, namespaced: bool | None, name_fn: names.NameFunc,
                         path: Path | None = None, *, kube_finalizers: bool = True) -> ErrorList:
    """apivalidation.ValidateObjectMeta (core's wrapper unless kube_finalizers is False).

    Name generation has already happened, so a missing name is reported as required.
    """
    path = path or Path("metadata")
    meta = as_dict(meta)
    errs: ErrorList = []
    generate_name = as_str(meta.get("generateName"))
    if generate_name:
        errs.extend(invalid(path.child("generateName"), generate_name, msg)
                    for msg in name_fn(generate_name, True))
    name = as_str(meta.get("name"))
    if not name:
        errs.append(required(path.child("name"), "name or generateName is required"))
    else:
        errs.extend(invalid(path.child("name"), name, msg) for msg in name_fn(name, False))
    errs.extend(_common_meta(meta, namespaced, path))
    if kube_finalizers:
        errs.extend(_kube_finalizers(meta, path))
    return errs


def _kube_finalizers(meta: dict, path: Path) -> ErrorList:
    errs: ErrorList = []
    for i, f in enumerate(as_list(meta.get("finalizers"))):
        errs.extend(validate_kube_finalizer_name(as_str(f), path.child("finalizers").index(i)))
    return errs


def validate_object_meta_update(new_meta: Any, old_meta: Any, path: Path | None = None, *,
                                kube_finalizers: bool = True) -> ErrorList:
    """apivalidation.ValidateObjectMetaUpdate.

    Fields the REST layer owns and resets before validation (resourceVersion, generation, uid,
    creationTimestamp, deletionTimestamp, deletionGracePeriodSeconds, managedFields) are left
    to the server; name and namespace immutability are checked here.
    """
    path = path or Path("metadata")
    new, old = as_dict(new_meta), as_dict(old_meta)
    errs: ErrorList = []
    if old.get("deletionTimestamp"):
        new_f = {as_str(f) for f in as_list(new.get("finalizers"))}
        old_f = {as_str(f) for f in as_list(old.get("finalizers"))}
        extra = sorted(new_f - old_f)
        if extra:
            listed = "[]string{" + ", ".join(f'"{e}"' for e in extra) + "}"
            errs.append(forbidden(path.child("finalizers"),
                                  "no new finalizers can be added if the object is being "
                                  f"deleted, found new finalizers {listed}"))
    errs.extend(validate_immutable(as_str(new.get("name")), as_str(old.get("name")),
                                   path.child("name")))
    errs.extend(validate_immutable(as_str(new.get("namespace")), as_str(old.get("namespace")),
                                   path.child("namespace")))
    errs.extend(validate_labels(new.get("labels"), path.child("labels")))
    errs.extend(validate_annotations(new.get("annotations"), path.child("annotations")))
    errs.extend(validate_owner_references(new.get("ownerReferences"),
                                          path.child("ownerReferences")))
    if kube_finalizers:
        errs.extend(_kube_finalizers(new, path))
    return errs


# --------------------------------------------------------------------------- label selectors

_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(selector: Any, path: Path) -> ErrorList:
    """v1validation.ValidateLabelSelector (AllowInvalidLabelValueInSelector off)."""
    if selector is None:
        return []
    sel = as_dict(selector)
    errs = validate_labels(sel.get("matchLabels"), path.child("matchLabels"))
    for i, expr in enumerate(as_list(sel.get("matchExpressions"))):
        errs.extend(_validate_selector_requirement(as_dict(expr),
                                                   path.child("matchExpressions").index(i)))
    return errs


def _validate_selector_requirement(expr: dict, path: Path) -> ErrorList:
    # v1validation.ValidateLabelSelectorRequirement
    errs: ErrorList = []
    op = as_str(expr.get("operator"))
    values = [as_str(v) for v in as_list(expr.get("values"))]
    if op in ("In", "NotIn"):
        if not values:
            errs.append(required(path.child("values"),
                                 "must be specified when `operator` is 'In' or 'NotIn'"))
    elif op in ("Exists", "DoesNotExist"):
        if values:
            errs.append(forbidden(path.child("values"),
                                  "may not be specified when `operator` is 'Exists' or "
                                  "'DoesNotExist'"))
    else:
        errs.append(invalid(path.child("operator"), GoJSON(op), "not a valid selector operator"))
    errs.extend(validate_label_name(as_str(expr.get("key")), path.child("key")))
    for i, v in enumerate(values):
        errs.extend(invalid(path.child("values").index(i), v, msg)
                    for msg in names.is_valid_label_value(v))
    return errs


def selector_struct(selector: Any) -> GoJSON | GoStruct:
    """A *metav1.LabelSelector as json.Marshal prints it (null when absent)."""
    if selector is None:
        return GoJSON(None)
    sel = as_dict(selector)
    out = GoStruct()
    if str_map(sel.get("matchLabels")):
        out["matchLabels"] = str_map(sel.get("matchLabels"))
    exprs = []
    for e in as_list(sel.get("matchExpressions")):
        e = as_dict(e)
        item = GoStruct(key=as_str(e.get("key")), operator=as_str(e.get("operator")))
        if as_list(e.get("values")):
            item["values"] = [as_str(v) for v in as_list(e.get("values"))]
        exprs.append(item)
    if exprs:
        out["matchExpressions"] = exprs
    return out


class Selector:
    """labels.Selector built by metav1.LabelSelectorAsSelector."""

    def __init__(self, requirements: list[tuple[str, str, list[str]]] | None,
                 nothing: bool = False) -> None:
        self._reqs = requirements or []
        self._nothing = nothing

    def empty(self) -> bool:
        """labels.Selector.Empty(): true for Everything, false for Nothing."""
        return not self._nothing and not self._reqs

    def matches(self, labels: dict[str, str]) -> bool:
        """labels.Selector.Matches."""
        if self._nothing:
            return False
        for key, op, values in self._reqs:
            if op in ("In", "="):
                ok = key in labels and labels[key] in values
            elif op == "NotIn":
                ok = key not in labels or labels[key] not in values
            elif op == "Exists":
                ok = key in labels
            else:  # DoesNotExist
                ok = key not in labels
            if not ok:
                return False
        return True


def label_selector_as_selector(selector: Any) -> Selector | None:
    """metav1.LabelSelectorAsSelector: None when the selector cannot be converted."""
    if selector is None:
        return Selector(None, nothing=True)
    sel = as_dict(selector)
    match_labels = str_map(sel.get("matchLabels"))
    exprs = [as_dict(e) for e in as_list(sel.get("matchExpressions"))]
    if not match_labels and not exprs:
        return Selector(None)
    reqs: list[tuple[str, str, list[str]]] = []
    for k, v in match_labels.items():
        if names.is_qualified_name(k) or names.is_valid_label_value(v):
            return None
        reqs.append((k, "=", [v]))
    for e in exprs:
        op = as_str(e.get("operator"))
        key = as_str(e.get("key"))
        values = [as_str(v) for v in as_list(e.get("values"))]
        if op not in _SELECTOR_OPERATORS or names.is_qualified_name(key):
            return None
        if op in ("In", "NotIn") and not values:
            return None
        if op in ("Exists", "DoesNotExist") and values:
            return None
        if any(names.is_valid_label_value(v) for v in values):
            return None
        reqs.append((key, op, values))
    return Selector(reqs)
