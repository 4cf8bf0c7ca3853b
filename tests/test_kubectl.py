"""kubectl (a real client-go client) against the API server, with every kubectl version here.

Skipped with a reason when no kubectl is on this machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from .conftest import kubectl_binaries

SEED = Path(__file__).resolve().parent.parent / "fixtures" / "examples" / "seed"
BINARIES = kubectl_binaries()

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(not BINARIES, reason="kubectl is not installed on this machine"),
]


@pytest.fixture(params=BINARIES or ["kubectl"], ids=lambda p: Path(p).name)
def kubectl(request, kubeconfig, namespace):
    binary = request.param

    def run(*args: str, input: str | None = None, check: bool = True,
            ns: bool = True) -> subprocess.CompletedProcess:
        cmd = [binary, "--kubeconfig", str(kubeconfig), *(["-n", namespace] if ns else []),
               *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    run.binary = binary  # type: ignore[attr-defined]
    run.namespace = namespace  # type: ignore[attr-defined]
    return run


def _lines(text: str) -> list[str]:
    return sorted(line.strip() for line in text.strip().splitlines())


def test_apply_directory_created_unchanged_configured(kubectl, tmp_path):
    manifests = tmp_path / "seed"
    shutil.copytree(SEED, manifests)
    first = kubectl("apply", "-f", str(manifests))
    assert _lines(first.stdout) == [
        "deployment.apps/app1 created", "deployment.apps/app2 created",
        "ingress.networking.k8s.io/my-app-ingress created",
        "service/app1-service created", "service/app2-service created"]
    second = kubectl("apply", "-f", str(manifests))
    assert all(line.endswith(" unchanged") for line in _lines(second.stdout))
    deployment = manifests / "deployment-app1.yaml"
    deployment.write_text(deployment.read_text().replace("replicas: 2", "replicas: 4"))
    third = kubectl("apply", "-f", str(manifests))
    assert "deployment.apps/app1 configured" in third.stdout
    assert "deployment.apps/app2 unchanged" in third.stdout
    replicas = kubectl("get", "deployment", "app1", "-o", "jsonpath={.spec.replicas}")
    assert replicas.stdout == "4"
    kubectl("delete", "-f", str(manifests))
    assert kubectl("get", "deploy,svc,ing", "-o", "name").stdout.strip() == ""


def test_apply_server_side(kubectl):
    ingress = (SEED / "ingress.yaml").read_text()
    out = kubectl("apply", "--server-side", "-f", "-", input=ingress)
    assert "ingress.networking.k8s.io/my-app-ingress serverside-applied" in out.stdout
    changed = ingress.replace("app2.example.com", "app3.example.com")
    kubectl("apply", "--server-side", "-f", "-", input=changed)
    hosts = kubectl("get", "ingress", "my-app-ingress", "-o",
                    "jsonpath={.spec.rules[*].host}").stdout
    assert hosts == "app1.example.com app3.example.com"
    managed = json.loads(kubectl("get", "ingress", "my-app-ingress", "-o", "json",
                                 "--show-managed-fields").stdout)["metadata"]["managedFields"]
    assert any(m["manager"] == "kubectl" and m["operation"] == "Apply" for m in managed)


def test_get_output_formats(kubectl):
    kubectl("apply", "-f", str(SEED))
    table = kubectl("get", "ingress").stdout.splitlines()
    assert table[0].split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    # No controller runs here, so ADDRESS is empty and the row has one cell fewer.
    assert table[1].split()[:4] == ["my-app-ingress", "<none>",
                                    "app1.example.com,app2.example.com", "80"]
    wide = kubectl("get", "deployments", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS",
                               "IMAGES", "SELECTOR"]
    assert wide[1].split()[5:] == ["app1", "nginxdemos/hello:plain-text", "app=app1"]
    doc = yaml.safe_load(kubectl("get", "service", "app1-service", "-o", "yaml").stdout)
    assert doc["spec"]["ports"][0]["protocol"] == "TCP"
    every = kubectl("get", "ingress", "-A", ns=False).stdout
    assert kubectl.namespace in every
    svc = kubectl("get", "svc", "-o", "jsonpath={.items[*].metadata.name}").stdout
    assert svc == "app1-service app2-service"


def test_get_watch_prints_changes(kubectl, kubeconfig):
    kubectl("create", "configmap", "seen", "--from-literal=a=1")
    proc = subprocess.Popen([kubectl.binary, "--kubeconfig", str(kubeconfig), "-n",
                             kubectl.namespace, "get", "configmaps", "-w",
                             "--output-watch-events"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        kubectl("label", "configmap", "seen", "x=y")
        kubectl("delete", "configmap", "seen")
        deadline = time.monotonic() + 15
        out = ""
        while time.monotonic() < deadline and "DELETED" not in out:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            out += line
    finally:
        proc.kill()
        proc.wait()
    assert "ADDED" in out and "MODIFIED" in out and "DELETED" in out


def test_create_ingress_and_imperative_edits(kubectl):
    kubectl("create", "ingress", "web", "--rule=web.example.com/shop*=shop:8080",
            "--class=example")
    spec = json.loads(kubectl("get", "ingress", "web", "-o", "json").stdout)["spec"]
    assert spec["ingressClassName"] == "example"
    assert spec["rules"][0]["http"]["paths"][0] == {
        "path": "/shop", "pathType": "Prefix",
        "backend": {"service": {"name": "shop", "port": {"number": 8080}}}}
    kubectl("label", "ingress", "web", "team=a")
    kubectl("annotate", "ingress", "web", "note=hello")
    kubectl("patch", "ingress", "web", "--type=merge", "-p",
            '{"spec":{"ingressClassName":"other"}}')
    kubectl("patch", "ingress", "web", "--type=json", "-p",
            '[{"op":"replace","path":"/spec/rules/0/host","value":"shop.example.com"}]')
    kubectl("patch", "ingress", "web", "--type=strategic", "-p",
            '{"metadata":{"labels":{"tier":"edge"}}}')
    got = json.loads(kubectl("get", "ingress", "web", "-o", "json").stdout)
    assert got["metadata"]["labels"] == {"team": "a", "tier": "edge"}
    assert got["metadata"]["annotations"]["note"] == "hello"
    assert got["spec"]["ingressClassName"] == "other"
    assert got["spec"]["rules"][0]["host"] == "shop.example.com"


def test_invalid_ingress_error_reads_like_kube_apiserver(kubectl):
    bad = (SEED / "ingress.yaml").read_text().replace("        pathType: Prefix\n", "", 1)
    proc = kubectl("apply", "-f", "-", input=bad, check=False)
    assert proc.returncode != 0
    assert ('The Ingress "my-app-ingress" is invalid: '
            "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"
            in proc.stderr)


def test_scale_and_strategic_patch_on_containers(kubectl):
    kubectl("apply", "-f", str(SEED / "deployment-app1.yaml"))
    kubectl("scale", "deployment", "app1", "--replicas=3")
    assert kubectl("get", "deploy", "app1", "-o", "jsonpath={.spec.replicas}").stdout == "3"
    kubectl("patch", "deployment", "app1", "-p",
            '{"spec":{"template":{"spec":{"containers":[{"name":"app1","image":"img:2"}]}}}}')
    containers = json.loads(kubectl("get", "deploy", "app1", "-o", "json").stdout)[
        "spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    assert containers[0]["image"] == "img:2"
    assert containers[0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


def test_wait_for_delete(kubectl, kubeconfig):
    kubectl("create", "configmap", "bye")
    waiter = subprocess.Popen([kubectl.binary, "--kubeconfig", str(kubeconfig), "-n",
                               kubectl.namespace, "wait", "--for=delete", "configmap/bye",
                               "--timeout=20s"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    kubectl("delete", "configmap", "bye")
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err
    assert "condition met" in out


def test_api_resources(kubectl):
    out = kubectl("api-resources", ns=False).stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["ingresses"][1:] == ["ing", "networking.k8s.io/v1", "true", "Ingress"]
    assert rows["endpointslices"][1:] == ["discovery.k8s.io/v1", "true", "EndpointSlice"]
    assert rows["deployments"][1:] == ["deploy", "apps/v1", "true", "Deployment"]
    assert rows["ingressclasses"][1:] == ["networking.k8s.io/v1", "false", "IngressClass"]
