"""PATCH semantics of kube-apiserver: JSON merge patch, JSON patch, strategic merge patch and
server-side apply with managed-fields tracking.  Pure functions on plain dicts: inputs are
never mutated, results are new objects.

Modules: `merge_keys` (patch metadata of the built-in kinds), `strategic` (strategic merge
patch), `json_patches` (RFC 7386 / RFC 6902), `fieldpath` (field sets and their `fieldsV1`
encoding), `typed` (schema-aware walks: field sets, compare, merge, remove), `managed`
(managedFields entries), `apply` (server-side apply and ownership of other writes).

What structured-merge-diff / the apiserver field manager do that this package does not:

* Schemas: SSA and SMP use the hand-written table in `merge_keys` (the fields of the kinds an
  Ingress conformance run touches) instead of the full OpenAPI models; fields missing there
  are plain (maps merge, lists atomic). Custom resources are walked without their CRD schema
  (no `x-kubernetes-list-type` support), so all their lists are atomic.
* No version conversion: managers that wrote through another apiVersion are compared as if
  their paths were the same; no schema reconciliation (`reconcileManagedFieldsWithSchemaChanges`).
* Unions (`NormalizeUnions`), the managed-fields admission validation, the "too large"
  retry without managedFields, defaulting of the applied object and the registry strategies'
  own field resets (the caller resets status etc.) are not done here.  Only `.status` is
  treated as a reset field (main resource vs. `/status`).
* Go zero values are approximated (`FieldSpec.always`) only for the top-level structs; the
  `.: {}` markers of Update entries can differ from upstream inside new list items.
* Live objects with duplicate or key-less list items are tolerated by skipping such items
  rather than by structured-merge-diff's duplicate-tolerant walk.
"""

from .apply import (
    apply_server_side,
    conversion_error,
    record_update_ownership,
    typed_patch_error,
)
from .errors import ApplyConflict, PatchError, UnsupportedPatchType
from .json_patches import apply_json_patch, apply_merge_patch
from .merge_keys import is_known_kind
from .strategic import apply_strategic_merge_patch

__all__ = [
    "ApplyConflict",
    "PatchError",
    "UnsupportedPatchType",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_server_side",
    "apply_strategic_merge_patch",
    "conversion_error",
    "is_known_kind",
    "record_update_ownership",
    "typed_patch_error",
]
