"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902) as kube-apiserver applies them.

kube-apiserver uses gopkg.in/evanphx/json-patch.v4 (`jsonPatcher.applyJSPatch` in
k8s.io/apiserver/pkg/endpoints/handlers/patch.go); its error texts and a few of its
non-RFC behaviours are reproduced on top of the `jsonpatch` library:

* `replace` of a missing object member adds it (v4's `partialDoc.get` never fails);
* `test` of a missing member against `null` passes (a missing member reads as null);
* negative array indices count from the end (`SupportNegativeIndices`).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from .errors import PatchError
from .typed import json_equal

MAX_JSON_PATCH_OPERATIONS = 10000  # maxJSONPatchOperations in handlers/patch.go
GENERIC_422 = "the server rejected our request due to an error in our request"
MISSING = object()


def apply_merge_patch(original: dict, patch: dict) -> dict:
    """Apply an RFC 7386 JSON merge patch: maps merge recursively, null deletes a member,
    anything else (lists included) replaces.  Ports evanphx `MergePatch` (`mergeDocs`)."""
    if not isinstance(patch, dict):
        raise PatchError("Invalid JSON Patch", code=400)  # jsonpatch.ErrBadJSONPatch
    if not isinstance(original, dict):
        return _prune_nulls(copy.deepcopy(patch))
    return _merge_docs(copy.deepcopy(original), patch)


def _merge_docs(doc: dict, patch: dict) -> dict:
    """mergeDocs: merge `patch` into `doc` in place (`patch` is only read)."""
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
        elif isinstance(doc.get(key), dict) and isinstance(value, dict):
            _merge_docs(doc[key], value)
        elif isinstance(doc.get(key), dict):
            doc[key] = copy.deepcopy(value)  # merge(): a non-object patch value replaces as is
        else:
            doc[key] = _prune_nulls(copy.deepcopy(value))
    return doc


def _prune_nulls(value: Any) -> Any:
    """pruneNulls: drop null members of objects (nulls inside arrays stay)."""
    if isinstance(value, dict):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value]
    return value


def apply_json_patch(original: dict, operations: list) -> dict:
    """Apply an RFC 6902 JSON patch.

    A failing operation (a `test` that does not match, a path that does not exist, ...)
    raises PatchError with code 422 and the json-patch error text; upstream's Status
    message for it is the generic `GENERIC_422`, kept in `status_message`.
    """
    if operations is None:  # `null` decodes to an empty patch
        return copy.deepcopy(original)
    if not isinstance(operations, list):
        raise PatchError(f"json: cannot unmarshal {_json_kind(operations)} into Go value of "
                         "type jsonpatch.Patch", code=400)
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        message = (f"The allowed maximum operations in a JSON patch is "
                   f"{MAX_JSON_PATCH_OPERATIONS}, got {len(operations)}")
        raise PatchError(message, code=413, status_message=f"Request entity too large: {message}")
    for op in operations:
        if not isinstance(op, dict):
            raise PatchError(f"json: cannot unmarshal {_json_kind(op)} into Go value of type "
                             "jsonpatch.Operation", code=400)
    doc = copy.deepcopy(original)
    for op in operations:
        doc = _apply_operation(doc, copy.deepcopy(op))
    return doc


def _apply_operation(doc: Any, op: dict) -> Any:
    kind = op.get("op") if isinstance(op.get("op"), str) else "unknown"
    handler = _HANDLERS.get(kind)
    if handler is None:
        _fail(f"Unexpected kind: {kind}")
    path = op.get("path")
    if not isinstance(path, str):
        _fail(f"{kind} operation failed to decode path: missing value")
    return handler(doc, op, path)


def _add(doc: Any, op: dict, path: str) -> Any:
    container, key = _find_object(doc, path)
    if container is None:
        _fail(f'add operation does not apply: doc is missing path: "{path}": missing value')
    if isinstance(container, list) and key != "-":
        index = _array_index(key, len(container) + 1, f"error in add for path: '{path}'")
        path = _with_last(path, str(index))
    return _delegate(doc, {"op": "add", "path": path, "value": op.get("value")})


