"""Building the HAProxy Ingress controller for `--target haproxy-ingress` from its Go module.

The recipe is upstream's (Makefile, builder/Dockerfile) minus the container image:
`go mod download -json` the module (GOSUMDB=off: the checksum database does not know
v0.14.7, so the module's h1: hash is recorded in build.json instead), copy it to a writable
directory, and `CGO_ENABLED=0 go build -ldflags "-s -w -X .../pkg/version.RELEASE=..." ./pkg`
there (the controller's main package is `pkg/`, not `cmd/`). No patch is needed: every
dependency is served by the module proxy.

Out of cluster the controller reads its templates and reload scripts from `./rootfs`
(relative to its working directory, the upstream "local deployment" layout), so the module's
`rootfs/` is copied next to the binary; the target links it into the controller's work
directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from . import gobuild
from .base import TargetError

MODULE = "github.com/jcmoraisjr/haproxy-ingress"
REPOSITORY = "https://github.com/jcmoraisjr/haproxy-ingress"
VERSION_PKG = "github.com/jcmoraisjr/haproxy-ingress/pkg/version"
BINARY_NAME = "haproxy-ingress-controller"
BUILD_TIMEOUT_S = 1800.0


def go_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every go command: no checksum database (it does not know the
    module), -mod=mod (the module's go.sum is complete: nothing is added), no cgo (as
    upstream builds it)."""
    env = dict(os.environ if environ is None else environ)
    env.update({"GOSUMDB": "off", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"})
    return env


def ldflags(version: str, commit: str) -> str:
    return (f"-s -w -X {VERSION_PKG}.RELEASE={version} -X {VERSION_PKG}.COMMIT={commit} "
            f"-X {VERSION_PKG}.REPO={REPOSITORY}")


def _go(go: str, args: list[str], cwd: Path | None = None, timeout: float = 600.0) -> str:
    proc = subprocess.run([go, *args], cwd=cwd, env=go_env(), capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise TargetError(f"`go {' '.join(args)}` failed (status {proc.returncode}):\n"
                          f"{proc.stderr[-3000:]}")
    return proc.stdout


def download_module(go: str, module: str, version: str) -> dict:
    """`go mod download -json MODULE@VERSION`: its Dir, Sum (h1:) and Origin."""
    with tempfile.TemporaryDirectory() as empty:  # outside any module
        info = json.loads(_go(go, ["mod", "download", "-json", f"{module}@{version}"],
                              cwd=Path(empty)))
    if info.get("Error") or not info.get("Dir"):
        raise TargetError(f"go mod download {module}@{version}: {info.get('Error')}")
    return info


def _go_build(go: str, src: Path, version: str, commit: str, output: Path, log_path: Path,
              progress: gobuild.Progress, started: float) -> int:
    args = [go, "build", "-trimpath", "-ldflags", ldflags(version, commit), "-o", str(output),
            "./pkg"]

    def tick() -> None:
        progress(f"  still building ({time.monotonic() - started:.0f}s) ...")
    status = gobuild.run_logged(args, src, go_env(), log_path, BUILD_TIMEOUT_S, tick)
    if status is None:
        raise TargetError(f"building HAProxy Ingress took over {BUILD_TIMEOUT_S:.0f}s; "
                          f"see {log_path}")
    return status


def build_haproxy_ingress(version: str, dest: Path, progress: gobuild.Progress,
                          go: str = "go") -> dict:
    """Build HAProxy Ingress `version` into `dest` (an executable file) with its `rootfs/`
    beside it; returns what build.json records."""
    started = time.monotonic()
    log_path = gobuild.start_build_log(dest)
    progress(f"downloading the Go module {MODULE}@{version} ...")
    module = download_module(go, MODULE, version)
    commit = (module.get("Origin") or {}).get("Hash", "UNKNOWN")[:7] or "UNKNOWN"
    with tempfile.TemporaryDirectory(prefix="build-", dir=dest.parent) as tmp:
        src = Path(tmp) / "src"
        gobuild.copy_writable(Path(module["Dir"]), src)
        output = Path(tmp) / BINARY_NAME
        progress(f"building HAProxy Ingress {version} with {go} (about 1.5 minutes on 2 "
                 f"cores with an empty build cache; log: {log_path}) ...")
        status = _go_build(go, src, version, commit, output, log_path, progress, started)
        if status != 0:
            raise TargetError(f"building HAProxy Ingress {version} failed (status {status}); "
                              f"see {log_path}")
        rootfs = dest.parent / "rootfs"
        if rootfs.exists():
            shutil.rmtree(rootfs)
        shutil.copytree(src / "rootfs", rootfs)
        os.replace(output, dest)
    info = {"module": f"{MODULE}@{version}", "version": version, "sum": module.get("Sum"),
            "checksum_database": "off (sum.golang.org does not know this version; the h1: "
                                 "hash above is what the module proxy served)",
            "origin": module.get("Origin"), "go": _go(go, ["version"]).strip(),
            "build_seconds": gobuild.seconds_since(started), "patches": []}
    return gobuild.record_build(dest, info, "HAProxy Ingress", progress)
