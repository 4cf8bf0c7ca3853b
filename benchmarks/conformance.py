"""The conformance suite's wall time against the simulator with two workers (`-n 2`), the
figure issue 5 sets a goal for (<= 30 s on a 2-core machine; the Gateway API suite takes
~136 s on a ready cluster, kubernetes-sigs/gateway-api#4101). Runs the suite as users do,
in a child process, three times, and prints each run's wall time and case counts, then the
slowest cases and convergence times of the last run."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 3
GOAL_S = 30.0


def _run_once(workdir: Path) -> tuple[float, dict]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "conformance", "run", "-n", "2", "-q"],
                          cwd=workdir, capture_output=True, text=True)
    wall = time.monotonic() - started
    report_file = workdir / "reports" / "latest" / "report.json"
    if proc.returncode != 0 or not report_file.exists():
        print(proc.stdout[-3000:], proc.stderr[-2000:])
        raise SystemExit(f"the suite failed (exit {proc.returncode})")
    return wall, json.loads(report_file.read_text())


def main() -> None:
    print("conformance suite against the simulator, -n 2 "
          f"({RUNS} runs, child processes, as `python -m conformance run`):")
    walls = []
    report: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(RUNS):
            wall, report = _run_once(Path(tmp))
            walls.append(wall)
            by = report["summary"]["by_outcome"]
            print(f"  run {i + 1}: {wall:5.1f}s wall, {report['summary']['total']} cases "
                  f"({by['passed']} passed, {by['failed']} failed, {by['skipped']} skipped)")
    median = statistics.median(walls)
    verdict = "meets the goal" if median <= GOAL_S else "ABOVE the goal"
    print(f"  median wall time: {median:.1f}s [goal <= {GOAL_S:.0f}s: {verdict}]")
    cases = sorted(report["cases"], key=lambda c: c["duration_s"], reverse=True)
    print("  slowest cases of the last run: " + ", ".join(
        f"{c['id']} {c['duration_s']:.1f}s" for c in cases[:5]))
    timed = [c["time_to_consistency_s"] for c in report["cases"]
             if c["time_to_consistency_s"] is not None]
    if timed:
        print(f"  time to consistency: median {statistics.median(timed):.2f}s, "
              f"max {max(timed):.2f}s over {len(timed)} cases")


if __name__ == "__main__":
    main()
