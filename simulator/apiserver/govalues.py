"""Go's parsers for the JSON strings of a few Kubernetes types, with their error text.

kube-apiserver decodes a body into Go structs, so a `[]byte` field must hold base64
(encoding/base64's StdEncoding), a `resource.Quantity` what `ParseQuantity` takes and a
`metav1.Time` / `MicroTime` what `time.Parse` takes with the RFC 3339 layouts.  Each function
here returns None for a value Go accepts and Go's error message otherwise; `decoding.py` turns
those into the Status kube-apiserver answers.
"""

from __future__ import annotations

import calendar
import re
from decimal import Decimal, InvalidOperation

# ---- encoding/base64 ----------------------------------------------------------------------

_B64_CANONICAL = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_NEWLINES = (ord("\n"), ord("\r"))
_PAD = ord("=")


def base64_error(text: str) -> str | None:
    """base64.StdEncoding.Decode's error for `text`: `illegal base64 data at input byte N`."""
    if _B64_CANONICAL.fullmatch(text):
        return None  # the usual case, without the byte-by-byte walk
    at = _base64_error_offset(text.encode("utf-8", "replace"))
    return None if at is None else f"illegal base64 data at input byte {at}"


def _base64_error_offset(src: bytes) -> int | None:
    """decodeQuantum (src/encoding/base64/base64.go) over every quantum: where it fails."""
    si, end = 0, len(src)
    while si < end:
        sextets = 0
        while sextets < 4:
            if si == end:
                # Input ends inside a quantum: StdEncoding wants padding.
                return si - sextets if sextets else None
            c = src[si]
            si += 1
            if c in _B64_ALPHABET:
                sextets += 1
                continue
            if c in _NEWLINES:
                continue  # newlines are ignored anywhere
            if c != _PAD or sextets < 2:
                return si - 1
            if sextets == 2:  # "==" expected; the first "=" is consumed
                while si < end and src[si] in _NEWLINES:
                    si += 1
                if si == end:
                    return end  # not enough padding
                if src[si] != _PAD:
                    return si - 1
                si += 1
            while si < end and src[si] in _NEWLINES:
                si += 1
            return si if si < end else None  # anything after the padding is garbage
    return None


# ---- resource.Quantity --------------------------------------------------------------------

QUANTITY_FORMAT_ERROR = ("quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
_QUANTITY_SUFFIX_ERROR = "unable to parse quantity's suffix"
_QUANTITY_NUMERIC_ERROR = "unable to parse numeric part of quantity"
_QUANTITY_SUFFIXES = frozenset({"", "n", "u", "m", "k", "M", "G", "T", "P", "E",
                                "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"})
_DIGITS = "0123456789"
_EXPONENT = re.compile(r"[eE][+-]?[0-9]+")
_USUAL_QUANTITY = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[numkMGTPE]|[KMGTPE]i)?")


def quantity_error(text: str) -> str | None:
    """resource.ParseQuantity's error for a Quantity's JSON string (spaces trimmed)."""
    text = text.strip()
    if _USUAL_QUANTITY.fullmatch(text):
        return None
    if not text:
        return QUANTITY_FORMAT_ERROR
    suffix = _quantity_suffix(text)
    if suffix is None:
        return QUANTITY_FORMAT_ERROR
    if suffix in _QUANTITY_SUFFIXES:
        exponent = 0
    elif _EXPONENT.fullmatch(suffix) and abs(int(suffix[1:])) < 2**63:
        exponent = int(suffix[1:])
    else:
        return _QUANTITY_SUFFIX_ERROR
    # A number without digits ("+", ".") is zero, except where ParseQuantity leaves its
    # int64 fast path (Pi and Ei, exponents below nano) for inf.Dec, which refuses it.
    if (suffix in ("Pi", "Ei") or exponent < -9) and \
            not any(c in _DIGITS for c in text[:len(text) - len(suffix)]):
        return _QUANTITY_NUMERIC_ERROR
    return None


_SUFFIX_VALUES = {"": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"),
                  "m": Decimal("1e-3"), "k": Decimal(10**3), "M": Decimal(10**6),
                  "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15),
                  "E": Decimal(10**18), "Ki": Decimal(2**10), "Mi": Decimal(2**20),
                  "Gi": Decimal(2**30), "Ti": Decimal(2**40), "Pi": Decimal(2**50),
                  "Ei": Decimal(2**60)}


def quantity_value(quantity: object) -> Decimal | None:
    """The amount a Quantity (its JSON string or number) stands for; None if it is not one."""
    text = str(quantity).strip()
    if not isinstance(quantity, (str, int, float)) or isinstance(quantity, bool) or \
            quantity_error(text):
        return None
    suffix = _quantity_suffix(text) or ""
    number = text[:len(text) - len(suffix)]
    scale = _SUFFIX_VALUES.get(suffix) or Decimal(10) ** int(suffix[1:])
    try:
        return Decimal(number if number.strip("+-.") else "0") * scale
    except InvalidOperation:
        return None


def _quantity_suffix(s: str) -> str | None:
    """parseQuantityString: the suffix after sign, digits and fraction (None: wrong format)."""
    pos, end = (1 if s[0] in "+-" else 0), len(s)

    def skip(chars: str) -> int:
        i = pos
        while i < end and s[i] in chars:
            i += 1
        return i

    pos = skip(_DIGITS)
    if pos < end and s[pos] == ".":
        pos += 1
        pos = skip(_DIGITS)
    start = pos
    pos = skip("eEinumkKMGTP")
    if pos < end and s[pos] in "+-":
        pos += 1
    pos = skip(_DIGITS)
    return s[start:] if pos >= end else None


# ---- time.Parse ---------------------------------------------------------------------------

