"""The founding walkthrough, end to end through `simulator up`'s pieces: the five seed
manifests applied unchanged, traffic through the data plane to real pod servers, scale and
rolling restart followed. Once per data plane: the in-process reference proxy, and real
nginx and HAProxy processes where their binaries are installed."""

from __future__ import annotations

import datetime
import http.client
from pathlib import Path

import kubernetes
import pytest
from kubernetes import utils

from simulator.dataplanes.base import BinaryNotFound, find_binary
from simulator.up import SimulatorOptions, SimulatorThread

from .conftest import eventually

SEED = Path(__file__).resolve().parent.parent / "fixtures" / "examples" / "seed"


@pytest.fixture(scope="module", params=["builtin", "nginx", "haproxy"])
def sim(request, tmp_path_factory):
    if request.param != "builtin":
        try:
            find_binary(request.param)
        except BinaryNotFound as exc:
            pytest.skip(f"--data-plane {request.param}: {exc}")
    with SimulatorThread(SimulatorOptions(data_plane=request.param)) as thread:
        sim = thread.simulator
        kubeconfig = sim.apiserver.write_kubeconfig(tmp_path_factory.mktemp("sim") / "kc")
        client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
        utils.create_from_directory(client, str(SEED), namespace="default")
        yield sim, client
        client.close()


def _get(sim, host: str, path: str = "/") -> tuple[int, str]:
    address = sim.proxy.http_address
    conn = http.client.HTTPConnection(address[0], address[1], timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def _server_name(body: str) -> str:
    return next(line.split(": ", 1)[1] for line in body.splitlines()
                if line.startswith("Server name: "))


def _available(client, name: str) -> bool:
    dep = kubernetes.client.AppsV1Api(client).read_namespaced_deployment(name, "default")
    conditions = {c.type: c.status for c in dep.status.conditions or []}
    return conditions.get("Available") == "True" and dep.status.ready_replicas == \
        dep.spec.replicas


def _names_seen(sim, host: str, requests: int = 12) -> set[str]:
    names = set()
    for _ in range(requests):
        status, body = _get(sim, host)
        assert status == 200, body
        names.add(_server_name(body))
    return names


def _settled(sim, host: str, pods: int) -> bool:
    """`pods` pods answer and every one of 12 requests (3 times over) gets a 200: a real
    proxy applies tables by reloading, so a single success may still be followed by an
    answer from the old configuration."""
    for _ in range(3):
        names = set()
        for _ in range(12):
            status, body = _get(sim, host)
            if status != 200:
                return False
            names.add(_server_name(body))
        if len(names) != pods:
            return False
    return True


def test_hosts_route_to_their_apps_and_spread_over_pods(sim):
    sim_, client = sim
    eventually(lambda: _available(client, "app1") and _available(client, "app2"))
    eventually(lambda: _settled(sim_, "app1.example.com", 2)
               and _settled(sim_, "app2.example.com", 2))
    status, body = _get(sim_, "app1.example.com", "/some/page?x=1")
    assert body.startswith("Server address: 127.")
    assert "URI: /some/page?x=1" in body
    assert _server_name(body).startswith("app1-")
    assert len(_names_seen(sim_, "app1.example.com")) == 2
    assert all(n.startswith("app2-") for n in _names_seen(sim_, "app2.example.com"))
    assert _get(sim_, "unknown.example.com")[0] == 404
    ing = kubernetes.client.NetworkingV1Api(client).read_namespaced_ingress(
        "my-app-ingress", "default")
    assert ing.status.load_balancer.ingress[0].ip == "127.0.0.1"


def test_scale_brings_a_third_pod_into_rotation(sim):
    sim_, client = sim
    eventually(lambda: _available(client, "app1"))
    kubernetes.client.AppsV1Api(client).patch_namespaced_deployment_scale(
        "app1", "default", {"spec": {"replicas": 3}})
    eventually(lambda: _settled(sim_, "app1.example.com", 3))


def test_rollout_restart_replaces_every_pod(sim):
    sim_, client = sim
    replicas = kubernetes.client.AppsV1Api(client).read_namespaced_deployment(
        "app1", "default").spec.replicas
    eventually(lambda: _available(client, "app1")
               and _settled(sim_, "app1.example.com", replicas))
    before = _names_seen(sim_, "app1.example.com")
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat()
    kubernetes.client.AppsV1Api(client).patch_namespaced_deployment("app1", "default", {
        "spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": stamp}}}}})
    # The seed's pods have no preStop hook: while a real proxy reloads, a request may still
    # go to a stopped pod (502). The zero-downtime recipe is tested elsewhere.
    eventually(lambda: _available(client, "app1")
               and _settled(sim_, "app1.example.com", replicas)
               and not (_names_seen(sim_, "app1.example.com") & before), timeout=60)
    pods = kubernetes.client.CoreV1Api(client).list_namespaced_pod(
        "default", label_selector="app=app1").items
    eventually(lambda: not [p for p in kubernetes.client.CoreV1Api(client).list_namespaced_pod(
        "default", label_selector="app=app1").items if p.metadata.name in before], timeout=60)
    assert pods
