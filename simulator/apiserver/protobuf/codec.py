"""Kubernetes protobuf bodies <-> the JSON dicts Go's encoding/json gives for the same objects.

A body is the 4-byte magic `k8s\\x00` and a `runtime.Unknown` message: typeMeta {apiVersion,
kind}, raw (the object's own message), contentEncoding, contentType. The object's message is
read with the schema of the vendored generated.proto files and written out the way client-go
would have written it as JSON (json.Marshal of the Go struct): zero values of plain Go fields
are kept unless the field has `omitempty`, pointers are kept whenever they were sent, embedded
structs are inlined, and the types with their own JSON form (Time, MicroTime, Duration,
IntOrString, Quantity, RawExtension, FieldsV1, apiextensions JSON and JSONSchemaPropsOr*) are
converted. `encode` does the reverse and writes the fields as gogo-protobuf's generated code
does (ascending field numbers, plain Go fields always, map keys sorted).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import struct
from collections.abc import Callable
from typing import Any

from ...gotime import DurationError, parse_duration_ns
from .errors import ProtobufError
from .schema import Field, Message, Schema, get_schema

MAGIC = b"k8s\x00"

META = "k8s.io.apimachinery.pkg.apis.meta.v1"
CORE = "k8s.io.api.core.v1"
APIEXT = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions"
RUNTIME = "k8s.io.apimachinery.pkg.runtime"

# Kinds registered in every group version (metav1.AddToGroupVersion) and under meta.k8s.io.
META_KINDS = frozenset({
    "DeleteOptions", "ListOptions", "GetOptions", "CreateOptions", "UpdateOptions",
    "PatchOptions", "Status", "WatchEvent", "APIVersions", "APIGroupList", "APIGroup",
    "APIResourceList", "PartialObjectMetadata", "PartialObjectMetadataList",
})
# API groups whose Go package under k8s.io/api is not the group's first label.
GROUP_PACKAGES = {"internal.apiserver.k8s.io": "apiserverinternal"}

_U64 = (1 << 64) - 1
_ZERO_TIME_SECONDS = -62135596800  # Go's time.Time{} (January 1, year 1, UTC) as Unix seconds
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

# ---------------------------------------------------------------------------------------------
# Wire format


def _read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise ProtobufError("truncated protobuf data (varint runs past the end)")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result & _U64, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError("malformed protobuf data (varint longer than 10 bytes)")


def _parse(buf: bytes) -> dict[int, list[tuple[int, Any]]]:
    """Split a message into {field number: [(wire type, value), ...]} in wire order."""
    out: dict[int, list[tuple[int, Any]]] = {}
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = _read_varint(buf, pos, end)
        number, wt = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("malformed protobuf data (field number 0)")
        if wt == 0:
            value, pos = _read_varint(buf, pos, end)
        elif wt == 2:
            length, pos = _read_varint(buf, pos, end)
            if pos + length > end:
                raise ProtobufError("truncated protobuf data (a field runs past the end)")
            value = buf[pos:pos + length]
            pos += length
        elif wt == 1:
            if pos + 8 > end:
                raise ProtobufError("truncated protobuf data (64-bit field)")
            value = buf[pos:pos + 8]
            pos += 8
        elif wt == 5:
            if pos + 4 > end:
                raise ProtobufError("truncated protobuf data (32-bit field)")
            value = buf[pos:pos + 4]
            pos += 4
        else:
            raise ProtobufError(f"malformed protobuf data (unsupported wire type {wt})")
        out.setdefault(number, []).append((wt, value))
    return out


def _write_varint(out: bytearray, value: int) -> None:
    value &= _U64
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _write_tag(out: bytearray, number: int, wt: int) -> None:
    _write_varint(out, (number << 3) | wt)


def _write_bytes(out: bytearray, number: int, data: bytes) -> None:
    _write_tag(out, number, 2)
    _write_varint(out, len(data))
    out += data


_VARINT_TYPES = frozenset({"int32", "int64", "uint32", "uint64", "sint32", "sint64", "bool"})
_FIXED64_TYPES = frozenset({"double", "fixed64", "sfixed64"})
_FIXED32_TYPES = frozenset({"float", "fixed32", "sfixed32"})
_WIRE_TYPE = {
    **dict.fromkeys(_VARINT_TYPES, 0), **dict.fromkeys(_FIXED64_TYPES, 1),
    **dict.fromkeys(_FIXED32_TYPES, 5), "string": 2, "bytes": 2,
}
_STRUCT_FMT = {"double": "<d", "fixed64": "<Q", "sfixed64": "<q",
               "float": "<f", "fixed32": "<I", "sfixed32": "<i"}
_ZERO: dict[str, Any] = {
    **dict.fromkeys(_VARINT_TYPES - {"bool"}, 0), **dict.fromkeys(_FIXED64_TYPES, 0),
    **dict.fromkeys(_FIXED32_TYPES, 0), "bool": False, "string": "", "bytes": "",
}
_ZERO["double"] = _ZERO["float"] = 0.0


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _varint_to_json(ftype: str, v: int) -> Any:
    if ftype == "int64":
        return _signed(v, 64)
    if ftype == "int32":
        return _signed(v, 32)
    if ftype == "bool":
        return v != 0
    if ftype == "uint32":
        return v & 0xFFFFFFFF
    if ftype == "uint64":
        return v
    if ftype == "sint32":
        v &= 0xFFFFFFFF
        return (v >> 1) ^ -(v & 1)
    if ftype == "sint64":
        return (v >> 1) ^ -(v & 1)
    raise ProtobufError(f"not a varint type: {ftype}")


def _scalar_to_json(ftype: str, wt: int, value: Any, where: str) -> Any:
    want = _WIRE_TYPE[ftype]
    if wt != want:
        raise ProtobufError(f"{where}: wrong wire type {wt} for a {ftype} field")
    if ftype == "string":
        return value.decode("utf-8", errors="replace")
    if ftype == "bytes":
        return base64.b64encode(value).decode("ascii")
    if wt == 0:
        return _varint_to_json(ftype, value)
    return struct.unpack(_STRUCT_FMT[ftype], value)[0]


def _scalar_list_to_json(ftype: str, entries: list[tuple[int, Any]], where: str) -> list[Any]:
    out: list[Any] = []
    want = _WIRE_TYPE[ftype]
    for wt, value in entries:
        if wt == 2 and want != 2:  # packed
            if want == 0:
                pos, end = 0, len(value)
                while pos < end:
                    v, pos = _read_varint(value, pos, end)
                    out.append(_varint_to_json(ftype, v))
            else:
                fmt = _STRUCT_FMT[ftype]
                size = struct.calcsize(fmt)
                if len(value) % size:
                    raise ProtobufError(f"{where}: truncated packed {ftype} list")
                out.extend(x[0] for x in struct.iter_unpack(fmt, value))
        else:
            out.append(_scalar_to_json(ftype, wt, value, where))
    return out


def _scalar_to_wire(out: bytearray, number: int, ftype: str, value: Any, where: str) -> None:
    if ftype == "string":
        if not isinstance(value, str):
            raise ProtobufError(f"{where}: expected a string, got {type(value).__name__}")
        _write_bytes(out, number, value.encode("utf-8"))
    elif ftype == "bytes":
        _write_bytes(out, number, _b64decode(value, where))
    elif ftype == "bool":
        if not isinstance(value, bool):
            raise ProtobufError(f"{where}: expected a boolean, got {type(value).__name__}")
        _write_tag(out, number, 0)
        out.append(1 if value else 0)
    elif ftype in _VARINT_TYPES:
        n = _as_int(value, where)
        if ftype in ("sint32", "sint64"):
            n = (n << 1) ^ (n >> 63)
        _write_tag(out, number, 0)
        _write_varint(out, n)
    else:
        fmt = _STRUCT_FMT[ftype]
        if ftype in ("double", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ProtobufError(f"{where}: expected a number, got {type(value).__name__}")
            packed = struct.pack(fmt, float(value))
        else:
            packed = struct.pack(fmt, _as_int(value, where))
        _write_tag(out, number, _WIRE_TYPE[ftype])
        out += packed


def _as_int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ProtobufError(f"{where}: expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ProtobufError(f"{where}: expected an integer, got {value!r}")


def _b64decode(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise ProtobufError(f"{where}: expected a base64 string, got {type(value).__name__}")
    try:
        return base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtobufError(f"{where}: illegal base64 data: {exc}") from exc


def _last_varint(fields: dict[int, list[tuple[int, Any]]], number: int, where: str) -> int:
    entries = fields.get(number)
    if not entries:
        return 0
    wt, value = entries[-1]
    if wt != 0:
        raise ProtobufError(f"{where}: wrong wire type {wt} for field {number}")
    return value


def _last_bytes(fields: dict[int, list[tuple[int, Any]]], number: int, where: str) -> bytes | None:
    entries = fields.get(number)
    if not entries:
        return None
    wt, value = entries[-1]
    if wt != 2:
        raise ProtobufError(f"{where}: wrong wire type {wt} for field {number}")
    return value


def _joined(entries: list[tuple[int, Any]], where: str) -> bytes:
    """Repeated occurrences of a singular message field merge: concatenate their bytes."""
    for wt, _ in entries:
        if wt != 2:
            raise ProtobufError(f"{where}: wrong wire type {wt} for a message field")
    if len(entries) == 1:
        return entries[0][1]
    return b"".join(v for _, v in entries)


# ---------------------------------------------------------------------------------------------
# Types with their own JSON form


def _time_to_json(data: bytes, micro: bool, where: str) -> str | None:
    if not data:
        return None
    fields = _parse(data)
    seconds = _signed(_last_varint(fields, 1, where), 64)
    nanos = _signed(_last_varint(fields, 2, where), 32) if micro else 0
    micros = int(nanos / 1000)  # truncated toward zero, as Duration.Truncate does
    seconds += micros // 1_000_000
    micros %= 1_000_000
    if seconds == _ZERO_TIME_SECONDS and micros == 0:
        return None
    try:
        t = _EPOCH + dt.timedelta(seconds=seconds, microseconds=micros)
    except OverflowError:
        raise ProtobufError(f"{where}: time out of range ({seconds} seconds)") from None
    text = (f"{t.year:04d}-{t.month:02d}-{t.day:02d}T"
            f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}")
    if micro:
        text += f".{t.microsecond:06d}"
    return text + "Z"


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})")


def _parse_time(value: Any, where: str) -> tuple[int, int] | None:
    """RFC 3339 text -> (Unix seconds, microseconds), None for Go's zero time."""
    if value is None or value == "":
        return None
    m = _RFC3339.fullmatch(value.strip()) if isinstance(value, str) else None
    if m is None:
        raise ProtobufError(f"{where}: expected an RFC 3339 time, got {value!r}")
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    if zone in ("Z", "z"):
        offset = 0
    else:
        offset = (int(zone[1:3]) * 60 + int(zone[4:6])) * (-1 if zone[0] == "-" else 1)
    try:
        t = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                        tzinfo=dt.timezone(dt.timedelta(minutes=offset)))
    except ValueError as exc:
        raise ProtobufError(f"{where}: bad RFC 3339 time {value!r}: {exc}") from exc
    delta = t - _EPOCH
    seconds = delta.days * 86400 + delta.seconds
    micros = int((fraction or "0").ljust(6, "0")[:6])  # truncated, as MicroTime does
    if seconds == _ZERO_TIME_SECONDS and micros == 0:
        return None
    return seconds, micros


