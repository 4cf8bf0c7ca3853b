"""simulator.workloads: pods as real loopback HTTP servers that behave like their images.

Every test talks to the servers over real sockets; responses are parsed with h11.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import h11
import pytest

from simulator.workloads import PodRuntime, PodSpecView, RunningPod, pod_ip_for
from simulator.workloads.addresses import loopback_aliases_work
from simulator.workloads.golang import (
    DurationError,
    canonical_header_key,
    marshal_indent,
    parse_duration,
)
from simulator.workloads.hooks import HookError, parse_sleep_args, plan_prestop
from simulator.workloads.spec import image_repository, pod_hostname

HELLO = "nginxdemos/hello:plain-text"
ECHO = "gcr.io/k8s-staging-gateway-api/echo-basic:v20240412-v1.0.0-394-g40c666fd"


# -- helpers ----------------------------------------------------------------------------------
def run(test: Callable[[PodRuntime], Awaitable[None]]) -> None:
    """Run `test` on a fresh event loop with a PodRuntime, stopping every pod afterwards."""
    async def main() -> None:
        runtime = PodRuntime()
        try:
            await test(runtime)
        finally:
            await runtime.stop_all()
    asyncio.run(main())


_next_ip = 0


def next_ip() -> str:
    """A pod IP not used by an earlier test of this process (ports are ephemeral anyway)."""
    global _next_ip
    _next_ip += 1
    return pod_ip_for(_next_ip + 1000 * (os.getpid() % 50))


def container(image: str, **extra: Any) -> dict[str, Any]:
    return {"name": "main", "image": image, **extra}


async def start(runtime: PodRuntime, *containers: dict[str, Any], name: str = "pod-a",
                namespace: str = "ns1") -> RunningPod:
    return await runtime.start_pod(PodSpecView(namespace, name, next_ip(), tuple(containers)))


@dataclass
class Reply:
    status: int
    reason: str
    headers: list[tuple[str, str]]  # names in the server's casing, in wire order
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """One HTTP/1.1 connection driven by h11, for keep-alive and half-sent requests."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.conn = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, ip: str, port: int) -> Client:
        reader, writer = await asyncio.open_connection(ip, port)
        return cls(reader, writer)

    def send(self, target: str = "/", method: str = "GET", host: str = "example.test",
             headers: tuple[tuple[str, str], ...] = (), body: bytes = b"") -> None:
        hdrs = [("Host", host), *headers]
        if body:
            hdrs.append(("Content-Length", str(len(body))))
        self.writer.write(self.conn.send(h11.Request(method=method, target=target,
                                                     headers=hdrs)) or b"")
        if body:
            self.writer.write(self.conn.send(h11.Data(data=body)) or b"")
        self.writer.write(self.conn.send(h11.EndOfMessage()) or b"")

    async def receive(self, timeout: float = 5.0) -> Reply:
        response: h11.Response | None = None
        body = bytearray()
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:  # the server closed mid-response
                raise ConnectionError(str(exc)) from None
            if event is h11.NEED_DATA:
                self.conn.receive_data(await asyncio.wait_for(self.reader.read(65536), timeout))
                continue
            if isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None
                headers = [(k.decode(), v.decode()) for k, v in response.headers.raw_items()]
                if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
                    self.conn.start_next_cycle()
                return Reply(response.status_code, response.reason.decode(), headers,
                             bytes(body))
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("closed before a response")

    async def request(self, target: str = "/", **kwargs: Any) -> Reply:
        self.send(target, **kwargs)
        return await self.receive()

    def close(self) -> None:
        self.writer.close()


async def fetch(pod: RunningPod, container_port: int, target: str = "/", **kwargs: Any
                ) -> Reply:
    client = await Client.open(pod.spec.ip, pod.ports[container_port])
    try:
        return await client.request(target, **kwargs)
    finally:
        client.close()


