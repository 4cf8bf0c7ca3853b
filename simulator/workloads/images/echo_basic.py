"""The Gateway API conformance echo server, `gcr.io/k8s-staging-gateway-api/echo-basic`.

Copies kubernetes-sigs/gateway-api `conformance/echo-basic/echo-basic.go` as built into the
tags the conformance manifests pin (v20231214-v1.0.0-140-gf544a46e,
v20240412-v1.0.0-394-g40c666fd): a Go net/http server on HTTP_PORT (3000) and H2C_PORT
(3001) whose ServeMux routes `/health`, `/status/`, `/ws` and `/` (echo), with
`preserveSlashes` collapsing `//` in the path first. The JSON body is

    {path, host, method, proto, headers, namespace, ingress, service, pod}

(`tls` only over TLS; later tags add `httpPort` or `sni`, not emitted here).

The image (docker/Dockerfile.echo-basic) is `FROM gcr.io/distroless/static:nonroot` with
`ENTRYPOINT ["/echo-basic"]` and no STOPSIGNAL: there is no shell or `sleep` for exec hooks,
and since main() installs no signal handler, SIGTERM ends the Go process at once.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
from typing import ClassVar
from urllib.parse import unquote

from .. import golang
from ..httpserver import ConnectionPolicy, HttpRequest, HttpResponse
from ..spec import ContainerView
from ..websocket import websocket_response
from .base import ContainerImage, Handler, StopMode, http_date

__all__ = ["EchoBasic", "go_request_headers", "go_response"]

# net/http buffers this much of a handler's output before it commits to chunked encoding
# (bufferBeforeChunkingSize in server.go); a shorter body finished by the handler gets a
# Content-Length instead.
_CHUNKING_THRESHOLD = 2048
_STATUS_RE = re.compile(r"^/status/([0-9][0-9][0-9])$")
_BODYLESS = {204, 304}


def go_request_headers(request: HttpRequest) -> dict[str, list[str]]:
    """`r.Header` as net/http builds it: canonical keys, values in arrival order, without
    Host (moved to r.Host) and Transfer-Encoding (moved to r.TransferEncoding; a chunked
    request also loses Content-Length)."""
    headers: dict[str, list[str]] = {}
    chunked = False
    for raw_name, raw_value in request.raw_headers:
        name = golang.canonical_header_key(raw_name.decode("latin-1"))
        value = raw_value.decode("utf-8", "replace")
        if name == "Host":
            continue
        if name == "Transfer-Encoding":
            chunked = chunked or "chunked" in value.lower()
            continue
        headers.setdefault(name, []).append(value)
    if chunked:
        headers.pop("Content-Length", None)
    return {k: headers[k] for k in sorted(headers)}  # encoding/json sorts map keys


def go_host(request: HttpRequest) -> str:
    """`r.Host`: the authority of an absolute-form target, else the Host header."""
    target = request.target
    if "://" in target and not target.startswith("/"):
        authority = target.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
        if authority:
            return authority.rsplit("@", 1)[-1]
    return request.header("Host") or ""


def go_response(request: HttpRequest, status: int, header: dict[str, str], body: bytes = b"",
                *, sniffed_type: str | None = None) -> HttpResponse:
    """A response laid out the way net/http's chunkWriter writes it: the handler's headers
    sorted by key (Header.WriteSubset), then Date, then Content-Length when known, then a
    sniffed Content-Type."""
    lines: list[tuple[str, str]] = []
    for key in sorted(header):
        value = " ".join(header[key].splitlines()).strip(" \t")  # headerNewlineToSpace
        if key and all(c in golang._TOKEN for c in key.encode("latin-1", "replace")):
            lines.append((key, value))  # invalid names are dropped, as Go does
    lines.append(("Date", http_date()))
    body_allowed = not (100 <= status < 200 or status in _BODYLESS)
    length_known = len(body) <= _CHUNKING_THRESHOLD or request.http_version == "1.0"
    if body_allowed and length_known and (request.method != "HEAD" or body):
        lines.append(("Content-Length", str(len(body))))
    if sniffed_type and body and not any(k.lower() == "content-type" for k in header):
        lines.append(("Content-Type", sniffed_type))
    return HttpResponse(status, lines, body, reason=golang.status_line_text(status))


class EchoBasic(ContainerImage):
    """Go echo server; see the module docstring for what is copied from where."""

    kind: ClassVar[str] = "echo-basic"
    stop_signal: ClassVar[str] = "SIGTERM"
    executables: ClassVar[frozenset[str] | None] = frozenset({"echo-basic"})

    def __init__(self, container: ContainerView) -> None:
        super().__init__(container)
        env = self.env
        pod = container.pod
        # The real image reads these from the environment the manifests set through the
        # downward API; absent variables fall back to the pod's own identity here.
        self.context = {
            "namespace": env.get("NAMESPACE", pod.namespace),
            "ingress": env.get("INGRESS_NAME", ""),
            "service": env.get("SERVICE_NAME", ""),
            "pod": env.get("POD_NAME", pod.name),
        }

    @property
    def policy(self) -> ConnectionPolicy:
        # http.Server{} without IdleTimeout/ReadTimeout keeps idle connections forever.
        return ConnectionPolicy(error_response=self.error_response)

    def listen_ports(self) -> dict[int, Handler]:
        ports: dict[int, Handler] = {}
        http_port = _port(self.env.get("HTTP_PORT") or "3000")
        h2c_port = _port(self.env.get("H2C_PORT") or "3001")
        if http_port is not None:
            ports[http_port] = self.handle
        if h2c_port is not None and h2c_port not in ports:
            ports[h2c_port] = self.handle_h2c
        # HTTPS_PORT (8443) is served only with TLS_SERVER_CERT/TLS_SERVER_PRIVKEY files,
        # which a plain-HTTP emulation cannot honour: that listener is left out.
        return ports

    def stop_mode(self, signal: str) -> StopMode:
        # Go's defaults without signal.Notify (os/signal docs, "Default behavior of signals
        # in Go programs"): HUP, INT and TERM exit the program at once, QUIT and ABRT exit
        # with a goroutine dump; the others this models are not fatal.
        fatal = ("SIGHUP", "SIGINT", "SIGTERM", "SIGQUIT", "SIGABRT")
        return "immediate" if signal in fatal else "ignore"

    def error_response(self, status: int) -> HttpResponse:
        if status == 500:
            return HttpResponse(500, [("Content-Type", "text/plain; charset=utf-8"),
                                      ("Date", http_date()), ("Content-Length", "0")])
        if status == 503:  # an injected readiness failure, not something the image says
            return HttpResponse(503, [("Date", http_date()), ("Content-Length", "0")],
                                reason=golang.status_line_text(503))
        # conn.serve's answer to an unparsable request: no Content-Length, then close.
        code = 431 if status in (414, 431) else 400
        text = f"{code} {golang.status_line_text(code)}"
        head = (f"HTTP/1.1 {text}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                f"Connection: close\r\n\r\n{text}")
        return HttpResponse(code, raw=head.encode())

    # -- ServeMux -------------------------------------------------------------------------
    async def handle(self, request: HttpRequest) -> HttpResponse:
        path = unquote(request.path).replace("//", "/")  # r.URL.Path after preserveSlashes
        cleaned = _clean_path(path)
        if cleaned != path and request.method != "CONNECT":
            query = request.path_and_query.partition("?")[2]
            return _redirect(request, cleaned + (f"?{query}" if query else ""))
        if path == "/health":
            return go_response(request, 200, {}, b"OK", sniffed_type="text/plain; charset=utf-8")
        if path == "/status":
            query = request.path_and_query.partition("?")[2]
            return _redirect(request, "/status/" + (f"?{query}" if query else ""))
        if path.startswith("/status/"):
            return self._status(request)
        if path == "/ws":
            return websocket_response(request)
        return await self.echo(request)

    async def handle_h2c(self, request: HttpRequest) -> HttpResponse:
        """runH2CServer: HTTP/1.1 requests are refused unless they ask for `Upgrade: h2c`;
        those are echoed over HTTP/1.1 (the Go server has no h2c upgrade either)."""
        if request.header("Upgrade") != "h2c":
            return go_response(request, 400, {}, b"Expected h2c request",
                               sniffed_type="text/plain; charset=utf-8")
        return await self.echo(request)

    def _status(self, request: HttpRequest) -> HttpResponse:
        match = _STATUS_RE.match(request.target)
        code = int(match.group(1)) if match else 400
        if code < 100:
            # WriteHeader panics on an invalid code; net/http recovers and drops the
            # connection without a response.
            return HttpResponse(0, abort=True)
        if 100 <= code < 200:
            # A 1xx is only an interim response in net/http; h11 cannot send it on its
            # own, so the final 200 the Go server follows it with is all that is sent.
            code = 200
        return go_response(request, code, {})

    async def echo(self, request: HttpRequest) -> HttpResponse:
        """echoHandler: optional `?delay=<Go duration>`, then the RequestAssertions JSON."""
        delay = request.query_value("delay")
        if delay:
            try:
                seconds = golang.parse_duration(delay)
            except golang.DurationError as exc:
                body = golang.marshal({"message": str(exc)})
                return go_response(request, 500, {"Content-Type": "application/json",
                                                  "X-Content-Type-Options": "nosniff"}, body)
            if seconds > 0:
                await asyncio.sleep(seconds)
        headers = go_request_headers(request)
        assertions = {
            "path": request.target,
            "host": go_host(request),
            "method": request.method,
            "proto": f"HTTP/{request.http_version}",
            "headers": headers,
            **self.context,
        }
        body = golang.marshal_indent(assertions)
        out: dict[str, str] = {}
        # writeEchoResponseHeaders: "X-Echo-Set-Header: name: value, name2: value2".
        for item_list in headers.get("X-Echo-Set-Header", ()):
            for item in item_list.split(","):
                name, _, value = item.strip().partition(":")
                out[name] = out[name] + "," + value.strip() if name in out else value
        out["Content-Type"] = "application/json"
        out["X-Content-Type-Options"] = "nosniff"
        return go_response(request, 200, out, body)


def _port(value: str) -> int | None:
    # net.Listen(":<value>") fails for anything but a port number and the process exits;
    # then nothing listens, which is what None means here.
    return int(value) if value.isdigit() and 0 < int(value) < 65536 else None


def _clean_path(path: str) -> str:
    """net/http cleanPath: resolve . and .. segments, keep a trailing slash."""
    if not path:
        return "/"
    if not path.startswith("/"):
        path = "/" + path
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


def _redirect(request: HttpRequest, location: str) -> HttpResponse:
    """ServeMux's 301 (http.Redirect): a short HTML body for GET and HEAD."""
    header = {"Location": location}
    body = b""
    if request.method in ("GET", "HEAD"):
        header["Content-Type"] = "text/html; charset=utf-8"
        body = f'<a href="{_html_escape(location)}">Moved Permanently</a>.\n\n'.encode()
    return go_response(request, 301, header, body)


def _html_escape(text: str) -> str:
    # html.EscapeString's replacements (htmlReplacer in net/http).
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;"), ("'", "&#39;")):
        text = text.replace(a, b)
    return text