def _time_to_wire(value: Any, micro: bool, where: str) -> bytes:
    parsed = _parse_time(value, where)
    if parsed is None:
        return b""
    seconds, micros = parsed
    out = bytearray()
    _write_tag(out, 1, 0)
    _write_varint(out, seconds)
    _write_tag(out, 2, 0)
    _write_varint(out, micros * 1000 if micro else 0)
    return bytes(out)


def go_duration_string(ns: int) -> str:
    """Go's time.Duration.String()."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)

    def frac(v: int, prec: int) -> tuple[int, str]:
        whole, rest = divmod(v, 10**prec)
        digits = f"{rest:0{prec}d}".rstrip("0")
        return whole, f".{digits}" if digits else ""

    if u < 1_000_000_000:
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            whole, f = frac(u, 3)
            return f"{sign}{whole}{f}\u00b5s"
        whole, f = frac(u, 6)
        return f"{sign}{whole}{f}ms"
    secs, f = frac(u, 9)
    text = f"{secs % 60}{f}s"
    minutes = secs // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        hours = minutes // 60
        if hours:
            text = f"{hours}h{text}"
    return sign + text


def parse_go_duration(text: Any, where: str = "duration") -> int:
    """Go's time.ParseDuration -> nanoseconds."""
    if not isinstance(text, str):
        raise ProtobufError(f"{where}: invalid duration {text!r}")
    try:
        return parse_duration_ns(text)
    except DurationError as exc:
        raise ProtobufError(f"{where}: {exc}") from exc


