"""Label and field selectors, parsed as `k8s.io/apimachinery/pkg/labels` and `.../fields` do.

Label selector grammar (labels.Parse):
    selector    := requirement ("," requirement)*
    requirement := KEY | "!" KEY | KEY ("=" | "==" | "!=") VALUE
                 | KEY ("in" | "notin") "(" VALUE ("," VALUE)* ")"
Field selectors (fields.ParseSelector) only know `=`, `==` and `!=`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import bad_request

# Requirement operators.
EXISTS, NOT_EXISTS, EQUALS, NOT_EQUALS, IN, NOT_IN = "exists", "!", "=", "!=", "in", "notin"

_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|[^\s!=(),]+)")
_KEY_CHARS = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?/)?"
                        r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE_CHARS = re.compile(r"^(([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?)$")


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


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or not m.group(1):
            raise bad_request(f"unable to parse requirement: invalid label selector: {text!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


def _check_key(key: str) -> str:
    name = key.rpartition("/")[2]
    if not _KEY_CHARS.match(key) or len(name) > 63:
        raise bad_request(
            f'unable to parse requirement: values[0][{key}]: Invalid value: "{key}": name part '
            f"must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
            f"with an alphanumeric character")
    return key


def _check_value(value: str) -> str:
    if not _VALUE_CHARS.match(value) or len(value) > 63:
        raise bad_request(
            f'unable to parse requirement: values[0]: Invalid value: "{value}": a valid label '
            f"must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
            f"and must start and end with an alphanumeric character")
    return value


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a `labelSelector` query parameter; raise a 400 ApiError when malformed."""
    if not text or not text.strip():
        return LabelSelector()
    toks = _tokens(text)
    reqs: list[Requirement] = []
    i = 0

    def expect_value(j: int) -> tuple[str, int]:
        # An empty value is allowed (`a=`): the next token is then "," or the end.
        if j >= len(toks) or toks[j] == ",":
            return "", j
        if toks[j] in ("(", ")", "=", "==", "!=", "!"):
            raise bad_request(f"unable to parse requirement: found '{toks[j]}', expected: "
                              f"identifier")
        return _check_value(toks[j]), j + 1

    while i < len(toks):
        tok = toks[i]
        if tok == "!":
            if i + 1 >= len(toks):
                raise bad_request("unable to parse requirement: found '', expected: identifier")
            reqs.append(Requirement(_check_key(toks[i + 1]), NOT_EXISTS))
            i += 2
        else:
            key = _check_key(tok)
            op = toks[i + 1] if i + 1 < len(toks) else ","
            if op == ",":
                reqs.append(Requirement(key, EXISTS))
                i += 1
            elif op in ("=", "==", "!="):
                value, i = expect_value(i + 2)
                reqs.append(Requirement(key, NOT_EQUALS if op == "!=" else EQUALS, (value,)))
            elif op in ("in", "notin"):
                if i + 2 >= len(toks) or toks[i + 2] != "(":
                    raise bad_request("unable to parse requirement: found '', expected: '('")
                j, values = i + 3, []
                while j < len(toks) and toks[j] != ")":
                    if toks[j] != ",":
                        values.append(_check_value(toks[j]))
                    j += 1
                if j >= len(toks):
                    raise bad_request("unable to parse requirement: found '', expected: ')'")
                reqs.append(Requirement(key, IN if op == "in" else NOT_IN, tuple(values)))
                i = j + 1
            else:
                raise bad_request(f"unable to parse requirement: found '{op}', expected: "
                                  f"in, notin, =, ==, !=, gt, lt")
        if i < len(toks):
            if toks[i] != ",":
                raise bad_request(f"unable to parse requirement: found '{toks[i]}', expected: ','")
            i += 1
    return LabelSelector(tuple(reqs))


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
