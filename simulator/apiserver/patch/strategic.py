"""Strategic merge patch, ported from k8s.io/apimachinery/pkg/util/strategicpatch/patch.go
(`StrategicMergeMapPatch` with `MergeParallelList` and `IgnoreUnmatchedNulls`, i.e. the
server-side flavour kube-apiserver runs for `application/strategic-merge-patch+json`).

Function names in comments are the upstream functions each piece ports.  Deliberate
differences: upstream copies a patch value verbatim when the original lacks the key (so
directives nested in it survive until Go decoding drops them); here such values are merged
into an empty value, which processes their directives and never leaves a `$` key behind.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from .errors import PatchError, UnsupportedPatchType, bad_arg_type, go_fmt, go_fmt_s, no_merge_key
from .merge_keys import FieldSpec, field_spec, is_known_kind, item_spec, root_spec

DIRECTIVE = "$patch"
DELETE = "delete"
REPLACE = "replace"
MERGE = "merge"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
SET_ELEMENT_ORDER = "$setElementOrder"

# mergepatch.Err* values that apiserver's interpretStrategicMergePatchError turns into 400s.
ERR_PRIMITIVE_LIST = "invalid patch format of primitive list"
ERR_RETAIN_KEYS = "invalid patch format of retainKeys"
ERR_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"

UNSUPPORTED_MESSAGE = (
    "the body of the request was in an unknown format - accepted media types include: "
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
)


def apply_strategic_merge_patch(original: dict, patch: dict, kind_key: str) -> dict:
    """Apply a strategic merge patch to `original` (an object of kind `kind_key`).

    Raises UnsupportedPatchType (415, with kube-apiserver's negotiation message) for kinds not
    backed by Go types, i.e. custom resources, and PatchError for malformed patches.
    """
    if not is_known_kind(kind_key):
        # The CRD handler accepts json/merge/apply patches only; negotiation's
        # NewUnsupportedMediaTypeError words the 415.
        raise UnsupportedPatchType(UNSUPPORTED_MESSAGE)
    if patch is None:
        return copy.deepcopy(original)
    if not isinstance(patch, dict):
        # kjson.UnmarshalCaseSensitivePreserveInts into a map fails: errors.NewBadRequest.
        raise PatchError(f"json: cannot unmarshal {_json_kind(patch)} into Go value of type "
                         "map[string]interface {}", code=400)
    return _merge_map(copy.deepcopy(original), copy.deepcopy(patch), root_spec(kind_key))


# ---- maps -------------------------------------------------------------------------------


def _merge_map(original: dict, patch: dict, spec: FieldSpec) -> dict:
    """mergeMap: merge `patch` into `original` (both are consumed)."""
    if DIRECTIVE in patch:
        return _directive_in_map(patch[DIRECTIVE], patch)
    _apply_retain_keys(original, patch)
    _merge_set_element_order(original, patch, spec)
    for key, patch_value in patch.items():
        is_delete_list = key.startswith(DELETE_FROM_PRIMITIVE_LIST)
        if is_delete_list:
            key = _extract_key(key, DELETE_FROM_PRIMITIVE_LIST, ERR_PRIMITIVE_LIST)
        if patch_value is None:  # IgnoreUnmatchedNulls: null deletes, never stored
            original.pop(key, None)
            continue
        fspec = field_spec(spec, key)
        if key not in original or type(original[key]) is not type(patch_value):
            # Upstream stores the patch value verbatim here, a deletion list included.
            original[key] = patch_value if is_delete_list else _fresh(patch_value, fspec)
            continue
        if isinstance(patch_value, dict):
            # mergeMapHandler
            if fspec.smp_strategy == REPLACE:
                original[key] = _fresh(patch_value, FieldSpec())
            else:
                original[key] = _merge_map(original[key], patch_value, fspec)
        elif isinstance(patch_value, list):
            original[key] = _merge_slice_handler(original[key], patch_value, fspec,
                                                 is_delete_list)
        else:
            original[key] = patch_value
    return original


def _directive_in_map(directive: Any, patch: dict) -> dict:
    """handleDirectiveInMergeMap: `$patch: replace` / `$patch: delete` on a map."""
    if directive == REPLACE:
        del patch[DIRECTIVE]
        return _strip_directives(patch)
    if directive == DELETE:
        return {}
    raise PatchError(f"unknown patch type: {go_fmt_s(directive)} in map: {go_fmt(patch)}",
                     code=500)


def _apply_retain_keys(original: dict, patch: dict) -> None:
    """applyRetainKeysDirective: drop the original keys missing from `$retainKeys`."""
    if RETAIN_KEYS not in patch:
        return
    retain = patch.pop(RETAIN_KEYS)
    if not isinstance(retain, list):
        raise PatchError(ERR_RETAIN_KEYS, code=400)
    keep = {_hashable(v) for v in retain}
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
            continue
        if _hashable(key) not in keep:
            raise PatchError(ERR_RETAIN_KEYS, code=400)
    for key in list(original):
        if _hashable(key) not in keep:
            del original[key]


def _extract_key(key: str, prefix: str, error: str) -> str:
    """extractKey: `$setElementOrder/containers` -> `containers`."""
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise PatchError(error, code=400)
    return rest


# ---- $setElementOrder ---------------------------------------------------------------------


def _merge_set_element_order(original: dict, patch: dict, spec: FieldSpec) -> None:
    """mergePatchIntoOriginal: merge each list that has a `$setElementOrder/<list>` directive
    and put the result in the directive's order (setElementOrder > patch > live order)."""
    for directive_key in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive_key)
        if not isinstance(order, list):
            raise bad_arg_type([], order)
        key = _extract_key(directive_key, SET_ELEMENT_ORDER, ERR_SET_ELEMENT_ORDER)
        found_original, found_patch = key in original, key in patch
        original_list = original.get(key) if found_original else []
        patch_list = patch.get(key) if found_patch else []
        if found_original and not isinstance(original_list, list):
            raise bad_arg_type([], original_list)
        if found_patch and not isinstance(patch_list, list):
            raise bad_arg_type([], patch_list)
        fspec = field_spec(spec, key)
        merge_key = fspec.merge_key or ""
        _validate_patch_with_set_order(patch_list, order, merge_key)
        if found_original and not found_patch:
            merged = original_list
        elif found_patch and not found_original:
            merged = _fresh(patch_list, fspec)
        elif found_patch and found_original:
            merged = _merge_slice_handler(original_list, patch_list, fspec, False)
        else:
            continue
        if merge_key:
            patch_items, server_only = _partition_maps(merged, order, merge_key)
        else:
            patch_items, server_only = _partition_primitives(merged, order)
        kind = _slice_element_kind(original_list, patch_list)
        original[key] = _normalize_element_order(patch_items, server_only, order,
                                                 original_list, merge_key, kind)
        patch.pop(key, None)


