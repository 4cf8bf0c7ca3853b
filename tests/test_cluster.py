"""The simulated cluster against a real API server, driven by real clients (kubectl and the
`kubernetes` Python client) with the seed manifests: Deployments -> ReplicaSets -> Pods ->
EndpointSlices/Endpoints, with each pod a real HTTP server answering on its own address.
"""

from __future__ import annotations

import json
import re

import kubernetes
import pytest

from simulator.cluster.hashing import SAFE_ALPHABET

from .test_cluster_support import (  # noqa: F401 - fixtures
    SEED,
    SliceWatcher,
    api_client,
    discovery,
    endpoints_of,
    http_get,
    kubectl,
    ns,
    ready_deployment,
    sim_client,
    sim_cluster,
    sim_server,
    slices_of,
    wait_for,
)

HASH = f"[{SAFE_ALPHABET}]{{1,10}}"
SUFFIX = f"[{SAFE_ALPHABET}]{{5}}"


@pytest.fixture
def seeded(kubectl, apps, ns):  # noqa: F811
    """The seed manifests applied with kubectl, and both Deployments available."""
    out = kubectl("apply", "-f", str(SEED)).stdout
    assert "deployment.apps/app1 created" in out
    ready_deployment(apps, ns, "app1", 2)
    ready_deployment(apps, ns, "app2", 2)
    return ns


def _pods_of(core, ns, app):  # noqa: F811
    return sorted(core.list_namespaced_pod(ns, label_selector=f"app={app}").items,
                  key=lambda p: p.metadata.name)


def test_node_and_default_ingress_class(sim_client):  # noqa: F811
    node = kubernetes.client.CoreV1Api(sim_client).read_node("sim-node")
    ready = [c for c in node.status.conditions if c.type == "Ready"]
    assert ready and ready[0].status == "True" and ready[0].reason == "KubeletReady"
    assert {(a.type, a.address) for a in node.status.addresses} >= {("InternalIP", "127.0.0.1")}
    cls = kubernetes.client.NetworkingV1Api(sim_client).read_ingress_class("reference")
    assert cls.spec.controller == "simulator.dev/reference-ingress-controller"
    assert cls.metadata.annotations["ingressclass.kubernetes.io/is-default-class"] == "true"


def test_seed_replicasets_and_pods(seeded, apps, core):  # noqa: F811
    namespace = seeded
    d = apps.read_namespaced_deployment("app1", namespace)
    (rs,) = apps.list_namespaced_replica_set(namespace, label_selector="app=app1").items
    pod_hash = rs.metadata.labels["pod-template-hash"]
    assert re.fullmatch(HASH, pod_hash)
    assert rs.metadata.name == f"app1-{pod_hash}"
    assert rs.metadata.labels == {"app": "app1", "pod-template-hash": pod_hash}
    assert rs.spec.selector.match_labels == {"app": "app1", "pod-template-hash": pod_hash}
    assert rs.metadata.annotations == {"deployment.kubernetes.io/revision": "1",
                                       "deployment.kubernetes.io/desired-replicas": "2",
                                       "deployment.kubernetes.io/max-replicas": "3"}
    (ref,) = rs.metadata.owner_references
    assert (ref.api_version, ref.kind, ref.name, ref.uid, ref.controller,
            ref.block_owner_deletion) == ("apps/v1", "Deployment", "app1", d.metadata.uid,
                                          True, True)
    assert (rs.status.replicas, rs.status.ready_replicas, rs.status.available_replicas,
            rs.status.fully_labeled_replicas, rs.status.observed_generation) == (2, 2, 2, 2, 1)
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "1"

    pods = _pods_of(core, namespace, "app1")
    assert len(pods) == 2
    ips = set()
    for pod in pods:
        assert re.fullmatch(f"app1-{pod_hash}-{SUFFIX}", pod.metadata.name)
        assert pod.metadata.generate_name == f"app1-{pod_hash}-"
        assert pod.metadata.labels == {"app": "app1", "pod-template-hash": pod_hash}
        (ref,) = pod.metadata.owner_references
        assert (ref.kind, ref.name, ref.uid, ref.controller, ref.block_owner_deletion) == \
            ("ReplicaSet", rs.metadata.name, rs.metadata.uid, True, True)
        assert pod.spec.node_name == "sim-node"
        st = pod.status
        assert st.phase == "Running" and st.host_ip == "127.0.0.1"
        assert st.pod_ip.startswith("127.") and [i.ip for i in st.pod_ips] == [st.pod_ip]
        assert st.start_time is not None
        conditions = {c.type: c for c in st.conditions}
        for cond_type in ("PodScheduled", "Initialized", "ContainersReady", "Ready"):
            assert conditions[cond_type].status == "True"
            assert conditions[cond_type].last_transition_time is not None
        (cs,) = st.container_statuses
        assert cs.name == "app1" and cs.ready and cs.started and cs.restart_count == 0
        assert cs.state.running.started_at is not None
        assert cs.image == "docker.io/nginxdemos/hello:plain-text"
        assert cs.image_id.startswith("docker.io/nginxdemos/hello@sha256:")
        assert re.fullmatch(r"containerd://[0-9a-f]{64}", cs.container_id)
        ips.add(st.pod_ip)
    assert len(ips) == 2  # every pod has its own address


