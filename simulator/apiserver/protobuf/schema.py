"""The message schema: the vendored generated.proto files plus Go's JSON facts (jsoninfo.json).

A tiny parser of the proto2 subset that go-to-protobuf writes (package, import, option,
message with optional/repeated fields and map<k, v>, nested messages), loaded once.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ProtobufError

HERE = Path(__file__).resolve().parent
PROTO_DIR = HERE / "proto"
JSONINFO_PATH = HERE / "jsoninfo.json"

SCALARS = frozenset({
    "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
    "fixed32", "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes",
})


@dataclass(slots=True)
class Field:
    """One field of a message, with what Go's encoding/json does with it."""

    number: int
    name: str  # proto name
    type: str  # scalar name, or the full name of a message (no leading dot)
    repeated: bool = False
    map_key: str = ""  # set for map<k, v>: then `type` is v's type
    json: str = ""  # JSON name ("" when inline or skipped)
    pointer: bool = False  # Go pointer: written on the wire only when set
    omitempty: bool = True
    inline: bool = False  # embedded struct whose fields Go's JSON promotes into the parent
    skip: bool = False  # json:"-"
    go_type: str = ""  # what encoding/json decodes into, as reflect names it ("v1.Protocol")

    @property
    def is_map(self) -> bool:
        return bool(self.map_key)

    @property
    def is_message(self) -> bool:
        return self.type not in SCALARS


@dataclass(slots=True)
class Message:
    name: str  # full name, e.g. k8s.io.api.core.v1.Pod
    fields: list[Field] = field(default_factory=list)  # by field number
    by_number: dict[int, Field] = field(default_factory=dict)
    has_go_info: bool = False


@dataclass(slots=True)
class Schema:
    messages: dict[str, Message]
    packages: frozenset[str]

    def message(self, name: str) -> Message:
        try:
            return self.messages[name]
        except KeyError:
            raise ProtobufError(f"unknown protobuf message {name}") from None


_TOKEN_RE = re.compile(r'\s+|//[^\n]*|/\*.*?\*/|"(?:[^"\\]|\\.)*"|[\w.]+|[{}<>;=,\[\]()]', re.S)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise ProtobufError(f"cannot parse .proto text at {text[pos:pos + 30]!r}")
        tok = m.group()
        pos = m.end()
        if tok[0].isspace() or tok.startswith("//") or tok.startswith("/*"):
            continue
        out.append(tok)
    return out


@dataclass
class _ParsedFile:
    package: str
    imports: list[str]
    # message full name -> list of (label, type as written, name, number, map key)
    messages: dict[str, list[tuple[str, str, str, int, str]]]


def _skip_statement(toks: list[str], i: int) -> int:
    """Skip to just past the next ';' at this nesting level (options, reserved, ...)."""
    depth = 0
    while i < len(toks):
        t = toks[i]
        if t in "{[(":
            depth += 1
        elif t in "}])":
            depth -= 1
        elif t == ";" and depth == 0:
            return i + 1
        i += 1
    return i


