"""Schema-aware walks over objects for server-side apply, ported from
sigs.k8s.io/structured-merge-diff/v4/typed: `ToFieldSet` (tofieldset.go), `Compare`
(compare.go), `Merge` (merge.go), `RemoveItems` (remove.go) and validation of associative
list keys (validate.go).  The schema is the table in merge_keys.py; values it does not
describe are walked by their JSON type (maps are structs, lists are atomic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .fieldpath import Path, key_element, path_string, value_element
from .merge_keys import TYPES, FieldSpec, field_spec, item_spec

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()


class SchemaError(ValueError):
    """A value does not fit the schema (bad or duplicate associative list keys)."""


def item_element(item: Any, spec: FieldSpec, index: int) -> str:
    """listItemToPathElement: the path element of list item `item` (SchemaError if none)."""
    list_type = spec.ssa_list_type
    if list_type == "map":
        if item is None:
            raise SchemaError("associative list with keys may not have a null element")
        if not isinstance(item, dict):
            raise SchemaError("associative list with keys may not have non-map elements")
        defaults = dict(spec.key_defaults)
        key: dict[str, Any] = {}
        for name in spec.ssa_keys:
            if name in item:
                key[name] = item[name]
            elif name in defaults:
                key[name] = defaults[name]
            else:
                raise SchemaError(f'associative list with keys has an element that omits key '
                                  f'field "{name}" (and doesn\'t have default value)')
        return key_element(key)
    if list_type == "set":
        if isinstance(item, dict):
            raise SchemaError("associative list without keys has an element that's a map type")
        if isinstance(item, list):
            raise SchemaError(
                "associative list without keys has an element that's a list type")
        return value_element(item)
    return f"i:{index}"


def index_items(items: list, spec: FieldSpec) -> tuple[list[str], dict[str, Any], bool]:
    """indexListPathElements: item path elements in list order, first occurrence wins.
    Items without a usable key are skipped and reported by the third value being False
    (live objects are tolerated; only applied configurations are validated)."""
    order: list[str] = []
    by_element: dict[str, Any] = {}
    complete = True
    for i, item in enumerate(items):
        try:
            element = item_element(item, spec, i)
        except SchemaError:
            complete = False
            continue
        if element not in by_element:
            by_element[element] = item
            order.append(element)
    return order, by_element, complete


def validate(value: Any, spec: FieldSpec) -> list[str]:
    """The validation errors of an applied configuration, worded like ValidationErrors."""
    errors: list[str] = []
    _validate(value, spec, (), errors)
    return errors


def _validate(value: Any, spec: FieldSpec, path: Path, errors: list[str]) -> None:
    if isinstance(value, dict) and not spec.is_atomic:
        for key, child in value.items():
            _validate(child, field_spec(spec, key), path + ("f:" + key,), errors)
    elif isinstance(value, list) and spec.ssa_list_type != "atomic":
        where = path_string(path)
        seen: set[str] = set()
        for i, item in enumerate(value):
            try:
                element = item_element(item, spec, i)
            except SchemaError as exc:
                errors.append(f"{where}: element {i}: {exc}")
                return
            if element in seen:
                errors.append(f"{where}: duplicate entries for key "
                              f"{path_string((element,))}")
            seen.add(element)
            _validate(item, item_spec(spec), path + (element,), errors)


# ---- ToFieldSet ---------------------------------------------------------------------------


def to_field_set(value: Any, spec: FieldSpec) -> set[Path]:
    """ToFieldSet: every leaf, every list item, every map entry that is not a named struct
    field and every empty or null field, as member paths."""
    out: set[Path] = set()
    _to_field_set(value, spec, (), out)
    return out


def _to_field_set(value: Any, spec: FieldSpec, path: Path, out: set[Path]) -> None:
    if isinstance(value, dict):
        if spec.is_atomic:
            out.add(path)
            return
        for key, child in value.items():
            child_path = path + ("f:" + key,)
            _to_field_set(child, field_spec(spec, key), child_path, out)
            if spec.is_map or child is None or child == {}:
                # Map entries are items (struct fields are not); an empty or null struct
                # is owned too (structured-merge-diff#184), so that it is not dropped.
                out.add(child_path)
    elif isinstance(value, list):
        if spec.ssa_list_type == "atomic":
            out.add(path)
            return
        order, by_element, _ = index_items(value, spec)
        for element in order:
            _to_field_set(by_element[element], item_spec(spec), path + (element,), out)
            out.add(path + (element,))
    elif path:
        out.add(path)


# ---- Compare ------------------------------------------------------------------------------


@dataclass
class Comparison:
    """Fields added, modified and removed going from one object to another."""

    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)

    def filtered(self, keep: Callable[[Path], bool]) -> Comparison:
        """Comparison.ExcludeFields."""
        return Comparison({p for p in self.added if keep(p)},
                          {p for p in self.modified if keep(p)},
                          {p for p in self.removed if keep(p)})


def compare(lhs: Any, rhs: Any, spec: FieldSpec) -> Comparison:
    """TypedValue.Compare: leaves are added/modified/removed; maps and list items that appear
    or disappear as a whole are added/removed themselves too (the post-item hook)."""
    out = Comparison()
    _compare(lhs, rhs, spec, (), out)
    return out


def _compare(lhs: Any, rhs: Any, spec: FieldSpec, path: Path, out: Comparison) -> None:
    if _both(lhs, rhs, dict, _is_map_or_absent):
        left, right = _as_dict(lhs), _as_dict(rhs)
        if spec.is_atomic or (not left and not right):
            _leaf(lhs, rhs, path, out)
            return
        for key in list(left) + [k for k in right if k not in left]:
            _compare(left.get(key, MISSING), right.get(key, MISSING), field_spec(spec, key),
                     path + ("f:" + key,), out)
    elif _both(lhs, rhs, list, _is_list_or_absent):
        left, right = _as_list(lhs), _as_list(rhs)
        if spec.ssa_list_type == "atomic" or (not left and not right):
            _leaf(lhs, rhs, path, out)
            return
        left_order, left_items, _ = index_items(left, spec)
        right_order, right_items, _ = index_items(right, spec)
        elem = item_spec(spec)
        for element in left_order + [e for e in right_order if e not in left_items]:
            _compare(left_items.get(element, MISSING), right_items.get(element, MISSING),
                     elem, path + (element,), out)
    else:
        _leaf(lhs, rhs, path, out)
        return
    if path and lhs is MISSING:
        out.added.add(path)
    elif path and rhs is MISSING:
        out.removed.add(path)


def _leaf(lhs: Any, rhs: Any, path: Path, out: Comparison) -> None:
    if lhs is MISSING:
        out.added.add(path)
    elif rhs is MISSING:
        out.removed.add(path)
    elif not json_equal(lhs, rhs):
        out.modified.add(path)


def _is_map_or_absent(value: Any) -> bool:
    return value is MISSING or value is None or isinstance(value, dict)


def _is_list_or_absent(value: Any) -> bool:
    return value is MISSING or value is None or isinstance(value, list)


def _as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def json_equal(a: Any, b: Any) -> bool:
    """value.Equals: JSON equality where true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    return a == b


