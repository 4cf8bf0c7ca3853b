"""Proxy figures: requests/s and latency for small responses through the reference proxy and
through nginx, both proxying to the SAME backend on this machine in the same run; the goal
from the issue is the reference proxy at >= 0.25 of nginx's requests/s.

- backend: an nginx server block answering a short body (one worker), or, without nginx, a
  minimal asyncio HTTP/1.1 server in its own process;
- nginx: `proxy_pass` to the backend through a keepalive upstream, one worker, non-daemon,
  everything (config, pid, logs, temp paths) in a temporary directory;
- the reference proxy: `simulator.proxy.Proxy` with a one-host RoutingTable, in its own
  process (multiprocessing spawn) so the load generator does not share its GIL;
- load: wrk (`apt-get install -y wrk`) or, without it, a Python asyncio load generator in its
  own process (slower than nginx: then the ratio is flattered, and the output says so).

Each target gets a throughput run (CONNECTIONS keep-alive connections) and a latency run (one
connection, one request at a time). Loopback only; about 30 s in all."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import multiprocessing as mp
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HOST = "bench.example.com"
BODY = "hello from the backend\n"
CONNECTIONS = 16  # nginx keeps up to this many idle upstream connections, as does our proxy
WARMUP_SECONDS = 1
THROUGHPUT_SECONDS = 5
LATENCY_SECONDS = 3
START_TIMEOUT = 15.0
INSTALL_NGINX = "apt-get install -y nginx-light"
INSTALL_WRK = "apt-get install -y wrk"


@dataclass
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int = 0

    def text(self) -> str:
        errors = f", {self.errors} ERRORS" if self.errors else ""
        return (f"{self.requests_per_second:>8,.0f} req/s, p50 {self.p50_ms:.2f} ms, "
                f"p99 {self.p99_ms:.2f} ms{errors}")


# -- helpers -----------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen | mp.Process | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        alive = proc.poll() is None if isinstance(proc, subprocess.Popen) else \
            proc is None or proc.is_alive()
        if not alive:
            break
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def _check(port: int) -> str | None:
    """None if one GET through `port` answers 200 with the backend's body, else the problem."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": HOST})
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace")
        if resp.status != 200 or body != BODY:
            return f"answered {resp.status} {body[:80]!r}"
        return None
    except OSError as exc:
        return f"failed: {exc}"
    finally:
        conn.close()


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


# -- nginx ---------------------------------------------------------------------------------------

def _nginx_config(workdir: Path, server: str) -> str:
    temp = "\n".join(f"    {name}_temp_path {workdir / name};"
                     for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return textwrap.dedent("""\
        daemon off;
        master_process on;
        worker_processes 1;
        pid {pid};
        error_log {log} warn;
        events {{ worker_connections 1024; }}
        http {{
            access_log off;
            keepalive_requests 1000000;
            keepalive_timeout 60s;
        {temp}
        {server}
        }}
        """).format(pid=workdir / "nginx.pid", log=workdir / "error.log", temp=temp,
                    server=textwrap.indent(server, "    "))


@contextlib.contextmanager
def nginx(binary: str, server: str, port: int) -> Iterator[None]:
    """Run nginx in the foreground with `server` (http-level blocks listening on `port`) until
    the block ends; then a graceful stop (SIGQUIT), a SIGKILL only if that hangs."""
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)  # a root master hands its temp paths to an unprivileged worker
        conf = workdir / "nginx.conf"
        conf.write_text(_nginx_config(workdir, server))
        proc = subprocess.Popen([binary, "-p", str(workdir), "-e", str(workdir / "error.log"),
                                 "-c", str(conf)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            try:
                _wait_listening(port, proc)
            except RuntimeError:
                proc.kill()
                _, err = proc.communicate(timeout=5)
                log = (workdir / "error.log").read_text() if (workdir / "error.log").exists() \
                    else ""
                raise RuntimeError(f"nginx did not start: {err.decode().strip()} "
                                   f"{log.strip()}") from None
            yield
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGQUIT)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            if proc.stderr:
                proc.stderr.close()


def _backend_block(port: int) -> str:
    return textwrap.dedent(f"""\
        server {{
            listen 127.0.0.1:{port};
            default_type text/plain;
            location / {{ return 200 "{BODY.strip()}\\n"; }}
        }}""")


def _nginx_proxy_block(port: int, backend_port: int) -> str:
    return textwrap.dedent(f"""\
        upstream backend {{
            server 127.0.0.1:{backend_port};
            keepalive {CONNECTIONS};
            keepalive_requests 1000000;
        }}
        server {{
            listen 127.0.0.1:{port};
            location / {{
                proxy_pass http://backend;
                proxy_http_version 1.1;
                proxy_set_header Connection "";
                proxy_set_header Host $host;
            }}
        }}""")


# -- the Python backend (when nginx is missing) and the reference proxy --------------------------

class _BackendProtocol(asyncio.Protocol):
    """Answers every request with BODY; only what a GET without a body needs."""

    RESPONSE = (f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(BODY)}"
                f"\r\n\r\n{BODY}").encode()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            self.buffer = self.buffer[end + 4:]
            self.transport.write(self.RESPONSE)  # type: ignore[attr-defined]


