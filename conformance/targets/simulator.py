"""`--target simulator`: the embedded cluster with the reference controller and proxy, on a
thread of the pytest process (default) or as a `python -m simulator up` child process
(`--simulator-process`). `--target nginx` and `--target haproxy`: the same, with the
reference controller driving a real nginx / HAProxy process instead of the in-process proxy
(`simulator up --data-plane NAME`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from .base import Target, TargetError, TargetInfo

START_TIMEOUT_S = 60.0
CONTROLLER = "simulator.dev/reference-ingress-controller"
PRESTOP_SECONDS = 2  # the reference controller and proxy converge in well under a second


def package_version() -> str:
    try:
        return metadata.version("ingress-conformance-sim")
    except metadata.PackageNotFoundError:
        return "unknown"


class SimulatorTarget(Target):
    name = "simulator"
    data_plane = "builtin"

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self._tmp = tempfile.TemporaryDirectory(prefix="conformance-sim-")
        self._thread: Any = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, progress: Any) -> TargetInfo:
        workdir = Path(self._tmp.name)
        kubeconfig = workdir / "kubeconfig"
        if self.options.simulator_process:
            progress(f"starting `python -m simulator up --data-plane {self.data_plane}` ...")
            ready = self._start_process(workdir, kubeconfig)
            mode = "process"
        else:
            progress(f"starting the simulator in-process (data plane {self.data_plane}) ...")
            from simulator.dataplanes.base import BinaryNotFound
            from simulator.up import (  # the target may import it; cases never
                SimulatorOptions,
                SimulatorThread,
            )

            options = SimulatorOptions(data_plane=self.data_plane,
                                       nginx_bin=self.options.nginx_bin,
                                       haproxy_bin=self.options.haproxy_bin)
            try:
                self._thread = SimulatorThread(options).start(START_TIMEOUT_S)
            except BinaryNotFound as exc:
                raise TargetError(str(exc)) from exc
            sim = self._thread.simulator
            sim.apiserver.write_kubeconfig(kubeconfig)
            ready = sim.ready_info(kubeconfig)
            mode = "thread"
        return TargetInfo(
            name=self.name, kubeconfig=str(kubeconfig), http_address=ready["http"],
            https_address=ready["https"], ingress_class=ready["ingress_class"],
            controller=CONTROLLER, version=self.version(),
            prestop_seconds=self.options.prestop_seconds or PRESTOP_SECONDS,
            details={"mode": mode, "apiserver": ready["apiserver"],
                     "data_plane": self.data_plane})

    def version(self) -> str:
        return package_version()

    def _start_process(self, workdir: Path, kubeconfig: Path) -> dict[str, Any]:
        ready_file = workdir / "ready.json"
        log = open(workdir / "simulator.log", "wb")  # noqa: SIM115 - lives as long as the child
        command = [sys.executable, "-m", "simulator", "up", "--kubeconfig", str(kubeconfig),
                   "--ready-file", str(ready_file), "--data-plane", self.data_plane]
        for flag, value in (("--nginx-bin", self.options.nginx_bin),
                            ("--haproxy-bin", self.options.haproxy_bin)):
            if value:
                command += [flag, value]
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready_file.exists():
            if self._process.poll() is not None:
                tail = (workdir / "simulator.log").read_text(errors="replace")[-600:]
                raise TargetError("`python -m simulator up` exited with status "
                                  f"{self._process.returncode}: {tail.strip()}")
            if time.monotonic() > deadline:
                raise TargetError(f"the simulator was not ready within {START_TIMEOUT_S:.0f}s")
            time.sleep(0.05)
        return json.loads(ready_file.read_text())

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
        if self._process is not None:
            if self._process.poll() is None:
                os.kill(self._process.pid, signal.SIGTERM)
                try:
                    self._process.wait(20)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._process = None
        self._tmp.cleanup()


def proxy_version(binary: str, explicit: str | None) -> str:
    """`nginx/1.22.1`, `HAProxy 2.6.12`: what the binary says about itself."""
    path = explicit or shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
    if path is None:
        return f"{binary} (not found)"
    try:
        proc = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10)
    except OSError:
        return binary
    found = re.search(r"(nginx/\S+|HAProxy version \S+)", proc.stdout + proc.stderr)
    return found.group(1).replace("HAProxy version ", "haproxy/") if found else binary


class NginxTarget(SimulatorTarget):
    """The reference controller driving a real nginx (simulator/dataplanes/nginx.py)."""

    name = "nginx"
    data_plane = "nginx"

    def version(self) -> str:
        return f"{package_version()} + {proxy_version('nginx', self.options.nginx_bin)}"


class HAProxyTarget(SimulatorTarget):
    """The reference controller driving a real HAProxy (simulator/dataplanes/haproxy.py)."""

    name = "haproxy"
    data_plane = "haproxy"

    def version(self) -> str:
        return f"{package_version()} + {proxy_version('haproxy', self.options.haproxy_bin)}"
