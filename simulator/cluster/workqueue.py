"""client-go's workqueue on asyncio: de-duplicated keys, delayed adds, per-item backoff.

The guarantees controllers rely on (k8s.io/client-go/util/workqueue/queue.go):

- a key added many times before a worker takes it is processed once (dirty set);
- a key is never processed by two workers at once: re-added while processing, it waits
  until `done` and is then queued again (processing set);
- `add_rate_limited` backs a failing key off exponentially (ItemExponentialFailureRateLimiter,
  5 ms doubling; capped lower than upstream's 1000 s so a simulation recovers in seconds),
  and `forget` resets it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable

BASE_DELAY = 0.005
MAX_DELAY = 5.0


class ShutDown(Exception):
    """Raised by `get` once the queue is shut down."""


class WorkQueue:
    """A rate-limiting, delaying, de-duplicating queue of keys for one event loop."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._failures: dict[Hashable, int] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timers: set[asyncio.TimerHandle] = set()
        self._waiting: dict[Hashable, asyncio.TimerHandle] = {}
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: Hashable) -> None:
        """Queue `key` unless it is already waiting."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # queued again by `done`
        self._queue.append(key)
        self._wake()

    def add_after(self, key: Hashable, delay: float) -> None:
        """Add `key` after `delay` seconds (DelayingInterface.AddAfter)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        pending = self._waiting.get(key)
        if pending is not None and pending.when() <= when:
            return  # already due no later (the delaying queue keeps the earliest)
        if pending is not None:
            pending.cancel()
            self._timers.discard(pending)
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            if self._waiting.get(key) is handle:
                del self._waiting[key]
            self.add(key)

        handle = loop.call_at(when, fire)
        self._timers.add(handle)
        self._waiting[key] = handle

    def add_rate_limited(self, key: Hashable) -> None:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self.add_after(key, min(MAX_DELAY, BASE_DELAY * (2 ** min(failures, 30))))

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> Hashable:
        """The next key; the caller must call `done(key)` when finished with it."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: Hashable) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake()

    def shutdown(self) -> None:
        self._shutting_down = True
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self._waiting.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