def _raw_json_to_json(raw: bytes | None, where: str) -> Any:
    if not raw:
        return None
    if raw.startswith(MAGIC):
        return decode(raw)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ProtobufError(f"{where}: embedded data is not JSON: {exc}") from exc


def _json_to_raw(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _dec_time(s: Schema, data: bytes, where: str) -> Any:
    return _time_to_json(data, False, where)


def _enc_time(s: Schema, value: Any, where: str) -> bytes:
    return _time_to_wire(value, False, where)


def _dec_microtime(s: Schema, data: bytes, where: str) -> Any:
    return _time_to_json(data, True, where)


def _enc_microtime(s: Schema, value: Any, where: str) -> bytes:
    return _time_to_wire(value, True, where)


def _dec_duration(s: Schema, data: bytes, where: str) -> Any:
    return go_duration_string(_signed(_last_varint(_parse(data), 1, where), 64))


def _enc_duration(s: Schema, value: Any, where: str) -> bytes:
    out = bytearray()
    _write_tag(out, 1, 0)
    _write_varint(out, 0 if value is None else parse_go_duration(value, where))
    return bytes(out)


def _dec_intorstr(s: Schema, data: bytes, where: str) -> Any:
    fields = _parse(data)
    kind = _signed(_last_varint(fields, 1, where), 64)
    if kind == 0:
        return _signed(_last_varint(fields, 2, where), 32)
    if kind == 1:
        raw = _last_bytes(fields, 3, where)
        return "" if raw is None else raw.decode("utf-8", errors="replace")
    raise ProtobufError(f"{where}: impossible IntOrString.Type {kind}")


def _enc_intorstr(s: Schema, value: Any, where: str) -> bytes:
    out = bytearray()
    if isinstance(value, str):
        kind, ival, sval = 1, 0, value
    elif value is None:
        kind, ival, sval = 0, 0, ""
    else:
        kind, ival, sval = 0, _as_int(value, where), ""
    _write_tag(out, 1, 0)
    _write_varint(out, kind)
    _write_tag(out, 2, 0)
    _write_varint(out, ival)
    _write_bytes(out, 3, sval.encode("utf-8"))
    return bytes(out)


def _dec_quantity(s: Schema, data: bytes, where: str) -> Any:
    raw = _last_bytes(_parse(data), 1, where)
    if not raw:
        return "0"  # Go's zero Quantity
    return raw.decode("utf-8", errors="replace")


def _enc_quantity(s: Schema, value: Any, where: str) -> bytes:
    if value is None:
        text = "0"
    elif isinstance(value, str):
        text = value.strip()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        text = str(value) if isinstance(value, int) or not value.is_integer() else str(int(value))
    else:
        raise ProtobufError(f"{where}: expected a quantity, got {value!r}")
    out = bytearray()
    _write_bytes(out, 1, text.encode("utf-8"))
    return bytes(out)


def _dec_raw1(s: Schema, data: bytes, where: str) -> Any:
    """RawExtension, FieldsV1, apiextensions JSON: field 1 holds the JSON text."""
    return _raw_json_to_json(_last_bytes(_parse(data), 1, where), where)


def _enc_raw1(s: Schema, value: Any, where: str) -> bytes:
    if value is None:
        return b""
    out = bytearray()
    _write_bytes(out, 1, _json_to_raw(value))
    return bytes(out)


def _dec_items(s: Schema, data: bytes, where: str) -> Any:
    """Verbs, ExtraValue: a Go []string that go-to-protobuf wraps in a message."""
    entries = _parse(data).get(1)
    return _scalar_list_to_json("string", entries, where) if entries else None


def _enc_items(s: Schema, value: Any, where: str) -> bytes:
    out = bytearray()
    for item in _as_list(value, where):
        _scalar_to_wire(out, 1, "string", item, where)
    return bytes(out)


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProtobufError(f"{where}: expected a list, got {type(value).__name__}")
    return value


_SCHEMA_PROPS = f"{APIEXT}.v1.JSONSchemaProps"


def _dec_props_or_array(s: Schema, data: bytes, where: str) -> Any:
    fields = _parse(data)
    props = s.message(_SCHEMA_PROPS)
    if fields.get(2):
        return [_message_to_json(s, props, v, where) for _, v in fields[2]]
    if fields.get(1):
        return _message_to_json(s, props, _joined(fields[1], where), where)
    return None


def _enc_props_or_array(s: Schema, value: Any, where: str) -> bytes:
    props = s.message(_SCHEMA_PROPS)
    out = bytearray()
    if isinstance(value, list):
        for item in value:
            _write_bytes(out, 2, _message_to_wire(s, props, item, where))
    elif value is not None:
        _write_bytes(out, 1, _message_to_wire(s, props, value, where))
    return bytes(out)


def _dec_props_or_bool(s: Schema, data: bytes, where: str) -> Any:
    fields = _parse(data)
    if fields.get(2):
        return _message_to_json(s, s.message(_SCHEMA_PROPS), _joined(fields[2], where), where)
    return _last_varint(fields, 1, where) != 0


def _enc_props_or_bool(s: Schema, value: Any, where: str) -> bytes:
    out = bytearray()
    _write_tag(out, 1, 0)
    if isinstance(value, dict):
        out.append(1)
        _write_bytes(out, 2, _message_to_wire(s, s.message(_SCHEMA_PROPS), value, where))
    elif value is None or isinstance(value, bool):
        out.append(1 if value else 0)
    else:
        raise ProtobufError(f"{where}: expected a schema or a boolean, got {value!r}")
    return bytes(out)


def _dec_props_or_strings(s: Schema, data: bytes, where: str) -> Any:
    fields = _parse(data)
    if fields.get(2):
        return _scalar_list_to_json("string", fields[2], where)
    if fields.get(1):
        return _message_to_json(s, s.message(_SCHEMA_PROPS), _joined(fields[1], where), where)
    return None


def _enc_props_or_strings(s: Schema, value: Any, where: str) -> bytes:
    out = bytearray()
    if isinstance(value, list):
        for item in value:
            _scalar_to_wire(out, 2, "string", item, where)
    elif value is not None:
        _write_bytes(out, 1, _message_to_wire(s, s.message(_SCHEMA_PROPS), value, where))
    return bytes(out)


_Decoder = Callable[[Schema, bytes, str], Any]
_Encoder = Callable[[Schema, Any, str], bytes]
SPECIAL: dict[str, tuple[_Decoder, _Encoder]] = {
    f"{META}.Time": (_dec_time, _enc_time),
    f"{META}.MicroTime": (_dec_microtime, _enc_microtime),
    f"{META}.Duration": (_dec_duration, _enc_duration),
    f"{META}.FieldsV1": (_dec_raw1, _enc_raw1),
    f"{META}.Verbs": (_dec_items, _enc_items),
    f"{RUNTIME}.RawExtension": (_dec_raw1, _enc_raw1),
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": (_dec_intorstr, _enc_intorstr),
    "k8s.io.apimachinery.pkg.api.resource.Quantity": (_dec_quantity, _enc_quantity),
    "k8s.io.apimachinery.pkg.api.resource.QuantityValue": (_dec_quantity, _enc_quantity),
    "k8s.io.api.authentication.v1.ExtraValue": (_dec_items, _enc_items),
    "k8s.io.api.authorization.v1.ExtraValue": (_dec_items, _enc_items),
    f"{APIEXT}.v1.JSON": (_dec_raw1, _enc_raw1),
    f"{APIEXT}.v1.JSONSchemaPropsOrArray": (_dec_props_or_array, _enc_props_or_array),
    f"{APIEXT}.v1.JSONSchemaPropsOrBool": (_dec_props_or_bool, _enc_props_or_bool),
    f"{APIEXT}.v1.JSONSchemaPropsOrStringArray": (_dec_props_or_strings, _enc_props_or_strings),
}

# Messages that stand for a Go named slice type: omitempty drops them when empty.
_SLICE_MESSAGES = frozenset(name for name, (dec, _) in SPECIAL.items() if dec is _dec_items)

# ---------------------------------------------------------------------------------------------
# Messages


def _is_empty(value: Any) -> bool:
    """Go's encoding/json notion of an empty value for omitempty (scalars, lists, maps)."""
    return value is None or value is False or value == 0 or value == "" or value == [] \
        or value == {}


def _message_to_json(s: Schema, msg: Message, data: bytes, where: str) -> Any:
    special = SPECIAL.get(msg.name)
    if special is not None:
        return special[0](s, data, where)
    fields = _parse(data)
    out: dict[str, Any] = {}
    inlined: list[Any] = []
    for f in msg.fields:
        if f.skip:
            continue
        entries = fields.get(f.number)
        fwhere = f"{where}.{f.json or f.name}"
        if f.repeated:
            value: Any
            if f.is_map:
                value = _map_to_json(s, f, entries or [], fwhere)
            elif not entries:
                value = []
            elif f.is_message:
                sub = s.message(f.type)
                value = [_message_to_json(s, sub, _joined([e], fwhere), fwhere) for e in entries]
            else:
                value = _scalar_list_to_json(f.type, entries, fwhere)
            if not value:
                if f.omitempty:
                    continue
                value = None  # a nil Go slice or map
        elif entries is None:
            if f.pointer or f.type == "bytes":  # nil pointer or nil []byte
                if f.omitempty:
                    continue
                value = None
            elif f.is_message:
                value = _message_to_json(s, s.message(f.type), b"", fwhere)
            else:
                value = _ZERO[f.type]
                if f.omitempty:
                    continue
        elif f.is_message:
            value = _message_to_json(s, s.message(f.type), _joined(entries, fwhere), fwhere)
        else:
            wt, raw = entries[-1]
            value = _scalar_to_json(f.type, wt, raw, fwhere)
            if f.omitempty and not f.pointer and _is_empty(value):
                continue
        if value is None and f.omitempty and f.type in _SLICE_MESSAGES:
            continue  # a Go named slice type (Verbs, ExtraValue), empty
        if f.inline:
            inlined.append(value)
        else:
            out[f.json] = value
    for extra in inlined:
        if isinstance(extra, dict):
            for key, value in extra.items():
                out.setdefault(key, value)
    return out


def _map_to_json(s: Schema, f: Field, entries: list[tuple[int, Any]], where: str) -> dict:
    out: dict[str, Any] = {}
    sub = s.message(f.type) if f.is_message else None
    for wt, data in entries:
        if wt != 2:
            raise ProtobufError(f"{where}: wrong wire type {wt} for a map entry")
        entry = _parse(data)
        key_entries = entry.get(1)
        if key_entries:
            key = _scalar_to_json(f.map_key, *key_entries[-1], where)
        else:
            key = _ZERO[f.map_key]
        value_entries = entry.get(2)
        if sub is not None:
            value = _message_to_json(s, sub, _joined(value_entries, where) if value_entries
                                     else b"", f"{where}[{key}]")
            if value is None and f.type in _SLICE_MESSAGES:
                value = []  # gogo decodes a map value into &ExtraValue{}: empty, not nil
        elif value_entries:
            value = _scalar_to_json(f.type, *value_entries[-1], where)
        else:
            value = _ZERO[f.type]
        out[str(key) if not isinstance(key, bool) else ("true" if key else "false")] = value
    return out


def _message_to_wire(s: Schema, msg: Message, obj: Any, where: str) -> bytes:
    special = SPECIAL.get(msg.name)
    if special is not None:
        return special[1](s, obj, where)
    if obj is None:
        obj = {}
    elif not isinstance(obj, dict):
        raise ProtobufError(f"{where}: expected an object, got {type(obj).__name__}")
    out = bytearray()
    for f in msg.fields:
        if f.skip:
            continue
        value = obj if f.inline else obj.get(f.json)
        fwhere = f"{where}.{f.json or f.name}"
        if f.repeated:
            if value is None:
                continue
            if f.is_map:
                _map_to_wire(s, f, value, out, fwhere)
            elif f.is_message:
                sub = s.message(f.type)
                for item in _as_list(value, fwhere):
                    _write_bytes(out, f.number, _message_to_wire(s, sub, item, fwhere))
            else:
                for item in _as_list(value, fwhere):
                    _scalar_to_wire(out, f.number, f.type, item, fwhere)
        elif value is None:
            if f.pointer or f.type == "bytes":
                continue
            if f.is_message:
                _write_bytes(out, f.number, _message_to_wire(s, s.message(f.type), None, fwhere))
            else:
                _scalar_to_wire(out, f.number, f.type, _ZERO[f.type], fwhere)
        elif f.is_message:
            _write_bytes(out, f.number, _message_to_wire(s, s.message(f.type), value, fwhere))
        else:
            _scalar_to_wire(out, f.number, f.type, value, fwhere)
    return bytes(out)


def _map_to_wire(s: Schema, f: Field, value: Any, out: bytearray, where: str) -> None:
    if not isinstance(value, dict):
        raise ProtobufError(f"{where}: expected an object, got {type(value).__name__}")
    sub = s.message(f.type) if f.is_message else None
    for key in sorted(value):
        item = value[key]
        entry = bytearray()
        if f.map_key == "string":
            _scalar_to_wire(entry, 1, "string", key, where)
        else:
            _scalar_to_wire(entry, 1, f.map_key, int(key), where)
        if sub is not None:
            _write_bytes(entry, 2, _message_to_wire(s, sub, item, f"{where}[{key}]"))
        elif item is not None:
            _scalar_to_wire(entry, 2, f.type, item, f"{where}[{key}]")
        elif f.type != "bytes":
            _scalar_to_wire(entry, 2, f.type, _ZERO[f.type], f"{where}[{key}]")
        _write_bytes(out, f.number, bytes(entry))


# ---------------------------------------------------------------------------------------------
# Envelope


def message_name(api_version: str, kind: str, schema: Schema | None = None) -> str:
    """The proto message of an apiVersion and kind, e.g. networking.k8s.io/v1 Ingress ->
    k8s.io.api.networking.v1.Ingress. Raises ProtobufError when the schema has none."""
    s = schema or get_schema()
    if not api_version or not kind:
        raise ProtobufError(f"object has no apiVersion or kind (apiVersion={api_version!r}, "
                            f"kind={kind!r})")
    group, _, version = api_version.rpartition("/")
    if not version or "." in version:
        raise ProtobufError(f"unknown apiVersion {api_version!r}")
    if group == "":
        package = f"k8s.io.api.core.{version}"
    elif group == "meta.k8s.io":
        package = f"k8s.io.apimachinery.pkg.apis.meta.{version}"
    elif group == "apiextensions.k8s.io":
        package = f"{APIEXT}.{version}"
    elif group in GROUP_PACKAGES:
        package = f"k8s.io.api.{GROUP_PACKAGES[group]}.{version}"
    elif "." not in group or group.endswith(".k8s.io"):
        package = f"k8s.io.api.{group.split('.')[0]}.{version}"
    else:
        raise ProtobufError(f"no protobuf schema for apiVersion {api_version!r}")
    name = f"{package}.{kind}"
    if name in s.messages:
        return name
    if kind in META_KINDS and (package in s.packages or group == "meta.k8s.io"):
        return f"{META}.{kind}"
    if package not in s.packages:
        raise ProtobufError(f"no protobuf schema for apiVersion {api_version!r}")
    raise ProtobufError(f"no protobuf schema for kind {kind!r} in {api_version!r}")


def decode(body: bytes) -> dict:
    """A `application/vnd.kubernetes.protobuf` body -> the object as client-go's JSON would be,
    with apiVersion and kind from the envelope."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise ProtobufError(f"expected bytes, got {type(body).__name__}")
    body = bytes(body)
    if not body:
        raise ProtobufError("empty data")
    if body[:4] != MAGIC:
        raise ProtobufError("provided data does not appear to be a protobuf message, "
                            "expected prefix 6b 38 73 00 ('k8s\\x00')")
    if len(body) == 4:
        raise ProtobufError("empty body")
    envelope = _parse(body[4:])
    type_meta = _parse(_last_bytes(envelope, 1, "typeMeta") or b"")
    api_version = (_last_bytes(type_meta, 1, "typeMeta.apiVersion") or b"").decode(
        "utf-8", errors="replace")
    kind = (_last_bytes(type_meta, 2, "typeMeta.kind") or b"").decode("utf-8", errors="replace")
    encoding = _last_bytes(envelope, 3, "contentEncoding")
    if encoding:
        raise ProtobufError(f"unsupported contentEncoding {encoding!r}")
    if not kind:
        raise ProtobufError("the envelope has no kind")
    if not api_version:
        raise ProtobufError("the envelope has no apiVersion")
    s = get_schema()
    msg = s.message(message_name(api_version, kind, s))
    raw = _last_bytes(envelope, 2, "raw") or b""
    obj = _message_to_json(s, msg, raw, kind)
    if not isinstance(obj, dict):
        raise ProtobufError(f"{kind} is not an object")
    return {"apiVersion": api_version, "kind": kind, **obj}


def encode(obj: dict) -> bytes:
    """An object (a JSON dict with apiVersion and kind) -> `k8s\\x00` + runtime.Unknown bytes."""
    if not isinstance(obj, dict):
        raise ProtobufError(f"expected an object, got {type(obj).__name__}")
    api_version = obj.get("apiVersion") or ""
    kind = obj.get("kind") or ""
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise ProtobufError("apiVersion and kind must be strings")
    s = get_schema()
    msg = s.message(message_name(api_version, kind, s))
    raw = _message_to_wire(s, msg, obj, kind)
    type_meta = bytearray()
    _write_bytes(type_meta, 1, api_version.encode("utf-8"))
    _write_bytes(type_meta, 2, kind.encode("utf-8"))
    out = bytearray(MAGIC)
    _write_bytes(out, 1, bytes(type_meta))
    _write_bytes(out, 2, raw)
    _write_bytes(out, 3, b"")
    _write_bytes(out, 4, b"")
    return bytes(out)
