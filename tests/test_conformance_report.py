"""Reports: the JSON follows the published schema, the gate counts only what it should, the
files (Markdown, JUnit, HTML) say the same thing, baselines load or say what is wrong, and
`compare` renders the side-by-side matrix."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from conformance.__main__ import main as conformance_main
from conformance.report.baseline import Baseline, BaselineError
from conformance.report.compare import CompareError, compare
from conformance.report.model import CaseResult, build_report, gated_failures
from conformance.report.summary import terminal_summary
from conformance.report.writers import write_reports

SCHEMA = json.loads(resources.files("conformance.report").joinpath("schema.json").read_text())
TARGET = {"name": "simulator", "controller": "simulator.dev/reference-ingress-controller",
          "version": "0.1.0", "ingress_class": "reference"}


def cases(core_outcome: str = "passed", extended_outcome: str = "passed") -> list[CaseResult]:
    return [
        CaseResult("host_rules/exact_host", "host_rules", "core", core_outcome, 0.4, 0.21,
                   message="" if core_outcome == "passed" else "expected exact, got 404"),
        CaseResult("tls/misdirected_421", "tls", "extended", extended_outcome, 0.2, 0.05),
        CaseResult("tls/plain_http_to_tls_host", "tls", "implementation-specific", "failed",
                   0.1, None, observations={"status": 308}),
        CaseResult("endpoint_churn/rolling_restart", "endpoint_churn", "core", "passed", 6.0,
                   1.2, errors=0),
        CaseResult("path_rules/docs[exact-foo]", "path_rules", "core", "xfailed", 0.3, None,
                   message="baseline: known"),
        CaseResult("ingress_class/default_class", "ingress_class", "core", "skipped", 0.0,
                   message="the target's class is not the default"),
    ]


def report_for(tmp_cases: list[CaseResult], gate: str = "core",
               target: dict | None = None) -> dict:
    return build_report(target or TARGET, "2026-11-29T10:00:00+00:00", 12.5, tmp_cases, gate)


def test_report_follows_the_published_schema() -> None:
    for gate in ("core", "extended"):
        jsonschema.validate(report_for(cases(), gate), SCHEMA)


def test_schema_rejects_what_consumers_could_not_read() -> None:
    report = report_for(cases())
    report["cases"][0]["outcome"] = "error"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, SCHEMA)
    report = report_for(cases())
    del report["cases"][0]["time_to_consistency_s"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, SCHEMA)


def test_gate_counts_core_failures_and_never_implementation_specific() -> None:
    assert gated_failures(cases(), "core") == []  # the implementation-specific failure
    assert report_for(cases())["gate"]["passed"] is True
    failing = report_for(cases(core_outcome="failed"))
    assert failing["gate"] == {"level": "core", "baseline": None, "passed": False,
                               "failed_cases": ["host_rules/exact_host"],
                               "incomplete_cases": [], "baseline_unmatched": []}
    assert failing["complete"] is True


def test_an_incomplete_run_fails_the_gate_and_shows_in_every_format(tmp_path: Path) -> None:
    """Cases that did not finish (a crashed worker, -x, Ctrl-C) fail the gate whatever their
    level; JUnit shows each as an error, also those that never started."""
    results = cases()
    results[1].outcome, results[1].message = "failed", "did not finish: the run stopped"
    report = build_report(TARGET, "2026-11-29T10:00:00+00:00", 3.0, results, "core",
                          incomplete=["tls/misdirected_421", "conformance/cases/x.py::test_y"])
    jsonschema.validate(report, SCHEMA)
    assert report["complete"] is False and report["gate"]["passed"] is False
    assert report["gate"]["failed_cases"] == []  # extended: not gated, yet the run fails
    write_reports(report, tmp_path)
    suite = ET.fromstring((tmp_path / "latest" / "junit.xml").read_text())
    errors = [c.get("name") for c in suite.iter("testcase") if c.find("error") is not None]
    assert errors == ["tls/misdirected_421", "conformance/cases/x.py::test_y"]
    assert (suite.get("tests"), suite.get("errors")) == ("7", "2")
    lines = terminal_summary(report, [])
    assert any("INCOMPLETE: 2 selected case(s) did not finish" in line for line in lines)
    assert lines[-1] == "Gate (core): FAILED (2 case(s) did not finish)"


def test_extended_failures_gate_only_with_gate_extended() -> None:
    results = cases(extended_outcome="failed")
    assert report_for(results, "core")["gate"]["passed"] is True
    assert report_for(results, "extended")["gate"]["failed_cases"] == ["tls/misdirected_421"]


def test_summary_counts_by_outcome_and_level() -> None:
    summary = report_for(cases())["summary"]
    assert summary["total"] == 6
    assert summary["by_outcome"] == {"passed": 3, "failed": 1, "skipped": 1, "xfailed": 1}
    assert summary["by_level"]["core"] == {"passed": 2, "failed": 0, "skipped": 1,
                                           "xfailed": 1}


def test_files_are_written_to_latest_and_a_timestamped_copy(tmp_path: Path) -> None:
    report = report_for(cases(core_outcome="failed"))
    paths = write_reports(report, tmp_path)
    latest = tmp_path / "latest"
    assert json.loads((latest / "report.json").read_text()) == report
    copy = tmp_path / "simulator-20261129T100000"
    assert copy in paths
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in latest.iterdir())
    markdown = (latest / "report.md").read_text()
    assert "Gate `core`: **FAILED**" in markdown
    assert "| `exact_host` | core | FAIL | 0.21s | expected exact, got 404 |" in markdown
    assert "status=308" in markdown  # observations shown for implementation-specific cases
    suite = ET.fromstring((latest / "junit.xml").read_text())
    # JUnit agrees with the gate: the implementation-specific failure is reported as skipped
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("6", "1", "3")
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["host_rules/exact_host"]
    ungated = [c.find("skipped") for c in suite.iter("testcase")
               if c.get("name") == "tls/plain_http_to_tls_host"]
    assert ungated[0] is not None
    assert ungated[0].get("message", "").startswith("failed, not gated (implementation-specific)")
    assert "<td class=\"bad\"" in (latest / "report.html").read_text()


def test_baseline_loads_entries_with_reasons(tmp_path: Path) -> None:
    path = tmp_path / "baseline.yaml"
    path.write_text("target: traefik\nknown_failures:\n"
                    "  - case: path_rules/docs[exact-foo]\n    reason: string prefixes\n"
                    "    link: https://example.test/issue/1\n")
    baseline = Baseline.load(path)
    entry = baseline.entry("path_rules/docs[exact-foo]")
    assert entry is not None and entry.reason == "string prefixes"
    assert baseline.entry("host_rules/exact_host") is None


@pytest.mark.parametrize(("text", "complaint"), [
    ("known_failures: {}", "known_failures` list"),
    ("known_failures:\n  - reason: x", "needs `case`"),
    ("known_failures:\n  - case: a/b", "needs a `reason`"),
    ("known_failures: [", "not YAML"),
])
def test_baseline_errors_say_what_is_wrong(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "baseline.yaml"
    path.write_text(text)
    with pytest.raises(BaselineError, match=complaint):
        Baseline.load(path)
    with pytest.raises(BaselineError, match="No such file"):
        Baseline.load(tmp_path / "missing.yaml")


def _two_reports(tmp_path: Path) -> list[str]:
    other_target = {**TARGET, "name": "traefik", "controller": "traefik.io/ingress-controller",
                    "version": "v3.3.4"}
    other_cases = cases(core_outcome="failed")[:2]  # fewer cases: the rest show as n/a
    paths = []
    for name, report in (("a", report_for(cases())), ("b", report_for(other_cases,
                                                                       target=other_target))):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(report))
        paths.append(str(path))
    return paths


def test_compare_renders_cases_by_targets_in_markdown(tmp_path: Path) -> None:
    out = compare(_two_reports(tmp_path), str(tmp_path / "matrix.md"))
    text = out.read_text()
    assert "| case | level | simulator (0.1.0) | traefik (v3.3.4) |" in text
    assert "| `exact_host` | core | pass 0.21s | FAIL |" in text
    assert "| `rolling_restart` | core | pass 1.20s | n/a |" in text
    assert "| simulator (0.1.0) | `simulator.dev/reference-ingress-controller` | core 2/3 |" \
        in text


def test_compare_renders_html_and_refuses_other_formats(tmp_path: Path) -> None:
    reports = _two_reports(tmp_path)
    html_text = compare(reports, str(tmp_path / "matrix.html")).read_text()
    assert html_text.count("<tr>") >= 7 and "traefik (v3.3.4)" in html_text
    with pytest.raises(CompareError, match=".md or .html"):
        compare(reports, str(tmp_path / "matrix.txt"))


def test_compare_cli_reports_unreadable_input(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": "9.0"}))
    assert conformance_main(["compare", str(bad), "-o", str(tmp_path / "m.md")]) == 2
    assert "not a conformance report" in capsys.readouterr().err
    good = _two_reports(tmp_path)
    assert conformance_main(["compare", *good, "-o", str(tmp_path / "m.md")]) == 0
