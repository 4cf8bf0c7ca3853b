"""Helpers shared by the table printers: columns, timestamps, HumanDuration, label formatting.

Each helper ports one upstream function and names it in its docstring.  Objects are the JSON
dicts the store holds, so "nil" in Go is a missing key (or JSON null) here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ._descriptions import DOC

Obj = Mapping[str, Any]
Cells = list[Any]

NONE = "<none>"
UNKNOWN = "<unknown>"
UNSET = "<unset>"


@dataclass(frozen=True)
class Printer:
    """The column definitions of one kind and the function computing a row's cells."""

    columns: tuple[dict[str, Any], ...]
    cells: Callable[[Obj, datetime], Cells]


def column(name: str, type_: str = "string", description: str = "", *, fmt: str = "",
           priority: int = 0) -> dict[str, Any]:
    """A metav1.TableColumnDefinition as JSON (every field is serialized, none is omitempty)."""
    return {"name": name, "type": type_, "format": fmt, "description": description,
            "priority": priority}


def name_column(priority: int = 0) -> dict[str, Any]:
    """`{Name: "Name", Type: "string", Format: "name", Description: ObjectMeta name doc}`."""
    return column("Name", fmt="name", description=DOC["name"], priority=priority)


def age_column() -> dict[str, Any]:
    """`{Name: "Age", Type: "string", Description: ObjectMeta creationTimestamp doc}`."""
    return column("Age", description=DOC["creationTimestamp"])


CONTAINERS_COLUMN = column("Containers", priority=1,
                           description="Names of each container in the template.")
IMAGES_COLUMN = column("Images", priority=1,
                       description="Images referenced by each container in the template.")


# ---- object access -------------------------------------------------------------------------


def dig(obj: Any, *path: str | int, default: Any = None) -> Any:
    """`obj[path[0]][path[1]]...`, or `default` when a step is missing, null or the wrong type."""
    cur = obj
    for key in path:
        if isinstance(key, int) and isinstance(cur, list) and -len(cur) <= key < len(cur):
            cur = cur[key]
        elif isinstance(key, str) and isinstance(cur, Mapping):
            cur = cur.get(key)
        else:
            return default
        if cur is None:
            return default
    return cur


def name_of(obj: Obj) -> str:
    """metadata.name."""
    return dig(obj, "metadata", "name", default="")


def items(obj: Any, *path: str) -> list[Any]:
    """A list field (nil or missing is empty)."""
    value = dig(obj, *path, default=[])
    return value if isinstance(value, list) else []


def mapping(obj: Any, *path: str) -> Mapping[str, Any]:
    """A map field (nil or missing is empty)."""
    value = dig(obj, *path, default={})
    return value if isinstance(value, Mapping) else {}


