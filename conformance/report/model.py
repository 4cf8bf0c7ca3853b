"""The report: one record per case, a summary, and what the gate concluded. The JSON layout
is versioned (`SCHEMA_VERSION`, schema in report.schema.json)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from ..levels import GATES, LEVELS

SCHEMA_VERSION = "1.1"
OUTCOMES = ("passed", "failed", "skipped", "xfailed")


@dataclass
class CaseResult:
    id: str
    feature: str
    level: str
    outcome: str
    duration_s: float
    time_to_consistency_s: float | None = None
    errors: int | None = None
    message: str = ""
    observations: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["duration_s"] = round(self.duration_s, 3)
        if self.time_to_consistency_s is not None:
            data["time_to_consistency_s"] = round(self.time_to_consistency_s, 3)
        return data


def summarize(cases: list[CaseResult]) -> dict[str, Any]:
    """Counts by outcome, and by level then outcome."""
    by_outcome = Counter(c.outcome for c in cases)
    by_level: dict[str, dict[str, int]] = {}
    for level in LEVELS:
        counts = Counter(c.outcome for c in cases if c.level == level)
        by_level[level] = {o: counts.get(o, 0) for o in OUTCOMES}
    return {"total": len(cases), "by_outcome": {o: by_outcome.get(o, 0) for o in OUTCOMES},
            "by_level": by_level}


def gated_failures(cases: list[CaseResult], gate: str) -> list[CaseResult]:
    """The failed cases the gate counts: core ones, plus extended with `--gate extended`.
    Implementation-specific cases never fail a run."""
    levels = GATES[gate]
    return [c for c in cases if c.outcome == "failed" and c.level in levels]


def build_report(target: dict[str, Any], started_at: str, duration_s: float,
                 cases: list[CaseResult], gate: str, baseline: str | None = None, *,
                 incomplete: list[str] | None = None,
                 baseline_unmatched: list[str] | None = None) -> dict[str, Any]:
    """The report of one run. `incomplete`: selected cases that did not finish (a crash, an
    interruption, `-x`); any makes the run incomplete and fails the gate, whatever the level
    of the cases: a run that did not run everything cannot vouch for it.
    `baseline_unmatched`: baseline entries that named no case of this run."""
    failing = gated_failures(cases, gate)
    incomplete = incomplete or []
    return {
        "schema_version": SCHEMA_VERSION,
        "target": target,
        "started_at": started_at,
        "duration_s": round(duration_s, 3),
        "complete": not incomplete,
        "gate": {"level": gate, "baseline": baseline,
                 "passed": not failing and not incomplete,
                 "failed_cases": [c.id for c in failing],
                 "incomplete_cases": incomplete,
                 "baseline_unmatched": baseline_unmatched or []},
        "summary": summarize(cases),
        "cases": [c.to_dict() for c in sorted(cases, key=lambda c: (c.feature, c.id))],
    }
