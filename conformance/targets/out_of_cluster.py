"""What the targets that run a real controller out of cluster against the simulator share
(`--target traefik`: traefik.py, `--target haproxy-ingress`: haproxy_ingress.py).

`ControllerBinary` finds the controller's binary: `--X-bin FILE`, else the command on PATH
(where the controller allows it), else the cached build of the pinned version
(`~/.cache/ingress-conformance/NAME/VERSION/`), else it has to be built there with the
machine's Go.

`OutOfClusterTarget` runs it: the simulator starts on a thread as for `--target simulator`
and writes its kubeconfig; the controller's IngressClass is created as the cluster's only
default class (the simulator's `reference` class loses its default annotation: created in
the same second, it would win the tie on its name); the controller starts as a child process
with its log in a work directory kept after the run; the target is ready when a probe Ingress
has its status address from the controller and the HTTP port answers. Each controller fills
in its names, its command line and whatever else it needs in the cluster or on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import Target, TargetError, TargetInfo

DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
STOP_TIMEOUT_S = 20.0
PROBE_NAMESPACE = "default"


def is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


@dataclass(frozen=True)
class ControllerBinary:
    """Where a controller's binary is, and what to say when there is none."""

    title: str  # as messages name the controller: "Traefik"
    flag: str  # the option that gives the binary: "--traefik-bin"
    cache_name: str  # ~/.cache/ingress-conformance/CACHE_NAME/VERSION/
    binary_name: str  # the file name in the cache
    version: str  # the pinned version built when no binary is given
    on_path: str | None  # the command looked up on PATH; None: PATH is not searched
    version_args: tuple[str, ...]  # how the binary says its version ...
    version_field: str  # ... on a line `FIELD: VERSION`
    version_unknown: str | None  # what it says there when it does not know its version
    go_version: str  # the oldest Go that builds `version`
    bin_hint: str  # what to pass with `flag`, after /path/to/BINARY_NAME

    @property
    def option(self) -> str:
        """The flag's attribute in the target options: `--traefik-bin` -> traefik_bin."""
        return self.flag.removeprefix("--").replace("-", "_")

    def cache_dir(self, environ: dict[str, str] | None = None) -> Path:
        env = os.environ if environ is None else environ
        base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "ingress-conformance" / self.cache_name

    def cached_binary(self, version: str | None = None,
                      environ: dict[str, str] | None = None) -> Path:
        return self.cache_dir(environ) / (version or self.version) / self.binary_name

    def find_binary(self, explicit: str | None, environ: dict[str, str] | None = None,
                    version: str | None = None) -> Path | None:
        """`explicit` (which must then be an executable file), else the command on PATH
        (when `on_path` names one), else the cached build of `version`; None when there is
        none (then it has to be built)."""
        env = os.environ if environ is None else environ
        if explicit:
            path = Path(explicit).expanduser()
            if not path.exists():
                raise TargetError(f"{self.flag} {explicit}: no such file")
            if not is_executable(path):
                raise TargetError(f"{self.flag} {explicit}: not an executable file")
            return path
        if self.on_path:
            found = shutil.which(self.on_path, path=env.get("PATH", os.defpath))
            if found:
                return Path(found)
        cached = self.cached_binary(version, env)
        return cached if is_executable(cached) else None

    def find_go(self, environ: dict[str, str] | None = None) -> str:
        """The Go that builds the binary, or what to do without one."""
        env = os.environ if environ is None else environ
        go = shutil.which("go", path=env.get("PATH", os.defpath))
        if go is None:
            on_path = f", no `{self.on_path}` on PATH" if self.on_path else ""
            raise TargetError(
                f"no {self.title} binary: none given with {self.flag}{on_path} and no cached "
                f"build at {self.cached_binary(self.version, env)}; and Go is not installed to "
                f"build {self.title} {self.version} there. Install Go ({self.go_version} or "
                f"newer, https://go.dev/doc/install) or pass {self.flag} "
                f"/path/to/{self.binary_name} {self.bin_hint}")
        return go

    def binary_version(self, binary: Path) -> str:
        """What the binary says on its `FIELD: VERSION` line, or "unknown" (also when it
        says `version_unknown` there)."""
        try:
            out = subprocess.run([str(binary), *self.version_args], capture_output=True,
                                 text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return "unknown"
        found = re.search(rf"^{self.version_field}:\s*(\S+)", out, re.M)
        return found.group(1) if found and found.group(1) != self.version_unknown else "unknown"


def read_build_record(binary: Path) -> dict[str, Any]:
    """The build.json next to a binary the suite built ({} for any other binary)."""
    build_json = binary.parent / "build.json"
    return json.loads(build_json.read_text()) if build_json.is_file() else {}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def ingress_class_manifest(name: str, controller: str) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": name, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
            "spec": {"controller": controller}}


