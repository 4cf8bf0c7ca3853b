"""The client side of a proxied connection: an asyncio Protocol feeding an httptools (llhttp)
request parser, and the short plain-text answers the proxy gives on its own.

The parser runs in `data_received` and turns bytes into a queue of events, in order: a
`Request` (the head), body pieces (`bytes`), `END` (the request is complete), and, at the
end of the connection, `CLOSED` or a `BadRequest`. The connection's handler coroutine
(`server.Proxy._serve`) consumes them. Pipelined requests queue behind the current one and
are checked one by one; reading pauses while too much is queued.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from .timeouts import Deadline, WriteFlow

log = logging.getLogger(__name__)

SERVER = b"ingress-sim"
# A request head (request line and header fields) larger than this is refused with 431, like
# the limit h11 applied before (nginx's default allows 4 x 8 KiB lines; we allow a little more).
MAX_HEAD = 64 * 1024
READ_LIMIT = 256 * 1024  # queued request-body bytes before reading from the client pauses
MAX_QUEUED_REQUESTS = 4  # pipelined request heads queued before reading pauses

REASONS = {
    400: "Bad Request", 404: "Not Found", 408: "Request Timeout", 421: "Misdirected Request",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 308: "Permanent Redirect",
}

END = object()  # event: the current request's body (if any) has ended
CLOSED = object()  # event: the client closed its side of the connection


class ClientError(Exception):
    """The client went away, stalled past the timeout, or sent a malformed body; `status`
    is the answer if one can still be given."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class HeadTimeout(ClientError):
    """The client started a request head but did not finish it in time."""


