"""The pod-template-hash (controller.ComputeHash in pkg/controller/controller_utils.go).

Upstream hashes the PodTemplateSpec with FNV-32a, writing it through
`hashutil.DeepHashObject` (a go-spew dump of the Go struct, keys sorted), then appends the
Deployment's collisionCount (little-endian, in an 8-byte buffer) when it is set, and renders
the decimal value of the 32-bit sum with `rand.SafeEncodeString`.

Here everything but the dump is the same: the template is written as canonical JSON (keys
sorted, no spaces), because a go-spew rendering of Go structs cannot be reproduced from JSON.
So the hash has upstream's alphabet, length range and stability (same template, same hash),
not upstream's exact value for a given template.
"""

from __future__ import annotations

from typing import Any

import orjson

# k8s.io/apimachinery/pkg/util/rand: consonants and digits only (no accidental words, no
# confusable 0/1/3/a/e/i/o/u).
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def fnv32a(data: bytes, h: int = _FNV32_OFFSET) -> int:
    """hash/fnv New32a: xor each byte in, then multiply by the FNV prime (mod 2**32)."""
    for byte in data:
        h ^= byte
        h = (h * _FNV32_PRIME) & 0xFFFFFFFF
    return h


def safe_encode_string(text: str) -> str:
    """rand.SafeEncodeString: each character mapped to the alphabet by its code point."""
    return "".join(SAFE_ALPHABET[ord(ch) % len(SAFE_ALPHABET)] for ch in text)


def without_nulls(value: Any) -> Any:
    """The JSON value with null-valued object fields dropped: in the typed Go structs upstream
    hashes and compares, `"creationTimestamp": null` (which kubectl and client-go put in
    every template) is the same as no field at all."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def compute_hash(template: dict[str, Any], collision_count: int | None = None) -> str:
    """controller.ComputeHash: the `pod-template-hash` label value for a template."""
    h = fnv32a(orjson.dumps(without_nulls(template), option=orjson.OPT_SORT_KEYS))
    if collision_count is not None:
        h = fnv32a((collision_count & 0xFFFFFFFF).to_bytes(4, "little") + b"\0" * 4, h)
    return safe_encode_string(str(h))
