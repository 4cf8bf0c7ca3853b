"""Connections to upstream endpoints: h11 client connections and a keep-alive pool."""

from __future__ import annotations

import asyncio
import contextlib
import time

import h11

from simulator.routing import Endpoint

READ_SIZE = 65536


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


class UpstreamConnection:
    """One TCP connection to an endpoint, driven by an h11 client state machine."""

    def __init__(self, hostport: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, *, reused: bool = False) -> None:
        self.hostport = hostport
        self.reader = reader
        self.writer = writer
        self.conn = h11.Connection(h11.CLIENT)
        self.reused = reused
        self.received = False  # any byte of the current response arrived
        self.idle_since = 0.0

    async def send(self, event: h11.Event, timeout: float) -> None:
        """Send one h11 event, waiting at most `timeout` seconds for the socket to drain."""
        data = self.conn.send(event)
        if not data:
            return
        try:
            self.writer.write(data)
            await asyncio.wait_for(self.writer.drain(), timeout)
        except asyncio.TimeoutError:
            raise UpstreamTimeout("upstream write timed out") from None
        except (ConnectionError, OSError) as exc:
            raise UpstreamBroken(f"upstream write failed: {exc}", received=self.received) from None

    async def next_event(self, timeout: float) -> h11.Event:
        """The next h11 event of the response; `timeout` bounds each wait for bytes."""
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise UpstreamBroken(f"bad upstream response: {exc}",
                                     received=self.received) from None
            if event is h11.NEED_DATA:
                try:
                    data = await asyncio.wait_for(self.reader.read(READ_SIZE), timeout)
                except asyncio.TimeoutError:
                    raise UpstreamTimeout("upstream response timed out") from None
                except (ConnectionError, OSError) as exc:
                    raise UpstreamBroken(f"upstream read failed: {exc}",
                                         received=self.received) from None
                if data:
                    self.received = True
                self.conn.receive_data(data)  # b"" tells h11 the peer closed
                continue
            if isinstance(event, h11.ConnectionClosed):
                raise UpstreamBroken("upstream closed the connection", received=self.received)
            return event

    @property
    def reusable(self) -> bool:
        """Whether the exchange ended cleanly with both sides willing to go on."""
        return self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE

    @property
    def stale(self) -> bool:
        """Whether the idle connection is known to be closed by the peer."""
        return self.reader.at_eof() or self.writer.is_closing()

    def close(self) -> None:
        """Close the socket now (no graceful shutdown: the connection is not reusable)."""
        transport = self.writer.transport
        with contextlib.suppress(Exception):
            transport.abort()


class Pool:
    """Idle keep-alive connections per endpoint ("addr:port"), most recently used first."""

    def __init__(self, *, max_idle_per_endpoint: int = 16, idle_timeout: float = 30.0) -> None:
        self.max_idle_per_endpoint = max_idle_per_endpoint
        self.idle_timeout = idle_timeout
        self._idle: dict[str, list[UpstreamConnection]] = {}
        self.connects = 0  # TCP connections opened (for tests and reports)

    async def acquire(self, endpoint: Endpoint, timeout: float, *,
                      fresh: bool = False) -> UpstreamConnection:
        """A ready connection to `endpoint`: an idle pooled one unless `fresh`, else a new one.

        Raises ConnectFailed or UpstreamTimeout.
        """
        key = endpoint.hostport
        idle = self._idle.get(key, [])
        now = time.monotonic()
        while idle and not fresh:
            conn = idle.pop()
            if conn.stale or now - conn.idle_since > self.idle_timeout:
                conn.close()
                continue
            conn.reused = True
            conn.received = False
            return conn
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(endpoint.address, endpoint.port), timeout)
        except asyncio.TimeoutError:
            raise UpstreamTimeout(f"connect to {key} timed out") from None
        except OSError as exc:
            raise ConnectFailed(f"connect to {key} failed: {exc.strerror or exc}") from None
        self.connects += 1
        return UpstreamConnection(key, reader, writer)

    def release(self, conn: UpstreamConnection, *, keep: bool) -> None:
        """Return a connection after an exchange: pooled when `keep` and it is reusable,
        closed otherwise."""
        if not (keep and conn.reusable) or conn.stale:
            conn.close()
            return
        conn.conn.start_next_cycle()
        conn.idle_since = time.monotonic()
        idle = self._idle.setdefault(conn.hostport, [])
        idle.append(conn)
        while len(idle) > self.max_idle_per_endpoint:
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
