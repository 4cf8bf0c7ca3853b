"""Tables without a printers.go handler.

* custom resources: apiextensions-apiserver's tableconvertor (`tableconvertor.New` /
  `ConvertToTable` / `cellForJSONValue`) over the CRD version's additionalPrinterColumns, which
  `serveDefaultColumnsIfEmpty` replaces by a single Age column when there are none;
* everything else: k8s.io/apiserver/pkg/registry/rest's default table convertor
  (Name, Created At).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ._common import (
    Cells,
    Obj,
    column,
    created_at,
    human_duration,
    is_zero_time,
    name_column,
    name_of,
    parse_rfc3339,
)
from ._descriptions import DOC
from ._jsonpath import JSONPathError, find_results, print_value

# ---- default table convertor -------------------------------------------------------------------

DEFAULT_COLUMNS = (
    name_column(),
    column("Created At", "date", DOC["creationTimestamp"]),
)


def default_cells(obj: Obj, now: datetime) -> Cells:
    """defaultTableConvertor.ConvertToTable: name and the RFC 3339 creation time."""
    return [name_of(obj), created_at(obj)]


# ---- custom resources --------------------------------------------------------------------------

AGE_PRINTER_COLUMN = {
    "name": "Age", "type": "date", "description": DOC["creationTimestamp"],
    "jsonPath": ".metadata.creationTimestamp",
}


def served_printer_columns(printer_columns: list[Mapping[str, Any]] | None
                           ) -> list[Mapping[str, Any]]:
    """serveDefaultColumnsIfEmpty: the CRD version's columns, or just Age."""
    return list(printer_columns) if printer_columns else [AGE_PRINTER_COLUMN]


def custom_columns(printer_columns: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """tableconvertor.New: Name, then one definition per additionalPrinterColumn."""
    columns = [name_column()]
    for col in served_printer_columns(printer_columns):
        path = col.get("jsonPath") or ""
        description = (col.get("description") or
                       f"Custom resource definition column (in JSONPath format): {path}")
        columns.append(column(col.get("name") or "", col.get("type") or "", description,
                              fmt=col.get("format") or "", priority=int(col.get("priority") or 0)))
    return columns


def _date_cell(value: Any, now: datetime) -> str | None:
    """The `date` case of cellForJSONValue (Time.UnmarshalQueryParameter, then
    metatable.ConvertToHumanReadableDateType)."""
    if not isinstance(value, str):
        return None
    if value in ("", "null"):
        return "<unknown>"
    try:
        when = parse_rfc3339(value)
    except (ValueError, OverflowError):
        return "<invalid>"
    return "<unknown>" if is_zero_time(when) else human_duration(now - when)


_JSON_TYPES: dict[str, tuple[type, ...]] = {"boolean": (bool,), "string": (str,)}


def json_cell(header_type: str, value: Any, now: datetime) -> Any:
    """cellForJSONValue: the value as the column type says, or None (null) if it is not one."""
    if value is None:
        return None
    if header_type == "date":
        return _date_cell(value, now)
    if header_type in _JSON_TYPES:
        return value if isinstance(value, _JSON_TYPES[header_type]) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if header_type == "integer":
        return int(value)  # float64 truncates toward zero, as Go's int64() does
    if header_type == "number":
        return float(value)
    return None


def custom_cells(obj: Obj, now: datetime,
                 printer_columns: list[Mapping[str, Any]] | None) -> Cells:
    """convertor.ConvertToTable for one object: the name, then each column's first JSONPath match.

    A column whose path finds nothing (or fails) is null; `string` columns print the value the
    way `kubectl -o jsonpath` does, the other types go through cellForJSONValue.
    """
    cells: Cells = [name_of(obj)]
    for col in served_printer_columns(printer_columns):
        try:
            results = find_results(col.get("jsonPath") or "", obj)
        except (JSONPathError, RecursionError):
            results = []
        if not results:
            cells.append(None)
        elif col.get("type") == "string":
            cells.append(print_value(results[0]))
        else:
            cells.append(json_cell(col.get("type") or "", results[0], now))
    return cells
