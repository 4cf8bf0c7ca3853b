"""Regenerate `jsoninfo.json` from the Go sources of the modules the .proto files came from.

The generated.proto files tell the wire format but not how Go's encoding/json writes the same
struct: which fields are pointers (sent only when set, kept when set to a zero value), which
carry `omitempty`, which are embedded `json:",inline"` and which have a JSON name that differs
from the proto field name (apiextensions' `$ref`, `x-kubernetes-*`). Those facts live in the Go
struct tags, e.g.

    Replicas *int32 `json:"replicas,omitempty" protobuf:"varint,1,opt,name=replicas"`

This script reads every struct of the Go packages that sit beside the vendored generated.proto
files and writes, per proto message, `{field number: [json name, flags, Go type]}` with flags
made of `p` (pointer), `o` (omitempty), `i` (inlined embedded struct) and `-` (not in JSON),
and the Go type as reflect prints it once the pointer is followed (`v1.Protocol`,
`[]v1.Container`, `map[string][]uint8`): encoding/json's type errors name it.

Usage (after `go mod download -json k8s.io/api@VERSION` etc., see proto/README.md):

    python -m simulator.apiserver.protobuf.gen_jsoninfo [GOMODCACHE]
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO_DIR = HERE / "proto"
OUT = HERE / "jsoninfo.json"

# proto import-path prefix -> (Go module, version)
MODULES = {
    "k8s.io/api/": ("k8s.io/api", "v0.33.0"),
    "k8s.io/apimachinery/": ("k8s.io/apimachinery", "v0.33.0"),
    "k8s.io/apiextensions-apiserver/": ("k8s.io/apiextensions-apiserver", "v0.33.0"),
}

_STRUCT_RE = re.compile(r"^type (\w+) struct \{\s*$")
_FIELD_RE = re.compile(r"^(?:(\w+)\s+)?([^\s`]+)\s+`([^`]*)`")
_TAG_RE = re.compile(r'(\w+):"([^"]*)"')
_IMPORT_RE = re.compile(r'^\s*(?:import\s+)?(?:(\w+)\s+)?"([\w./-]+)"\s*$')
_IDENT_RE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?")
_GO_BUILTINS = frozenset({
    "bool", "string", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16",
    "uint32", "uint64", "float32", "float64", "byte", "rune", "interface", "map",
})


def _reflect_type(go_type: str, package: str, imports: dict[str, str]) -> str:
    """A field's type as written (`*metav1.Time`, `[]Capability`) -> reflect's String() of
    what encoding/json decodes into (`v1.Time`, `[]v1.Capability`): the pointer followed,
    identifiers qualified by their package's name, byte spelled uint8."""

    def qualify(m: re.Match[str]) -> str:
        ident = m.group()
        if "." in ident:
            alias, name = ident.split(".")
            return f"{imports.get(alias, alias)}.{name}"
        if ident == "byte":
            return "uint8"
        return ident if ident in _GO_BUILTINS else f"{package}.{ident}"

    return _IDENT_RE.sub(qualify, go_type.lstrip("*"))


def _go_structs(go_dir: Path) -> dict[str, dict[str, list[str]]]:
    structs: dict[str, dict[str, list[str]]] = {}
    package = go_dir.name  # every package here is named after its directory (v1, intstr)
    for path in sorted(go_dir.glob("*.go")):
        name = path.name
        if name.endswith("_test.go") or name.startswith("zz_generated") or name.endswith(".pb.go"):
            continue
        current: dict[str, list[str]] | None = None
        imports: dict[str, str] = {}
        for raw in path.read_text().splitlines():
            if current is None:
                imported = _IMPORT_RE.match(raw)
                if imported:  # alias (or the path's last element) -> the package's name
                    package_name = imported.group(2).rsplit("/", 1)[-1]
                    imports[imported.group(1) or package_name] = package_name
                    continue
                m = _STRUCT_RE.match(raw)
                if m:
                    current = structs.setdefault(m.group(1), {})
                continue
            if raw.startswith("}"):
                current = None
                continue
            line = raw.strip()
            if not line or line.startswith("//"):
                continue
            m = _FIELD_RE.match(line)
            if not m:
                continue
            field_name, go_type, tags_text = m.groups()
            tags = dict(_TAG_RE.findall(tags_text))
            if tags.get("protobuf", "-") == "-":
                continue
            number = tags["protobuf"].split(",")[1]
            json_parts = tags.get("json", "").split(",")
            json_name, options = json_parts[0], json_parts[1:]
            flags = ""
            if go_type.startswith("*"):
                flags += "p"
            if "omitempty" in options:
                flags += "o"
            if json_name == "-":
                flags += "-"
                json_name = ""
            elif not json_name:
                if field_name is None:  # an embedded struct: encoding/json promotes its fields
                    flags += "i"
                else:
                    json_name = field_name
            current[number] = [json_name, flags, _reflect_type(go_type, package, imports)]
    return {k: v for k, v in structs.items() if v}


def _proto_package(text: str) -> str:
    m = re.search(r"^package ([\w.]+);", text, re.M)
    if not m:
        raise SystemExit("no package line")
    return m.group(1)


def _module_dir(modcache: Path, module: str, version: str) -> Path:
    d = modcache / f"{module}@{version}"
    if d.is_dir():
        return d
    out = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"],
                         check=True, capture_output=True, text=True).stdout
    return Path(json.loads(out)["Dir"])


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        modcache = Path(argv[1])
    else:
        modcache = Path(os.environ.get("GOMODCACHE") or Path.home() / "go" / "pkg" / "mod")
    info: dict[str, dict[str, list[str]]] = {}
    for proto in sorted(PROTO_DIR.rglob("generated.proto")):
        rel = proto.relative_to(PROTO_DIR).as_posix()
        prefix = next(p for p in MODULES if rel.startswith(p))
        module, version = MODULES[prefix]
        go_dir = _module_dir(modcache, module, version) / Path(rel[len(prefix):]).parent
        package = _proto_package(proto.read_text())
        for struct, fields in _go_structs(go_dir).items():
            info[f"{package}.{struct}"] = dict(sorted(fields.items(), key=lambda kv: int(kv[0])))
    with OUT.open("w") as fh:
        fh.write("{\n")
        lines = [f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}"
                 for k, v in sorted(info.items())]
        fh.write(",\n".join(lines))
        fh.write("\n}\n")
    print(f"wrote {len(info)} messages to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
