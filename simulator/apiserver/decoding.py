"""Go's JSON decoding of the built-in kinds: the bodies kube-apiserver cannot decode.

kube-apiserver decodes every body into the Go struct of its kind (sigs.k8s.io/json, that is
encoding/json matching field names case-sensitively) before anything else looks at it, so a
value of the wrong JSON type never gets stored: `json: cannot unmarshal number into Go struct
field ConfigMap.data of type string`.  (Stored here, it would make client-go fail to decode
every list of that kind.)  `check` walks a decoded object against the Go types of its kind,
read from the vendored protobuf schema and the Go facts in `protobuf/jsoninfo.json`, and
returns the values Go's decoding refuses as `Refusals`, which word them as each write path
upstream does:

* `go_json_error`: create and update decode the body with encoding/json, and JSON and merge
  patches decode the patched document the same way;
* `converter_error`: strategic merge patches convert the patched map with
  runtime.DefaultUnstructuredConverter, which words errors its own way (and lets integers
  overflow);
* `smd_errors`: server-side apply types the applied configuration with structured-merge-diff,
  which only looks at JSON types (numbers are numbers, strings are not parsed).

Fields a kind does not have are not looked at (field validation is not implemented), and
kinds without a schema (custom resources) are not checked.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from ..gotime import DurationError, parse_duration_ns
from . import govalues
from .patch.errors import go_fmt, go_type
from .protobuf import ProtobufError, message_name
from .protobuf.schema import SCALARS, Field, Schema, get_schema
from .validation.field import go_quote

# What a Go value is, as far as decoding JSON into it goes.
STRUCT, MAP, SLICE, STRING, BYTES, BOOL, INT, FLOAT, SPECIAL, ANY = range(10)


@dataclass(eq=False, slots=True)
class GoType:
    """A Go type JSON is decoded into."""

    kind: int
    name: str  # reflect's String(): "v1.DeploymentSpec", "[]v1.Container", "v1.Protocol"
    basic: str = ""  # scalars: the underlying kind ("string", "int32", "float64")
    elem: GoType | None = None  # slices and maps
    # Structs: JSON name -> type, embedded structs' fields promoted; the struct's own name.
    fields: dict[str, GoType] = field(default_factory=dict)
    struct: str = ""
    bounds: range = range(0)  # integers
    special: str = ""  # a type with its own UnmarshalJSON: "time", "quantity", ...


class MapKey(str):
    """A map key in a Mismatch path (Go's error paths leave them out; field names stay)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A value Go's decoding refuses."""

    path: tuple[str | int, ...]  # struct fields (str), list indices (int), map keys (MapKey)
    struct: str  # the Go struct whose field holds the value (possibly inside slices/maps)
    value: Any
    type: GoType
    # For types with an UnmarshalJSON: the error it returns when that is not an
    # UnmarshalTypeError (`parsing time ...`), or the Go type its UnmarshalTypeError names.
    error: str = ""
    inner: str = ""


# ---- the Go types of the built-in kinds ---------------------------------------------------

_META = "k8s.io.apimachinery.pkg.apis.meta.v1"
_APIEXT = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1"
_SPECIALS = {
    f"{_META}.Time": "time", f"{_META}.MicroTime": "microtime",
    f"{_META}.Duration": "duration",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "intorstring",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "quantity",
    "k8s.io.apimachinery.pkg.api.resource.QuantityValue": "quantity",
}
# Free-form JSON, or an UnmarshalJSON that takes several shapes: anything decodes.
_FREE_FORM = frozenset({
    f"{_META}.FieldsV1", "k8s.io.apimachinery.pkg.runtime.RawExtension", f"{_APIEXT}.JSON",
    f"{_APIEXT}.JSONSchemaPropsOrArray", f"{_APIEXT}.JSONSchemaPropsOrBool",
    f"{_APIEXT}.JSONSchemaPropsOrStringArray",
})
# Go named []string types that go-to-protobuf wraps in a message.
_STRING_SLICES = frozenset({f"{_META}.Verbs", "k8s.io.api.authentication.v1.ExtraValue",
                            "k8s.io.api.authorization.v1.ExtraValue"})
_INT_BOUNDS = {
    "int32": range(-2**31, 2**31), "sint32": range(-2**31, 2**31),
    "sfixed32": range(-2**31, 2**31), "int64": range(-2**63, 2**63),
    "sint64": range(-2**63, 2**63), "sfixed64": range(-2**63, 2**63),
    "uint32": range(2**32), "fixed32": range(2**32), "uint64": range(2**64),
    "fixed64": range(2**64),
}
_GO_INTS = {"sint32": "int32", "sfixed32": "int32", "sint64": "int64", "sfixed64": "int64",
            "fixed32": "uint32", "fixed64": "uint64"}
_INT32 = _INT_BOUNDS["int32"]
_ANY = GoType(ANY, "interface {}")
_STRING = GoType(STRING, "string", "string")


def _scalar(proto_type: str, go_name: str) -> GoType:
    if proto_type == "bytes":
        return GoType(BYTES, go_name or "[]uint8")
    if proto_type in _INT_BOUNDS:
        basic = _GO_INTS.get(proto_type, proto_type)
        return GoType(INT, go_name or basic, basic, bounds=_INT_BOUNDS[proto_type])
    kind, basic = {"string": (STRING, "string"), "bool": (BOOL, "bool"),
                   "double": (FLOAT, "float64"), "float": (FLOAT, "float32")}[proto_type]
    return GoType(kind, go_name or basic, basic)


class _Builder:
    """GoTypes from protobuf messages; each struct is built once (recursive types too)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.structs: dict[str, GoType] = {}

    def message(self, name: str, go_name: str = "") -> GoType:
        package, _, short = name.rpartition(".")
        go_name = go_name or f"{package.rpartition('.')[2]}.{short}"  # v1.Pod, intstr.IntOrString
        if name in _SPECIALS:
            return GoType(SPECIAL, go_name, special=_SPECIALS[name])
        if name in _FREE_FORM:
            return _ANY
        if name in _STRING_SLICES:
            return GoType(SLICE, go_name, elem=_STRING)
        t = self.structs.get(name)
        if t is None:
            t = self.structs[name] = GoType(STRUCT, go_name, struct=short)
            promoted: dict[str, GoType] = {}
            for f in self.schema.message(name).fields:
                if f.inline:
                    promoted.update(self.message(f.type).fields)
                elif not f.skip:
                    t.fields[f.json] = self.field(f)
            for key, value in promoted.items():
                t.fields.setdefault(key, value)  # a struct's own fields hide promoted ones
        return t

    def field(self, f: Field) -> GoType:
        name = f.go_type
        if f.is_map:
            # map[string][]uint8 -> []uint8; a named map (v1.ResourceList) -> from the schema
            elem = self.value(f.type, name.partition("]")[2] if name.startswith("map[") else "")
            return GoType(MAP, name or f"map[{f.map_key}]{elem.name}", elem=elem)
        if f.repeated:
            elem = self.value(f.type, name[2:] if name.startswith("[]") else "")
            return GoType(SLICE, name or f"[]{elem.name}", elem=elem)
        return self.value(f.type, name)

    def value(self, proto_type: str, go_name: str) -> GoType:
        if proto_type in SCALARS:
            return _scalar(proto_type, go_name)
        return self.message(proto_type, go_name)


_lock = threading.Lock()
_builder: _Builder | None = None
_roots: dict[tuple[str, str], GoType | None] = {}


def go_type_of(api_version: str, kind: str) -> GoType | None:
    """The Go struct of a kind, None when there is no schema for it (custom resources)."""
    key = (api_version, kind)
    if key not in _roots:
        global _builder
        with _lock:
            if _builder is None:
                _builder = _Builder(get_schema())
            try:
                _roots[key] = _builder.message(message_name(api_version, kind, _builder.schema))
            except ProtobufError:
                _roots[key] = None
    return _roots[key]


# ---- the walk -----------------------------------------------------------------------------


def check(api_version: str, kind: str, obj: Any) -> Refusals:
    """Every value of `obj` (an object of the kind) Go's decoding refuses."""
    root = go_type_of(api_version, kind)
    refusals = Refusals(root or _ANY)
    if root is not None and isinstance(obj, dict):
        _walk_struct(obj, root, (), refusals.found)
    return refusals


def _walk_struct(obj: dict, t: GoType, path: tuple, found: list[Mismatch]) -> None:
    fields, struct = t.fields, t.struct
    for key, value in obj.items():
        ft = fields.get(key)
        if ft is None or value is None:  # unknown fields are dropped; null is a zero value
            continue
        kind = ft.kind
        if kind == STRING:  # the common cases, inline
            ok = isinstance(value, str)
        elif kind == INT:
            ok = type(value) is int and value in ft.bounds
        elif kind == BOOL:
            ok = isinstance(value, bool)
        else:
            if kind != ANY:
                _walk(value, ft, struct, path + (key,), found)
            continue
        if not ok:
            found.append(Mismatch(path + (key,), struct, value, ft))


def _walk(value: Any, t: GoType, struct: str, path: tuple, found: list[Mismatch]) -> None:
    """Check a non-null `value` decoded into `t`, under a field of Go struct `struct`."""
    kind = t.kind
    if kind == STRUCT:
        if isinstance(value, dict):
            _walk_struct(value, t, path, found)
            return
    elif kind == MAP:
        if isinstance(value, dict):
            elem = t.elem
            assert elem is not None
            for key, item in value.items():
                if item is not None and (elem.kind != STRING or not isinstance(item, str)):
                    _walk(item, elem, struct, path + (MapKey(key),), found)
            return
    elif kind == SLICE:
        if isinstance(value, list):
            elem = t.elem
            assert elem is not None
            for i, item in enumerate(value):
                if item is not None and (elem.kind != STRING or not isinstance(item, str)):
                    _walk(item, elem, struct, path + (i,), found)
            return
    elif kind == STRING:
        if isinstance(value, str):
            return
    elif kind == INT:
        if type(value) is int and value in t.bounds:
            return
    elif kind == BOOL:
        if isinstance(value, bool):
            return
    elif kind == FLOAT:
        if type(value) in (int, float):
            return
    elif kind == BYTES:
        if isinstance(value, str):
            error = govalues.base64_error(value)
            if error:
                found.append(Mismatch(path, struct, value, t, error=error))
            return
    elif kind == SPECIAL:
        refused = _unmarshal(t.special, value)
        if refused:
            found.append(Mismatch(path, struct, value, t, *refused))
        return
    else:
        return
    found.append(Mismatch(path, struct, value, t))


def _unmarshal(special: str, value: Any) -> tuple[str, str] | None:
    """What the type's UnmarshalJSON refuses: (error text, "") or ("", the Go type of its
    UnmarshalTypeError); None when it takes the value."""
    if special == "intorstring":  # a string, or else an int32
        if isinstance(value, str) or type(value) is int and value in _INT32:
            return None
        return "", "int32"
    if special == "quantity":  # ParseQuantity of the string, or of the JSON text itself
        if isinstance(value, str):
            error = govalues.quantity_error(value)
        elif type(value) in (int, float):
            error = None
        else:
            error = govalues.QUANTITY_FORMAT_ERROR
        return (error, "") if error else None
    if not isinstance(value, str):  # times and durations are JSON strings
        return "", "string"
    if special == "duration":
        try:
            parse_duration_ns(value)
        except DurationError as exc:
            return str(exc), ""
        return None
    error = govalues.time_error(value, micro=special == "microtime")
    return (error, "") if error else None


# ---- wording ------------------------------------------------------------------------------


@dataclass
class Refusals:
    """What Go's decoding of one object refuses (falsy when nothing), in document order."""

    root: GoType
    found: list[Mismatch] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.found)

    def go_json_error(self) -> str | None:
        """encoding/json's error: the first UnmarshalJSON failure (decoding stops there),
        else the first type error (decoding goes on, the first one is kept)."""
        if not self.found:
            return None
        m = next((m for m in self.found if m.type.kind == SPECIAL), self.found[0])
        if m.error:
            return m.error
        fields = ".".join(p for p in m.path if type(p) is str)
        numeric = m.type.kind in (INT, FLOAT) or m.inner == "int32"
        return (f"json: cannot unmarshal {_json_value(m.value, numeric)} into Go struct field "
                f"{m.struct}.{fields} of type {m.inner or m.type.name}")

    def converter_error(self) -> str | None:
        """runtime.DefaultUnstructuredConverter's error for the first value (in struct field
        order) it refuses: it converts any integer into an integer field, whole floats too."""
        refused = [m for m in self.found if not (
            m.type.kind == INT and type(m.value) in (int, float) and m.value == int(m.value))]
        if not refused:
            return None
        m = min(refused, key=lambda m: _declaration_order(self.root, m.path))
        if m.inner:  # UnmarshalJSON through a JSON round trip: no field context
            numeric = m.inner == "int32"
            return (f"json: cannot unmarshal {_json_value(m.value, numeric)} into Go value of "
                    f"type {m.inner}")
        if m.error:
            return f"error decoding from json: {m.error}" if m.type.kind == BYTES else m.error
        return _converter_type_error(m.value, m.type)

    def smd_errors(self) -> list[tuple[tuple[str | int, ...], str]]:
        """(path, message) of each value structured-merge-diff's typing refuses: it looks
        at JSON types only (any number for an integer) and parses no strings."""
        return [(m.path, expected) for m in self.found if (expected := _smd_expected(m))]