def integer(obj: Any, *path: str, default: int = 0) -> int:
    """An int32/int64 field; Go's zero value when unset."""
    value = dig(obj, *path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


# ---- time --------------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)
ZERO_TIME = datetime(1, 1, 1, tzinfo=timezone.utc)


def parse_rfc3339(text: str) -> datetime:
    """time.Parse(time.RFC3339, text) as an aware UTC datetime (ValueError if it does not parse)."""
    m = _RFC3339.match(text)
    if not m:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac, zulu, sign, off_h, off_m = m.groups()[6:]
    offset = timedelta(0)
    if not zulu:
        offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (1 if sign == "+" else -1)
    micros = int((frac or "0")[:6].ljust(6, "0"))
    parsed = datetime(year, month, day, hour, minute, second, micros, tzinfo=timezone(offset))
    return parsed.astimezone(timezone.utc)


def parse_time(value: Any, *, micro: bool = False) -> datetime | None:
    """A metav1.Time (`micro=False`, second precision) or metav1.MicroTime from its JSON form.

    Returns None for Go's zero time: null, "", the year-1 epoch, or text that does not parse.
    """
    if isinstance(value, datetime):
        parsed = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        parsed = parsed.astimezone(timezone.utc)
    elif isinstance(value, str):
        try:
            parsed = parse_rfc3339(value)
        except (ValueError, OverflowError):
            return None
    else:
        return None
    if not micro:
        parsed = parsed.replace(microsecond=0)
    return None if is_zero_time(parsed) else parsed


def is_zero_time(when: datetime) -> bool:
    """time.Time.IsZero: January 1, year 1, 00:00:00 UTC."""
    return when == ZERO_TIME


def human_duration(d: timedelta) -> str:
    """Port of k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    micros = (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds
    # int(d.Seconds()) truncates toward zero.
    seconds = micros // 1_000_000 if micros >= 0 else -((-micros) // 1_000_000)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if dy == 0 else f"{years}y{dy}d"
    return f"{hours // 24 // 365}y"


def since(value: Any, now: datetime, *, micro: bool = False) -> str:
    """translateTimestampSince / translateMicroTimestampSince: `<unknown>` for the zero time."""
    when = parse_time(value, micro=micro)
    if when is None:
        return UNKNOWN
    return human_duration(now - when)


def age(obj: Obj, now: datetime) -> str:
    """translateTimestampSince(obj.CreationTimestamp)."""
    return since(dig(obj, "metadata", "creationTimestamp"), now)


def created_at(obj: Obj) -> str:
    """`m.GetCreationTimestamp().Time.UTC().Format(time.RFC3339)` (the zero time included)."""
    t = parse_time(dig(obj, "metadata", "creationTimestamp")) or ZERO_TIME
    return (f"{t.year:04d}-{t.month:02d}-{t.day:02d}"
            f"T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z")


# ---- labels and selectors ----------------------------------------------------------------------


def format_labels(labels: Any) -> str:
    """labels.FormatLabels: `k=v` pairs sorted by key, or `<none>`."""
    if not isinstance(labels, Mapping) or not labels:
        return NONE
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


_SELECTOR_OPS = {"In": " in ", "NotIn": " notin ", "Exists": "", "DoesNotExist": ""}


def _requirement(expr: Mapping[str, Any]) -> str:
    """labels.Requirement.String() for one LabelSelectorRequirement (ValueError if invalid)."""
    op, key = expr.get("operator"), expr.get("key") or ""
    values = [str(v) for v in expr.get("values") or []]
    if op not in _SELECTOR_OPS:
        raise ValueError(f"{op!r} is not a valid label selector operator")
    if op in ("Exists", "DoesNotExist"):
        if values:
            raise ValueError("values set must be empty for exists and does not exist")
        return key if op == "Exists" else f"!{key}"
    if not values:
        raise ValueError("for 'in', 'notin' operators, values set can't be empty")
    joined = values[0] if len(values) == 1 else ",".join(sorted(values))
    return f"{key}{_SELECTOR_OPS[op]}({joined})"


def label_selector_string(selector: Any) -> str:
    """metav1.LabelSelectorAsSelector(selector).String(); ValueError when it does not convert.

    nil selects nothing and an empty selector everything: both print as "".
    """
    if not isinstance(selector, Mapping):
        return ""
    requirements: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        requirements.append((key, f"{key}={value}"))
    for expr in selector.get("matchExpressions") or []:
        requirements.append((expr.get("key") or "", _requirement(expr)))
    requirements.sort(key=lambda r: r[0])  # internalSelector.Add sorts by key
    return ",".join(text for _, text in requirements)


def format_label_selector(selector: Any) -> str:
    """metav1.FormatLabelSelector: the selector string, `<none>` if empty, `<error>` if invalid."""
    try:
        text = label_selector_string(selector)
    except ValueError:
        return "<error>"
    return text or NONE


def layout_container_cells(containers: Iterable[Any]) -> tuple[str, str]:
    """layoutContainerCells: comma-joined container names and images."""
    containers = [c for c in containers if isinstance(c, Mapping)]
    return (",".join(c.get("name") or "" for c in containers),
            ",".join(c.get("image") or "" for c in containers))


def sorted_set(values: Iterable[str]) -> list[str]:
    """sets.NewString(values...).List(): unique and sorted."""
    return sorted(set(values))


def list_with_more(values: list[str], more: bool, count: int, limit: int) -> str:
    """listWithMoreString: `a,b,c + N more...`, or `<unset>` for an empty list."""
    ret = ",".join(values)
    if more:
        return f"{ret} + {count - limit} more..."
    return ret or UNSET


def condition_status(conditions: Any, type_: str) -> str | None:
    """The status of the first condition of `type_`, None when there is none."""
    for cond in conditions if isinstance(conditions, list) else []:
        if isinstance(cond, Mapping) and cond.get("type") == type_:
            return cond.get("status")
    return None
