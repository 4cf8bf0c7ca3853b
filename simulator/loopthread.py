"""Running an asyncio service on a daemon thread with its own event loop.

The API server, the cluster and the whole simulator are asyncio code that tests and the
synchronous conformance harness drive from ordinary threads: this is the one place that
starts such a service, reports a failed start to the caller, and stops it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """`start()` runs `start_service()` on a new loop and returns once it has finished;
    the loop then runs until `stop()`, which awaits `stop_service()` on it."""

    def __init__(self, name: str, start_service: Callable[[], Awaitable[Any]],
                 stop_service: Callable[[], Awaitable[Any]]) -> None:
        self.name = name
        self._start_service = start_service
        self._stop_service = stop_service
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 60.0) -> None:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self.loop = loop
            try:
                loop.run_until_complete(self._start_service())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
                with contextlib.suppress(Exception):  # release what did start
                    loop.run_until_complete(self._stop_service())
                loop.close()
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._stop_service())
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise TimeoutError(f"the {self.name} did not start in {timeout:.0f}s")
        if failure:
            raise RuntimeError(f"the {self.name} failed to start: {failure[0]}") \
                from failure[0]

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run `fn()` (a coroutine function) on the service's loop and return its result."""
        assert self.loop is not None

        async def wrapper() -> T:
            return await fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        if self.loop is not None and self._thread is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
        self._thread = None


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and await whatever tasks the service left behind (as asyncio.run does), so
    closing the loop destroys no pending task."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
