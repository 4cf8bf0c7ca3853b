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
