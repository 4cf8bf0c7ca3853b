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

import urllib3
from kubernetes.client import ApiException

from . import record

T = TypeVar("T")

# What a not-yet-converged target may do besides answering wrongly, and what a real API
# server does now and then under load or while it restarts: the client's connection errors
# (urllib3 raises them as its own HTTPError: MaxRetryError once its retries are spent, or
# ProtocolError for a connection dropped mid-answer).
RETRYABLE = (AssertionError, OSError, http.client.HTTPException, ssl.SSLError,
             urllib3.exceptions.MaxRetryError, urllib3.exceptions.ProtocolError,
             urllib3.exceptions.TimeoutError, urllib3.exceptions.NewConnectionError)
# API answers that say "try again": 429 Too Many Requests (API priority and fairness) and
# 5xx (etcd leader change, a webhook or aggregated API down, a restarting server). Other
# 4xx (404, 409, 422, ...) mean something about the request and fail the check at once.
RETRYABLE_API_STATUS = frozenset({429})


def retryable(exc: BaseException) -> bool:
    """Whether `exc`, raised by a check, means "not yet" rather than "wrong"."""
    if isinstance(exc, ApiException):
        status = exc.status or 0
        return status in RETRYABLE_API_STATUS or status >= 500
    return isinstance(exc, RETRYABLE)


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
        except Exception as exc:
            if not retryable(exc):
                raise
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
    properties once a sentinel shows the target has caught up). A poll the API server
    answers with a transient error (429, 5xx, a dropped connection) says nothing either way:
    it is repeated, and at least one poll must get through."""
    deadline = time.monotonic() + duration_s
    checked = False
    api_error: BaseException | None = None
    while True:
        try:
            check()
            checked = True
        except AssertionError as exc:
            raise AssertionError(f"{what}: stopped holding: {exc}") from exc
        except Exception as exc:
            if not retryable(exc):
                raise
            if isinstance(exc, (ApiException, urllib3.exceptions.HTTPError)):
                api_error = exc  # the API server's trouble, not the target's
            else:
                raise AssertionError(f"{what}: stopped holding: {exc}") from exc
        if time.monotonic() >= deadline:
            if not checked:
                raise AssertionError(f"{what}: not checked once in {duration_s:.1f}s: the "
                                     f"API server kept failing: {api_error}")
            return
        time.sleep(poll_s)
