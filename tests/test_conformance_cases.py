"""The cases themselves: they reach the target only through the Kubernetes API and HTTP(S)
(no simulator imports), every one carries a known feature and level, and together they
cover every feature."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import Counter
from pathlib import Path

import conformance.cases
from conformance.levels import FEATURES

CASES = Path(conformance.cases.__file__).parent


def test_cases_never_import_simulator_internals() -> None:
    offenders = []
    for module in sorted(CASES.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{module.name}: {n}" for n in names if n.split(".")[0] == "simulator"]
    assert offenders == []


def test_every_feature_has_cases_and_the_suite_is_broad() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance.cases", "--collect-only",
         "-q", "-p", "no:xdist", "-p", "no:cacheprovider"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    modules = Counter(line.split("::")[0].rsplit("test_", 1)[-1].removesuffix(".py")
                      for line in ids)
    assert set(modules) == set(FEATURES), modules
    assert len(ids) > 60, len(ids)


def test_precedence_across_ingresses_is_extended() -> None:
    """The docs' "Multiple matches" speaks of "multiple paths within an Ingress" only: how the
    rules of several Ingresses for one host combine is what users rely on (extended), not
    what the spec says (core)."""
    from conformance.cases import test_path_rules

    for case in (test_path_rules.test_longest_prefix_wins_across_ingresses,
                 test_path_rules.test_exact_beats_prefix_across_ingresses):
        own = [m.args[0] for m in getattr(case, "pytestmark", []) if m.name == "level"]
        assert own == ["extended"], (case.__name__, own)
