"""An HTTP/1.1 client for the target's entry addresses that chooses the `Host` header and the
TLS server name (SNI) independently, and verifies certificates against the case's CA.

Standard library only (http.client, ssl), so what goes on the wire is exactly what a case
asked for: no proxies from the environment, no redirects followed, no retries."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

import trustme
from cryptography import x509

TIMEOUT_S = 10.0  # per request: only a guard against hangs


def parse_address(address: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` -> (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"address {address!r} is not host:port")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Echo:
    """What the echo backend (gateway-api echo-basic) reports about the request it got."""

    service: str
    pod: str
    namespace: str
    path: str
    host: str
    method: str
    headers: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes
    certificate: x509.Certificate | None = None  # what the server presented over TLS

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def echo(self) -> Echo | None:
        """The echo backend's report, or None when the body is not one (an error page)."""
        if "json" not in self.headers.get("content-type", "") and self.body[:1] != b"{":
            return None
        try:
            data: Any = json.loads(self.body)
        except ValueError:
            return None
        if not isinstance(data, dict) or "pod" not in data:
            return None
        return Echo(service=data.get("service", ""), pod=data.get("pod", ""),
                    namespace=data.get("namespace", ""), path=data.get("path", ""),
                    host=data.get("host", ""), method=data.get("method", ""),
                    headers=data.get("headers") or {})

    def summary(self) -> str:
        """One line for assertion messages."""
        echo = self.echo
        if echo is not None:
            return f"{self.status} from {echo.namespace}/{echo.service} ({echo.pod})"
        return f"{self.status} {self.text[:80]!r}"


def tls_context(ca: trustme.CA | None) -> ssl.SSLContext:
    """Verifying the chain against `ca` and the certificate against the SNI name; with no CA,
    not verifying (to look at whatever certificate the server presents)."""
    if ca is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and hostname
    ca.configure_trust(ctx)  # trusting only the case's CA
    return ctx


def strip_port(host: str) -> str:
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class HttpClient:
    """Requests to one target's HTTP and HTTPS entry addresses."""

    def __init__(self, http_address: str, https_address: str | None,
                 timeout_s: float = TIMEOUT_S) -> None:
        self.http_address = parse_address(http_address)
        self.https_address = parse_address(https_address) if https_address else None
        self.timeout_s = timeout_s

    def request(self, host: str, path: str = "/", method: str = "GET", *,
                headers: dict[str, str] | None = None, body: bytes | None = None,
                tls: bool = False, sni: str | None = None,
                ca: trustme.CA | None = None) -> Response:
        """Send one request on a new connection (`Connection: close`).

        `host` is the Host header as sent (a port may be included); over TLS, `sni` is the
        server name (default: `host` without its port) and `ca`, when given, must have issued
        the certificate, which must be valid for the SNI name."""
        all_headers = {"Host": host, "Connection": "close", "User-Agent": "ingress-conformance"}
        all_headers.update(headers or {})
        if tls:
            sock = self.tls_connect(sni if sni is not None else strip_port(host), ca)
            conn = http.client.HTTPConnection(*self._https(), timeout=self.timeout_s)
            conn.sock = sock  # http.client speaks over our socket instead of connecting
            cert = peer_certificate(sock)  # now: the socket is closed once the body is read
        else:
            cert = None
            conn = http.client.HTTPConnection(*self.http_address, timeout=self.timeout_s)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in all_headers.items():
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            merged: dict[str, str] = {}
            for name, value in resp.getheaders():
                key = name.lower()
                merged[key] = f"{merged[key]}, {value}" if key in merged else value
            return Response(resp.status, merged, data, cert)
        finally:
            conn.close()

    def get(self, host: str, path: str = "/", **kwargs: Any) -> Response:
        return self.request(host, path, "GET", **kwargs)

    def tls_connect(self, sni: str | None, ca: trustme.CA | None) -> ssl.SSLSocket:
        """A TLS connection to the HTTPS entry sending `sni` (None: no SNI at all)."""
        sock = socket.create_connection(self._https(), timeout=self.timeout_s)
        try:
            return tls_context(ca).wrap_socket(sock, server_hostname=sni)
        except BaseException:
            sock.close()
            raise

    def certificate(self, sni: str | None) -> x509.Certificate:
        """The certificate presented for `sni` (handshake only, nothing verified)."""
        with self.tls_connect(sni, None) as tls:
            return peer_certificate(tls)

    def _https(self) -> tuple[str, int]:
        if self.https_address is None:
            raise RuntimeError("this target has no HTTPS entry address (--https-address)")
        return self.https_address


def peer_certificate(tls: ssl.SSLSocket) -> x509.Certificate:
    der = tls.getpeercert(binary_form=True)
    if der is None:
        raise ssl.SSLError("the server presented no certificate")
    return x509.load_der_x509_certificate(der)


def dns_names(cert: x509.Certificate) -> set[str]:
    """The certificate's subjectAltName DNS names."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return set()
    return set(san.value.get_values_for_type(x509.DNSName))
