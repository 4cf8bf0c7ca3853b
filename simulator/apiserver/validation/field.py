"""Port of apimachinery `pkg/util/validation/field`: field paths, field errors, value printing.

kube-apiserver reports each validation failure as a `field.Error`; its `ErrorBody()` is the
`message` of a Status cause and `Error()` ("<field>: <body>") is what ends up in the Status
message.  The bad value is printed the way Go prints it (Kubernetes 1.34 `ErrorBody`):

* `string`                      -> `%q` (strconv.Quote)
* int32/int64/float64/bool      -> `%v`
* anything else (pointers, typed strings such as `PathType`, structs, maps, slices, nil)
                                -> `json.Marshal`

Python values map onto that as: `str` -> `%q`; `int`/`float`/`bool` -> `%v`; `None`, lists and
dicts -> JSON (dicts are Go maps, so keys are sorted).  Wrap a value in `GoJSON` when Go passes a
pointer or a named string type (its JSON form then differs from `%q` only for special
characters), and build Go structs with `GoStruct` so their fields keep declaration order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# ErrorType values, as sent in Status causes (field.ErrorType).
NOT_FOUND = "FieldValueNotFound"
REQUIRED = "FieldValueRequired"
DUPLICATE = "FieldValueDuplicate"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
INTERNAL = "InternalError"
TYPE_INVALID = "FieldValueTypeInvalid"

# ErrorType.String()
_TYPE_STRINGS = {
    NOT_FOUND: "Not found",
    REQUIRED: "Required value",
    DUPLICATE: "Duplicate value",
    INVALID: "Invalid value",
    NOT_SUPPORTED: "Unsupported value",
    FORBIDDEN: "Forbidden",
    TOO_LONG: "Too long",
    TOO_MANY: "Too many",
    INTERNAL: "Internal error",
    TYPE_INVALID: "Invalid value",
}

# Types whose body never shows the value (ErrorBody's first case).
_VALUELESS_TYPES = {REQUIRED, FORBIDDEN, TOO_LONG, INTERNAL}


class _Omit:
    """field.omitValue: the body shows the error type only (used by TooMany with no count)."""

    def __repr__(self) -> str:
        return "OMIT"


OMIT = _Omit()


@dataclass(frozen=True)
class GoJSON:
    """Force `json.Marshal` rendering of a value Go passes as a pointer or a named type."""

    value: Any


class GoStruct(dict):
    """A Go struct as `json.Marshal` renders it: fields in declaration order, not sorted."""


# --------------------------------------------------------------------------- value printing


def go_quote(s: str) -> str:
    """strconv.Quote: a double-quoted Go string literal, escaping non-printable runes."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:  # a lone surrogate cannot be UTF-8; Go decodes it as U+FFFD
            ch, code = "\ufffd", 0xFFFD
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_SHORT_ESCAPES:
            out.append(_GO_SHORT_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_SHORT_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
}

_JSON_SHORT_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\f": "\\f", "\n": "\\n",
                       "\r": "\\r", "\t": "\\t"}


def _json_string(s: str) -> str:
    """encoding/json string encoding, with its default HTML escaping of <, > and &."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in _JSON_SHORT_ESCAPES:
            out.append(_JSON_SHORT_ESCAPES[ch])
        elif code < 0x20 or ch in "<>&" or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _shortest_digits(f: float) -> tuple[str, str, int]:
    """(sign, digits, decimal exponent of the first digit) of the shortest round-trip repr."""
    d = Decimal(repr(f)).normalize()
    sign, digits, exp = d.as_tuple()
    text = "".join(map(str, digits)) or "0"
    return ("-" if sign else ""), text, len(text) + int(exp) - 1


def _e_format(f: float, min_exp_digits: int) -> str:
    """strconv 'e' format with shortest precision ("1.5e+21", "1e-07")."""
    sign, digits, dec_exp = _shortest_digits(f)
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    exp_sign = "+" if dec_exp >= 0 else "-"
    return f"{sign}{mant}e{exp_sign}{abs(dec_exp):0{min_exp_digits}d}"


def _f_format(f: float) -> str:
    """strconv 'f' format with shortest precision ("100", "1.5")."""
    return format(Decimal(repr(f)).normalize(), "f")


def _json_float(f: float) -> str:
    """encoding/json float64 encoding: 'f' format, 'e' for magnitudes < 1e-6 or >= 1e21."""
    if math.isnan(f) or math.isinf(f):
        return "null"  # json.Marshal fails on these; no validator passes them
    if f != 0 and (abs(f) < 1e-6 or abs(f) >= 1e21):
        return _e_format(f, 1)  # encoding/json trims "e-07" to "e-7"
    return _f_format(f)


def go_json(value: Any) -> str:
    """json.Marshal of a JSON-like Python value (dict keys sorted, GoStruct order kept)."""
    if isinstance(value, GoJSON):
        value = value.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, GoStruct):
        items = list(value.items())
    elif isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
    elif isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    else:
        return _json_string(str(value))
    return "{" + ",".join(f"{_json_string(str(k))}:{go_json(v)}" for k, v in items) + "}"


def _go_float_v(f: float) -> str:
    """fmt's %v for a float64: strconv.FormatFloat(f, 'g', -1, 64)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    _, _, dec_exp = _shortest_digits(f)
    # Shortest 'g' switches to %e when the exponent is < -4 or >= 6 (strconv's eprec).
    if f != 0 and (dec_exp < -4 or dec_exp >= 6):
        return _e_format(f, 2)
    return _f_format(f)


