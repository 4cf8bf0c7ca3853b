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

from pathlib import Path
from typing import Any

from . import out_of_cluster
from .out_of_cluster import ControllerBinary, OutOfClusterTarget

VERSION = "v3.7.13"  # the pinned version built when no binary is given
CONTROLLER = "traefik.io/ingress-controller"
INGRESS_CLASS = "traefik"
START_TIMEOUT_S = 60.0
# Endpoint changes reach Traefik's configuration after its 2 s providersThrottleDuration.
PRESTOP_SECONDS = 5

BINARY = ControllerBinary(
    title="Traefik", flag="--traefik-bin", cache_name="traefik", binary_name="traefik",
    version=VERSION, on_path="traefik",
    # `traefik version` says `Version: v3.7.13`.
    version_args=("version",), version_field="Version", version_unknown=None,
    go_version="1.26",
    bin_hint="(a Traefik v3 binary, e.g. from https://github.com/traefik/traefik/releases)")
cache_dir = BINARY.cache_dir
cached_binary = BINARY.cached_binary
find_binary = BINARY.find_binary  # --traefik-bin, else `traefik` on PATH, else the cache
find_go = BINARY.find_go
binary_version = BINARY.binary_version


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
    return out_of_cluster.ingress_class_manifest(name, CONTROLLER)


class TraefikTarget(OutOfClusterTarget):
    name = "traefik"
    binary_spec = BINARY
    controller = CONTROLLER
    ingress_class = INGRESS_CLASS
    start_timeout_s = START_TIMEOUT_S
    prestop_seconds = PRESTOP_SECONDS
    poll_interval_s = 0.1
    not_ready = "did not pick up the probe Ingress"
    # Traefik writes its log to --log.filepath; what it prints goes to traefik.out.
    log_name = "traefik.log"
    output_name = "traefik.out"
    log_label = "Traefik's log"
    log_tail_lines = 15

    def controller_args(self, apiserver: str) -> list[str]:
        return traefik_args(apiserver, self.ports["http"], self.ports["https"], self.log_path)

    def build(self, dest: Path, progress: Any, go: str) -> dict[str, Any]:
        from .traefik_build import build_traefik

        return build_traefik(VERSION, dest, progress, go)
