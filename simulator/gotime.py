"""Go's time.ParseDuration (src/time/format.go), with its error messages.

Kubernetes objects carry Go durations (metav1.Duration) and the echo-basic image answers
its `?delay=` errors with Go's text, so both need the same parser.
"""

from __future__ import annotations

import re


class DurationError(ValueError):
    """time.ParseDuration's error; str() is Go's message."""


def go_quote(text: str) -> str:
    """strconv.Quote for the printable strings that show up in error messages."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_UNITS_NS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000,
             "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}


def parse_duration_ns(text: str) -> int:
    """time.ParseDuration ("300ms", "1.5h", "2h45m", "-1s") -> nanoseconds."""
    orig = text
    s = text
    neg = False
    if s and s[0] in "-+":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise DurationError(f"time: invalid duration {go_quote(orig)}")
    total = 0
    while s:
        m = re.match(r"(\d*)(?:\.(\d*))?", s)
        assert m is not None  # the pattern matches the empty string
        whole, frac = m.group(1), m.group(2)
        if not whole and not frac:
            # Go rejects "." and ".s" alike: at least one digit around the point.
            raise DurationError(f"time: invalid duration {go_quote(orig)}")
        s = s[m.end():]
        u = re.match(r"[^0-9.]*", s)
        assert u is not None
        unit = u.group(0)
        if not unit:
            raise DurationError(f"time: missing unit in duration {go_quote(orig)}")
        if unit not in _UNITS_NS:
            raise DurationError(f"time: unknown unit {go_quote(unit)} in duration "
                                f"{go_quote(orig)}")
        s = s[u.end():]
        scale = _UNITS_NS[unit]
        total += int(whole or "0") * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
    return -total if neg else total
