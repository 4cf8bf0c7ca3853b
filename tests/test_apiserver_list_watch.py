"""List and watch: selectors, pagination, resourceVersion semantics, watch resume, 410,
bookmarks, watch-list, and concurrent writers."""

from __future__ import annotations

import json
import threading

import pytest
import requests
from kubernetes import watch
from kubernetes.client import ApiException

from simulator.apiserver.app import ApiServer


def _cm(core, namespace, name, labels=None):
    return core.create_namespaced_config_map(namespace, {"metadata": {
        "name": name, "labels": labels or {}}})


@pytest.mark.parametrize(("selector", "expected"), [
    ("env=prod", {"a", "c"}),
    ("env==prod", {"a", "c"}),
    ("env!=prod", {"b", "d"}),
    ("env in (prod,dev)", {"a", "b", "c"}),
    ("env notin (prod)", {"b", "d"}),
    ("tier", {"a", "b"}),
    ("!tier", {"c", "d"}),
    ("env=prod,tier=web", {"a"}),
])
def test_label_selectors(core, namespace, selector, expected):
    _cm(core, namespace, "a", {"env": "prod", "tier": "web"})
    _cm(core, namespace, "b", {"env": "dev", "tier": "db"})
    _cm(core, namespace, "c", {"env": "prod"})
    _cm(core, namespace, "d", {})
    items = core.list_namespaced_config_map(namespace, label_selector=selector).items
    assert {i.metadata.name for i in items} == expected


def test_malformed_label_selector_is_400(core, namespace):
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(namespace, label_selector="a in (b")
    assert err.value.status == 400


def test_field_selectors(core, namespace):
    _cm(core, namespace, "one")
    _cm(core, namespace, "two")
    core.create_namespaced_secret(namespace, {"metadata": {"name": "tls"},
                                              "type": "kubernetes.io/tls",
                                              "data": {"tls.crt": "", "tls.key": ""}})
    core.create_namespaced_secret(namespace, {"metadata": {"name": "plain"}})
    named = core.list_namespaced_config_map(namespace, field_selector="metadata.name=two")
    assert [i.metadata.name for i in named.items] == ["two"]
    not_named = core.list_namespaced_config_map(namespace, field_selector="metadata.name!=two")
    assert "two" not in {i.metadata.name for i in not_named.items}
    tls = core.list_namespaced_secret(namespace, field_selector="type=kubernetes.io/tls")
    assert [i.metadata.name for i in tls.items] == ["tls"]
    everywhere = core.list_config_map_for_all_namespaces(
        field_selector=f"metadata.namespace={namespace}")
    assert {i.metadata.name for i in everywhere.items} == {"one", "two"}


def test_unknown_field_selector_is_400(core, namespace):
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(namespace, field_selector="spec.nope=x")
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"] == "field label not supported: spec.nope"