def _remove(doc: Any, op: dict, path: str) -> Any:
    container, key = _find_object(doc, path)
    if container is None:
        _fail(f'remove operation does not apply: doc is missing path: "{path}": missing value')
    where = f"error in remove for path: '{path}'"
    if isinstance(container, dict):
        if key not in container:
            _fail(f"{where}: Unable to remove nonexistent key: {key}: missing value")
    else:
        index = _array_index(key, len(container), where)
        path = _with_last(path, str(index))
    return _delegate(doc, {"op": "remove", "path": path})


def _replace(doc: Any, op: dict, path: str) -> Any:
    container, key = _find_object(doc, path)
    if container is None:
        _fail(f"replace operation does not apply: doc is missing path: {path}: missing value")
    if isinstance(container, dict):
        kind = "replace" if key in container else "add"  # v4 replaces missing members too
        return _delegate(doc, {"op": kind, "path": path, "value": op.get("value")})
    try:
        index = _array_index(key, len(container), "")
    except PatchError:
        _fail(f"replace operation does not apply: doc is missing key: {path}: missing value")
    return _delegate(doc, {"op": "replace", "path": _with_last(path, str(index)),
                           "value": op.get("value")})


def _test(doc: Any, op: dict, path: str) -> Any:
    container, key = _find_object(doc, path)
    if container is None:
        _fail(f"test operation does not apply: is missing path: {path}: missing value")
    if isinstance(container, dict):
        value = container.get(key)
    else:
        value = container[_array_index(key, len(container), f"error in test for path: '{path}'")]
    expected = op.get("value", MISSING)
    if value is None:
        if expected is MISSING or expected is None:
            return doc
    elif expected is not MISSING and json_equal(value, expected):
        return doc
    _fail(f"testing value {path} failed: test failed")


def _move(doc: Any, op: dict, path: str) -> Any:
    return _from_operation("move", doc, op, path)


def _copy(doc: Any, op: dict, path: str) -> Any:
    return _from_operation("copy", doc, op, path)


def _from_operation(kind: str, doc: Any, op: dict, path: str) -> Any:
    source = op.get("from")
    if not isinstance(source, str):
        _fail(f"{kind} operation failed to decode from: {kind} operation, missing from field: "
              "missing value")
    container, key = _find_object(doc, source)
    if container is None:
        _fail(f"{kind} operation does not apply: doc is missing from path: {source}: "
              "missing value")
    if isinstance(container, dict) and key not in container:
        _fail(f"error in {kind} for path: '{key}': Unable to remove nonexistent key: {key}: "
              "missing value")
    if _find_object(doc, path)[0] is None:
        _fail(f"{kind} operation does not apply: doc is missing destination path: {path}: "
              "missing value")
    return _delegate(doc, {"op": kind, "from": source, "path": path})


_HANDLERS = {"add": _add, "remove": _remove, "replace": _replace, "test": _test,
             "move": _move, "copy": _copy}


# ---- helpers ------------------------------------------------------------------------------


def _delegate(doc: Any, op: dict) -> Any:
    """Let the jsonpatch library carry out an operation the checks above accepted."""
    try:
        return jsonpatch.JsonPatch([op]).apply(doc, in_place=True)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        _fail(str(exc))


def _find_object(doc: Any, path: str) -> tuple[Any, str]:
    """findObject: the container holding the last token of `path`, and that token."""
    parts = path.split("/")
    if len(parts) < 2:
        return None, ""
    node = doc
    for part in parts[1:-1]:
        part = _unescape(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list):
            try:
                index = int(part)
            except ValueError:
                return None, ""
            node = node[index] if 0 <= index < len(node) else None
        else:
            return None, ""
        if not isinstance(node, (dict, list)):
            return None, ""
    if not isinstance(node, (dict, list)):
        return None, ""
    return node, _unescape(parts[-1])


def _array_index(key: str, size: int, where: str) -> int:
    """An array index of a container of `size` slots; negative indices count from the end."""
    prefix = f"{where}: " if where else ""
    try:
        index = int(key)
    except ValueError:
        _fail(f"{prefix}value was not a proper array index: '{key}': strconv.Atoi: parsing "
              f'"{key}": invalid syntax')
    if index >= size or index < -size:
        _fail(f"{prefix}Unable to access invalid index: {index}: invalid index referenced")
    return index + size if index < 0 else index


def _with_last(path: str, token: str) -> str:
    return path.rsplit("/", 1)[0] + "/" + token


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "null" if value is None else "number"


def _fail(message: str) -> Any:
    raise PatchError(message, code=422, status_message=GENERIC_422)