async def read_until_closed(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Everything the server sends until it closes; TimeoutError if it does not in time."""
    data = b""
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


# -- addresses and image names ----------------------------------------------------------------
def test_pod_ips_are_distinct_loopback_addresses() -> None:
    ips = [pod_ip_for(i) for i in range(2000)]
    assert len(set(ips)) == len(ips) or set(ips) == {"127.0.0.1"}
    if loopback_aliases_work():
        assert ips[0] == "127.0.0.2"
        assert "127.0.0.1" not in ips
        assert all(re.fullmatch(r"127\.\d+\.\d+\.\d+", ip) for ip in ips)
        assert not any(ip.endswith((".0", ".255")) for ip in ips)
    with pytest.raises(ValueError):
        pod_ip_for(-1)


def test_image_repository_ignores_registry_tag_and_digest() -> None:
    assert image_repository("nginxdemos/hello:plain-text") == "nginxdemos/hello"
    assert image_repository("docker.io/nginxdemos/hello:plain-text") == "nginxdemos/hello"
    assert image_repository("localhost:5000/nginxdemos/hello") == "nginxdemos/hello"
    assert image_repository(ECHO + "@sha256:" + "0" * 64) == (
        "k8s-staging-gateway-api/echo-basic")
    assert image_repository("busybox") == "library/busybox"


def test_pod_hostname_is_truncated_like_the_kubelet() -> None:
    assert pod_hostname("web-0") == "web-0"
    assert pod_hostname("a" * 62 + "-b") == "a" * 62
    assert len(pod_hostname("x" * 80)) == 63


# -- nginxdemos/hello:plain-text --------------------------------------------------------------
HELLO_BODY = re.compile(
    r"Server address: (?P<ip>[\d.]+):(?P<port>\d+)\n"
    r"Server name: (?P<name>[^\n]+)\n"
    r"Date: \d{2}/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d{2}:\d{2}:\d{2}"
    r" [+-]\d{4}\n"
    r"URI: (?P<uri>[^\n]*)\n"
    r"Request ID: (?P<id>[0-9a-f]{32})\n")


def test_hello_plain_text_body_and_headers() -> None:
    async def test(runtime: PodRuntime) -> None:
        pod = await start(runtime, container(HELLO, ports=[{"containerPort": 80}]),
                          name="hello-7d9f-x2k4")
        assert pod.image_kind == "hello-plain-text"
        reply = await fetch(pod, 80, "/some/path?arg=abc")
        assert (reply.status, reply.reason) == (200, "OK")
        match = HELLO_BODY.fullmatch(reply.body.decode())
        assert match, reply.body
        assert match["ip"] == pod.spec.ip
        assert int(match["port"]) == pod.ports[80]
        assert match["name"] == "hello-7d9f-x2k4"
        assert match["uri"] == "/some/path?arg=abc"
        # ngx_http_header_filter's order, then the `expires -1` headers.
        assert [k for k, _ in reply.headers] == [
            "Server", "Date", "Content-Type", "Content-Length", "Connection", "Expires",
            "Cache-Control"]
        assert re.fullmatch(r"nginx/\d+\.\d+\.\d+", reply.header("Server") or "")
        assert reply.header("Content-Type") == "text/plain"
        assert reply.header("Cache-Control") == "no-cache"
        assert reply.header("Connection") == "keep-alive"
        assert int(reply.header("Content-Length") or 0) == len(reply.body)

        # `location /` with `return 200`: any path and method answers, with a fresh ID.
        other = await fetch(pod, 80, "/x/../y//z?q", method="POST", body=b"payload")
        second = HELLO_BODY.fullmatch(other.body.decode())
        assert other.status == 200 and second
        assert second["uri"] == "/x/../y//z?q"
        assert second["id"] != match["id"]
        head = await fetch(pod, 80, "/", method="HEAD")
        assert head.status == 200 and head.body == b""
        trace = await fetch(pod, 80, "/", method="TRACE")
        assert (trace.status, trace.reason) == (405, "Not Allowed")
        assert b"<hr><center>nginx/" in trace.body
    run(test)


def test_hello_serves_several_requests_per_connection() -> None:
    async def test(runtime: PodRuntime) -> None:
        pod = await start(runtime, container(HELLO))
        reader, writer = await asyncio.open_connection(pod.spec.ip, pod.ports[80])
        # Pipelined: both requests written before either answer is read.
        writer.write(b"GET /one HTTP/1.1\r\nHost: h\r\n\r\nGET /two HTTP/1.1\r\nHost: h\r\n\r\n")
        data = b""
        while data.count(b"Request ID: ") < 2:
            data += await asyncio.wait_for(reader.read(65536), 2)
        writer.close()
        assert data.count(b"HTTP/1.1 200 OK\r\n") == 2
        assert data.index(b"URI: /one\n") < data.index(b"URI: /two\n")
        assert pod.requests_served == 2
    run(test)


def test_hello_rejects_a_malformed_request_with_nginx_error_page() -> None:
    async def test(runtime: PodRuntime) -> None:
        pod = await start(runtime, container(HELLO))
        reader, writer = await asyncio.open_connection(pod.spec.ip, pod.ports[80])
        writer.write(b"NOT A REQUEST\r\n\r\n")
        data = await read_until_closed(reader, 2)
        writer.close()
        assert data.startswith(b"HTTP/1.1 400 Bad Request\r\nServer: nginx/")
        assert data.endswith(b"<center><h1>400 Bad Request</h1></center>\r\n"
                             b"<hr><center>nginx/1.27.4</center>\r\n</body>\r\n</html>\r\n")
    run(test)


# -- echo-basic ---------------------------------------------------------------------------------
DOWNWARD_ENV = [
    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
]


def test_echo_basic_reflects_the_request() -> None:
    async def test(runtime: PodRuntime) -> None:
        pod = await start(runtime, container(ECHO, ports=[{"containerPort": 3000}],
                                             env=DOWNWARD_ENV), name="echo-1", namespace="e2e")
        assert pod.image_kind == "echo-basic"
        assert set(pod.ports) == {3000, 3001}
        reply = await fetch(pod, 3000, "/foo/bar?x=1&y=<2>", host="foo.example.com",
                            headers=(("x-forwarded-for", "10.0.0.1"), ("X-Multi", "a"),
                                     ("x-multi", "b")))
        assert reply.status == 200
        assert [k for k, _ in reply.headers] == [
            "Content-Type", "X-Content-Type-Options", "Date", "Content-Length"]
        assert reply.header("Content-Type") == "application/json"
        # json.MarshalIndent(.., "", " ") with Go's HTML escaping, no trailing newline.
        assert reply.body.startswith(b'{\n "path": "/foo/bar?x=1\\u0026y=\\u003c2\\u003e",\n')
        assert not reply.body.endswith(b"\n")
        data = reply.json()
        assert list(data) == ["path", "host", "method", "proto", "headers", "namespace",
                              "ingress", "service", "pod"]
        assert data["path"] == "/foo/bar?x=1&y=<2>"
        assert data["host"] == "foo.example.com"
        assert (data["method"], data["proto"]) == ("GET", "HTTP/1.1")
        assert data["headers"] == {"X-Forwarded-For": ["10.0.0.1"], "X-Multi": ["a", "b"]}
        assert (data["namespace"], data["pod"]) == ("e2e", "echo-1")
        assert (data["ingress"], data["service"]) == ("", "")
        assert "tls" not in data
    run(test)


def test_echo_basic_context_from_env_or_pod() -> None:
    async def test(runtime: PodRuntime) -> None:
        env = [{"name": "POD_NAME", "value": "explicit"}, {"name": "SERVICE_NAME", "value": "s"},
               {"name": "INGRESS_NAME", "value": "ing"}, {"name": "HTTP_PORT", "value": "8080"}]
        pod = await start(runtime, container(ECHO, env=env), name="real-name", namespace="n2")
        assert 8080 in pod.ports and 3000 not in pod.ports
        data = (await fetch(pod, 8080, "/", method="POST", body=b"{}")).json()
        assert data["pod"] == "explicit"  # the env wins, as in the image
        assert data["namespace"] == "n2"  # absent: taken from the pod
        assert (data["service"], data["ingress"], data["method"]) == ("s", "ing", "POST")
        assert data["headers"]["Content-Length"] == ["2"]
    run(test)


def test_echo_basic_special_paths() -> None:
    async def test(runtime: PodRuntime) -> None:
        pod = await start(runtime, container(ECHO))
        health = await fetch(pod, 3000, "/health")
        assert (health.status, health.body) == (200, b"OK")
        assert health.header("Content-Type") == "text/plain; charset=utf-8"
        teapot = await fetch(pod, 3000, "/status/418")
        assert (teapot.status, teapot.reason, teapot.body) == (418, "I'm a teapot", b"")
        assert (await fetch(pod, 3000, "/status/503")).status == 503
        assert (await fetch(pod, 3000, "/status/503?x=1")).status == 400  # regex on RequestURI
        redirect = await fetch(pod, 3000, "/status")
        assert (redirect.status, redirect.header("Location")) == (301, "/status/")
        bad = await fetch(pod, 3000, "/?delay=soon")
        assert bad.status == 500
        assert bad.json() == {"message": 'time: invalid duration "soon"'}
        started = time.monotonic()
        slow = await fetch(pod, 3000, "/?delay=200ms")
        assert slow.status == 200 and time.monotonic() - started >= 0.19
        echoed = await fetch(pod, 3000, "/", headers=(("X-Echo-Set-Header",
                                                        "X-Foo: one, x-bar: two"),))
        assert (echoed.header("X-Foo"), echoed.header("x-bar")) == ("one", "two")
        h2c = await fetch(pod, 3001, "/")
        assert (h2c.status, h2c.body) == (400, b"Expected h2c request")
    run(test)


def test_echo_basic_websocket_echo() -> None:
    async def test(runtime: PodRuntime) -> None:
        pod = await start(runtime, container(ECHO))
        reader, writer = await asyncio.open_connection(pod.spec.ip, pod.ports[3000])
        key = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's example key and accept value
        writer.write((f"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      f"Sec-WebSocket-Version: 13\r\nOrigin: http://h\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
        assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
        mask, payload = b"\x01\x02\x03\x04", b"hello ws"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        writer.write(struct.pack("!BB", 0x82, 0x80 | len(payload)) + mask + masked)
        frame = await asyncio.wait_for(reader.readexactly(2 + len(payload)), 2)
        # Binary in, text out: x/net/websocket writes with its PayloadType (text).
        assert frame == struct.pack("!BB", 0x81, len(payload)) + payload
        writer.close()

        no_origin = await fetch_raw(pod, 3000, b"GET /ws HTTP/1.1\r\nHost: h\r\n"
                                    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                    b"Sec-WebSocket-Key: " + key.encode() +
                                    b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
        assert no_origin == b"HTTP/1.1 403 Forbidden\r\n\r\n"
    run(test)


async def fetch_raw(pod: RunningPod, container_port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(pod.spec.ip, pod.ports[container_port])
    writer.write(data)
    try:
        return await read_until_closed(reader, 2)
    finally:
        writer.close()


# -- generic ----------------------------------------------------------------------------------
def test_generic_echo_on_every_declared_port_or_80() -> None:
    async def test(runtime: PodRuntime) -> None:
        bare = await start(runtime, container("registry.example/team/app:1.2"), name="g1")
        assert bare.image_kind == "generic"
        assert bare.generic_images == ("registry.example/team/app:1.2",)
        assert list(bare.ports) == [80]
        data = (await fetch(bare, 80, "/p?q=1", host="app.test")).json()
        assert {k: data[k] for k in ("method", "path", "host", "pod", "namespace")} == {
            "method": "GET", "path": "/p?q=1", "host": "app.test", "pod": "g1",
            "namespace": "ns1"}
        assert "Host" not in data["headers"]

        ports = [{"containerPort": 8080}, {"containerPort": 9090, "name": "admin"},
                 {"containerPort": 5353, "protocol": "UDP"}]
        multi = await start(runtime, container("app", ports=ports), name="g2")
        assert set(multi.ports) == {8080, 9090}
        assert (await fetch(multi, 9090, "/")).json()["containerPort"] == 9090
    run(test)


def test_portless_sidecar_does_not_take_port_80() -> None:
    async def test(runtime: PodRuntime) -> None:
        pod = await start(runtime, container(HELLO),
                          {"name": "sidecar", "image": "busybox", "command": ["sleep", "inf"]})
        assert pod.image_kind == "hello-plain-text"
        assert list(pod.ports) == [80]
        assert b"Server name:" in (await fetch(pod, 80, "/")).body
    run(test)


# -- addresses, ports, readiness ----------------------------------------------------------------
@pytest.mark.skipif(not loopback_aliases_work(), reason="needs binding on 127.0.0.2 and up")
def test_two_pods_are_bound_to_different_addresses() -> None:
    async def test(runtime: PodRuntime) -> None:
        a = await start(runtime, container(HELLO), name="a")
        b = await start(runtime, container(HELLO), name="b")
        assert a.spec.ip != b.spec.ip
        for pod in (a, b):
            match = HELLO_BODY.fullmatch((await fetch(pod, 80)).body.decode())
            assert match and (match["ip"], match["name"]) == (pod.spec.ip, pod.spec.name)
        # The port belongs to a's address only.
        if a.ports[80] != b.ports[80]:
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(b.spec.ip, a.ports[80])
    run(test)


def test_declared_port_nothing_listens_on_refuses_connections() -> None:
    async def test(runtime: PodRuntime) -> None:
        pod = await start(runtime, container(HELLO, ports=[{"containerPort": 80},
                                                           {"containerPort": 8080}]))
        assert set(pod.ports) == {80, 8080} and pod.ports[80] != pod.ports[8080]
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(pod.spec.ip, pod.ports[8080])
        assert (await fetch(pod, 80)).status == 200
    run(test)


def test_readiness_probe_path_flaps() -> None:
    async def test(runtime: PodRuntime) -> None:
        probe = {"httpGet": {"path": "/healthz", "port": "web"}, "periodSeconds": 1}
        pod = await start(runtime, container(HELLO, ports=[{"containerPort": 80, "name": "web"}],
                                             readinessProbe=probe))
        agent = (("User-Agent", "kube-probe/1.33"),)
        assert (await fetch(pod, 80, "/healthz", headers=agent)).status == 200
        pod.set_ready(False)
        assert not pod.ready
        failing = await fetch(pod, 80, "/healthz", headers=agent)
        assert (failing.status, failing.reason) == (503, "Service Temporarily Unavailable")
        assert (await fetch(pod, 80, "/other")).status == 200  # only the probe path fails
        pod.set_ready(True)
        assert (await fetch(pod, 80, "/healthz", headers=agent)).status == 200
        assert pod.requests_served == 1  # kubelet probes are not traffic
    run(test)


# -- preStop -------------------------------------------------------------------------------
def test_prestop_sleep_forms_take_their_time() -> None:
    async def test(runtime: PodRuntime) -> None:
        for command in (["sleep", "0.3"], ["/bin/sh", "-c", "sleep 0.1; sleep 0.2"]):
            pod = await start(runtime, container(
                HELLO, lifecycle={"preStop": {"exec": {"command": command}}}))
            started = time.monotonic()
            await pod.prestop()
            elapsed = time.monotonic() - started
            print(f"preStop {command}: {elapsed:.3f}s")
            assert 0.29 <= elapsed < 1.5
            assert pod.last_prestop_error is None
        sleep_action = await start(runtime, container(
            HELLO, lifecycle={"preStop": {"sleep": {"seconds": 0}}}))
        await sleep_action.prestop()
        assert sleep_action.last_prestop_error is None
    run(test)


def test_prestop_exec_in_distroless_echo_basic_fails_at_once() -> None:
    async def test(runtime: PodRuntime) -> None:
        pod = await start(runtime, container(
            ECHO, lifecycle={"preStop": {"exec": {"command": ["sleep", "5"]}}}))
        started = time.monotonic()
        await pod.prestop()
        assert time.monotonic() - started < 0.5
        assert 'executable file not found in $PATH' in (pod.last_prestop_error or "")
    run(test)


def test_prestop_http_get_reaches_the_pod() -> None:
    async def test(runtime: PodRuntime) -> None:
        hook = {"preStop": {"httpGet": {"path": "/shutdown", "port": 3000}}}
        pod = await start(runtime, container(ECHO, lifecycle=hook))
        await pod.prestop()
        assert pod.last_prestop_error is None
        missing = await start(runtime, container(
            ECHO, lifecycle={"preStop": {"httpGet": {"path": "/", "port": 9999}}}))
        await missing.prestop()
        assert "9999" in (missing.last_prestop_error or "")
    run(test)


def test_prestop_nginx_quit_starts_a_graceful_stop() -> None:
    async def test(runtime: PodRuntime) -> None:
        hook = {"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 0.05 && nginx -s quit"]}}}
        pod = await start(runtime, container(HELLO, lifecycle=hook))
        await pod.prestop()
        await asyncio.sleep(0.05)
        assert pod.exited
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(pod.spec.ip, pod.ports[80])
    run(test)


def test_signals_that_do_not_stop_the_image_are_ignored() -> None:
    async def test(runtime: PodRuntime) -> None:
        hook = {"preStop": {"exec": {"command": ["/bin/sh", "-c", "kill -HUP 1"]}}}
        pod = await start(runtime, container(HELLO, lifecycle=hook))  # HUP: nginx reloads
        await pod.prestop()
        await asyncio.sleep(0.05)
        assert not pod.exited and (await fetch(pod, 80)).status == 200
    run(test)


def test_hook_parsing() -> None:
    assert parse_sleep_args(["1", "0.5", "1m"]) == 61.5
    with pytest.raises(HookError):
        parse_sleep_args(["soon"])
    steps = plan_prestop({"lifecycle": {"preStop": {"exec": {"command": [
        "sh", "-c", "sleep 2 && kill -QUIT 1"]}}}}, None)
    assert [(s.kind, s.seconds, s.signal) for s in steps] == [
        ("sleep", 2.0, ""), ("signal", 0.0, "SIGQUIT")]
    assert plan_prestop({"lifecycle": {"preStop": {"exec": {"command": ["true"]}}}}, None) == []
    assert plan_prestop({}, None) == []


# -- stopping --------------------------------------------------------------------------------
def test_hello_terminate_closes_idle_keepalive_connections_at_once() -> None:
    async def test(runtime: PodRuntime) -> None:
        pod = await start(runtime, container(HELLO))
        client = await Client.open(pod.spec.ip, pod.ports[80])
        assert (await client.request("/")).status == 200  # now an idle keep-alive connection
        started = time.monotonic()
        await pod.terminate()
        assert await read_until_closed(client.reader, 1) == b""
        assert time.monotonic() - started < 0.5
        assert pod.exited
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(pod.spec.ip, pod.ports[80])
        client.close()
    run(test)


def test_hello_terminate_is_nginx_graceful_quit_for_requests_in_progress() -> None:
    # The image's STOPSIGNAL is SIGQUIT (nginx:mainline-alpine): nginx stops listening,
    # closes idle connections and lets a request that has begun finish.
    async def test(runtime: PodRuntime) -> None:
        pod = await start(runtime, container(HELLO))
        reader, writer = await asyncio.open_connection(pod.spec.ip, pod.ports[80])
        writer.write(b"GET /late HTTP/1.1\r\nHost: h\r\n")  # headers not finished yet
        await asyncio.sleep(0.05)
        stopping = asyncio.ensure_future(pod.terminate())
        await asyncio.sleep(0.2)
        assert not stopping.done()
        writer.write(b"\r\n")
        data = await read_until_closed(reader, 2)
        assert data.startswith(b"HTTP/1.1 200 OK") and b"URI: /late\n" in data
        await asyncio.wait_for(stopping, 2)
        writer.close()
    run(test)


def test_hello_with_stop_signal_sigterm_is_nginx_fast_shutdown() -> None:
    async def test(runtime: PodRuntime) -> None:
        pod = await start(runtime, container(HELLO, lifecycle={"stopSignal": "SIGTERM"}))
        reader, writer = await asyncio.open_connection(pod.spec.ip, pod.ports[80])
        writer.write(b"GET /late HTTP/1.1\r\nHost: h\r\n")
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await pod.terminate()
        assert await read_until_closed(reader, 1) == b""  # dropped without an answer
        assert time.monotonic() - started < 0.5
        writer.close()
    run(test)


def test_echo_basic_terminate_drops_requests_in_flight() -> None:
    # echo-basic installs no signal handler: SIGTERM ends the Go process at once.
    async def test(runtime: PodRuntime) -> None:
        pod = await start(runtime, container(ECHO))
        client = await Client.open(pod.spec.ip, pod.ports[3000])
        client.send("/?delay=3s")
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await pod.terminate()
        with pytest.raises(ConnectionError):
            await client.receive(timeout=1)
        assert time.monotonic() - started < 0.5
        client.close()
    run(test)


def test_generic_terminate_lets_requests_in_flight_finish() -> None:
    async def test(runtime: PodRuntime) -> None:
        pod = await start(runtime, container("example/app"))
        slow = await Client.open(pod.spec.ip, pod.ports[80])
        idle = await Client.open(pod.spec.ip, pod.ports[80])
        slow.send("/?delay=0.4")
        await asyncio.sleep(0.1)
        started = time.monotonic()
        stopping = asyncio.ensure_future(pod.terminate())
        assert await read_until_closed(idle.reader, 1) == b""  # idle: closed at once
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(pod.spec.ip, pod.ports[80])
        reply = await slow.receive()
        assert reply.status == 200 and reply.json()["path"] == "/?delay=0.4"
        await asyncio.wait_for(stopping, 2)
        assert 0.2 <= time.monotonic() - started < 1.5
        slow.close()
        idle.close()
    run(test)


def test_generic_terminate_is_bounded_by_the_grace_period() -> None:
    async def test(runtime: PodRuntime) -> None:
        pod = await start(runtime, container("example/app"))
        client = await Client.open(pod.spec.ip, pod.ports[80])
        client.send("/?delay=30s")
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await pod.terminate(grace=0.2)
        assert time.monotonic() - started < 1
        with pytest.raises(ConnectionError):
            await client.receive(timeout=1)
        client.close()
    run(test)


def test_kill_drops_everything_at_once() -> None:
    async def test(runtime: PodRuntime) -> None:
        pod = await start(runtime, container("example/app"))
        client = await Client.open(pod.spec.ip, pod.ports[80])
        client.send("/?delay=5")
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await pod.kill()
        with pytest.raises(ConnectionError):
            await client.receive(timeout=1)
        assert time.monotonic() - started < 0.5 and pod.exited
        client.close()
    run(test)


# -- scale -----------------------------------------------------------------------------------
def test_a_thousand_pods_on_one_loop() -> None:
    async def test(runtime: PodRuntime) -> None:
        started = time.perf_counter()
        pods = [await runtime.start_pod(PodSpecView("scale", f"hello-{i}", pod_ip_for(100_000 + i),
                                                    (container(HELLO),)))
                for i in range(1000)]
        elapsed = time.perf_counter() - started
        print(f"started 1000 pods in {elapsed:.2f}s")
        assert elapsed < 30
        for pod in (pods[0], pods[499], pods[-1]):
            match = HELLO_BODY.fullmatch((await fetch(pod, 80)).body.decode())
            assert match and match["name"] == pod.spec.name
        started = time.perf_counter()
        await runtime.stop_all()
        print(f"stopped 1000 pods in {time.perf_counter() - started:.2f}s")
    run(test)


# -- Go details ------------------------------------------------------------------------------
def test_go_helpers() -> None:
    assert parse_duration("10s") == 10
    assert parse_duration("1.5h") == 5400
    assert parse_duration("2m30s") == 150
    assert abs(parse_duration("300ms") - 0.3) < 1e-9
    assert parse_duration("-1s") == -1 and parse_duration("0") == 0
    for text, message in (("10", 'time: missing unit in duration "10"'),
                          ("1x", 'time: unknown unit "x" in duration "1x"'),
                          ("", 'time: invalid duration ""')):
        with pytest.raises(DurationError) as info:
            parse_duration(text)
        assert str(info.value) == message
    assert canonical_header_key("x-forwarded-FOR") == "X-Forwarded-For"
    assert canonical_header_key("x_under") == "X_under"
    assert canonical_header_key("bad header") == "bad header"
    assert marshal_indent({"a": ["<&>"], "b": {}}) == (
        b'{\n "a": [\n  "\\u003c\\u0026\\u003e"\n ],\n "b": {}\n}')