def test_pagination_is_a_consistent_snapshot(core, namespace):
    for i in range(7):
        _cm(core, namespace, f"cm-{i}")
    first = core.list_namespaced_config_map(namespace, limit=3)
    assert [i.metadata.name for i in first.items] == ["cm-0", "cm-1", "cm-2"]
    assert first.metadata.remaining_item_count == 4
    _cm(core, namespace, "cm-00-late")  # created after the first page: not in this list
    names = [i.metadata.name for i in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map(namespace, limit=3, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        names += [i.metadata.name for i in page.items]
        token = page.metadata._continue
    assert names == [f"cm-{i}" for i in range(7)]


def test_expired_continue_token_is_410(tmp_path):
    with ApiServer(history=5) as server:
        base = f"{server.url}/api/v1/namespaces/default/configmaps"
        for i in range(4):
            requests.post(base, json={"metadata": {"name": f"c{i}"}}, timeout=10)
        token = requests.get(base, params={"limit": 1}, timeout=10).json()["metadata"]["continue"]
        for i in range(10):
            requests.post(base, json={"metadata": {"name": f"later{i}"}}, timeout=10)
        resp = requests.get(base, params={"limit": 1, "continue": token}, timeout=10)
        assert resp.status_code == 410
        assert resp.json()["reason"] == "Expired"


def test_exact_resource_version_read(core, namespace):
    first = _cm(core, namespace, "a")
    _cm(core, namespace, "b")
    old = core.list_namespaced_config_map(namespace, resource_version=first.metadata
                                          .resource_version, resource_version_match="Exact")
    assert [i.metadata.name for i in old.items] == ["a"]
    assert old.metadata.resource_version == first.metadata.resource_version


def test_watch_stream_sees_every_event_with_increasing_rvs(core, namespace):
    listed = core.list_namespaced_config_map(namespace)
    events: list[tuple[str, str, int]] = []
    w = watch.Watch()

    def writer():
        _cm(core, namespace, "w1")
        core.patch_namespaced_config_map("w1", namespace, {"data": {"k": "v"}})
        core.delete_namespaced_config_map("w1", namespace)

    threading.Thread(target=writer).start()
    for ev in w.stream(core.list_namespaced_config_map, namespace,
                       resource_version=listed.metadata.resource_version, timeout_seconds=10):
        events.append((ev["type"], ev["object"].metadata.name,
                       int(ev["object"].metadata.resource_version)))
        if ev["type"] == "DELETED":
            w.stop()
    assert [e[0] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    rvs = [e[2] for e in events]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3  # DELETED carries a new rv


def test_watch_resumes_from_resource_version(core, namespace):
    a = _cm(core, namespace, "a")
    _cm(core, namespace, "b")
    _cm(core, namespace, "c")
    w = watch.Watch()
    seen = []
    for ev in w.stream(core.list_namespaced_config_map, namespace,
                       resource_version=a.metadata.resource_version, timeout_seconds=5):
        seen.append(ev["object"].metadata.name)
        if len(seen) == 2:
            w.stop()
    assert seen == ["b", "c"]


def test_watch_from_compacted_resource_version_gets_410():
    with ApiServer(history=3) as server:
        base = f"{server.url}/api/v1/namespaces/default/configmaps"
        first = requests.post(base, json={"metadata": {"name": "x0"}}, timeout=10).json()
        for i in range(1, 6):
            requests.post(base, json={"metadata": {"name": f"x{i}"}}, timeout=10)
        resp = requests.get(base, params={"watch": "true", "resourceVersion":
                                          first["metadata"]["resourceVersion"],
                                          "timeoutSeconds": "2"}, timeout=10, stream=True)
        assert resp.status_code == 200
        event = json.loads(next(resp.iter_lines()))
        assert event["type"] == "ERROR"
        assert event["object"]["code"] == 410
        assert event["object"]["reason"] == "Expired"


def test_python_client_raises_410_and_relist_recovers(tmp_path):
    import kubernetes

    with ApiServer(history=3) as server:
        client = kubernetes.config.new_client_from_config(
            config_file=str(server.write_kubeconfig(tmp_path / "kc")))
        core = kubernetes.client.CoreV1Api(client)
        first = _cm(core, "default", "x0")
        for i in range(1, 6):
            _cm(core, "default", f"x{i}")
        with pytest.raises(ApiException) as err:
            for _ in watch.Watch().stream(core.list_namespaced_config_map, "default",
                                          resource_version=first.metadata.resource_version,
                                          timeout_seconds=2):
                pass
        assert err.value.status == 410
        relisted = core.list_namespaced_config_map("default")
        assert len(relisted.items) == 6
        client.close()


def test_selector_transitions_are_added_and_deleted(core, namespace):
    listed = core.list_namespaced_config_map(namespace)
    _cm(core, namespace, "flip", {"app": "other"})
    core.patch_namespaced_config_map("flip", namespace, {"metadata": {"labels": {"app": "me"}}})
    core.patch_namespaced_config_map("flip", namespace, {"data": {"a": "b"}})
    core.patch_namespaced_config_map("flip", namespace,
                                     {"metadata": {"labels": {"app": "other"}}})
    w = watch.Watch()
    types = []
    for ev in w.stream(core.list_namespaced_config_map, namespace, label_selector="app=me",
                       resource_version=listed.metadata.resource_version, timeout_seconds=5):
        types.append(ev["type"])
        if len(types) == 3:
            w.stop()
    assert types == ["ADDED", "MODIFIED", "DELETED"]


def _raw_watch(server_url: str, path: str, params: dict) -> list[dict]:
    resp = requests.get(f"{server_url}{path}", params={"watch": "true", **params},
                        stream=True, timeout=15)
    return [json.loads(line) for line in resp.iter_lines() if line]


def test_watch_list_initial_events_end_bookmark(apiserver, core, namespace):
    _cm(core, namespace, "a")
    _cm(core, namespace, "b")
    events = _raw_watch(apiserver.url, f"/api/v1/namespaces/{namespace}/configmaps", {
        "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true", "timeoutSeconds": "1"})
    assert [e["type"] for e in events[:3]] == ["ADDED", "ADDED", "BOOKMARK"]
    bookmark = events[2]["object"]
    assert bookmark["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(bookmark["metadata"]["resourceVersion"]) >= \
        max(int(e["object"]["metadata"]["resourceVersion"]) for e in events[:2])


def test_periodic_bookmarks_carry_the_current_resource_version():
    with ApiServer() as server:
        server.handler.bookmark_interval = 0.2
        base = f"{server.url}/api/v1/namespaces/default/configmaps"
        created = requests.post(base, json={"metadata": {"name": "b"}}, timeout=10).json()
        events = _raw_watch(server.url, "/api/v1/namespaces/default/configmaps", {
            "resourceVersion": created["metadata"]["resourceVersion"],
            "allowWatchBookmarks": "true", "timeoutSeconds": "1"})
        assert events and all(e["type"] == "BOOKMARK" for e in events)
        assert events[0]["object"]["kind"] == "ConfigMap"
        assert events[0]["object"]["metadata"]["resourceVersion"] == \
            created["metadata"]["resourceVersion"]


def test_watch_without_resource_version_starts_with_current_state(apiserver, core, namespace):
    _cm(core, namespace, "existing")
    events = _raw_watch(apiserver.url, f"/api/v1/namespaces/{namespace}/configmaps",
                        {"timeoutSeconds": "1"})
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == \
        [("ADDED", "existing")]


def test_watch_timeout_seconds_ends_stream(apiserver, namespace):
    import time

    start = time.monotonic()
    _raw_watch(apiserver.url, f"/api/v1/namespaces/{namespace}/configmaps",
               {"timeoutSeconds": "1", "resourceVersion": "1"})
    assert time.monotonic() - start < 10


def test_concurrent_writers_lose_nothing_and_every_watcher_sees_all(apiserver, core, namespace):
    """Many threads incrementing one counter with optimistic concurrency; watchers see every
    event in order."""
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "counter"},
                                                  "data": {"n": "0"}})
    start_rv = core.read_namespaced_config_map("counter", namespace).metadata.resource_version
    threads, per_thread = 6, 15
    received: list[list[int]] = [[] for _ in range(3)]

    def watcher(slot: int) -> None:
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_config_map, namespace,
                           resource_version=start_rv, timeout_seconds=30):
            received[slot].append(int(ev["object"].data["n"]))
            if len(received[slot]) == threads * per_thread:
                w.stop()

    def incrementer() -> None:
        done = 0
        while done < per_thread:
            cm = core.read_namespaced_config_map("counter", namespace)
            cm.data["n"] = str(int(cm.data["n"]) + 1)
            try:
                core.replace_namespaced_config_map("counter", namespace, cm)
                done += 1
            except ApiException as exc:
                assert exc.status == 409

    watchers = [threading.Thread(target=watcher, args=(i,)) for i in range(3)]
    for t in watchers:
        t.start()
    writers = [threading.Thread(target=incrementer) for _ in range(threads)]
    for t in writers:
        t.start()
    for t in writers + watchers:
        t.join(60)
    final = core.read_namespaced_config_map("counter", namespace)
    assert final.data["n"] == str(threads * per_thread)
    for seen in received:
        assert seen == list(range(1, threads * per_thread + 1))


