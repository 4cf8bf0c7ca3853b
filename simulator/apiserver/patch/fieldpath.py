"""Field sets of server-side apply: paths, their `fieldsV1` encoding and set helpers.

Ports sigs.k8s.io/structured-merge-diff/v4/fieldpath.  A path is a tuple of path elements
written as in `fieldsV1`: `f:<field>`, `k:<json of the key fields>` (an associative list
item), `v:<json value>` (a set item) or `i:<index>`.  A set is a Python set of the paths that
are *members*; `fieldsV1` writes a member that also has children as `".": {}`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from .errors import go_float

Path = tuple[str, ...]
FieldSet = frozenset[Path]


def canonical_json(value: Any) -> str:
    """The JSON of a key or set value inside a path element: compact, keys sorted."""
    return json.dumps(_normalize(value), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


def _normalize(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def key_element(fields: dict[str, Any]) -> str:
    return "k:" + canonical_json(fields)


def value_element(value: Any) -> str:
    return "v:" + canonical_json(value)


# ---- fieldsV1 encoding --------------------------------------------------------------------


def decode_fields_v1(fields: Any) -> set[Path]:
    """Set.FromJSON: the member paths of a `fieldsV1` object (ValueError if malformed)."""
    if not isinstance(fields, dict):
        raise ValueError("expected a JSON object for fieldsV1")
    out: set[Path] = set()
    _decode(fields, (), out)
    return out


def _decode(node: dict, prefix: Path, out: set[Path]) -> None:
    for raw, child in node.items():
        if not isinstance(child, dict):
            raise ValueError(f"expected an object for {raw!r}")
        if raw == ".":
            if prefix:
                out.add(prefix)
            continue
        path = prefix + (_canonical_element(raw),)
        if child:
            _decode(child, path, out)
        else:
            out.add(path)


def _canonical_element(raw: str) -> str:
    prefix, sep, body = raw.partition(":")
    if not sep or prefix not in ("f", "k", "v", "i"):
        raise ValueError(f"unknown path element {raw!r}")
    if prefix in ("k", "v"):
        try:
            value = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid path element {raw!r}: {exc}") from exc
        if prefix == "k" and not isinstance(value, dict):
            raise ValueError(f"invalid key path element {raw!r}")
        return prefix + ":" + canonical_json(value)
    if prefix == "i" and not body.lstrip("-").isdigit():
        raise ValueError(f"invalid index path element {raw!r}")
    return raw


def encode_fields_v1(paths: Iterable[Path]) -> dict:
    """Set.ToJSON: the `fieldsV1` object of a set, children in structured-merge-diff order."""
    root = _Node()
    for path in paths:
        root.insert(path)
    return root.encode()


class _Node:
    """A trie of path elements; `member` marks the paths that are in the set."""

    __slots__ = ("member", "children")

    def __init__(self) -> None:
        self.member = False
        self.children: dict[str, _Node] = {}

    def insert(self, path: Path) -> None:
        node = self
        for element in path:
            node = node.children.setdefault(element, _Node())
        node.member = True

    def encode(self) -> dict:
        out: dict[str, Any] = {}
        if self.member and self.children:
            out["."] = {}
        for element in sorted(self.children, key=element_sort_key):
            out[element] = self.children[element].encode()
        return out

    def iterate(self, prefix: Path) -> Iterable[Path]:
        ordered = sorted(self.children, key=element_sort_key)
        for element in ordered:  # members of this level first, then the children
            if self.children[element].member:
                yield prefix + (element,)
        for element in ordered:
            yield from self.children[element].iterate(prefix + (element,))


def iterate_sorted(paths: Iterable[Path]) -> list[Path]:
    """Set.Iterate order: at every level the members (sorted), then each child's subtree."""
    root = _Node()
    for path in paths:
        root.insert(path)
    return list(root.iterate(()))


def element_sort_key(element: str) -> tuple:
    """PathElement.Compare: field names < keys < values < indices."""
    prefix, _, body = element.partition(":")
    if prefix == "f":
        return (0, body)
    if prefix == "k":
        fields = json.loads(body)
        return (1, tuple((name, _value_sort_key(fields[name])) for name in sorted(fields)))
    if prefix == "v":
        return (2, _value_sort_key(json.loads(body)))
    return (3, int(body))


def _value_sort_key(value: Any) -> tuple:
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, (int, float)):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return (4, canonical_json(value))


# ---- path strings -------------------------------------------------------------------------


def path_string(path: Path) -> str:
    """Path.String: `.spec.containers[name="app"].image`."""
    parts = []
    for element in path:
        prefix, _, body = element.partition(":")
        if prefix == "f":
            parts.append("." + body)
        elif prefix == "k":
            fields = json.loads(body)
            parts.append("[" + ",".join(f"{k}={value_string(fields[k])}"
                                        for k in sorted(fields)) + "]")
        elif prefix == "v":
            parts.append(f"[={value_string(json.loads(body))}]")
        else:
            parts.append(f"[{body}]")
    return "".join(parts)


def value_string(value: Any) -> str:
    """value.ToString: strings quoted, numbers and booleans bare."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(value_string(v) for v in value) + "]"
    return "{" + ",".join(f"{k}={value_string(value[k])}" for k in sorted(value)) + "}"


# ---- set helpers --------------------------------------------------------------------------


def with_named_parents(paths: Iterable[Path], is_named: Callable[[Path], bool]) -> set[Path]:
    """Set.EnsureNamedFieldsAreMembers: add every ancestor that is a named struct field."""
    out = set(paths)
    for path in list(out):
        for end in range(1, len(path)):
            prefix = path[:end]
            if prefix not in out and is_named(prefix):
                out.add(prefix)
    return out
