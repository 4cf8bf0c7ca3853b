"""The clock a scenario runs on: offsets in seconds from its start."""

from __future__ import annotations

import time


class Clock:
    """Monotonic wall clock; `sleep_until` never goes back in time."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def start(self) -> None:
        """Set offset 0 to now."""
        self._start = time.monotonic()

    def now(self) -> float:
        """Seconds since start."""
        return time.monotonic() - self._start

    def sleep_until(self, offset: float) -> None:
        """Block until `offset` (at once if it has passed: a late step runs late)."""
        delay = offset - self.now()
        if delay > 0:
            time.sleep(delay)