def _declaration_order(t: GoType, path: tuple[str | int, ...]) -> tuple[int, ...]:
    """When the converter reaches a value: struct fields in field-number order (Go declares
    nearly all of them in that order), list items by index, map entries in Go's (random)
    map order."""
    order = []
    for step in path:
        if isinstance(step, (MapKey, int)):
            order.append(0 if isinstance(step, MapKey) else step)
            t = t.elem  # type: ignore[assignment]
        else:
            order.append(list(t.fields).index(step))
            t = t.fields[step]
    return tuple(order)


def _converter_type_error(value: Any, t: GoType) -> str:
    source = go_type(value)  # int64, float64, string, bool, map[...]..., []interface {}
    source_kind = {"map[string]interface {}": "map", "[]interface {}": "slice"}.get(source,
                                                                                   source)
    if t.kind == STRUCT:
        return f"cannot restore struct from: {source_kind}"
    if t.kind in (SLICE, BYTES):
        return f"cannot restore slice from {source_kind}"
    if t.kind == MAP:
        return f"cannot restore map from {source_kind}"
    # Go converts an int64 into numbers and strings (as a rune), a float64 into numbers.
    if source == "int64" and t.kind in (INT, FLOAT, STRING) or \
            source == "float64" and t.kind in (INT, FLOAT):
        return f"cannot convert {source} to {t.name}"
    return f"unrecognized type: {t.basic}"