RFC3339 = "2006-01-02T15:04:05Z07:00"
RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00"
# The layouts as nextStdChunk splits them: (literal prefix, layout element).
_CHUNKS = {
    RFC3339: (("", "2006"), ("-", "01"), ("-", "02"), ("T", "15"), (":", "04"), (":", "05"),
              ("", "Z07:00")),
    RFC3339_MICRO: (("", "2006"), ("-", "01"), ("-", "02"), ("T", "15"), (":", "04"),
                    (":", "05"), ("", ".000000"), ("", "Z07:00")),
}


# What RFC3339 / RFC3339Micro times usually look like; a match in range needs no parse.
_USUAL_TIME = {
    micro: re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
                      + (r"\.[0-9]{6}" if micro else r"(?:\.[0-9]+)?")
                      + r"(?:Z|[+-]([0-9]{2}):([0-9]{2}))")
    for micro in (False, True)
}


class _Bad(Exception):
    """errBad: the value does not fit the layout element."""


def time_error(text: str, micro: bool = False) -> str | None:
    """time.Parse(RFC3339 or RFC3339Micro, text)'s error, as metav1.Time / MicroTime's
    UnmarshalJSON returns it."""
    usual = _USUAL_TIME[micro].fullmatch(text)
    if usual and _in_range(*(int(g or 0) for g in usual.groups())):
        return None
    layout = RFC3339_MICRO if micro else RFC3339
    head = f"parsing time {_quote(text)}"
    value = text
    fields: dict[str, int] = {}
    for prefix, element in _CHUNKS[layout]:
        if not value.startswith(prefix):
            return f"{head} as {_quote(layout)}: cannot parse {_quote(value)} as {_quote(prefix)}"
        value = value[len(prefix):]
        hold = value
        try:
            value, out_of_range = _parse_element(element, value, fields, micro)
        except _Bad:
            return (f"{head} as {_quote(layout)}: cannot parse {_quote(hold)} as "
                    f"{_quote(element)}")
        if out_of_range:
            return f"{head}: {out_of_range} out of range"
    if value:
        return f"{head}: extra text: {_quote(value)}"
    year, month, day = fields["year"], fields["month"], fields["day"]
    if day < 1 or day > _days_in(year, month):
        return f"{head}: day out of range"
    return None


def _in_range(year: int, month: int, day: int, hour: int, minute: int, second: int,
              zone_hours: int, zone_minutes: int) -> bool:
    return (1 <= month <= 12 and day >= 1 and (day <= 28 or day <= _days_in(year, month))
            and hour < 24 and minute < 60 and second < 60 and zone_hours <= 24
            and zone_minutes <= 60)


def _days_in(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


# Two-digit layout elements: (field, exactly two digits, the range checked while parsing;
# the day is checked against the month at the end).
_NUMBERS: dict[str, tuple[str, bool, range | None]] = {
    "01": ("month", True, range(1, 13)), "02": ("day", True, None),
    "15": ("hour", False, range(24)), "04": ("minute", True, range(60)),
    "05": ("second", True, range(60)),
}


def _parse_element(element: str, value: str, fields: dict[str, int], micro: bool
                   ) -> tuple[str, str]:
    """One std chunk of time.parse: (the rest of the value, the range error if any)."""
    if element == "2006":
        if len(value) < 4 or not all(c in _DIGITS for c in value[:4]):
            raise _Bad
        fields["year"] = int(value[:4])
        return value[4:], ""
    if element in _NUMBERS:
        name, fixed, valid = _NUMBERS[element]
        number, value = _getnum(value, fixed)
        fields[name] = number
        if valid is not None and number not in valid:
            return value, name
        if element == "05" and not micro and len(value) >= 2 and value[0] in ".," \
                and value[1] in _DIGITS:
            # A fraction the layout does not mention is accepted after the seconds.
            n = 2
            while n < len(value) and value[n] in _DIGITS:
                n += 1
            value = value[n:]
        return value, ""
    if element == ".000000":
        if len(value) < 7 or value[0] not in ".,":
            raise _Bad
        digits = value[1:7]
        sign, rest = (digits[0], digits[1:]) if digits[0] in "+-" else ("", digits)
        if not all(c in _DIGITS for c in rest):
            raise _Bad
        return value[7:], "fractional second" if sign == "-" and int(rest) else ""
    return _parse_zone(value)


def _parse_zone(value: str) -> tuple[str, str]:
    """The Z07:00 element: `Z` or a ±hh:mm offset (ranges are checked before the sign)."""
    if value.startswith("Z"):
        return value[1:], ""
    if len(value) < 6 or value[3] != ":":
        raise _Bad
    rest = value[6:]
    hours = _two_digits(value[1:3])
    minutes = _two_digits(value[4:6]) if hours is not None else None
    if (minutes or 0) > 60:  # Go assigns the hour's range error first, then this one
        return rest, "time zone offset minute"
    if (hours or 0) > 24:
        return rest, "time zone offset hour"
    if hours is None or minutes is None or value[0] not in "+-":
        raise _Bad
    return rest, ""


def _two_digits(text: str) -> int | None:
    return int(text) if len(text) == 2 and all(c in _DIGITS for c in text) else None


def _getnum(value: str, fixed: bool) -> tuple[int, str]:
    """getnum: one or two leading digits (exactly two when `fixed`)."""
    if not value or value[0] not in _DIGITS:
        raise _Bad
    if len(value) < 2 or value[1] not in _DIGITS:
        if fixed:
            raise _Bad
        return int(value[0]), value[1:]
    return int(value[:2]), value[2:]


def _quote(text: str) -> str:
    """The time package's quote: ASCII as is (\\ and " escaped), other bytes as \\xNN."""
    out = ['"']
    for ch in text:
        if ch < " " or ch >= "\x80":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "replace"))
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    out.append('"')
    return "".join(out)