def _python_backend(port: int, stop: mp.synchronize.Event) -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_BackendProtocol, "127.0.0.1", port)
        await loop.run_in_executor(None, stop.wait)
        server.close()

    asyncio.run(run())


def _reference_proxy(backend_port: int, ready: mp.Queue, stop: mp.synchronize.Event) -> None:
    from simulator.proxy import Proxy
    from simulator.routing import Backend, Endpoint, HostRoutes, PathRule, PathType, RoutingTable

    backend = Backend("bench", "backend", "80", (Endpoint("127.0.0.1", backend_port),))
    table = RoutingTable(hosts=(HostRoutes(HOST, (
        PathRule("/", PathType.PREFIX, backend, "bench/bench"),)),))

    async def run() -> None:
        proxy = Proxy(0, None, table=table)
        await proxy.start()
        address = proxy.http_address
        assert address is not None
        ready.put(address[1])
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        await proxy.stop()

    asyncio.run(run())


@contextlib.contextmanager
def _process(target: Callable[..., None], *args: object) -> Iterator[int]:
    """Run `target(*args, ready_queue, stop_event)` in a spawned process; yields the port it
    puts on the queue; sets the event and joins at the end."""
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=target, args=(*args, ready, stop), daemon=True)
    proc.start()
    try:
        port = ready.get(timeout=START_TIMEOUT)
        _wait_listening(port, proc)
        yield port
    finally:
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)


def _python_backend_ready(port: int, ready: mp.Queue, stop: mp.synchronize.Event) -> None:
    ready.put(port)
    _python_backend(port, stop)


# -- load generators ---------------------------------------------------------------------------

_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk(binary: str, port: int, connections: int, seconds: int) -> Result:
    out = subprocess.run(
        [binary, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Host: {HOST}",
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, timeout=seconds + 30, check=False).stdout

    def latency(label: str) -> float:
        found = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        return float(found.group(1)) * _WRK_UNITS[found.group(2)] if found else float("nan")

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    if rate is None:
        raise RuntimeError(f"wrk output not understood: {out.strip()[:300]}")
    return Result(float(rate.group(1)), latency("50"), latency("99"), errors)


async def _python_load(port: int, connections: int, seconds: float) -> tuple[int, list, int]:
    request = f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    ends = time.perf_counter() + seconds
    latencies: list[float] = []
    errors = 0

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < ends:
                start = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                latencies.append((time.perf_counter() - start) * 1000)
                if not head.startswith(b"HTTP/1.1 200"):
                    errors += 1
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return len(latencies), latencies, errors


def _python_load_process(port: int, connections: int, seconds: float, out: mp.Queue) -> None:
    count, latencies, errors = asyncio.run(_python_load(port, connections, seconds))
    latencies.sort()
    pick = [latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies
            else float("nan") for q in (0.5, 0.99)]
    out.put((count / seconds, pick[0], pick[1], errors))


def _python(port: int, connections: int, seconds: int) -> Result:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_python_load_process, args=(port, connections, seconds, out))
    proc.start()
    try:
        return Result(*out.get(timeout=seconds + 60))
    finally:
        proc.join(10)


