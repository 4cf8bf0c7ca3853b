"""ObjectMeta bookkeeping the API server owns: uids, timestamps, generated names."""

from __future__ import annotations

import copy
import random
import uuid
from datetime import datetime, timezone
from typing import Any

# utilrand.String's alphabet: no vowels (no accidental words) and no confusable characters.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

# Kinds whose registry strategy maintains metadata.generation.
GENERATION_KINDS = frozenset({
    "apps/Deployment", "apps/ReplicaSet", "networking.k8s.io/Ingress",
    "networking.k8s.io/IngressClass", "discovery.k8s.io/EndpointSlice", "batch/Job",
    "policy/PodDisruptionBudget", "apiextensions.k8s.io/CustomResourceDefinition",
    "admissionregistration.k8s.io/ValidatingWebhookConfiguration",
    "admissionregistration.k8s.io/MutatingWebhookConfiguration",
})

# Fields of ObjectMeta that only the server sets.
SERVER_OWNED = ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                "deletionGracePeriodSeconds", "generation", "selfLink")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def rfc3339(when: datetime) -> str:
    """metav1.Time's wire format: second precision, UTC, `Z`."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def new_uid() -> str:
    return str(uuid.uuid4())


def generated_name(prefix: str, rng: random.Random | None = None) -> str:
    """names.SimpleNameGenerator: the prefix (cut to fit 63 chars) plus 5 random characters."""
    rng = rng or random
    prefix = prefix[: 63 - 5]
    return prefix + "".join(rng.choice(_NAME_ALPHABET) for _ in range(5))


def without_volatile(obj: dict[str, Any]) -> dict[str, Any]:
    """The object minus what every write changes, to detect no-op updates."""
    out = copy.copy(obj)
    meta = dict(out.get("metadata") or {})
    meta.pop("resourceVersion", None)
    meta.pop("managedFields", None)
    out["metadata"] = meta
    return out


def spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything but metadata and status: a change here bumps metadata.generation."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}
