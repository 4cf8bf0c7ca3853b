"""`--target haproxy-ingress`: the real HAProxy Ingress controller, out of cluster, against
the simulator, driving the local haproxy.

The simulator (API server, cluster, reference controller and proxy) starts on a thread as for
`--target simulator`; then:

1. the IngressClass `haproxy` (controller `haproxy-ingress.github.io/controller`) is created
   and made the cluster's only default class (the simulator's `reference` class loses its
   default annotation), so Ingresses without a class get it at admission, as in a cluster
   with only HAProxy Ingress installed; the reference controller serves only classes naming
   it, so the two never serve the same Ingress;
2. in the namespace `haproxy-ingress`: the global ConfigMap (HTTP, HTTPS, stats, healthz
   and Prometheus ports: free loopback ports instead of 80/443/1936/10253) and the Service
   the controller publishes in the Ingress status (`--publish-service`: a LoadBalancer
   Service whose status says 127.0.0.1 and localhost, as a Service fronting the controller);
3. the controller starts with `--kubeconfig`, `--local-filesystem-prefix` (a private work
   directory, which also holds `rootfs` and the `haproxy` it runs) and `--master-worker`
   (haproxy is the controller's child and stops with it); fixtures/controllers/
   haproxy-ingress/out-of-cluster/README.md gives every flag and why;
4. the target is ready when a probe Ingress has its status address and haproxy answers on
   the HTTP port. HAProxy Ingress v0.14 writes Ingress status every 60 s (not on change),
   so this takes up to a minute.

The binary: `--haproxy-ingress-bin FILE` (with the controller's `rootfs/` beside it, else
the cached build's), else the cached build of the pinned version
(`~/.cache/ingress-conformance/haproxy-ingress/VERSION/`), else it is built there from the Go
module with the machine's Go (see haproxy_ingress_build.py). The haproxy it drives:
`--haproxy-bin FILE`, else `haproxy` on PATH, else /usr/sbin/haproxy.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from . import out_of_cluster
from .base import TargetError
from .haproxy_ingress_build import BINARY_NAME
from .out_of_cluster import ControllerBinary, OutOfClusterTarget, is_executable

VERSION = "v0.14.7"  # the pinned version built when no binary is given
CONTROLLER = "haproxy-ingress.github.io/controller"
INGRESS_CLASS = "haproxy"
NAMESPACE = "haproxy-ingress"  # the controller's "pod" namespace: ConfigMap, Service, leases
CONFIGMAP = "haproxy-ingress"
PUBLISH_SERVICE = "haproxy-ingress"
POD_NAME = "haproxy-ingress-out-of-cluster"
START_TIMEOUT_S = 150.0  # status is written every 60 s
# Changes reach haproxy after --wait-before-update (200 ms) and --rate-limit-update (0.5/s).
PRESTOP_SECONDS = 5
HAPROXY_FALLBACK = "/usr/sbin/haproxy"

BINARY = ControllerBinary(
    title="HAProxy Ingress", flag="--haproxy-ingress-bin", cache_name="haproxy-ingress",
    binary_name=BINARY_NAME, version=VERSION,
    # Not PATH: the binary needs the `rootfs/` of its own version, which a binary on PATH
    # does not say.
    on_path=None,
    version_args=("--version",), version_field="Release",  # `Release: v0.14.7`
    version_unknown="UNKNOWN", go_version="1.18",
    bin_hint="(with the release's rootfs/ beside it)")
cache_dir = BINARY.cache_dir
cached_binary = BINARY.cached_binary
find_binary = BINARY.find_binary  # --haproxy-ingress-bin, else the cache
find_go = BINARY.find_go
binary_version = BINARY.binary_version


def find_rootfs(binary: Path, environ: dict[str, str] | None = None,
                version: str = VERSION) -> Path:
    """The controller's templates and reload scripts: `rootfs/` beside the binary, else the
    cached build's."""
    for candidate in (binary.parent / "rootfs", cached_binary(version, environ).parent / "rootfs"):
        if (candidate / "etc" / "templates" / "haproxy" / "haproxy.tmpl").is_file():
            return candidate
    raise TargetError(
        f"no rootfs/ for {binary}: out of cluster HAProxy Ingress reads its templates from "
        f"./rootfs; put the module's rootfs/ directory (github.com/jcmoraisjr/haproxy-ingress "
        f"{version}) beside the binary, or let the suite build {version} into "
        f"{cached_binary(version, environ).parent}")