def test_deployment_status_and_conditions(seeded, apps):  # noqa: F811
    d = apps.read_namespaced_deployment("app1", seeded)
    st = d.status
    assert (st.replicas, st.updated_replicas, st.ready_replicas, st.available_replicas,
            st.unavailable_replicas) == (2, 2, 2, 2, None)
    assert st.observed_generation == d.metadata.generation
    conditions = {c.type: c for c in st.conditions}
    assert (conditions["Available"].status, conditions["Available"].reason) == \
        ("True", "MinimumReplicasAvailable")
    assert (conditions["Progressing"].status, conditions["Progressing"].reason) == \
        ("True", "NewReplicaSetAvailable")
    assert re.fullmatch(f'ReplicaSet "app1-{HASH}" has successfully progressed.',
                        conditions["Progressing"].message)


def test_endpointslices_point_at_real_pod_servers(seeded, core, discovery):  # noqa: F811
    namespace = seeded
    svc = core.read_namespaced_service("app1-service", namespace)
    slices = slices_of(discovery, namespace, "app1-service")
    assert slices
    for s in slices:
        assert re.fullmatch(f"app1-service-{SUFFIX}", s.metadata.name)
        assert s.metadata.generate_name == "app1-service-"
        assert s.address_type == "IPv4"
        assert s.metadata.labels["kubernetes.io/service-name"] == "app1-service"
        assert s.metadata.labels["endpointslice.kubernetes.io/managed-by"] == \
            "endpointslice-controller.k8s.io"
        (ref,) = s.metadata.owner_references
        assert (ref.api_version, ref.kind, ref.name, ref.uid, ref.controller,
                ref.block_owner_deletion) == ("v1", "Service", "app1-service",
                                              svc.metadata.uid, True, True)
    pods = {p.metadata.name: p for p in _pods_of(core, namespace, "app1")}
    endpoints = endpoints_of(discovery, namespace, "app1-service")
    assert set(endpoints) == set(pods)
    for name, (address, port, conditions) in endpoints.items():
        pod = pods[name]
        assert address == pod.status.pod_ip
        # The port is the one the pod's process really listens on, published by the kubelet.
        published = json.loads(pod.metadata.annotations["simulator.dev/ports"])
        assert port == published["80"]
        assert (conditions.ready, conditions.serving, conditions.terminating) == \
            (True, True, False)
        status, body = http_get(address, port)
        assert status == 200
        assert f"Server address: {address}:80" in body or f"Server address: {address}:" in body
        assert f"Server name: {name}" in body
    for s in slices:
        for ep in s.endpoints:
            assert ep.node_name == "sim-node"
            assert ep.target_ref.kind == "Pod" and ep.target_ref.namespace == namespace
            assert ep.target_ref.uid == pods[ep.target_ref.name].metadata.uid


def test_legacy_endpoints(seeded, core):  # noqa: F811
    namespace = seeded
    pods = {p.status.pod_ip: p for p in _pods_of(core, namespace, "app1")}

    def addresses():
        ep = core.read_namespaced_endpoints("app1-service", namespace)
        found = [(a, s.ports) for s in ep.subsets or [] for a in s.addresses or []]
        return (ep, found) if len(found) == 2 else None

    ep, found = wait_for(addresses, what="two ready addresses in the Endpoints")
    assert not any(s.not_ready_addresses for s in ep.subsets)
    assert ep.metadata.labels.get("endpoints.kubernetes.io/managed-by") == "endpoint-controller"
    for address, ports in found:
        pod = pods[address.ip]
        assert address.node_name == "sim-node"
        assert address.target_ref.name == pod.metadata.name
        # Pods listen on different real ports, so each has a subset of its own (RepackSubsets
        # groups addresses by identical port sets).
        published = json.loads(pod.metadata.annotations["simulator.dev/ports"])
        assert [(p.port, p.protocol) for p in ports] == [(published["80"], "TCP")]


