"""The event model (issue 3): a scenario replayed with one seed gives the same timeline twice
and another seed a different one; every action has its effect, observed through the API."""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path

import kubernetes
import pytest
import yaml
from kubernetes import watch

from simulator.events import Runner, load_scenario, read_timeline, write_timeline
from simulator.events.scenario import ScenarioError, parse_scenario
from simulator.up import SimulatorOptions, SimulatorThread

from .conftest import eventually

CHURN = Path(__file__).resolve().parent.parent / "fixtures" / "scenarios" / "churn.yaml"
SETUP = load_scenario(CHURN).setup  # a Deployment `web` (3 pods, readiness probe), a Service

# Random choices in every step, short enough for a test; no outage (its timing makes a step
# fail or not, which is the one thing a seed cannot fix).
REPLAY = {
    "namespace": "replay",
    "setup": SETUP,
    "steps": [
        {"at": 0.2, "action": "scale", "deployment": "web", "replicas": {"min": 2, "max": 9}},
        {"at": 0.5, "every": 0.4, "count": 3, "action": "delete_pod", "selector": "app=web",
         "grace": 0},
        {"at": 0.7, "action": "readiness_flap", "selector": "app=web", "down": [0.5, 1, 1.5]},
        {"at": 1.0, "action": "expire_watches", "watches": {"min": 1, "max": 5}},
        {"at": 1.2, "action": "latency", "seconds": [0.001, 0.002, 0.003], "duration": 0.3},
        {"at": 1.5, "action": "drop_watches"},
        {"at": 1.8, "action": "scale", "deployment": "web", "replicas": {"min": 1, "max": 9}},
    ],
}


def _replay(seed: int, tmp_path: Path) -> list:
    path = tmp_path / f"scenario-{seed}.yaml"
    path.write_text(yaml.safe_dump(REPLAY))
    with SimulatorThread(SimulatorOptions(seed=seed)) as thread:
        runner = Runner(load_scenario(path), seed, thread)
        try:
            timeline = runner.run()
        finally:
            runner.close()
    out = tmp_path / f"timeline-{seed}-{time.monotonic_ns()}.jsonl"
    write_timeline(timeline, out)
    return read_timeline(out)  # through the file format, as a replay would read it


def test_same_seed_same_timeline_other_seed_another(tmp_path):
    first, second, other = _replay(1, tmp_path), _replay(1, tmp_path), _replay(2, tmp_path)
    keys = [e.replay_key() for e in first]
    assert len(first) == 1 + 3 + 2 + 1 + 2 + 1 + 1  # flap and latency have follow-ups
    assert keys == [e.replay_key() for e in second]
    assert keys != [e.replay_key() for e in other]
    # Same steps; only the order of follow-ups (a flap's end) may move with the drawn values.
    assert sorted(e.action for e in first) == sorted(e.action for e in other)
    assert all("error" not in e.result for e in first + second + other), first


def test_scenario_errors_name_the_step():
    with pytest.raises(ScenarioError, match=r"steps\[0\]\.action"):
        parse_scenario({"steps": [{"action": "explode"}]})
    with pytest.raises(ScenarioError, match="needs 'deployment'"):
        parse_scenario({"steps": [{"action": "scale", "replicas": 1}]})
    with pytest.raises(ScenarioError, match="needs 'every'"):
        parse_scenario({"steps": [{"action": "drop_watches", "count": 2}]})


# ---- effects ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with SimulatorThread(SimulatorOptions(seed=5)) as thread:
        runner = Runner(parse_scenario({"namespace": "fx", "setup": SETUP}), 5, thread)
        runner.run()  # setup only: no steps
        runner.close()
        client = kubernetes.config.new_client_from_config_dict(
            thread.simulator.apiserver.kubeconfig())
        yield thread, client
        client.close()


def _step(sim, seed: int = 0, **step) -> dict:
    """Run a one-step scenario at offset 0 (follow-ups included); its first entry."""
    thread, _ = sim
    runner = Runner(parse_scenario({"namespace": "fx", "steps": [{"at": 0, **step}]}), seed,
                    thread)
    try:
        timeline = runner.run(setup=False)
    finally:
        runner.close()
    assert "error" not in timeline[0].result, timeline[0]
    return timeline[0]


def _pods(client, ready_only: bool = False) -> list:
    pods = kubernetes.client.CoreV1Api(client).list_namespaced_pod(
        "fx", label_selector="app=web").items
    live = [p for p in pods if p.metadata.deletion_timestamp is None]
    if ready_only:
        live = [p for p in live if _ready(p)]
    return live


def _ready(pod) -> bool:
    return {c.type: c.status for c in pod.status.conditions or []}.get("Ready") == "True"


def _settled(client, replicas: int) -> bool:
    return len(_pods(client, ready_only=True)) == replicas == len(_pods(client))


def _deployment_at_rest(client) -> bool:
    dep = kubernetes.client.AppsV1Api(client).read_namespaced_deployment("web", "fx")
    every_pod = kubernetes.client.CoreV1Api(client).list_namespaced_pod(
        "fx", label_selector="app=web").items
    return (dep.status.observed_generation == dep.metadata.generation
            and dep.status.updated_replicas == dep.spec.replicas >= 2
            and len(every_pod) == dep.spec.replicas and _settled(client, dep.spec.replicas))


