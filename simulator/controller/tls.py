"""TLS: Ingress `spec.tls` entries -> `routing.Certificate`s.

"You can secure an Ingress by specifying a Secret that contains a TLS private key and
certificate. ... The TLS secret must contain keys named tls.crt and tls.key that contain the
certificate and private key to use for TLS." The Secret is looked up by name in the Ingress's
own namespace (`secretName` has no namespace part), so a Secret of the same name elsewhere
does not count. We accept a Secret only if it is of type `kubernetes.io/tls`, both keys are
base64 PEM that parse, and the private key matches the first certificate of the chain;
anything else is a Warning and the entry is dropped (the hosts stay served over plain HTTP).

Hosts:

- `hosts` listed: "hosts is a list of hosts included in the TLS certificate", lowercased,
  wildcards (`*.example.com`) kept. A listed host that the certificate's DNS names do not cover
  still gets the certificate (ingress-nginx does too, after a warning), with a Warning.
- no `hosts`: the API only says it "defaults to the wildcard host setting for the loadbalancer
  controller". We do what ingress-nginx does (extractTLSSecretName): the entry serves those
  hosts of the Ingress's own rules that no other TLS entry of the Ingress lists and that the
  certificate covers (its subjectAltName DNS names, as Go's VerifyHostname checks them; the
  Common Name is ignored, as in Go since 1.15). If that leaves none, a Warning.
- no `secretName`: "left optional to allow TLS routing based on SNI hostname alone"; without a
  default certificate there is nothing to terminate with, so the entry is ignored silently.

One host, one certificate: when TLS entries naming different Secrets claim the same host, the
oldest Ingress wins (the same rule as for paths) and the others get a Warning. The same Secret
claimed by several Ingresses is one Certificate with the union of their hosts.

RSA keys are loaded without cryptography's full RSA consistency check (~30 ms per key, and
this runs on every translation); the key is still proven to belong to the certificate by
comparing public keys.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from simulator.controller.events import EventLog
from simulator.controller.objects import as_dict, as_list, as_str, name_of, namespace_of, ref_of
from simulator.routing import Certificate

log = logging.getLogger(__name__)

TLS_SECRET_TYPE = "kubernetes.io/tls"


class InvalidSecret(ValueError):
    """The Secret cannot serve TLS; the message says why."""


@dataclass(frozen=True)
class TLSMaterial:
    """A validated certificate chain and key (normalised PEM) and the DNS names it covers."""

    cert_pem: bytes
    key_pem: bytes
    dns_names: tuple[str, ...]


# A Secret's validated material, or (Warning reason, why) it is unusable.
Material = TLSMaterial | tuple[str, str]


def _decode(data: dict, key: str) -> bytes:
    raw = data.get(key)
    if not isinstance(raw, str) or not raw:
        raise InvalidSecret(f"data[{key}] is missing")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSecret(f"data[{key}] is not valid base64") from exc


def load_tls_secret(secret: dict) -> TLSMaterial:
    """Validate a `kubernetes.io/tls` Secret and return its material; raise InvalidSecret."""
    secret_type = as_str(secret.get("type")) or "Opaque"  # the API's default type
    if secret_type != TLS_SECRET_TYPE:
        raise InvalidSecret(f'type is "{secret_type}", not "{TLS_SECRET_TYPE}"')
    data = as_dict(secret.get("data"))
    cert_bytes, key_bytes = _decode(data, "tls.crt"), _decode(data, "tls.key")
    try:
        chain = x509.load_pem_x509_certificates(cert_bytes)
    except ValueError as exc:
        raise InvalidSecret("tls.crt holds no valid PEM certificate") from exc
    try:
        key = serialization.load_pem_private_key(
            key_bytes, password=None, unsafe_skip_rsa_key_validation=True)
    except TypeError as exc:  # encrypted: no proxy could use it unattended
        raise InvalidSecret("tls.key is encrypted") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidSecret("tls.key holds no valid PEM private key") from exc
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        cert_spki = chain[0].public_key().public_bytes(*spki)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidSecret(f"the certificate in tls.crt has an unusable public key: {exc}") \
            from exc
    if key.public_key().public_bytes(*spki) != cert_spki:
        raise InvalidSecret("tls.key does not match the certificate in tls.crt")
    return TLSMaterial(*_pems(chain, key), _dns_names(chain[0]))


def _dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The certificate's subjectAltName DNS names, lower-cased and sorted (none without the
    extension); InvalidSecret when its extensions cannot be read. cryptography parses them
    on first use, so a malformed one surfaces here, as ValueError or, for an extension listed
    twice, DuplicateExtension."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    except (ValueError, x509.DuplicateExtension) as exc:
        raise InvalidSecret(f"the certificate in tls.crt has malformed extensions: {exc}") \
            from exc
    return tuple(sorted({n.lower() for n in san.value.get_values_for_type(x509.DNSName)}))


def _pems(chain: list[x509.Certificate], key: object) -> tuple[bytes, bytes]:
    """The chain and the key re-encoded as the data planes load them (PEM; PKCS#8 key)."""
    cert_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    key_pem = key.private_bytes(serialization.Encoding.PEM,  # type: ignore[attr-defined]
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert_pem, key_pem


def covers(dns_names: tuple[str, ...], host: str) -> bool:
    """Whether a certificate for `dns_names` is valid for `host`, the way Go's
    VerifyHostname decides: an exact (case-insensitive) match, or a `*.` name matching
    exactly one leftmost label ("*.example.com" covers "a.example.com", not "example.com" nor
    "a.b.example.com"). A wildcard host ("*.example.com") is covered only by the same name."""
    host = host.lower().rstrip(".")
    if not host:
        return False
    for name in dns_names:
        if name == host:
            return True
        if name.startswith("*.") and not host.startswith("*"):
            label, _, rest = host.partition(".")
            if label and rest == name[2:]:
                return True
    return False


def _tls_hosts(entry: dict) -> list[str]:
    return [h.lower() for h in as_list(entry.get("hosts")) if isinstance(h, str) and h]


def _rule_hosts(ingress: dict) -> list[str]:
    rules = as_list(as_dict(ingress.get("spec")).get("rules"))
    return sorted({as_str(as_dict(r).get("host")).lower() for r in rules} - {""})


def _hosts_text(hosts: list[str]) -> str:
    return ", ".join(hosts) if hosts else "its hosts"


class CertificateBuilder:
    """Collects the certificates of the served Ingresses, oldest Ingress first."""

    def __init__(self, secrets: Iterable[dict], log: EventLog,
                 cache: dict[tuple[str, str], tuple[dict, Material]] | None = None) -> None:
        self._secrets = {(namespace_of(s), name_of(s)): s for s in secrets}
        self._log = log
        self._loaded: dict[tuple[str, str], Material] = {}
        # A Secret loaded by an earlier builder (its `materials`) is not loaded again while it
        # is the same object.
        self._cache = cache or {}
        self.materials: dict[tuple[str, str], tuple[dict, Material]] = {}
        self._owner: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {}  # host -> owner
        self._hosts: dict[tuple[str, str], set[str]] = defaultdict(set)

    def _material(self, key: tuple[str, str]) -> Material:
        """The Secret's validated material, or (Warning reason, why) (memoised)."""
        if key not in self._loaded:
            secret = self._secrets.get(key)
            cached = self._cache.get(key)
            if secret is None:
                self._loaded[key] = ("SecretNotFound", "")
            elif cached is not None and cached[0] is secret:
                self._loaded[key] = cached[1]
            else:
                try:
                    self._loaded[key] = load_tls_secret(secret)
                except InvalidSecret as exc:
                    self._loaded[key] = ("InvalidSecret", str(exc))
                except Exception as exc:  # noqa: BLE001 - see below
                    # Certificates are untrusted input to a parser whose failure modes are
                    # open-ended; one Secret that breaks it in a way load_tls_secret does not
                    # name must cost its own hosts their TLS, never the whole translation.
                    log.warning("Secret %s/%s: unexpected error reading it", *key,
                                exc_info=True)
                    self._loaded[key] = ("InvalidSecret", f"tls.crt or tls.key could not be "
                                                          f"read ({type(exc).__name__})")
            if secret is not None:
                self.materials[key] = (secret, self._loaded[key])
        return self._loaded[key]

    def add(self, ingress: dict) -> None:
        """Add the TLS entries of one served Ingress (call oldest first)."""
        ref = ref_of(ingress)
        entries = [as_dict(e) for e in as_list(as_dict(ingress.get("spec")).get("tls"))]
        listed = {h for entry in entries for h in _tls_hosts(entry)}
        for entry in entries:
            secret_name = as_str(entry.get("secretName"))
            if not secret_name:
                continue  # SNI-only routing: nothing to terminate TLS with
            key = (ref[0], secret_name)
            hosts = _tls_hosts(entry)
            material = self._material(key)
            if not isinstance(material, TLSMaterial):
                self._warn_unusable(ref, secret_name, hosts, *material)
                continue
            if hosts:
                for host in hosts:
                    if not covers(material.dns_names, host):
                        self._log.warn(ref, "TLSHostMismatch", (
                            f'the certificate in Secret "{secret_name}" is not valid for '
                            f'host "{host}"; it is served anyway'))
            else:
                hosts = [h for h in _rule_hosts(ingress)
                         if h not in listed and covers(material.dns_names, h)]
                if not hosts:
                    self._log.warn(ref, "TLSHostMismatch", (
                        f'the TLS entry for Secret "{secret_name}" lists no hosts and its '
                        "certificate covers none of this Ingress's hosts; it is ignored"))
                    continue
            for host in sorted(set(hosts)):
                self._claim(ref, key, host)

    def _warn_unusable(self, ref: tuple[str, str], secret_name: str, hosts: list[str],
                       reason: str, why: str) -> None:
        served = f"TLS for {_hosts_text(hosts)} is not served"
        if reason == "SecretNotFound":
            message = f'Secret "{ref[0]}/{secret_name}" not found; {served}'
        else:
            message = f'Secret "{ref[0]}/{secret_name}" is not a usable TLS Secret: {why}; {served}'
        self._log.warn(ref, reason, message)

    def _claim(self, ref: tuple[str, str], key: tuple[str, str], host: str) -> None:
        owner = self._owner.get(host)
        if owner is None:
            self._owner[host] = (key, ref)
            self._hosts[key].add(host)
        elif owner[0] != key:
            winner = "this Ingress" if owner[1] == ref else f"Ingress {owner[1][0]}/{owner[1][1]}"
            self._log.warn(ref, "TLSConflict", (
                f'host "{host}" already has the certificate of Secret '
                f'"{owner[0][0]}/{owner[0][1]}" from {winner}; Secret "{key[1]}" is not used '
                "for it"))
        else:
            self._hosts[key].add(host)

    def certificates(self) -> tuple[Certificate, ...]:
        """The certificates, sorted by their Secret, each with its hosts sorted."""
        result = []
        for key in sorted(self._hosts):
            material = self._loaded[key]
            assert isinstance(material, TLSMaterial)
            result.append(Certificate(tuple(sorted(self._hosts[key])), material.cert_pem,
                                      material.key_pem, f"{key[0]}/{key[1]}"))
        return tuple(result)
