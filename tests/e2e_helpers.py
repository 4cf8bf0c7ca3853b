"""Shared helpers for the end-to-end tests: a whole simulator (`SimulatorThread`), workloads
created through the official `kubernetes` client, and a client that talks to the reference
proxy with the TLS SNI and the HTTP Host header chosen independently.

Nothing here reaches into simulator internals except the fault-injection handles the fault
tests are about (`sim.apiserver.*`).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import kubernetes
import trustme
from cryptography import x509

from conformance.harness.client import dns_names, peer_certificate, tls_context
from conformance.harness.kube import ready_pod_names
from simulator.up import Simulator, SimulatorOptions, SimulatorThread

__all__ = ["dns_names", "peer_certificate"]  # re-exported for the e2e tests

HELLO = "nginxdemos/hello:plain-text"
ECHO = "gcr.io/k8s-staging-gateway-api/echo-basic:v20240412"
TIMEOUT = 10.0  # per request: only a guard against hangs


@dataclass
class Env:
    """One running simulator and API clients for it."""

    thread: SimulatorThread
    client: kubernetes.client.ApiClient

    @property
    def sim(self) -> Simulator:
        return self.thread.simulator

    @property
    def core(self) -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.client)

    @property
    def apps(self) -> kubernetes.client.AppsV1Api:
        return kubernetes.client.AppsV1Api(self.client)

    @property
    def net(self) -> kubernetes.client.NetworkingV1Api:
        return kubernetes.client.NetworkingV1Api(self.client)

    @property
    def http_address(self) -> tuple[str, int]:
        address = self.sim.proxy.http_address
        assert address is not None
        return address

    @property
    def https_address(self) -> tuple[str, int]:
        address = self.sim.proxy.https_address
        assert address is not None
        return address


@contextlib.contextmanager
def running_simulator(directory: Path, options: SimulatorOptions | None = None
                      ) -> Iterator[Env]:
    """A SimulatorThread (with `options`, else the defaults) and a `kubernetes` client built
    from the kubeconfig it writes."""
    with SimulatorThread(options) as thread:
        kubeconfig = thread.simulator.apiserver.write_kubeconfig(directory / "kubeconfig")
        client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
        try:
            yield Env(thread, client)
        finally:
            client.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def fresh_namespace(env: Env) -> Iterator[str]:
    name = unique("e2e")
    env.core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        with contextlib.suppress(kubernetes.client.ApiException):
            env.core.delete_namespace(name)


# ---- objects ---------------------------------------------------------------------------


def create_app(env: Env, namespace: str, name: str, replicas: int = 1,
               image: str = HELLO) -> None:
    """A Deployment of `image` and a Service `name` (port 80) selecting its pods."""
    port = 3000 if image == ECHO else 80
    labels = {"app": name}
    env.apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                "name": "app", "image": image, "ports": [{"containerPort": port}]}]}},
        },
    })
    create_service(env, namespace, name, labels, target_port=port)


def create_service(env: Env, namespace: str, name: str, selector: dict[str, str],
                   target_port: int = 80) -> None:
    env.core.create_namespaced_service(namespace, {
        "metadata": {"name": name},
        "spec": {"selector": selector,
                 "ports": [{"protocol": "TCP", "port": 80, "targetPort": target_port}]},
    })


def rule(host: str, service: str, path: str = "/") -> dict:
    return {"host": host, "http": {"paths": [{
        "path": path, "pathType": "Prefix",
        "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}


def ingress_manifest(name: str, rules: list[dict], tls: list[dict] | None = None) -> dict:
    spec: dict = {"rules": rules}
    if tls:
        spec["tls"] = tls
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name}, "spec": spec}


def create_ingress(env: Env, namespace: str, name: str, rules: list[dict],
                   tls: list[dict] | None = None) -> None:
    env.net.create_namespaced_ingress(namespace, ingress_manifest(name, rules, tls))


def tls_secret_data(cert_pem: bytes, key_pem: bytes) -> dict[str, str]:
    return {"tls.crt": base64.b64encode(cert_pem).decode(),
            "tls.key": base64.b64encode(key_pem).decode()}


def leaf_pems(leaf: trustme.LeafCert) -> tuple[bytes, bytes]:
    return leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes()


def create_tls_secret(env: Env, namespace: str, name: str, leaf: trustme.LeafCert) -> None:
    env.core.create_namespaced_secret(namespace, {
        "metadata": {"name": name}, "type": "kubernetes.io/tls",
        "data": tls_secret_data(*leaf_pems(leaf))})


def serial_of(leaf: trustme.LeafCert) -> int:
    return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).serial_number


def current_pods(env: Env, namespace: str, app: str) -> set[str]:
    """Names of the app's pods that are Ready and not being deleted."""
    return ready_pod_names(
        env.core.list_namespaced_pod(namespace, label_selector=f"app={app}").items)


