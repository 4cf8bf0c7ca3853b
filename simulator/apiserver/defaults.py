"""Server-side defaults that clients rely on, as the API types' SetDefaults_* functions set them.

Only defaults a client or controller could observe are set (e.g. EndpointSlice port
`name: ""` and `protocol: TCP`, Service port protocol, Deployment strategy); pure functions
that change the object in place before validation.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .govalues import quantity_value

Obj = dict[str, Any]


def _container_defaults(container: Obj) -> None:
    image = container.get("image") or ""
    tag = image.rsplit("/", 1)[-1]
    if "@" in tag:
        pull = "IfNotPresent"
    elif ":" not in tag or tag.endswith(":latest"):
        pull = "Always"
    else:
        pull = "IfNotPresent"
    container.setdefault("imagePullPolicy", pull)
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for probe_name in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = container.get(probe_name)
        if isinstance(probe, dict):
            probe.setdefault("timeoutSeconds", 1)
            probe.setdefault("periodSeconds", 10)
            probe.setdefault("successThreshold", 1)
            probe.setdefault("failureThreshold", 3)
            http_get = probe.get("httpGet")
            if isinstance(http_get, dict):
                http_get.setdefault("path", "/")
                http_get.setdefault("scheme", "HTTP")


def pod_spec_defaults(spec: Obj) -> None:
    """SetDefaults_PodSpec and the container defaults it implies."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if isinstance(container, dict):
            _container_defaults(container)


def _template_defaults(obj: Obj) -> None:
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        if isinstance(template.get("spec"), dict):
            pod_spec_defaults(template["spec"])


def deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template_defaults(obj)


def replica_set(obj: Obj) -> None:
    obj.setdefault("spec", {}).setdefault("replicas", 1)
    _template_defaults(obj)


def pod(obj: Obj) -> None:
    pod_spec_defaults(obj.setdefault("spec", {}))
    spec = obj["spec"]
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    for container in _containers(spec):
        # SetDefaults_Pod: a limit without a request requests that much.
        resources = container.get("resources")
        if isinstance(resources, dict) and isinstance(resources.get("limits"), dict) and \
                resources["limits"]:
            resources["requests"] = {**resources["limits"], **(resources.get("requests") or {})}
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", pod_qos_class(spec))


def pod_qos_class(spec: Obj) -> str:
    """qos.GetPodQOS: BestEffort without cpu or memory requests and limits, Guaranteed when
    every container limits both and requests what it limits, Burstable otherwise."""
    totals: dict[str, dict[str, Decimal]] = {"requests": {}, "limits": {}}
    guaranteed = True
    for container in _containers(spec):
        resources = container.get("resources") or {}
        for kind, total in totals.items():
            found = set()
            for name, quantity in (resources.get(kind) or {}).items():
                amount = quantity_value(quantity)
                if name in ("cpu", "memory") and amount is not None and amount > 0:
                    total[name] = total.get(name, Decimal(0)) + amount
                    found.add(name)
            if kind == "limits" and found != {"cpu", "memory"}:
                guaranteed = False
    requests, limits = totals["requests"], totals["limits"]
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"


def _containers(spec: Obj) -> list[Obj]:
    return [c for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
            if isinstance(c, dict)]


def service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    if spec["type"] != "ExternalName":
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "targetPort" not in port and "port" in port:
                port["targetPort"] = port["port"]
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def endpoint_slice(obj: Obj) -> None:
    for port in obj.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("name", "")
            port.setdefault("protocol", "TCP")


def endpoints(obj: Obj) -> None:
    for subset in obj.get("subsets") or []:
        for port in (subset or {}).get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")
    # stringData is write-only: merged into data (base64) and never stored.
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):
        data = obj.setdefault("data", {}) or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data


def namespace(obj: Obj) -> None:
    name = (obj.get("metadata") or {}).get("name")
    if name:
        labels = obj["metadata"].setdefault("labels", {}) or {}
        labels["kubernetes.io/metadata.name"] = name
        obj["metadata"]["labels"] = labels
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def job(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    _template_defaults(obj)


DEFAULTERS: dict[str, Callable[[Obj], None]] = {
    "apps/Deployment": deployment,
    "apps/ReplicaSet": replica_set,
    "/Pod": pod,
    "/Service": service,
    "discovery.k8s.io/EndpointSlice": endpoint_slice,
    "/Endpoints": endpoints,
    "/Secret": secret,
    "/Namespace": namespace,
    "batch/Job": job,
}


def apply_defaults(kind_key: str, obj: Obj) -> None:
    """Set the server-side defaults of `kind_key` on `obj`, in place."""
    defaulter = DEFAULTERS.get(kind_key)
    if defaulter is not None:
        defaulter(obj)
