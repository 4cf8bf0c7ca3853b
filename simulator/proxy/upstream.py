"""Connections to upstream endpoints: asyncio Protocols feeding an httptools (llhttp)
response parser, and a keep-alive pool."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time

from httptools import (
    HttpParserCallbackError,
    HttpParserError,
    HttpParserUpgrade,
    HttpResponseParser,
)

from simulator.routing import Endpoint

from .timeouts import Deadline, WriteFlow

END = object()  # event: the response body has ended
READ_LIMIT = 256 * 1024  # queued response-body bytes before reading from the upstream pauses


class UpstreamError(Exception):
    """The upstream exchange failed; `status` is what the client gets if nothing was sent yet."""

    status = 502


class ConnectFailed(UpstreamError):
    """No TCP connection could be made (refused, unreachable)."""


class UpstreamTimeout(UpstreamError):
    """Connecting, writing to or waiting for the upstream took longer than allowed."""

    status = 504


class UpstreamBroken(UpstreamError):
    """The upstream closed the connection or sent something that is not HTTP/1.1."""

    def __init__(self, message: str, *, received: bool) -> None:
        super().__init__(message)
        self.received = received  # whether any response bytes had arrived


class _Stop(Exception):
    """Raised from a parser callback to stop parsing (the response to HEAD has no body)."""


class ResponseHead:
    """A final (non-1xx) response head. `headers` as received (raw bytes, in order)."""

    __slots__ = ("status", "reason", "headers", "keep_alive", "content_length", "chunked",
                 "codings", "until_close", "bodyless")

    def __init__(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]],
                 keep_alive: bool, content_length: bytes | None, chunked: bool,
                 bodyless: bool, codings: bytes = b"") -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.keep_alive = keep_alive
        self.content_length = content_length
        self.chunked = chunked
        # Transfer codings other than a final "chunked" (b"gzip"): the body pieces are still
        # encoded with them, so the client must be told (Transfer-Encoding is hop-by-hop, but
        # only the chunked framing is this hop's to undo).
        self.codings = codings
        self.bodyless = bodyless  # HEAD, 204, 304: no body whatever the fields say
        # RFC 9112 6.3 item 8: no Content-Length, not chunked -> the body ends at close.
        self.until_close = not bodyless and content_length is None and not chunked


class UpstreamConnection(WriteFlow, asyncio.Protocol):
    """One TCP connection to an endpoint. `begin` starts an exchange; `next_event` then
    yields the ResponseHead, the body pieces (bytes) and END."""

    def __init__(self, hostport: str) -> None:
        self.hostport = hostport
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_event_loop()
        self._deadline = Deadline(self.loop)
        self.reused = False
        self.received = False  # any byte of the current response arrived
        self.idle_since = 0.0
        self.closed = False
        self._parser: HttpResponseParser | None = None
        self._events: collections.deque[object] = collections.deque()
        self._waiter: asyncio.Future[bool] | None = None
        self._init_write_flow()
        self._reading_paused = False
        self._queued = 0  # body bytes in _events
        self._head_request = False
        self._informational = False
        self._head: ResponseHead | None = None
        self._done = False
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:  # bytes on an idle connection: it cannot be trusted any more
            self.closed = True
            with contextlib.suppress(Exception):
                self.transport.abort()  # type: ignore[union-attr]
            return
        self.received = True
        try:
            parser.feed_data(data)
        except HttpParserCallbackError as exc:
            self._parser = None
            if not isinstance(exc.__context__, _Stop):
                self._broken(f"bad upstream response: {exc}")
        except HttpParserUpgrade:
            self._parser = None
            self._broken("upstream switched protocols unasked")
        except HttpParserError as exc:
            self._parser = None
            self._broken(f"bad upstream response: {exc}")
        self._wake()

    def eof_received(self) -> None:
        self._closed_by_peer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed_by_peer()
        self._deadline.cancel()
        self._release_drain(False)

    def _closed_by_peer(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._parser is None or self._done:
            return
        self._parser = None
        head = self._head
        if head is not None and head.until_close:
            self._done = True
            self._events.append(END)
        else:
            self._broken("upstream closed the connection")
        self._wake()

    def _broken(self, message: str) -> None:
        self._done = True
        self._events.append(UpstreamBroken(message, received=self.received))

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and self._events and not waiter.done():
            waiter.set_result(True)

    # -- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._reason = b""
        self._headers = []

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        assert parser is not None
        status = parser.get_status_code()
        if status < 200:  # 1xx (101 stops the parser): not relayed, the final one follows
            self._informational = True
            return
        content_length = None
        codings: list[bytes] = []
        for name, value in self._headers:
            lower = name.lower()
            if lower == b"content-length":
                content_length = value
            elif lower == b"transfer-encoding":
                codings += [c for c in (c.strip().lower() for c in value.split(b",")) if c]
        chunked = bool(codings) and codings[-1] == b"chunked"
        if chunked:
            del codings[-1]
        bodyless = self._head_request or status == 204 or status == 304
        head = ResponseHead(status, self._reason, self._headers, parser.should_keep_alive(),
                            content_length, chunked, bodyless, b", ".join(codings))
        self._head = head
        self._events.append(head)
        if self._head_request:
            # A response to HEAD ends at its head (RFC 9110 9.3.2), which llhttp cannot be
            # told: stop it here.
            self._done = True
            self._events.append(END)
            raise _Stop()

    def on_body(self, body: bytes) -> None:
        if not self._informational:
            self._events.append(body)
            self._queued += len(body)
            if self._queued > READ_LIMIT and not self._reading_paused:
                self._reading_paused = True
                self.transport.pause_reading()  # type: ignore[union-attr]

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self._done = True
        self._events.append(END)

    # -- one exchange ----------------------------------------------------------------------

    def begin(self, head_request: bool) -> None:
        """Start an exchange: a fresh parser for the response to come."""
        self._parser = HttpResponseParser(self)
        self._events.clear()
        self._head_request = head_request
        self._informational = False
        self._head = None
        self._done = False
        self.received = False
        self._queued = 0

    def write(self, data: bytes) -> None:
        if self.closed:
            raise UpstreamBroken("upstream write failed: connection closed",
                                 received=self.received)
        self.transport.write(data)  # type: ignore[union-attr]

    async def drain(self, timeout: float) -> None:
        """Wait until the socket takes more data, at most `timeout` seconds."""
        if not self._writing_paused:
            return
        if self.closed:
            raise UpstreamBroken("upstream write failed: connection closed",
                                 received=self.received)
        if not await self._wait_writable(timeout):
            if self.closed:
                raise UpstreamBroken("upstream write failed: connection closed",
                                     received=self.received)
            raise UpstreamTimeout("upstream write timed out")

    def next_nowait(self) -> object | None:
        """The next event if one is already there, else None."""
        events = self._events
        if not events:
            return None
        event = events.popleft()
        if type(event) is bytes:
            self._consumed(len(event))  # type: ignore[arg-type]
        elif isinstance(event, UpstreamError):
            raise event
        return event

    def _consumed(self, size: int) -> None:
        self._queued -= size
        if self._reading_paused and self._queued <= READ_LIMIT // 2:
            self._resume_reading()

    def _resume_reading(self) -> None:
        self._reading_paused = False
        if not self.closed:
            with contextlib.suppress(Exception):
                self.transport.resume_reading()  # type: ignore[union-attr]

    async def next_event(self, timeout: float) -> object:
        """The next event of the response (ResponseHead, bytes, END); `timeout` bounds each
        wait for bytes."""
        events = self._events
        if not events:
            waiter = self._waiter = self.loop.create_future()
            try:
                arrived = await self._deadline.wait(waiter, timeout)
            finally:
                self._waiter = None
            if not arrived or not events:
                raise UpstreamTimeout("upstream response timed out")
        event = events.popleft()
        if type(event) is bytes:
            self._consumed(len(event))  # type: ignore[arg-type]
        elif isinstance(event, UpstreamError):
            raise event
        return event

    @property
    def reusable(self) -> bool:
        """Whether the exchange ended cleanly with both sides willing to go on."""
        head = self._head
        return (self._done and not self.closed and head is not None and head.keep_alive
                and not self._events)

    @property
    def stale(self) -> bool:
        """Whether the idle connection is known to be closed by the peer."""
        return self.closed or self.transport is None or self.transport.is_closing()

    def idle(self) -> None:
        """The exchange is over and the connection goes back to the pool."""
        self._parser = None
        self._head = None
        self._events.clear()
        self._queued = 0
        if self._reading_paused:  # (cannot be: the body was read to its end)
            self._resume_reading()

    def close(self) -> None:
        """Close the socket now (no graceful shutdown: the connection is not reusable)."""
        self.closed = True
        self._parser = None
        self._deadline.cancel()
        transport = self.transport
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.abort()


class Pool:
    """Idle keep-alive connections per endpoint ("addr:port"), most recently used first."""

    def __init__(self, *, max_idle_per_endpoint: int = 16, idle_timeout: float = 30.0) -> None:
        self.max_idle_per_endpoint = max_idle_per_endpoint
        self.idle_timeout = idle_timeout
        self._idle: dict[str, list[UpstreamConnection]] = {}
        self.connects = 0  # TCP connections opened (for tests and reports)

    def take(self, hostport: str) -> UpstreamConnection | None:
        """An idle pooled connection to `hostport` that is still usable, if there is one."""
        idle = self._idle.get(hostport)
        if idle:
            now = time.monotonic()
            while idle:
                conn = idle.pop()
                if conn.stale or now - conn.idle_since > self.idle_timeout:
                    conn.close()
                    continue
                conn.reused = True
                return conn
        return None

    async def acquire(self, endpoint: Endpoint, timeout: float, *,
                      fresh: bool = False) -> UpstreamConnection:
        """A ready connection to `endpoint`: an idle pooled one unless `fresh`, else a new one.

        Raises ConnectFailed or UpstreamTimeout.
        """
        key = endpoint.hostport
        if not fresh:
            conn = self.take(key)
            if conn is not None:
                return conn
        return await self.connect(endpoint, timeout)

    async def connect(self, endpoint: Endpoint, timeout: float) -> UpstreamConnection:
        """A new connection to `endpoint`. Raises ConnectFailed or UpstreamTimeout."""
        key = endpoint.hostport
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(loop.create_connection(
                lambda: UpstreamConnection(key), endpoint.address, endpoint.port), timeout)
        except asyncio.TimeoutError:
            raise UpstreamTimeout(f"connect to {key} timed out") from None
        except OSError as exc:
            raise ConnectFailed(f"connect to {key} failed: {exc.strerror or exc}") from None
        self.connects += 1
        return conn

    def release(self, conn: UpstreamConnection, *, keep: bool) -> None:
        """Return a connection after an exchange: pooled when `keep` and it is reusable,
        closed otherwise."""
        if not (keep and conn.reusable) or conn.stale:
            conn.close()
            return
        conn.idle()
        conn.idle_since = time.monotonic()
        idle = self._idle.get(conn.hostport)
        if idle is None:
            idle = self._idle[conn.hostport] = []
        idle.append(conn)
        if len(idle) > self.max_idle_per_endpoint:
            idle.pop(0).close()

    def retain(self, hostports: frozenset[str] | set[str]) -> None:
        """Close the idle connections of endpoints not in `hostports` (left the table)."""
        for key in list(self._idle):
            if key not in hostports:
                for conn in self._idle.pop(key):
                    conn.close()

    def idle_count(self, hostport: str | None = None) -> int:
        """Idle pooled connections, for one endpoint or in total."""
        if hostport is not None:
            return len(self._idle.get(hostport, []))
        return sum(len(v) for v in self._idle.values())

    def close(self) -> None:
        """Close every idle connection."""
        self.retain(frozenset())
