"""The simulated cluster's pure parts, checked against upstream's rules and examples:
pod-template-hash, rollout arithmetic, deletion ranking, endpoint translation, pod status,
the work queue, selectors, and the REST client/informer against a real API server.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from simulator.apiserver.app import ApiServer
from simulator.cluster import rollout as ru
from simulator.cluster.client import ApiClient, ApiError
from simulator.cluster.endpoints import desired_subsets
from simulator.cluster.endpointutil import (
    endpoint_ports,
    find_port,
    pod_to_endpoint,
    repack_subsets,
    should_pod_be_in_endpoints,
)
from simulator.cluster.hashing import SAFE_ALPHABET, compute_hash, fnv32a, safe_encode_string
from simulator.cluster.informer import Informer
from simulator.cluster.kinds import CONFIGMAPS, NODES, PODS
from simulator.cluster.objects import rfc3339
from simulator.cluster.podranking import rank_for_deletion
from simulator.cluster.podstatus import ContainerState, PodState, build_status, normalize_image
from simulator.cluster.selectors import matches
from simulator.cluster.workqueue import WorkQueue

# ---- pod-template-hash -----------------------------------------------------------------------


def test_fnv32a_reference_vectors():
    # From the FNV reference test suite (hash/fnv's own tests use the same).
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C
    assert fnv32a(b"foobar") == 0xBF9CF968


def test_safe_encode_string_maps_digits_like_upstream():
    # rand.SafeEncodeString: alphanums[int(r) % 27] for each rune.
    assert safe_encode_string("1234567890") == "56789bcdf4"


def test_compute_hash_is_stable_and_changes_with_template_and_collisions():
    template = {"metadata": {"labels": {"app": "a"}},
                "spec": {"containers": [{"name": "a", "image": "x"}]}}
    h = compute_hash(template)
    assert h == compute_hash({"spec": template["spec"], "metadata": template["metadata"]})
    assert set(h) <= set(SAFE_ALPHABET) and 1 <= len(h) <= 10
    assert compute_hash(template, 1) != h
    assert compute_hash(template, 1) != compute_hash(template, 2)
    other = {**template, "metadata": {"labels": {"app": "a"}, "annotations": {"r": "1"}}}
    assert compute_hash(other) != h
    # kubectl sends `creationTimestamp: null` in templates: the same as absent, as in Go.
    nulled = {**template, "metadata": {"labels": {"app": "a"}, "creationTimestamp": None}}
    assert compute_hash(nulled) == h
    assert ru.equal_ignore_hash(nulled, {**template, "metadata": {
        "labels": {"app": "a", "pod-template-hash": h}}})


# ---- rollout arithmetic ----------------------------------------------------------------------


@pytest.mark.parametrize("value,total,up,expected", [
    ("25%", 2, True, 1), ("25%", 2, False, 0), ("33%", 10, True, 4), ("33%", 10, False, 3),
    (3, 10, True, 3), ("100%", 7, False, 7), ("0%", 5, True, 0)])
def test_scaled_value(value, total, up, expected):
    assert ru.scaled_value(value, total, up) == expected


@pytest.mark.parametrize("value", ["10", "x%", None, True, 1.5])
def test_scaled_value_rejects_what_validation_rejects(value):
    with pytest.raises(ValueError):
        ru.scaled_value(value, 10, True)


def _deployment(replicas=3, surge="25%", unavailable="25%", strategy="RollingUpdate", **status):
    d = {"metadata": {"name": "d", "namespace": "n", "generation": 1},
         "spec": {"replicas": replicas, "strategy": {"type": strategy},
                  "progressDeadlineSeconds": 600, "revisionHistoryLimit": 10},
         "status": status}
    if strategy == "RollingUpdate":
        d["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": surge,
                                                  "maxUnavailable": unavailable}
    return d


def _rs(name, replicas, available=0, created="2024-01-01T00:00:00Z", **annotations):
    return {"metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": created,
                         "annotations": annotations},
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas, "availableReplicas": available,
                       "readyReplicas": available}}


def test_fenceposts_both_zero_means_one_unavailable():
    assert ru.resolve_fenceposts(0, 0, 5) == (0, 1)
    assert ru.resolve_fenceposts("25%", "25%", 2) == (1, 0)
    assert ru.resolve_fenceposts("25%", "25%", 1) == (1, 0)
    assert ru.resolve_fenceposts("10%", "10%", 1) == (1, 0)


def test_max_surge_and_unavailable_round_like_upstream():
    d = _deployment(2)  # 25% of 2: surge rounds up to 1, unavailable down to 0
    assert (ru.max_surge(d), ru.max_unavailable(d)) == (1, 0)
    d = _deployment(10)
    assert (ru.max_surge(d), ru.max_unavailable(d)) == (3, 2)
    d = _deployment(2, surge=0, unavailable="200%")
    assert ru.max_unavailable(d) == 2  # never more than the replicas
    d = _deployment(1, surge=0, unavailable=0)
    assert ru.max_unavailable(d) == 1
    assert ru.max_unavailable(_deployment(3, strategy="Recreate")) == 0
    assert ru.max_surge(_deployment(3, strategy="Recreate")) == 0


def test_new_rs_new_replicas():
    d = _deployment(3, surge=1, unavailable=0)
    old, new = _rs("old", 3, 3), _rs("new", 0)
    assert ru.new_rs_new_replicas(d, [old, new], new) == 1
    old, new = _rs("old", 2, 2), _rs("new", 2, 1)
    assert ru.new_rs_new_replicas(d, [old, new], new) == 2  # at maxTotal already
    assert ru.new_rs_new_replicas(_deployment(3, strategy="Recreate"), [old, new], new) == 3


def test_replica_set_proportion():
    # A Deployment at 15 replicas (maxSurge 0) with a ReplicaSet of 5 sized for 10: it grows
    # to round(5 * 15 / 10) = 8 (GetReplicaSetProportion / getReplicaSetFraction).
    d = _deployment(15, surge=0, unavailable=1)
    rs = _rs("a", 5, **{ru.MAX_REPLICAS: "10"})
    assert ru.replica_set_proportion(rs, d, 5, 0) == 3
    assert ru.replica_set_proportion(rs, d, 2, 0) == 2  # capped by what is left to add
    d0 = _deployment(0)
    assert ru.replica_set_proportion(rs, d0, -5, 0) == -5


def test_find_active_or_latest_and_saturation():
    new = _rs("new", 0, created="2024-01-02T00:00:00Z")
    old = _rs("old", 3, 3)
    assert ru.find_active_or_latest(new, [old]) is old
    both = _rs("new", 1, created="2024-01-02T00:00:00Z")
    assert ru.find_active_or_latest(both, [old]) is None
    idle_old = _rs("old", 0)
    assert ru.find_active_or_latest(None, [idle_old]) is idle_old
    d = _deployment(3)
    saturated = _rs("s", 3, 3, **{ru.DESIRED_REPLICAS: "3"})
    assert ru.is_saturated(d, saturated)
    assert not ru.is_saturated(d, _rs("s", 3, 2, **{ru.DESIRED_REPLICAS: "3"}))


def test_calculate_status_and_available_condition():
    d = _deployment(2)
    new = _rs("new", 2, 2)
    status = ru.calculate_status([new], new, d)
    assert status["replicas"] == 2 and status["availableReplicas"] == 2
    assert status["observedGeneration"] == 1 and "unavailableReplicas" not in status
    (cond,) = status["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == \
        ("Available", "True", "MinimumReplicasAvailable")
    status = ru.calculate_status([_rs("new", 2, 1)], new, d)
    assert status["conditions"][0]["reason"] == "MinimumReplicasUnavailable"
    assert ru.deployment_complete(d, ru.calculate_status([new], new, d))


def test_set_condition_keeps_transition_time_for_the_same_status():
    status: dict = {}
    ru.set_condition(status, {**ru.new_condition("Progressing", "True", "A", "m"),
                              "lastTransitionTime": "T0"})
    ru.set_condition(status, ru.new_condition("Progressing", "True", "B", "m"))
    (cond,) = status["conditions"]
    assert cond["reason"] == "B" and cond["lastTransitionTime"] == "T0"


def test_new_replica_set_annotations_record_rollback_history():
    d = {"metadata": {"annotations": {"team": "x", ru.LAST_APPLIED: "{}"}},
         "spec": {"replicas": 2, "strategy": {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": 1,
                                                                "maxUnavailable": 0}}}}
    rs: dict = {"metadata": {}}
    assert ru.set_new_replica_set_annotations(d, rs, "1", exists=False)
    assert rs["metadata"]["annotations"] == {"team": "x", ru.REVISION: "1",
                                             ru.DESIRED_REPLICAS: "2", ru.MAX_REPLICAS: "3"}
    # Rolling back to this ReplicaSet: revision 3, and 1 remembered in revision-history.
    assert ru.set_new_replica_set_annotations(d, rs, "3", exists=True)
    assert rs["metadata"]["annotations"][ru.REVISION] == "3"
    assert rs["metadata"]["annotations"][ru.REVISION_HISTORY] == "1"


# ---- which pods go first ---------------------------------------------------------------------


def _pod(name, *, node="sim-node", phase="Running", ready=True, ready_at=None, created=None,
         restarts=0, uid=None, cost=None):
    now = datetime(2024, 1, 1, tzinfo=timezone.utc)
    pod = {"metadata": {"name": name, "namespace": "n", "uid": uid or f"uid-{name}",
                        "creationTimestamp": rfc3339(created or now), "annotations": {}},
           "spec": {"nodeName": node},
           "status": {"phase": phase, "podIP": "127.0.0.9",
                      "containerStatuses": [{"restartCount": restarts}],
                      "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                      "lastTransitionTime": rfc3339(ready_at or now)}]}}
    if cost is not None:
        pod["metadata"]["annotations"]["controller.kubernetes.io/pod-deletion-cost"] = str(cost)
    return pod


def test_rank_for_deletion_follows_active_pods_with_ranks():
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    at = base + timedelta(days=10)
    pods = [
        _pod("ready-old", ready_at=base, created=base),
        _pod("unassigned", node="", phase="Pending", ready=False),
        _pod("pending", phase="Pending", ready=False),
        _pod("not-ready", ready=False),
        _pod("ready-new", ready_at=base + timedelta(days=9, hours=23), created=base),
        _pod("costly", cost=100, ready_at=base + timedelta(days=9, hours=23)),
    ]
    order = [p["metadata"]["name"] for p in rank_for_deletion(pods, at=at)]
    assert order == ["unassigned", "pending", "not-ready", "ready-new", "ready-old", "costly"]


def test_rank_for_deletion_prefers_restarts_then_newer_pods():
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    at = base + timedelta(days=30)
    same_ready = base
    pods = [_pod("old", ready_at=same_ready, created=base),
            _pod("young", ready_at=same_ready, created=base + timedelta(days=29)),
            _pod("crashy", ready_at=same_ready, created=base, restarts=3)]
    order = [p["metadata"]["name"] for p in rank_for_deletion(pods, at=at)]
    assert order == ["crashy", "young", "old"]


# ---- endpoints -------------------------------------------------------------------------------


def _svc(ports=None, **spec):
    return {"metadata": {"name": "svc", "namespace": "n", "uid": "svc-uid"},
            "spec": {"selector": {"app": "a"}, "clusterIP": "10.96.0.10",
                     "ports": ports or [{"port": 80, "targetPort": 80, "protocol": "TCP"}],
                     **spec}}


def _epod(name="p", ready=True, deleting=False, ip="127.0.0.5", ports=None):
    pod = _pod(name, ready=ready)
    pod["metadata"]["labels"] = {"app": "a"}
    pod["metadata"]["annotations"]["simulator.dev/ports"] = '{"80": 41234, "8080": 41235}'
    pod["status"]["podIP"] = ip
    pod["spec"]["containers"] = [{"name": "c", "ports": ports or [
        {"containerPort": 80, "name": "http", "protocol": "TCP"}]}]
    if deleting:
        pod["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:30Z"
    return pod


@pytest.mark.parametrize("ready,deleting,publish,expected", [
    (True, False, False, (True, True, False)),
    (False, False, False, (False, False, False)),
    (True, True, False, (False, True, True)),   # draining: serving but not ready
    (False, True, False, (False, False, True)),
    (False, True, True, (True, False, True)),   # publishNotReadyAddresses
])
def test_pod_to_endpoint_conditions(ready, deleting, publish, expected):
    svc = _svc(publishNotReadyAddresses=publish)
    ep = pod_to_endpoint(_epod(ready=ready, deleting=deleting), svc)
    c = ep["conditions"]
    assert (c["ready"], c["serving"], c["terminating"]) == expected
    assert ep["addresses"] == ["127.0.0.5"] and ep["nodeName"] == "sim-node"
    assert ep["targetRef"] == {"kind": "Pod", "namespace": "n", "name": "p", "uid": "uid-p"}


def test_ports_resolve_named_target_ports_to_the_real_port():
    pod = _epod()
    assert find_port(pod, {"port": 80, "targetPort": "http", "protocol": "TCP"}) == 80
    assert find_port(pod, {"port": 80, "targetPort": "http", "protocol": "UDP"}) is None
    assert find_port(pod, {"port": 80, "targetPort": "nope"}) is None
    svc = _svc([{"name": "web", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "alt", "port": 81, "targetPort": 8080, "protocol": "TCP"},
                {"name": "missing", "port": 82, "targetPort": "absent", "protocol": "TCP"}])
    assert endpoint_ports(svc, pod) == [
        {"name": "web", "protocol": "TCP", "port": 41234},
        {"name": "alt", "protocol": "TCP", "port": 41235}]


def test_should_pod_be_in_endpoints():
    assert should_pod_be_in_endpoints(_epod(), False)
    assert not should_pod_be_in_endpoints(_epod(deleting=True), False)
    assert should_pod_be_in_endpoints(_epod(deleting=True), True)
    no_ip = _epod()
    no_ip["status"].pop("podIP")
    assert not should_pod_be_in_endpoints(no_ip, True)
    done = _epod()
    done["status"]["phase"] = "Succeeded"
    assert not should_pod_be_in_endpoints(done, True)


def test_endpoints_subsets_split_ready_and_not_ready():
    pods = [_epod("a", ip="127.0.0.2"), _epod("b", ready=False, ip="127.0.0.3"),
            _epod("c", deleting=True, ip="127.0.0.4")]
    (subset,) = desired_subsets(_svc(), pods)
    assert [a["ip"] for a in subset["addresses"]] == ["127.0.0.2"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["127.0.0.3"]
    assert subset["ports"] == [{"port": 41234, "protocol": "TCP"}]


def test_repack_groups_addresses_by_port_set():
    a = {"ip": "127.0.0.2", "targetRef": {"uid": "a"}}
    b = {"ip": "127.0.0.3", "targetRef": {"uid": "b"}}
    p1, p2 = {"port": 1, "protocol": "TCP"}, {"port": 2, "protocol": "TCP"}
    subsets = repack_subsets([(a, p1, True), (b, p1, True), (a, p2, True), (b, p2, False)])
    assert subsets == [{"addresses": [a, b], "ports": [p1]},
                       {"addresses": [a], "notReadyAddresses": [b], "ports": [p2]}]


# ---- pod status ------------------------------------------------------------------------------


def test_normalize_image():
    assert normalize_image("nginxdemos/hello:plain-text") == \
        "docker.io/nginxdemos/hello:plain-text"
    assert normalize_image("nginx") == "docker.io/library/nginx:latest"
    assert normalize_image("registry.k8s.io/pause:3.9") == "registry.k8s.io/pause:3.9"
    assert normalize_image("localhost:5000/x") == "localhost:5000/x:latest"


def test_build_status_tracks_readiness_and_transition_times():
    container = ContainerState("c", "nginx", "containerd://" + "0" * 64, "T0", ready=False)
    state = PodState("127.0.0.2", "127.0.0.1", "T0", [container])
    first = build_status(state, "T1")
    conditions = {c["type"]: c for c in first["conditions"]}
    assert [c["type"] for c in first["conditions"]] == [
        "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "ContainersNotReady"
    assert conditions["Ready"]["message"] == "containers with unready status: [c]"
    container.ready = True
    second = build_status(state, "T2")
    ready = {c["type"]: c for c in second["conditions"]}["Ready"]
    assert ready["status"] == "True" and ready["lastTransitionTime"] == "T2"
    assert {c["type"]: c for c in second["conditions"]}["PodScheduled"][
        "lastTransitionTime"] == "T1"
    assert second["phase"] == "Running" and second["containerStatuses"][0]["ready"]
    container.running, container.exit_code, container.reason = False, 0, "Completed"
    state.terminal = True
    final = build_status(state, "T3")
    assert final["phase"] == "Succeeded"
    assert {c["type"]: c["status"] for c in final["conditions"]}["Ready"] == "False"
    assert final["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


# ---- selectors -------------------------------------------------------------------------------


def test_label_selector_expressions():
    labels = {"app": "a", "tier": "web"}
    assert matches({"matchLabels": {"app": "a"}}, labels)
    assert matches({}, labels)
    assert not matches(None, labels)
    assert matches({"matchExpressions": [{"key": "tier", "operator": "In",
                                          "values": ["web", "db"]}]}, labels)
    assert not matches({"matchExpressions": [{"key": "tier", "operator": "NotIn",
                                              "values": ["web"]}]}, labels)
    assert matches({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}, labels)
    assert not matches({"matchExpressions": [{"key": "x", "operator": "Exists"}]}, labels)


# ---- work queue ------------------------------------------------------------------------------


def test_work_queue_deduplicates_and_never_hands_a_key_to_two_workers():
    async def scenario():
        q = WorkQueue()
        q.add("a")
        q.add("a")
        q.add("b")
        assert len(q) == 2
        key = await q.get()
        assert key == "a"
        q.add("a")  # re-added while processing: waits for done()
        assert await q.get() == "b"
        assert len(q) == 0
        q.done("a")
        assert await q.get() == "a"
        q.done("a")
        q.add_after("c", 0.01)
        assert await asyncio.wait_for(q.get(), 1) == "c"
        q.shutdown()

    asyncio.run(scenario())


# ---- client and informer against the real API server ------------------------------------------


@pytest.fixture(scope="module")
def small_history_server():
    server = ApiServer(history=5).start()
    yield server
    server.stop()


def test_watch_past_the_window_is_gone_and_the_informer_relists(small_history_server):
    async def scenario():
        client = ApiClient(small_history_server.url)
        try:
            seen: list[tuple[str, str]] = []
            informer = Informer(client, CONFIGMAPS, namespace="default")
            informer.add_handler(lambda o: seen.append(("add", o["metadata"]["name"])),
                                 lambda a, b: seen.append(("update", b["metadata"]["name"])),
                                 lambda o: seen.append(("delete", o["metadata"]["name"])))
            await client.create(CONFIGMAPS, {"metadata": {"name": "keep"}}, "default")
            await client.create(CONFIGMAPS, {"metadata": {"name": "drop"}}, "default")
            _, rv = await client.list_all(CONFIGMAPS, "default")
            for i in range(10):
                await client.create(CONFIGMAPS, {"metadata": {"name": f"x{i}"}},
                                    "default")
            with pytest.raises(ApiError) as info:
                async for _ in client.watch(CONFIGMAPS, "default",
                                            resource_version="2", timeout_seconds=1):
                    pass
            assert info.value.gone
            informer.start()
            await asyncio.wait_for(informer.synced.wait(), 10)
            assert {"default/keep", "default/drop"} <= set(informer.cache)
            # A relist reconciles: what vanished while away is reported deleted.
            informer._replace([informer.get("default/keep")])  # noqa: SLF001
            assert ("delete", "drop") in seen
            await client.delete(CONFIGMAPS, "keep", "default")
            await asyncio.wait_for(_until(lambda: ("delete", "keep") in seen), 10)
            await informer.stop()
            assert rv
        finally:
            await client.close()

    asyncio.run(scenario())


async def _until(predicate):
    while not predicate():
        await asyncio.sleep(0.01)


def test_client_errors_carry_the_status(small_history_server):
    async def scenario():
        client = ApiClient(small_history_server.url)
        try:
            with pytest.raises(ApiError) as info:
                await client.get(PODS, "missing", "default")
            assert info.value.not_found and info.value.status["kind"] == "Status"
        finally:
            await client.close()

    asyncio.run(scenario())


def test_cluster_over_https_with_a_token():
    import ssl

    from simulator.cluster import Cluster

    server = ApiServer(tls=True, token="s3cret").start()
    try:
        ctx = ssl.create_default_context()
        server.ca.configure_trust(ctx)
        handle = Cluster(server.url, token="s3cret", ssl=ctx).run_in_thread()
        try:
            async def node_ready():
                client = ApiClient(server.url, "s3cret", ssl=ctx)
                intruder = ApiClient(server.url, "wrong", ssl=ctx)
                try:
                    node = await client.get(NODES, "sim-node")
                    with pytest.raises(ApiError) as info:
                        await intruder.get(NODES, "sim-node")
                    assert info.value.code == 401
                    return node
                finally:
                    await client.close()
                    await intruder.close()

            node = asyncio.run(node_ready())
            assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == \
                "True"
        finally:
            handle.stop()
    finally:
        server.stop()
