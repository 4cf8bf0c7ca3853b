"""The reference data plane: an asyncio HTTP/1.1 reverse proxy (h11) with HTTP and HTTPS
listeners serving a RoutingTable that can be swapped atomically at any time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
import weakref
from dataclasses import dataclass

import h11

from simulator.routing import Endpoint, RoutingTable

from .balancer import InFlight, RoundRobin
from .downstream import ClientError, Downstream, HeadTimeout
from .framing import framing_problem
from .headers import ClientInfo, forward_request_headers, forward_response_headers, request_id
from .matching import Match, RouteIndex
from .tls import TLSIndex, generate_self_signed, server_context
from .upstream import Pool, UpstreamBroken, UpstreamConnection, UpstreamError, UpstreamTimeout
from .uri import Target, normalize_host, parse_target, split_authority

log = logging.getLogger(__name__)

# RFC 9110 9.2.2: methods whose repetition has the same effect as one request; only these
# are retried on another endpoint after a failure.
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})


@dataclass(frozen=True)
class _State:
    """Everything derived from one RoutingTable. Replaced as a whole by `Proxy.update`, so a
    request that took a reference keeps a consistent view until it ends."""

    table: RoutingTable
    routes: RouteIndex
    tls: TLSIndex
    endpoints: frozenset[str]

    @classmethod
    def build(cls, table: RoutingTable,
              cache: dict[tuple[bytes, bytes], ssl.SSLContext]) -> _State:
        backends = [rule.backend for h in table.hosts for rule in h.paths]
        if table.default_backend is not None:
            backends.append(table.default_backend)
        endpoints = frozenset(ep.hostport for b in backends for ep in b.endpoints)
        return cls(table, RouteIndex(table), TLSIndex(table.certificates, cache), endpoints)


@dataclass(frozen=True)
class _Hop:
    """Facts about the client connection a request arrived on."""

    scheme: str  # "http" or "https"
    client_ip: str
    local_port: int
    sni: str | None  # the normalised SNI name, on TLS connections that sent one


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
        self._sni: weakref.WeakKeyDictionary[ssl.SSLObject, str] = weakref.WeakKeyDictionary()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the listeners."""
        self._loop = asyncio.get_running_loop()
        if self._ports["http"] is not None:
            self._servers["http"] = await asyncio.start_server(
                self._on_http, self.host, self._ports["http"])
        if self._ports["https"] is not None:
            cert_pem, key_pem = self._default_certificate or generate_self_signed()
            base = server_context(cert_pem, key_pem)
            base.sni_callback = self._select_certificate
            self._servers["https"] = await asyncio.start_server(
                self._on_https, self.host, self._ports["https"], ssl=base,
                ssl_handshake_timeout=self.client_timeout)

    async def stop(self) -> None:
        """Close the listeners and every connection (in-flight requests are cut)."""
        for server in self._servers.values():
            server.close()
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
        # Endpoints that left the table get no new requests; close their idle connections.
        loop = self._loop
        if loop is None or loop.is_closed():
            self.pool.retain(state.endpoints)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.pool.retain(state.endpoints)
        else:
            loop.call_soon_threadsafe(self.pool.retain, state.endpoints)

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

    async def _on_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(reader, writer, "http")

    async def _on_https(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        await self._serve(reader, writer, "https")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     scheme: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        peer = writer.get_extra_info("peername") or ("", 0)
        local = writer.get_extra_info("sockname") or ("", 0)
        sslobj = writer.get_extra_info("ssl_object")
        hop = _Hop(scheme, str(peer[0]), int(local[1]),
                   self._sni.get(sslobj) if sslobj is not None else None)
        down = Downstream(reader, writer, self.client_timeout)
        try:
            while True:
                try:
                    request = await down.read_request()
                except h11.RemoteProtocolError as exc:
                    status = 431 if exc.error_status_hint == 431 else 400
                    await down.respond(status, "malformed request", close=True)
                    break
                except HeadTimeout:
                    await down.respond(408, close=True)
                    break
                if request is None:
                    break
                if not await self._handle(down, request, hop) or not down.next_cycle():
                    break
        except ClientError:
            pass
        except Exception:
            log.exception("proxy connection failed")
            with contextlib.suppress(Exception):
                await down.respond(500, close=True)
        finally:
            down.close()
            if task is not None:
                self._tasks.discard(task)

    # -- one request ----------------------------------------------------------------------

    async def _handle(self, down: Downstream, request: h11.Request, hop: _Hop) -> bool:
        """Answer one request; True when the connection may serve another."""
        state = self._state  # this request's table, whatever update() does meanwhile
        problem = framing_problem(down.raw_head, request.headers, request.http_version)
        if problem is not None:
            # RFC 9112 6.1 / 6.3: respond 400 and close; nothing is forwarded.
            await down.respond(400, problem, close=True)
            return False
        # h11 only accepts visible ASCII in the request-target (RFC 9112 3.2).
        target = parse_target(request.target.decode("ascii"))
        if target is None:
            await down.respond(400, "unsupported request-target", close=True)
            return False
        hosts = [v for n, v in request.headers if n == b"host"]
        if len(hosts) > 1:
            # RFC 9112 3.2: more than one Host field -> 400.
            await down.respond(400, "several Host headers", close=True)
            return False
        absolute = target.authority is not None
        # RFC 9112 3.2.2: a server receiving absolute-form "MUST ignore the received Host
        # header field (if any) and instead use the host information of the request-target".
        if target.authority is not None:
            authority = target.authority
        else:
            authority = hosts[0].decode("latin-1") if hosts else ""
        if (authority or absolute) and split_authority(authority) is None:
            # RFC 9112 3.2: an invalid Host field value -> 400.
            await down.respond(400, "invalid Host", close=True)
            return False
        hostname = normalize_host(authority)

        if hop.scheme == "https" and hop.sni:
            by_sni = state.tls.lookup(hop.sni)
            if (by_sni is not None and not by_sni.covers(hostname)
                    and state.tls.lookup(hostname) is not None):
                # RFC 9110 15.5.20: the connection's certificate was chosen for another TLS
                # host; the client must retry on a connection for this one.
                return await self._answer(down, 421, f"{hostname} is not served on a "
                                          f"connection for {hop.sni}")
        if (hop.scheme == "http" and self.https_redirect and "https" in self._servers
                and state.tls.lookup(hostname) is not None):
            return await self._redirect(down, authority, target.origin)

        found: Match = state.routes.match(authority, target.origin)
        if found.backend is None:
            return await self._answer(down, 404, "no route")
        if not found.backend.endpoints:
            return await self._answer(down, 503, f"no endpoints for {found.backend.name}")
        client = ClientInfo(hop.client_ip, hop.scheme, hop.local_port, authority)
        return await self._forward(down, request, target, found, client)

    async def _answer(self, down: Downstream, status: int, detail: str) -> bool:
        await down.respond(status, detail)
        return True

    async def _redirect(self, down: Downstream, authority: str, origin: str) -> bool:
        # RFC 9110 15.4.9: 308 keeps the method and body; Location = same host and target.
        parts = split_authority(authority)
        name = parts[0] if parts else authority
        address = self.https_address
        port = self.https_redirect_port or (address[1] if address else 443)
        location = f"https://{name}{'' if port == 443 else f':{port}'}{origin}"
        await down.respond(308, "use https", headers=[(b"Location", location.encode())])
        return True

    async def _forward(self, down: Downstream, request: h11.Request, target: Target,
                       found: Match, client: ClientInfo) -> bool:
        """Send the request to one of the backend's endpoints and stream the answer back."""
        assert found.backend is not None
        lengths = [v for n, v in request.headers if n == b"content-length"]
        chunked = any(n == b"transfer-encoding" for n, _ in request.headers)
        has_body = chunked or (bool(lengths) and int(lengths[0]) > 0)
        req_id = request_id(request.headers) or uuid.uuid4().hex.encode()
        absolute_host = target.authority.encode("ascii") if target.authority is not None else None
        headers = forward_request_headers(request.headers.raw_items(), client, req_id,
                                          chunked=chunked, host=absolute_host)
        endpoints = self.balancer.order(found.backend)
        if not any(n.lower() == b"host" for n, _ in headers):
            headers.insert(0, (b"Host", endpoints[0].hostport.encode()))
        # The ORIGINAL target in origin-form (RFC 9112 3.2.1): never the normalised path.
        upstream_request = h11.Request(method=request.method, target=target.origin.encode(),
                                       headers=headers)

        idempotent = request.method in IDEMPOTENT
        failure: UpstreamError | None = None
        for endpoint in endpoints if idempotent else endpoints[:1]:
            fresh = False
            while True:
                try:
                    up = await self.pool.acquire(endpoint, self.connect_timeout, fresh=fresh)
                except UpstreamError as exc:
                    log.info("%s: %s", found.backend.name, exc)
                    failure = exc
                    break
                try:
                    return await self._exchange(down, up, upstream_request, has_body, endpoint,
                                                retry=idempotent and not has_body and not fresh)
                except _Retry:
                    fresh = True
        assert failure is not None
        detail = "upstream timed out" if failure.status == 504 else "upstream unreachable"
        await down.respond(failure.status, detail)
        return down.conn.our_state is h11.DONE and down.body_complete()

    async def _exchange(self, down: Downstream, up: UpstreamConnection,
                        upstream_request: h11.Request, has_body: bool, endpoint: Endpoint,
                        retry: bool) -> bool:
        """One request/response exchange on `up`; True when the client connection may go
        on. Raises _Retry when a reused connection died before any answer and `retry`."""
        timeout = self.upstream_timeout
        self.in_flight.enter(endpoint.hostport)
        keep_upstream = False
        try:
            await up.send(upstream_request, timeout)
            if has_body:
                if down.conn.they_are_waiting_for_100_continue:
                    await down.send(h11.InformationalResponse(status_code=100, headers=[]))
                while True:
                    event = await down.next_event()
                    if isinstance(event, h11.Data):
                        await up.send(h11.Data(data=event.data), timeout)
                    elif isinstance(event, h11.EndOfMessage):
                        break
            else:
                down.body_complete()  # no body: h11 ends the request without more I/O
            await up.send(h11.EndOfMessage(), timeout)

            event = await up.next_event(timeout)
            while isinstance(event, h11.InformationalResponse):  # 1xx: not relayed
                event = await up.next_event(timeout)
            assert isinstance(event, h11.Response)
            await down.send(h11.Response(
                status_code=event.status_code, reason=event.reason,
                headers=forward_response_headers(event.headers.raw_items())))
            while True:
                event = await up.next_event(timeout)
                if isinstance(event, h11.Data):
                    await down.send(h11.Data(data=event.data))
                elif isinstance(event, h11.EndOfMessage):
                    await down.send(h11.EndOfMessage())
                    break
            # An endpoint that left the table meanwhile gets no pooled connection back.
            keep_upstream = endpoint.hostport in self._state.endpoints
            return down.conn.our_state is h11.DONE and down.conn.their_state is h11.DONE
        except UpstreamError as exc:
            if (retry and up.reused and isinstance(exc, UpstreamBroken) and not exc.received
                    and down.can_respond()):
                raise _Retry() from None
            log.info("upstream %s: %s", endpoint.hostport, exc)
            if not down.can_respond():
                raise ClientError("upstream failed mid-response") from None
            detail = "upstream timed out" if isinstance(exc, UpstreamTimeout) else \
                "upstream failed"
            await down.respond(exc.status, detail)
            return down.conn.our_state is h11.DONE and down.body_complete()
        except ClientError as exc:
            if down.can_respond():
                with contextlib.suppress(ClientError):
                    await down.respond(exc.status, str(exc), close=True)
            raise
        finally:
            self.in_flight.leave(endpoint.hostport)
            self.pool.release(up, keep=keep_upstream)
