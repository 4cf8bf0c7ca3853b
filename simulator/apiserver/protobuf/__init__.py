"""Kubernetes protobuf (`application/vnd.kubernetes.protobuf`) bodies as JSON dicts.

    from simulator.apiserver.protobuf import decode, encode, ProtobufError

`decode(body)` takes a whole request body (`k8s\\x00` + runtime.Unknown) and returns the object
as the JSON dict client-go would have sent with `application/json`, apiVersion and kind taken
from the envelope. `encode(obj)` is the reverse. Both raise ProtobufError (a ValueError).

The schema comes from the upstream generated.proto files vendored under proto/ (see its
README) and from jsoninfo.json (Go's JSON names, pointers, omitempty, inlining and Go type per
field, made by gen_jsoninfo.py); it is parsed once, on first use.
"""

from __future__ import annotations

from .codec import MAGIC, decode, encode, message_name
from .errors import ProtobufError

__all__ = ["MAGIC", "ProtobufError", "decode", "encode", "message_name"]
