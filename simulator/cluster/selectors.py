"""Label selector matching (metav1.LabelSelectorAsSelector and labels.SelectorFromSet).

Controllers match in memory against their informer caches, as upstream controllers do
against listers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def matches_set(selector: Mapping[str, str] | None, labels: Mapping[str, str] | None) -> bool:
    """labels.SelectorFromSet(selector).Matches(labels): every key=value present.

    An empty or missing set selects everything (a Service selector is checked for
    emptiness by its callers, since there an empty selector means "no selector").
    """
    labels = labels or {}
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """metav1.LabelSelectorAsSelector(selector).Matches(labels).

    A nil selector selects nothing; an empty one ({}) selects everything.
    """
    if selector is None:
        return False
    labels = labels or {}
    if not matches_set(selector.get("matchLabels"), labels):
        return False
    for req in selector.get("matchExpressions") or []:
        key, op = req.get("key", ""), req.get("operator", "")
        values = req.get("values") or []
        present = key in labels
        if op == "In":
            if not present or labels[key] not in values:
                return False
        elif op == "NotIn":
            if present and labels[key] in values:
                return False
        elif op == "Exists":
            if not present:
                return False
        elif op == "DoesNotExist":
            if present:
                return False
        else:
            return False  # an invalid operator selects nothing, as the conversion fails
    return True


def is_empty(selector: Mapping[str, Any] | None) -> bool:
    """True for `{}` (selects everything), which a Deployment must not use."""
    return selector is not None and not selector.get("matchLabels") and \
        not selector.get("matchExpressions")