# ---- paging across namespaces, query parameters, selectors ---------------------------------


@pytest.fixture
def prefix_namespaces(core, namespace):
    """`ns` and `ns-bar`: in etcd key order "ns-bar/..." sorts before "ns/..."."""
    other = f"{namespace}-bar"
    core.create_namespace({"metadata": {"name": other}})
    yield namespace, other
    core.delete_namespace(other)


def test_paging_across_namespaces_loses_no_object(apiserver, core, prefix_namespaces):
    """limit/continue over every namespace resumes in the order the pages were cut in (etcd
    key order, "ns/name" as a string): no namespace's objects are skipped."""
    created = {(ns, f"cm-{i}") for ns in prefix_namespaces for i in range(3)}
    for ns, name in created:
        _cm(core, ns, name)
    seen: list[tuple[str, str]] = []
    token = ""
    while True:
        page = requests.get(f"{apiserver.url}/api/v1/configmaps", timeout=10,
                            params={"limit": 1, **({"continue": token} if token else {})}).json()
        seen += [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in page["items"]]
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert created <= set(seen)
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen, key=lambda key: f"{key[0]}/{key[1]}")


def test_delete_collection_across_namespaces_is_not_allowed(apiserver, core, namespace):
    """Only list and watch are served at /api/v1/configmaps (as POST is refused there)."""
    _cm(core, namespace, "keep")
    resp = requests.delete(f"{apiserver.url}/api/v1/configmaps", timeout=10)
    assert resp.status_code == 405
    assert resp.json()["reason"] == "MethodNotAllowed"
    assert core.read_namespaced_config_map("keep", namespace).metadata.name == "keep"


