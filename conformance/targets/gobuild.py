"""What building a controller from its Go module shares (traefik_build.py,
haproxy_ingress_build.py): a writable copy of the module, the build log next to the binary,
`go build` run with its output in that log and a progress line every 30 s, and the build
record (`build.json`) next to the binary, which the target reports in its details."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROGRESS_EVERY_S = 30.0

Progress = Callable[[str], None]


def copy_writable(src: Path, dest: Path) -> None:
    """The module cache is read-only; the build writes into its source tree."""
    shutil.copytree(src, dest, symlinks=True)
    for root, dirs, files in os.walk(dest):
        for name in dirs + files:
            path = Path(root, name)
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
    dest.chmod(dest.stat().st_mode | 0o200)


def start_build_log(dest: Path) -> Path:
    """An empty build.log beside `dest` (whose directory is made)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    log_path = dest.parent / "build.log"
    log_path.write_text("")
    return log_path


def run_logged(args: list[str], cwd: Path, env: dict[str, str], log_path: Path,
               timeout: float, tick: Callable[[], None]) -> int | None:
    """Run `args` with its output appended to `log_path` (after a `$ ARGS` line), calling
    `tick()` every PROGRESS_EVERY_S meanwhile; its status, or None when it took over
    `timeout` seconds (then it is killed)."""
    with open(log_path, "a") as log:
        log.write(f"$ {' '.join(args)}\n")
        log.flush()
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        done = threading.Event()

        def ticker() -> None:
            while not done.wait(PROGRESS_EVERY_S):
                tick()
        threading.Thread(target=ticker, daemon=True).start()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
        finally:
            done.set()


def seconds_since(started: float) -> float:
    """For the build record: seconds since `started` (time.monotonic()), to 0.1 s."""
    return round(time.monotonic() - started, 1)


def record_build(dest: Path, info: dict[str, Any], title: str,
                 progress: Progress) -> dict[str, Any]:
    """Write `info` (with version and build_seconds) to build.json beside `dest`, and say
    the build is done."""
    (dest.parent / "build.json").write_text(json.dumps(info, indent=2) + "\n")
    progress(f"built {title} {info['version']} in {info['build_seconds']:.0f}s: {dest}")
    return info
