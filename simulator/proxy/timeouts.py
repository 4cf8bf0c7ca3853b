"""A cheap timeout for the waits of one connection.

Scheduling and cancelling a timer for every wait (what `asyncio.wait_for` does, and more)
costs more than the rest of a small request's bookkeeping. A `Deadline` instead keeps at most
one timer per connection: each wait only moves the deadline, and when the timer fires early
(the deadline moved on meanwhile) it re-arms itself for the remainder. The timer therefore
fires about once per timeout period, not once per request.
"""

from __future__ import annotations

import asyncio


class Deadline:
    """Resolves the current waiter with False once `timeout` seconds have passed since it
    was armed (the waker resolves it with True first when what it waits for arrives)."""

    __slots__ = ("_loop", "_when", "_handle", "_handle_when", "_waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._when = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._handle_when = 0.0
        self._waiter: asyncio.Future[bool] | None = None

    def arm(self, waiter: asyncio.Future[bool], timeout: float) -> None:
        """Expire `waiter` in `timeout` seconds unless it is done or disarmed before."""
        when = self._loop.time() + timeout
        self._when = when
        self._waiter = waiter
        handle = self._handle
        if handle is None or self._handle_when > when:
            if handle is not None:
                handle.cancel()
            self._handle = self._loop.call_at(when, self._fire)
            self._handle_when = when

    async def wait(self, waiter: asyncio.Future[bool], timeout: float) -> bool:
        """Await `waiter`: its result (True: what it waits for came), or False once
        `timeout` seconds have passed."""
        self.arm(waiter, timeout)
        try:
            return await waiter
        finally:
            self.disarm()

    def disarm(self) -> None:
        """Nothing is waited for any more (the timer may still fire, harmlessly)."""
        self._waiter = None

    def cancel(self) -> None:
        """Drop the timer (the connection is closed)."""
        self._waiter = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        waiter = self._waiter
        if waiter is None:
            return
        if self._loop.time() + 0.001 >= self._when:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(False)
        else:
            self._handle = self._loop.call_at(self._when, self._fire)
            self._handle_when = self._when


class WriteFlow:
    """asyncio.Protocol write flow control, as both sides of the proxy do it: the transport
    pauses and resumes us; a writer that must not buffer more waits for the resume, at most
    until the connection's `Deadline`. Subclasses set `loop` and `_deadline`, and call
    `_init_write_flow()` in `__init__` and `_release_drain(False)` when the connection is
    lost."""

    loop: asyncio.AbstractEventLoop
    _deadline: Deadline
    _writing_paused: bool
    _drain_waiter: asyncio.Future[bool] | None

    def _init_write_flow(self) -> None:
        self._writing_paused = False
        self._drain_waiter = None

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._release_drain(True)

    def _release_drain(self, resumed: bool) -> None:
        drain = self._drain_waiter
        if drain is not None and not drain.done():
            drain.set_result(resumed)

    async def _wait_writable(self, timeout: float) -> bool:
        """True once writing resumed; False when the connection was lost or `timeout`
        seconds passed first."""
        waiter = self._drain_waiter = self.loop.create_future()
        try:
            return await self._deadline.wait(waiter, timeout)
        finally:
            self._drain_waiter = None