def warning_events(env: Env, namespace: str, ingress: str,
                   reason: str | None = None) -> list[kubernetes.client.CoreV1Event]:
    """core/v1 Warning Events whose involvedObject is the Ingress `namespace/ingress`."""
    return [e for e in env.core.list_namespaced_event(namespace).items
            if e.type == "Warning" and e.involved_object.kind == "Ingress"
            and e.involved_object.name == ingress
            and e.involved_object.namespace == namespace
            and (reason is None or e.reason == reason)]


# ---- the client side ---------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: str
    certificate: x509.Certificate | None = None  # the certificate the server presented


def http_get(env: Env, host: str, path: str = "/") -> Answer:
    """GET over plain HTTP through the proxy with `Host: host`."""
    conn = http.client.HTTPConnection(*env.http_address, timeout=TIMEOUT)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        return Answer(resp.status, resp.read().decode())
    finally:
        conn.close()



def tls_connect(env: Env, sni: str, ca: trustme.CA | None) -> ssl.SSLSocket:
    """A TLS connection to the proxy's HTTPS listener sending `sni` as the server name (and,
    with `ca`, verifying the chain and that the certificate is valid for `sni`)."""
    sock = socket.create_connection(env.https_address, timeout=TIMEOUT)
    try:
        return tls_context(ca).wrap_socket(sock, server_hostname=sni)
    except BaseException:
        sock.close()
        raise



def https_get(env: Env, sni: str, host: str | None = None, path: str = "/",
              ca: trustme.CA | None = None) -> Answer:
    """GET over TLS with SNI `sni` and, independently, `Host: host` (default: the SNI)."""
    tls = tls_connect(env, sni, ca)
    conn = http.client.HTTPConnection(*env.https_address, timeout=TIMEOUT)
    conn.sock = tls  # http.client then speaks over our socket instead of connecting
    try:
        conn.request("GET", path, headers={"Host": host or sni})
        resp = conn.getresponse()
        return Answer(resp.status, resp.read().decode(), peer_certificate(tls))
    finally:
        conn.close()


def https_keepalive(env: Env, host: str, ca: trustme.CA | None) -> Iterator[int]:
    """A generator sending `GET /` (SNI and Host `host`) on ONE kept-alive TLS connection at
    each `next()`, yielding the status."""
    tls = tls_connect(env, host, ca)
    conn = http.client.HTTPConnection(*env.https_address, timeout=TIMEOUT)
    conn.sock = tls
    try:
        while True:
            conn.request("GET", "/", headers={"Host": host})
            resp = conn.getresponse()
            resp.read()
            yield resp.status
    finally:
        conn.close()


def presented_certificate(env: Env, sni: str) -> x509.Certificate:
    """The certificate the proxy presents for `sni` (handshake only, nothing verified)."""
    with tls_connect(env, sni, None) as tls:
        return peer_certificate(tls)




def server_name(body: str) -> str:
    """The pod name from a nginxdemos/hello plain-text page."""
    for line in body.splitlines():
        if line.startswith("Server name: "):
            return line.split(": ", 1)[1]
    raise AssertionError(f"not a hello page: {body!r}")


def names_seen(env: Env, host: str, requests: int) -> set[str] | None:
    """The pod names answering `requests` requests, or None if any request was not a 200."""
    names = set()
    for _ in range(requests):
        answer = http_get(env, host)
        if answer.status != 200:
            return None
        names.add(server_name(answer.body))
    return names


def measure(check, timeout: float = 20.0, interval: float = 0.01) -> float:
    """Seconds until `check()` is truthy (polled every `interval`); fail at the deadline."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout:.0f}s")
        time.sleep(interval)