def _validate_patch_with_set_order(patch_list: list, order: list, merge_key: str) -> None:
    """validatePatchWithSetOrderList: patch items must appear in `$setElementOrder` order."""
    if not order or not patch_list:
        return
    non_delete = _extract_to_delete_items(patch_list)[0] if merge_key else patch_list
    p = s = 0
    while p < len(non_delete) and s < len(order):
        if isinstance(non_delete[p], dict) and DIRECTIVE in non_delete[p]:
            p += 1
            continue
        if _merge_key_value_equal(non_delete[p], order[s], merge_key):
            p += 1
        s += 1
    if p < len(non_delete) and s >= len(order):
        raise PatchError(f"The order in patch list:\n{go_fmt(patch_list)}\n doesn't match "
                         f"{SET_ELEMENT_ORDER} list:\n{go_fmt(order)}\n", code=500)


def _merge_key_value_equal(left: Any, right: Any, merge_key: str) -> bool:
    """mergeKeyValueEqual."""
    if not merge_key:
        return _same(left, right)
    if not isinstance(left, dict):
        raise bad_arg_type({}, left)
    if not isinstance(right, dict):
        raise bad_arg_type({}, right)
    if merge_key not in left:
        raise no_merge_key(left, merge_key)
    if merge_key not in right:
        raise no_merge_key(right, merge_key)
    return _same(left[merge_key], right[merge_key])


# ---- lists --------------------------------------------------------------------------------


def _merge_slice_handler(original: list, patch: list, spec: FieldSpec,
                         is_delete_list: bool) -> list:
    """mergeSliceHandler: merge lists with patchStrategy=merge, replace all others."""
    if spec.smp_strategy == MERGE:
        return _merge_slice(original, patch, spec, is_delete_list)
    return patch if is_delete_list else _fresh(patch, FieldSpec())


