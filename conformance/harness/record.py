"""Per-case measurements a case or the harness records while it runs, for the report: time
to consistency, request errors counted by load, and observations (what an
implementation-specific case saw).

The conformance plugin opens a `CaseRecord` before each case's setup and reads it after the
case ends; outside a conformance run recording is a no-op."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CaseRecord:
    """What one case measured."""

    consistency_s: list[float] = field(default_factory=list)
    errors: int | None = None
    observations: dict[str, Any] = field(default_factory=dict)

    @property
    def time_to_consistency_s(self) -> float | None:
        """The longest wait for consistency in the case: how long its configuration took to
        take effect (later polls of an already-converged target add little)."""
        return max(self.consistency_s) if self.consistency_s else None


_current: CaseRecord | None = None


def begin() -> CaseRecord:
    """Start recording for a new case (called by the plugin)."""
    global _current
    _current = CaseRecord()
    return _current


def current() -> CaseRecord | None:
    return _current


def consistency(seconds: float) -> None:
    if _current is not None:
        _current.consistency_s.append(seconds)


def errors(count: int) -> None:
    """Record request errors the case counted (added up over the case)."""
    if _current is not None:
        _current.errors = (_current.errors or 0) + count


def observe(key: str, value: Any) -> None:
    """Record what the target did, for the report (JSON-serialisable values)."""
    if _current is not None:
        _current.observations[key] = value
