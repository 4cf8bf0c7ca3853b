"""The conformance harness on its own: the client really sends the Host and SNI it was given
and verifies certificates; eventual-consistency polling needs consecutive successes and
records the time; the load generator counts every non-2xx and connection error."""

from __future__ import annotations

import contextlib
import http.server
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest
import trustme

from conformance.harness import record
from conformance.harness.client import HttpClient, dns_names, parse_address
from conformance.harness.consistency import NotConsistent, Settings, eventually, holds
from conformance.harness.load import OpenLoop

FAST = Settings(poll_s=0.01, successes=3, timeout_s=0.5)


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers 200 with `Host|SNI`, or with the status the path names (/status/503)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        sni = getattr(self.connection, "sni", "")
        body = f"{self.headers.get('Host')}|{sni}".encode()
        status = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/status/") else 200
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(ctx: ssl.SSLContext | None = None) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    if ctx is not None:
        def remember_sni(sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            sock.sni = name  # type: ignore[attr-defined]
        ctx.sni_callback = remember_sni  # type: ignore[assignment]

        def get_request() -> tuple[socket.socket, object]:
            raw, address = socket.socket.accept(server.socket)
            tls = ctx.wrap_socket(raw, server_side=True)
            tls.sni = getattr(tls, "sni", None) or tls.server_hostname  # type: ignore[attr-defined]
            return tls, address
        server.get_request = get_request  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_server(ca: trustme.CA) -> Iterator[str]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("a.example.test", "b.example.test").configure_cert(ctx)
    with serving(ctx) as address:
        yield address


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_address("[::1]:443") == ("::1", 443)
    with pytest.raises(ValueError, match="host:port"):
        parse_address("localhost")


def test_plain_http_sends_the_host_header_as_given() -> None:
    with serving() as address:
        client = HttpClient(address, None)
        resp = client.get("Name.Example.Test:8080", "/x")
    assert resp.status == 200
    assert resp.text == "Name.Example.Test:8080|"


def test_tls_sends_sni_and_host_independently_and_verifies(tls_server: str,
                                                           ca: trustme.CA) -> None:
    client = HttpClient(tls_server, tls_server)
    resp = client.get("b.example.test", tls=True, sni="a.example.test", ca=ca)
    assert resp.text == "b.example.test|a.example.test"
    assert resp.certificate is not None
    assert dns_names(resp.certificate) == {"a.example.test", "b.example.test"}
    # SNI defaults to the Host header without its port.
    assert client.get("a.example.test:443", tls=True, ca=ca).text.endswith("|a.example.test")


def test_tls_rejects_a_certificate_from_another_ca(tls_server: str) -> None:
    client = HttpClient(tls_server, tls_server)
    with pytest.raises(ssl.SSLCertVerificationError):
        client.get("a.example.test", tls=True, ca=trustme.CA())


def test_tls_rejects_a_certificate_not_valid_for_the_sni(tls_server: str,
                                                         ca: trustme.CA) -> None:
    client = HttpClient(tls_server, tls_server)
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch|not valid"):
        client.get("c.example.test", tls=True, ca=ca)
    # Without a CA nothing is verified: the presented certificate can still be inspected.
    assert dns_names(client.certificate("c.example.test")) == {"a.example.test",
                                                               "b.example.test"}


def test_eventually_needs_consecutive_successes_and_records_the_wait() -> None:
    rec = record.begin()
    answers = iter([False, True, False, True, True, True])

    def check() -> None:
        assert next(answers)
    eventually(check, "converges", FAST)
    assert rec.time_to_consistency_s is not None
    assert rec.time_to_consistency_s >= 3 * FAST.poll_s * 0.9  # from the first of the streak


def test_eventually_fails_on_a_flapping_target_with_the_last_error() -> None:
    record.begin()
    flip = iter(range(1000))

    def check() -> None:
        assert next(flip) % 2, "wrong backend"
    with pytest.raises(NotConsistent, match="wrong backend"):
        eventually(check, "flaps", FAST)


def test_eventually_retries_connection_errors() -> None:
    record.begin()
    calls = []

    def check() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError("not yet")
        return len(calls)
    assert eventually(check, "comes up", FAST) == 5


def test_waits_on_the_cluster_are_not_recorded_as_consistency() -> None:
    rec = record.begin()
    eventually(lambda: None, "rollout", FAST, measure=False)
    assert rec.time_to_consistency_s is None


def test_holds_fails_as_soon_as_the_property_breaks() -> None:
    state = {"n": 0}

    def check() -> None:
        state["n"] += 1
        assert state["n"] < 3, "routed after all"
    started = time.monotonic()
    with pytest.raises(AssertionError, match="routed after all"):
        holds(check, "stays unrouted", duration_s=5, poll_s=0.01)
    assert time.monotonic() - started < 2


def test_load_generator_counts_non_2xx_and_connection_errors() -> None:
    with serving() as address:
        host, port = parse_address(address)
        ok = OpenLoop((host, port), "x.test", rate=200, max_requests=40).start()
        assert ok.stop().failures == 0 or ok.result.requests < 40
        result = OpenLoop((host, port), "x.test", rate=200, max_requests=40,
                          path="/status/503").start()
        time.sleep(0.4)
        got = result.stop()
    assert got.requests == 40
    assert got.failures == 40 and got.outcomes["503"] == 40
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    refused = OpenLoop(("127.0.0.1", closed_port), "x.test", rate=200, max_requests=20).start()
    time.sleep(0.3)
    got = refused.stop()
    assert got.failures == got.requests == 20
    assert got.outcomes["ConnectionRefusedError"] == 20
