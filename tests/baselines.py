"""Shared by the target tests: every case id as the plugin names it, and the checks every
baseline file must pass."""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

from conformance.report.baseline import Baseline

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "conformance" / "cases"


def _case_id(tree: ast.Module, test: str) -> str:
    """feature/name[params]: the feature from the module's pytestmark."""
    name, _, params = test.partition("[")
    feature = next(node.args[0].value for node in ast.walk(tree)
                   if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "feature")
    return f"{feature}/{name.removeprefix('test_')}" + (f"[{params}" if params else "")


@functools.cache
def case_ids() -> frozenset[str]:
    """Every case id, from pytest's collection of the cases."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance.cases", "--collect-only",
         "-q", "-p", "no:xdist", "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    ids = set()
    for line in out.stdout.splitlines():
        if "::test_" not in line:
            continue
        module, _, test = line.partition("::")
        ids.add(_case_id(ast.parse((CASES / Path(module).name).read_text()), test))
    assert ids, out.stdout + out.stderr
    return frozenset(ids)


def assert_sound(path: Path | str) -> Baseline:
    """The baseline loads, names only real cases, and gives each a reason and a link."""
    baseline = Baseline.load(path)
    unknown = sorted(set(baseline.entries) - case_ids())
    assert not unknown, f"{path}: baseline entries that name no case: {unknown}"
    for entry in baseline.entries.values():
        assert entry.link and entry.link.startswith("https://"), entry.case
        assert len(entry.reason) > 20, entry.case
    return baseline
