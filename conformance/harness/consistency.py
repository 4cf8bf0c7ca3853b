"""Eventual-consistency polling, with the Gateway API conformance defaults: poll every
100 ms, require 3 consecutive successes, give up after 30 s. Every assertion of a check runs
inside the loop, so a target that is right but slow passes (and shows up as slow in the
report), while one that flaps between right and wrong does not."""

from __future__ import annotations

import dataclasses
import http.client
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from . import record

T = TypeVar("T")

# What a not-yet-converged target may do besides answering wrongly.
RETRYABLE = (AssertionError, OSError, http.client.HTTPException, ssl.SSLError)


@dataclass(frozen=True)
class Settings:
    poll_s: float = 0.1
    successes: int = 3
    timeout_s: float = 30.0


DEFAULT = Settings()
_configured = DEFAULT


def configure(settings: Settings) -> None:
    """Set the defaults for this run (the plugin's --consistency-timeout)."""
    global _configured
    _configured = settings


def current() -> Settings:
    return _configured


RECHECK_TIMEOUT_S = 5.0


def recheck() -> Settings:
    """For checks on objects a module's shared setup has already seen live (its own wait
    used the defaults, so the target has applied them): the same 3 consecutive successes,
    polled every 20 ms (re-verifying a converged route costs 40 ms rather than 200 ms), and
    at most 5 s for the target to settle, so a target that routes differently fails each
    such case in seconds rather than in 30."""
    return dataclasses.replace(_configured, poll_s=0.02,
                               timeout_s=min(_configured.timeout_s, RECHECK_TIMEOUT_S))


class NotConsistent(AssertionError):
    """The check never passed `successes` times in a row before the deadline."""


def eventually(check: Callable[[], T], what: str, settings: Settings | None = None, *,
               measure: bool = True) -> T:
    """Call `check` until it returns without raising `settings.successes` times in a row;
    return its last result. The time until the first of those successes is recorded as the
    case's time to consistency (unless `measure` is False: waits on the cluster, such as a
    rollout, are not the controller's doing). At the deadline, fail with the last error."""
    settings = settings or _configured
    started = time.monotonic()
    streak = 0
    streak_started = started
    attempts = 0
    last_error: BaseException | None = None
    while True:
        attempts += 1
        attempt_started = time.monotonic()
        try:
            result = check()
        except RETRYABLE as exc:
            streak = 0
            last_error = exc
        else:
            if streak == 0:
                streak_started = attempt_started
            streak += 1
            if streak >= settings.successes:
                if measure:
                    record.consistency(streak_started - started)
                return result
        elapsed = time.monotonic() - started
        if elapsed >= settings.timeout_s:
            detail = f"{type(last_error).__name__}: {last_error}" if last_error else "flapping"
            raise NotConsistent(
                f"{what}: not consistent after {elapsed:.1f}s ({attempts} attempts, "
                f"{settings.successes} consecutive successes needed); last: {detail}"
            ) from last_error
        time.sleep(settings.poll_s)


def holds(check: Callable[[], object], what: str, duration_s: float,
          poll_s: float = DEFAULT.poll_s) -> None:
    """Assert that `check` passes on every poll for `duration_s` (for "never routed"
    properties once a sentinel shows the target has caught up)."""
    deadline = time.monotonic() + duration_s
    while True:
        try:
            check()
        except RETRYABLE as exc:
            raise AssertionError(f"{what}: stopped holding: {exc}") from exc
        if time.monotonic() >= deadline:
            return
        time.sleep(poll_s)
