"""`--target simulator`: the embedded cluster with the reference controller and proxy, on a
thread of the pytest process (default) or as a `python -m simulator up` child process
(`--simulator-process`)."""

from __future__ import annotations

import json
import os
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

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self._tmp = tempfile.TemporaryDirectory(prefix="conformance-sim-")
        self._thread: Any = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, progress: Any) -> TargetInfo:
        workdir = Path(self._tmp.name)
        kubeconfig = workdir / "kubeconfig"
        if self.options.simulator_process:
            progress("starting `python -m simulator up` ...")
            ready = self._start_process(workdir, kubeconfig)
            mode = "process"
        else:
            progress("starting the simulator in-process ...")
            from simulator.up import SimulatorThread  # the target may import it; cases never

            self._thread = SimulatorThread().start(START_TIMEOUT_S)
            sim = self._thread.simulator
            sim.apiserver.write_kubeconfig(kubeconfig)
            ready = sim.ready_info(kubeconfig)
            mode = "thread"
        return TargetInfo(
            name=self.name, kubeconfig=str(kubeconfig), http_address=ready["http"],
            https_address=ready["https"], ingress_class=ready["ingress_class"],
            controller=CONTROLLER, version=package_version(),
            prestop_seconds=self.options.prestop_seconds or PRESTOP_SECONDS,
            details={"mode": mode, "apiserver": ready["apiserver"]})

    def _start_process(self, workdir: Path, kubeconfig: Path) -> dict[str, Any]:
        ready_file = workdir / "ready.json"
        log = open(workdir / "simulator.log", "wb")  # noqa: SIM115 - lives as long as the child
        self._process = subprocess.Popen(
            [sys.executable, "-m", "simulator", "up", "--kubeconfig", str(kubeconfig),
             "--ready-file", str(ready_file)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready_file.exists():
            if self._process.poll() is not None:
                raise TargetError("`python -m simulator up` exited with status "
                                  f"{self._process.returncode}; its log: {workdir}/simulator.log")
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
