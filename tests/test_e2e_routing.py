"""End to end through `simulator up`'s pieces (issue 4): objects written with the official
`kubernetes` client, real requests through the reference proxy to real pod servers.

HTTPS with SNI (certificates from one trustme CA per module), Secret rotation, a broken
Secret, endpoint changes and backends without endpoints. Each test has its own namespace and
host names; convergence is polled with a deadline, never slept.
"""

from __future__ import annotations

import json
import ssl
import time

import pytest
import trustme
from cryptography.x509.oid import NameOID

from .conftest import eventually
from .e2e_helpers import (
    ECHO,
    Env,
    create_app,
    create_ingress,
    create_service,
    create_tls_secret,
    current_pods,
    dns_names,
    fresh_namespace,
    http_get,
    https_get,
    https_keepalive,
    leaf_pems,
    measure,
    names_seen,
    peer_certificate,
    presented_certificate,
    rule,
    running_simulator,
    serial_of,
    tls_connect,
    tls_secret_data,
    unique,
    warning_events,
)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with running_simulator(tmp_path_factory.mktemp("e2e-routing")) as env:
        yield env


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def namespace(env):
    with fresh_namespace(env) as name:
        yield name


def _serves(env: Env, sni: str, serial: int) -> bool:
    """Whether a fresh handshake for `sni` presents the certificate with `serial`."""
    return presented_certificate(env, sni).serial_number == serial


# ---- 1. HTTPS and SNI ----------------------------------------------------------------------


def test_https_sni_selects_each_hosts_certificate(env, ca, namespace):
    secure, wild = ca.issue_cert("secure.example.com"), ca.issue_cert("*.wild.example.com")
    create_tls_secret(env, namespace, "secure-tls", secure)
    create_tls_secret(env, namespace, "wild-tls", wild)
    create_app(env, namespace, "echo", image=ECHO)
    create_ingress(env, namespace, "tls", [
        rule("secure.example.com", "echo"), rule("*.wild.example.com", "echo"),
    ], tls=[{"hosts": ["secure.example.com"], "secretName": "secure-tls"},
            {"hosts": ["*.wild.example.com"], "secretName": "wild-tls"}])
    eventually(lambda: _serves(env, "secure.example.com", serial_of(secure))
               and _serves(env, "a.wild.example.com", serial_of(wild))
               and https_get(env, "secure.example.com", ca=ca).status == 200)

    # SNI selects the host's certificate, which verifies against the CA for that name.
    answer = https_get(env, "secure.example.com", ca=ca, path="/hello")
    assert answer.status == 200, answer.body
    assert answer.certificate.serial_number == serial_of(secure)
    echoed = json.loads(answer.body)
    assert echoed["host"] == "secure.example.com"
    assert echoed["path"] == "/hello"
    assert echoed["headers"]["X-Forwarded-Proto"] == ["https"]

    # The wildcard certificate serves a host of the wildcard.
    answer = https_get(env, "a.wild.example.com", ca=ca)
    assert answer.status == 200, answer.body
    assert answer.certificate.serial_number == serial_of(wild)
    assert json.loads(answer.body)["host"] == "a.wild.example.com"

    configured = {"secure.example.com", "*.wild.example.com"}
    own_serials = {serial_of(secure), serial_of(wild)}
    # An unknown SNI (and one that a one-label wildcard does not cover) never gets another
    # host's certificate: the proxy's self-signed default, which the CA does not verify.
    for sni in ("unknown.example.com", "a.b.wild.example.com", "wild.example.com"):
        with pytest.raises(ssl.SSLCertVerificationError):
            https_get(env, sni, ca=ca)
        cert = presented_certificate(env, sni)
        assert cert.serial_number not in own_serials, sni
        assert not dns_names(cert) & configured, sni
        subject = {a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)}
        assert not subject & configured, sni
        assert cert.issuer == cert.subject  # self-signed

    # SNI of one TLS host, Host of another TLS host: 421 Misdirected Request, both ways.
    assert https_get(env, "secure.example.com", host="a.wild.example.com", ca=ca).status == 421
    assert https_get(env, "b.wild.example.com", host="secure.example.com", ca=ca).status == 421
    # Another host covered by the same (wildcard) certificate is fine on that connection.
    assert https_get(env, "a.wild.example.com", host="b.wild.example.com", ca=ca).status == 200

    # Plain HTTP to a TLS host is served (no redirect by default).
    answer = http_get(env, "secure.example.com", "/plain")
    assert answer.status == 200, answer.body
    assert json.loads(answer.body)["headers"]["X-Forwarded-Proto"] == ["http"]


