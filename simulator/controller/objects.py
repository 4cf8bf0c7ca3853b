"""Small, forgiving accessors for Kubernetes objects given as plain JSON dicts.

The API server validates what it stores, but the controller must never crash on an object it
does not like (docs/DESIGN.md, principle 7), so every accessor tolerates a missing field or a
field of the wrong type and returns an empty value instead.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ..jsonobj import as_dict, as_list, as_str  # noqa: F401 - re-exported

# Sorts after every real timestamp: an object without one counts as the newest.
NO_TIME = datetime.max.replace(tzinfo=timezone.utc)


def metadata(obj: dict) -> dict:
    """The object's metadata (empty if absent)."""
    return as_dict(obj.get("metadata"))


def name_of(obj: dict) -> str:
    return as_str(metadata(obj).get("name"))


def namespace_of(obj: dict) -> str:
    return as_str(metadata(obj).get("namespace"))


def annotations_of(obj: dict) -> dict:
    return as_dict(metadata(obj).get("annotations"))


def labels_of(obj: dict) -> dict:
    return as_dict(metadata(obj).get("labels"))


def ref_of(obj: dict) -> tuple[str, str]:
    """(namespace, name): how Events and `served` name an object."""
    return namespace_of(obj), name_of(obj)


def creation_time(obj: dict) -> datetime | None:
    """metadata.creationTimestamp (RFC 3339), or None if absent or unparsable."""
    raw = as_str(metadata(obj).get("creationTimestamp"))
    if not raw:
        return None
    try:
        # fromisoformat only accepts a trailing "Z" from Python 3.11 on.
        parsed = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith("Z") else raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def age_key(obj: dict) -> tuple[datetime, str, str]:
    """Sort key putting the oldest object first: creationTimestamp, then namespace, then
    name. An object without a usable timestamp sorts as the newest."""
    return (creation_time(obj) or NO_TIME, namespace_of(obj), name_of(obj))
