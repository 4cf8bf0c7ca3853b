"""Encoding and decoding of request and response bodies (JSON, YAML, Table, metadata-only).

Kubernetes clients negotiate the response shape through the Accept header:
`application/json;as=Table;v=v1;g=meta.k8s.io` asks for a Table (kubectl get),
`...;as=PartialObjectMetadataList` for metadata only (metadata informers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from . import errors


class _StringTimestampLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings (Kubernetes times are RFC 3339 text)."""


_StringTimestampLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str | bytes) -> Any:
    return yaml.load(text, Loader=_StringTimestampLoader)  # noqa: S506 - a SafeLoader subclass


def decode_body(body: bytes, content_type: str) -> Any:
    """A request body as a dict: JSON, or YAML when the client says so."""
    media = content_type.split(";")[0].strip().lower()
    if media == "application/vnd.kubernetes.protobuf":
        # Typed client-go clientsets (kubectl create, controllers) send protobuf bodies.
        from .protobuf import ProtobufError, decode

        try:
            return decode(body)
        except ProtobufError as exc:
            raise errors.bad_request(f"error decoding protobuf: {exc}") from exc
    if media == "application/cbor":
        raise errors.ApiError(415, "UnsupportedMediaType",
                              f'the body of the request was in an unknown format - accepted media '
                              f'types include: application/json, application/yaml (got "{media}")')
    try:
        if media in ("application/yaml", "application/x-yaml", "text/yaml"):
            return load_yaml(body)
        return orjson.loads(body)
    except Exception as exc:  # noqa: BLE001 - every decode failure is the client's mistake
        what = "yaml" if "yaml" in media else "json"
        raise errors.bad_request(f"error decoding {what}: {exc}") from exc


@dataclass(frozen=True)
class Accept:
    """What the response should look like."""

    as_kind: str = ""  # "", "Table", "PartialObjectMetadata", "PartialObjectMetadataList"
    meta_version: str = "v1"
    yaml: bool = False


def parse_accept(header: str | None) -> Accept:
    """Pick the first media type of the Accept header that we can serve."""
    if not header:
        return Accept()
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        params = dict(p.partition("=")[::2] for p in pieces[1:])
        if media in ("application/json", "*/*", "application/*", "application/yaml"):
            as_kind = params.get("as", "")
            if as_kind and params.get("g") != "meta.k8s.io":
                continue
            if as_kind not in ("", "Table", "PartialObjectMetadata", "PartialObjectMetadataList"):
                continue
            return Accept(as_kind, params.get("v", "v1"), media == "application/yaml")
    if all(p.split(";")[0].strip().lower() == "application/vnd.kubernetes.protobuf"
           for p in header.split(",")):
        raise errors.not_acceptable(header)
    return Accept()


def dump_yaml(obj: Any) -> bytes:
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False).encode()