# ---- 2. Secret rotation ----------------------------------------------------------------------


def test_secret_rotation_reaches_new_handshakes_quickly(env, ca, namespace, capsys,
                                                        record_property):
    host = f"{unique('rotate')}.example.com"
    first = ca.issue_cert(host)
    create_tls_secret(env, namespace, "rotating", first)
    create_app(env, namespace, "app")
    create_ingress(env, namespace, "rotate", [rule(host, "app")],
                   tls=[{"hosts": [host], "secretName": "rotating"}])
    eventually(lambda: _serves(env, host, serial_of(first))
               and https_get(env, host, ca=ca).status == 200)

    second = ca.issue_cert(host)
    assert serial_of(second) != serial_of(first)
    seen: list[int] = []

    def rotated() -> bool:
        # Every handshake during the rotation verifies against the CA for the host: the old
        # certificate or the new one, never the default certificate in between.
        with tls_connect(env, host, ca) as tls:
            seen.append(peer_certificate(tls).serial_number)
        return seen[-1] == serial_of(second)

    secret = env.core.read_namespaced_secret("rotating", namespace)
    secret.data = tls_secret_data(*leaf_pems(second))
    env.core.replace_namespaced_secret("rotating", namespace, secret)
    seconds = measure(rotated, timeout=20.0)
    assert set(seen) <= {serial_of(first), serial_of(second)}
    record_property("secret_rotation_seconds", round(seconds, 3))
    with capsys.disabled():
        print(f"\n[e2e] Secret rotation: new certificate on new handshakes after "
              f"{seconds * 1000:.0f} ms ({len(seen)} handshake(s) polled)")
    # The issue's promise: a rotated Secret is served within a second (typically ~15 ms).
    assert seconds < 1.0, f"rotation took {seconds:.2f}s (promised: within a second)"
    # Converged: requests work and stay on the new certificate.
    for _ in range(5):
        assert https_get(env, host, ca=ca).certificate.serial_number == serial_of(second)


# ---- 3. a broken Secret ----------------------------------------------------------------------


def test_broken_secret_warns_and_leaves_other_hosts_alone(env, ca, namespace):
    good, sibling, bad = (f"{unique(p)}.example.com" for p in ("good", "sibling", "bad"))
    leaves = {h: ca.issue_cert(h) for h in (good, sibling, bad)}
    for name, host in (("good-tls", good), ("sibling-tls", sibling), ("bad-tls", bad)):
        create_tls_secret(env, namespace, name, leaves[host])
    create_app(env, namespace, "app")
    create_ingress(env, namespace, "good", [rule(good, "app")],
                   tls=[{"hosts": [good], "secretName": "good-tls"}])
    # One Ingress with two TLS entries: the broken one must not take the other with it.
    create_ingress(env, namespace, "mixed", [rule(sibling, "app"), rule(bad, "app")],
                   tls=[{"hosts": [sibling], "secretName": "sibling-tls"},
                        {"hosts": [bad], "secretName": "bad-tls"}])
    eventually(lambda: all(_serves(env, h, serial_of(leaves[h])) for h in leaves)
               and https_get(env, good, ca=ca).status == 200)

    # A connection opened before the break keeps working after it.
    kept = https_keepalive(env, good, ca)
    assert next(kept) == 200

    secret = env.core.read_namespaced_secret("bad-tls", namespace)
    secret.data["tls.crt"] = "bm90IGEgY2VydGlmaWNhdGU="  # "not a certificate"
    env.core.replace_namespaced_secret("bad-tls", namespace, secret)

    events = eventually(lambda: warning_events(env, namespace, "mixed", "InvalidSecret"))
    assert "bad-tls" in events[0].message, events[0].message
    assert events[0].involved_object.api_version == "networking.k8s.io/v1"
    # The broken Secret is blamed on the Ingress that uses it, never on another one. (Other,
    # transient warnings may exist: the controller's Secret cache can lag its Ingress cache.)
    assert not warning_events(env, namespace, "good", "InvalidSecret")
    # The broken host's TLS is no longer served: the default certificate, not another one.
    eventually(lambda: presented_certificate(env, bad).serial_number
               not in {serial_of(leaf) for leaf in leaves.values()})
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get(env, bad, ca=ca)

    # Everything else is untouched: the other hosts' certificates, TLS and plain routing.
    assert next(kept) == 200
    for host in (good, sibling):
        answer = https_get(env, host, ca=ca)
        assert answer.status == 200, answer.body
        assert answer.certificate.serial_number == serial_of(leaves[host])
    for host in (good, sibling, bad):
        assert http_get(env, host).status == 200
    kept.close()


