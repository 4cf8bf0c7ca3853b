"""Errors raised by the patch package, and Go-style formatting for their messages.

Upstream messages embed Go values printed with `%v` (`map[name:app]`, `[a b]`, `<nil>`) and Go
type names (`map[string]interface {}`); `go_fmt` and `go_type` reproduce those so that error
text reads exactly like kube-apiserver's.
"""

from __future__ import annotations

import json
import math
from typing import Any


class PatchError(Exception):
    """A patch could not be applied; `str(err)` is the upstream error text.

    `code` is the HTTP status kube-apiserver answers with: 400 (BadRequest) for malformed
    patch documents, 422 (Invalid) for patches that do not apply (JSON patch `test` failures,
    ...), 500 for errors upstream does not map to a Status (they surface as reason "").
    For 422 JSON-patch failures upstream's Status `message` is the generic
    `status_message` and the error text goes into `details.causes[0].message`.
    """

    def __init__(self, message: str, code: int = 422, status_message: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status_message = status_message


class UnsupportedPatchType(PatchError):
    """Strategic merge patch on a kind without Go struct tags (custom resources): HTTP 415."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code=415)


class ApplyConflict(Exception):
    """Server-side apply found fields owned by other managers with different values (409).

    `conflicts` lists `(manager, path)` pairs, `message` is worded like upstream's
    `getConflictMessage` (k8s.io/apimachinery/pkg/util/managedfields/internal/conflict.go),
    and `causes` are the Status `details.causes` upstream's `NewConflictError` sends
    (`{"reason": "FieldManagerConflict", "message": 'conflict with "m" using apps/v1',
    "field": ".spec.replicas"}`).
    """

    def __init__(self, conflicts: list[tuple[str, str]], message: str,
                 causes: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.conflicts = conflicts
        self.message = message
        self.causes = causes if causes is not None else [
            {"reason": "FieldManagerConflict", "message": f'conflict with "{m}"', "field": f}
            for m, f in conflicts]


def go_float(value: float) -> str:
    """A float64 as Go's `%v` prints it (shortest form, exponent from 1e21 on)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        digits = exp.lstrip("+-").rjust(2, "0")
        return f"{mantissa}e{sign}{digits}"
    return text


def go_fmt(value: Any) -> str:
    """`fmt.Sprintf("%v", value)` for a decoded JSON value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_fmt(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_fmt(v) for v in value) + "]"
    return str(value)


def go_fmt_s(value: Any) -> str:
    """`fmt.Sprintf("%s", value)`: strings as-is, other types in Go's `%!s(T=v)` form."""
    if isinstance(value, str):
        return value
    if value is None:
        return "%!s(<nil>)"
    return f"%!s({go_type(value)}={go_fmt(value)})"


def go_type(value: Any) -> str:
    """The Go type name (`reflect.TypeOf(v).String()`) of a decoded JSON value."""
    if value is None:
        return "%!s(<nil>)"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "string"


def go_json(value: Any) -> str:
    """Compact JSON as Go's encoding/json writes it (HTML characters escaped)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def bad_arg_type(expected: Any, actual: Any) -> PatchError:
    """mergepatch.ErrBadArgType."""
    return PatchError(f"expected a {go_type(expected)}, but received a {go_type(actual)}",
                      code=500)


def no_merge_key(item: Any, key: str) -> PatchError:
    """mergepatch.ErrNoMergeKey."""
    return PatchError(f"map: {go_fmt(item)} does not contain declared merge key: {key}",
                      code=500)
