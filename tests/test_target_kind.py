"""`--target kind`: everything that needs no Docker. The cluster configuration (also decoded
by the real kind CLI when one is on this machine), the commands the target runs (through a
recording runner), the message when Docker or kind is missing, every controller's manifests
applied to the simulator's API server (with the `kubernetes` client and with kubectl), and
the baselines. Creating a cluster needs Docker: not tested here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import kubernetes.utils
import pytest
import yaml

from conformance.harness.manifests import DEFAULT_CLASS_ANNOTATION, ECHO_IMAGE
from conformance.targets import TARGETS, TargetError, TargetOptions, kind, make_target
from simulator.apiserver.app import ApiServer
from tests.conftest import kubectl_binaries

from .baselines import assert_sound

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "controllers"


class Recorder(kind.Runner):
    """Records every command; answers from `results` (argv prefix -> returncode, output)."""

    def __init__(self, results: dict[tuple[str, ...], tuple[int, str]] | None = None) -> None:
        self.steps: list[kind.Step] = []
        self.results = results or {}

    def run(self, step: kind.Step) -> subprocess.CompletedProcess[str]:
        self.steps.append(step)
        code, out = 0, ""
        for prefix, answer in self.results.items():
            if tuple(step.argv[:len(prefix)]) == prefix:
                code, out = answer
        if step.output is not None:
            step.output.parent.mkdir(parents=True, exist_ok=True)
            step.output.write_text(f"{' '.join(step.argv)}\n")
        if step.check and code != 0:
            raise TargetError(f"{step.what} failed (exit {code})")
        return subprocess.CompletedProcess(step.argv, code, out, "")

    def argvs(self) -> list[list[str]]:
        return [s.argv for s in self.steps]


def _which(*present: str) -> Any:
    return lambda name: f"/usr/bin/{name}" if name in present else None


# ---- registration and options ----------------------------------------------------------------


def test_registered_with_options() -> None:
    assert TARGETS["kind"] is kind.KindTarget
    target = make_target("kind", TargetOptions(controller="traefik", provider="k3s",
                                               keep_cluster=True))
    assert target.controller.name == "traefik"
    assert target.provider == "k3s"
    assert make_target("kind", TargetOptions()).controller.name == "ingress-nginx"


def test_unknown_controller() -> None:
    with pytest.raises(TargetError, match="ingress-nginx, traefik, haproxy-ingress"):
        make_target("kind", TargetOptions(controller="contour"))


def test_plugin_options() -> None:
    out = subprocess.run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120).stdout
    for option in ("--controller={ingress-nginx,traefik,haproxy-ingress}",
                   "--provider={kind,k3s}", "--keep-cluster"):
        assert option in out


# ---- the kind cluster configuration ----------------------------------------------------------


def test_kind_config_maps_localhost_80_443_to_the_labelled_node() -> None:
    config = kind.kind_config()
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    [node] = config["nodes"]
    assert node["role"] == "control-plane"
    assert node["extraPortMappings"] == [
        {"containerPort": 80, "hostPort": 80, "listenAddress": "127.0.0.1", "protocol": "TCP"},
        {"containerPort": 443, "hostPort": 443, "listenAddress": "127.0.0.1",
         "protocol": "TCP"}]
    [patch] = node["kubeadmConfigPatches"]
    patch = yaml.safe_load(patch)
    assert patch["kind"] == "InitConfiguration"
    assert patch["nodeRegistration"]["kubeletExtraArgs"]["node-labels"] == "ingress-ready=true"


def test_kind_config_other_host_ports() -> None:
    http = kind.split_address("127.0.0.1:8080", 80)
    https = kind.split_address(None, 443)
    ports = kind.kind_config(http, https)["nodes"][0]["extraPortMappings"]
    assert [(p["hostPort"], p["containerPort"]) for p in ports] == [(8080, 80), (443, 443)]
    with pytest.raises(TargetError, match="HOST:PORT"):
        kind.split_address("localhost", 80)


def test_every_manifest_selects_the_labelled_node_and_host_ports() -> None:
    for c in kind.CONTROLLERS.values():
        docs = [d for p in c.manifest_paths() for d in yaml.safe_load_all(p.read_text()) if d]
        [deployment] = [d for d in docs if d["kind"] == "Deployment"]
        pod = deployment["spec"]["template"]["spec"]
        assert pod["nodeSelector"]["ingress-ready"] == "true", c.name
        ports = {p.get("hostPort") for ctr in pod["containers"] for p in ctr.get("ports", [])}
        assert {80, 443} <= ports, c.name


def _kind_binary() -> str | None:
    for candidate in (os.environ.get("KIND_BIN"), shutil.which("kind"),
                      str(Path.home() / "go" / "bin" / "kind")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def test_real_kind_decodes_the_config(tmp_path: Path) -> None:
    """kind decodes the config strictly before it looks for Docker; with a PATH holding only
    kind, it then fails for want of a container runtime, never on the config."""
    binary = _kind_binary()
    if binary is None:
        pytest.skip("no kind binary (KIND_BIN, PATH or ~/go/bin/kind; `go install "
                    f"sigs.k8s.io/kind@{kind.KIND_VERSION}`)")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "kind").symlink_to(binary)
    plan = kind.Plan("kind", kind.controller("ingress-nginx"), tmp_path / "work")
    kind.write_config(plan)
    [create] = kind.create_commands(plan)
    out = subprocess.run(create.argv, capture_output=True, text=True, timeout=60,
                         env={"PATH": str(bindir), "HOME": str(tmp_path)})
    text = out.stdout + out.stderr
    assert out.returncode != 0  # no Docker reachable: no cluster
    assert "decode config" not in text and "unknown apiVersion" not in text, text
    # ... and a config kind rejects shows how that would read.
    bad = tmp_path / "bad.yaml"
    bad.write_text(plan.config_path.read_text().replace("listenAddress", "listenAdress"))
    out = subprocess.run([*create.argv[:6], str(bad)], capture_output=True, text=True,
                         timeout=60, env={"PATH": str(bindir), "HOME": str(tmp_path)})
    assert "unable to decode config" in out.stdout + out.stderr


# ---- the commands ----------------------------------------------------------------------------


def test_commands_for_ingress_nginx_on_kind(tmp_path: Path) -> None:
    plan = kind.Plan("kind", kind.controller("ingress-nginx"), tmp_path)
    kc = ["kubectl", "--kubeconfig", str(tmp_path / "kubeconfig")]
    manifest = str(FIXTURES / "ingress-nginx" / "deploy.yaml")
    assert [s.argv for s in kind.plan_commands(plan, image_present=True)] == [
        ["kind", "create", "cluster", "--name", "ingress-conformance", "--config",
         str(tmp_path / "kind-config.yaml"), "--kubeconfig", str(tmp_path / "kubeconfig"),
         "--wait", "120s"],
        ["kind", "load", "docker-image", ECHO_IMAGE, "--name", "ingress-conformance"],
        [*kc, "apply", "-f", manifest],
        [*kc, "wait", "--namespace", "ingress-nginx", "--for=condition=complete", "job",
         "--all", "--timeout=300s"],
        [*kc, "rollout", "status", "--namespace", "ingress-nginx",
         "deployment/ingress-nginx-controller", "--timeout=300s"],
        [*kc, "annotate", "ingressclass", "--all", f"{DEFAULT_CLASS_ANNOTATION}-"],
        [*kc, "annotate", "ingressclass", "nginx", f"{DEFAULT_CLASS_ANNOTATION}=true",
         "--overwrite"],
        ["kind", "delete", "cluster", "--name", "ingress-conformance"],
    ]


def test_commands_without_the_image_and_keeping_the_cluster(tmp_path: Path) -> None:
    plan = kind.Plan("kind", kind.controller("traefik"), tmp_path, keep_cluster=True)
    argvs = [s.argv for s in kind.plan_commands(plan, image_present=False)]
    assert not any(a[:2] == ["kind", "load"] for a in argvs)
    assert not any(a[:2] == ["kind", "delete"] for a in argvs)
    assert not any("job" in a for a in argvs)  # Traefik's install has no Jobs
    assert [a[3:] for a in argvs if "apply" in a] == [
        ["apply", "-f", str(FIXTURES / "traefik" / "kind" / "deploy.yaml")]]


def test_commands_on_k3s(tmp_path: Path) -> None:
    plan = kind.Plan("k3s", kind.controller("haproxy-ingress"), tmp_path)
    argvs = [s.argv for s in kind.plan_commands(plan, image_present=True)]
    assert all(a[0] == "kubectl" for a in argvs)  # testcontainers makes the cluster
    assert argvs[0][3:] == ["label", "node", "--all", "ingress-ready=true", "--overwrite"]
    assert argvs[-1][3:] == ["annotate", "ingressclass", "haproxy",
                             f"{DEFAULT_CLASS_ANNOTATION}=true", "--overwrite"]


def test_collect_commands_write_into_the_folder(tmp_path: Path) -> None:
    plan = kind.Plan("kind", kind.controller("haproxy-ingress"), tmp_path)
    steps = kind.collect_commands(plan, tmp_path / "logs")
    assert all(not s.check and s.output is not None for s in steps)
    assert steps[0].argv[3:] == ["logs", "--namespace", "haproxy-ingress",
                                 "deployment/haproxy-ingress", "--all-containers",
                                 "--timestamps", "--tail=-1"]
    assert steps[-1].argv[:4] == ["kind", "export", "logs", str(tmp_path / "logs" / "kind")]


# ---- missing Docker, kind or kubectl -----------------------------------------------------------


def test_missing_docker_says_what_to_install() -> None:
    with pytest.raises(TargetError) as err:
        kind.check_prerequisites("kind", Recorder(), which=_which("kind", "kubectl"))
    message = str(err.value)
    assert "Docker is not installed" in message
    assert "https://docs.docker.com/engine/install/" in message
    assert "targets simulator" in message  # what still works without Docker


def test_missing_kind_says_what_to_install() -> None:
    with pytest.raises(TargetError) as err:
        kind.check_prerequisites("kind", Recorder(), which=_which("docker", "kubectl"))
    message = str(err.value)
    assert "kind is not installed" in message
    assert f"go install sigs.k8s.io/kind@{kind.KIND_VERSION}" in message
    assert "--provider k3s" in message


def test_k3s_needs_no_kind() -> None:
    runner = Recorder()
    kind.check_prerequisites("k3s", runner, which=_which("docker", "kubectl"))
    assert runner.argvs() == [["docker", "info", "--format", "{{.ServerVersion}}"]]


def test_docker_daemon_not_running() -> None:
    runner = Recorder({("docker", "info"): (1, "")})
    with pytest.raises(TargetError, match="daemon does not answer"):
        kind.check_prerequisites("kind", runner, which=_which("docker", "kind", "kubectl"))


def test_this_machine_gets_the_message() -> None:
    """The real check on this machine: it says what is missing (here there is no Docker
    daemon), or passes where Docker and kind are installed."""
    try:
        kind.check_prerequisites("kind", kind.Runner())
    except TargetError as exc:
        assert "Docker" in str(exc) or "kind" in str(exc) or "kubectl" in str(exc)
    else:
        pytest.skip("Docker, kind and kubectl are all here")


def test_start_without_docker_fails_before_doing_anything(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kind.shutil, "which", _which("kubectl"))
    runner = Recorder()
    target = kind.KindTarget(TargetOptions(), runner=runner)
    with pytest.raises(TargetError, match="Docker is not installed"):
        target.start(lambda message: None)
    target.stop()  # safe after a failed start
    assert runner.steps == []


# ---- a whole run with a recording runner (no cluster) ----------------------------------------


def test_start_finish_stop_run_the_planned_commands(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kind.shutil, "which", _which("docker", "kind", "kubectl"))
    monkeypatch.setattr(kind.KindTarget, "_wait_ready", lambda self, plan, address: None)
    runner = Recorder({("docker", "image", "inspect"): (1, "")})
    said: list[str] = []
    target = kind.KindTarget(TargetOptions(controller="traefik"), runner=runner)
    info = target.start(said.append)
    assert info.name == "kind"
    assert (info.http_address, info.https_address) == ("127.0.0.1:80", "127.0.0.1:443")
    assert (info.ingress_class, info.controller) == ("traefik", "traefik.io/ingress-controller")
    assert info.version == "v3.7.13"
    plan = target.plan
    assert plan is not None
    assert yaml.safe_load(plan.config_path.read_text()) == kind.kind_config()
    expected = kind.create_commands(plan) + kind.install_commands(plan)
    ran = [a for a in runner.argvs() if a[:2] != ["docker", "info"]
           and a[:3] != ["docker", "image", "inspect"]]
    assert ran == [s.argv for s in expected]
    assert any("node pulls it" in line for line in said)

    # A passing run leaves the report folders alone; a failing one adds the logs.
    latest, copy = tmp_path / "latest", tmp_path / "kind-1"
    latest.mkdir()
    copy.mkdir()
    target.finished({"gate": {"passed": True}, "cases": [{"outcome": "passed"}]},
                    [latest, copy])
    assert not (latest / "controller-logs").exists()
    target.finished({"gate": {"passed": False}, "cases": [{"outcome": "failed"}]},
                    [latest, copy])
    assert (latest / "controller-logs" / "traefik.log").is_file()
    assert (copy / "controller-logs" / "events.txt").is_file()

    runner.steps.clear()
    target.stop()
    assert runner.argvs() == [["kind", "delete", "cluster", "--name", "ingress-conformance"]]


def test_keep_cluster_is_not_deleted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kind.shutil, "which", _which("docker", "kind", "kubectl"))
    monkeypatch.setattr(kind.KindTarget, "_wait_ready", lambda self, plan, address: None)
    runner = Recorder()
    said: list[str] = []
    target = kind.KindTarget(TargetOptions(keep_cluster=True), runner=runner)
    target.start(said.append)
    assert ["kind", "load", "docker-image", ECHO_IMAGE, "--name",
            "ingress-conformance"] in runner.argvs()
    runner.steps.clear()
    target.stop()
    assert runner.steps == []
    assert "kind delete cluster --name ingress-conformance" in said[-1]


def test_keep_cluster_refused_on_k3s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kind.shutil, "which", _which("docker", "kubectl"))
    target = kind.KindTarget(TargetOptions(provider="k3s", keep_cluster=True),
                             runner=Recorder())
    with pytest.raises(TargetError, match="--provider kind only"):
        target.start(lambda message: None)


# ---- the manifests against the simulator's API server ---------------------------------------


@pytest.fixture
def fresh_apiserver(tmp_path: Path) -> Iterator[tuple[ApiServer, Path]]:
    server = ApiServer().start()
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    yield server, kubeconfig
    server.stop()


def _documents(c: kind.Controller) -> list[dict[str, Any]]:
    return [d for p in c.manifest_paths() for d in yaml.safe_load_all(p.read_text()) if d]


def _crds_first(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(docs, key=lambda d: d["kind"] != "CustomResourceDefinition")


@pytest.mark.parametrize("name", list(kind.CONTROLLERS))
def test_manifests_apply_with_the_kubernetes_client(name: str,
                                                    fresh_apiserver: tuple[ApiServer, Path]
                                                    ) -> None:
    _, kubeconfig = fresh_apiserver
    c = kind.controller(name)
    docs = _crds_first(_documents(c))
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    try:
        for doc in docs:
            kubernetes.utils.create_from_dict(client, doc)
        dynamic = kubernetes.dynamic.DynamicClient(client)
        for doc in docs:
            api = dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
            meta = doc["metadata"]
            got = api.get(name=meta["name"], namespace=meta.get("namespace"))
            assert got.metadata.uid, (doc["kind"], meta["name"])
        net = kubernetes.client.NetworkingV1Api(client)
        ingress_class = net.read_ingress_class(c.ingress_class)
        assert ingress_class.spec.controller == c.controller
        apps = kubernetes.client.AppsV1Api(client)
        assert apps.read_namespaced_deployment(c.deployment, c.namespace).metadata.uid
    finally:
        client.close()


def _kubectl_versions() -> list[str]:
    found = kubectl_binaries()
    return found or ["<none>"]


@pytest.mark.kubectl
@pytest.mark.parametrize("binary", _kubectl_versions(), ids=lambda b: Path(b).name)
def test_manifests_apply_with_kubectl(binary: str, fresh_apiserver: tuple[ApiServer, Path],
                                      tmp_path: Path) -> None:
    if binary == "<none>":
        pytest.skip("no kubectl on this machine (PATH or /usr/lib/google-cloud-sdk/bin)")
    _, kubeconfig = fresh_apiserver
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}
    for c in kind.CONTROLLERS.values():
        for path in c.manifest_paths():
            first = subprocess.run([binary, "apply", "-f", str(path)], capture_output=True,
                                   text=True, timeout=120, env=env)
            assert first.returncode == 0, first.stderr
            assert "created" in first.stdout
            again = subprocess.run([binary, "apply", "-f", str(path)], capture_output=True,
                                   text=True, timeout=120, env=env)
            assert again.returncode == 0, again.stderr
            lines = [ln for ln in again.stdout.splitlines() if ln.strip()]
            assert lines and all(ln.endswith("unchanged") for ln in lines), again.stdout
        # What the target runs after the install: one default class, the controller's.
        for argv in (["annotate", "ingressclass", "--all", f"{DEFAULT_CLASS_ANNOTATION}-"],
                     ["annotate", "ingressclass", c.ingress_class,
                      f"{DEFAULT_CLASS_ANNOTATION}=true", "--overwrite"]):
            done = subprocess.run([binary, *argv], capture_output=True, text=True,
                                  timeout=60, env=env)
            assert done.returncode == 0, done.stderr
        out = subprocess.run([binary, "get", "ingressclass", "-o", "json"],
                             capture_output=True, text=True, timeout=60, env=env)
        defaults = [i["metadata"]["name"] for i in json.loads(out.stdout)["items"]
                    if (i["metadata"].get("annotations") or {}).get(
                        DEFAULT_CLASS_ANNOTATION) == "true"]
        assert defaults == [c.ingress_class]


def test_controller_table_matches_the_manifests() -> None:
    for c in kind.CONTROLLERS.values():
        docs = _documents(c)
        kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
        assert ("IngressClass", c.ingress_class) in kinds, c.name
        assert ("Deployment", c.deployment) in kinds, c.name
        assert ("Namespace", c.namespace) in kinds, c.name
        [klass] = [d for d in docs if d["kind"] == "IngressClass"]
        assert klass["spec"]["controller"] == c.controller
        images = [ctr["image"] for d in docs if d["kind"] == "Deployment"
                  for ctr in d["spec"]["template"]["spec"]["containers"]]
        assert any(f":{c.version}" in image for image in images), (c.name, images)
        readme = (c.manifest_paths()[0].parent / "README.md").read_text()
        assert c.version in readme and "https://" in readme, c.name


def test_existing_traefik_fixture_untouched() -> None:
    """The out-of-cluster target's files are its own; the kind manifest lives in kind/."""
    assert kind.controller("traefik").manifests == ("traefik/kind/deploy.yaml",)
    manifest = yaml.safe_load((FIXTURES / "traefik" / "ingressclass.yaml").read_text())
    assert manifest["metadata"]["annotations"][DEFAULT_CLASS_ANNOTATION] == "true"