def find_haproxy(explicit: str | None, environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if explicit:
        path = Path(explicit).expanduser()
        if not is_executable(path):
            raise TargetError(f"--haproxy-bin {explicit}: not an executable file")
        return path
    found = shutil.which("haproxy", path=env.get("PATH", os.defpath))
    if found:
        return Path(found)
    if is_executable(Path(HAPROXY_FALLBACK)):
        return Path(HAPROXY_FALLBACK)
    raise TargetError("HAProxy Ingress needs haproxy (2.2 or newer): install it (e.g. "
                      "`apt-get install haproxy`) or pass --haproxy-bin FILE")


# Where haproxy's Lua 5.3 looks for `require "json"` (haproxy-lua-http.lua, which every
# generated haproxy.cfg loads, needs it; the controller's image installs lua-json4).
LUA_JSON_PATHS = tuple(f"{base}/lua/5.3/{name}" for base in
                       ("/usr/local/share", "/usr/share", "/usr/local/lib")
                       for name in ("json.lua", "json/init.lua"))


def find_lua_json(paths: tuple[str, ...] = LUA_JSON_PATHS) -> Path:
    for candidate in paths:
        if Path(candidate).is_file():
            return Path(candidate)
    raise TargetError(
        "HAProxy Ingress's haproxy.cfg loads haproxy-lua-http.lua, which needs the Lua module "
        "`json` (its image installs lua-json4): install it, e.g. `apt-get install lua-json` "
        f"on Debian/Ubuntu (looked for {', '.join(paths)})")


def controller_args(kubeconfig: str | Path, prefix: str | Path, healthz_port: int,
                    ingress_class: str = INGRESS_CLASS) -> list[str]:
    """The controller's command-line flags for the conformance run (the README of
    fixtures/controllers/haproxy-ingress/out-of-cluster explains each)."""
    return [
        f"--kubeconfig={kubeconfig}",
        f"--local-filesystem-prefix={prefix}",
        f"--ingress-class={ingress_class}",
        f"--configmap={NAMESPACE}/{CONFIGMAP}",
        f"--publish-service={NAMESPACE}/{PUBLISH_SERVICE}",
        "--master-worker=true",
        f"--healthz-port={healthz_port}",
        "--watch-gateway=false",
        "--profiling=false",
        "--stats-collect-processing-period=0",
        "--v=2",
    ]


def config_map_data(ports: dict[str, int], host: str = "127.0.0.1") -> dict[str, str]:
    """The global ConfigMap: every listener on a free loopback port."""
    return {
        "http-port": str(ports["http"]),
        "https-port": str(ports["https"]),
        "stats-port": str(ports["stats"]),
        "healthz-port": str(ports["healthz"]),
        "prometheus-port": str(ports["prometheus"]),
        "bind-ip-addr-http": host,
        "bind-ip-addr-healthz": host,
        "bind-ip-addr-stats": host,
        "bind-ip-addr-prometheus": host,
        "bind-ip-addr-tcp": host,
    }


def ingress_class_manifest(name: str = INGRESS_CLASS) -> dict[str, Any]:
    return out_of_cluster.ingress_class_manifest(name, CONTROLLER)


def publish_service_manifest() -> dict[str, Any]:
    """The Service whose address the controller publishes in the Ingress status
    (`--publish-service`): a LoadBalancer Service fronting the controller, with no selector
    (nothing behind it in the simulated cluster); its status is set by publish_status()."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": PUBLISH_SERVICE, "namespace": NAMESPACE},
            "spec": {"type": "LoadBalancer", "ports": [
                {"name": "http", "port": 80, "protocol": "TCP"},
                {"name": "https", "port": 443, "protocol": "TCP"}]}}


def publish_status(host: str = "127.0.0.1") -> dict[str, Any]:
    """The publish Service's status, as a cloud load balancer would write it: the loopback
    address, and `localhost` as a hostname entry. The hostname matters: the reference
    controller clears `[{ip: 127.0.0.1}]` (its own address) on Ingresses it does not serve
    and no other existing class claims, so with the IP alone it would clear the status of
    an Ingress moved to an unknown class on HAProxy Ingress's behalf."""
    return {"status": {"loadBalancer": {"ingress": [{"ip": host}, {"hostname": "localhost"}]}}}


def kubernetes_service_manifest() -> dict[str, Any]:
    """`default/kubernetes`, which kube-apiserver keeps in every cluster (its bootstrap
    controller) and the simulator's API server does not have: HAProxy Ingress reads it at
    start to check that it reaches the API server ("error connecting to the apiserver:
    services \"kubernetes\" not found" otherwise)."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "ports": [
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}}


def _ensure_kubernetes_service(core: Any) -> None:
    import kubernetes

    try:
        core.read_namespaced_service("kubernetes", "default")
    except kubernetes.client.ApiException as exc:
        if exc.status != 404:
            raise
        core.create_namespaced_service("default", kubernetes_service_manifest())


class HAProxyIngressTarget(OutOfClusterTarget):
    name = "haproxy-ingress"
    binary_spec = BINARY
    controller = CONTROLLER
    ingress_class = INGRESS_CLASS
    start_timeout_s = START_TIMEOUT_S
    prestop_seconds = PRESTOP_SECONDS
    poll_interval_s = 0.2
    not_ready = "did not publish the probe Ingress's status and serve HTTP"
    # Kept after the run with the work directory: haproxy.cfg is worth reading too.
    log_name = output_name = "controller.log"
    log_label = "the controller's log ({log})"
    log_tail_lines = 20
    port_names = ("http", "https", "stats", "healthz", "prometheus", "controller")
    # Created before the controller starts: its first status pass may then cover it.
    probe_before_start = True
    # haproxy, if the controller left it behind.
    kill_descendants = True

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self.haproxy = Path()
        self.lua_json = Path()
        self.rootfs = Path()
        self.prefix = self.workdir / "fs"

    def check_host(self) -> None:
        self.haproxy = find_haproxy(getattr(self.options, "haproxy_bin", None))
        self.lua_json = find_lua_json()

    def prepare(self, binary: Path) -> None:
        self.rootfs = rootfs = find_rootfs(binary)
        workdir = self.workdir
        # The controller's working directory: ./rootfs (templates, reload scripts) and
        # bin/haproxy (it runs `haproxy` from PATH); its files go under ./fs.
        (workdir / "rootfs").symlink_to(rootfs.resolve())
        (workdir / "bin").mkdir()
        (workdir / "bin" / "haproxy").symlink_to(self.haproxy.resolve())
        # As upstream's `make run` (and the image's start.sh) do: the Lua scripts the
        # generated haproxy.cfg loads, under the prefix.
        shutil.copytree(rootfs / "etc" / "lua", self.prefix / "etc" / "haproxy" / "lua")

    def describe(self, binary: Path, version: str) -> str:
        return f"{super().describe(binary, version)}; haproxy: {self.haproxy}"

    def configure(self, api_client: Any, net: Any) -> None:
        import kubernetes

        core = kubernetes.client.CoreV1Api(api_client)
        _ensure_kubernetes_service(core)
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": NAMESPACE}})
        core.create_namespaced_config_map(NAMESPACE, {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CONFIGMAP},
            "data": config_map_data(self.ports)})
        core.create_namespaced_service(NAMESPACE, publish_service_manifest())
        core.patch_namespaced_service_status(PUBLISH_SERVICE, NAMESPACE, publish_status())

    def controller_args(self, apiserver: str) -> list[str]:
        return controller_args(self.kubeconfig, self.prefix, self.ports["controller"])

    def popen_options(self) -> dict[str, Any]:
        path = f"{self.workdir / 'bin'}{os.pathsep}{os.environ.get('PATH', os.defpath)}"
        # Its own process group: stop() can then end haproxy too if the controller did not.
        return {"cwd": self.workdir, "start_new_session": True,
                "env": dict(os.environ, POD_NAME=POD_NAME, POD_NAMESPACE=NAMESPACE, PATH=path)}

    def details(self, binary: Path, apiserver: str, args: list[str],
                build: dict[str, Any]) -> dict[str, Any]:
        return {"binary": str(binary), "rootfs": str(self.rootfs), "haproxy": str(self.haproxy),
                "lua_json": str(self.lua_json),
                "apiserver": apiserver, "args": args,
                "configmap": config_map_data(self.ports), "log": str(self.log_path),
                "haproxy_cfg": str(self.prefix / "etc" / "haproxy"), "build": build}

    def build(self, dest: Path, progress: Any, go: str) -> dict[str, Any]:
        from .haproxy_ingress_build import build_haproxy_ingress

        return build_haproxy_ingress(VERSION, dest, progress, go)
