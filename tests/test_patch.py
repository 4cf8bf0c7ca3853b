"""PATCH semantics against kube-apiserver's: strategic merge patch (strategicpatch), JSON merge
patch and JSON patch (evanphx/json-patch v4), server-side apply and managed fields
(structured-merge-diff and the apiserver field manager)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from simulator.apiserver.patch import (
    ApplyConflict,
    PatchError,
    UnsupportedPatchType,
    apply_json_patch,
    apply_merge_patch,
    apply_server_side,
    apply_strategic_merge_patch,
    is_known_kind,
    record_update_ownership,
)
from simulator.apiserver.patch.fieldpath import (
    decode_fields_v1,
    encode_fields_v1,
    iterate_sorted,
    path_string,
)
from simulator.apiserver.patch.managed import cap_update_managers, decode

DEPLOY = "apps/Deployment"
T0, T1, T2 = "2024-05-01T10:00:00Z", "2024-05-01T10:01:00Z", "2024-05-01T10:02:00Z"


def deployment(**spec: Any) -> dict:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "app", "image": "nginx:1.25",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "env": [{"name": "A", "value": "1"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }], "volumes": [{"name": "data", "emptyDir": {}}]},
            },
        },
    }
    obj["spec"].update(spec)
    return obj


def containers(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]


def smp(original: dict, patch: dict, kind_key: str = DEPLOY) -> dict:
    """Apply a strategic merge patch and check that neither input was touched."""
    before = copy.deepcopy((original, patch))
    result = apply_strategic_merge_patch(original, patch, kind_key)
    assert (original, patch) == before
    return result


def template_patch(**pod_spec: Any) -> dict:
    return {"spec": {"template": {"spec": pod_spec}}}


# ---- strategic merge patch: merge keys -------------------------------------------------------


def test_smp_merges_containers_by_name_and_puts_new_items_first() -> None:
    result = smp(deployment(), template_patch(
        containers=[{"name": "app", "image": "nginx:1.26"}, {"name": "sidecar", "image": "bb"}]))
    # mergeSortedSlice: items new to the list come before the server-only ones, items the
    # patch mentions keep their patch order (the kubectl patch docs show the same).
    assert [c["name"] for c in containers(result)] == ["app", "sidecar"]
    assert containers(result)[0]["image"] == "nginx:1.26"
    assert containers(result)[0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    only_new = smp(deployment(), template_patch(containers=[{"name": "sidecar", "image": "bb"}]))
    assert [c["name"] for c in containers(only_new)] == ["sidecar", "app"]


def test_smp_merges_env_ports_volume_mounts_and_volumes_by_their_keys() -> None:
    result = smp(deployment(), template_patch(
        containers=[{"name": "app",
                     "env": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}],
                     "ports": [{"containerPort": 443}],
                     "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}]}],
        volumes=[{"name": "cache", "emptyDir": {}}]))
    app = containers(result)[0]
    assert app["env"] == [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}]
    assert app["ports"] == [{"containerPort": 443}, {"containerPort": 80, "protocol": "TCP"}]
    assert app["volumeMounts"] == [{"name": "data", "mountPath": "/data", "readOnly": True}]
    assert [v["name"] for v in result["spec"]["template"]["spec"]["volumes"]] == ["cache", "data"]


def test_smp_merges_service_ports_by_port() -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080},
                              {"name": "https", "port": 443, "targetPort": 8443}]}}
    result = smp(svc, {"spec": {"ports": [{"port": 443, "targetPort": 9443}]}}, "/Service")
    assert result["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": 8080},
                                       {"name": "https", "port": 443, "targetPort": 9443}]
    assert result["spec"]["selector"] == {"app": "web"}


def test_smp_merges_owner_references_by_uid() -> None:
    pod = {"metadata": {"name": "p", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u1"}]}}
    patch = {"metadata": {"ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u1",
         "controller": True},
        {"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "u2"}]}}
    refs = smp(pod, patch, "/Pod")["metadata"]["ownerReferences"]
    assert [(r["uid"], r.get("controller")) for r in refs] == [("u1", True), ("u2", None)]
    deleted = smp(pod, {"metadata": {"ownerReferences": [{"uid": "u1", "$patch": "delete"}]}},
                  "/Pod")
    assert deleted["metadata"]["ownerReferences"] == []


def test_smp_finalizers_merge_as_a_set_and_delete_from_primitive_list() -> None:
    obj = {"metadata": {"name": "x", "finalizers": ["a", "b"]}}
    merged = smp(obj, {"metadata": {"finalizers": ["b", "c"]}}, "/ConfigMap")
    assert merged["metadata"]["finalizers"] == ["a", "b", "c"]
    removed = smp(obj, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
                  "/ConfigMap")
    assert removed["metadata"]["finalizers"] == ["b"]
    ordered = smp(obj, {"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"],
                                     "finalizers": ["c"]}}, "/ConfigMap")
    assert ordered["metadata"]["finalizers"] == ["c", "b", "a"]


def test_smp_merges_conditions_and_node_addresses_by_type() -> None:
    pod = {"metadata": {"name": "p"}, "status": {"conditions": [
        {"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]}}
    result = smp(pod, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, "/Pod")
    assert result["status"]["conditions"] == [{"type": "Ready", "status": "True"},
                                              {"type": "PodScheduled", "status": "True"}]
    node = {"metadata": {"name": "n"}, "status": {"addresses": [
        {"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n"}]}}
    result = smp(node, {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}},
                 "/Node")
    assert result["status"]["addresses"] == [{"type": "InternalIP", "address": "10.0.0.2"},
                                             {"type": "Hostname", "address": "n"}]


def test_smp_replaces_ingress_and_endpointslice_lists_atomically() -> None:
    ing = {"metadata": {"name": "i"}, "spec": {"rules": [
        {"host": "a.example", "http": {"paths": [{"path": "/", "pathType": "Prefix"}]}},
        {"host": "b.example"}], "tls": [{"hosts": ["a.example"], "secretName": "s"}]}}
    result = smp(ing, {"spec": {"rules": [{"host": "c.example"}]}}, "networking.k8s.io/Ingress")
    assert result["spec"]["rules"] == [{"host": "c.example"}]
    assert result["spec"]["tls"] == ing["spec"]["tls"]
    eps = {"metadata": {"name": "e"}, "addressType": "IPv4",
           "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]}
    result = smp(eps, {"endpoints": [{"addresses": ["10.0.0.2"]}]},
                 "discovery.k8s.io/EndpointSlice")
    assert result["endpoints"] == [{"addresses": ["10.0.0.2"]}]


def test_smp_maps_merge_recursively_and_null_deletes() -> None:
    obj = deployment()
    obj["metadata"]["annotations"] = {"a": "1", "b": "2"}
    result = smp(obj, {"metadata": {"annotations": {"a": None, "c": "3"}, "labels": None},
                       "spec": {"replicas": 3, "paused": None}})
    assert result["metadata"]["annotations"] == {"b": "2", "c": "3"}
    assert "labels" not in result["metadata"]
    assert result["spec"]["replicas"] == 3 and "paused" not in result["spec"]


def test_smp_walks_job_templates() -> None:
    job = {"metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "x"}]}}}}
    result = smp(job, {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "args": ["run"]}]}}}}, "batch/Job")
    assert result["spec"]["template"]["spec"]["containers"] == [
        {"name": "a", "image": "x", "args": ["run"]}]


# ---- strategic merge patch: directives -------------------------------------------------------


def test_smp_patch_replace_on_a_map_replaces_it() -> None:
    result = smp(deployment(), {"spec": {"selector": {
        "$patch": "replace", "matchLabels": {"tier": "fe"}}}})
    assert result["spec"]["selector"] == {"matchLabels": {"tier": "fe"}}


def test_smp_patch_delete_on_a_map_empties_it() -> None:
    result = smp(deployment(), {"spec": {"template": {"metadata": {"labels": {
        "$patch": "delete"}}}}})
    assert result["spec"]["template"]["metadata"]["labels"] == {}


def test_smp_patch_replace_list_element_replaces_the_list() -> None:
    result = smp(deployment(), template_patch(containers=[
        {"$patch": "replace"}, {"name": "only", "image": "busybox"}]))
    assert containers(result) == [{"name": "only", "image": "busybox"}]


def test_smp_patch_delete_list_element_removes_by_merge_key() -> None:
    result = smp(deployment(), template_patch(containers=[
        {"name": "app", "env": [{"name": "A", "$patch": "delete"}]}]))
    assert containers(result)[0]["env"] == []
    with pytest.raises(PatchError, match="does not contain declared merge key: name"):
        smp(deployment(), template_patch(containers=[{"$patch": "delete", "image": "x"}]))


def test_smp_patch_merge_directive_is_rejected_like_upstream() -> None:
    with pytest.raises(PatchError) as exc:
        smp(deployment(), template_patch(containers=[{"name": "app", "$patch": "merge"}]))
    assert str(exc.value) == "merging lists cannot yet be specified in the patch"
    with pytest.raises(PatchError) as exc:
        smp(deployment(), {"metadata": {"labels": {"$patch": "merge", "x": "y"}}})
    assert str(exc.value) == "unknown patch type: merge in map: map[$patch:merge x:y]"


def test_smp_set_element_order_reorders_the_merged_list() -> None:
    obj = deployment()
    containers(obj).append({"name": "b", "image": "b"})
    result = smp(obj, template_patch(**{
        "$setElementOrder/containers": [{"name": "b"}, {"name": "c"}, {"name": "app"}],
        "containers": [{"name": "c", "image": "c"}]}))
    assert [c["name"] for c in containers(result)] == ["b", "c", "app"]
    with pytest.raises(PatchError, match="doesn't match \\$setElementOrder list"):
        smp(obj, template_patch(**{"$setElementOrder/containers": [{"name": "b"}],
                                   "containers": [{"name": "c", "image": "c"}]}))


def test_smp_retain_keys_clears_the_keys_not_listed() -> None:
    obj = deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
    result = smp(obj, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    volumes = smp(deployment(), template_patch(volumes=[
        {"name": "data", "$retainKeys": ["name", "configMap"], "configMap": {"name": "cm"}}]))
    assert volumes["spec"]["template"]["spec"]["volumes"] == [
        {"name": "data", "configMap": {"name": "cm"}}]
    with pytest.raises(PatchError) as exc:
        smp(obj, {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}})
    assert (str(exc.value), exc.value.code) == ("invalid patch format of retainKeys", 400)


def test_smp_directive_keys_never_reach_the_result() -> None:
    obj = {"metadata": {"name": "p"}, "spec": {}}
    result = smp(obj, {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
        "containers": [{"name": "b", "image": "b"},
                       {"name": "a", "image": "a", "env": [{"name": "X", "$patch": "delete"}]}],
        "securityContext": {"$patch": "replace", "runAsUser": 1}}}, "/Pod")
    assert json.dumps(result).count("$") == 0
    assert [c["name"] for c in result["spec"]["containers"]] == ["b", "a"]
    assert result["spec"]["securityContext"] == {"runAsUser": 1}


def test_smp_bad_directive_formats_are_bad_requests() -> None:
    with pytest.raises(PatchError) as exc:
        smp(deployment(), {"metadata": {"$deleteFromPrimitiveList": ["x"]}})
    assert (str(exc.value), exc.value.code) == ("invalid patch format of primitive list", 400)
    with pytest.raises(PatchError) as exc:
        smp(deployment(), {"$setElementOrder": []})
    assert exc.value.code == 400


def test_smp_is_unsupported_for_custom_resources() -> None:
    assert is_known_kind("networking.k8s.io/Ingress") and not is_known_kind("example.com/Widget")
    with pytest.raises(UnsupportedPatchType) as exc:
        apply_strategic_merge_patch({"metadata": {}}, {"spec": {}}, "example.com/Widget")
    assert exc.value.code == 415
    assert str(exc.value) == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, "
        "application/apply-patch+yaml")


# ---- JSON merge patch ------------------------------------------------------------------------


def test_merge_patch_merges_maps_deletes_nulls_and_replaces_lists() -> None:
    original = deployment()
    patch = {"metadata": {"labels": {"app": None, "tier": "fe"}},
             "spec": {"template": {"spec": {"containers": [{"name": "x"}]}},
                      "strategy": {"type": "Recreate", "rollingUpdate": None}}}
    before = copy.deepcopy((original, patch))
    result = apply_merge_patch(original, patch)
    assert (original, patch) == before
    assert result["metadata"]["labels"] == {"tier": "fe"}
    assert containers(result) == [{"name": "x"}]
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    with pytest.raises(PatchError) as exc:
        apply_merge_patch(original, ["not", "an", "object"])  # type: ignore[arg-type]
    assert (str(exc.value), exc.value.code) == ("Invalid JSON Patch", 400)


def test_merge_patch_prunes_nulls_inside_new_members() -> None:
    result = apply_merge_patch({"a": 1}, {"b": {"c": None, "d": {"e": None, "f": 1}},
                                          "l": [None, {"x": None}]})
    assert result == {"a": 1, "b": {"d": {"f": 1}}, "l": [None, {}]}


# ---- JSON patch ------------------------------------------------------------------------------


def test_json_patch_operations() -> None:
    original = deployment()
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/metadata/labels/tier", "value": "fe"},
        {"op": "remove", "path": "/metadata/labels/app"},
        {"op": "add", "path": "/spec/template/spec/containers/0/env/-",
         "value": {"name": "B", "value": "2"}},
        {"op": "copy", "from": "/spec/template/spec/containers/0/image",
         "path": "/metadata/annotations"},
        {"op": "move", "from": "/metadata/annotations", "path": "/metadata/labels/image"},
        {"op": "add", "path": "/spec/template/spec/containers/0/env/-2",  # v4: from the end
         "value": {"name": "C"}},
    ]
    before = copy.deepcopy((original, ops))
    result = apply_json_patch(original, ops)
    assert (original, ops) == before
    assert result["spec"]["replicas"] == 3
    assert result["metadata"]["labels"] == {"tier": "fe", "image": "nginx:1.25"}
    assert [e["name"] for e in containers(result)[0]["env"]] == ["A", "C", "B"]


def test_json_patch_failing_test_operation() -> None:
    with pytest.raises(PatchError) as exc:
        apply_json_patch(deployment(), [{"op": "test", "path": "/spec/replicas", "value": 2}])
    assert str(exc.value) == "testing value /spec/replicas failed: test failed"
    assert exc.value.code == 422
    assert exc.value.status_message == (
        "the server rejected our request due to an error in our request")
    # true is not 1
    with pytest.raises(PatchError):
        apply_json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": True}])
    # a missing member reads as null
    assert apply_json_patch({"a": 1}, [{"op": "test", "path": "/b", "value": None}]) == {"a": 1}


def test_json_patch_errors_and_v4_quirks() -> None:
    with pytest.raises(PatchError) as exc:
        apply_json_patch({"a": {}}, [{"op": "remove", "path": "/a/b"}])
    assert str(exc.value) == ("error in remove for path: '/a/b': Unable to remove nonexistent "
                              "key: b: missing value")
    with pytest.raises(PatchError) as exc:
        apply_json_patch({}, [{"op": "add", "path": "/x/y", "value": 1}])
    assert str(exc.value) == ('add operation does not apply: doc is missing path: "/x/y": '
                              "missing value")
    with pytest.raises(PatchError, match="Unexpected kind: frobnicate"):
        apply_json_patch({}, [{"op": "frobnicate", "path": "/a"}])
    with pytest.raises(PatchError, match="Unable to access invalid index: 5"):
        apply_json_patch({"l": [1]}, [{"op": "add", "path": "/l/5", "value": 2}])
    # evanphx v4 lets replace create a missing member
    assert apply_json_patch({}, [{"op": "replace", "path": "/a", "value": 1}]) == {"a": 1}


# ---- server-side apply -----------------------------------------------------------------------


def ssa(live: dict | None, applied: dict, manager: str = "kubectl", force: bool = False,
        now: str = T0, kind_key: str = DEPLOY, api_version: str = "apps/v1") -> dict:
    before = copy.deepcopy((live, applied))
    result = apply_server_side(live, applied, manager=manager, force=force, kind_key=kind_key,
                               api_version=api_version, now=now)
    assert (live, applied) == before
    return result


def entries(obj: dict) -> dict[str, dict]:
    return {f'{e["manager"]}/{e["operation"]}': e for e in obj["metadata"]["managedFields"]}


def config(**spec: Any) -> dict:
    """A minimal applied Deployment configuration."""
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"}, "spec": spec}


def test_ssa_create_records_upstream_shaped_managed_fields() -> None:
    obj = ssa(None, deployment())
    assert obj["spec"] == deployment()["spec"]
    assert obj["metadata"]["managedFields"] == [{
        "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},  # LabelSelector is +structType=atomic
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {
                        "f:containers": {'k:{"name":"app"}': {
                            ".": {},
                            "f:env": {'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {
                                ".": {}, "f:containerPort": {}, "f:protocol": {}}},
                            "f:volumeMounts": {'k:{"mountPath":"/data"}': {
                                ".": {}, "f:mountPath": {}, "f:name": {}}},
                        }},
                        "f:volumes": {'k:{"name":"data"}': {
                            ".": {}, "f:emptyDir": {}, "f:name": {}}},
                    },
                },
            },
        },
    }]


def test_ssa_protocol_defaults_into_port_keys() -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"ports": [{"port": 80}], "selector": {"app": "web"}}}
    obj = ssa(None, svc, kind_key="/Service", api_version="v1")
    assert obj["metadata"]["managedFields"][0]["fieldsV1"] == {"f:spec": {
        "f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}},
        "f:selector": {}}}


def test_ssa_owner_references_finalizers_and_atomic_items() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "c", "finalizers": ["example.com/x"], "ownerReferences": [
              {"apiVersion": "v1", "kind": "Secret", "name": "s", "uid": "u1"}]},
          "data": {"k": "v"}}
    obj = ssa(None, cm, kind_key="/ConfigMap", api_version="v1")
    assert obj["metadata"]["managedFields"][0]["fieldsV1"] == {
        "f:data": {"f:k": {}},
        "f:metadata": {"f:finalizers": {'v:"example.com/x"': {}},
                       "f:ownerReferences": {'k:{"uid":"u1"}': {}}}}
    obj = ssa(obj, {**cm, "metadata": {"name": "c"}}, kind_key="/ConfigMap",
              api_version="v1", now=T1)
    assert "finalizers" not in obj["metadata"] and "ownerReferences" not in obj["metadata"]


def test_ssa_reapply_changes_and_removes_fields() -> None:
    first = config(replicas=2, selector={"matchLabels": {"app": "web"}},
                   template={"metadata": {"labels": {"app": "web", "tier": "fe"}}, "spec": {
                       "containers": [{"name": "app", "image": "nginx:1"},
                                      {"name": "sidecar", "image": "bb"}]}})
    first["metadata"]["labels"] = {"app": "web", "team": "a"}
    live = ssa(None, first)
    second = copy.deepcopy(first)
    del second["spec"]["replicas"]
    del second["metadata"]["labels"]["team"]
    del second["spec"]["template"]["metadata"]["labels"]["tier"]
    second["spec"]["template"]["spec"]["containers"] = [{"name": "app", "image": "nginx:2"}]
    obj = ssa(live, second, now=T1)
    assert "replicas" not in obj["spec"]
    assert obj["metadata"]["labels"] == {"app": "web"}
    assert obj["spec"]["template"]["metadata"]["labels"] == {"app": "web"}
    assert containers(obj) == [{"name": "app", "image": "nginx:2"}]
    applied = entries(obj)["kubectl/Apply"]
    assert applied["time"] == T1
    assert "f:replicas" not in applied["fieldsV1"]["f:spec"]


def test_ssa_keeps_removed_fields_another_manager_owns() -> None:
    live = ssa(None, config(replicas=2, paused=False))
    live = ssa(live, config(replicas=2), manager="hpa", now=T1)  # shares replicas
    obj = ssa(live, config(paused=False), now=T2)
    assert obj["spec"]["replicas"] == 2  # still owned by "hpa"
    assert entries(obj)["hpa/Apply"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}


def test_ssa_conflict_with_an_update_manager_has_upstreams_message() -> None:
    live = record_update_ownership(None, deployment(), manager="kubectl-client-side-apply",
                                   kind_key=DEPLOY, api_version="apps/v1", now=T0)
    with pytest.raises(ApplyConflict) as exc:
        ssa(live, config(replicas=3), manager="kubectl-ssa")
    assert exc.value.message == ('Apply failed with 1 conflict: conflict with '
                                 '"kubectl-client-side-apply" using apps/v1: .spec.replicas')
    assert exc.value.conflicts == [("kubectl-client-side-apply", ".spec.replicas")]
    assert exc.value.causes == [{
        "reason": "FieldManagerConflict", "field": ".spec.replicas",
        "message": 'conflict with "kubectl-client-side-apply" using apps/v1'}]


def test_ssa_conflicts_with_appliers_and_several_paths() -> None:
    live = ssa(None, deployment(), manager="alice")
    with pytest.raises(ApplyConflict) as exc:
        ssa(live, config(replicas=3), manager="bob")
    assert exc.value.message == 'Apply failed with 1 conflict: conflict with "alice": ' \
                                '.spec.replicas'
    change = config(replicas=5, template={"spec": {"containers": [
        {"name": "app", "image": "nginx:2"}]}})
    with pytest.raises(ApplyConflict) as exc:
        ssa(live, change, manager="bob")
    assert exc.value.message == (
        'Apply failed with 2 conflicts: conflicts with "alice":\n'
        '- .spec.replicas\n'
        '- .spec.template.spec.containers[name="app"].image')


def test_ssa_force_takes_ownership() -> None:
    live = ssa(None, deployment(), manager="alice")
    obj = ssa(live, config(replicas=3), manager="bob", force=True, now=T1)
    assert obj["spec"]["replicas"] == 3
    owned = entries(obj)
    assert owned["bob/Apply"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in owned["alice/Apply"]["fieldsV1"]["f:spec"]


def test_ssa_equal_values_are_shared_without_conflict() -> None:
    live = ssa(None, deployment(), manager="alice")
    obj = ssa(live, config(replicas=1), manager="bob", now=T1)
    assert obj["spec"] == live["spec"]
    owned = entries(obj)
    assert owned["bob/Apply"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "time" not in owned["bob/Apply"]  # a no-op apply does not move the clock
    assert "f:replicas" in owned["alice/Apply"]["fieldsV1"]["f:spec"]


def test_ssa_does_not_track_status_on_the_main_resource() -> None:
    applied = deployment()
    applied["status"] = {"replicas": 1}
    obj = ssa(None, applied)
    assert "f:status" not in obj["metadata"]["managedFields"][0]["fieldsV1"]


def test_ssa_first_apply_to_an_untracked_object() -> None:
    live = deployment()
    with pytest.raises(ApplyConflict, match='"before-first-apply" using apps/v1'):
        ssa(live, config(replicas=4), manager="bob")
    obj = ssa(live, config(replicas=1), manager="bob")
    assert set(entries(obj)) == {"before-first-apply/Update", "bob/Apply"}


def test_ssa_kubectl_takes_over_from_client_side_apply() -> None:
    last = deployment()
    live = copy.deepcopy(last)
    live["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(last)}
    live = record_update_ownership(None, live, manager="kubectl-client-side-apply",
                                   kind_key=DEPLOY, api_version="apps/v1", now=T0)
    changed = deployment(replicas=4)
    obj = ssa(live, changed, manager="kubectl", now=T1)
    assert obj["spec"]["replicas"] == 4
    annotation = obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert json.loads(annotation) == changed and annotation.endswith("\n")
    with pytest.raises(ApplyConflict):  # any other manager name still conflicts
        ssa(live, changed, manager="kubectl-other", now=T1)


def test_ssa_rejects_bad_configurations() -> None:
    with pytest.raises(PatchError) as exc:
        ssa(None, {**config(), "kind": "Foo"})
    assert (str(exc.value), exc.value.code) == ("invalid object type: apps/v1, Kind=Foo", 400)
    with_fields = config()
    with_fields["metadata"]["managedFields"] = []
    with pytest.raises(PatchError, match="metadata.managedFields must be nil"):
        ssa(None, with_fields)
    no_key = config(template={"spec": {"containers": [{"image": "x"}]}})
    with pytest.raises(PatchError) as exc:
        ssa(None, no_key)
    assert str(exc.value) == (
        "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): "
        ".spec.template.spec.containers: element 0: associative list with keys has an element "
        'that omits key field "name" (and doesn\'t have default value)')
    duplicate = config(template={"spec": {"containers": [{"name": "a"}, {"name": "a"}]}})
    with pytest.raises(PatchError, match='duplicate entries for key \\[name="a"\\]'):
        ssa(None, duplicate)


def test_ssa_on_custom_resources_uses_atomic_lists() -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
              "spec": {"size": 1, "items": [{"a": 1}]}}
    obj = ssa(None, widget, kind_key="example.com/Widget", api_version="example.com/v1")
    assert obj["metadata"]["managedFields"][0]["fieldsV1"] == {
        "f:spec": {"f:items": {}, "f:size": {}}}


# ---- ownership of other writes ---------------------------------------------------------------


def record(old: dict | None, new: dict, manager: str, now: str = T0, **kw: Any) -> dict:
    before = copy.deepcopy((old, new))
    result = record_update_ownership(old, new, manager=manager, kind_key=DEPLOY,
                                     api_version="apps/v1", now=now, **kw)
    assert (old, new) == before
    return result


def test_record_update_ownership_on_create_matches_upstream_markers() -> None:
    obj = deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
    obj["status"] = {"replicas": 1}
    created = record(None, obj, "kubectl-client-side-apply")
    (entry,) = created["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"], entry["time"]) == (
        "kubectl-client-side-apply", "Update", "apps/v1", T0)
    fields = entry["fieldsV1"]
    # Non-pointer structs exist in Go's zero value, so only new maps, lists and items
    # carry their own ".".
    assert fields["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert fields["f:spec"]["f:strategy"] == {"f:rollingUpdate": {".": {}, "f:maxSurge": {}},
                                              "f:type": {}}
    pod = fields["f:spec"]["f:template"]["f:spec"]
    assert "." not in pod["f:containers"]
    assert pod["f:containers"]['k:{"name":"app"}']["f:ports"]["."] == {}
    assert "f:status" not in fields


def test_record_update_ownership_moves_changed_and_removed_fields() -> None:
    live = ssa(None, deployment())
    edited = copy.deepcopy(live)
    edited["spec"]["replicas"] = 5
    del edited["metadata"]["labels"]
    obj = record(live, edited, "kubectl-edit", now=T1)
    owned = entries(obj)
    assert owned["kubectl-edit/Update"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert owned["kubectl-edit/Update"]["time"] == T1
    applied = owned["kubectl/Apply"]["fieldsV1"]
    assert "f:replicas" not in applied["f:spec"] and "f:metadata" not in applied
    assert [e["operation"] for e in obj["metadata"]["managedFields"]] == ["Apply", "Update"]
    # A write that changes nothing keeps the entries (and their times) as they are.
    again = record(obj, copy.deepcopy(obj), "kubectl-edit", now=T2)
    assert again["metadata"]["managedFields"] == obj["metadata"]["managedFields"]


def test_record_update_ownership_honours_sent_managed_fields() -> None:
    live = ssa(None, deployment())
    sent = copy.deepcopy(live)
    sent["metadata"]["managedFields"][0]["manager"] = "renamed"
    obj = record(live, sent, "kubectl-edit")
    assert [e["manager"] for e in obj["metadata"]["managedFields"]] == ["renamed"]
    dropped = copy.deepcopy(live)
    del dropped["metadata"]["managedFields"]  # a client that does not know the field
    assert record(live, dropped, "kubectl-edit")["metadata"]["managedFields"] == \
        live["metadata"]["managedFields"]


def test_record_update_ownership_reset_and_untracked_objects() -> None:
    live = ssa(None, deployment())
    reset = copy.deepcopy(live)
    reset["metadata"]["managedFields"] = [{}]
    assert "managedFields" not in record(live, reset, "kubectl-patch")["metadata"]
    untracked = deployment()
    changed = deployment(replicas=9)
    assert "managedFields" not in record(untracked, changed, "kubectl-edit")["metadata"]


def test_record_update_ownership_status_subresource() -> None:
    live = ssa(None, deployment())
    new = copy.deepcopy(live)
    new["status"] = {"replicas": 1, "conditions": [{"type": "Available", "status": "True"}]}
    obj = record(live, new, "kube-controller-manager", subresource="status")
    entry = entries(obj)["kube-controller-manager/Update"]
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {
        "f:conditions": {".": {}, 'k:{"type":"Available"}': {
            ".": {}, "f:status": {}, "f:type": {}}},
        "f:replicas": {}}}


def test_update_managers_are_capped_into_ancient_changes() -> None:
    live = record(None, deployment(), "creator")
    for i in range(12):
        new = copy.deepcopy(live)
        new["metadata"]["labels"][f"l{i}"] = "x"
        live = record(live, new, f"writer-{i:02d}", now=f"2024-05-01T10:{i + 1:02d}:00Z")
    managers = [e["manager"] for e in live["metadata"]["managedFields"]]
    assert len(managers) == 10 and "ancient-changes" in managers


# ---- field paths -----------------------------------------------------------------------------


def test_fields_v1_round_trip_and_path_strings() -> None:
    fields = {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
              "f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}},
                         "f:finalizers": {'v:"a"': {}}}}
    paths = decode_fields_v1(fields)
    assert encode_fields_v1(paths) == {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {"f:finalizers": {'v:"a"': {}},
                   "f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}}}}
    assert [path_string(p) for p in iterate_sorted(paths)] == [
        ".metadata.labels", ".metadata.labels.app", '.spec.finalizers[="a"]',
        '.spec.ports[port=80,protocol="TCP"]', '.spec.ports[port=80,protocol="TCP"].port']
    with pytest.raises(ValueError):
        decode([{"manager": "m", "operation": "Patch", "apiVersion": "v1",
                 "fieldsType": "FieldsV1", "fieldsV1": {}}])


def test_cap_update_managers_keeps_appliers() -> None:
    managed = decode([{"manager": f"m{i}", "operation": "Update", "apiVersion": "v1",
                       "time": f"2024-05-01T10:{i:02d}:00Z", "fieldsType": "FieldsV1",
                       "fieldsV1": {f"f:f{i}": {}}} for i in range(11)]
                     + [{"manager": "a", "operation": "Apply", "apiVersion": "v1",
                         "fieldsType": "FieldsV1", "fieldsV1": {"f:x": {}}}])
    capped = cap_update_managers(managed)
    assert sorted(e.manager for e in capped.values()) == [
        "a", "ancient-changes", "m10", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"]
    ancient = next(e for e in capped.values() if e.manager == "ancient-changes")
    assert ancient.fields == {("f:f0",), ("f:f1",)}
