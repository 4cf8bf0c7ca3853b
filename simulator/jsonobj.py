"""Tolerant accessors for Kubernetes objects as JSON dicts: a missing or mistyped field reads
as Go's zero value, so pure code never trips over a malformed object."""

from __future__ import annotations

import copy
from typing import Any

import orjson


def as_dict(value: Any) -> dict:
    """The value if it is a JSON object, else {} (Go's zero struct / nil map)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    """The value if it is a JSON array, else [] (Go's nil slice)."""
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    """The value if it is a string, else "" (Go's zero string)."""
    return value if isinstance(value, str) else ""


def as_int(value: Any) -> int:
    """The value if it is an integer, else 0 (Go's zero int)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return int(value)


def clone(value: Any) -> Any:
    """A deep copy of JSON data, several times faster than copy.deepcopy (an orjson round
    trip); falls back to deepcopy for what JSON cannot hold (e.g. non-string keys)."""
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return copy.deepcopy(value)
