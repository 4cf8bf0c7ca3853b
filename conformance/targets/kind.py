"""`--target kind`: a real Ingress controller in a throwaway cluster.

`--provider kind` (default) creates a kind cluster whose one node maps the host's
127.0.0.1:80 and :443 to the node's ports 80 and 443 (`extraPortMappings`), so the entry
addresses are on localhost; `--provider k3s` runs k3s in Docker through testcontainers'
k3s module instead, for machines with Docker but without kind (the entry addresses are then
the ports Docker publishes). Then:

1. the suite's echo image is loaded into the cluster when the host's Docker has it (else the
   node pulls it when the first case needs it);
2. the chosen controller (`--controller ingress-nginx|traefik|haproxy-ingress`) is installed
   from the pinned manifests in fixtures/controllers/ (versions, sources and flags in the
   README.md beside each), its IngressClass becomes the cluster's only default class, and
   the target waits, showing progress, until its Deployment is rolled out and a probe
   Ingress has a status address and its HTTP entry point answers;
3. after the run, when a case failed, the controller's logs, its pods and the cluster's
   events go to `controller-logs/` in the report folder (`kind export logs` too);
4. the cluster is deleted, unless `--keep-cluster`.

Every command goes through one `Runner`, and the commands, the kind cluster configuration
and the controller table are pure data, so tests check them without Docker.
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..harness.manifests import DEFAULT_CLASS_ANNOTATION, ECHO_IMAGE
from .base import Target, TargetError, TargetInfo

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "controllers"
KIND_VERSION = "v0.30.0"  # the kind CLI CI installs; its default node image is Kubernetes 1.34
K3S_IMAGE = "rancher/k3s:v1.32.2-k3s1"
CLUSTER_NAME = "ingress-conformance"
PROVIDERS = ("kind", "k3s")
ROLLOUT_TIMEOUT_S = 300
READY_TIMEOUT_S = 120.0
PROBE_NAMESPACE = "default"
PROBE_NAME = "conformance-kind-probe"
NODE_LABEL = "ingress-ready"  # the manifests' nodeSelector: the node with the host ports

INSTALL_DOCKER = ("install Docker Engine (https://docs.docker.com/engine/install/) or Docker "
                  "Desktop, start it and check with `docker info`")
INSTALL_KIND = (f"install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation, "
                f"e.g. `go install sigs.k8s.io/kind@{KIND_VERSION}`), or use --provider k3s, "
                "which needs only Docker")
INSTALL_KUBECTL = "install kubectl (https://kubernetes.io/docs/tasks/tools/)"
WITHOUT_DOCKER = ("Without Docker, the targets simulator, nginx, haproxy and traefik still "
                  "work, and --target kubeconfig runs against a cluster you already have")


@dataclass(frozen=True)
class Controller:
    """One installable controller: where its manifests are and how to tell it is up."""

    name: str
    version: str
    manifests: tuple[str, ...]  # relative to fixtures/controllers, applied in order
    namespace: str
    deployment: str
    ingress_class: str
    controller: str  # the IngressClass's spec.controller
    baseline: str  # relative to fixtures/controllers
    wait_jobs: bool = False  # Jobs the install needs finished (ingress-nginx's webhook certs)
    prestop_seconds: int = 10

    def manifest_paths(self, fixtures: Path = FIXTURES) -> list[Path]:
        return [fixtures / m for m in self.manifests]


CONTROLLERS: dict[str, Controller] = {c.name: c for c in (
    Controller("ingress-nginx", "v1.11.2", ("ingress-nginx/deploy.yaml",), "ingress-nginx",
               "ingress-nginx-controller", "nginx", "k8s.io/ingress-nginx",
               "ingress-nginx/baseline.yaml", wait_jobs=True),
    Controller("traefik", "v3.7.13", ("traefik/kind/deploy.yaml",), "traefik", "traefik",
               "traefik", "traefik.io/ingress-controller", "traefik/baseline.yaml",
               prestop_seconds=5),
    Controller("haproxy-ingress", "v0.15.0", ("haproxy-ingress/deploy.yaml",),
               "haproxy-ingress", "haproxy-ingress", "haproxy",
               "haproxy-ingress.github.io/controller", "haproxy-ingress/baseline.yaml"),
)}


def controller(name: str | None) -> Controller:
    try:
        return CONTROLLERS[name or "ingress-nginx"]
    except KeyError:
        raise TargetError(f"unknown --controller {name!r}; choose one of: "
                          f"{', '.join(CONTROLLERS)}") from None


def baseline_path(name: str, fixtures: Path = FIXTURES) -> Path:
    return fixtures / controller(name).baseline


# ---- the runner: every command the target runs goes through it --------------------------------


@dataclass
class Step:
    """One command, what it is for (shown as progress) and where its output goes."""

    argv: list[str]
    what: str
    output: Path | None = None  # stdout (and stderr) to this file instead of the error text
    check: bool = True
    timeout: float | None = None


class Runner:
    """Runs commands; tests substitute a recording one."""

    def run(self, step: Step) -> subprocess.CompletedProcess[str]:
        try:
            if step.output is not None:
                step.output.parent.mkdir(parents=True, exist_ok=True)
                with open(step.output, "w") as out:
                    done = subprocess.run(step.argv, stdout=out, stderr=subprocess.STDOUT,
                                          text=True, timeout=step.timeout,
                                          stdin=subprocess.DEVNULL)
            else:
                done = subprocess.run(step.argv, capture_output=True, text=True,
                                      timeout=step.timeout, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            if step.check:
                raise TargetError(f"{step.what} failed: `{' '.join(step.argv)}`: {exc}") from exc
            return subprocess.CompletedProcess(step.argv, 1, "", str(exc))
        if step.check and done.returncode != 0:
            tail = "".join(((done.stderr or "") + (done.stdout or "")).splitlines(True)[-20:])
            raise TargetError(f"{step.what} failed (exit {done.returncode}): "
                              f"`{' '.join(step.argv)}`\n{tail}")
        return done


# ---- prerequisites ---------------------------------------------------------------------------


def check_prerequisites(provider: str, runner: Runner,
                        which: Callable[[str], str | None] | None = None) -> None:
    """Raise TargetError saying what to install when Docker, kind or kubectl is missing."""
    which = which or shutil.which
    if provider not in PROVIDERS:
        raise TargetError(f"unknown --provider {provider!r}; choose one of: "
                          f"{', '.join(PROVIDERS)}")
    missing = []
    if which("docker") is None:
        missing.append(f"Docker is not installed: {INSTALL_DOCKER}")
    if provider == "kind" and which("kind") is None:
        missing.append(f"kind is not installed: {INSTALL_KIND}")
    if which("kubectl") is None:
        missing.append(f"kubectl is not installed: {INSTALL_KUBECTL}")
    if provider == "k3s":
        try:
            import testcontainers.core.container  # noqa: F401
        except ImportError:
            missing.append("the testcontainers package is not installed: "
                           "pip install 'testcontainers>=4.0'")
    if which("docker") is not None:
        done = runner.run(Step(["docker", "info", "--format", "{{.ServerVersion}}"],
                               "asking Docker for its version", check=False, timeout=30))
        if done.returncode != 0:
            said = ((done.stderr or "") + (done.stdout or "")).strip().splitlines()
            missing.append("Docker is installed but its daemon does not answer (`docker info`: "
                           f"{said[0] if said else 'no output'}): start it, or "
                           f"{INSTALL_DOCKER}")
    if missing:
        raise TargetError(f"--target kind --provider {provider} cannot run: "
                          + "; ".join(missing) + f". {WITHOUT_DOCKER}.")


# ---- pure: the cluster configuration and the commands ------------------------------------------


def split_address(address: str | None, default_port: int) -> tuple[str, int]:
    if not address:
        return "127.0.0.1", default_port
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise TargetError(f"expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def kind_config(http: tuple[str, int] = ("127.0.0.1", 80),
                https: tuple[str, int] = ("127.0.0.1", 443)) -> dict[str, Any]:
    """One control-plane node labelled ingress-ready=true whose ports 80 and 443 (where the
    controllers' hostPorts are) are the host's `http` and `https` addresses."""
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "nodes": [{
            "role": "control-plane",
            "kubeadmConfigPatches": [
                "kind: InitConfiguration\nnodeRegistration:\n  kubeletExtraArgs:\n"
                f"    node-labels: \"{NODE_LABEL}=true\"\n"],
            "extraPortMappings": [
                {"containerPort": 80, "hostPort": http[1], "listenAddress": http[0],
                 "protocol": "TCP"},
                {"containerPort": 443, "hostPort": https[1], "listenAddress": https[0],
                 "protocol": "TCP"},
            ],
        }],
    }


@dataclass
class Plan:
    """What one run does; every command below is a function of it."""

    provider: str
    controller: Controller
    workdir: Path
    cluster_name: str = CLUSTER_NAME
    http: tuple[str, int] = ("127.0.0.1", 80)
    https: tuple[str, int] = ("127.0.0.1", 443)
    keep_cluster: bool = False
    fixtures: Path = FIXTURES
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def config_path(self) -> Path:
        return self.workdir / "kind-config.yaml"

    def kubectl(self, *args: str) -> list[str]:
        return ["kubectl", "--kubeconfig", str(self.kubeconfig), *args]


def create_commands(plan: Plan) -> list[Step]:
    """kind: create the cluster from `plan.config_path` (written by `write_config`)."""
    if plan.provider != "kind":
        return []  # k3s: testcontainers starts the container
    return [Step(["kind", "create", "cluster", "--name", plan.cluster_name, "--config",
                  str(plan.config_path), "--kubeconfig", str(plan.kubeconfig),
                  "--wait", "120s"], f"creating kind cluster {plan.cluster_name}",
                 timeout=600)]


def load_image_commands(plan: Plan, image: str = ECHO_IMAGE,
                        present: bool = False) -> list[Step]:
    """Load the echo image when the host's Docker has it; else the node pulls it."""
    if plan.provider != "kind" or not present:
        return []
    return [Step(["kind", "load", "docker-image", image, "--name", plan.cluster_name],
                 f"loading {image} into the cluster", timeout=300)]


def install_commands(plan: Plan) -> list[Step]:
    """Label the node (k3s), apply the manifests, wait for the install, and make the
    controller's IngressClass the cluster's only default class."""
    c = plan.controller
    steps = []
    if plan.provider == "k3s":
        steps.append(Step(plan.kubectl("label", "node", "--all", f"{NODE_LABEL}=true",
                                       "--overwrite"), "labelling the node ingress-ready"))
    for path in c.manifest_paths(plan.fixtures):
        steps.append(Step(plan.kubectl("apply", "-f", str(path)),
                          f"installing {c.name} {c.version} ({path.name})", timeout=120))
    if c.wait_jobs:
        steps.append(Step(plan.kubectl("wait", "--namespace", c.namespace,
                                       "--for=condition=complete", "job", "--all",
                                       f"--timeout={ROLLOUT_TIMEOUT_S}s"),
                          f"waiting for {c.name}'s install jobs",
                          timeout=ROLLOUT_TIMEOUT_S + 30))
    steps.append(Step(plan.kubectl("rollout", "status", "--namespace", c.namespace,
                                   f"deployment/{c.deployment}",
                                   f"--timeout={ROLLOUT_TIMEOUT_S}s"),
                      f"waiting for deployment/{c.deployment} to roll out",
                      timeout=ROLLOUT_TIMEOUT_S + 30))
    steps.append(Step(plan.kubectl("annotate", "ingressclass", "--all",
                                   f"{DEFAULT_CLASS_ANNOTATION}-"),
                      "clearing other default IngressClasses"))
    steps.append(Step(plan.kubectl("annotate", "ingressclass", c.ingress_class,
                                   f"{DEFAULT_CLASS_ANNOTATION}=true", "--overwrite"),
                      f"making IngressClass {c.ingress_class} the default"))
    return steps


def collect_commands(plan: Plan, dest: Path) -> list[Step]:
    """What goes into the report folder when a case failed (none of it may fail the run)."""
    c = plan.controller
    steps = [
        Step(plan.kubectl("logs", "--namespace", c.namespace, f"deployment/{c.deployment}",
                          "--all-containers", "--timestamps", "--tail=-1"),
             f"collecting {c.name}'s log", output=dest / f"{c.name}.log", check=False,
             timeout=120),
        Step(plan.kubectl("logs", "--namespace", c.namespace, f"deployment/{c.deployment}",
                          "--all-containers", "--timestamps", "--previous"),
             f"collecting {c.name}'s previous log", output=dest / f"{c.name}.previous.log",
             check=False, timeout=120),
        Step(plan.kubectl("describe", "pods", "--namespace", c.namespace),
             "describing the controller's pods", output=dest / "pods.txt", check=False,
             timeout=120),
        Step(plan.kubectl("get", "events", "--all-namespaces", "--sort-by=.lastTimestamp"),
             "collecting the cluster's events", output=dest / "events.txt", check=False,
             timeout=120),
    ]
    if plan.provider == "kind":
        steps.append(Step(["kind", "export", "logs", str(dest / "kind"), "--name",
                           plan.cluster_name], "exporting kind's node logs",
                          output=dest / "kind-export.txt", check=False, timeout=300))
    return steps


def delete_commands(plan: Plan) -> list[Step]:
    if plan.provider != "kind" or plan.keep_cluster:
        return []
    return [Step(["kind", "delete", "cluster", "--name", plan.cluster_name],
                 f"deleting kind cluster {plan.cluster_name}", check=False, timeout=300)]


def plan_commands(plan: Plan, image_present: bool = False) -> list[Step]:
    """Everything a run does with commands, in order (without the failure-only collection)."""
    return (create_commands(plan) + load_image_commands(plan, present=image_present)
            + install_commands(plan) + delete_commands(plan))


def write_config(plan: Plan) -> Path:
    plan.workdir.mkdir(parents=True, exist_ok=True)
    plan.config_path.write_text(yaml.safe_dump(kind_config(plan.http, plan.https),
                                               sort_keys=False))
    return plan.config_path


def probe_ingress(ingress_class: str) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": PROBE_NAME},
            "spec": {"ingressClassName": ingress_class, "rules": [{
                "host": "probe.kind.conformance.test",
                "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                    "service": {"name": PROBE_NAME, "port": {"number": 80}}}}]}}]}}


# ---- the target ------------------------------------------------------------------------------


class KindTarget(Target):
    name = "kind"

    def __init__(self, options: Any, runner: Runner | None = None) -> None:
        super().__init__(options)
        self.runner = runner or Runner()
        self.controller = controller(getattr(options, "controller", None))
        self.provider = getattr(options, "provider", None) or "kind"
        self.plan: Plan | None = None
        self._k3s: Any = None
        self._created = False
        self._say: Callable[[str], None] = lambda message: None

    def _run(self, steps: list[Step]) -> None:
        for step in steps:
            self._say(f"{step.what} ...")
            self.runner.run(step)

    def make_plan(self) -> Plan:
        options = self.options
        workdir = Path(tempfile.mkdtemp(prefix="conformance-kind-"))
        return Plan(provider=self.provider, controller=self.controller, workdir=workdir,
                    http=split_address(options.http_address, 80),
                    https=split_address(options.https_address, 443),
                    keep_cluster=bool(getattr(options, "keep_cluster", False)))

    def start(self, progress: Any) -> TargetInfo:
        self._say = progress
        check_prerequisites(self.provider, self.runner)
        if self.provider == "k3s" and getattr(self.options, "keep_cluster", False):
            raise TargetError("--keep-cluster works with --provider kind only: testcontainers "
                              "removes the k3s container when the run ends")
        plan = self.plan = self.make_plan()
        c = plan.controller
        progress(f"{c.name} {c.version} in a {plan.provider} cluster (work folder "
                 f"{plan.workdir})")
        if plan.provider == "kind":
            write_config(plan)
            self._created = True  # from here on, stop() deletes whatever kind left
            self._run(create_commands(plan))
            present = self.runner.run(Step(["docker", "image", "inspect", ECHO_IMAGE],
                                           "looking for the echo image", check=False,
                                           timeout=60)).returncode == 0
            if not present:
                progress(f"{ECHO_IMAGE} is not in the host's Docker: the node pulls it")
            self._run(load_image_commands(plan, present=present))
            entry_http, entry_https = plan.http, plan.https
        else:
            entry_http, entry_https = self._start_k3s(plan, progress)
        self._run(install_commands(plan))
        self._wait_ready(plan, entry_http)
        return TargetInfo(
            name=self.name, kubeconfig=str(plan.kubeconfig),
            http_address=f"{entry_http[0]}:{entry_http[1]}",
            https_address=f"{entry_https[0]}:{entry_https[1]}",
            ingress_class=c.ingress_class, controller=c.controller,
            version=self.options.controller_version or c.version,
            prestop_seconds=self.options.prestop_seconds or c.prestop_seconds,
            details={"provider": plan.provider, "cluster": plan.cluster_name,
                     "controller": c.name, "manifests": [str(p) for p in
                                                         c.manifest_paths(plan.fixtures)],
                     "workdir": str(plan.workdir), "keep_cluster": plan.keep_cluster})

    def _start_k3s(self, plan: Plan, progress: Any) -> tuple[tuple[str, int], tuple[str, int]]:
        try:
            from testcontainers.community.k3s import K3SContainer
        except ImportError:  # testcontainers < 4.10
            from testcontainers.k3s import K3SContainer

        progress(f"starting {K3S_IMAGE} through testcontainers ...")
        container = K3SContainer(K3S_IMAGE).with_exposed_ports(80, 443)
        self._k3s = container
        container.start()
        self._created = True
        plan.workdir.mkdir(parents=True, exist_ok=True)
        plan.kubeconfig.write_text(container.config_yaml())
        host = container.get_container_host_ip()
        return ((host, int(container.get_exposed_port(80))),
                (host, int(container.get_exposed_port(443))))

    def _wait_ready(self, plan: Plan, address: tuple[str, int]) -> None:
        """Until the controller wrote a probe Ingress's status and its HTTP entry answers."""
        import kubernetes

        client = kubernetes.config.new_client_from_config(config_file=str(plan.kubeconfig))
        try:
            net = kubernetes.client.NetworkingV1Api(client)
            net.create_namespaced_ingress(PROBE_NAMESPACE,
                                          probe_ingress(plan.controller.ingress_class))
            self._say("waiting for the controller to publish the probe Ingress's status ...")
            started = time.monotonic()
            shown = started
            while True:
                ingress = net.read_namespaced_ingress(PROBE_NAME, PROBE_NAMESPACE)
                lb = ingress.status.load_balancer if ingress.status else None
                published = lb is not None and bool(lb.ingress)
                if published and _answers(*address):
                    break
                now = time.monotonic()
                if now - started > READY_TIMEOUT_S:
                    c = plan.controller
                    what = (f"answer at {address[0]}:{address[1]}" if published else
                            "publish the status of a probe Ingress")
                    raise TargetError(
                        f"{c.name} did not {what} within {READY_TIMEOUT_S:.0f}s; its log: "
                        f"kubectl --kubeconfig {plan.kubeconfig} logs -n {c.namespace} "
                        f"deployment/{c.deployment}")
                if now - shown > 5:
                    shown = now
                    self._say(f"still waiting ({now - started:.0f}s): status "
                              f"{'published' if published else 'not yet published'}")
                time.sleep(0.5)
            net.delete_namespaced_ingress(PROBE_NAME, PROBE_NAMESPACE)
        finally:
            client.close()

    def finished(self, report: dict[str, Any], folders: list[Path]) -> None:
        """After the reports are written: on a failure, the controller's logs go with them."""
        if self.plan is None or not folders:
            return
        failed = any(case.get("outcome") == "failed" for case in report.get("cases", []))
        if not failed and report.get("gate", {}).get("passed", True):
            return
        dest = folders[0] / "controller-logs"
        if dest.exists():
            shutil.rmtree(dest)
        for step in collect_commands(self.plan, dest):
            self.runner.run(step)
        for other in folders[1:]:
            if other.is_dir():
                shutil.copytree(dest, other / "controller-logs", dirs_exist_ok=True)

    def stop(self) -> None:
        plan = self.plan
        if plan is None or not self._created:
            return
        self._created = False
        if plan.keep_cluster:
            self._say(f"kept the cluster: KUBECONFIG={plan.kubeconfig}; delete it with "
                      f"`kind delete cluster --name {plan.cluster_name}`")
            return
        self._run(delete_commands(plan))
        if self._k3s is not None:
            self._k3s.stop()
            self._k3s = None


def _answers(host: str, port: int) -> bool:
    """An HTTP answer of any status (Docker's port proxy accepts connections even when
    nothing listens behind it, so a TCP connect proves nothing)."""
    conn = http.client.HTTPConnection(host, port, timeout=2.0)
    try:
        conn.request("GET", "/", headers={"Host": "probe.kind.conformance.test"})
        return conn.getresponse().status > 0
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