# ---- the baselines -----------------------------------------------------------------------------


def test_baselines_load_and_name_real_cases() -> None:
    for name in kind.CONTROLLERS:
        assert_sound(kind.baseline_path(name))


def test_nox_kind_session_passes_the_controllers_baseline() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        import noxfile
    finally:
        sys.path.remove(str(ROOT))
    for name in kind.CONTROLLERS:
        args = noxfile.kind_suite_args(["--controller", name])
        assert args[:2] == ["--target", "kind"]
        baseline = args[args.index("--baseline") + 1]
        assert ROOT / baseline == kind.baseline_path(name)
    assert noxfile.kind_suite_args([])[:6] == [
        "--target", "kind", "--controller", "ingress-nginx", "--baseline",
        "fixtures/controllers/ingress-nginx/baseline.yaml"]
    own = noxfile.kind_suite_args(["--controller=traefik", "--baseline", "mine.yaml"])
    assert own.count("--baseline") == 1 and "mine.yaml" in own


def test_gate_uses_the_baseline_the_session_passes(tmp_path: Path) -> None:
    """The session's arguments with the target swapped for the simulator: a case listed in
    Traefik's baseline runs as a baseline entry (it passes on the simulator, so the report
    says the entry could go)."""
    sys.path.insert(0, str(ROOT))
    try:
        import noxfile
    finally:
        sys.path.remove(str(ROOT))
    args = noxfile.kind_suite_args(["--controller", "traefik"])
    args[args.index("kind")] = "simulator"
    args = [a for a in args if a not in ("--controller", "traefik")]
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "run", *args, "-p", "no:xdist",
         "-k", "missing_service_is_503", "--report-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / "latest" / "report.json").read_text())
    assert report["gate"].get("baseline", "").endswith("traefik/baseline.yaml") or \
        "traefik/baseline.yaml" in json.dumps(report["gate"])
    [case] = [c for c in report["cases"] if c["id"] == "bad_input/missing_service_is_503"]
    assert "baseline" in (case["message"] or "")