# ---- 4. endpoints ----------------------------------------------------------------------------


def _scale(env: Env, namespace: str, name: str, replicas: int) -> None:
    env.apps.patch_namespaced_deployment_scale(name, namespace, {"spec": {"replicas": replicas}})


def _serves_exactly_current_pods(env: Env, namespace: str, host: str, replicas: int) -> bool:
    pods = current_pods(env, namespace, "app")
    if len(pods) != replicas:
        return False
    return names_seen(env, host, 4 * replicas) == pods


def test_traffic_follows_scaling(env, namespace):
    host = f"{unique('scale')}.example.com"
    create_app(env, namespace, "app", replicas=1)
    create_ingress(env, namespace, "scale", [rule(host, "app")])
    for replicas in (1, 3, 1):
        _scale(env, namespace, "app", replicas)
        eventually(lambda n=replicas: _serves_exactly_current_pods(env, namespace, host, n),
                   timeout=30)
        # Converged means stable: another round still reaches exactly the current pods.
        assert _serves_exactly_current_pods(env, namespace, host, replicas)
    _scale(env, namespace, "app", 0)
    eventually(lambda: http_get(env, host).status == 503, timeout=30)
    assert http_get(env, host).status == 503


def test_backends_without_endpoints_answer_503(env, namespace):
    empty, missing, working = (f"{unique(p)}.example.com" for p in ("empty", "missing", "ok"))
    create_app(env, namespace, "app")
    create_service(env, namespace, "nobody", {"app": "no-such-pods"})
    create_ingress(env, namespace, "ok", [rule(working, "app")])
    create_ingress(env, namespace, "empty", [rule(empty, "nobody")])
    create_ingress(env, namespace, "missing", [rule(missing, "does-not-exist")])
    eventually(lambda: http_get(env, working).status == 200)

    # A Service selecting no pods: the route exists (not 404), it has no endpoints: 503.
    eventually(lambda: http_get(env, empty).status == 503)
    # A missing Service: 503 as well, and a Warning Event on the Ingress.
    eventually(lambda: http_get(env, missing).status == 503)
    events = eventually(lambda: warning_events(env, namespace, "missing", "ServiceNotFound"))
    assert "does-not-exist" in events[0].message, events[0].message
    assert not warning_events(env, namespace, "empty", "ServiceNotFound")
    assert http_get(env, f"{unique('unrouted')}.example.com").status == 404
    assert http_get(env, working).status == 200


# ---- latency of kept-alive pod connections ---------------------------------------------------


def test_kept_alive_pod_connections_answer_without_a_delayed_ack_stall(env, namespace):
    host = f"{unique('latency')}.example.com"
    create_app(env, namespace, "app")
    create_ingress(env, namespace, "latency", [rule(host, "app")])
    eventually(lambda: http_get(env, host).status == 200)
    timings = []
    for _ in range(15):
        started = time.perf_counter()
        assert http_get(env, host).status == 200
        timings.append(time.perf_counter() - started)
    median = sorted(timings)[len(timings) // 2]
    assert median < 0.020, f"median {median * 1000:.0f} ms per request over loopback"