def descendants(pid: int, proc: Path = Path("/proc")) -> list[int]:
    """The processes below `pid` (e.g. haproxy's master and workers: HAProxy Ingress starts
    the master in a process group of its own, so the controller's group does not hold it),
    from /proc; [] where there is no /proc."""
    parents: dict[int, int] = {}
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()
        parents[int(stat.parent.name)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def kill(pid: int) -> None:
    """SIGKILL `pid` if it is still there (it may have exited meanwhile: a reused pid within
    the same second is unlikely enough here)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


class OutOfClusterTarget(Target):
    """A controller binary run as a child process against the simulator on a thread.

    A subclass sets the class attributes below and fills in `controller_args` (the command
    line), and where it needs them `check_host`, `prepare`, `configure` and `popen_options`.
    """

    binary_spec: ControllerBinary
    controller: str  # the IngressClass's spec.controller
    ingress_class: str
    start_timeout_s: float  # for the simulator, and then for the probe Ingress
    prestop_seconds: int
    poll_interval_s: float  # between looks at the probe Ingress
    not_ready: str  # "{title} {not_ready} within {start_timeout_s}s"
    log_name: str  # the controller's log in the work directory
    output_name: str  # where the child's stdout and stderr go (may be the log)
    log_label: str  # "last lines of {log_label}", formatted with log=the log's path
    log_tail_lines: int
    port_names: tuple[str, ...] = ("http", "https")  # free loopback ports, as self.ports
    probe_before_start: bool = False  # create the probe Ingress before the controller starts
    kill_descendants: bool = False  # stop() kills what the controller left behind

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        # Kept after the run: the controller's log is worth reading when a case fails.
        self.workdir = Path(tempfile.mkdtemp(prefix=f"conformance-{self.name}-"))
        self._thread: Any = None
        self._process: subprocess.Popen[bytes] | None = None
        self._client: Any = None
        self.log_path = self.workdir / self.log_name
        self.kubeconfig = self.workdir / "kubeconfig"
        self.ports: dict[str, int] = {}

    @property
    def probe_name(self) -> str:
        return f"conformance-{self.name}-probe"

    # ---- hooks ------------------------------------------------------------------------

    def check_host(self) -> None:
        """Before the binary is found (or built): what else the controller needs."""

    def prepare(self, binary: Path) -> None:
        """Once the binary is known: whatever it needs beside it or in the work directory."""

    def describe(self, binary: Path, version: str) -> str:
        """The progress line that names what runs."""
        return f"{self.binary_spec.title} {version}: {binary}"

    def configure(self, api_client: Any, net: Any) -> None:
        """After the IngressClass, before the controller starts: what else it needs in the
        cluster."""

    def controller_args(self, apiserver: str) -> list[str]:
        """The controller's command-line flags (after the binary)."""
        raise NotImplementedError

    def popen_options(self) -> dict[str, Any]:
        """More keyword arguments of subprocess.Popen for the controller (cwd, env, ...)."""
        return {}

    def details(self, binary: Path, apiserver: str, args: list[str],
                build: dict[str, Any]) -> dict[str, Any]:
        """TargetInfo.details."""
        return {"binary": str(binary), "apiserver": apiserver, "args": args,
                "log": str(self.log_path), "build": build}

    def build(self, dest: Path, progress: Any, go: str) -> dict[str, Any]:
        """Build the pinned version into `dest`; returns its build record."""
        raise NotImplementedError

    # ---- the binary ---------------------------------------------------------------------

    def binary(self, progress: Any) -> tuple[Path, dict[str, Any]]:
        spec = self.binary_spec
        found = spec.find_binary(getattr(self.options, spec.option, None))
        if found is not None:
            return found, read_build_record(found)
        go = spec.find_go()
        dest = spec.cached_binary(spec.version)
        on_path = ", PATH" if spec.on_path else ""
        progress(f"no {spec.title} binary ({spec.flag}{on_path}, {dest}): building "
                 f"{spec.version} from source once, into the cache")
        return dest, self.build(dest, progress, go)

    # ---- start / stop -------------------------------------------------------------------

    def start(self, progress: Any) -> TargetInfo:
        self.check_host()
        binary, build = self.binary(progress)
        self.prepare(binary)
        version = self.binary_spec.binary_version(binary)
        progress(self.describe(binary, version))
        progress("starting the simulator in-process ...")
        from simulator.up import SimulatorThread  # the target may import it; cases never

        self._thread = SimulatorThread().start(self.start_timeout_s)
        sim = self._thread.simulator
        sim.apiserver.write_kubeconfig(self.kubeconfig)
        apiserver = sim.apiserver.url
        import kubernetes

        self._client = kubernetes.config.new_client_from_config(
            config_file=str(self.kubeconfig))
        net = kubernetes.client.NetworkingV1Api(self._client)
        net.create_ingress_class(ingress_class_manifest(self.ingress_class, self.controller))
        # One default class, as in a cluster with only this controller installed.
        net.patch_ingress_class("reference", {"metadata": {"annotations": {
            DEFAULT_CLASS_ANNOTATION: None}}})
        self.ports = {name: free_port() for name in self.port_names}
        self.configure(self._client, net)
        if self.probe_before_start:  # its first status pass may then cover it
            self._create_probe(net)
        args = [str(binary), *self.controller_args(apiserver)]
        progress(f"starting {self.binary_spec.title} (log: {self.log_path}) ...")
        output = self.workdir / self.output_name
        out = open(output, "wb")  # noqa: SIM115 - lives as long as the child
        self._process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, **self.popen_options())
        if not self.probe_before_start:
            self._create_probe(net)
        self._wait_ready(net, self.ports["http"])
        return TargetInfo(
            name=self.name, kubeconfig=str(self.kubeconfig),
            http_address=f"127.0.0.1:{self.ports['http']}",
            https_address=f"127.0.0.1:{self.ports['https']}", ingress_class=self.ingress_class,
            controller=self.controller, version=version,
            prestop_seconds=self.options.prestop_seconds or self.prestop_seconds,
            details=self.details(binary, apiserver, args[1:], build))

    def _failed(self, what: str) -> TargetError:
        tail = ""
        for path in dict.fromkeys((self.log_path, self.workdir / self.output_name)):
            if path.is_file():
                lines = path.read_text(errors="replace").splitlines(True)
                tail += "".join(lines[-self.log_tail_lines:])
        label = self.log_label.format(log=self.log_path)
        return TargetError(f"{what}; last lines of {label}:\n{tail}")

    def _create_probe(self, net: Any) -> None:
        probe = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                 "metadata": {"name": self.probe_name},
                 "spec": {"ingressClassName": self.ingress_class, "rules": [{
                     "host": f"probe.{self.name}.conformance.test",
                     "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                         "service": {"name": self.probe_name, "port": {"number": 80}}}}]}}]}}
        net.create_namespaced_ingress(PROBE_NAMESPACE, probe)

    def _wait_ready(self, net: Any, http_port: int) -> None:
        """Until the controller has written the probe Ingress's status and the HTTP port
        answers, then delete the probe."""
        title = self.binary_spec.title
        deadline = time.monotonic() + self.start_timeout_s
        assert self._process is not None
        while True:
            if self._process.poll() is not None:
                raise self._failed(f"{title} exited with status {self._process.returncode}")
            ingress = net.read_namespaced_ingress(self.probe_name, PROBE_NAMESPACE)
            lb = ingress.status.load_balancer if ingress.status else None
            if lb is not None and lb.ingress and answers(http_port):
                break
            if time.monotonic() > deadline:
                raise self._failed(f"{title} {self.not_ready} within "
                                   f"{self.start_timeout_s:.0f}s")
            time.sleep(self.poll_interval_s)
        net.delete_namespaced_ingress(self.probe_name, PROBE_NAMESPACE)

    def stop(self) -> None:
        if self._process is not None:
            children = descendants(self._process.pid) if self.kill_descendants else []
            if self._process.poll() is None:
                # SIGTERM: the controller takes its address off the Ingresses it serves
                # (and stops what it started).
                self._process.terminate()
                try:
                    self._process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            for pid in children:  # whatever the controller left behind
                kill(pid)
            self._process = None
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