class BadRequest(ClientError):
    """The parser refused the client's bytes (event and exception)."""


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a head the proxy refuses."""


class Request:
    """A request head as the parser delivered it. `headers` keep the client's order, case
    and duplicates (raw bytes), so the framing checks see exactly what was sent."""

    __slots__ = ("method", "target", "headers", "http_version", "keep_alive", "upgrade")

    def __init__(self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]],
                 http_version: str, keep_alive: bool, upgrade: bool) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.http_version = http_version  # "1.1", "1.0" (others are refused)
        self.keep_alive = keep_alive  # HTTP/1.1 without "Connection: close"
        self.upgrade = upgrade  # the client asked to switch protocols (declined)


class ClientConnection(WriteFlow, asyncio.Protocol):
    """One client connection: parser callbacks, an event queue, and writes with flow control.

    `serve` is called with the connection once it is made (and, for TLS, after the
    handshake); it should start the coroutine that handles the connection.
    """

    def __init__(self, serve: object, timeout: float, scheme: str) -> None:
        self._serve = serve
        self.timeout = timeout
        self.scheme = scheme
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_event_loop()
        self._deadline = Deadline(self.loop)
        self._parser = HttpRequestParser(self)
        self._events: collections.deque[object] = collections.deque()
        self._waiter: asyncio.Future[bool] | None = None
        self._queued_bytes = 0
        self._queued_heads = 0
        self._reading_paused = False
        self._init_write_flow()
        self.closed = False
        self._failed = False
        # parser state for the message being parsed
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._in_head = False
        self._head_bytes = 0
        self._head_size = 0
        self._synthetic = False  # parsing the made-up head that frames an upgrade's body
        self._drop_complete = False
        self._upgrade_framing: bytes | None = None
        # the request being answered
        self.request: Request | None = None
        self.body_done = True
        self.body_seen = False
        self.response_started = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._serve(self)  # type: ignore[operator]

    def data_received(self, data: bytes) -> None:
        if self._failed:
            return  # after a parse error nothing more is read (the answer closes)
        self._feed(data)
        if self._in_head and not self._failed:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._fail(431, "request head too large")
        waiter = self._waiter
        if waiter is not None and self._events and not waiter.done():
            waiter.set_result(True)
        if (self._queued_bytes > READ_LIMIT or self._queued_heads > MAX_QUEUED_REQUESTS) \
                and not self._reading_paused and not self._failed:
            self._reading_paused = True
            with contextlib.suppress(Exception):
                self.transport.pause_reading()  # type: ignore[union-attr]

    def eof_received(self) -> bool:
        self._push_closed()
        # Keep the connection open for the answer to a request sent before a half-close
        # (not possible over TLS, where asyncio ignores the request).
        return self.scheme != "https"

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._push_closed()
        self._deadline.cancel()
        self._release_drain(False)

    # -- parsing ---------------------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        while True:
            try:
                self._parser.feed_data(data)
                return
            except HttpParserUpgrade as exc:
                # llhttp stops at a request asking to switch protocols (Connection: upgrade
                # plus Upgrade, or CONNECT). The proxy declines the switch by answering
                # normally, so parsing goes on with a fresh parser; a body the request
                # declared is framed for it by a made-up head with the same framing field.
                data = data[exc.args[0]:]
                self._parser = HttpRequestParser(self)
                framing, self._upgrade_framing = self._upgrade_framing, None
                if framing is not None:
                    self._synthetic = True
                    self._parser.feed_data(b"PUT / HTTP/1.1\r\n" + framing + b"\r\n")
                if not data:
                    return
            except HttpParserError as exc:
                if not self._failed:  # (else a callback refused the head and said why)
                    # The detail stays in the log: the answer never echoes the client's bytes.
                    log.debug("bad request: %s", exc)
                    self._fail(400, "malformed request")
                return

    def _fail(self, status: int, detail: str) -> None:
        self._failed = True
        self._in_head = False
        self._events.append(BadRequest(detail, status))

    def _push_closed(self) -> None:
        if not self._failed:
            self._failed = True
            self._events.append(CLOSED)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    # httptools callbacks (called from feed_data)

    def on_message_begin(self) -> None:
        if self._synthetic:
            return
        self._url = b""
        self._headers = []
        self._head_size = 0
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        if not self._synthetic:
            self._url += url
            if len(self._url) > MAX_HEAD:
                self._too_large()

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._synthetic:
            self._headers.append((name, value))
            self._head_size += len(name) + len(value) + 4
            if self._head_size > MAX_HEAD:
                self._too_large()

    def _too_large(self) -> None:
        self._fail(431, "request head too large")
        raise _Refused()

    def on_headers_complete(self) -> None:
        if self._synthetic:
            self._synthetic = False
            return
        self._in_head = False
        self._head_bytes = 0
        parser = self._parser
        version = parser.get_http_version()
        upgrade = parser.should_upgrade()
        request = Request(parser.get_method(), self._url, self._headers, version,
                          version == "1.1" and parser.should_keep_alive(), upgrade)
        if upgrade:
            framing = None
            for name, value in self._headers:
                lower = name.lower()
                if lower == b"content-length" and value.strip() not in (b"", b"0"):
                    framing = b"Content-Length: " + value.strip() + b"\r\n"
                elif lower == b"transfer-encoding":
                    framing = b"Transfer-Encoding: " + value.strip() + b"\r\n"
            if framing is not None:
                # llhttp skips the body of an upgrade and ends the message at its head: the
                # body is read by the made-up message that follows.
                self._upgrade_framing = framing
                self._drop_complete = True
        self._queued_heads += 1
        self._events.append(request)

    def on_body(self, body: bytes) -> None:
        self._queued_bytes += len(body)
        self._events.append(body)

    def on_message_complete(self) -> None:
        if self._drop_complete:
            self._drop_complete = False
            return
        self._events.append(END)

    # -- reading (from the handler coroutine) ------------------------------------------------

    async def _next(self, timeout: float) -> object:
        """The next event; raises TimeoutError when none came within `timeout` seconds."""
        events = self._events
        if not events:
            waiter = self._waiter = self.loop.create_future()
            try:
                arrived = await self._deadline.wait(waiter, timeout)
            finally:
                self._waiter = None
            if not arrived or not events:
                raise TimeoutError
        event = events.popleft()
        if type(event) is bytes:
            self._queued_bytes -= len(event)  # type: ignore[arg-type]
        elif type(event) is Request:
            self._queued_heads -= 1
        if self._reading_paused and self._queued_bytes <= READ_LIMIT // 2 \
                and self._queued_heads <= MAX_QUEUED_REQUESTS:
            self._reading_paused = False
            with contextlib.suppress(Exception):
                self.transport.resume_reading()  # type: ignore[union-attr]
        return event

    async def read_request(self) -> Request | None:
        """The next request head; None when the client closed or stayed idle past the
        timeout between requests. Raises BadRequest for bytes the parser refused and
        HeadTimeout for a head left unfinished."""
        self.request = None
        self.response_started = False
        try:
            event = await self._next(self.timeout)
        except TimeoutError:
            if self._in_head:
                raise HeadTimeout("request head timed out") from None
            return None
        if type(event) is Request:
            self.request = event  # type: ignore[assignment]
            self.body_seen = False
            self.body_done = False
            if self._events and self._events[0] is END:  # no body: the usual case
                self._events.popleft()
                self.body_done = True
            return event  # type: ignore[return-value]
        if isinstance(event, BadRequest):
            raise event
        return None  # CLOSED

    async def next_body(self) -> bytes | None:
        """The next piece of the request body; None at its end. Raises ClientError when the
        client disconnects, stalls or breaks the framing."""
        if self.body_done:
            return None
        try:
            event = await self._next(self.timeout)
        except TimeoutError:
            raise ClientError("request body timed out", 408) from None
        if type(event) is bytes:
            self.body_seen = True
            return event  # type: ignore[return-value]
        if event is END:
            self.body_done = True
            return None
        if isinstance(event, BadRequest):
            raise ClientError("bad request body") from None
        raise ClientError("client closed the connection mid-request")

    def body_complete(self) -> bool:
        """Discard what has arrived of the request body without waiting; True when the body
        has ended (always the case for requests that declared none)."""
        events = self._events
        while not self.body_done and events:
            event = events[0]
            if type(event) is bytes:
                self._queued_bytes -= len(event)  # type: ignore[arg-type]
                events.popleft()
            elif event is END:
                events.popleft()
                self.body_done = True
            else:
                break
        return self.body_done

    @property
    def waiting_for_continue(self) -> bool:
        """Whether the client sent `Expect: 100-continue` and waits before sending its body
        (RFC 9110 10.1.1)."""
        request = self.request
        if request is None or self.body_done or self.body_seen or \
                request.http_version != "1.1":
            return False
        return any(n.lower() == b"expect" and v.strip().lower() == b"100-continue"
                   for n, v in request.headers)

    # -- writing -----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue bytes for the client. Raises ClientError when the client is gone."""
        if self.closed:
            raise ClientError("client went away")
        self.transport.write(data)  # type: ignore[union-attr]

    @property
    def must_drain(self) -> bool:
        return self._writing_paused

    async def drain(self) -> None:
        """Wait until the client has read enough of what was written (or the timeout)."""
        if not self._writing_paused:
            return
        if self.closed:
            raise ClientError("client went away")
        if not await self._wait_writable(self.timeout):
            raise ClientError("client write timed out" if not self.closed else
                              "client went away")

    def can_respond(self) -> bool:
        """Whether no response has been started for the current request."""
        return not self.response_started and not self.closed

    def respond(self, status: int, detail: str = "", *, close: bool = False,
                headers: list[tuple[bytes, bytes]] | None = None) -> bool:
        """A complete short plain-text response (never a traceback). The connection is to be
        closed afterwards when `close`, when the request body was not read (it would
        otherwise be taken for the next request), or when the request asked for it. Returns
        whether the connection may serve another request."""
        if not self.can_respond():
            return False
        request = self.request
        if not close and (request is None or not request.keep_alive or not self.body_complete()):
            close = True
        reason = REASONS.get(status, "Error")
        text = f"{status} {reason}" + (f": {detail}" if detail else "") + "\n"
        body = text.encode("utf-8", "replace")
        head = [b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Content-Length: %d\r\nServer: %s\r\n" % (status, reason.encode(), len(body),
                                                            SERVER)]
        for name, value in headers or ():
            head.append(b"%s: %s\r\n" % (name, value))
        if close:
            head.append(b"Connection: close\r\n")
        head.append(b"\r\n")
        if request is None or request.method != b"HEAD":
            head.append(body)
        self.response_started = True
        with contextlib.suppress(ClientError):
            self.write(b"".join(head))
        return not close

    def next_cycle(self) -> bool:
        """Whether the connection may go on to the next request."""
        request = self.request
        return (not self.closed and self.response_started and self.body_done
                and request is not None and request.keep_alive)

    def close(self) -> None:
        """Close the client connection once what was written has been sent."""
        transport = self.transport
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()

    def abort(self) -> None:
        """Close the client connection now."""
        transport = self.transport
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.abort()