def _smd_expected(m: Mismatch) -> str:
    value, kind, special = m.value, m.type.kind, m.type.special
    unstructured = f"&{{{go_fmt(value)}}}"  # %v of a value.Value
    if kind in (STRING, BYTES) or special in ("time", "microtime", "duration"):
        if isinstance(value, str):
            return ""
        return f"expected string, got &value.valueUnstructured{{Value:{_go_syntax(value)}}}"
    if kind in (INT, FLOAT):
        if type(value) in (int, float):
            return ""
        return f"expected numeric (int or float), got {go_type(value)}"
    if kind == BOOL:
        return f"expected boolean, got {unstructured}"
    if kind in (STRUCT, MAP):
        return f"expected map, got {unstructured}"
    if kind == SLICE:
        return f"expected list, got {unstructured}"
    if isinstance(value, (dict, list)):  # IntOrString and Quantity are untyped scalars
        return f"expected any scalar, got {unstructured}"
    return ""


def _json_value(value: Any, numeric: bool) -> str:
    """UnmarshalTypeError.Value: the JSON type, with the number's text for numeric fields."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return f"number {value!r}" if numeric else "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _go_syntax(value: Any) -> str:
    """`%#v` of a decoded JSON value (an interface{})."""
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_syntax(v) for v in value) + "}"
    if isinstance(value, dict):
        return "map[string]interface {}{" + ", ".join(
            f"{go_quote(k)}:{_go_syntax(value[k])}" for k in sorted(value)) + "}"
    return "interface {}(nil)" if value is None else go_fmt(value)
