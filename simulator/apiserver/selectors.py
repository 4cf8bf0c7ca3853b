"""Label and field selectors, parsed as `k8s.io/apimachinery/pkg/labels` and `.../fields` do.

Label selector grammar (labels.Parse, ported with its lexer and error messages):
    selector    := requirement ("," requirement)*
    requirement := KEY | "!" KEY | KEY ("=" | "==" | "!=") VALUE | KEY (">" | "<") INTEGER
                 | KEY ("in" | "notin") "(" VALUE? ("," VALUE?)* ")"
An empty value list, `in ()`, is the set of the empty value, as upstream has it.
Field selectors (fields.ParseSelector) only know `=`, `==` and `!=`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import bad_request
from .validation.field import INVALID, FieldError
from .validation.names import is_qualified_name, is_valid_label_value

# Requirement operators.
EXISTS, NOT_EXISTS, EQUALS, NOT_EQUALS, IN, NOT_IN = "exists", "!", "=", "!=", "in", "notin"
GREATER_THAN, LESS_THAN = "gt", "lt"

_INT64 = re.compile(r"[+-]?[0-9]+")


def _go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64), None when it fails."""
    if not _INT64.fullmatch(text):
        return None
    value = int(text)
    return value if -2**63 <= value < 2**63 else None


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == EXISTS:
            return present
        if self.operator == NOT_EXISTS:
            return not present
        if self.operator in (EQUALS, IN):
            return present and labels[self.key] in self.values
        if self.operator in (GREATER_THAN, LESS_THAN):
            # Both sides as integers; a label that is not one matches neither way.
            value = _go_int(labels[self.key]) if present else None
            if value is None:
                return False
            bound = int(self.values[0])
            return value > bound if self.operator == GREATER_THAN else value < bound
        # != and notin match objects without the label too, as upstream does.
        return not present or labels[self.key] not in self.values


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)


# ---- labels.Lexer -------------------------------------------------------------------------

_SPECIAL = frozenset("=!(),<>")
_WHITESPACE = frozenset(" \t\r\n")
_SYMBOLS = frozenset({")", ",", "!", "==", "=", ">", "<", "!=", "("})
IDENTIFIER, END = "identifier", ""  # token kinds besides the symbols, "in" and "notin"


def _lex(text: str) -> list[tuple[str, str]]:
    """The (token, literal) pairs of a selector, ending with END."""
    out: list[tuple[str, str]] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= n or text[pos] == "\0":
            out.append((END, ""))
            return out
        start = pos
        if text[pos] in _SPECIAL:
            # The longest run of symbols that stays a token ("!=", but "=" then ">" for "=>").
            pos += 1
            while pos < n and text[start:pos + 1] in _SYMBOLS:
                pos += 1
            out.append((text[start:pos], text[start:pos]))
            continue
        while pos < n and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE \
                and text[pos] != "\0":
            pos += 1
        word = text[start:pos]
        out.append((word if word in (IN, NOT_IN) else IDENTIFIER, word))


# ---- labels.Parser ------------------------------------------------------------------------


class _ParseError(Exception):
    """A requirement that does not parse; upstream prefixes "unable to parse requirement"."""


