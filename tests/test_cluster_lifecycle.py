"""Lifecycles in the simulated cluster: graceful pod deletion as EndpointSlices show it,
garbage collection (background, foreground, orphan), namespace deletion, Recreate rollouts,
readiness probes, revision history and Events.
"""

from __future__ import annotations

import threading
import time

import kubernetes
import pytest

from .test_cluster_support import (  # noqa: F401 - fixtures
    SliceWatcher,
    api_client,
    deployment,
    discovery,
    endpoints_of,
    http_get,
    ns,
    ready_deployment,
    service,
    sim_client,
    sim_cluster,
    sim_server,
    slices_of,
    wait_for,
)


def _pods(core, ns, app):  # noqa: F811
    return core.list_namespaced_pod(ns, label_selector=f"app={app}").items


def _gone(fn):
    try:
        fn()
    except kubernetes.client.ApiException as exc:
        return exc.status == 404
    return False


def test_graceful_deletion_as_endpointslices_show_it(apps, core, discovery, ns,  # noqa: F811
                                                     sim_client):  # noqa: F811
    prestop = {"lifecycle": {"preStop": {"exec": {"command": ["sleep", "4"]}}}}
    apps.create_namespaced_deployment(ns, deployment("web", 1, container=prestop))
    core.create_namespaced_service(ns, service("web", "web"))
    ready_deployment(apps, ns, "web", 1)
    (pod,) = _pods(core, ns, "web")
    name = pod.metadata.name
    wait_for(lambda: name in endpoints_of(discovery, ns, "web"), what="the pod's endpoint")
    address, port, _ = endpoints_of(discovery, ns, "web")[name]
    with SliceWatcher(sim_client, ns, "web") as watcher:
        started = time.monotonic()
        core.delete_namespaced_pod(name, ns)
        # While preStop sleeps: not ready (terminating), still serving, terminating.
        draining = wait_for(lambda: (c := watcher.current().get(name)) and c.terminating and c,
                            what="the endpoint marked terminating")
        assert (draining.ready, draining.serving, draining.terminating) == (False, True, True)
        assert time.monotonic() - started < 4.0
        # The pod still answers while its preStop hook runs.
        assert http_get(address, port)[0] == 200
        live = core.read_namespaced_pod(name, ns)
        assert live.metadata.deletion_timestamp is not None
        assert {c.type: c.status for c in live.status.conditions}["Ready"] == "True"
        # Then the endpoint and the pod are gone.
        wait_for(lambda: name not in watcher.current(), what="the endpoint removed")
        wait_for(lambda: _gone(lambda: core.read_namespaced_pod(name, ns)),
                 what="the pod removed")
        assert time.monotonic() - started >= 4.0  # preStop ran to completion first
    for state in watcher.history:
        conditions = state.get(name)
        if conditions is not None and conditions.terminating:
            assert not conditions.ready  # never ready once terminating
    # The ReplicaSet replaced it at once, and the replacement serves.
    wait_for(lambda: (e := endpoints_of(discovery, ns, "web")) and len(e) == 1 and
             name not in e and all(c.ready for _, _, c in e.values()),
             what="the replacement endpoint")


def test_terminated_pod_reports_ready_false_before_removal(apps, core, ns):  # noqa: F811
    apps.create_namespaced_deployment(ns, deployment("fin", 1))
    ready_deployment(apps, ns, "fin", 1)
    (pod,) = _pods(core, ns, "fin")
    seen: list = []
    w = kubernetes.watch.Watch()
    core.delete_namespaced_pod(pod.metadata.name, ns)
    for event in w.stream(core.list_namespaced_pod, ns,
                          field_selector=f"metadata.name={pod.metadata.name}",
                          timeout_seconds=30):
        seen.append((event["type"], event["object"]))
        if event["type"] == "DELETED":
            w.stop()
    final = [obj for kind, obj in seen if kind != "DELETED"][-1]
    ready = {c.type: c for c in final.status.conditions}["Ready"]
    assert ready.status == "False"
    assert final.status.phase == "Succeeded"
    (cs,) = final.status.container_statuses
    assert cs.state.terminated is not None and cs.state.terminated.exit_code == 0
    assert seen[-1][0] == "DELETED"