def _merge_slice(original: list, patch: list, spec: FieldSpec, is_delete_list: bool) -> list:
    """mergeSlice: merge by merge key (maps) or as a set (primitives), then restore order."""
    if not original and not patch:
        return original
    kind = _slice_element_kind(original, patch)
    merge_key = spec.merge_key or ""
    if kind != "map":
        if is_delete_list:
            return _delete_from_slice(original, patch)
        merged = _dedupe_scalars(original + patch)
    else:
        if not merge_key:
            raise PatchError("cannot merge lists without merge key for type struct", code=500)
        original, patch = _merge_slice_with_special_elements(original, patch, merge_key)
        merged = _merge_slice_without_special_elements(original, patch, merge_key,
                                                       item_spec(spec))
    if merge_key:
        patch_items, server_only = _partition_maps(merged, patch, merge_key)
    else:
        patch_items, server_only = _partition_primitives(merged, patch)
    return _normalize_element_order(patch_items, server_only, patch, original, merge_key, kind)


def _merge_slice_with_special_elements(original: list, patch: list,
                                       merge_key: str) -> tuple[list, list]:
    """mergeSliceWithSpecialElements: handle `$patch: delete|replace|merge` list elements."""
    plain: list = []
    replace = False
    for item in patch:
        if DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == DELETE:
            if merge_key not in item:
                raise no_merge_key(item, merge_key)
            original = [o for o in original if not _matches(o, merge_key, item[merge_key])]
        elif directive == REPLACE:
            replace = True  # keep scanning to drop the other directive elements
        elif directive == MERGE:
            raise PatchError("merging lists cannot yet be specified in the patch", code=500)
        else:
            raise PatchError(f"unknown patch type: {go_fmt_s(directive)} in map: "
                             f"{go_fmt(item)}", code=500)
    if replace:
        return [_fresh(i, FieldSpec()) for i in plain], []
    return original, plain


def _merge_slice_without_special_elements(original: list, patch: list, merge_key: str,
                                          elem: FieldSpec) -> list:
    """mergeSliceWithoutSpecialElements: merge items with equal keys, append the others."""
    merged = list(original)
    for item in patch:
        if merge_key not in item:
            raise no_merge_key(item, merge_key)
        index = _find_by_key(merged, merge_key, item[merge_key])
        if index >= 0:
            merged[index] = _merge_map(merged[index], item, elem)
        else:
            merged.append(_fresh(item, elem))
    return merged


def _matches(item: Any, merge_key: str, value: Any) -> bool:
    if not isinstance(item, dict):
        raise PatchError("value for key is not a map.", code=500)
    return merge_key in item and _same(item[merge_key], value)


def _find_by_key(items: list, merge_key: str, value: Any) -> int:
    """findMapInSliceBasedOnKeyValue."""
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise PatchError(f"value for key {i} is not a map.", code=500)
        if merge_key in item and _same(item[merge_key], value):
            return i
    return -1


def _delete_from_slice(current: list, to_delete: list) -> list:
    """deleteFromSlice: the `$deleteFromPrimitiveList/<list>` parallel list."""
    gone = {_hashable(v) for v in to_delete}
    return [v for v in current if _hashable(v) not in gone]


def _dedupe_scalars(items: list) -> list:
    """deduplicateScalars, including its swap-with-last order quirk."""
    s = list(items)
    length = len(s) - 1
    i = 0
    while i < length:
        j = i + 1
        while j <= length:
            if _same(s[i], s[j]):
                s[j] = s[length]
                s = s[:length]
                length -= 1
                j -= 1
            j += 1
        i += 1
    return s


# ---- ordering -----------------------------------------------------------------------------


def _partition_primitives(items: list, by: list) -> tuple[list, list]:
    """partitionPrimitivesByPresentInList."""
    present = {_hashable(v) for v in by}
    inside = [v for v in items if _hashable(v) in present]
    outside = [v for v in items if _hashable(v) not in present]
    return inside, outside


def _partition_maps(items: list, by: list, merge_key: str) -> tuple[list, list]:
    """partitionMapsByPresentInList."""
    inside: list = []
    outside: list = []
    for item in items:
        if not isinstance(item, dict):
            raise bad_arg_type({}, item)
        if merge_key not in item:
            raise no_merge_key(item, merge_key)
        (inside if _find_by_key(by, merge_key, item[merge_key]) >= 0 else outside).append(item)
    return inside, outside


