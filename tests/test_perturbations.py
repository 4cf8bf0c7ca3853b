"""Container crashes (`kill_pod`) and node loss (`node_loss` / `node_recover`): the kubelet
restarts a killed pod in place, and a lost node's pods leave the EndpointSlices until it is
back, observed through the API and through the reference proxy."""

from __future__ import annotations

import http.client
import json

import kubernetes
import pytest

from simulator.cluster import NODE_NAME, PORTS_ANNOTATION
from simulator.events import Runner
from simulator.events.scenario import parse_scenario
from simulator.up import SimulatorOptions, SimulatorThread

from .conftest import eventually, ingress_body

NS = "pt"
HOST = "web.example.com"
SETUP = [
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
     "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
              "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{
                  "name": "hello", "image": "nginxdemos/hello:plain-text",
                  "ports": [{"containerPort": 80}],
                  "readinessProbe": {"httpGet": {"path": "/", "port": 80},
                                     "periodSeconds": 1}}]}}}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
     "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]}},
]


@pytest.fixture(scope="module")
def sim():
    with SimulatorThread(SimulatorOptions(seed=11)) as thread:
        runner = Runner(parse_scenario({"namespace": NS, "setup": SETUP}), 11, thread)
        runner.run()
        runner.close()
        client = kubernetes.config.new_client_from_config_dict(
            thread.simulator.apiserver.kubeconfig())
        kubernetes.client.NetworkingV1Api(client).create_namespaced_ingress(
            NS, ingress_body("web", host=HOST, service="web"))
        yield thread, client
        client.close()


def _run(sim, *steps: dict) -> list:
    thread, _ = sim
    runner = Runner(parse_scenario({"namespace": NS, "steps": list(steps)}), 0, thread)
    try:
        timeline = runner.run(setup=False)
    finally:
        runner.close()
    assert all("error" not in e.result for e in timeline), timeline
    return timeline


def _pod(client):
    pods = [p for p in kubernetes.client.CoreV1Api(client).list_namespaced_pod(
        NS, label_selector="app=web").items if p.metadata.deletion_timestamp is None]
    assert len(pods) == 1, [p.metadata.name for p in pods]
    return pods[0]


def _ready(pod) -> bool:
    return {c.type: c.status for c in pod.status.conditions or []}.get("Ready") == "True"


def _endpoints(client) -> list[tuple[bool, int | None]]:
    """(ready, port) of every endpoint of Service web."""
    slices = kubernetes.client.DiscoveryV1Api(client).list_namespaced_endpoint_slice(
        NS, label_selector="kubernetes.io/service-name=web").items
    return [(bool(ep.conditions.ready), (s.ports or [None])[0] and s.ports[0].port)
            for s in slices for ep in s.endpoints or []]


def _status(sim) -> int:
    thread, _ = sim
    host, port = thread.simulator.proxy.http_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": HOST})
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def test_kill_pod_restarts_the_container_in_place(sim):
    _, client = sim
    eventually(lambda: _ready(_pod(client)) and _status(sim) == 200, timeout=30)
    before = _pod(client)
    old_port = json.loads(before.metadata.annotations[PORTS_ANNOTATION])["80"]

    entry = _run(sim, {"at": 0, "action": "kill_pod", "selector": "app=web"})[0]
    assert entry.result["killed"] is True
    assert entry.objects == [f"Pod {NS}/{before.metadata.name}"]

    # Noticed: terminated 137/Error and not ready, also in the EndpointSlice.
    def crashed():
        pod = _pod(client)
        state = pod.status.container_statuses[0].state
        return state.terminated is not None and not _ready(pod) and pod
    pod = eventually(crashed, timeout=10)
    assert pod.status.container_statuses[0].state.terminated.exit_code == 137
    assert pod.status.container_statuses[0].state.terminated.reason == "Error"
    eventually(lambda: _endpoints(client) and not any(r for r, _ in _endpoints(client)),
               timeout=10)

    # Restarted: same pod and IP, restartCount 1, lastState kept, new port published.
    def restarted():
        pod = _pod(client)
        status = pod.status.container_statuses[0]
        return status.restart_count == 1 and _ready(pod) and pod
    pod = eventually(restarted, timeout=20)
    status = pod.status.container_statuses[0]
    assert pod.metadata.uid == before.metadata.uid
    assert pod.status.pod_ip == before.status.pod_ip
    assert status.state.running is not None and status.ready
    assert status.last_state.terminated.exit_code == 137
    assert status.container_id != before.status.container_statuses[0].container_id
    new_port = json.loads(pod.metadata.annotations[PORTS_ANNOTATION])["80"]
    assert new_port != old_port
    eventually(lambda: _endpoints(client) == [(True, new_port)], timeout=10)
    eventually(lambda: _status(sim) == 200, timeout=20)


def test_node_loss_marks_pods_not_ready_until_recovered(sim):
    _, client = sim
    core = kubernetes.client.CoreV1Api(client)
    eventually(lambda: _ready(_pod(client)) and _status(sim) == 200, timeout=30)

    def node_ready() -> str:
        node = core.read_node(NODE_NAME)
        return {c.type: c for c in node.status.conditions}["Ready"]

    try:
        entry = _run(sim, {"at": 0, "action": "node_loss"})[0]
        assert entry.objects == [f"Node {NODE_NAME}"]
        ready = node_ready()
        assert (ready.status, ready.reason) == ("Unknown", "NodeStatusUnknown")
        taints = {(t.key, t.effect) for t in core.read_node(NODE_NAME).spec.taints or []}
        assert ("node.kubernetes.io/unreachable", "NoExecute") in taints
        assert not _ready(_pod(client))
        eventually(lambda: _endpoints(client) and not any(r for r, _ in _endpoints(client)),
                   timeout=10)
        # Only backend not ready (and not terminating): the proxy has nowhere to send it.
        eventually(lambda: _status(sim) == 503, timeout=10)
        # The kubelet stays silent meanwhile, though its probes still pass.
        pod = _pod(client)
        assert not _ready(pod)
        assert pod.status.container_statuses[0].state.running is not None
    finally:
        _run(sim, {"at": 0, "action": "node_recover"})
    assert node_ready().status == "True"
    assert not core.read_node(NODE_NAME).spec.taints
    eventually(lambda: _ready(_pod(client)), timeout=20)
    eventually(lambda: _endpoints(client) and all(r for r, _ in _endpoints(client)),
               timeout=10)
    eventually(lambda: _status(sim) == 200, timeout=20)


def test_node_loss_with_seconds_recovers_by_itself(sim):
    _, client = sim
    eventually(lambda: _ready(_pod(client)), timeout=30)
    timeline = _run(sim, {"at": 0, "action": "node_loss", "seconds": 0.5})
    assert [e.action for e in timeline] == ["node_loss", "node_recover"]
    assert timeline[0].choice == {"seconds": 0.5}
    eventually(lambda: _ready(_pod(client)) and _status(sim) == 200, timeout=20)
