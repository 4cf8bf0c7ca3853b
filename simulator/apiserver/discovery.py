"""Discovery documents: /api, /apis, per-group-version resource lists, aggregated discovery
(apidiscovery.k8s.io v2 and v2beta1) and the OpenAPI v3 index kubectl validates against.

All pure functions of the registry's resource types.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from .resources import Registry, ResourceType

SUBRESOURCE_VERBS = {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"]}
# Aggregated discovery media types, newest first (client-go asks for both, v2 preferred).
AGGREGATED_VERSIONS = ("v2", "v2beta1")


def aggregated_content_type(version: str) -> str:
    return f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"


def wants_aggregated(accept: str) -> str | None:
    """The aggregated discovery version the Accept header prefers, if any (in its order)."""
    for part in accept.split(","):
        params = {}
        for item in part.split(";")[1:]:
            k, _, v = item.strip().partition("=")
            params[k] = v
        if (params.get("g"), params.get("as")) == ("apidiscovery.k8s.io", "APIGroupDiscoveryList") \
                and params.get("v") in AGGREGATED_VERSIONS:
            return params["v"]
    return None


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                        "serverAddress": server_address}],
    }


def _group_entry(group: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = [_group_entry(g, vs) for g, vs in registry.groups().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    versions = registry.groups().get(group)
    if not versions or not group:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, versions)}


def _resource_entries(rt: ResourceType) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    main["storageVersionHash"] = _hash(f"{rt.group}/{rt.version}/{rt.kind}")[:12]
    out = [main]
    for sub in rt.subresources:
        entry = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                 "kind": rt.kind, "verbs": SUBRESOURCE_VERBS[sub]}
        if sub == "scale":
            entry.update(group="autoscaling", version="v1", kind="Scale")
        out.append(entry)
    return out


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = registry.in_group_version(group, version)
    if not types:
        return None
    resources = [e for rt in sorted(types, key=lambda r: r.plural) for e in _resource_entries(rt)]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _aggregated_resource(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    subs = []
    for sub in rt.subresources:
        kind = ({"group": "autoscaling", "version": "v1", "kind": "Scale"} if sub == "scale"
                else {"group": rt.group, "version": rt.version, "kind": rt.kind})
        subs.append({"subresource": sub, "responseKind": kind, "verbs": SUBRESOURCE_VERBS[sub]})
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated(registry: Registry, legacy: bool, version: str) -> dict[str, Any]:
    """APIGroupDiscoveryList for /api (legacy=True, the core group) or /apis."""
    items = []
    for group, versions in registry.groups().items():
        if (group == "") != legacy:
            continue
        vs = []
        for v in versions:
            resources = sorted(registry.in_group_version(group, v), key=lambda r: r.plural)
            vs.append({"version": v, "resources": [_aggregated_resource(rt) for rt in resources],
                       "freshness": "Current"})
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": vs})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
            "metadata": {}, "items": items}


# ---- OpenAPI v2 and v3 ------------------------------------------------------------------------

# What kube-openapi answers for the protobuf form (its "@" is not a valid media type).
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def openapi_v2_document() -> dict[str, Any]:
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.33.0"},
            "paths": {}, "definitions": {}}


# ---- OpenAPI v3 internals --------------------------------------------------------------------

def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _hash(text: str) -> str:
    return hashlib.sha512(text.encode()).hexdigest().upper()


_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force")


def openapi_gv_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """An OpenAPI 3 document for one group-version: the operations with their query
    parameters and GVK extensions, which is what kubectl reads to decide that the server
    validates fields itself (`fieldValidation`). Schemas are left open (no client-side
    validation or explain)."""
    types = registry.in_group_version(group, version)
    if not types:
        return None
    paths: dict[str, Any] = {}
    for rt in types:
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        params = [{"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                  for p in _QUERY_PARAMS]
        ext = {"x-kubernetes-group-version-kind": gvk}
        base = f"/{_gv_path(group, version)}/"
        if rt.namespaced:
            base += "namespaces/{namespace}/"
        item_path = f"{base}{rt.plural}/{{name}}"
        paths[item_path] = {
            "get": {"operationId": f"read{rt.kind}", **ext, "x-kubernetes-action": "get"},
            "put": {"operationId": f"replace{rt.kind}", "parameters": params, **ext,
                    "x-kubernetes-action": "put"},
            "patch": {"operationId": f"patch{rt.kind}", "parameters": params, **ext,
                      "x-kubernetes-action": "patch"},
            "delete": {"operationId": f"delete{rt.kind}", **ext, "x-kubernetes-action": "delete"},
        }
        paths[f"{base}{rt.plural}"] = {
            "post": {"operationId": f"create{rt.kind}", "parameters": params, **ext,
                     "x-kubernetes-action": "post"},
            "get": {"operationId": f"list{rt.kind}", **ext, "x-kubernetes-action": "list"},
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def openapi_index(registry: Registry) -> dict[str, Any]:
    """/openapi/v3: one entry per group-version with a content-hash URL."""
    paths = {}
    for group, versions in registry.groups().items():
        for v in versions:
            doc = openapi_gv_document(registry, group, v)
            digest = _hash(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode())[:128]
            path = _gv_path(group, v)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}