@pytest.mark.parametrize(("method", "path", "params", "message"), [
    ("DELETE", "/configmaps/c", {"gracePeriodSeconds": "abc"},
     'strconv.ParseInt: parsing "abc": invalid syntax'),
    ("GET", "/configmaps", {"watch": "true", "timeoutSeconds": "abc"},
     'strconv.ParseInt: parsing "abc": invalid syntax'),
    ("GET", "/configmaps", {"timeoutSeconds": "1.5"},
     'strconv.ParseInt: parsing "1.5": invalid syntax'),
    ("GET", "/configmaps", {"limit": "99999999999999999999"},
     'strconv.ParseInt: parsing "99999999999999999999": value out of range'),
    ("DELETE", "/configmaps", {"limit": ""}, 'strconv.ParseInt: parsing "": invalid syntax'),
    ("GET", "/configmaps/c", {"timeout": "abc"},
     'invalid timeout specified in the request URL: time: invalid duration "abc"'),
], ids=["grace-period", "watch-timeout", "list-timeout", "limit-range", "deletecollection",
        "request-timeout"])
def test_malformed_query_parameters_are_400(apiserver, core, namespace, method, path, params,
                                             message):
    _cm(core, namespace, "c")
    resp = requests.request(method, f"{apiserver.url}/api/v1/namespaces/{namespace}{path}",
                            params=params, timeout=10)
    assert resp.status_code == 400, resp.text
    assert resp.json()["reason"] == "BadRequest"
    assert resp.json()["message"] == message
    assert core.read_namespaced_config_map("c", namespace).metadata.name == "c"


def test_boolean_query_parameters_are_true_unless_0_or_false(apiserver, core, namespace):
    """metav1's conversion: any value but "0"/"false" is true, so `watch=yes` watches."""
    _cm(core, namespace, "a")
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    events = _raw_watch(apiserver.url, path, {"watch": "yes", "timeoutSeconds": "1"})
    assert [e["type"] for e in events] == ["ADDED"]
    listed = requests.get(f"{apiserver.url}{path}", params={"watch": "False"}, timeout=10)
    assert listed.json()["kind"] == "ConfigMapList"


@pytest.mark.parametrize(("selector", "expected"), [
    ("replicas>2", {"three", "ten"}),
    ("replicas<3", {"one"}),
    ("replicas>1,replicas<10", {"three"}),
    ("tier in ()", {"empty-tier"}),  # the set of the empty value, as labels.Parse has it
    ("tier notin (), replicas", {"one", "three", "ten", "text"}),
])
def test_label_selector_gt_lt_and_empty_value_sets(core, namespace, selector, expected):
    _cm(core, namespace, "one", {"replicas": "1"})
    _cm(core, namespace, "three", {"replicas": "3"})
    _cm(core, namespace, "ten", {"replicas": "10", "tier": "web"})
    _cm(core, namespace, "text", {"replicas": "many"})
    _cm(core, namespace, "empty-tier", {"tier": ""})
    items = core.list_namespaced_config_map(namespace, label_selector=selector).items
    assert {i.metadata.name for i in items} == expected


@pytest.mark.parametrize(("selector", "message"), [
    ("replicas>a", "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', "
                   "'Lt' operators, the value must be an integer"),
    ("replicas>", "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', "
                  "'Lt' operators, the value must be an integer"),
    ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a=b,", "found '', expected: identifier after ','"),
])
def test_malformed_label_selectors_are_worded_as_upstream(core, namespace, selector, message):
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(namespace, label_selector=selector)
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"] == message
