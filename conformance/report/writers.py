"""The files of one run: report.json, report.md, junit.xml and report.html, written to
DIR/latest and copied to DIR/<target>-<timestamp>."""

from __future__ import annotations

import html
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from .render import OUTCOME_MARK, html_cell, html_page, md_escape, seconds

FILES = ("report.json", "report.md", "junit.xml", "report.html")


def write_reports(report: dict[str, Any], directory: Path) -> list[Path]:
    """Write every format to `directory/latest` and a timestamped copy; return the paths
    worth printing (the latest JSON, Markdown and HTML, and the copy's folder)."""
    latest = directory / "latest"
    latest.mkdir(parents=True, exist_ok=True)
    (latest / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (latest / "report.md").write_text(to_markdown(report))
    (latest / "junit.xml").write_text(to_junit(report))
    (latest / "report.html").write_text(to_html(report))
    stamp = report["started_at"].replace(":", "").replace("-", "").split("+")[0]
    copy = directory / f"{report['target']['name']}-{stamp}"
    copy.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(latest / name, copy / name)
    return [latest / "report.json", latest / "report.md", latest / "report.html", copy]


def _title(report: dict[str, Any]) -> str:
    t = report["target"]
    return f"Ingress conformance: {t['name']} ({t['controller']} {t['version']})"


def to_markdown(report: dict[str, Any]) -> str:
    gate = report["gate"]
    lines = [f"# {_title(report)}", "",
             f"Started {report['started_at']}, {report['duration_s']:.1f}s. Gate "
             f"`{gate['level']}`: **{'passed' if gate['passed'] else 'FAILED'}**"
             + (f" (baseline `{gate['baseline']}`)" if gate["baseline"] else "") + ".", "",
             "| level | passed | failed | xfailed | skipped |", "|---|---|---|---|---|"]
    for level, counts in report["summary"]["by_level"].items():
        lines.append(f"| {level} | {counts['passed']} | {counts['failed']} | "
                     f"{counts['xfailed']} | {counts['skipped']} |")
    feature = None
    for case in report["cases"]:
        if case["feature"] != feature:
            feature = case["feature"]
            lines += ["", f"## {feature}", "",
                      "| case | level | outcome | time to consistency | message |",
                      "|---|---|---|---|---|"]
        ttc = seconds(case["time_to_consistency_s"])
        lines.append(f"| `{case['id'].split('/', 1)[1]}` | {case['level']} | "
                     f"{OUTCOME_MARK[case['outcome']]} | {ttc} | "
                     f"{md_escape(case['message'] or _observed(case))} |")
    return "\n".join(lines) + "\n"


def _observed(case: dict[str, Any]) -> str:
    obs = case.get("observations") or {}
    return ", ".join(f"{k}={v}" for k, v in obs.items())


_NOT_FINISHED = "the run stopped (interrupted, -x, or a crashed worker) before it finished"


def to_junit(report: dict[str, Any]) -> str:
    """JUnit XML for CI tools, agreeing with the gate: a `<failure>` only for the failures
    the gate counts (the others are `<skipped>`, the failure in the message), an `<error>`
    for each case that did not finish (those that never started have no other record)."""
    cases = report["cases"]
    gated = set(report["gate"]["failed_cases"])
    unfinished = set(report["gate"].get("incomplete_cases") or [])
    suite = ET.Element("testsuite", {
        "name": f"ingress-conformance.{report['target']['name']}",
        "time": f"{report['duration_s']:.3f}", "timestamp": report["started_at"]})
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for case in cases:
        element = ET.SubElement(suite, "testcase", {
            "classname": f"conformance.{case['feature']}", "name": case["id"],
            "time": f"{case['duration_s']:.3f}"})
        props = ET.SubElement(element, "properties")
        ET.SubElement(props, "property", {"name": "level", "value": case["level"]})
        if case["time_to_consistency_s"] is not None:
            ET.SubElement(props, "property", {"name": "time_to_consistency_s",
                                              "value": str(case["time_to_consistency_s"])})
        counts["tests"] += 1
        if case["id"] in unfinished:
            _child(element, "error", case["message"] or _NOT_FINISHED, counts, "errors")
        elif case["outcome"] == "failed" and case["id"] in gated:
            _child(element, "failure", case["message"], counts, "failures")
        elif case["outcome"] == "failed":  # reported, but the gate does not count it
            _child(element, "skipped", f"failed, not gated ({case['level']}): "
                   f"{case['message']}", counts, "skipped")
        elif case["outcome"] in ("skipped", "xfailed"):
            _child(element, "skipped", f"{case['outcome']}: {case['message']}", counts,
                   "skipped")
    for nodeid in sorted(unfinished - {case["id"] for case in cases}):  # never started
        element = ET.SubElement(suite, "testcase", {"classname": "conformance",
                                                    "name": nodeid})
        counts["tests"] += 1
        _child(element, "error", _NOT_FINISHED, counts, "errors")
    for name, count in counts.items():
        suite.set(name, str(count))
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _child(element: ET.Element, tag: str, message: str, counts: dict[str, int],
           counter: str) -> None:
    child = ET.SubElement(element, tag, {"message": message})
    if tag != "skipped":
        child.text = message
    counts[counter] += 1


def to_html(report: dict[str, Any]) -> str:
    gate = report["gate"]
    rows = []
    feature = None
    for case in report["cases"]:
        if case["feature"] != feature:
            feature = case["feature"]
            rows.append(f'<tr class="feature"><th colspan="4">{html.escape(feature)}</th></tr>')
        rows.append(f"<tr><td><code>{html.escape(case['id'].split('/', 1)[1])}</code></td>"
                    f"<td>{html.escape(case['level'])}</td>{html_cell(case)}"
                    f"<td><small>{html.escape(case['message'] or _observed(case))}</small>"
                    f"</td></tr>")
    body = (f"<p>Started {html.escape(report['started_at'])}, {report['duration_s']:.1f}s. "
            f"Gate <code>{html.escape(gate['level'])}</code>: "
            f"<b>{'passed' if gate['passed'] else 'FAILED'}</b>.</p>\n"
            "<table><tr><th>case</th><th>level</th><th>outcome</th><th>note</th></tr>\n"
            + "\n".join(rows) + "\n</table>")
    return html_page(_title(report), body)