# ---- Merge --------------------------------------------------------------------------------


def merge(lhs: Any, rhs: Any, spec: FieldSpec) -> Any:
    """TypedValue.Merge: `rhs` (an applied configuration) over `lhs` (the live object).
    Maps merge by field, associative lists by key, everything else takes `rhs`."""
    if rhs is MISSING:
        return lhs
    if _both(lhs, rhs, dict, _is_map_or_absent) and not spec.is_atomic:
        left, right = _as_dict(lhs), _as_dict(rhs)
        if left or right:
            out = dict(left)
            for key, value in right.items():
                merged = merge(left.get(key, MISSING), value, field_spec(spec, key))
                if merged is None and value is None:
                    out.pop(key, None)  # an applied null leaves the field unset
                else:
                    out[key] = merged
            return out
    elif _both(lhs, rhs, list, _is_list_or_absent) and spec.ssa_list_type != "atomic":
        left, right = _as_list(lhs), _as_list(rhs)
        if left or right:
            return _merge_list(left, right, spec)
    return rhs


def _both(lhs: Any, rhs: Any, kind: type, fits: Callable[[Any], bool]) -> bool:
    """One side is a `kind` and the other is one too, or null, or absent."""
    return (isinstance(lhs, kind) or isinstance(rhs, kind)) and fits(lhs) and fits(rhs)