class _Parser:
    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.position = 0

    def lookahead(self, values: bool = True) -> tuple[str, str]:
        """The next token; "in" and "notin" are identifiers where values are expected."""
        token, literal = self.items[self.position]
        if values and token in (IN, NOT_IN):
            token = IDENTIFIER
        return token, literal

    def consume(self, values: bool = True) -> tuple[str, str]:
        item = self.lookahead(values)
        self.position += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements = []
        while True:
            token, literal = self.lookahead()
            if token == END:
                return requirements
            if token not in (IDENTIFIER, "!"):
                raise bad_request(f"found '{literal}', expected: !, identifier, or 'end of "
                                  f"string'")
            try:
                requirements.append(self.requirement())
            except _ParseError as exc:
                raise bad_request(f"unable to parse requirement: {exc}") from None
            token, literal = self.consume()
            if token == END:
                return requirements
            if token != ",":
                raise bad_request(f"found '{literal}', expected: ',' or 'end of string'")
            token, literal = self.lookahead()
            if token not in (IDENTIFIER, "!"):
                raise bad_request(f"found '{literal}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        key, operator = self.key_and_inferred_operator()
        if operator in (EXISTS, NOT_EXISTS):
            return Requirement(key, operator)
        operator = self.operator()
        values = self.values() if operator in (IN, NOT_IN) else self.exact_value()
        return _new_requirement(key, operator, sorted(values))

    def key_and_inferred_operator(self) -> tuple[str, str]:
        operator = ""
        token, literal = self.consume()
        if token == "!":
            operator = NOT_EXISTS
            token, literal = self.consume()
        if token != IDENTIFIER:
            raise _ParseError(f"found '{literal}', expected: identifier")
        errs = is_qualified_name(literal)
        if errs:
            raise _ParseError(FieldError(INVALID, "<nil>", literal, "; ".join(errs)).error())
        if self.lookahead()[0] in (END, ",") and operator != NOT_EXISTS:
            operator = EXISTS
        return literal, operator

    def operator(self) -> str:
        token, literal = self.consume(values=False)
        operators = {IN: IN, NOT_IN: NOT_IN, "=": EQUALS, "==": EQUALS, "!=": NOT_EQUALS,
                     ">": GREATER_THAN, "<": LESS_THAN}
        if token not in operators:
            raise _ParseError(f"found '{literal}', expected: in, notin, =, ==, !=, gt, lt")
        return operators[token]

    def values(self) -> set[str]:
        token, literal = self.consume()
        if token != "(":
            raise _ParseError(f"found '{literal}' expected: '('")
        token, literal = self.lookahead()
        if token == ")":  # "()" is the set of the empty value
            self.consume()
            return {""}
        if token not in (IDENTIFIER, ","):
            raise _ParseError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self.identifiers_list()
        if self.consume()[0] != ")":
            raise _ParseError(f"found '{literal}', expected: ')'")
        return values

    def identifiers_list(self) -> set[str]:
        """Comma-separated, possibly empty values up to (not including) ")"."""
        values: set[str] = set()
        while True:
            token, literal = self.consume()
            if token == IDENTIFIER:
                values.add(literal)
                token, literal = self.lookahead()
                if token == ")":
                    return values
                if token != ",":
                    raise _ParseError(f"found '{literal}', expected: ',' or ')'")
            elif token == ",":  # "(,", ",)" and ",," stand for the empty value
                if not values:
                    values.add("")
                following = self.lookahead()[0]
                if following == ")":
                    values.add("")
                    return values
                if following == ",":
                    self.consume()
                    values.add("")
            else:
                raise _ParseError(f"found '{literal}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.lookahead()[0] in (END, ","):
            return {""}
        token, literal = self.consume()
        if token != IDENTIFIER:
            raise _ParseError(f"found '{literal}', expected: identifier")
        return {literal}


def _new_requirement(key: str, operator: str, values: list[str]) -> Requirement:
    """labels.NewRequirement's checks of the values (the key is already checked)."""
    errs: list[str] = []
    if operator in (GREATER_THAN, LESS_THAN):
        errs += [FieldError(INVALID, f"values[{i}]", value, "for 'Gt', 'Lt' operators, the "
                            "value must be an integer").error()
                 for i, value in enumerate(values) if _go_int(value) is None]
    for i, value in enumerate(values):
        problems = is_valid_label_value(value)
        if problems:
            errs.append(FieldError(INVALID, f"values[{i}][{key}]", value,
                                   "; ".join(problems)).error())
    if errs:
        unique = list(dict.fromkeys(errs))  # utilerrors.Aggregate drops repeated messages
        raise _ParseError(unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]")
    return Requirement(key, operator, tuple(values))


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a `labelSelector` query parameter; raise a 400 ApiError when malformed."""
    if not text:
        return LabelSelector()
    return LabelSelector(tuple(_Parser(text).parse()))


def selector_from_match_labels(selector: Mapping[str, Any] | None) -> LabelSelector:
    """A metav1.LabelSelector (matchLabels + matchExpressions) as a LabelSelector."""
    if not selector:
        return LabelSelector()
    match_labels = selector.get("matchLabels") or {}
    reqs = [Requirement(k, EQUALS, (str(v),)) for k, v in match_labels.items()]
    ops = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": NOT_EXISTS}
    for expr in selector.get("matchExpressions") or []:
        values = tuple(expr.get("values") or ())
        reqs.append(Requirement(expr["key"], ops[expr["operator"]], values))
    return LabelSelector(tuple(reqs))


def format_match_labels(selector: Mapping[str, Any] | None) -> str:
    """`app=app1,tier=web` as metav1.FormatLabelSelector prints matchLabels."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr["operator"], expr["key"], ",".join(expr.get("values") or [])
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                      "Exists": key, "DoesNotExist": f"!{key}"}[op])
    return ",".join(parts)


# ---- field selectors ---------------------------------------------------------------------

@dataclass(frozen=True)
class FieldRequirement:
    field: str
    value: str
    negated: bool


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, get_field: Callable[[str], str]) -> bool:
        for req in self.requirements:
            equal = get_field(req.field) == req.value
            if equal == req.negated:
                return False
        return True

    def value_of(self, field: str) -> str | None:
        """The value an `=` requirement pins `field` to, if any (used to narrow a lookup)."""
        for req in self.requirements:
            if req.field == field and not req.negated:
                return req.value
        return None


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_field_selector(text: str | None, supported: set[str]) -> FieldSelector:
    """Parse a `fieldSelector`; fields outside `supported` are a 400, as kube-apiserver says."""
    if not text or not text.strip():
        return FieldSelector()
    reqs = []
    for part in _split_unescaped(text, ","):
        part = part.strip()
        if not part:
            continue
        for op in ("!=", "==", "="):
            if op in part:
                field, _, value = part.partition(op)
                break
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field = field.strip()
        if field not in supported:
            raise bad_request(f"field label not supported: {field}")
        reqs.append(FieldRequirement(field, _unescape(value.strip()), op == "!="))
    return FieldSelector(tuple(reqs))


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string value of a dotted field path, as field selectors compare it ("" if unset)."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)
