"""TLS termination: per-SNI certificates from the RoutingTable and the proxy's own default.

A `TLSIndex` is built once per table (one `ssl.SSLContext` per certificate, reused across
tables while the PEM bytes are unchanged) and consulted by the listener's `sni_callback`.
"""

from __future__ import annotations

import datetime
import logging
import os
import ssl
import tempfile
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from simulator.routing import Certificate

from .matching import wildcard_for

log = logging.getLogger(__name__)

DEFAULT_COMMON_NAME = "ingress-sim default certificate"


def generate_self_signed(common_name: str = DEFAULT_COMMON_NAME) -> tuple[bytes, bytes]:
    """A fresh self-signed certificate and key (PEM) naming no real host, served when the
    client's SNI names no configured host (like ingress-nginx's "Fake Certificate")."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("ingress-sim.invalid")]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert_pem, key_pem


def server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A server SSLContext for one certificate chain and key (PEM bytes).

    Raises ssl.SSLError (or ValueError) when the PEM does not load.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    # load_cert_chain only reads files: write both to a private directory for the call.
    with tempfile.TemporaryDirectory(prefix="ingress-sim-tls-") as tmp:
        cert_path = os.path.join(tmp, "tls.crt")
        key_path = os.path.join(tmp, "tls.key")
        with open(cert_path, "wb") as f:
            f.write(cert_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        ctx.load_cert_chain(cert_path, key_path)
    return ctx


@dataclass(frozen=True)
class TLSHost:
    """A certificate of the table and the context that serves it."""

    certificate: Certificate
    context: ssl.SSLContext

    def covers(self, host: str) -> bool:
        """Whether this certificate's host list names `host` (exactly or by a one-label
        wildcard)."""
        names = {h.lower().rstrip(".") for h in self.certificate.hosts}
        return host in names or (wildcard_for(host) or "\0") in names


class TLSIndex:
    """SNI name -> certificate, built once per RoutingTable. The first certificate listing a
    name wins; a certificate whose PEM does not load is skipped (its hosts then get the
    default certificate) and its source is listed in `broken`."""

    def __init__(self, certificates: tuple[Certificate, ...],
                 cache: dict[tuple[bytes, bytes], ssl.SSLContext] | None = None) -> None:
        self._names: dict[str, TLSHost] = {}
        self.broken: list[str] = []
        cache = {} if cache is None else cache
        for cert in certificates:
            key = (cert.cert_pem, cert.key_pem)
            ctx = cache.get(key)
            if ctx is None:
                try:
                    ctx = server_context(cert.cert_pem, cert.key_pem)
                except (ssl.SSLError, ValueError, OSError) as exc:
                    log.warning("skipping certificate %s: %s", cert.source or cert.hosts, exc)
                    self.broken.append(cert.source or ",".join(cert.hosts))
                    continue
                cache[key] = ctx
            entry = TLSHost(cert, ctx)
            for name in cert.hosts:
                self._names.setdefault(name.lower().rstrip("."), entry)

    def contexts(self) -> set[ssl.SSLContext]:
        """Every context in use (to prune a cache shared across tables)."""
        return {e.context for e in self._names.values()}

    def lookup(self, name: str | None) -> TLSHost | None:
        """The certificate for an SNI or Host name (already normalised): an exact name
        first, then the one-label wildcard."""
        if not name:
            return None
        entry = self._names.get(name)
        if entry is None:
            wildcard = wildcard_for(name)
            entry = self._names.get(wildcard) if wildcard else None
        return entry
