"""The one-screen summary printed at the end of a run."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any


def terminal_summary(report: dict[str, Any], paths: Iterable[Path]) -> list[str]:
    """Lines: per feature, the outcomes and the slowest convergence; then the gate."""
    target = report["target"]
    lines = ["", f"Ingress conformance: {target['name']} ({target['controller']} "
             f"{target['version']}) in {report['duration_s']:.1f}s"]
    header = f"  {'feature':<16}{'passed':>7}{'failed':>7}{'xfailed':>8}{'skipped':>8}  slowest"
    lines.append(header)
    by_feature: dict[str, list[dict[str, Any]]] = {}
    for case in report["cases"]:
        by_feature.setdefault(case["feature"], []).append(case)
    for feature in sorted(by_feature):
        cases = by_feature[feature]
        counts = {o: sum(1 for c in cases if c["outcome"] == o)
                  for o in ("passed", "failed", "xfailed", "skipped")}
        timed = [c for c in cases if c["time_to_consistency_s"] is not None]
        slowest = max(timed, key=lambda c: c["time_to_consistency_s"], default=None)
        slow = (f"{slowest['time_to_consistency_s']:.2f}s {slowest['id'].split('/', 1)[1]}"
                if slowest else "-")
        lines.append(f"  {feature:<16}{counts['passed']:>7}{counts['failed']:>7}"
                     f"{counts['xfailed']:>8}{counts['skipped']:>8}  {slow}")
    for case in report["cases"]:
        if case["outcome"] == "failed":
            lines.append(f"  FAILED [{case['level']}] {case['id']}: {case['message'][:150]}")
    gate = report["gate"]
    incomplete = gate.get("incomplete_cases") or []
    if incomplete:
        lines.append(f"  INCOMPLETE: {len(incomplete)} selected case(s) did not finish "
                     f"(interrupted, stopped early or a worker crashed): "
                     f"{', '.join(incomplete[:5])}{' ...' if len(incomplete) > 5 else ''}")
    for entry in gate.get("baseline_unmatched") or []:
        lines.append(f"  baseline entry {entry} named no case of this run (stale, or not "
                     "selected)")
    reasons = []
    if gate["failed_cases"]:
        reasons.append(f"{len(gate['failed_cases'])} {gate['level']}-gated case(s) failed")
    if incomplete:
        reasons.append(f"{len(incomplete)} case(s) did not finish")
    verdict = "PASSED" if gate["passed"] else f"FAILED ({'; '.join(reasons)})"
    lines.append(f"Gate ({gate['level']}): {verdict}")
    lines.extend(f"Report: {p}" for p in paths)
    return lines
