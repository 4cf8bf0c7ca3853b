"""The HAProxy data plane: a real `haproxy` (2.6) in master-worker mode on loopback, fed
RoutingTables by the reference controller.

`HAProxyDataPlane` has the face of `simulator.proxy.Proxy` (the `DataPlane` protocol):
`await start()`, `await stop()`, `update(table)` from any thread, `http_address`,
`https_address`. Everything it writes (configuration, crt-list, certificates, sockets, the
process log) lives in a private temporary directory.

How a table gets applied (on one worker thread; `update` only hands the table over, and a
burst of updates collapses into the latest table):

- Endpoint-only change (the table equals the applied one once endpoints are left out, and
  every backend still fits in its server slots): the runtime API on the worker's admin
  socket, `set server B/epN addr A port P` + `state ready|drain` for endpoints that arrive
  (new endpoints first, so a backend never runs dry during a swap) and `state maint` for
  endpoints that leave (their in-flight requests finish; a freed slot is reused last). The
  result is read back with `show servers state`; any mismatch falls back to a reload.
- Anything else: render haproxy.cfg and the crt-list (`haproxy.render_*`), check them with
  `haproxy -c -f FILE`, then move the file in place and send `reload` on the master CLI (`-S`
  socket); the master starts a new worker with the listening sockets of the old one, and the
  old worker finishes its requests (at most `hard-stop-after`). Applied once `show proc`
  lists a new worker that answers `show info`. A configuration that fails the check is never
  applied: the last good one keeps serving, `last_error` says why and
  `last_rejected_config` holds the text. Slots grow by doubling and never shrink, so a
  backend that scales up reloads a few times, not at every step.

Certificates are written once per content (`certificates/ID.pem`, chain + key) after Python's
`ssl` loaded them; one that does not load is left out (its hosts get the default certificate,
as with the reference proxy) and listed in `skipped_certificates`.

For tests and benchmarks: `reloads`, `runtime_updates`, `rejected` count what happened;
`applied_version` / `processed_version` and `wait_applied(version)` (alias
`wait_for_version`, as the nginx data plane names it) / `wait_processed(version)` tell when a
table is in force (or was refused). `last_error` keeps the last failure (a refused
configuration with haproxy's ALERT lines, a failed reload); it is not cleared by later
successes.

Not offered (the reference proxy has it as an option, off by default): the HTTP -> HTTPS
redirect. Across a reload, a client connection with a request in progress gets its answer
from the old worker with `Connection: close`; an idle keep-alive connection is closed by the
old worker (as nginx does; HAProxy 2.6 has no `idle-close-on-response`), so a client that
reuses it must retry on a new connection (RFC 9112 9.3.1 allows that for idempotent
requests). Endpoint-only changes never touch client connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

from ..proxy.tls import generate_self_signed, server_context
from ..routing import Backend, HostRoutes, PathRule, RoutingTable
from .base import find_binary, free_port
from .haproxy import (
    HAProxySettings,
    certificate_id,
    drained,
    plan_backends,
    render_crt_list,
    render_haproxy_cfg,
)

log = logging.getLogger(__name__)

# srv_admin_state flags (HAProxy's enum srv_admin): forced maintenance and forced drain.
ADMIN_FORCED_MAINT = 0x01
ADMIN_FORCED_DRAIN = 0x08
CLI_BATCH = 8000  # bytes of ';'-joined commands per runtime API connection


class HAProxyError(RuntimeError):
    """HAProxy refused something or did not answer in time."""


@dataclass
class _Slot:
    """What one server slot of a backend serves right now."""

    hostport: str
    address: str
    port: int
    drain: bool


@dataclass
class _BackendState:
    id: str
    slots: list[_Slot | None]
    freed: list[int]  # per slot: the update that freed it (-1: never used), for reuse order


def skeleton(table: RoutingTable) -> RoutingTable:
    """`table` without endpoints and version: what decides the configuration's shape."""
    stripped: dict[str, Backend] = {}

    def strip(backend: Backend) -> Backend:
        found = stripped.get(backend.name)
        if found is None:
            found = stripped[backend.name] = dataclasses.replace(backend, endpoints=())
        return found

    hosts = tuple(HostRoutes(h.host, tuple(PathRule(r.path, r.path_type, strip(r.backend),
                                                    r.source) for r in h.paths))
                  for h in table.hosts)
    default = strip(table.default_backend) if table.default_backend is not None else None
    return RoutingTable(hosts=hosts, default_backend=default, certificates=table.certificates)


