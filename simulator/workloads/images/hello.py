"""nginxdemos/hello:plain-text (and nginxdemos/nginx-hello:plain-text).

Copies nginxinc/NGINX-Demos `nginx-hello/hello-plain-text.conf` (abridged: it also listens
on [::]:80):

    server {
        listen 80;
        location / {
            default_type text/plain;
            expires -1;
            return 200 'Server address: $server_addr:$server_port\\nServer name: $hostname\\n
                        Date: $time_local\\nURI: $request_uri\\nRequest ID: $request_id\\n';
        }
    }

built `FROM nginx:mainline-alpine` (nginx-hello/DockerfilePlainText), whose Dockerfile
(nginxinc/docker-nginx mainline/alpine*/Dockerfile) sets `STOPSIGNAL SIGQUIT` and whose
nginx.conf sets `keepalive_timeout 65`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import time
import zoneinfo
from typing import ClassVar

from ..httpserver import ConnectionPolicy, HttpRequest, HttpResponse
from ..spec import ContainerView
from .base import ContainerImage, Handler, StopMode, http_date

__all__ = ["NginxHello", "NGINX_VERSION", "nginx_time_local"]

# The image floats with nginx:mainline-alpine at build time; this is one mainline release.
NGINX_VERSION = "1.27.4"
SERVER = f"nginx/{NGINX_VERSION}"

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# ngx_http_status_lines (src/http/ngx_http_header_filter_module.c) where nginx's phrase
# differs from the RFC's; error pages (ngx_http_special_response.c) title themselves alike.
_NGINX_REASONS = {
    400: "Bad Request", 405: "Not Allowed", 414: "Request-URI Too Large",
    500: "Internal Server Error", 503: "Service Temporarily Unavailable",
}


def nginx_time_local(ts: float, tz: dt.tzinfo) -> str:
    """nginx's $time_local: Common Log Format, `10/Oct/2024:13:55:36 +0000` (English month
    names whatever the locale, as nginx formats them itself in ngx_times.c)."""
    t = dt.datetime.fromtimestamp(ts, tz)
    offset = t.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    return (f"{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year:04d}:"
            f"{t.hour:02d}:{t.minute:02d}:{t.second:02d} {sign}{hh:02d}{mm:02d}")


class NginxHello(ContainerImage):
    """The plain-text hello page: every path, every method but TRACE, answers 200."""

    kind: ClassVar[str] = "hello-plain-text"
    stop_signal: ClassVar[str] = "SIGQUIT"
    # Alpine: busybox sh/sleep/kill plus nginx itself, so exec hooks behave as written.
    executables: ClassVar[frozenset[str] | None] = None

    def __init__(self, container: ContainerView, port: int = 80) -> None:
        super().__init__(container)
        self.port = port
        # Alpine ships tzdata in this image, so TZ in the environment changes $time_local.
        self.tz: dt.tzinfo = dt.timezone.utc
        tz_name = self.env.get("TZ")
        if tz_name:
            # musl falls back to UTC for an unknown zone as well.
            with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError, ValueError):
                self.tz = zoneinfo.ZoneInfo(tz_name)

    @property
    def policy(self) -> ConnectionPolicy:
        return ConnectionPolicy(keepalive_timeout=65.0, keepalive_requests=1000,
                                error_response=self.error_response)

    def listen_ports(self) -> dict[int, Handler]:
        return {self.port: self.handle}

    def stop_mode(self, signal: str) -> StopMode:
        # nginx master (docs: "Controlling nginx"): QUIT = graceful shutdown; TERM/INT =
        # fast shutdown (workers exit at once, connections dropped); HUP reloads, USR1
        # reopens logs, USR2 upgrades the binary, WINCH stops only the workers.
        if signal == "SIGQUIT":
            return "graceful"
        return "immediate" if signal in ("SIGTERM", "SIGINT") else "ignore"

    def _headers(self, now: float, content_type: str, length: int, keep_alive: bool
                 ) -> list[tuple[str, str]]:
        # ngx_http_header_filter writes Server, Date, Content-Type, Content-Length,
        # Connection in this order, then the headers other modules added.
        return [
            ("Server", SERVER),
            ("Date", http_date(now)),
            ("Content-Type", content_type),
            ("Content-Length", str(length)),
            ("Connection", "keep-alive" if keep_alive else "close"),
        ]

    async def handle(self, request: HttpRequest) -> HttpResponse:
        if request.method == "TRACE":
            # ngx_http_process_request_line rejects TRACE before any location runs.
            return self.error_response(405)
        now = time.time()
        body = b"".join([
            f"Server address: {request.local[0]}:{request.local[1]}\n".encode(),
            f"Server name: {self.container.hostname}\n".encode(),
            f"Date: {nginx_time_local(now, self.tz)}\n".encode(),
            # $request_uri is the unparsed URI, bytes as the client sent them.
            b"URI: " + request.path_and_query.encode("latin-1") + b"\n",
            f"Request ID: {secrets.token_hex(16)}\n".encode(),
        ])
        headers = self._headers(now, "text/plain", len(body), _keep_alive(request))
        # `expires -1`: Expires is now minus one second, and a negative time means
        # Cache-Control: no-cache (ngx_http_headers_filter_module.c, ngx_http_set_expires).
        headers += [("Expires", http_date(now - 1)), ("Cache-Control", "no-cache")]
        return HttpResponse(200, headers, body)

    def error_response(self, status: int) -> HttpResponse:
        """nginx's built-in error page (ngx_http_special_response.c), with CRLF lines."""
        if status == 431:
            # nginx has no 431: an oversized header is its 494, shown as a 400 page.
            title, status = "400 Request Header Or Cookie Too Large", 400
        else:
            title = f"{status} {_NGINX_REASONS.get(status, 'Error')}"
        body = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
                f"<center><h1>{title}</h1></center>\r\n"
                f"<hr><center>{SERVER}</center>\r\n</body>\r\n</html>\r\n").encode()
        close = status in (400, 414, 500)
        headers = self._headers(time.time(), "text/html", len(body), keep_alive=not close)
        return HttpResponse(status, headers, body, reason=_NGINX_REASONS.get(status),
                            close=close)


def _keep_alive(request: HttpRequest) -> bool:
    connection = (request.header("Connection") or "").lower()
    if request.http_version == "1.0":
        return "keep-alive" in connection
    return "close" not in connection
