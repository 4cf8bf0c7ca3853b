"""The reference data plane: an asyncio HTTP/1.1 reverse proxy with HTTP and HTTPS listeners
serving a RoutingTable that can be swapped atomically at any time.

Connections are asyncio Protocols (`downstream.ClientConnection`, `upstream.
UpstreamConnection`) around the llhttp parser (httptools); one coroutine per client
connection drives its requests. The per-request path avoids what costs without buying
anything: routing decisions are cached per table, header blocks are written in one piece,
and a response that has fully arrived goes to the client in one write."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import weakref
from dataclasses import dataclass, field

from simulator.routing import Endpoint, RoutingTable

from .balancer import InFlight, RoundRobin, route_key, route_keys
from .downstream import BadRequest, ClientConnection, ClientError, HeadTimeout, Request
from .framing import Framing, examine
from .headers import (
    ClientInfo,
    forward_request_headers,
    forward_response_headers,
    request_id,
    serialize,
)
from .matching import Match, RouteIndex
from .tls import TLSIndex, generate_self_signed, server_context
from .upstream import (
    END,
    Pool,
    ResponseHead,
    UpstreamBroken,
    UpstreamConnection,
    UpstreamError,
    UpstreamTimeout,
)
from .uri import normalize_host, parse_target, split_authority

log = logging.getLogger(__name__)

# RFC 9110 9.2.2: methods whose repetition has the same effect as one request; only these
# are retried on another endpoint after a failure.
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
ROUTE_CACHE_SIZE = 4096  # routing decisions remembered per table


@dataclass(frozen=True)
class _State:
    """Everything derived from one RoutingTable. Replaced as a whole by `Proxy.update`, so a
    request that took a reference keeps a consistent view until it ends."""

    table: RoutingTable
    routes: RouteIndex
    tls: TLSIndex
    endpoints: frozenset[str]
    route_count: int  # how many routes (path rules and the default backend) it has
    # (request-target, Host value) -> _Route: routing is a pure function of the table
    cache: dict[tuple[bytes, bytes | None], _Route] = field(default_factory=dict)

    @classmethod
    def build(cls, table: RoutingTable,
              cache: dict[tuple[bytes, bytes], ssl.SSLContext]) -> _State:
        backends = [rule.backend for h in table.hosts for rule in h.paths]
        if table.default_backend is not None:
            backends.append(table.default_backend)
        endpoints = frozenset(ep.hostport for b in backends for ep in b.endpoints)
        route_count = sum(len(host.paths) for host in table.hosts) + \
            (table.default_backend is not None)
        return cls(table, RouteIndex(table), TLSIndex(table.certificates, cache), endpoints,
                   route_count)


class _Route:
    """What a request-target and Host value mean for one table: a reason to refuse the
    request (400), or where it goes."""

    __slots__ = ("problem", "origin", "authority", "absolute_host", "hostname", "found",
                 "key")

    def __init__(self, problem: str | None, origin: bytes = b"", authority: str = "",
                 absolute_host: bytes | None = None, hostname: str = "",
                 found: Match | None = None) -> None:
        self.problem = problem
        self.origin = origin  # the target in origin-form, exactly as sent
        self.authority = authority  # the Host the client asked for, port included
        self.absolute_host = absolute_host  # the authority of an absolute-form target
        self.hostname = hostname  # normalised: lower case, no port, no trailing dot
        self.found = found
        # The route's identity, for its round-robin ring (computed once per cached decision).
        self.key = route_key(found) if found is not None else None

    @classmethod
    def decide(cls, routes: RouteIndex, target_bytes: bytes, host: bytes | None) -> _Route:
        # llhttp only accepts visible ASCII in the request-target (RFC 9112 3.2).
        try:
            text = target_bytes.decode("ascii")
        except UnicodeDecodeError:
            return cls("unsupported request-target")
        target = parse_target(text)
        if target is None:
            return cls("unsupported request-target")
        absolute = target.authority is not None
        # RFC 9112 3.2.2: a server receiving absolute-form "MUST ignore the received Host
        # header field (if any) and instead use the host information of the request-target".
        if target.authority is not None:
            authority = target.authority
        else:
            authority = host.decode("latin-1") if host is not None else ""
        if (authority or absolute) and split_authority(authority) is None:
            # RFC 9112 3.2: an invalid Host field value -> 400.
            return cls("invalid Host")
        return cls(None, target.origin.encode("ascii"), authority,
                   authority.encode("ascii") if absolute else None, normalize_host(authority),
                   routes.match(authority, target.origin))


class _Hop:
    """Facts about the client connection a request arrived on."""

    __slots__ = ("scheme", "client", "sni")

    def __init__(self, scheme: str, client: ClientInfo, sni: str | None) -> None:
        self.scheme = scheme  # "http" or "https"
        self.client = client
        self.sni = sni  # the normalised SNI name, on TLS connections that sent one


class _RequestIds:
    """Random 32-hex-digit request ids, drawn from the OS in batches."""

    def __init__(self) -> None:
        self._hex = b""
        self._pos = 0

    def next(self) -> bytes:
        pos = self._pos
        if pos >= len(self._hex):
            self._hex = os.urandom(2048).hex().encode()
            pos = 0
        self._pos = pos + 32
        return self._hex[pos:pos + 32]


class _Retry(Exception):
    """A reused idle upstream connection turned out dead before answering: try a new one."""


class Proxy:
    """An HTTP/1.1 reverse proxy on loopback serving a RoutingTable.

    `http_port`/`https_port`: 0 picks a free port, None disables that listener.
    `upstream_timeout`: seconds allowed for connecting to an endpoint and for each wait on
    it (writing the request, the response head, each piece of the body); past it -> 504.
    `client_timeout`: seconds a client may stay idle between requests or within one.
    `https_redirect`: answer plain-HTTP requests for hosts that have a certificate with a 308
    to https (off by default: such requests are served).
    `default_certificate`: (cert PEM, key PEM) for TLS clients whose SNI names no host of the
    table; a self-signed one is generated when omitted.
    """

    def __init__(self, http_port: int | None = 0, https_port: int | None = 0,
                 host: str = "127.0.0.1", *, table: RoutingTable | None = None,
                 upstream_timeout: float = 60.0, connect_timeout: float | None = None,
                 client_timeout: float = 60.0, https_redirect: bool = False,
                 https_redirect_port: int | None = None,
                 default_certificate: tuple[bytes, bytes] | None = None,
                 max_idle_per_endpoint: int = 16, upstream_idle_timeout: float = 30.0) -> None:
        self.host = host
        self._ports = {"http": http_port, "https": https_port}
        self.upstream_timeout = upstream_timeout
        self.connect_timeout = upstream_timeout if connect_timeout is None else connect_timeout
        self.client_timeout = client_timeout
        self.https_redirect = https_redirect
        self.https_redirect_port = https_redirect_port
        self._default_certificate = default_certificate
        self._contexts: dict[tuple[bytes, bytes], ssl.SSLContext] = {}
        self._state = _State.build(table or RoutingTable(), self._contexts)
        self.pool = Pool(max_idle_per_endpoint=max_idle_per_endpoint,
                         idle_timeout=upstream_idle_timeout)
        self.balancer = RoundRobin()
        self.in_flight = InFlight()
        self._servers: dict[str, asyncio.Server] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: set[ClientConnection] = set()
        self._ids = _RequestIds()
        self._sni: weakref.WeakKeyDictionary[ssl.SSLObject, str] = weakref.WeakKeyDictionary()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the listeners."""
        loop = self._loop = asyncio.get_running_loop()
        if self._ports["http"] is not None:
            self._servers["http"] = await loop.create_server(
                lambda: ClientConnection(self._accept, self.client_timeout, "http"),
                self.host, self._ports["http"])
        if self._ports["https"] is not None:
            cert_pem, key_pem = self._default_certificate or generate_self_signed()
            base = server_context(cert_pem, key_pem)
            base.sni_callback = self._select_certificate
            self._servers["https"] = await loop.create_server(
                lambda: ClientConnection(self._accept, self.client_timeout, "https"),
                self.host, self._ports["https"], ssl=base,
                ssl_handshake_timeout=self.client_timeout)

    async def stop(self) -> None:
        """Close the listeners and every connection (in-flight requests are cut)."""
        for server in self._servers.values():
            server.close()
        for conn in list(self._connections):
            conn.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers.values():
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()
        self.pool.close()

    async def __aenter__(self) -> Proxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _address(self, scheme: str) -> tuple[str, int] | None:
        server = self._servers.get(scheme)
        if server is None:
            return None
        host, port = server.sockets[0].getsockname()[:2]
        return host, port

    @property
    def http_address(self) -> tuple[str, int] | None:
        """(host, port) of the HTTP listener, once started."""
        return self._address("http")

    @property
    def https_address(self) -> tuple[str, int] | None:
        """(host, port) of the HTTPS listener, once started."""
        return self._address("https")

    # -- configuration --------------------------------------------------------------------

    @property
    def table(self) -> RoutingTable:
        """The table new requests are routed with."""
        return self._state.table

    def update(self, table: RoutingTable) -> None:
        """Serve `table` from now on. Atomic: new requests see the new table, requests
        already routed finish on the one they started with. TLS contexts are built here,
        once per certificate. Call from one thread at a time (any thread)."""
        state = _State.build(table, self._contexts)
        in_use = state.tls.contexts()
        for key in [k for k, ctx in self._contexts.items() if ctx not in in_use]:
            del self._contexts[key]
        self._state = state
        # Endpoints that left the table get no new requests (close their idle connections),
        # routes that left it no more rotation. On the loop: both are used there unlocked.
        loop = self._loop
        if loop is None or loop.is_closed():
            self._retain()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._retain()
        else:
            loop.call_soon_threadsafe(self._retain)

    def _retain(self) -> None:
        # Against the table in use when this runs (a later swap may already have replaced
        # the one that scheduled it): nothing the current table uses is dropped.
        state = self._state
        self.pool.retain(state.endpoints)
        # Listing every route's key costs ~1 us a route (13 ms at 10,000 Ingresses), too much
        # for every swap; rotations of removed routes are dropped once they outnumber the
        # table's routes, which keeps the state within twice the table's size.
        if len(self.balancer) > 2 * state.route_count:
            self.balancer.retain(route_keys(state.table))

    def _select_certificate(self, sslobj: ssl.SSLObject, server_name: str | None,
                            _base: ssl.SSLContext) -> None:
        # sni_callback: switch to the table's context for this name; keep the default
        # certificate (never another host's) for unknown or missing SNI.
        try:
            if not server_name:
                return
            name = normalize_host(server_name)
            self._sni[sslobj] = name
            entry = self._state.tls.lookup(name)
            if entry is not None:
                sslobj.context = entry.context
        except Exception:  # an exception here would abort the handshake with no answer
            log.exception("SNI selection failed for %r", server_name)

    # -- connections ----------------------------------------------------------------------

    def _accept(self, conn: ClientConnection) -> None:
        """A client connected (TLS: and finished its handshake): start serving it."""
        assert self._loop is not None
        task = self._loop.create_task(self._serve(conn))
        self._tasks.add(task)
        self._connections.add(conn)

        def done(_: object) -> None:
            self._tasks.discard(task)
            self._connections.discard(conn)

        task.add_done_callback(done)

    async def _serve(self, conn: ClientConnection) -> None:
        transport = conn.transport
        assert transport is not None
        peer = transport.get_extra_info("peername") or ("", 0)
        local = transport.get_extra_info("sockname") or ("", 0)
        sslobj = transport.get_extra_info("ssl_object")
        hop = _Hop(conn.scheme, ClientInfo(str(peer[0]), conn.scheme, int(local[1])),
                   self._sni.get(sslobj) if sslobj is not None else None)
        try:
            while True:
                try:
                    request = await conn.read_request()
                except HeadTimeout:
                    conn.respond(408, close=True)
                    break
                except BadRequest as exc:
                    conn.respond(exc.status, str(exc), close=True)
                    break
                if request is None:
                    break
                if not await self._handle(conn, request, hop) or not conn.next_cycle():
                    break
        except ClientError:
            pass
        except Exception:
            log.exception("proxy connection failed")
            with contextlib.suppress(Exception):
                conn.respond(500, close=True)
        finally:
            conn.close()

    # -- one request ----------------------------------------------------------------------

    async def _handle(self, conn: ClientConnection, request: Request, hop: _Hop) -> bool:
        """Answer one request; True when the connection may serve another."""
        state = self._state  # this request's table, whatever update() does meanwhile
        framing = examine(request.headers, request.http_version)
        if framing.problem is not None:
            # RFC 9112 6.1 / 6.3: respond 400 and close; nothing is forwarded.
            conn.respond(400, framing.problem, close=True)
            return False
        hosts = framing.hosts
        if len(hosts) > 1:
            # RFC 9112 3.2: more than one Host field -> 400.
            conn.respond(400, "several Host headers", close=True)
            return False
        if not hosts and request.http_version == "1.1":
            # RFC 9112 3.2: "A server MUST respond with a 400 (Bad Request) status code to
            # any HTTP/1.1 request message that lacks a Host header field".
            conn.respond(400, "missing Host", close=True)
            return False
        key = (request.target, hosts[0] if hosts else None)
        route = state.cache.get(key)
        if route is None:
            route = _Route.decide(state.routes, *key)
            if len(state.cache) >= ROUTE_CACHE_SIZE:
                state.cache.clear()
            state.cache[key] = route
        if route.problem is not None:
            conn.respond(400, route.problem, close=True)
            return False
        hostname = route.hostname

        if hop.sni and hop.scheme == "https":
            by_sni = state.tls.lookup(hop.sni)
            if (by_sni is not None and not by_sni.covers(hostname)
                    and state.tls.lookup(hostname) is not None):
                # RFC 9110 15.5.20: the connection's certificate was chosen for another TLS
                # host; the client must retry on a connection for this one.
                return conn.respond(421, f"{hostname} is not served on a connection for "
                                    f"{hop.sni}")
        if (self.https_redirect and hop.scheme == "http" and "https" in self._servers
                and state.tls.lookup(hostname) is not None):
            return self._redirect(conn, route)

        found = route.found
        assert found is not None
        if found.backend is None:
            return conn.respond(404, "no route")
        if not found.backend.endpoints:
            return conn.respond(503, f"no endpoints for {found.backend.name}")
        return await self._forward(conn, request, route, framing, hop)

    def _redirect(self, conn: ClientConnection, route: _Route) -> bool:
        # RFC 9110 15.4.9: 308 keeps the method and body; Location = same host and target.
        parts = split_authority(route.authority)
        name = parts[0] if parts else route.authority
        address = self.https_address
        port = self.https_redirect_port or (address[1] if address else 443)
        location = f"https://{name}{'' if port == 443 else f':{port}'}" \
                   f"{route.origin.decode('ascii')}"
        return conn.respond(308, "use https", headers=[(b"Location", location.encode())])

    async def _forward(self, conn: ClientConnection, request: Request, route: _Route,
                       framing: Framing, hop: _Hop) -> bool:
        """Send the request to one of the backend's endpoints and stream the answer back."""
        found = route.found
        assert found is not None and found.backend is not None
        headers = request.headers
        req_id = request_id(headers) or self._ids.next()
        chunked = framing.chunked
        forwarded = forward_request_headers(
            headers, hop.client, route.authority.encode("ascii", "replace"), req_id,
            chunked=chunked, host=route.absolute_host)
        assert route.key is not None
        endpoints = self.balancer.order(route.key, found.backend)
        if not framing.hosts and route.absolute_host is None:
            forwarded.insert(0, (b"Host", endpoints[0].hostport.encode()))
        # The ORIGINAL target in origin-form (RFC 9112 3.2.1): never the normalised path.
        head = b"%s %s HTTP/1.1\r\n%s\r\n" % (request.method, route.origin,
                                              serialize(forwarded))
        has_body = framing.has_body
        method = request.method
        idempotent = method in IDEMPOTENT
        failure: UpstreamError | None = None
        for endpoint in endpoints if idempotent else endpoints[:1]:
            fresh = False
            while True:
                try:
                    up = None if fresh else self.pool.take(endpoint.hostport)
                    if up is None:
                        up = await self.pool.connect(endpoint, self.connect_timeout)
                except UpstreamError as exc:
                    log.info("%s: %s", found.backend.name, exc)
                    failure = exc
                    break
                try:
                    return await self._exchange(conn, up, head, has_body, chunked, endpoint,
                                                retry=idempotent and not has_body and not fresh)
                except _Retry:
                    fresh = True
        assert failure is not None
        detail = "upstream timed out" if failure.status == 504 else "upstream unreachable"
        return conn.respond(failure.status, detail)

    async def _exchange(self, conn: ClientConnection, up: UpstreamConnection, head: bytes,
                        has_body: bool, chunked: bool, endpoint: Endpoint,
                        retry: bool) -> bool:
        """One request/response exchange on `up`; True when the client connection may go
        on. Raises _Retry when a reused connection died before any answer and `retry`."""
        timeout = self.upstream_timeout
        request = conn.request
        assert request is not None
        hostport = endpoint.hostport
        self.in_flight.enter(hostport)
        keep_upstream = False
        try:
            up.begin(request.method == b"HEAD")
            up.write(head)
            if has_body:
                if conn.waiting_for_continue:
                    conn.write(CONTINUE)
                while True:
                    piece = await conn.next_body()
                    if piece is None:
                        break
                    up.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                    await up.drain(timeout)
                if chunked:
                    up.write(b"0\r\n\r\n")

            event = await up.next_event(timeout)
            assert type(event) is ResponseHead
            close = not request.keep_alive
            rechunk = False
            lines = [b"HTTP/1.1 %d %s\r\n" % (event.status, event.reason),
                     serialize(forward_response_headers(event.headers))]
            if not event.bodyless and (event.chunked or event.until_close):
                if request.http_version == "1.1":
                    rechunk = True
                    lines.append(b"Transfer-Encoding: %s%schunked\r\n" % (
                        event.codings, b", " if event.codings else b""))
                elif event.codings:
                    # An HTTP/1.0 client cannot be told of transfer codings, so the body cannot
                    # reach it as sent; nginx answers 502 to any coding but chunked.
                    raise UpstreamBroken(f"transfer coding {event.codings.decode('latin-1')!r}"
                                         " cannot be sent to an HTTP/1.0 client", received=True)
                else:
                    close = True  # HTTP/1.0: the body ends when the connection closes
            if close:
                lines.append(b"Connection: close\r\n")
            lines.append(b"\r\n")
            conn.response_started = True
            # Write what has already arrived in one piece; wait for the rest.
            while True:
                event = up.next_nowait()
                if event is None:
                    conn.write(b"".join(lines))
                    lines = []
                    await conn.drain()
                    event = await up.next_event(timeout)
                if event is END:
                    if rechunk:
                        lines.append(b"0\r\n\r\n")
                    break
                if rechunk:
                    lines.append(b"%x\r\n%s\r\n" % (len(event), event))  # type: ignore
                else:
                    lines.append(event)  # type: ignore[arg-type]
            conn.write(b"".join(lines))
            # An endpoint that left the table meanwhile gets no pooled connection back.
            keep_upstream = hostport in self._state.endpoints
            return not close
        except UpstreamError as exc:
            if (retry and up.reused and isinstance(exc, UpstreamBroken) and not exc.received
                    and conn.can_respond()):
                raise _Retry() from None
            log.info("upstream %s: %s", hostport, exc)
            if not conn.can_respond():
                raise ClientError("upstream failed mid-response") from None
            detail = "upstream timed out" if isinstance(exc, UpstreamTimeout) else \
                "upstream failed"
            return conn.respond(exc.status, detail)
        except ClientError as exc:
            if conn.can_respond():
                conn.respond(exc.status, str(exc), close=True)
            raise
        finally:
            self.in_flight.leave(hostport)
            self.pool.release(up, keep=keep_upstream)
