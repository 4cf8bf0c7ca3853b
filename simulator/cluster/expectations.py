"""ControllerExpectations (pkg/controller/controller_utils.go), for the ReplicaSet controller.

After creating or deleting pods, the controller must not act on its cache again until the
cache has seen those creations and deletions, or it would create the same pods twice. It
records what it expects; informer events lower the counts; a sync runs `manageReplicas` only
once the expectations are met or have expired (5 minutes upstream).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

EXPECTATIONS_TIMEOUT_SECONDS = 300.0


@dataclass
class _Expectation:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)  # pod keys (UIDTrackingControllerExpectations)
    stamp: float = field(default_factory=time.monotonic)

    def fulfilled(self) -> bool:
        return self.adds <= 0 and not self.deletes


class Expectations:
    """Per-controller-key creation counts and expected deletions."""

    def __init__(self) -> None:
        self._items: dict[str, _Expectation] = {}

    def satisfied(self, key: str) -> bool:
        """SatisfiedExpectations: nothing pending, or the record expired."""
        exp = self._items.get(key)
        if exp is None or exp.fulfilled():
            return True
        return time.monotonic() - exp.stamp > EXPECTATIONS_TIMEOUT_SECONDS

    def expect_creations(self, key: str, count: int) -> None:
        self._items[key] = _Expectation(adds=count)

    def expect_deletions(self, key: str, pod_keys: list[str]) -> None:
        self._items[key] = _Expectation(deletes=set(pod_keys))

    def creation_observed(self, key: str) -> None:
        exp = self._items.get(key)
        if exp is not None:
            exp.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        exp = self._items.get(key)
        if exp is not None:
            exp.deletes.discard(pod_key)

    def delete(self, key: str) -> None:
        self._items.pop(key, None)