def cli_command(path: str, command: str, timeout: float = 5.0) -> str:
    """Send one line to an HAProxy CLI socket (stats or master) and read the whole answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(command.encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace")


@dataclass(frozen=True)
class ProcState:
    """The master's `show proc`: its reload counters and its workers."""

    reloads: int | None = None
    failed: int | None = None
    workers: tuple[int, ...] = ()  # started by the last (re)load
    old_workers: tuple[int, ...] = ()  # finishing their requests after a reload


def parse_show_proc(text: str) -> ProcState:
    reloads = failed = None
    workers: list[int] = []
    old: list[int] = []
    section = ""
    for line in text.splitlines():
        if line.startswith("#"):
            section = line.strip("# ").split(" ")[0]
            continue
        parts = line.split()
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        if parts[1] == "master":
            reloads = int(parts[2]) if parts[2].isdigit() else None
            if "[failed:" in line:
                tail = line.split("[failed:", 1)[1].split("]", 1)[0].strip()
                failed = int(tail) if tail.isdigit() else None
        elif parts[1] == "worker":
            (workers if section == "workers" else old).append(int(parts[0]))
    return ProcState(reloads, failed, tuple(workers), tuple(old))


def parse_servers_state(text: str) -> dict[tuple[str, str], tuple[str, int, int]]:
    """(backend, server) -> (address, port, admin state) from `show servers state`."""
    found: dict[tuple[str, str], tuple[str, int, int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 19 or line.startswith("#") or not parts[0].isdigit():
            continue
        try:
            found[(parts[1], parts[3])] = (parts[4], int(parts[18]), int(parts[6]))
        except ValueError:
            continue
    return found


class HAProxyDataPlane:
    """A supervised HAProxy serving RoutingTables on loopback (see the module docstring).

    `http_port`/`https_port`: 0 picks a free port, None disables that listener (as for
    `simulator.proxy.Proxy`). `haproxy_bin`: the binary (default: `haproxy` on PATH or in
    /usr/sbin). `workdir`: where files go (default: a fresh temporary directory, removed by
    `stop`). `default_certificate`: (cert PEM, key PEM) for TLS clients whose SNI names no
    host of the table (default: a fresh self-signed one). `min_slots`: server slots per
    backend at least.
    """

    def __init__(self, http_port: int | None = 0, https_port: int | None = 0,
                 host: str = "127.0.0.1", *, table: RoutingTable | None = None,
                 haproxy_bin: str | None = None, workdir: str | None = None,
                 default_certificate: tuple[bytes, bytes] | None = None,
                 min_slots: int = 4, connect_timeout: float = 5.0,
                 upstream_timeout: float = 60.0, client_timeout: float = 60.0,
                 hard_stop_after: float = 30.0, nbthread: int | None = 2,
                 reload_timeout: float = 15.0) -> None:
        self.host = host
        self._ports = {"http": http_port, "https": https_port}
        self._initial = table or RoutingTable()
        self._workdir_arg = workdir
        self._default_certificate = default_certificate
        self._base_settings = HAProxySettings(
            min_slots=min_slots, connect_timeout=connect_timeout,
            server_timeout=upstream_timeout, client_timeout=client_timeout,
            keep_alive_timeout=client_timeout, hard_stop_after=hard_stop_after,
            nbthread=nbthread)
        self.reload_timeout = reload_timeout

        # what tests and benchmarks look at
        self.reloads = 0  # configuration reloads after start (master-worker `reload`)
        self.runtime_updates = 0  # tables applied through the runtime API alone
        self.rejected = 0  # configurations `haproxy -c` refused
        self.last_error: str | None = None
        self.last_rejected_config: str | None = None
        self.skipped_certificates: list[str] = []
        self.applied_version = -1
        self.processed_version = -1

        # Found now, so a missing binary is a clear error before anything starts.
        self.binary: str | None = find_binary("haproxy", haproxy_bin)
        self.workdir: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.config_text = ""
        self._owns_workdir = False
        self._table = RoutingTable()
        self._settings = self._base_settings
        self._backends: dict[str, _BackendState] = {}
        self._capacity: dict[str, int] = {}
        self._cert_files: dict[str, str] = {}
        self._crt_generation = 0
        self._update_count = 0
        self._worker_pids: set[int] = set()
        self._addresses: dict[str, tuple[str, int]] = {}
        self._cond = threading.Condition()
        self._pending: RoutingTable | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._log_file: object | None = None

    # -- paths ------------------------------------------------------------------------------

    def _path(self, name: str) -> str:
        assert self.workdir is not None
        return os.path.join(self.workdir, name)

    @property
    def config_path(self) -> str:
        return self._path("haproxy.cfg")

    @property
    def master_socket(self) -> str:
        return self._path("master.sock")

    @property
    def admin_socket(self) -> str:
        return self._path("admin.sock")

    @property
    def log_path(self) -> str:
        return self._path("haproxy.log")

    @property
    def http_address(self) -> tuple[str, int] | None:
        return self._addresses.get("http")

    @property
    def https_address(self) -> tuple[str, int] | None:
        return self._addresses.get("https")

    @property
    def table(self) -> RoutingTable:
        """The table in force."""
        return self._table

    @property
    def worker_pids(self) -> set[int]:
        """The current worker processes (after the last reload)."""
        return set(self._worker_pids)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start haproxy with the initial table and wait until it serves."""
        await asyncio.get_running_loop().run_in_executor(None, self._start_sync)

    async def stop(self) -> None:
        """Stop the update thread and haproxy (in-flight requests are cut), leave no process
        and remove the private directory."""
        await asyncio.get_running_loop().run_in_executor(None, self._stop_sync)

    async def __aenter__(self) -> HAProxyDataPlane:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _start_sync(self) -> None:
        with self._cond:
            self._stopping = False
        self._worker_pids, self._capacity, self._cert_files = set(), {}, {}
        if self._workdir_arg:
            os.makedirs(self._workdir_arg, exist_ok=True)
            self.workdir = self._workdir_arg
        else:
            self.workdir = tempfile.mkdtemp(prefix="ingress-sim-haproxy-")
            self._owns_workdir = True
        os.makedirs(self._path("certificates"), exist_ok=True)
        try:
            self._launch()
        except BaseException:
            self._stop_sync()
            raise
        self._thread = threading.Thread(target=self._run, name="haproxy-updates", daemon=True)
        self._thread.start()

    def _launch(self) -> None:
        for scheme, port in self._ports.items():
            if port is not None:
                self._addresses[scheme] = (self.host, port or free_port(self.host))
        cert_pem, key_pem = self._default_certificate or generate_self_signed()
        default_pem = self._path("default.pem")
        _write_private(default_pem, cert_pem.rstrip(b"\n") + b"\n" + key_pem)
        self._base_settings = dataclasses.replace(
            self._base_settings, http_bind=self._addresses.get("http"),
            https_bind=self._addresses.get("https"), admin_socket=self.admin_socket,
            default_certificate=default_pem)
        # A refused initial table is recorded like any other: haproxy starts empty.
        first = self._initial
        text, settings = self._render(first)
        problem = self._check()
        if problem is not None:
            self._refuse(first, text, settings, problem)
            first = RoutingTable(version=-1)
            text, settings = self._render(first)
            problem = self._check()
            if problem is not None:
                raise HAProxyError(f"haproxy refuses even an empty configuration: {problem}")
        os.replace(self._path("next.cfg"), self.config_path)
        self._commit(first, text, settings)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 (closed by _stop_sync)
        assert self.binary is not None
        self.process = subprocess.Popen(
            [self.binary, "-W", "-S", f"{self.master_socket},mode,600", "-f", self.config_path],
            stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT,
            cwd=self.workdir, start_new_session=True)
        self._wait_ready(None)
        self._processed(first, applied=True)
        if first is not self._initial:
            self.processed_version = self._initial.version

    def _stop_sync(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(self.reload_timeout + 10)
            self._thread = None
        proc = self.process
        if proc is not None:
            pids = set(self._worker_pids)
            with contextlib.suppress(OSError):
                state = self._show_proc()
                pids.update(state.workers + state.old_workers)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # master-worker: hard stop of every worker
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            # Workers exit with their master; make sure (by pid: they are ours).
            deadline = time.monotonic() + 5
            for pid in sorted(pids):
                while _is_haproxy(pid) and time.monotonic() < deadline:
                    time.sleep(0.02)
                if _is_haproxy(pid):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
            self.process = None
        if self._log_file is not None:
            self._log_file.close()  # type: ignore[attr-defined]
            self._log_file = None
        if self._owns_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self._owns_workdir = False

    # -- updates ----------------------------------------------------------------------------

    def update(self, table: RoutingTable) -> None:
        """Serve `table` from now on (asynchronously; a burst keeps only the latest; a table
        given before `start` is applied once haproxy runs)."""
        with self._cond:
            self._pending = table
            self._cond.notify_all()

    def wait_applied(self, version: int, timeout: float = 10.0) -> bool:
        """Block until a table with at least `version` is in force; False on timeout."""
        return self._wait(lambda: self.applied_version >= version, timeout)

    def wait_processed(self, version: int, timeout: float = 10.0) -> bool:
        """Block until a table with at least `version` was applied or refused."""
        return self._wait(lambda: self.processed_version >= version, timeout)

    def wait_for_version(self, version: int, timeout: float = 30.0) -> bool:
        """`wait_applied` under the name the nginx data plane uses."""
        return self.wait_applied(version, timeout)

    async def wait_for_version_async(self, version: int, timeout: float = 30.0) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            None, self.wait_applied, version, timeout)

    def _wait(self, predicate: object, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)  # type: ignore[arg-type]

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or self._pending is not None)
                if self._stopping:
                    return
                table, self._pending = self._pending, None
            assert table is not None
            try:
                self._apply(table)
            except Exception as exc:  # keep serving the last good configuration
                log.exception("haproxy: applying table version %s failed", table.version)
                self._processed(table, applied=False, error=f"{type(exc).__name__}: {exc}")

    def _processed(self, table: RoutingTable, applied: bool, error: str | None = None) -> None:
        with self._cond:
            if error is not None:
                self.last_error = error
            if applied:
                self.applied_version = table.version
            self.processed_version = table.version
            self._cond.notify_all()

    def _apply(self, table: RoutingTable) -> None:
        self._update_count += 1
        if self._fits(table):
            commands = self._runtime_commands(table)
            if not commands:
                self._table = table
                self._processed(table, applied=True)
                return
            try:
                self._runtime_apply(commands)
            except (OSError, HAProxyError) as exc:
                log.warning("haproxy: runtime update failed (%s); reloading", exc)
                self._backends = {}  # the live state is unknown now: only a reload fixes it
            else:
                self._table = table
                self.runtime_updates += 1
                self._processed(table, applied=True)
                return
        self._reload(table)

    # -- runtime API ------------------------------------------------------------------------

    def _fits(self, table: RoutingTable) -> bool:
        """Whether `table` differs from the applied one in endpoints only, and every backend
        has enough slots that were free before this update."""
        if skeleton(table) != skeleton(self._table):
            return False
        for backend in _backends(table):
            state = self._backends.get(backend.name)
            if state is None:
                return False
            wanted = {ep.hostport for ep in backend.endpoints}
            kept = sum(1 for s in state.slots if s is not None and s.hostport in wanted)
            free = sum(1 for s in state.slots if s is None)
            if len(wanted) - kept > free:
                return False
        return True

    def _runtime_commands(self, table: RoutingTable) -> list[tuple[str, str, _Slot | None]]:
        """(backend id, server, desired slot) per slot to change; updates the slot model
        (the caller applies the commands or reloads, which rebuilds the model)."""
        adds: list[tuple[str, str, _Slot | None]] = []
        removes: list[tuple[str, str, _Slot | None]] = []
        for backend in _backends(table):
            state = self._backends[backend.name]
            drain = drained(backend)
            wanted = {ep.hostport: (ep, d) for ep, d in zip(backend.endpoints, drain,
                                                                    strict=True)}
            placed: set[str] = set()
            for i, slot in enumerate(state.slots):
                if slot is None:
                    continue
                if slot.hostport not in wanted:
                    state.slots[i] = None
                    state.freed[i] = self._update_count
                    removes.append((state.id, _server(i), None))
                    continue
                placed.add(slot.hostport)
                drain_now = wanted[slot.hostport][1]
                if drain_now != slot.drain:
                    slot.drain = drain_now
                    adds.append((state.id, _server(i), slot))
            for hostport, (ep, d) in wanted.items():
                if hostport in placed:
                    continue
                free = [i for i, s in enumerate(state.slots) if s is None
                        and state.freed[i] != self._update_count]
                i = min(free, key=lambda k: (state.freed[k], k))
                slot = state.slots[i] = _Slot(hostport, ep.address, ep.port, d)
                adds.append((state.id, _server(i), slot))
        return adds + removes  # new endpoints first: a backend never runs dry mid-swap

    def _runtime_apply(self, commands: list[tuple[str, str, _Slot | None]]) -> None:
        lines: list[str] = []
        for backend, server, slot in commands:
            target = f"{backend}/{server}"
            if slot is None:
                lines.append(f"set server {target} state maint")
            else:
                lines.append(f"set server {target} addr {slot.address} port {slot.port}")
                lines.append(f"set server {target} state {'drain' if slot.drain else 'ready'}")
        batch: list[str] = []
        size = 0
        for line in lines:
            if batch and size + len(line) > CLI_BATCH:
                cli_command(self.admin_socket, "; ".join(batch))
                batch, size = [], 0
            batch.append(line)
            size += len(line) + 2
        if batch:
            cli_command(self.admin_socket, "; ".join(batch))
        touched = sorted({backend for backend, _, _ in commands})
        query = "; ".join(f"show servers state {b}" for b in touched) \
            if len(touched) <= 20 else "show servers state"
        live = parse_servers_state(cli_command(self.admin_socket, query))
        for backend, server, slot in commands:
            found = live.get((backend, server))
            if found is None:
                raise HAProxyError(f"{backend}/{server} is not in `show servers state`")
            address, port, admin = found
            if slot is None:
                ok = bool(admin & ADMIN_FORCED_MAINT)
            else:
                ok = (address == slot.address and port == slot.port
                      and not admin & ADMIN_FORCED_MAINT
                      and bool(admin & ADMIN_FORCED_DRAIN) == slot.drain)
            if not ok:
                raise HAProxyError(f"{backend}/{server} is {found}, expected {slot}")

    # -- reloads ----------------------------------------------------------------------------

    def _render(self, table: RoutingTable) -> tuple[str, HAProxySettings]:
        """Write certificates and the crt-list; render and write `next.cfg`."""
        cert_files: dict[str, str] = {}
        skipped: list[str] = []
        for cert in table.certificates:
            cid = certificate_id(cert)
            path = self._cert_files.get(cid)
            if path is None:
                try:
                    server_context(cert.cert_pem, cert.key_pem)
                except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                    skipped.append(f"{cert.source or ','.join(cert.hosts)}: {exc}")
                    continue
                path = self._path(os.path.join("certificates", f"{cid}.pem"))
                _write_private(path, cert.cert_pem.rstrip(b"\n") + b"\n" + cert.key_pem)
            cert_files[cid] = path
        self.skipped_certificates = skipped
        capacity = {}
        for backend in _backends(table):
            capacity[backend.name] = max(self._capacity.get(backend.name, 0),
                                         2 * len(backend.endpoints))
        self._crt_generation += 1
        settings = dataclasses.replace(
            self._base_settings, certificates=cert_files, slots=capacity,
            crt_list=self._path(f"crt-list.{self._crt_generation}.txt"))
        if settings.https_bind is not None:
            with open(settings.crt_list, "w", encoding="utf-8") as f:
                f.write(render_crt_list(table, settings))
        text = render_haproxy_cfg(table, settings)
        with open(self._path("next.cfg"), "w", encoding="utf-8") as f:
            f.write(text)
        return text, settings

    def _check(self) -> str | None:
        """None when `haproxy -c` accepts next.cfg, else its complaint."""
        assert self.binary is not None
        try:
            done = subprocess.run([self.binary, "-c", "-f", self._path("next.cfg")],
                                  stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=60, cwd=self.workdir)
        except subprocess.TimeoutExpired:
            return "haproxy -c timed out"
        if done.returncode == 0:
            return None
        output = (done.stdout + done.stderr).decode("utf-8", "replace")
        alerts = [line.strip() for line in output.splitlines() if "ALERT" in line]
        return "\n".join(alerts or [output.strip()]) or f"exit status {done.returncode}"

    def _reload(self, table: RoutingTable) -> None:
        previous_text = self.config_text
        text, settings = self._render(table)
        problem = self._check()
        if problem is not None:
            self._refuse(table, text, settings, problem)
            return
        before = self._show_proc()
        os.replace(self._path("next.cfg"), self.config_path)
        with contextlib.suppress(OSError):  # the master closes the CLI as it re-executes
            cli_command(self.master_socket, "reload")
        try:
            self._wait_ready(before)
        except HAProxyError as exc:
            with open(self.config_path, "w", encoding="utf-8") as f:
                f.write(previous_text)  # the next reload must not pick up the bad file
            self._processed(table, applied=False, error=f"reload failed: {exc}")
            return
        self.reloads += 1
        self._commit(table, text, settings)
        self._processed(table, applied=True)

    def _refuse(self, table: RoutingTable, text: str, settings: HAProxySettings,
                problem: str) -> None:
        """`haproxy -c` refused `text`: keep it for inspection, record why."""
        self.rejected += 1
        self.last_rejected_config = text
        os.replace(self._path("next.cfg"), self._path("rejected.cfg"))
        if settings.https_bind is not None:
            with contextlib.suppress(OSError):
                os.remove(settings.crt_list)
        log.warning("haproxy: table version %s refused: %s", table.version, problem)
        self._processed(table, applied=False,
                        error=f"table version {table.version} refused by haproxy -c: {problem}")

    def _commit(self, table: RoutingTable, text: str, settings: HAProxySettings) -> None:
        """The configuration `text` (from `settings`) is in force: rebuild the slot model
        and forget files only older configurations used."""
        self._table = table
        self.config_text = text
        self._settings = settings
        self._backends = {}
        for name, plan in plan_backends(table, settings).items():
            drain = drained(plan.backend)
            slots: list[_Slot | None] = [None] * plan.capacity
            for i, ep in enumerate(plan.backend.endpoints):
                slots[i] = _Slot(ep.hostport, ep.address, ep.port, drain[i])
            self._backends[name] = _BackendState(plan.id, slots, [-1] * plan.capacity)
            self._capacity[name] = plan.capacity
        for name in [n for n in self._capacity if n not in self._backends]:
            del self._capacity[name]
        self._cert_files = dict(settings.certificates)
        keep = set(self._cert_files.values()) | {settings.crt_list}
        for directory in (self._path("certificates"), self._path("")):
            for name in os.listdir(directory):
                path = os.path.join(directory, name)
                if (name.endswith(".pem") and directory != self._path("")
                        or name.startswith("crt-list.")) and path not in keep:
                    with contextlib.suppress(OSError):
                        os.remove(path)

    def _show_proc(self) -> ProcState:
        return parse_show_proc(cli_command(self.master_socket, "show proc", 2.0))

    def _wait_ready(self, before: ProcState | None) -> None:
        """Wait until the master lists a worker started after `before` (None: any worker, at
        start) that answers on the master CLI; fail when the master counts a failed
        reload."""
        deadline = time.monotonic() + self.reload_timeout
        last: object = "no answer yet"
        while time.monotonic() < deadline:
            proc = self.process
            if proc is None or proc.poll() is not None:
                raise HAProxyError(f"haproxy exited ({proc.returncode if proc else None}): "
                                   f"{self._log_tail()}")
            try:
                state = self._show_proc()
                last = state
                fresh = [w for w in state.workers if w not in self._worker_pids]
                if before is not None:
                    if (state.failed or 0) > (before.failed or 0):
                        raise HAProxyError(f"the new worker did not start: {self._log_tail()}")
                    if (state.reloads or 0) <= (before.reloads or 0):
                        fresh = []
                if fresh:
                    info = cli_command(self.master_socket, f"@!{fresh[0]} show info", 2.0)
                    if "Pid:" in info:
                        self._worker_pids = set(state.workers)
                        return
            except OSError as exc:
                last = exc
            time.sleep(0.005)
        raise HAProxyError(f"haproxy did not get ready in {self.reload_timeout:.0f}s "
                           f"({last}): {self._log_tail()}")

    def _log_tail(self, lines: int = 8) -> str:
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        return " | ".join(data.strip().splitlines()[-lines:])


def _backends(table: RoutingTable) -> list[Backend]:
    """Each backend of the table once (first occurrence), rules first, then the default."""
    seen: dict[str, Backend] = {}
    for routes in table.hosts:
        for rule in routes.paths:
            seen.setdefault(rule.backend.name, rule.backend)
    if table.default_backend is not None:
        seen.setdefault(table.default_backend.name, table.default_backend)
    return list(seen.values())


def _server(slot: int) -> str:
    return f"ep{slot + 1}"


def _is_haproxy(pid: int) -> bool:
    """Whether `pid` is a live (not zombie) haproxy process: a worker pid is only signalled
    while it still names an haproxy, never a process that reused the number."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        try:
            os.kill(pid, 0)  # no /proc (not Linux): trust the pid
        except OSError:
            return False
        return True
    name, _, rest = stat.partition("(")[2].rpartition(")")
    return name == "haproxy" and rest.strip()[:1] not in ("Z", "X")


def _write_private(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
