"""Query parameters read the way kube-apiserver reads them.

metav1's parameter codec turns `?limit=...&watch=...` into ListOptions, DeleteOptions and so
on with the conversions of k8s.io/apimachinery/pkg/runtime/conversion.go: an integer goes
through strconv.ParseInt (a malformed one is a 400 BadRequest carrying its error), a boolean
is true unless it is absent, "0" or "false".  The `timeout` of a request that is not a watch
is a Go duration (the WithRequestDeadline filter, 400 when malformed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..gotime import DurationError, parse_duration_ns
from . import errors
from .validation.field import go_quote

_INT64 = re.compile(r"[+-]?[0-9]+")


def int_param(query: Mapping[str, str], name: str) -> int | None:
    """An int64 parameter (None when absent); 400 when strconv.ParseInt refuses it."""
    text = query.get(name)
    if text is None:
        return None
    if not _INT64.fullmatch(text):
        raise errors.bad_request(f"strconv.ParseInt: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if not -2**63 <= value < 2**63:
        raise errors.bad_request(
            f"strconv.ParseInt: parsing {go_quote(text)}: value out of range")
    return value


def flag(query: Mapping[str, str], name: str) -> bool:
    """A boolean parameter: set unless absent, "0" or "false" (any case); even `?watch=`."""
    text = query.get(name)
    return text is not None and text != "0" and text.lower() != "false"


def check_timeout(query: Mapping[str, str]) -> None:
    """400 for a `timeout` that is not a Go duration (what the request deadline filter
    answers; this server enforces no deadline)."""
    text = query.get("timeout")
    if not text:
        return
    try:
        parse_duration_ns(text)
    except DurationError as exc:
        raise errors.bad_request(
            f"invalid timeout specified in the request URL: {exc}") from exc