def measure(port: int, wrk: str | None) -> tuple[Result, Result]:
    """(throughput run with CONNECTIONS connections, latency run with one connection)."""
    run = (lambda c, s: _wrk(wrk, port, c, s)) if wrk else (lambda c, s: _python(port, c, s))
    run(CONNECTIONS, WARMUP_SECONDS)
    return run(CONNECTIONS, THROUGHPUT_SECONDS), run(1, LATENCY_SECONDS)


# -- the benchmark ---------------------------------------------------------------------------------

def _line(name: str, port: int, wrk: str | None) -> Result | None:
    problem = _check(port)
    if problem:
        print(f"  {name:<16} NOT MEASURED: GET / with Host {HOST} {problem}")
        return None
    loaded, single = measure(port, wrk)
    print(f"  {name:<16} {CONNECTIONS} connections: {loaded.text()}")
    print(f"  {'':<16}  1 connection:  {single.text()}")
    return loaded


def main() -> None:
    print("== proxy")
    nginx_bin, wrk = find_nginx(), shutil.which("wrk")
    print(f"(load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; every server here "
          "gets one process, the load generator another)")
    if wrk:
        print(f"load generator: wrk, 1 thread, {THROUGHPUT_SECONDS} s at {CONNECTIONS} "
              f"keep-alive connections, {LATENCY_SECONDS} s at 1")
    else:
        print(f"load generator: Python asyncio (wrk not found: `{INSTALL_WRK}` for a faster "
              "one); it may saturate before nginx does, which flatters the ratio")
    if nginx_bin is None:
        print(f"nginx not found (PATH, /usr/sbin/nginx): `{INSTALL_NGINX}` to compare with it; "
              "measuring the reference proxy against a Python backend only")
    backend_port = _free_port()
    with contextlib.ExitStack() as stack:
        kind = "nginx, 1 worker, `return 200`"
        if nginx_bin:
            try:
                stack.enter_context(nginx(nginx_bin, _backend_block(backend_port), backend_port))
            except RuntimeError as exc:
                print(f"{exc}; measuring the reference proxy against a Python backend only")
                nginx_bin = None
        if not nginx_bin:
            backend_port = stack.enter_context(_process(_python_backend_ready, backend_port))
            kind = "asyncio Protocol in its own process"
        print(f"backend: {kind}, {len(BODY)}-byte body")
        _line("backend direct", backend_port, wrk)
        reference_nginx = None
        if nginx_bin:
            nginx_port = _free_port()
            try:
                with nginx(nginx_bin, _nginx_proxy_block(nginx_port, backend_port), nginx_port):
                    reference_nginx = _line("nginx proxy", nginx_port, wrk)
            except RuntimeError as exc:
                print(f"  nginx proxy      NOT MEASURED: {exc}")
        with _process(_reference_proxy, backend_port) as proxy_port:
            ours = _line("reference proxy", proxy_port, wrk)
    if ours and reference_nginx:
        ratio = ours.requests_per_second / reference_nginx.requests_per_second
        verdict = "meets the goal" if ratio >= 0.25 else "BELOW the goal"
        print(f"  ratio reference proxy / nginx: {ratio:.2f} of nginx's requests/s "
              f"[goal >= 0.25: {verdict}]")
    elif ours:
        print("  ratio reference proxy / nginx: not measured (no nginx)")

