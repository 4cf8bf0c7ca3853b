"""The client side of a proxied connection: an h11 server state machine over a stream, and
the short plain-text answers the proxy gives on its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import h11

log = logging.getLogger(__name__)

READ_SIZE = 65536
SERVER = b"ingress-sim"

REASONS = {
    400: "Bad Request", 404: "Not Found", 408: "Request Timeout", 421: "Misdirected Request",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 308: "Permanent Redirect",
}


class ClientError(Exception):
    """The client went away, stalled past the timeout, or sent a malformed body; `status`
    is the answer if one can still be given."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class HeadTimeout(ClientError):
    """The client started a request head but did not finish it in time."""


class Downstream:
    """One client connection. Collects the raw bytes of each request head so that
    `framing.framing_problem` can see what h11 normalised away."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 timeout: float) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.conn = h11.Connection(h11.SERVER)
        self._head = bytearray()
        self._collecting = True

    @property
    def raw_head(self) -> bytes:
        """The bytes received from the start of the current request (head, maybe more)."""
        return bytes(self._head)

    async def _receive(self) -> bytes:
        try:
            data = await asyncio.wait_for(self.reader.read(READ_SIZE), self.timeout)
        except asyncio.TimeoutError:  # before OSError: TimeoutError is one since Python 3.11
            raise
        except (ConnectionError, OSError) as exc:
            raise ClientError(str(exc)) from None
        if self._collecting:
            self._head += data
        self.conn.receive_data(data)
        return data

    async def read_request(self) -> h11.Request | None:
        """The next request head; None when the client closed or stayed idle past the
        timeout between requests. Raises h11.RemoteProtocolError for a malformed head and
        HeadTimeout for a head left unfinished."""
        while True:
            event = self.conn.next_event()
            if isinstance(event, h11.Request):
                self._collecting = False
                return event
            if event is h11.NEED_DATA:
                try:
                    await self._receive()
                except asyncio.TimeoutError:
                    if not self._head.strip():
                        return None
                    # Tell h11 the head will never be finished: it moves the client to ERROR,
                    # the one state from which it lets a server answer without a request.
                    self.conn.receive_data(b"")
                    with contextlib.suppress(h11.RemoteProtocolError):
                        self.conn.next_event()
                    raise HeadTimeout("request head timed out") from None
                except ClientError:
                    return None
                continue
            return None  # ConnectionClosed (or PAUSED, which cannot happen here)

    async def next_event(self) -> h11.Event:
        """The next event of the request body (Data or EndOfMessage).

        Raises ClientError when the client disconnects, stalls or breaks the framing.
        """
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                # The detail stays in the log: the answer never echoes the client's bytes.
                log.debug("bad request body: %s", exc)
                raise ClientError("bad request body") from None
            if event is h11.NEED_DATA:
                try:
                    await self._receive()
                except asyncio.TimeoutError:
                    raise ClientError("request body timed out", 408) from None
                continue
            if isinstance(event, h11.ConnectionClosed):
                raise ClientError("client closed the connection mid-request")
            return event

    def body_complete(self) -> bool:
        """Consume what h11 can give without I/O; True when the request body has ended
        (always the case for requests that declared no body)."""
        while self.conn.their_state is h11.SEND_BODY:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError:
                return False
            if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                return False
        # MIGHT_SWITCH_PROTOCOL: an Upgrade request whose body ended; the proxy declines the
        # switch simply by answering normally.
        return self.conn.their_state in (h11.DONE, h11.MIGHT_SWITCH_PROTOCOL)

    async def send(self, event: h11.Event) -> None:
        """Send one event to the client. Raises ClientError when the client is gone."""
        try:
            data = self.conn.send(event)
        except h11.LocalProtocolError as exc:
            raise ClientError(f"cannot send: {exc}") from None
        if not data:
            return
        try:
            self.writer.write(data)
            await asyncio.wait_for(self.writer.drain(), self.timeout)
        except (ConnectionError, OSError, asyncio.TimeoutError) as exc:
            raise ClientError(f"client write failed: {exc!r}") from None

    def can_respond(self) -> bool:
        """Whether no response has been started for the current request."""
        return self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE)

    async def respond(self, status: int, detail: str = "", *, close: bool = False,
                      headers: list[tuple[bytes, bytes]] | None = None) -> None:
        """A complete short plain-text response (never a traceback). The connection is
        closed afterwards when `close`, or when the request body was not read (it would
        otherwise be taken for the next request)."""
        if not self.can_respond():
            return
        if not close and not self.body_complete():
            close = True
        reason = REASONS.get(status, "Error")
        text = f"{status} {reason}" + (f": {detail}" if detail else "") + "\n"
        body = text.encode("utf-8", "replace")
        response_headers = [
            (b"Content-Type", b"text/plain; charset=utf-8"),
            (b"Content-Length", str(len(body)).encode()),
            (b"Server", SERVER),
            *(headers or []),
        ]
        if close:
            response_headers.append((b"Connection", b"close"))
        await self.send(h11.Response(status_code=status, headers=response_headers,
                                     reason=reason.encode()))
        await self.send(h11.Data(data=body))
        await self.send(h11.EndOfMessage())

    def next_cycle(self) -> bool:
        """Prepare for the next request on this connection; False when it must close."""
        if self.conn.our_state is not h11.DONE or self.conn.their_state is not h11.DONE:
            return False
        self.conn.start_next_cycle()
        # Whatever h11 already buffered is the start of the next request head.
        self._head = bytearray(self.conn.trailing_data[0])
        self._collecting = True
        return True

    def close(self) -> None:
        """Close the client connection now."""
        with contextlib.suppress(Exception):
            self.writer.close()
