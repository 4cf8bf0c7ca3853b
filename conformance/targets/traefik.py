"""`--target traefik`: the real Traefik binary, run out of cluster against the simulator.

The simulator (API server, cluster, reference controller and proxy) starts on a thread as for
`--target simulator`; then:

1. the IngressClass `traefik` (controller `traefik.io/ingress-controller`) is created and
   made the cluster's only default class (the simulator's `reference` class loses its
   default annotation: created in the same second, it would win the tie on its name), so
   the reference controller, which serves only classes naming it, leaves these Ingresses to
   Traefik, and Ingresses without a class are Traefik's too, as in a cluster with only
   Traefik installed;
2. Traefik starts with its Kubernetes Ingress provider pointed at the API server over plain
   HTTP (`--providers.kubernetesingress.endpoint`), entry points `web` and `websecure` on
   free loopback ports, and `ingressendpoint.ip=127.0.0.1` for the Ingress status
   (fixtures/controllers/traefik/README.md gives every flag and why);
3. the target is ready when a probe Ingress has its status address from Traefik and the
   entry points answer.

The binary: `--traefik-bin FILE`, else `traefik` on PATH, else the cached build of the pinned
version (`~/.cache/ingress-conformance/traefik/VERSION/traefik`), else it is built there from
the Go module with the machine's Go (see traefik_build.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .base import Target, TargetError, TargetInfo

VERSION = "v3.7.13"  # the pinned version built when no binary is given
CONTROLLER = "traefik.io/ingress-controller"
INGRESS_CLASS = "traefik"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
# Endpoint changes reach Traefik's configuration after its 2 s providersThrottleDuration.
PRESTOP_SECONDS = 5
PROBE_NAMESPACE = "default"
PROBE_NAME = "conformance-traefik-probe"


def cache_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ingress-conformance" / "traefik"


def cached_binary(version: str = VERSION, environ: dict[str, str] | None = None) -> Path:
    return cache_dir(environ) / version / "traefik"


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_binary(explicit: str | None, environ: dict[str, str] | None = None,
                version: str = VERSION) -> Path | None:
    """`explicit` (which must then be an executable file), else `traefik` on PATH, else the
    cached build of `version`; None when there is none (then it has to be built)."""
    env = os.environ if environ is None else environ
    if explicit:
        path = Path(explicit).expanduser()
        if not path.exists():
            raise TargetError(f"--traefik-bin {explicit}: no such file")
        if not _is_executable(path):
            raise TargetError(f"--traefik-bin {explicit}: not an executable file")
        return path
    on_path = shutil.which("traefik", path=env.get("PATH", os.defpath))
    if on_path:
        return Path(on_path)
    cached = cached_binary(version, env)
    return cached if _is_executable(cached) else None


def find_go(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    go = shutil.which("go", path=env.get("PATH", os.defpath))
    if go is None:
        raise TargetError(
            f"no Traefik binary: none given with --traefik-bin, no `traefik` on PATH and no "
            f"cached build at {cached_binary(VERSION, env)}; and Go is not installed to build "
            f"Traefik {VERSION} there. Install Go (1.26 or newer, https://go.dev/doc/install) "
            "or pass --traefik-bin /path/to/traefik (a Traefik v3 binary, e.g. from "
            "https://github.com/traefik/traefik/releases)")
    return go


def binary_version(binary: Path) -> str:
    """What `traefik version` says (`Version: v3.7.13`), or "unknown"."""
    try:
        out = subprocess.run([str(binary), "version"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    found = re.search(r"^Version:\s*(\S+)", out, re.M)
    return found.group(1) if found else "unknown"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def traefik_args(apiserver: str, http_port: int, https_port: int, log_file: str | Path,
                 host: str = "127.0.0.1", ingress_class: str = INGRESS_CLASS) -> list[str]:
    """Traefik's command-line flags for the conformance run (the README of
    fixtures/controllers/traefik explains each)."""
    return [
        f"--entrypoints.web.address={host}:{http_port}",
        f"--entrypoints.websecure.address={host}:{https_port}",
        "--entrypoints.websecure.http.tls=true",
        "--providers.kubernetesingress=true",
        f"--providers.kubernetesingress.endpoint={apiserver}",
        f"--providers.kubernetesingress.ingressclass={ingress_class}",
        f"--providers.kubernetesingress.ingressendpoint.ip={host}",
        "--providers.kubernetesingress.ingressendpoint.hostname=localhost",
        "--global.checknewversion=false",
        "--global.sendanonymoususage=false",
        "--log.level=INFO",
        f"--log.filepath={log_file}",
    ]


def ingress_class_manifest(name: str = INGRESS_CLASS) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": name, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
            "spec": {"controller": CONTROLLER}}


class TraefikTarget(Target):
    name = "traefik"

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        # Kept after the run: Traefik's log is worth reading when a case fails.
        self.workdir = Path(tempfile.mkdtemp(prefix="conformance-traefik-"))
        self._thread: Any = None
        self._process: subprocess.Popen[bytes] | None = None
        self._client: Any = None
        self.log_path = self.workdir / "traefik.log"

    # ---- the binary ---------------------------------------------------------------------

    def binary(self, progress: Any) -> tuple[Path, dict[str, Any]]:
        explicit = getattr(self.options, "traefik_bin", None)
        found = find_binary(explicit)
        if found is not None:
            build_json = found.parent / "build.json"
            build = json.loads(build_json.read_text()) if build_json.is_file() else {}
            return found, build
        go = find_go()
        from .traefik_build import build_traefik

        dest = cached_binary(VERSION)
        progress(f"no Traefik binary (--traefik-bin, PATH, {dest}): building {VERSION} "
                 "from source once, into the cache")
        return dest, build_traefik(VERSION, dest, progress, go)

    # ---- start / stop -------------------------------------------------------------------

    def start(self, progress: Any) -> TargetInfo:
        binary, build = self.binary(progress)
        version = binary_version(binary)
        progress(f"Traefik {version}: {binary}")
        workdir = self.workdir
        kubeconfig = workdir / "kubeconfig"
        progress("starting the simulator in-process ...")
        from simulator.up import SimulatorThread  # the target may import it; cases never

        self._thread = SimulatorThread().start(START_TIMEOUT_S)
        sim = self._thread.simulator
        sim.apiserver.write_kubeconfig(kubeconfig)
        apiserver = sim.apiserver.url
        import kubernetes

        self._client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
        net = kubernetes.client.NetworkingV1Api(self._client)
        net.create_ingress_class(ingress_class_manifest())
        # One default class, as in a cluster with only Traefik installed.
        net.patch_ingress_class("reference", {"metadata": {"annotations": {
            DEFAULT_CLASS_ANNOTATION: None}}})
        http_port, https_port = free_port(), free_port()
        args = [str(binary), *traefik_args(apiserver, http_port, https_port, self.log_path)]
        progress(f"starting Traefik (log: {self.log_path}) ...")
        out = open(workdir / "traefik.out", "wb")  # noqa: SIM115 - lives as long as the child
        self._process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        self._wait_ready(net, http_port)
        return TargetInfo(
            name=self.name, kubeconfig=str(kubeconfig), http_address=f"127.0.0.1:{http_port}",
            https_address=f"127.0.0.1:{https_port}", ingress_class=INGRESS_CLASS,
            controller=CONTROLLER, version=version,
            prestop_seconds=self.options.prestop_seconds or PRESTOP_SECONDS,
            details={"binary": str(binary), "apiserver": apiserver, "args": args[1:],
                     "log": str(self.log_path), "build": build})

    def _failed(self, what: str) -> TargetError:
        tail = ""
        for path in (self.log_path, self.workdir / "traefik.out"):
            if path.is_file():
                tail += "".join(path.read_text(errors="replace").splitlines(True)[-15:])
        return TargetError(f"{what}; last lines of Traefik's log:\n{tail}")

    def _wait_ready(self, net: Any, http_port: int) -> None:
        """Until Traefik has written the probe Ingress's status and its HTTP entry point
        answers, then delete the probe."""
        probe = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                 "metadata": {"name": PROBE_NAME},
                 "spec": {"ingressClassName": INGRESS_CLASS, "rules": [{
                     "host": "probe.traefik.conformance.test",
                     "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                         "service": {"name": PROBE_NAME, "port": {"number": 80}}}}]}}]}}
        net.create_namespaced_ingress(PROBE_NAMESPACE, probe)
        deadline = time.monotonic() + START_TIMEOUT_S
        assert self._process is not None
        while True:
            if self._process.poll() is not None:
                raise self._failed(f"Traefik exited with status {self._process.returncode}")
            ingress = net.read_namespaced_ingress(PROBE_NAME, PROBE_NAMESPACE)
            lb = ingress.status.load_balancer if ingress.status else None
            if lb is not None and lb.ingress and _answers(http_port):
                break
            if time.monotonic() > deadline:
                raise self._failed(f"Traefik did not pick up the probe Ingress within "
                                   f"{START_TIMEOUT_S:.0f}s")
            time.sleep(0.1)
        net.delete_namespaced_ingress(PROBE_NAME, PROBE_NAMESPACE)

    def stop(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._process = None
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._thread is not None:
            self._thread.stop()
            self._thread = None


def _answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False