def test_scale_sets_replicas_and_pods_follow(sim):
    _, client = sim
    entry = _step(sim, action="scale", deployment="web", replicas={"min": 4, "max": 5})
    replicas = entry.choice["replicas"]
    assert replicas in (4, 5)
    dep = kubernetes.client.AppsV1Api(client).read_namespaced_deployment("web", "fx")
    assert dep.spec.replicas == replicas
    eventually(lambda: _settled(client, replicas), timeout=30)


def test_delete_pod_grace_zero_and_graceful(sim):
    _, client = sim
    core = kubernetes.client.CoreV1Api(client)
    eventually(lambda: len(_pods(client, ready_only=True)) >= 3, timeout=30)
    for grace in (0, None):
        entry = _step(sim, action="delete_pod", selector="app=web", grace=grace)
        name = entry.objects[0].split("/", 1)[1]

        def gone_or_replaced(name=name, uid=entry.result["uid"]) -> bool:
            try:
                pod = core.read_namespaced_pod(name, "fx")
            except kubernetes.client.ApiException as exc:
                return exc.status == 404
            return pod.metadata.uid != uid or pod.metadata.deletion_timestamp is not None
        eventually(gone_or_replaced, timeout=30)


def test_rolling_restart_replaces_pods(sim):
    _, client = sim
    eventually(lambda: len(_pods(client, ready_only=True)) >= 2, timeout=30)
    before = {p.metadata.name for p in _pods(client)}
    entry = _step(sim, action="rolling_restart", deployment="web")
    dep = kubernetes.client.AppsV1Api(client).read_namespaced_deployment("web", "fx")
    assert dep.spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"] == \
        entry.result["restartedAt"]
    eventually(lambda: not {p.metadata.name for p in _pods(client)} & before
               and len(_pods(client, ready_only=True)) == dep.spec.replicas, timeout=60)


def test_readiness_flap_marks_the_pod_not_ready_then_ready(sim):
    _, client = sim
    core = kubernetes.client.CoreV1Api(client)
    # Wait for the Deployment to be at rest: while a ReplicaSet is above its count (left by
    # an earlier test's scale or restart), it deletes the not-ready pod first, as upstream
    # does, and would take the flapped pod away.
    eventually(lambda: _deployment_at_rest(client), timeout=60)
    seen: list[bool] = []
    stop = threading.Event()
    target: list[str] = []

    def observe() -> None:  # polls the pod's Ready condition while the flap runs
        while not stop.is_set():
            if target:
                seen.append(_ready(core.read_namespaced_pod(target[0], "fx")))
            time.sleep(0.05)

    observer = threading.Thread(target=observe, daemon=True)
    observer.start()
    thread, _ = sim
    runner = Runner(parse_scenario({"namespace": "fx", "steps": [
        {"at": 0, "action": "readiness_flap", "selector": "app=web", "down": 3}]}), 0, thread,
        on_entry=lambda e: target.append(e.objects[0].split("/", 1)[1]) if not target else None)
    try:
        timeline = runner.run(setup=False)
    finally:
        runner.close()
    assert [e.action for e in timeline] == ["readiness_flap", "readiness_restore"]
    assert timeline[0].result["flipped"] and timeline[1].result["restored"]
    eventually(lambda: seen and seen[-1], timeout=10)
    stop.set()
    observer.join(5)
    assert False in seen and seen[-1] is True, seen


def test_latency_slows_every_request(sim):
    _, client = sim
    core = kubernetes.client.CoreV1Api(client)
    _step(sim, action="latency", seconds=0.3)
    try:
        started = time.monotonic()
        core.list_namespace()
        assert time.monotonic() - started >= 0.3
    finally:
        _step(sim, action="latency", seconds=0)
    started = time.monotonic()
    core.list_namespace()
    assert time.monotonic() - started < 0.3


def test_drop_watches_ends_open_watches(sim):
    _, client = sim
    core = kubernetes.client.CoreV1Api(client)
    ended = threading.Event()

    def watch_pods() -> None:
        for _ in watch.Watch().stream(core.list_namespaced_pod, "fx", timeout_seconds=60,
                                      _request_timeout=70):
            pass
        ended.set()

    threading.Thread(target=watch_pods, daemon=True).start()
    time.sleep(0.5)  # let it connect
    entry = _step(sim, action="drop_watches")
    assert entry.result["closed"] >= 1
    assert ended.wait(10)


def test_expire_watches_answers_410(sim):
    _, client = sim
    core = kubernetes.client.CoreV1Api(client)
    rv = core.list_namespaced_pod("fx").metadata.resource_version
    # Only watches of namespace fx: a relisting informer of the simulator cannot take it.
    _step(sim, action="expire_watches", watches=1, namespace="fx")
    with pytest.raises(kubernetes.client.ApiException) as info:
        for _ in watch.Watch().stream(core.list_namespaced_pod, "fx", resource_version=rv,
                                      timeout_seconds=2):
            pass
    assert info.value.status == 410


def test_outage_refuses_connections_then_recovers(sim):
    thread, _ = sim
    host, port = thread.simulator.apiserver.url.rsplit("/", 1)[1].split(":")

    def answers() -> bool:
        conn = http.client.HTTPConnection(host, int(port), timeout=2)
        try:
            conn.request("GET", "/version")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    assert answers()
    _step(sim, action="outage", seconds=2)
    eventually(lambda: not answers(), timeout=2)
    eventually(answers, timeout=10)
