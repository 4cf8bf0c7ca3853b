"""Small rendering pieces shared by the report files and the comparison matrix."""

from __future__ import annotations

import html
from typing import Any

OUTCOME_MARK = {"passed": "pass", "failed": "FAIL", "skipped": "skip", "xfailed": "xfail"}
OUTCOME_CLASS = {"passed": "ok", "failed": "bad", "skipped": "skip", "xfailed": "known"}

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.ok { background: #e6f4ea; } td.bad { background: #fce8e6; font-weight: bold; }
td.skip { background: #f1f3f4; color: #666; } td.known { background: #fef7e0; }
td.none { color: #aaa; } tr.feature th { background: #e8eaed; }
small { color: #555; }
"""


def seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}s"


def cell_text(case: dict[str, Any] | None) -> str:
    """A case's outcome in one short string: 'pass 0.31s', 'FAIL', 'n/a'."""
    if case is None:
        return "n/a"
    text = OUTCOME_MARK.get(case["outcome"], case["outcome"])
    ttc = seconds(case.get("time_to_consistency_s"))
    if case["outcome"] == "passed" and ttc:
        text += f" {ttc}"
    if case.get("errors"):
        text += f" ({case['errors']} errors)"
    return text


def md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def html_page(title: str, body: str) -> str:
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title><style>{CSS}</style></head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
            f"{body}\n</body></html>\n")


def html_cell(case: dict[str, Any] | None) -> str:
    if case is None:
        return '<td class="none">n/a</td>'
    css = OUTCOME_CLASS.get(case["outcome"], "")
    tip = html.escape(case.get("message") or "", quote=True)
    return f'<td class="{css}" title="{tip}">{html.escape(cell_text(case))}</td>'
