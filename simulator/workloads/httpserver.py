"""A small HTTP/1.1 server for simulated containers: asyncio transports + h11 (sans-IO).

Why not aiohttp's server: every image must control its exact wire output (nginx's header
order and `Server:` line, Go's lack of one) and its shutdown behaviour (drop connections at
once, or finish in-flight requests), and those are a few lines here but fights with a
framework. One `Listener` is one listening socket; all of them share the running event loop,
so a pod costs a socket and a few objects, not a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl

import h11

__all__ = [
    "HttpRequest",
    "HttpResponse",
    "Upgraded",
    "ConnectionPolicy",
    "Listener",
    "bind_socket",
]

log = logging.getLogger(__name__)


@dataclass
class HttpRequest:
    """One parsed request, as a handler sees it."""

    method: str
    target: str  # the request-target exactly as sent (latin-1 decoded, so bytes round-trip)
    http_version: str  # "1.1" or "1.0"
    raw_headers: list[tuple[bytes, bytes]]  # names in the sender's casing, in order
    body: bytes
    local: tuple[str, int]  # address and (real) port the connection was accepted on
    remote: tuple[str, int]
    container_port: int  # the containerPort this listener stands for

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        key = name.lower().encode()
        for k, v in self.raw_headers:
            if k.lower() == key:
                return v.decode("utf-8", "replace")
        return None

    @property
    def path_and_query(self) -> str:
        """The origin-form part of the target: absolute-form loses scheme and authority."""
        target = self.target
        if "://" in target and not target.startswith("/"):
            rest = target.split("://", 1)[1]
            slash = rest.find("/")
            return rest[slash:] if slash >= 0 else "/"
        return target

    @property
    def path(self) -> str:
        return self.path_and_query.split("?", 1)[0]

    def query_value(self, key: str) -> str | None:
        """First value of query parameter `key`, like Go's FormValue for a GET."""
        if "?" not in self.target:
            return None
        for k, v in parse_qsl(self.target.split("?", 1)[1], keep_blank_values=True):
            if k == key:
                return v
        return None


class Upgraded:
    """The raw byte stream of a connection after a 101 Switching Protocols response."""

    def __init__(self, conn: _Connection, initial: bytes) -> None:
        self._conn = conn
        self._buffer = bytearray(initial)

    async def read(self) -> bytes:
        """Bytes received so far (waiting for some); b"" once the peer closed."""
        while not self._buffer:
            if self._conn.peer_closed:
                return b""
            await self._conn.wait_input()
            self._buffer += self._conn.take_raw()
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def write(self, data: bytes) -> None:
        self._conn.write_raw(data)


@dataclass
class HttpResponse:
    """What a handler answers. `headers` are written in the given order, nothing added,
    except that h11 rewrites `Connection` when the connection is to be closed."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    reason: str | None = None  # None: the standard phrase for `status`
    close: bool = False  # close the connection once this response is sent
    abort: bool = False  # drop the connection without a response (as a crashed handler does)
    raw: bytes | None = None  # write these bytes verbatim instead, then close
    upgrade: Callable[[Upgraded], Awaitable[None]] | None = None  # with status 101

    def reason_phrase(self) -> str:
        if self.reason is not None:
            return self.reason
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return ""


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


@dataclass(frozen=True)
class ConnectionPolicy:
    """How one image's server treats connections."""

    # Seconds an idle keep-alive connection stays open (nginx: keepalive_timeout 65 in the
    # image's nginx.conf); None keeps it open until the peer closes (Go's default).
    keepalive_timeout: float | None = None
    # Requests served per connection before closing it (nginx: keepalive_requests 1000).
    keepalive_requests: int | None = None
    # The response to a request the parser rejected (status is h11's hint: 400, 414, 431).
    error_response: Callable[[int], HttpResponse] = lambda status: HttpResponse(
        status, [("Content-Length", "0")], close=True)


def bind_socket(host: str, port: int = 0) -> socket.socket:
    """A bound, not yet listening TCP socket (non-blocking)."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only for
    # sockets it can tell are TCP. Without it, a kept-alive peer waits ~40 ms for the body
    # (Nagle + delayed ACK), which real nginx and Go servers never do.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class Listener:
    """One listening socket serving `handler`, with the two ways a process can stop."""

    def __init__(self, sock: socket.socket, handler: Handler, policy: ConnectionPolicy,
                 container_port: int) -> None:
        self.sock = sock
        self.handler = handler
        self.policy = policy
        self.container_port = container_port
        self.port: int = sock.getsockname()[1]
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self._idle_waiters: list[asyncio.Future[None]] = []

    async def start(self, backlog: int = 511) -> None:
        """Listen (nginx and Go both ask for a 511-ish backlog; the kernel caps it)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), sock=self.sock, backlog=backlog)

    def stop_accepting(self) -> None:
        """Close the listening socket: new connections are refused from now on."""
        if self._server is not None:
            self._server.close()
            self._server = None
        else:
            with contextlib.suppress(OSError):
                self.sock.close()

    def close_idle(self) -> None:
        """Close connections with no request in progress; the rest close after their response."""
        for conn in list(self.connections):
            conn.closing = True
            if conn.idle:
                conn.close()

    def abort_all(self) -> None:
        """Drop every connection now, mid-request or not (a process exit)."""
        for conn in list(self.connections):
            conn.abort()

    async def wait_drained(self) -> None:
        """Return once no connection remains."""
        while self.connections:
            fut = asyncio.get_running_loop().create_future()
            self._idle_waiters.append(fut)
            await fut

    def _forget(self, conn: _Connection) -> None:
        self.connections.discard(conn)
        if not self.connections:
            waiters, self._idle_waiters = self._idle_waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)


