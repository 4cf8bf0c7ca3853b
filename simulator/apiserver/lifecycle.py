"""Controllers that run inside the API server process so that it is usable on its own.

- The system namespaces a fresh cluster has (default, kube-system, kube-public,
  kube-node-lease), and the Service `default/kubernetes` with its Endpoints and EndpointSlice
  pointing at the API server (kube-apiserver's bootstrap controller keeps them; clients such
  as HAProxy Ingress read the Service at start).
- CustomResourceDefinitions: a created CRD serves its kind at once and is marked
  Established/NamesAccepted (kube-apiserver embeds the apiextensions server, which does this);
  deleting a CRD deletes its custom resources.
- Namespace finalization (kube-controller-manager's namespace controller): a deleted
  namespace is Terminating until everything in it is gone, then disappears.

They react to writes through `Api.after_write` hooks, under the store lock, so their writes
are ordered with the write that caused them.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .meta import rfc3339
from .resources import ResourceType
from .rest import Api, DeleteOptions, WriteOptions

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
MANAGER = "kube-apiserver"


def install_builtin_controllers(api: Api) -> None:
    ns_rt = api.registry.lookup("", "v1", "namespaces")
    assert ns_rt is not None
    for name in SYSTEM_NAMESPACES:
        api.create(ns_rt, "", {"metadata": {"name": name}}, WriteOptions(MANAGER))
    api.after_write.append(lambda rt, ns, old, new: _on_crd_write(api, rt, old, new))
    api.after_write.append(lambda rt, ns, old, new: _on_namespace_write(api, rt, ns, old, new))


# ---- the kubernetes Service ----------------------------------------------------------------

# The first address of the default service CIDR (10.96.0.0/12), which the allocator never
# hands out at random (it starts at the 10th).
KUBERNETES_SERVICE_IP = "10.96.0.1"
_KUBERNETES_LABELS = {"component": "apiserver", "provider": "kubernetes"}


def ensure_kubernetes_service(api: Api, address: str, port: int) -> None:
    """Service default/kubernetes (ClusterIP, port "https" 443 -> the API server's port) and
    its Endpoints and EndpointSlice naming `address:port`, as kube-apiserver's
    kubernetesservice controller and endpoint reconciler keep them. Existing ones (a restored
    state) are brought up to date."""
    port_entry = {"name": "https", "port": port, "protocol": "TCP"}
    objects = [
        (("", "v1", "services"), {
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": dict(_KUBERNETES_LABELS)},
            "spec": {"type": "ClusterIP", "clusterIP": KUBERNETES_SERVICE_IP,
                     "sessionAffinity": "None",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                "targetPort": port}]}}),
        (("", "v1", "endpoints"), {
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": address}], "ports": [port_entry]}]}),
        (("discovery.k8s.io", "v1", "endpointslices"), {
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
            "ports": [port_entry]}),
    ]
    for (group, version, plural), body in objects:
        rt = api.registry.lookup(group, version, plural)
        assert rt is not None
        try:
            current = api.get(rt, "default", "kubernetes").obj()
        except errors.ApiError:
            api.create(rt, "default", body, WriteOptions(MANAGER))
            continue
        if plural == "services":
            continue  # its ClusterIP and ports are fixed once created
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        api.update(rt, "default", "kubernetes", body, WriteOptions(MANAGER))


# ---- CustomResourceDefinitions ---------------------------------------------------------------

def _crd_types(crd: dict[str, Any]) -> list[ResourceType]:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    out = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = tuple(s for s in ("status", "scale")
                             if s in (version.get("subresources") or {}))
        out.append(ResourceType(
            group=spec.get("group", ""), version=version.get("name", "v1"),
            kind=names.get("kind", ""), plural=names.get("plural", ""),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            subresources=tuple(s for s in subresources if s == "status"),
            custom=True,
            printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
        ))
    return out


def _on_crd_write(api: Api, rt: ResourceType, old: dict | None, new: dict | None) -> None:
    if rt.key != "apiextensions.k8s.io/CustomResourceDefinition":
        return
    for gone in _crd_types(old) if old else []:
        api.registry.remove(gone.group, gone.version, gone.plural)
    if new is None:
        _delete_custom_resources(api, old or {})
        return
    for served in _crd_types(new):
        api.registry.add(served)
    conditions = {c.get("type") for c in (new.get("status") or {}).get("conditions") or []}
    if "Established" not in conditions:
        _establish(api, rt, new)


def _establish(api: Api, rt: ResourceType, crd: dict[str, Any]) -> None:
    now = rfc3339(api.clock())
    names = (crd.get("spec") or {}).get("names") or {}
    accepted = dict(names)
    accepted.setdefault("singular", names.get("kind", "").lower())
    accepted.setdefault("listKind", f"{names.get('kind', '')}List")
    status = {
        "acceptedNames": accepted,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
        "storedVersions": [v["name"] for v in (crd.get("spec") or {}).get("versions") or []
                           if v.get("storage")],
    }
    body = dict(crd)
    body["status"] = status
    api.update(rt, "", crd["metadata"]["name"], body, WriteOptions(MANAGER), "status")


def _delete_custom_resources(api: Api, crd: dict[str, Any]) -> None:
    spec = crd.get("spec") or {}
    plural = (spec.get("names") or {}).get("plural", "")
    resource = f"{spec.get('group', '')}/{plural}"
    for key, stored in list(api.store.items(resource).items()):
        obj = stored.obj()
        rv = api.store.next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        api.store.remove(resource, key, obj, rv)


# ---- namespaces ------------------------------------------------------------------------------

def _on_namespace_write(api: Api, rt: ResourceType, namespace: str, old: dict | None,
                        new: dict | None) -> None:
    if rt.key == "/Namespace" and new is not None and new["metadata"].get("deletionTimestamp"):
        _empty_namespace(api, new["metadata"]["name"])
        _finalize_if_empty(api, new["metadata"]["name"])
    elif rt.namespaced and new is None and namespace:
        _finalize_if_empty(api, namespace)


def _terminating(api: Api, namespace: str) -> bool:
    stored = api.store.get("/namespaces", ("", namespace))
    return stored is not None and bool(stored.view()["metadata"].get("deletionTimestamp"))


def _empty_namespace(api: Api, namespace: str) -> None:
    for rt in api.registry.all():
        if not rt.namespaced:
            continue
        for key in [k for k in api.store.items(api.resource_key(rt)) if k[0] == namespace]:
            if api.store.get(api.resource_key(rt), key) is not None:
                api.delete(rt, key[0], key[1], DeleteOptions(propagation_policy="Background"))


def _finalize_if_empty(api: Api, namespace: str) -> None:
    if not _terminating(api, namespace):
        return
    for rt in api.registry.all():
        if rt.namespaced and any(k[0] == namespace for k in api.store.items(api.resource_key(rt))):
            return
    ns_rt = api.registry.lookup("", "v1", "namespaces")
    assert ns_rt is not None
    api.finish_deletion(ns_rt, "", namespace)