def test_deleting_a_deployment_removes_replicasets_and_pods(apps, core, ns):  # noqa: F811
    apps.create_namespaced_deployment(ns, deployment("gone", 2))
    ready_deployment(apps, ns, "gone", 2)
    assert apps.list_namespaced_replica_set(ns).items
    apps.delete_namespaced_deployment("gone", ns)
    wait_for(lambda: not apps.list_namespaced_replica_set(ns).items, what="no ReplicaSets")
    wait_for(lambda: not core.list_namespaced_pod(ns).items, what="no pods")


def test_foreground_deletion_waits_for_dependents(apps, core, ns):  # noqa: F811
    apps.create_namespaced_deployment(ns, deployment("fg", 2))
    ready_deployment(apps, ns, "fg", 2)
    apps.delete_namespaced_deployment("fg", ns, propagation_policy="Foreground")
    d = apps.read_namespaced_deployment("fg", ns)
    assert d.metadata.deletion_timestamp is not None
    assert "foregroundDeletion" in d.metadata.finalizers
    wait_for(lambda: _gone(lambda: apps.read_namespaced_deployment("fg", ns)),
             what="the Deployment removed")
    # Foreground: the owner goes last, so nothing it owned is left.
    assert not apps.list_namespaced_replica_set(ns).items
    assert not core.list_namespaced_pod(ns).items


def test_orphan_deletion_keeps_dependents(apps, core, ns):  # noqa: F811
    apps.create_namespaced_deployment(ns, deployment("orph", 2))
    ready_deployment(apps, ns, "orph", 2)
    apps.delete_namespaced_deployment("orph", ns, propagation_policy="Orphan")
    wait_for(lambda: _gone(lambda: apps.read_namespaced_deployment("orph", ns)),
             what="the Deployment removed")
    (rs,) = apps.list_namespaced_replica_set(ns).items
    assert not rs.metadata.owner_references
    assert rs.spec.replicas == 2
    pods = _pods(core, ns, "orph")
    assert len(pods) == 2 and all(p.metadata.deletion_timestamp is None for p in pods)


def test_deleting_a_service_removes_its_slices_and_endpoints(apps, core, discovery,  # noqa: F811
                                                             ns):  # noqa: F811
    apps.create_namespaced_deployment(ns, deployment("svc", 1))
    core.create_namespaced_service(ns, service("svc", "svc"))
    ready_deployment(apps, ns, "svc", 1)
    wait_for(lambda: endpoints_of(discovery, ns, "svc"), what="endpoints")
    wait_for(lambda: core.read_namespaced_endpoints("svc", ns), what="the Endpoints object")
    core.delete_namespaced_service("svc", ns)
    wait_for(lambda: not slices_of(discovery, ns, "svc"), what="slices removed")
    wait_for(lambda: _gone(lambda: core.read_namespaced_endpoints("svc", ns)),
             what="Endpoints removed")


def test_service_without_pods_gets_a_placeholder_slice(core, discovery, ns):  # noqa: F811
    core.create_namespaced_service(ns, service("empty", "nothing"))
    (s,) = wait_for(lambda: slices_of(discovery, ns, "empty"), what="a placeholder slice")
    assert not s.endpoints and not s.ports


def test_named_target_port(apps, core, discovery, ns):  # noqa: F811
    container = {"ports": [{"containerPort": 80, "name": "web"}]}
    apps.create_namespaced_deployment(ns, deployment("named", 1, container=container))
    core.create_namespaced_service(ns, service("named", "named", target_port="web"))
    ready_deployment(apps, ns, "named", 1)
    endpoints = wait_for(lambda: endpoints_of(discovery, ns, "named"), what="endpoints")
    ((address, port, _),) = endpoints.values()
    assert http_get(address, port)[0] == 200


def test_deleting_a_namespace_removes_everything(apps, core, discovery, sim_client):  # noqa: F811
    name = "doomed"
    core.create_namespace({"metadata": {"name": name}})
    apps.create_namespaced_deployment(name, deployment("x", 2))
    core.create_namespaced_service(name, service("x", "x"))
    ready_deployment(apps, name, "x", 2)
    wait_for(lambda: len(endpoints_of(discovery, name, "x")) == 2, what="endpoints")
    core.delete_namespace(name)
    wait_for(lambda: _gone(lambda: core.read_namespace(name)), what="the namespace removed")
    for items in (core.list_namespaced_pod(name).items,
                  apps.list_namespaced_replica_set(name).items,
                  slices_of(discovery, name, "x")):
        assert not items