def _parse_file(text: str) -> _ParsedFile:
    toks = _tokens(text)
    package = ""
    imports: list[str] = []
    messages: dict[str, list[tuple[str, str, str, int, str]]] = {}
    i = 0

    def parse_message(i: int, scope: str) -> int:
        # toks[i] is the message name; toks[i + 1] is "{"
        name = f"{scope}.{toks[i]}" if scope else toks[i]
        if toks[i + 1] != "{":
            raise ProtobufError(f"expected '{{' after message {name}")
        fields: list[tuple[str, str, str, int, str]] = messages.setdefault(name, [])
        i += 2
        while toks[i] != "}":
            t = toks[i]
            if t == "message":
                i = parse_message(i + 1, name)
            elif t in ("option", "reserved", "extensions"):
                i = _skip_statement(toks, i)
            elif t == ";":
                i += 1
            elif t in ("optional", "repeated", "required"):
                ftype, fname, eq, num = toks[i + 1:i + 5]
                if eq != "=":
                    raise ProtobufError(f"bad field {fname} in {name}")
                fields.append((t, ftype, fname, int(num), ""))
                i = _skip_statement(toks, i + 5)
            elif t == "map":
                # map < K , V > name = N ;
                if toks[i + 1] != "<" or toks[i + 3] != "," or toks[i + 5] != ">":
                    raise ProtobufError(f"bad map field in {name}")
                key, value, fname, num = toks[i + 2], toks[i + 4], toks[i + 6], int(toks[i + 8])
                fields.append(("map", value, fname, num, key))
                i = _skip_statement(toks, i + 9)
            elif t in ("enum", "oneof", "extend"):
                raise ProtobufError(f"unsupported .proto construct {t!r} in {name}")
            else:
                raise ProtobufError(f"unexpected token {t!r} in message {name}")
        return i + 1

    while i < len(toks):
        t = toks[i]
        if t == "syntax":
            i = _skip_statement(toks, i)
        elif t == "package":
            package = toks[i + 1]
            i = _skip_statement(toks, i)
        elif t == "import":
            j = i + 1
            if toks[j] in ("public", "weak"):
                j += 1
            imports.append(toks[j].strip('"'))
            i = _skip_statement(toks, i)
        elif t == "option":
            i = _skip_statement(toks, i)
        elif t == "message":
            i = parse_message(i + 1, package)
        elif t == ";":
            i += 1
        else:
            raise ProtobufError(f"unexpected top-level token {t!r} in .proto file")
    return _ParsedFile(package, imports, messages)


def _resolve(type_name: str, scope: str, known: set[str] | dict[str, object]) -> str:
    if type_name in SCALARS:
        return type_name
    if type_name.startswith("."):
        return type_name[1:]
    # Protobuf scoping: innermost enclosing scope outwards.
    parts = scope.split(".")
    while parts:
        candidate = ".".join([*parts, type_name])
        if candidate in known:
            return candidate
        parts.pop()
    return type_name


def load_schema(proto_dir: Path = PROTO_DIR, jsoninfo_path: Path = JSONINFO_PATH) -> Schema:
    parsed = [_parse_file(p.read_text()) for p in sorted(proto_dir.rglob("*.proto"))]
    raw_messages: dict[str, list[tuple[str, str, str, int, str]]] = {}
    for pf in parsed:
        raw_messages.update(pf.messages)
    # message -> {field number: [JSON name, flags, Go type]} (see gen_jsoninfo.py)
    jsoninfo: dict[str, dict[str, list[str]]] = json.loads(jsoninfo_path.read_text())

    messages: dict[str, Message] = {}
    for full_name, raw_fields in raw_messages.items():
        scope = full_name.rsplit(".", 1)[0]
        info = jsoninfo.get(full_name)
        msg = Message(full_name, has_go_info=info is not None)
        for label, ftype, fname, number, map_key in sorted(raw_fields, key=lambda f: f[3]):
            resolved = _resolve(ftype, scope, raw_messages)
            if resolved not in SCALARS and resolved not in raw_messages:
                raise ProtobufError(f"{full_name}.{fname}: unknown type {ftype}")
            f = Field(number, fname, resolved, repeated=label in ("repeated", "map"),
                      map_key=map_key, json=fname)
            go = info.get(str(number)) if info else None
            if go is not None:
                json_name, flags, f.go_type = go
                f.json = json_name
                f.pointer = "p" in flags
                f.omitempty = "o" in flags
                f.inline = "i" in flags
                f.skip = "-" in flags
            else:
                # No Go facts: proto2 presence decides (as if a pointer with omitempty).
                f.pointer = not f.repeated
            msg.fields.append(f)
            msg.by_number[number] = f
        messages[full_name] = msg
    packages = frozenset(pf.package for pf in parsed)
    return Schema(messages, packages)


_lock = threading.Lock()
_schema: Schema | None = None


def get_schema() -> Schema:
    """The schema of the vendored files, parsed on first use."""
    global _schema
    if _schema is None:
        with _lock:
            if _schema is None:
                _schema = load_schema()
    return _schema