class _ConnectionGone(Exception):
    pass


class _Connection(asyncio.Protocol):
    """One accepted connection: h11 state machine driven by a task."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.h11 = h11.Connection(h11.SERVER)
        self.transport: asyncio.Transport | None = None
        self.idle = True  # no byte of a request received since the last response
        self.closing = False  # graceful stop: close after the response in progress
        self.peer_closed = False
        self.lost = False
        self.upgraded = False
        self._raw = bytearray()
        self._wakeup: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._served = 0

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.listener.connections.add(self)
        self._task = asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        self.idle = False
        if self.upgraded:
            self._raw += data
        else:
            self.h11.receive_data(data)
        self._wake()

    def eof_received(self) -> bool:
        self.peer_closed = True
        if not self.upgraded:
            self.h11.receive_data(b"")
        self._wake()
        return True  # keep the write side open: a response may still be on its way

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.peer_closed = True
        self.listener._forget(self)
        self._wake()

    # -- helpers used by the serving task and by Upgraded ----------------------------------------
    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def wait_input(self, timeout: float | None = None) -> None:
        if self.lost:
            raise _ConnectionGone
        self._wakeup = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(self._wakeup, timeout)
        finally:
            self._wakeup = None
        if self.lost:
            raise _ConnectionGone

    def take_raw(self) -> bytes:
        data = bytes(self._raw)
        self._raw.clear()
        return data

    def write_raw(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        """Flush what was written, then FIN. A task waiting for input wakes up in
        connection_lost and ends."""
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Close at once, discarding unsent data (RST if unread data is pending); a handler
        in progress (say a `?delay=`) is cancelled, as the process running it is gone."""
        if self.transport is not None:
            self.transport.abort()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    # -- the request loop -----------------------------------------------------------------
    async def _next_event(self) -> h11.Event | type[h11.NEED_DATA]:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self.h11.they_are_waiting_for_100_continue:
                self._send(h11.InformationalResponse(status_code=100, headers=[]))
            timeout = None
            if self.idle and self.h11.their_state is h11.IDLE:
                timeout = self.listener.policy.keepalive_timeout
            try:
                await self.wait_input(timeout)
            except asyncio.TimeoutError:
                return h11.ConnectionClosed()

    def _send(self, event: h11.Event) -> None:
        data = self.h11.send(event)
        if data:
            self.write_raw(data)

    async def _serve(self) -> None:
        try:
            await self._serve_requests()
        except (_ConnectionGone, asyncio.CancelledError):
            pass
        except Exception:  # a bug here must not take the event loop's other pods down
            log.exception("workload connection failed")
            self.abort()
        finally:
            self.close()

    async def _serve_requests(self) -> None:
        policy = self.listener.policy
        while True:
            try:
                event = await self._next_event()
                if not isinstance(event, h11.Request):
                    return  # ConnectionClosed (or a timeout on an idle keep-alive connection)
                self.idle = False
                body = bytearray()
                while True:
                    part = await self._next_event()
                    if isinstance(part, h11.Data):
                        body += part.data
                    elif isinstance(part, h11.EndOfMessage):
                        break
                    else:
                        return  # the client went away mid-body
            except h11.RemoteProtocolError as exc:
                if self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    error = policy.error_response(exc.error_status_hint)
                    if error.raw is not None:
                        self.write_raw(error.raw)
                    else:
                        self._write_response(error, "GET")
                return
            request = self._request(event, bytes(body))
            try:
                response = await self.listener.handler(request)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("workload handler failed")
                response = policy.error_response(500)
            if response.abort:
                self.abort()
                return
            if response.raw is not None:
                self.write_raw(response.raw)
                return
            if response.status == 101 and response.upgrade is not None:
                await self._upgrade(response)
                return
            self._served += 1
            if (policy.keepalive_requests is not None
                    and self._served >= policy.keepalive_requests):
                response.close = True  # the last one says so: `Connection: close`
            self._write_response(response, request.method)
            if (response.close or self.closing or self.h11.our_state is not h11.DONE
                    or self.h11.their_state is not h11.DONE):
                return
            self.h11.start_next_cycle()
            pending, _ = self.h11.trailing_data
            self.idle = not pending

    def _write_response(self, response: HttpResponse, method: str) -> None:
        # h11 encodes str as ASCII; values echoed from clients may be UTF-8.
        headers = [(k, v.encode("utf-8", "replace")) for k, v in response.headers]
        if response.close:
            headers = [(k, v) for k, v in headers if k.lower() != "connection"]
            headers.append(("Connection", b"close"))
        self._send(h11.Response(status_code=response.status, headers=headers,
                                reason=response.reason_phrase().encode()))
        if response.body and method != "HEAD":
            self._send(h11.Data(data=response.body))
        self._send(h11.EndOfMessage())

    async def _upgrade(self, response: HttpResponse) -> None:
        assert response.upgrade is not None
        self._send(h11.InformationalResponse(
            status_code=101, headers=response.headers,
            reason=response.reason_phrase().encode()))
        leftover, _ = self.h11.trailing_data
        self.upgraded = True
        await response.upgrade(Upgraded(self, leftover + self.take_raw()))

    def _request(self, event: h11.Request, body: bytes) -> HttpRequest:
        assert self.transport is not None
        local = self.transport.get_extra_info("sockname") or ("", 0)
        remote = self.transport.get_extra_info("peername") or ("", 0)
        return HttpRequest(
            method=event.method.decode("ascii"),
            target=event.target.decode("latin-1"),
            http_version=event.http_version.decode("ascii"),
            raw_headers=list(event.headers.raw_items()),
            body=body,
            local=(local[0], local[1]),
            remote=(remote[0], remote[1]),
            container_port=self.listener.container_port,
        )