def format_value(value: Any) -> str:
    """How ErrorBody prints a bad value (without the leading type string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float_v(value)
    if isinstance(value, str):
        return go_quote(value)
    return go_json(value)


# --------------------------------------------------------------------------- paths


class Path:
    """field.Path: a chain of field names and subscripts ("spec.rules[0].host", "data[tls.crt]")."""

    __slots__ = ("_name", "_index", "_parent")

    def __init__(self, name: str, *more: str, _parent: Path | None = None,
                 _index: str | None = None) -> None:
        self._name = name
        self._index = _index
        self._parent = _parent
        if more:  # NewPath("a", "b") == NewPath("a").Child("b")
            head = Path(name, _parent=_parent, _index=_index)
            for m in more[:-1]:
                head = Path(m, _parent=head)
            self._name, self._index, self._parent = more[-1], None, head

    def child(self, name: str, *more: str) -> Path:
        p = Path(name, _parent=self)
        for m in more:
            p = Path(m, _parent=p)
        return p

    def index(self, i: int) -> Path:
        return Path("", _parent=self, _index=str(i))

    def key(self, k: str) -> Path:
        return Path("", _parent=self, _index=k)

    def __str__(self) -> str:
        elems: list[Path] = []
        p: Path | None = self
        while p is not None:
            elems.append(p)
            p = p._parent
        buf = []
        for e in reversed(elems):
            if e._parent is not None and e._name:
                buf.append(".")
            if e._name:
                buf.append(e._name)
            else:
                buf.append(f"[{e._index or ''}]")
        return "".join(buf)

    def __repr__(self) -> str:
        return f"Path({str(self)!r})"


# --------------------------------------------------------------------------- errors


@dataclass
class FieldError:
    """field.Error: one validation failure of one field."""

    type: str
    field: str
    bad_value: object = None
    detail: str = ""

    def body(self) -> str:
        """field.Error.ErrorBody(): the message without the field name."""
        type_str = _TYPE_STRINGS.get(self.type, f"<unknown error {go_quote(self.type)}>")
        if self.type in _VALUELESS_TYPES or self.bad_value is OMIT:
            s = type_str
        else:
            s = f"{type_str}: {format_value(self.bad_value)}"
        if self.detail:
            s += f": {self.detail}"
        return s

    def error(self) -> str:
        """field.Error.Error(): "<field>: <body>"."""
        return f"{self.field}: {self.body()}"

    def cause(self) -> dict:
        """The metav1.StatusCause apierrors.NewInvalid builds from this error."""
        return {"reason": self.type, "message": self.body(), "field": self.field}

    def __str__(self) -> str:
        return self.error()


ErrorList = list[FieldError]


def required(path: Path, detail: str = "") -> FieldError:
    """field.Required."""
    return FieldError(REQUIRED, str(path), "", detail)


def invalid(path: Path, value: object, detail: str) -> FieldError:
    """field.Invalid."""
    return FieldError(INVALID, str(path), value, detail)


def not_supported(path: Path, value: object, valid_values: list[str] | tuple[str, ...]
                  ) -> FieldError:
    """field.NotSupported: detail lists the supported values, each strconv.Quote'd."""
    detail = ""
    if valid_values:
        detail = "supported values: " + ", ".join(go_quote(v) for v in valid_values)
    return FieldError(NOT_SUPPORTED, str(path), value, detail)


def forbidden(path: Path, detail: str) -> FieldError:
    """field.Forbidden."""
    return FieldError(FORBIDDEN, str(path), "", detail)


def duplicate(path: Path, value: object) -> FieldError:
    """field.Duplicate."""
    return FieldError(DUPLICATE, str(path), value, "")


def not_found(path: Path, value: object) -> FieldError:
    """field.NotFound."""
    return FieldError(NOT_FOUND, str(path), value, "")


def too_long(path: Path, max_length: int) -> FieldError:
    """field.TooLong (1.34 wording: "may not be more than N bytes"); the value is never shown."""
    if max_length >= 0:
        unit = "byte" if max_length == 1 else "bytes"
        msg = f"may not be more than {max_length} {unit}"
    else:
        msg = "value is too long"
    return FieldError(TOO_LONG, str(path), "<value omitted>", msg)


def too_many(path: Path, actual: int, maximum: int) -> FieldError:
    """field.TooMany."""
    if maximum >= 0:
        msg = f"must have at most {maximum} {'item' if maximum == 1 else 'items'}"
    else:
        msg = "has too many items"
    return FieldError(TOO_MANY, str(path), actual if actual >= 0 else OMIT, msg)


def internal_error(path: Path, message: str) -> FieldError:
    """field.InternalError."""
    return FieldError(INTERNAL, str(path), None, message)