def test_recreate_stops_old_pods_before_starting_new(apps, core, ns):  # noqa: F811
    apps.create_namespaced_deployment(ns, deployment("rec", 2, strategy={"type": "Recreate"}))
    ready_deployment(apps, ns, "rec", 2)
    old = {p.metadata.name for p in _pods(core, ns, "rec")}
    events = []
    w = kubernetes.watch.Watch()
    rv = core.list_namespaced_pod(ns).metadata.resource_version
    apps.patch_namespaced_deployment("rec", ns, {"spec": {"template": {"metadata": {
        "annotations": {"rollout": "2"}}}}})
    live = set(old)
    for event in w.stream(core.list_namespaced_pod, ns, resource_version=rv, timeout_seconds=30):
        kind, name = event["type"], event["object"].metadata.name
        events.append((kind, name))
        if kind == "DELETED":
            live.discard(name)
        else:
            live.add(name)
        if len(live) == 2 and not live & old:
            w.stop()
    first_new = next(i for i, (_, n) in enumerate(events) if n not in old)
    deleted_old = {n for kind, n in events[:first_new] if kind == "DELETED"}
    assert deleted_old == old  # every old pod was gone before the first new one appeared
    ready_deployment(apps, ns, "rec", 2)


def test_readiness_probe_gates_endpoints(apps, core, discovery, ns, sim_cluster):  # noqa: F811
    probe = {"readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1,
                                "failureThreshold": 1}}
    apps.create_namespaced_deployment(ns, deployment("probed", 1, container=probe))
    core.create_namespaced_service(ns, service("probed", "probed"))
    ready_deployment(apps, ns, "probed", 1)
    (pod,) = _pods(core, ns, "probed")
    wait_for(lambda: (e := endpoints_of(discovery, ns, "probed")) and
             e[pod.metadata.name][2].ready, what="a ready endpoint")
    # Flip the pod's own readiness (the runtime's switch): the probe sees it fail.
    key = f"{ns}/{pod.metadata.name}"
    worker = sim_cluster.cluster.kubelet.pod_workers[key]
    sim_cluster.loop.call_soon_threadsafe(worker.running.set_ready, False)
    conditions = wait_for(lambda: (c := endpoints_of(discovery, ns, "probed")[
        pod.metadata.name][2]) and not c.serving and c, what="a not-ready endpoint")
    assert (conditions.ready, conditions.serving, conditions.terminating) == (False, False, False)
    wait_for(lambda: apps.read_namespaced_deployment("probed", ns).status.available_replicas
             in (0, None), what="the Deployment to see the pod unavailable")
    sim_cluster.loop.call_soon_threadsafe(worker.running.set_ready, True)
    wait_for(lambda: endpoints_of(discovery, ns, "probed")[pod.metadata.name][2].ready,
             what="ready again")


def test_generic_image_gets_an_emulated_warning(apps, core, ns):  # noqa: F811
    apps.create_namespaced_deployment(ns, deployment("gen", 1, image="example.com/unknown:1"))
    ready_deployment(apps, ns, "gen", 1)
    (pod,) = _pods(core, ns, "gen")

    def warning():
        for ev in core.list_namespaced_event(ns).items:
            if ev.involved_object.name == pod.metadata.name and ev.reason == "Emulated":
                return ev
        return None

    ev = wait_for(warning, what="the Emulated event")
    assert ev.type == "Warning" and ev.source.component == "kubelet"
    assert ev.involved_object.kind == "Pod" and ev.involved_object.uid == pod.metadata.uid
    assert "example.com/unknown:1" in ev.message


def test_revision_history_limit_trims_old_replicasets(apps, ns):  # noqa: F811
    apps.create_namespaced_deployment(ns, deployment("hist", 1, revisionHistoryLimit=1))
    ready_deployment(apps, ns, "hist", 1)
    for rev in range(2, 5):
        apps.patch_namespaced_deployment("hist", ns, {"spec": {"template": {"metadata": {
            "annotations": {"rev": str(rev)}}}}})
        wait_for(lambda rev=rev: apps.read_namespaced_deployment("hist", ns).metadata
                 .annotations.get("deployment.kubernetes.io/revision") == str(rev),
                 what=f"revision {rev}")
        ready_deployment(apps, ns, "hist", 1)
    rss = wait_for(lambda: (r := apps.list_namespaced_replica_set(ns).items) and len(r) == 2
                   and r, what="two ReplicaSets left")
    revisions = sorted(int(rs.metadata.annotations["deployment.kubernetes.io/revision"])
                       for rs in rss)
    assert revisions == [3, 4]


