"""`python -m conformance compare A.json B.json ... --output matrix.md|matrix.html`: the
side-by-side matrix users compare controllers with: cases down, targets across, each cell the
outcome and the time to consistency."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from .model import SCHEMA_VERSION
from .render import cell_text, html_cell, html_page, md_escape

LEVEL_ORDER = {"core": 0, "extended": 1, "implementation-specific": 2}


class CompareError(Exception):
    """An input report cannot be read; the message names it."""


def load_report(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise CompareError(f"{path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise CompareError(f"{path}: not JSON ({exc})") from exc
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version is None or str(version).split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise CompareError(f"{path}: not a conformance report of schema {SCHEMA_VERSION} "
                           f"(schema_version: {version!r})")
    return data


def column_name(report: dict[str, Any]) -> str:
    t = report["target"]
    return f"{t['name']} ({t['version']})" if t.get("version") not in (None, "unknown") \
        else t["name"]


def _rows(reports: list[dict[str, Any]]) -> list[tuple[str, str, str, list[Any]]]:
    """(feature, case id, level, [case or None per report]) sorted by feature, level, id."""
    index: dict[str, tuple[str, str]] = {}
    per_report = []
    for report in reports:
        cases = {c["id"]: c for c in report["cases"]}
        per_report.append(cases)
        for c in report["cases"]:
            index.setdefault(c["id"], (c["feature"], c["level"]))
    order = sorted(index, key=lambda i: (index[i][0], LEVEL_ORDER.get(index[i][1], 9), i))
    return [(index[i][0], i, index[i][1], [cases.get(i) for cases in per_report])
            for i in order]


def _totals(report: dict[str, Any]) -> str:
    core = report["summary"]["by_level"]["core"]
    ran = sum(core.values()) - core["skipped"]
    return f"core {core['passed']}/{ran}"


def to_markdown(reports: list[dict[str, Any]]) -> str:
    names = [column_name(r) for r in reports]
    lines = ["# Ingress conformance comparison", "",
             "Each cell: outcome and time to consistency (how long the case's routes took "
             "to be served, 3 checks in a row).", "",
             "| target | controller | core passed | gate | duration |", "|---|---|---|---|---|"]
    for name, r in zip(names, reports, strict=True):
        gate = "passed" if r["gate"]["passed"] else "failed"
        if r["gate"].get("baseline"):
            gate += " (with baseline)"
        lines.append(f"| {md_escape(name)} | `{r['target']['controller']}` | {_totals(r)} | "
                     f"{gate} | {r['duration_s']:.1f}s |")
    feature = None
    for feat, case_id, level, cells in _rows(reports):
        if feat != feature:
            feature = feat
            lines += ["", f"## {feature}", "", "| case | level | " + " | ".join(
                md_escape(n) for n in names) + " |", "|---|---|" + "---|" * len(names)]
        lines.append(f"| `{case_id.split('/', 1)[1]}` | {level} | "
                     + " | ".join(md_escape(cell_text(c)) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def to_html(reports: list[dict[str, Any]]) -> str:
    names = [column_name(r) for r in reports]
    head = "".join(f"<th>{html.escape(n)}<br><small>{html.escape(_totals(r))}</small></th>"
                   for n, r in zip(names, reports, strict=True))
    rows = []
    feature = None
    for feat, case_id, level, cells in _rows(reports):
        if feat != feature:
            feature = feat
            rows.append(f'<tr class="feature"><th colspan="{2 + len(names)}">'
                        f"{html.escape(feat)}</th></tr>")
        rows.append(f"<tr><td><code>{html.escape(case_id.split('/', 1)[1])}</code></td>"
                    f"<td>{html.escape(level)}</td>" + "".join(html_cell(c) for c in cells)
                    + "</tr>")
    body = ("<p>Each cell: outcome and time to consistency. Hover a cell for its message."
            "</p>\n<table><tr><th>case</th><th>level</th>" + head + "</tr>\n"
            + "\n".join(rows) + "\n</table>")
    return html_page("Ingress conformance comparison", body)


def compare(paths: list[str], output: str) -> Path:
    """Render the matrix of `paths` to `output` (.md or .html); return the path written."""
    reports = [load_report(p) for p in paths]
    out = Path(output)
    if out.suffix == ".html":
        text = to_html(reports)
    elif out.suffix == ".md":
        text = to_markdown(reports)
    else:
        raise CompareError(f"--output {output}: use a .md or .html file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out