def _normalize_element_order(patch: list, server_only: list, patch_order: list,
                             server_order: list, merge_key: str, kind: str) -> list:
    """normalizeElementOrder: sort patch items by the patch order and server-only items by
    the live order, then interleave them (mergeSortedSlice)."""
    patch = _normalize_slice_order(patch, patch_order, merge_key, kind)
    server_only = _normalize_slice_order(server_only, server_order, merge_key, kind)
    return _merge_sorted_slice(server_only, patch, server_order, merge_key, kind)


def _normalize_slice_order(to_sort: list, order: list, merge_key: str, kind: str) -> list:
    """normalizeSliceOrder: stable sort by position in `order`; `$patch: delete` items last."""
    to_delete: list = []
    if kind == "map":
        for item in to_sort + order:  # validateMergeKeyInLists
            if not isinstance(item, dict):
                raise bad_arg_type({}, item)
            if merge_key not in item:
                raise no_merge_key(item, merge_key)
        to_sort, to_delete = _extract_to_delete_items(to_sort)
    positions = [_index(order, item, merge_key, kind) for item in to_sort]
    ranked = sorted(range(len(to_sort)),
                    key=lambda i: positions[i] if positions[i] >= 0 else len(order))
    return [to_sort[i] for i in ranked] + to_delete


def _extract_to_delete_items(items: list) -> tuple[list, list]:
    """extractToDeleteItems."""
    keep: list = []
    delete: list = []
    for item in items:
        if not isinstance(item, dict):
            raise bad_arg_type({}, item)
        (delete if item.get(DIRECTIVE) == DELETE else keep).append(item)
    return keep, delete


def _merge_sorted_slice(left: list, right: list, order: list, merge_key: str,
                        kind: str) -> list:
    """mergeSortedSlice: insert the server-only items (`left`) into the patch items
    (`right`); a left item goes first only if both are in the live order and it is earlier,
    so items new to the list come before the remaining server-only items."""
    out: list = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _index(order, left[i], merge_key, kind)
            ri = _index(order, right[j], merge_key, kind)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _index(items: list, value: Any, merge_key: str, kind: str) -> int:
    """index: position of `value` in `items`, by merge key for maps."""
    def key_of(v: Any) -> Any:
        if kind == "map":
            return v.get(merge_key) if isinstance(v, dict) else None
        return v

    wanted = key_of(value)
    for i, item in enumerate(items):
        if _same(key_of(item), wanted):
            return i
    return -1


# ---- helpers ------------------------------------------------------------------------------


def _slice_element_kind(*lists: list) -> str:
    """sliceElementType: all elements must share one type, which may not be a list."""
    kind = None
    for items in lists:
        for item in items:
            current = _go_kind(item)
            if kind is None:
                kind = current
                if kind == "slice":
                    raise PatchError("lists of lists are not supported", code=422)
            elif kind != current:
                raise PatchError("list element types are not identical: "
                                 f"{go_fmt(list(lists))}", code=500)
    if kind is None:
        raise PatchError("no elements in any of the given slices", code=500)
    return kind


def _go_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "slice"
    return type(value).__name__


def _same(a: Any, b: Any) -> bool:
    """Go interface equality for decoded JSON scalars: same type and same value."""
    return type(a) is type(b) and a == b


def _hashable(value: Any) -> Any:
    """A set key that keeps Go's type distinctions (True is not 1)."""
    if isinstance(value, (dict, list)):
        return (type(value).__name__, repr(value))
    return (type(value).__name__, value)


def _json_kind(value: Any) -> str:
    return {list: "array", str: "string", bool: "bool"}.get(type(value), "number")


def _fresh(value: Any, spec: FieldSpec) -> Any:
    """A patch value for a key the original lacks: merged into an empty value so that its
    directives are processed and none of them ends up in the result."""
    if isinstance(value, dict):
        return _merge_map({}, value, spec)
    if isinstance(value, list):
        if spec.smp_strategy == MERGE and value:
            return _merge_slice([], value, spec, False)
        return [_strip_directives(v) for v in value]
    return value


@functools.singledispatch
def _strip_directives(value: Any) -> Any:
    return value


@_strip_directives.register
def _(value: dict) -> dict:
    return {k: _strip_directives(v) for k, v in value.items() if not _is_directive(k)}


@_strip_directives.register
def _(value: list) -> list:
    return [_strip_directives(v) for v in value]


def _is_directive(key: str) -> bool:
    return key in (DIRECTIVE, RETAIN_KEYS) or key.startswith(
        (SET_ELEMENT_ORDER + "/", DELETE_FROM_PRIMITIVE_LIST + "/"))
