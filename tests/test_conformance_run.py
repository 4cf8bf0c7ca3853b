"""The suite end to end, as users run it (`python -m conformance run`, which `nox -s
conformance` calls), in a child process: against the simulator it passes and writes a
report that follows the schema; against a broken controller the gate fails the run, and a
baseline listing the failures turns the run green again while the report keeps them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from simulator.up import SimulatorThread

from .test_conformance_harness import serving

SCHEMA = json.loads(resources.files("conformance.report").joinpath("schema.json").read_text())
RUN_TIMEOUT_S = 240


def run_suite(cwd: Path, *args: str) -> tuple[int, str, dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "-p", "no:xdist", "-q", *args],
        cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    output = proc.stdout + proc.stderr
    report_file = cwd / "reports" / "latest" / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    return proc.returncode, output, report


def test_suite_passes_against_the_simulator_and_writes_reports(tmp_path: Path) -> None:
    code, output, report = run_suite(tmp_path, "--feature", "host_rules")
    assert code == 0, output
    jsonschema.validate(report, SCHEMA)
    assert report["target"]["name"] == "simulator"
    assert report["gate"]["passed"] is True
    assert report["summary"]["by_level"]["core"]["passed"] >= 5
    assert {c["feature"] for c in report["cases"]} == {"host_rules"}
    assert all(c["outcome"] == "passed" for c in report["cases"]), report["cases"]
    assert any(c["time_to_consistency_s"] is not None for c in report["cases"])  # measured
    for name in ("report.md", "junit.xml", "report.html"):
        assert (tmp_path / "reports" / "latest" / name).is_file()
    assert "Gate (core): PASSED" in output
    assert "conformance: target simulator ready" in output


@pytest.fixture(scope="module")
def cluster_without_controller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A kubeconfig for the simulator's API server and cluster; the suite is pointed at an
    HTTP server that answers 404 to everything instead of the reference proxy."""
    with SimulatorThread() as thread:
        path = tmp_path_factory.mktemp("broken") / "kubeconfig"
        thread.simulator.apiserver.write_kubeconfig(path)
        yield path


def test_gate_fails_the_run_when_a_core_case_fails(tmp_path: Path,
                                                  cluster_without_controller: Path) -> None:
    with serving() as address:
        code, output, report = run_suite(
            tmp_path, "--target", "kubeconfig", "--kubeconfig", str(cluster_without_controller),
            "--http-address", address, "--ingress-class", "reference",
            "--consistency-timeout", "1", "-k", "test_exact_host or test_hostless")
        # A second run with every failure in a baseline: green, and still reported.
        failed = [c["id"] for c in report.get("cases", []) if c["outcome"] == "failed"]
        baseline = tmp_path / "baseline.yaml"
        baseline.write_text("known_failures:\n" + "".join(
            f"  - case: {case}\n    reason: the test server routes nothing\n"
            for case in [*failed, "host_rules/no_such_case"]))
        code_with_baseline, output_b, report_b = run_suite(
            tmp_path, "--target", "kubeconfig", "--kubeconfig", str(cluster_without_controller),
            "--http-address", address, "--ingress-class", "reference",
            "--consistency-timeout", "1", "-k", "test_exact_host or test_hostless",
            "--baseline", str(baseline))
    assert code == 1, output
    assert report["gate"]["passed"] is False
    assert "host_rules/exact_host" in report["gate"]["failed_cases"]
    assert "Gate (core): FAILED" in output
    assert report["target"] == {"name": "kubeconfig",
                                "controller": "simulator.dev/reference-ingress-controller",
                                "version": "unknown", "ingress_class": "reference"}
    assert code_with_baseline == 0, output_b
    assert report_b["gate"]["passed"] is True
    outcomes = {c["id"]: c["outcome"] for c in report_b["cases"]}
    assert {outcomes[case] for case in failed} == {"xfailed"}
    for case in report_b["cases"]:
        if case["id"] in failed:  # the documented reason, and what went wrong this time
            assert "the test server routes nothing" in case["message"]
            assert "; this run: " in case["message"], case["message"]
    assert report_b["gate"]["baseline_unmatched"] == ["host_rules/no_such_case"]
    assert "host_rules/no_such_case" in output_b  # said at the end of the run too


def test_a_run_that_stops_early_fails_the_gate(tmp_path: Path,
                                               cluster_without_controller: Path) -> None:
    """`-x` after a failure the gate ignores (extended, gate core): the cases it never ran
    make the run incomplete, and an incomplete run cannot pass."""
    with serving() as address:
        code, output, report = run_suite(
            tmp_path, "--target", "kubeconfig", "--kubeconfig", str(cluster_without_controller),
            "--http-address", address, "--ingress-class", "reference",
            "--consistency-timeout", "1", "-x",
            "-k", "test_exact_host_preferred_over_wildcard or test_host_header_with_port")
    assert code == 1, output
    jsonschema.validate(report, SCHEMA)
    assert report["complete"] is False
    assert report["gate"]["passed"] is False and report["gate"]["failed_cases"] == []
    assert len(report["gate"]["incomplete_cases"]) == 1
    assert "Gate (core): FAILED" in output and "did not finish" in output


def test_a_target_that_cannot_start_says_what_to_do(tmp_path: Path) -> None:
    code, output, _ = run_suite(tmp_path, "--target", "kubeconfig",
                                "--kubeconfig", str(tmp_path / "missing"))
    assert code == 4  # pytest's usage error
    assert "no kubeconfig at" in output and "--kubeconfig FILE" in output
    assert "Traceback" not in output