def _merge_list(lhs: list, rhs: list, spec: FieldSpec) -> list:
    """mergingWalker.visitListItems: keep the live order for items the configuration does
    not mention, and the configuration's order for the items it does."""
    left_order, left_items, left_ok = index_items(lhs, spec)
    right_order, right_items, right_ok = index_items(rhs, spec)
    if not (left_ok and right_ok):
        return rhs  # items without keys cannot be merged: keep the configuration's list
    elem = item_spec(spec)
    shared = iter([e for e in right_order if e in left_items])
    next_shared = next(shared, None)
    out: list = []
    done: set[str] = set()
    li = ri = 0
    while li < len(left_order) or ri < len(right_order):
        if li < len(left_order) and ri < len(right_order):
            element = left_order[li]
            if element == right_order[ri]:
                out.append(merge(left_items[element], right_items[element], elem))
                done.add(element)
                li, ri = li + 1, ri + 1
                next_shared = next(shared, None)
                continue
            if element in right_items and next_shared is not None and next_shared != element:
                li += 1  # a shared item, but not the one wanted in this round
                continue
        if li < len(left_order):
            element = left_order[li]
            if element not in right_items:
                out.append(left_items[element])
                li += 1
                continue
            if element in done:  # guard: already merged through the right-hand side
                li += 1
                continue
        if ri < len(right_order):
            element = right_order[ri]
            out.append(merge(left_items.get(element, MISSING), right_items[element], elem))
            done.add(element)
            ri += 1
            if next_shared is not None and next_shared == element:
                next_shared = next(shared, None)
        else:  # unreachable upstream; merge rather than loop forever or drop the item
            element = left_order[li]
            out.append(merge(left_items[element], right_items[element], elem))
            done.add(element)
            li += 1
    return out


# ---- RemoveItems --------------------------------------------------------------------------


def remove_items(value: Any, spec: FieldSpec, paths: set[Path]) -> Any:
    """TypedValue.RemoveItems: drop the members of `paths` (with their subtrees).  A map or
    list emptied by the removal is dropped too, as Go drops the null it becomes."""
    if not paths:
        return value
    result = _remove(value, spec, paths, ())
    return {} if result is MISSING else result


def _remove(value: Any, spec: FieldSpec, paths: set[Path], path: Path) -> Any:
    if isinstance(value, dict) and value and not spec.is_atomic:
        out = {}
        for key, child in value.items():
            child_path = path + ("f:" + key,)
            if child_path in paths:
                continue
            if _has_prefix(paths, child_path):
                child = _remove(child, field_spec(spec, key), paths, child_path)
                if child is MISSING:
                    continue
            out[key] = child
        return out if out else MISSING
    if isinstance(value, list) and value and spec.ssa_list_type != "atomic":
        elem = item_spec(spec)
        items = []
        for i, item in enumerate(value):
            try:
                element = item_element(item, spec, i)
            except SchemaError:
                items.append(item)
                continue
            item_path = path + (element,)
            if item_path in paths:
                continue
            if _has_prefix(paths, item_path):
                item = _remove(item, elem, paths, item_path)
                if item is MISSING:
                    item = {}
            items.append(item)
        return items if items else MISSING
    return value


def _has_prefix(paths: set[Path], prefix: Path) -> bool:
    n = len(prefix)
    return any(len(p) > n and p[:n] == prefix for p in paths)


# ---- schema lookups -----------------------------------------------------------------------


def spec_at(root: FieldSpec, path: Path) -> FieldSpec:
    """The spec of the value at `path`."""
    spec = root
    for element in path:
        spec = field_spec(spec, element[2:]) if element.startswith("f:") else item_spec(spec)
    return spec


def path_to(value: Any, root: FieldSpec, steps: tuple[str | int, ...]) -> Path:
    """The field path of what `steps` (keys and list indices) reach in `value`: list items
    by their key where the list has keys, by index where it is atomic."""
    spec, path = root, []
    for step in steps:
        if isinstance(step, int):
            try:
                path.append(item_element(value[step], spec, step))
            except SchemaError:
                path.append(f"i:{step}")
            spec = item_spec(spec)
        else:
            path.append("f:" + step)
            spec = field_spec(spec, step)
        value = value[step]
    return tuple(path)


def is_named_field(root: FieldSpec, path: Path) -> bool:
    """Whether `path` ends in a field of a struct (not a map entry, not a list item)."""
    return bool(path) and path[-1].startswith("f:") and not spec_at(root, path[:-1]).is_map


def zero_filled(value: Any, spec: FieldSpec) -> Any:
    """`value` with the members a Go zero value always has (non-pointer structs as {},
    lists without omitempty as null), so that comparisons see what upstream's typed
    objects contain."""
    if not isinstance(value, dict) or spec.is_map or spec.is_atomic:
        return value
    out = dict(value)
    for name, fspec in TYPES.get(spec.type or "", {}).items():
        if fspec.always and name not in out:
            out[name] = None if fspec.is_list else {}
    for name, child in out.items():
        if isinstance(child, dict):
            out[name] = zero_filled(child, field_spec(spec, name))
    return out
