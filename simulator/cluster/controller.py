"""The shape every control loop shares: a work queue of keys drained by a few workers.

As in kube-controller-manager (`processNextWorkItem`): a key whose sync fails is retried
with per-key backoff; a key that syncs is forgotten by the rate limiter. Informer handlers
only enqueue keys, so bursts of events for one object collapse into one sync.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable

import aiohttp

from .client import ApiError
from .workqueue import ShutDown, WorkQueue

log = logging.getLogger(__name__)


class Requeue(Exception):
    """Raised by a sync to be retried later without logging an error (stale cache)."""

    def __init__(self, after: float = 0.05) -> None:
        super().__init__(f"requeue after {after}s")
        self.after = after


class Controller:
    """Base class: subclasses register informer handlers and implement `sync(key)`."""

    name = "controller"
    workers = 4
    # A key is not synced again sooner than SPACING times its last sync's duration after it.
    # Upstream's syncs are cheap Go loops run once per event; here a sync over thousands of
    # pods is not, and a burst of events must collapse into few syncs instead of one each
    # (the batching `--endpointslice-updates-batch-period` offers upstream, made adaptive).
    # The duration is wall time: it grows with the load on the process (this loop and the
    # API server's thread), which is when coalescing pays; a sync of a few milliseconds
    # delays the next one by a few more, which measurements show costs no latency in small
    # clusters.
    SPACING = 3.0

    def __init__(self) -> None:
        self.queue = WorkQueue(self.name)
        self._tasks: list[asyncio.Task[None]] = []
        self._last_sync: dict[Hashable, tuple[float, float]] = {}

    async def sync(self, key: Hashable) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def enqueue(self, key: Hashable) -> None:
        """Queue `key` for a sync; soon after an expensive sync of the same key, a little
        later (see `SPACING`)."""
        last = self._last_sync.get(key)
        if last is not None:
            ended, took = last
            wait = ended + self.SPACING * took - time.monotonic()
            if wait > 0.001:
                self.queue.add_after(key, wait)
                return
        self.queue.add(key)

    def start(self) -> None:
        for i in range(self.workers):
            self._tasks.append(asyncio.create_task(self._worker(),
                                                   name=f"{self.name}-worker-{i}"))

    async def stop(self) -> None:
        self.queue.shutdown()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            started = time.monotonic()
            try:
                await self.sync(key)
                self.queue.forget(key)
            except asyncio.CancelledError:
                raise
            except Requeue as req:
                self.queue.add_after(key, req.after)
            except ApiError as exc:
                # Conflicts and stale reads are routine with optimistic concurrency.
                level = logging.DEBUG if exc.code in (404, 409) else logging.WARNING
                log.log(level, "%s: sync %s failed: %s", self.name, key, exc)
                self.queue.add_rate_limited(key)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                log.debug("%s: sync %s interrupted: %r", self.name, key, exc)
                self.queue.add_rate_limited(key)
            except Exception:  # noqa: BLE001 - a bug in one sync must not kill the loop
                log.exception("%s: sync %s crashed", self.name, key)
                self.queue.add_rate_limited(key)
            finally:
                ended = time.monotonic()
                self._record(key, ended, ended - started)
                self.queue.done(key)

    def _record(self, key: Hashable, ended: float, took: float) -> None:
        # Re-inserted so the map stays ordered by end time; entries whose spacing has passed
        # are dropped from the front, which keeps it small under churn.
        self._last_sync.pop(key, None)
        if took * self.SPACING > 0.001:
            self._last_sync[key] = (ended, took)
        while self._last_sync:
            first = next(iter(self._last_sync))
            first_ended, first_took = self._last_sync[first]
            if first_ended + self.SPACING * first_took > ended:
                break
            del self._last_sync[first]
