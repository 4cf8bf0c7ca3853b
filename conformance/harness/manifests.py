"""Builders for the objects cases create, as plain dicts (what `kubectl apply` would send).

The backend is the Gateway API conformance echo server (echo-basic): a real image, so the
same manifests work in the simulator and in any cluster. It answers every request with JSON
naming the Service (SERVICE_NAME), the pod and the request it received."""

from __future__ import annotations

from typing import Any

ECHO_IMAGE = "gcr.io/k8s-staging-gateway-api/echo-basic:v20240412-v1.0.0-394-g40c666fd"
ECHO_PORT = 3000
SERVICE_PORT = 8080
SERVICE_PORT_NAME = "http"
LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


def echo_deployment(name: str, replicas: int = 1, *, prestop_sleep_s: int | None = None,
                    termination_grace_s: int | None = None,
                    zero_downtime_strategy: bool = False) -> dict[str, Any]:
    """A Deployment of echo-basic whose pods report `name` as their Service; ready once
    /health answers. `prestop_sleep_s` adds a preStop sleep (the image has no shell, so the
    sleep action, beta and on by default since Kubernetes 1.30)."""
    labels = {"app": name}
    container: dict[str, Any] = {
        "name": "echo",
        "image": ECHO_IMAGE,
        "ports": [{"name": "http", "containerPort": ECHO_PORT}],
        "env": [
            {"name": "SERVICE_NAME", "value": name},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NAMESPACE",
             "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        ],
        "readinessProbe": {"httpGet": {"path": "/health", "port": ECHO_PORT},
                           "periodSeconds": 1, "failureThreshold": 1},
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
    }
    if prestop_sleep_s is not None:
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": prestop_sleep_s}}}
    pod_spec: dict[str, Any] = {"containers": [container]}
    if termination_grace_s is not None:
        pod_spec["terminationGracePeriodSeconds"] = termination_grace_s
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if zero_downtime_strategy:
        spec["strategy"] = {"type": "RollingUpdate",
                            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": spec}


def service(name: str, selector: dict[str, str] | None = None) -> dict[str, Any]:
    """A ClusterIP Service `name` on port 8080 ("http") for the echo pods labelled app=name."""
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"selector": selector if selector is not None else {"app": name},
                 "ports": [{"name": SERVICE_PORT_NAME, "protocol": "TCP",
                            "port": SERVICE_PORT, "targetPort": ECHO_PORT}]},
    }


def backend(service_name: str, port: int | str = SERVICE_PORT) -> dict[str, Any]:
    """An IngressBackend: a Service port by number, or by name when `port` is a str."""
    key = "name" if isinstance(port, str) else "number"
    return {"service": {"name": service_name, "port": {key: port}}}


def path(value: str | None, service_name: str, path_type: str = "Prefix",
         port: int | str = SERVICE_PORT) -> dict[str, Any]:
    """An HTTPIngressPath (`value` None leaves `path` out, as ImplementationSpecific may)."""
    entry: dict[str, Any] = {"pathType": path_type, "backend": backend(service_name, port)}
    if value is not None:
        entry["path"] = value
    return entry


def rule(host: str | None, *paths: dict[str, Any]) -> dict[str, Any]:
    """An IngressRule for `host` (None: every host) with `paths`."""
    entry: dict[str, Any] = {"http": {"paths": list(paths)}}
    if host is not None:
        entry["host"] = host
    return entry


# The sentinel value for "use the target's ingress class" in `ingress()`.
TARGET_CLASS = object()


def ingress(name: str, *rules: dict[str, Any], ingress_class: str | None | object = TARGET_CLASS,
            target_class: str | None = None, default_backend: dict[str, Any] | None = None,
            tls: list[dict[str, Any]] | None = None,
            annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A networking.k8s.io/v1 Ingress. `ingress_class` is spec.ingressClassName: the target's
    class (`target_class`) by default, None to leave it unset, or any other name."""
    spec: dict[str, Any] = {}
    class_name = target_class if ingress_class is TARGET_CLASS else ingress_class
    if class_name is not None:
        spec["ingressClassName"] = class_name
    if rules:
        spec["rules"] = list(rules)
    if default_backend is not None:
        spec["defaultBackend"] = default_backend
    if tls:
        spec["tls"] = tls
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata,
            "spec": spec}


def tls_secret(name: str, cert_pem: bytes, key_pem: bytes) -> dict[str, Any]:
    """A kubernetes.io/tls Secret (stringData: the API server encodes it)."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "type": "kubernetes.io/tls",
            "stringData": {"tls.crt": cert_pem.decode(), "tls.key": key_pem.decode()}}


def hostname(namespace: str, label: str) -> str:
    """A host name only this case uses: `label.namespace.conformance.test` (.test is
    reserved, RFC 2606, so it can never resolve to anything real)."""
    return f"{label}.{namespace}.conformance.test"