def test_scale_to_three_adds_an_endpoint(seeded, apps, core, discovery):  # noqa: F811
    namespace = seeded
    apps.patch_namespaced_deployment_scale("app1", namespace, {"spec": {"replicas": 3}})
    ready_deployment(apps, namespace, "app1", 3)
    endpoints = wait_for(lambda: (e := endpoints_of(discovery, namespace, "app1-service")) and
                         len(e) == 3 and all(c.ready for _, _, c in e.values()) and e,
                         what="three ready endpoints")
    pods = {p.metadata.name for p in _pods_of(core, namespace, "app1")}
    assert set(endpoints) == pods
    for address, port, _ in endpoints.values():
        assert http_get(address, port)[0] == 200
    (rs,) = apps.list_namespaced_replica_set(namespace, label_selector="app=app1").items
    assert rs.metadata.annotations["deployment.kubernetes.io/desired-replicas"] == "3"
    assert rs.metadata.annotations["deployment.kubernetes.io/max-replicas"] == "4"


def test_kubectl_wait_and_rollout_status(kubectl, ns):  # noqa: F811
    kubectl("apply", "-f", str(SEED))
    kubectl("wait", "--for=condition=available", "deployment/app1", "--timeout=60s")
    out = kubectl("rollout", "status", "deployment/app1", "--timeout=60s").stdout
    assert 'deployment "app1" successfully rolled out' in out


def test_rolling_restart_keeps_enough_ready_endpoints(seeded, kubectl, apps, core,  # noqa: F811
                                                      sim_client):  # noqa: F811
    namespace = seeded
    old_pods = {p.metadata.name for p in _pods_of(core, namespace, "app1")}
    (old_rs,) = apps.list_namespaced_replica_set(namespace, label_selector="app=app1").items
    # replicas 2, maxUnavailable 25% -> 0 (rounded down), maxSurge 25% -> 1 (rounded up).
    min_ready = 2 - 0
    with SliceWatcher(sim_client, namespace, "app1-service") as watcher:
        kubectl("rollout", "restart", "deployment/app1")
        kubectl("rollout", "status", "deployment/app1", "--timeout=60s")

        def only_new_pods():
            names = {p.metadata.name for p in _pods_of(core, namespace, "app1")
                     if p.metadata.deletion_timestamp is None}
            return names if len(names) == 2 and not names & old_pods else None

        new_pods = wait_for(only_new_pods, what="only new pods")
        wait_for(lambda: set(watcher.current()) == new_pods and
                 all(c.ready for c in watcher.current().values()),
                 what="slices showing only the new pods, ready")
    for state in watcher.history:
        ready = sum(1 for c in state.values() if c.ready)
        assert ready >= min_ready, f"only {ready} ready endpoints in {state}"
    rss = apps.list_namespaced_replica_set(namespace, label_selector="app=app1").items
    new_rs = [rs for rs in rss if rs.metadata.uid != old_rs.metadata.uid]
    assert len(new_rs) == 1
    assert new_rs[0].metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert new_rs[0].spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]
    old = apps.read_namespaced_replica_set(old_rs.metadata.name, namespace)
    assert old.spec.replicas == 0
    d = apps.read_namespaced_deployment("app1", namespace)
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    for pod in _pods_of(core, namespace, "app1"):
        assert pod.metadata.labels["pod-template-hash"] == \
            new_rs[0].metadata.labels["pod-template-hash"]


def test_rollout_undo_reuses_the_old_replicaset(seeded, kubectl, apps):  # noqa: F811
    namespace = seeded
    (first,) = apps.list_namespaced_replica_set(namespace, label_selector="app=app1").items
    kubectl("set", "image", "deployment/app1", "app1=nginxdemos/hello:latest")
    kubectl("rollout", "status", "deployment/app1", "--timeout=60s")
    kubectl("rollout", "undo", "deployment/app1")
    kubectl("rollout", "status", "deployment/app1", "--timeout=60s")
    rss = {rs.metadata.name: rs for rs in
           apps.list_namespaced_replica_set(namespace, label_selector="app=app1").items}
    assert len(rss) == 2  # no third ReplicaSet: the first one is the new one again
    back = rss[first.metadata.name]
    assert back.spec.replicas == 2
    assert back.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    assert back.metadata.annotations["deployment.kubernetes.io/revision-history"] == "1"
    history = kubectl("rollout", "history", "deployment/app1").stdout.split()
    assert "2" in history and "3" in history and "1" not in history[history.index("CHANGE-CAUSE"):]
