"""The part of k8s.io/client-go/util/jsonpath that CRD printer columns use.

`find_results` ports `JSONPath.FindResults` with `AllowMissingKeys(true)` for one `{...}` action:
fields (`.a`, `..a`, `['a']`), wildcards, indexes and slices, unions and filters
(`[?(@.type=="Ready")]`).  `print_value` ports `PrintResults` for one value and `go_json` the
`encoding/json` output it falls back to for maps and lists.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..validation.field import go_json  # encoding/json.Marshal, shared with error messages


class JSONPathError(ValueError):
    """A path that does not parse, or an evaluation error (bad index, bad comparison)."""


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Wildcard:
    pass


@dataclass(frozen=True)
class Recursive:
    pass


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Array:
    start: int | None  # None: unknown (slice start omitted)
    end: int | None  # None: unknown (slice end omitted)
    derived_end: bool = False  # `[i]`: end is i+1


@dataclass(frozen=True)
class Union:
    branches: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Filter:
    left: tuple[Any, ...]
    operator: str
    right: tuple[Any, ...] = field(default=())


# ---- parser ------------------------------------------------------------------------------------

_TERMINATORS = set(" \t\r\n.,[]$@{}")
_DICT_KEY = re.compile(r"^'([^']*)'$")
_SLICE = re.compile(r"^(-?\d*)(:-?\d*)?(:-?\d*)?$")
_FILTER = re.compile(r"^([^!<>=]+)([!<>=]+)(.+?)$", re.S)
_NUMBER = re.compile(r"[-+]?[0-9.eE+-]*")


class _Parser:
    """Parser.parseInsideAction and the node parsers it dispatches to."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def parse(self) -> tuple[Any, ...]:
        nodes: list[Any] = []
        while self.pos < len(self.text):
            nodes.extend(self._next_nodes())
        return tuple(nodes)

    def _next_nodes(self) -> list[Any]:
        text, pos = self.text, self.pos
        ch = text[pos]
        if text.startswith("[?(", pos):
            return [self._filter()]
        if text.startswith("..", pos):
            self.pos += 2
            nodes: list[Any] = [Recursive()]
            if self.pos < len(text) and (text[self.pos].isalnum() or text[self.pos] == "_"):
                nodes.append(self._field())
            return nodes
        if ch in " \t@$":
            self.pos += 1
            return []
        if ch == "[":
            return self._array()
        if ch in "'\"":
            return [self._quote(ch)]
        if ch == ".":
            self.pos += 1
            return [self._field()]
        if ch in "+-" or ch.isdigit():
            return [self._number()]
        if text.startswith("true", pos) or text.startswith("false", pos):
            value = text.startswith("true", pos)
            self.pos += 4 if value else 5
            return [Literal(value)]
        raise JSONPathError(f"unrecognized character in action: {ch!r}")

    def _field(self) -> Field | Wildcard:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _TERMINATORS:
            self.pos += 2 if self.text[self.pos] == "\\" else 1
        name = self.text[start:self.pos]
        return Wildcard() if name == "*" else Field(name.replace("\\", ""))

    def _quote(self, quote: str) -> Literal:
        end = self.pos + 1
        while end < len(self.text) and (self.text[end] != quote or self.text[end - 1] == "\\"):
            end += 1
        if end >= len(self.text):
            raise JSONPathError("unterminated quoted string")
        raw = self.text[self.pos + 1:end]
        self.pos = end + 1
        return Literal(raw.replace("\\" + quote, quote))

    def _number(self) -> Literal:
        match = _NUMBER.match(self.text, self.pos)
        assert match is not None
        raw = match.group(0)
        self.pos = match.end()
        try:
            return Literal(float(raw) if "." in raw else int(raw))
        except ValueError as exc:
            raise JSONPathError(f"cannot parse number {raw!r}") from exc

    def _array(self) -> list[Any]:
        end = self.text.find("]", self.pos)
        if end < 0:
            raise JSONPathError("unterminated array")
        inner = self.text[self.pos + 1:end]
        self.pos = end + 1
        if inner == "*":
            inner = ":"
        parts = inner.split(",")
        if len(parts) > 1:
            return [Union(tuple(_Parser(f"[{p.strip()}]").parse() for p in parts))]
        if key := _DICT_KEY.match(inner):
            return list(_Parser("." + key.group(1)).parse())
        return [_slice(inner)]

    def _filter(self) -> Filter:
        start = self.pos + 3
        end, quote = start, ""
        while True:
            if end >= len(self.text):
                raise JSONPathError("unterminated filter")
            ch = self.text[end]
            if quote:
                quote = "" if ch == quote and self.text[end - 1] != "\\" else quote
            elif ch in "'\"":
                quote = ch
            elif ch == ")":
                break
            end += 1
        if self.text[end + 1:end + 2] != "]":
            raise JSONPathError("unclosed array expect ]")
        self.pos = end + 2
        expr = self.text[start:end]
        if not (match := _FILTER.match(expr)):
            return Filter(_Parser(expr).parse(), "exists")
        left, operator, right = match.groups()
        return Filter(_Parser(left).parse(), operator, _Parser(right).parse())


def _slice(text: str) -> Array:
    match = _SLICE.match(text)
    if not match:
        raise JSONPathError(f"invalid array index {text}")
    first, second, _step = match.groups()  # the step is ignored, as upstream effectively does
    start = int(first) if first not in ("", "-") else 0
    if second is None:
        return Array(start, start + 1, derived_end=True)
    end = second[1:]
    return Array(start, int(end) if end not in ("", "-") else None)


def parse(path: str) -> tuple[Any, ...]:
    """The nodes of `{path}`; the braces are optional."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    return _Parser(text).parse()


# ---- evaluation --------------------------------------------------------------------------------


def _eval_field(values: list[Any], node: Field) -> list[Any]:
    if not node.name:  # `{.}`: the current object
        return values
    return [v[node.name] for v in values if isinstance(v, Mapping) and node.name in v]


def _eval_wildcard(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, Mapping):
            out.extend(value[k] for k in sorted(value))
        elif isinstance(value, list):
            out.extend(value)
    return out


def _eval_recursive(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        children = ([value[k] for k in sorted(value)] if isinstance(value, Mapping)
                    else value if isinstance(value, list) else [])
        if children:
            out.append(value)
            out.extend(_eval_recursive(children))
    return out


def _eval_array(values: list[Any], node: Array) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value is None:
            continue
        if not isinstance(value, list):
            raise JSONPathError(f"{type(value).__name__} is not array or slice")
        length = len(value)
        start = node.start + length if node.start < 0 else node.start
        end = length if node.end is None else node.end
        if end < 0 or (end == 0 and node.derived_end):
            end += length
        if start == end:
            continue
        if start >= length or start < 0 or end > length or end < 0 or start > end:
            raise JSONPathError("array index out of bounds")
        out.extend(value[start:end])
    return out


_KINDS = ((bool, "bool"), (int, "int"), (float, "float"), (str, "string"))
_ORDERINGS = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}


def _kind(value: Any) -> str:
    for type_, kind in _KINDS:
        if isinstance(value, type_):
            return kind
    raise JSONPathError("invalid type for comparison")


def compare(op: str, left: Any, right: Any) -> bool:
    """The template.Equal / Less / ... functions the filter operators map to."""
    kind = _kind(left)
    if kind != _kind(right):
        raise JSONPathError("incompatible types for comparison")
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op not in _ORDERINGS:
        raise JSONPathError(f"unrecognized filter operator {op}")
    if kind == "bool":
        raise JSONPathError("invalid type for comparison")
    return _ORDERINGS[op](left, right)


def _eval_filter(values: list[Any], node: Filter) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value is None:
            continue
        if not isinstance(value, list):
            raise JSONPathError("value is not array or slice and cannot be filtered")
        for item in value:
            if node.operator == "exists":
                try:
                    found = evaluate(node.left, [item])
                except JSONPathError:
                    found = []
                if found:
                    out.append(item)
                continue
            lefts = evaluate(node.left, [item])
            if len(lefts) != 1:
                if lefts:
                    raise JSONPathError("can only compare one element at a time")
                continue
            rights = evaluate(node.right, [item])
            if len(rights) != 1:
                if rights:
                    raise JSONPathError("can only compare one element at a time")
                continue
            if compare(node.operator, lefts[0], rights[0]):
                out.append(item)
    return out


def evaluate(nodes: tuple[Any, ...], values: list[Any]) -> list[Any]:
    """JSONPath.evalList: walk every node from `values`; missing keys give no results."""
    for node in nodes:
        if isinstance(node, Field):
            values = _eval_field([v for v in values if v is not None], node)
        elif isinstance(node, Wildcard):
            values = _eval_wildcard(values)
        elif isinstance(node, Recursive):
            values = _eval_recursive(values)
        elif isinstance(node, Array):
            values = _eval_array(values, node)
        elif isinstance(node, Union):
            values = [r for branch in node.branches for r in evaluate(branch, values)]
        elif isinstance(node, Filter):
            values = _eval_filter(values, node)
        elif isinstance(node, Literal):
            values = [node.value for _ in values]
    return values


def find_results(path: str, data: Any) -> list[Any]:
    """`FindResults(data)[0]` for `{path}`; JSONPathError when it fails."""
    return evaluate(parse(path), [data])


# ---- printing ----------------------------------------------------------------------------------


def _shortest_digits(value: float) -> tuple[str, int]:
    """The shortest round-tripping digits of abs(value) and the decimal point position."""
    _, digits, exponent = Decimal(repr(abs(value))).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + int(exponent)
    if text == "0":
        point = 1
    return text, point


def _exponent_form(digits: str, point: int, exp_digits: int) -> str:
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    exp = point - 1
    return f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):0{exp_digits}d}"


def _fixed_form(digits: str, point: int) -> str:
    if point <= 0:
        return "0." + "0" * -point + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def go_float(value: float) -> str:
    """`fmt.Sprint(float64)`: strconv 'g' with the shortest digits, in exponent form when the
    exponent is < -4 or >= 6 (`1e+06`, `1.5e-05`), else in fixed form (`123456`, `0.5`)."""
    digits, point = _shortest_digits(value)
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    exp = point - 1
    if digits != "0" and (exp < -4 or exp >= 6):
        return sign + _exponent_form(digits, point, 2)
    return sign + _fixed_form(digits, point)


def print_value(value: Any) -> str:
    """JSONPath.PrintResults for one result: maps and lists as JSON, scalars as `fmt.Fprint`."""
    if value is None:
        return "<no value>"
    if isinstance(value, Mapping | list | tuple):
        return go_json(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    return str(value)
