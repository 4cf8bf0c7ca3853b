"""The nginx data plane: a real nginx master process on loopback serving a RoutingTable.

`NginxDataPlane` has the `DataPlane` face (the same as `simulator.proxy.Proxy`): `await
start()`, `await stop()`, `update(table)` from any thread, `http_address`/`https_address`.

- Everything lives in a private work directory (configuration, pid file, error log, temp
  paths, certificate files): nothing under /etc, /var or /run is touched. nginx runs in the
  foreground (`daemon off`) as our child, in its own session, so stop() can account for
  every process it started.
- `update()` only records the newest table; a worker thread applies tables one at a time,
  coalescing bursts (only the newest pending table is applied).
- Applying: render (`nginx.render_nginx_conf`), and when the text differs from the running
  configuration, validate the candidate with `nginx -t` BEFORE it replaces nginx.conf, then
  SIGHUP the master (what `nginx -s reload` sends). The reload counts as applied once the
  workers answer with the new generation on the control port and every old worker has
  closed its listening sockets (its title reads "shutting down"), so a test that waited
  for a version never reaches an old worker. A candidate nginx rejects (or a reload the
  master refuses) leaves the last good configuration serving; the reason is kept in
  `last_error` and the rejected text in `WORK_DIR/nginx.conf.rejected`.
- Certificates are written once per content (`certificates/<id>.crt|.key`, keys 0600);
  PEM that does not load is left out (its hosts get the default certificate), as the
  reference proxy does, and listed in `broken_certificates`.

Endpoint-only changes cost a full reload: nginx OSS cannot change an upstream's servers at
run time (that needs Lua, as ingress-nginx uses, or the NGINX Plus API). The reload is
graceful: the listening sockets stay open across it, new workers take new connections, old
workers finish the requests they have (up to `drain_timeout`), so no request is lost; idle
keepalive connections to clients and upstreams are closed and reopened.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, replace

from ..proxy.tls import generate_self_signed, server_context
from ..routing import RoutingTable
from .base import find_binary, free_port
from .nginx import GENERATION_PATH, NginxSettings, certificate_id, render_nginx_conf

log = logging.getLogger(__name__)

_START_ATTEMPTS = 3  # new ports are tried when automatically chosen ones were taken


@dataclass(frozen=True)
class Rejection:
    """A table whose configuration was kept out, and why."""

    version: int
    reason: str
    config_path: str


class NginxDataPlane:
    """nginx serving RoutingTables on `host` (loopback).

    `http_port`/`https_port`: 0 picks a free port, None disables that listener (the same
    arguments as `simulator.proxy.Proxy`). `nginx_bin`: the binary (default: `nginx` on
    PATH or in /usr/sbin; `base.BinaryNotFound` with an install hint when missing).
    `work_dir`: where everything goes (default: a new temporary directory, removed by stop()
    unless `keep_work_dir`). `default_certificate`: (cert PEM, key PEM) for unknown or
    missing SNI (default: a fresh self-signed one). `apply_timeout`: seconds a reload may
    take before it counts as failed. Timeouts are seconds, as in `Proxy`.
    """

    def __init__(self, http_port: int | None = 0, https_port: int | None = 0,
                 host: str = "127.0.0.1", *, table: RoutingTable | None = None,
                 nginx_bin: str | None = None, work_dir: str | None = None,
                 keep_work_dir: bool = False,
                 default_certificate: tuple[bytes, bytes] | None = None,
                 upstream_timeout: float = 60.0, connect_timeout: float | None = None,
                 client_timeout: float = 60.0, drain_timeout: float = 30.0,
                 worker_processes: int = 1, apply_timeout: float = 15.0) -> None:
        self.binary = find_binary("nginx", nginx_bin)
        self.host = host
        self._ports = {"http": http_port, "https": https_port}
        self._work_dir_arg = work_dir
        self.keep_work_dir = keep_work_dir
        self._default_certificate = default_certificate
        self.apply_timeout = apply_timeout
        self._base = dict(upstream_timeout=upstream_timeout, connect_timeout=connect_timeout,
                          client_timeout=client_timeout, drain_timeout=drain_timeout,
                          worker_processes=worker_processes)
        self.work_dir = ""
        self._settings: NginxSettings | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._pending: RoutingTable | None = table
        self._stopping = False
        self._cert_files: dict[str, tuple[str, str]] = {}
        self._broken: dict[str, str] = {}  # certificate id -> why it does not load

        # What runs now, and what happened (read by tests and `simulator up`).
        self.table: RoutingTable | None = None
        self.config_text = ""
        self.generation = 0
        self.applied_version: int | None = None
        self.processed_version: int | None = None
        self.reloads = 0
        self.last_error: str | None = None
        self.last_rejected: Rejection | None = None
        self.broken_certificates: list[str] = []

    # -- addresses ----------------------------------------------------------------------------

    def _address(self, scheme: str) -> tuple[str, int] | None:
        settings = self._settings
        if settings is None or self._proc is None:
            return None
        port = settings.http_port if scheme == "http" else settings.https_port
        return None if port is None else (self.host, port)

    @property
    def http_address(self) -> tuple[str, int] | None:
        """(host, port) of the HTTP listener, once started."""
        return self._address("http")

    @property
    def https_address(self) -> tuple[str, int] | None:
        """(host, port) of the HTTPS listener, once started."""
        return self._address("https")

    @property
    def control_address(self) -> tuple[str, int] | None:
        """(host, port) answering `GET /ingress-sim/generation`, once started."""
        settings = self._settings
        if settings is None or settings.control_port is None or self._proc is None:
            return None
        return self.host, settings.control_port

    @property
    def pid(self) -> int | None:
        """The nginx master's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def config_path(self) -> str:
        return os.path.join(self.work_dir, "nginx.conf")

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Write the first configuration, start nginx and wait until it serves it."""
        await asyncio.to_thread(self._start)

    async def stop(self) -> None:
        """Stop applying tables, stop nginx (fast shutdown: in-flight requests are cut) and
        every process it started, and remove the work directory (unless kept)."""
        await asyncio.to_thread(self._stop)

    async def __aenter__(self) -> NginxDataPlane:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _start(self) -> None:
        if self._proc is not None:
            raise RuntimeError("already started")
        if self._work_dir_arg:
            self.work_dir = os.path.abspath(self._work_dir_arg)
            os.makedirs(self.work_dir, exist_ok=True)
        else:
            self.work_dir = tempfile.mkdtemp(prefix="ingress-sim-nginx-")
        self._cert_files.clear()  # a restart may have a fresh work directory
        for sub in ("tmp", "certificates"):
            os.makedirs(os.path.join(self.work_dir, sub), exist_ok=True)
        default = self._write_pem("default", *(self._default_certificate
                                               or generate_self_signed()))
        with self._cond:
            table = self._pending if self._pending is not None else RoutingTable()
            self._pending = None
            self._stopping = False
        failure = ""
        for _ in range(_START_ATTEMPTS):
            self._settings = NginxSettings(
                work_dir=self.work_dir, listen_host=self.host,
                http_port=self._port("http"), https_port=self._port("https"),
                control_port=free_port(self.host), default_certificate=default,
                user="root" if hasattr(os, "geteuid") and os.geteuid() == 0 else None,
                **self._base)  # type: ignore[arg-type]
            text = self._render(table, 1)
            problem = self._validate(text)
            if problem is not None:
                self._reject(table, text, problem)
                if not table.hosts and table.default_backend is None:
                    raise RuntimeError(f"nginx refuses even an empty configuration: {problem}")
                table = RoutingTable()  # serve nothing rather than not start
                text = self._render(table, 1)
            with open(self.config_path, "w", encoding="utf-8") as f:
                f.write(text)
            failure = self._spawn()
            if not failure:
                self._applied(table, text, 1)
                break
            log.warning("nginx did not start: %s", failure)
            if not (self._automatic_ports() and "in use" in failure):
                break
        if failure:
            self._settings = None
            raise RuntimeError(f"nginx did not start: {failure}")
        self._thread = threading.Thread(target=self._run, name="nginx-dataplane",
                                        daemon=True)
        self._thread.start()

    def _port(self, scheme: str) -> int | None:
        port = self._ports[scheme]
        if port is None:
            return None
        return port or free_port(self.host)

    def _automatic_ports(self) -> bool:
        return all(p in (0, None) for p in self._ports.values())

    def _spawn(self) -> str:
        """Start the master; "" once it serves generation 1, else what went wrong."""
        log_path = os.path.join(self.work_dir, "error.log")
        offset = _size(log_path)
        out = open(os.path.join(self.work_dir, "nginx.out"), "ab")  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                [self.binary, "-p", self.work_dir + "/", "-e", log_path, "-c",
                 self.config_path],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        finally:
            out.close()
        deadline = time.monotonic() + self.apply_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return _errors(log_path, offset) or "nginx exited at once"
            if self._served_generation() == 1:
                return ""
            time.sleep(0.02)
        self._kill()
        return f"nginx did not answer within {self.apply_timeout}s: {_errors(log_path, offset)}"

    def _stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(self.apply_timeout + 5)
            self._thread = None
        self._kill()
        self._settings = None
        if self.work_dir and not self.keep_work_dir and not self._work_dir_arg:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def _kill(self) -> None:
        """Fast shutdown (SIGTERM), then SIGKILL for whatever of ours is left."""
        proc = self._proc
        if proc is None:
            return
        session = proc.pid  # start_new_session: the master leads its own session
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                for pid in _session_members(session):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                proc.wait(5)
        # Workers exit with the master; should one linger (a SIGKILLed master), end it.
        deadline = time.monotonic() + 5
        while (left := _session_members(session)) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- tables ---------------------------------------------------------------------------------

    def update(self, table: RoutingTable) -> None:
        """Serve `table` from now on: recorded at once, applied by the worker thread (only
        the newest of several quick updates is applied). Any thread; never blocks long."""
        with self._cond:
            self._pending = table
            self._cond.notify_all()

    def wait_for_version(self, version: int, timeout: float = 30.0) -> bool:
        """Block until a table of `version` or later has been dealt with; True when one is
        being served (False: rejected, or `timeout` passed). Versions are the tables'
        `version` fields, which the controller bumps on every change."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.processed_version is None or self.processed_version < version:
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping:
                    break
                self._cond.wait(left)
            return self.applied_version is not None and self.applied_version >= version

    async def wait_for_version_async(self, version: int, timeout: float = 30.0) -> bool:
        return await asyncio.to_thread(self.wait_for_version, version, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                table, self._pending = self._pending, None
            try:
                self._apply(table)
            except Exception as exc:  # keep the worker alive whatever happens
                log.exception("applying table %s failed", table.version)
                self._reject(table, "", f"{type(exc).__name__}: {exc}")

    def _apply(self, table: RoutingTable) -> None:
        text = self._render(table, self.generation)
        if _body(text) == _body(self.config_text):
            # Nothing nginx would notice (only the version in the header comment differs).
            self._applied(table, self.config_text, self.generation)
            return
        generation = self.generation + 1
        text = self._render(table, generation)
        problem = self._validate(text)
        if problem is not None:
            self._reject(table, text, problem)
            return
        problem = self._reload(text, generation)
        if problem is not None:
            # The master keeps its old configuration; so does the file it reloads from.
            with open(self.config_path, "w", encoding="utf-8") as f:
                f.write(self.config_text)
            self._reject(table, text, problem)
            return
        self.reloads += 1
        self._applied(table, text, generation)
        self._prune_certificates()

    def _applied(self, table: RoutingTable, text: str, generation: int) -> None:
        with self._cond:
            self.table = table
            self.config_text = text
            self.generation = generation
            self.applied_version = table.version
            self.processed_version = max(self.processed_version or 0, table.version)
            self._cond.notify_all()
        log.info("nginx serves table version %s (generation %s)", table.version, generation)

    def _reject(self, table: RoutingTable, text: str, reason: str) -> None:
        path = os.path.join(self.work_dir, "nginx.conf.rejected")
        if text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        log.warning("nginx configuration for table version %s rejected: %s",
                    table.version, reason)
        with self._cond:
            self.last_error = reason
            self.last_rejected = Rejection(table.version, reason, path)
            self.processed_version = max(self.processed_version or 0, table.version)
            self._cond.notify_all()

    # -- configuration --------------------------------------------------------------------------

    def _render(self, table: RoutingTable, generation: int) -> str:
        assert self._settings is not None
        usable: dict[str, tuple[str, str]] = {}
        broken: list[str] = []
        for cert in table.certificates:
            cid = certificate_id(cert)
            if cid in self._broken:
                broken.append(cert.source or ",".join(cert.hosts))
                continue
            if cid not in self._cert_files:
                try:
                    server_context(cert.cert_pem, cert.key_pem)
                except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                    log.warning("skipping certificate %s: %s", cert.source or cert.hosts, exc)
                    self._broken[cid] = str(exc)
                    broken.append(cert.source or ",".join(cert.hosts))
                    continue
                self._cert_files[cid] = self._write_pem(cid, cert.cert_pem, cert.key_pem)
            usable[cid] = self._cert_files[cid]
        self.broken_certificates = broken
        settings = replace(self._settings, certificates=usable, generation=generation)
        return render_nginx_conf(table, settings)

    def _write_pem(self, name: str, cert_pem: bytes, key_pem: bytes) -> tuple[str, str]:
        base = os.path.join(self.work_dir, "certificates", name)
        crt, key = base + ".crt", base + ".key"
        with open(crt, "wb") as f:
            f.write(cert_pem)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(key)
        with os.fdopen(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(key_pem)
        return crt, key

    def _prune_certificates(self) -> None:
        """Remove certificate files the running configuration no longer names."""
        for cid in [c for c in self._cert_files if c not in self.config_text]:
            for path in self._cert_files.pop(cid):
                with contextlib.suppress(OSError):
                    os.unlink(path)

    def _validate(self, text: str) -> str | None:
        """None when `nginx -t` accepts `text`, else its complaint."""
        candidate = os.path.join(self.work_dir, "nginx.conf.candidate")
        with open(candidate, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            result = subprocess.run(
                [self.binary, "-t", "-q", "-p", self.work_dir + "/", "-e", "stderr", "-c",
                 candidate], stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        except subprocess.TimeoutExpired:
            return "nginx -t did not finish within 30s"
        if result.returncode == 0:
            return None
        output = (result.stderr + result.stdout).decode("utf-8", "replace")
        return _tidy(output.replace(candidate, "nginx.conf")) or \
            f"nginx -t exited {result.returncode}"

    def _reload(self, text: str, generation: int) -> str | None:
        """Make `text` (already validated) the running configuration; None on success."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return "nginx is not running"
        log_path = os.path.join(self.work_dir, "error.log")
        offset = _size(log_path)
        old_workers = _children(proc.pid)
        tmp = self.config_path + ".next"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.config_path)
        proc.send_signal(signal.SIGHUP)  # = nginx -s reload
        deadline = time.monotonic() + self.apply_timeout
        seen = False
        while time.monotonic() < deadline and not self._stopping:
            if proc.poll() is not None:
                return f"nginx exited during the reload: {_errors(log_path, offset)}"
            seen = seen or self._served_generation() == generation
            if seen and all(_shutting_down(pid) for pid in old_workers):
                return None
            errors = _errors(log_path, offset)
            if errors:
                return f"nginx refused the reload: {errors}"
            time.sleep(0.02)
        if self._stopping:
            return "stopped during the reload"
        return f"the reload was not applied within {self.apply_timeout}s"

    def _served_generation(self) -> int | None:
        address = self.control_address
        if address is None:
            return None
        conn = http.client.HTTPConnection(*address, timeout=1.0)
        try:
            conn.request("GET", GENERATION_PATH)
            resp = conn.getresponse()
            body = resp.read()
            return int(body) if resp.status == 200 else None
        except (OSError, http.client.HTTPException, ValueError):
            return None
        finally:
            conn.close()


# -- processes and logs (Linux /proc; elsewhere the checks degrade to "assume done") --------

def _body(text: str) -> str:
    """A rendered configuration without its first line (which names the table version)."""
    return text.partition("\n")[2]


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _errors(path: str, offset: int) -> str:
    """The [emerg] lines nginx wrote to its error log after `offset`."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return _tidy("\n".join(line for line in data.splitlines() if "[emerg]" in line))


_LOG_PREFIX = re.compile(r"^(?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )?(\[\w+\]) \d+#\d+: ", re.M)


def _tidy(text: str) -> str:
    """nginx's messages without time stamps and process ids (stable, readable reasons)."""
    return _LOG_PREFIX.sub(r"\1 ", text).strip()


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat fields after the command name: state, ppid, pgrp, session, ..."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return data.rsplit(")", 1)[1].split()


def _processes() -> list[int]:
    try:
        return [int(e) for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return []


def _children(pid: int) -> list[int]:
    out = []
    for child in _processes():
        fields = _stat(child)
        if fields is not None and fields[1] == str(pid):
            out.append(child)
    return out


def _session_members(session: int) -> list[int]:
    """Live processes of the session nginx's master leads (it and its workers)."""
    out = []
    for pid in _processes():
        fields = _stat(pid)
        if fields is not None and fields[3] == str(session) and fields[0] != "Z":
            out.append(pid)
    return out


def _shutting_down(pid: int) -> bool:
    """Whether an old worker stopped accepting: gone, or titled "... shutting down" (nginx
    closes its listening sockets as it sets that title)."""
    fields = _stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"shutting down" in f.read()
    except OSError:
        return True