def test_scaling_events_and_proportional_scale_down(apps, core, ns):  # noqa: F811
    apps.create_namespaced_deployment(ns, deployment("sc", 4))
    ready_deployment(apps, ns, "sc", 4)
    apps.patch_namespaced_deployment_scale("sc", ns, {"spec": {"replicas": 1}})
    ready_deployment(apps, ns, "sc", 1)
    wait_for(lambda: len([p for p in _pods(core, ns, "sc")]) == 1, what="one pod left")
    messages = [e.message for e in core.list_namespaced_event(ns).items
                if e.reason == "ScalingReplicaSet"]
    assert any("Scaled up replica set" in m and "from 0 to 4" in m for m in messages)
    assert any("Scaled down replica set" in m and "from 4 to 1" in m for m in messages)


@pytest.mark.parametrize("surge,unavailable,replicas", [(0, 1, 3), ("50%", "50%", 4)])
def test_rolling_update_bounds(apps, core, ns, sim_client, surge, unavailable,  # noqa: F811
                               replicas):
    """Never fewer than replicas - maxUnavailable available, never more than
    replicas + maxSurge pods (counting terminating ones as gone, as the controller does)."""
    strategy = {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    apps.create_namespaced_deployment(ns, deployment("ru", replicas, strategy=strategy))
    core.create_namespaced_service(ns, service("ru", "ru"))
    ready_deployment(apps, ns, "ru", replicas)
    max_unavailable = 1 if unavailable == 1 else replicas // 2
    with SliceWatcher(sim_client, ns, "ru") as watcher:
        wait_for(lambda: sum(1 for c in watcher.current().values() if c.ready) == replicas,
                 what="all endpoints ready")
        apps.patch_namespaced_deployment("ru", ns, {"spec": {"template": {"metadata": {
            "annotations": {"v": "2"}}}}})
        wait_for(lambda: apps.read_namespaced_deployment("ru", ns).metadata.generation == 2,
                 what="the new generation")
        ready_deployment(apps, ns, "ru", replicas)
        wait_for(lambda: len(watcher.current()) == replicas and
                 all(c.ready for c in watcher.current().values()), what="settled slices")
    start = next(i for i, s in enumerate(watcher.history)
                 if sum(1 for c in s.values() if c.ready) == replicas)
    for state in watcher.history[start:]:
        assert sum(1 for c in state.values() if c.ready) >= replicas - max_unavailable, state


def test_pod_that_cannot_drain_is_killed_at_the_deadline(apps, core, discovery,  # noqa: F811
                                                         ns):  # noqa: F811
    apps.create_namespaced_deployment(ns, deployment(
        "slow", 1, image="example.com/slow:1", pod_spec={"terminationGracePeriodSeconds": 1}))
    core.create_namespaced_service(ns, service("slow", "slow"))
    ready_deployment(apps, ns, "slow", 1)
    (pod,) = _pods(core, ns, "slow")
    name = pod.metadata.name
    address, port, _ = wait_for(lambda: endpoints_of(discovery, ns, "slow").get(name),
                                what="the endpoint")
    # A request in flight for 30 s: the server cannot finish draining in its grace period.
    results: list = []
    worker = threading.Thread(target=lambda: results.append(
        _try(lambda: http_get(address, port, "/?delay=30s", timeout=40))), daemon=True)
    worker.start()
    time.sleep(0.3)
    seen: list = []
    w = kubernetes.watch.Watch()
    started = time.monotonic()
    core.delete_namespaced_pod(name, ns)
    for event in w.stream(core.list_namespaced_pod, ns, field_selector=f"metadata.name={name}",
                          timeout_seconds=30):
        seen.append((event["type"], event["object"]))
        if event["type"] == "DELETED":
            w.stop()
    elapsed = time.monotonic() - started
    final = [obj for kind, obj in seen if kind != "DELETED"][-1]
    (cs,) = final.status.container_statuses
    assert cs.state.terminated.exit_code == 137 and final.status.phase == "Failed"
    # Killed at the 2 s minimum the kubelet grants after SIGTERM, not after 30 s.
    assert 1.5 <= elapsed < 10
    worker.join(10)
    assert results and isinstance(results[0], Exception)  # the connection was cut


def _try(fn):
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc
