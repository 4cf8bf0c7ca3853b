"""The error every decoding or encoding failure raises."""

from __future__ import annotations


class ProtobufError(ValueError):
    """A protobuf body that cannot be decoded (or an object that cannot be encoded)."""
