"""The Kubernetes side of a case, over the official `kubernetes` client: namespaces, the
echo backends, Ingresses and Secrets, and waits on what the cluster reports."""

from __future__ import annotations

import contextlib
import datetime
import re
import uuid
from typing import Any

import kubernetes
from kubernetes.client import ApiException

from . import manifests
from .consistency import Settings, eventually

NAMESPACE_LABEL = "ingress-conformance.dev/case"
# Every object the suite creates outside a case's namespace (cluster-scoped ones, such as an
# IngressClass) carries the same label, so a run can sweep what a killed run left behind
# (harness.leftovers).
SUITE_LABEL = NAMESPACE_LABEL
# Pods need a scheduler, a kubelet and an image pull in a real cluster: allow minutes.
ROLLOUT = Settings(poll_s=0.1, successes=1, timeout_s=180.0)


def unique_name(prefix: str) -> str:
    """`prefix` plus 8 random hex digits, cut to a valid DNS label."""
    return f"{prefix[:54].rstrip('-')}-{uuid.uuid4().hex[:8]}"


def parse_server_version(info: Any) -> tuple[int, int] | None:
    """(major, minor) of a /version answer (V1 VersionInfo or dict); None when unreadable.
    Managed clusters append to minor ("29+" on GKE and EKS); gitVersion is the fallback."""
    def get(key: str, attr: str) -> str:
        value = info.get(key) if isinstance(info, dict) else getattr(info, attr, None)
        return str(value or "")
    major = re.match(r"\d+", get("major", "major"))
    minor = re.match(r"\d+", get("minor", "minor"))
    if major and minor:
        return int(major.group()), int(minor.group())
    found = re.match(r"v?(\d+)\.(\d+)", get("gitVersion", "git_version"))
    return (int(found.group(1)), int(found.group(2))) if found else None


def ready_pod_names(pods: list[Any]) -> set[str]:
    """Names of the pods (V1Pod) that are Ready and not being deleted."""
    names = set()
    for pod in pods:
        conditions = {c.type: c.status for c in (pod.status.conditions or [])}
        if pod.metadata.deletion_timestamp is None and conditions.get("Ready") == "True":
            names.add(pod.metadata.name)
    return names


class Kube:
    """API clients for one cluster plus the operations cases need."""

    def __init__(self, client: kubernetes.client.ApiClient, ingress_class: str) -> None:
        self.client = client
        self.ingress_class = ingress_class
        self.core = kubernetes.client.CoreV1Api(client)
        self.apps = kubernetes.client.AppsV1Api(client)
        self.net = kubernetes.client.NetworkingV1Api(client)
        self._version: tuple[tuple[int, int] | None, str] | None = None

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str, ingress_class: str) -> Kube:
        return cls(kubernetes.config.new_client_from_config(config_file=kubeconfig),
                   ingress_class)

    def close(self) -> None:
        self.client.close()

    # -- the API server --------------------------------------------------------------------
    def server_version(self) -> tuple[tuple[int, int] | None, str]:
        """((major, minor) or None, gitVersion) of the API server: /version, read once."""
        if self._version is None:
            info = kubernetes.client.VersionApi(self.client).get_code()
            self._version = (parse_server_version(info), info.git_version or "unknown")
        return self._version

    # -- namespaces ----------------------------------------------------------------------
    def create_namespace(self, case: str) -> str:
        name = unique_name(f"conf-{case.replace('_', '-')}".lower())
        self.core.create_namespace({"metadata": {"name": name,
                                                 "labels": {NAMESPACE_LABEL: case[:63]}}})
        return name

    def delete_namespace(self, name: str) -> None:
        """Delete without waiting (the namespace controller removes what is inside)."""
        with contextlib.suppress(ApiException):
            self.core.delete_namespace(name, propagation_policy="Background")

    # -- objects ---------------------------------------------------------------------------
    def apply(self, namespace: str, obj: dict[str, Any]) -> Any:
        """Create `obj` (a manifest dict) in `namespace`."""
        kind = obj["kind"]
        creators = {
            "Deployment": self.apps.create_namespaced_deployment,
            "Service": self.core.create_namespaced_service,
            "Ingress": self.net.create_namespaced_ingress,
            "Secret": self.core.create_namespaced_secret,
        }
        if kind not in creators:
            raise ValueError(f"no creator for kind {kind}")
        return creators[kind](namespace, obj)

    def ingress(self, namespace: str, name: str, *rules: dict[str, Any],
                **kwargs: Any) -> dict[str, Any]:
        """Create an Ingress of the target's class (see manifests.ingress for kwargs)."""
        body = manifests.ingress(name, *rules, target_class=self.ingress_class, **kwargs)
        self.apply(namespace, body)
        return body

    def replace(self, namespace: str, body: dict[str, Any]) -> None:
        """Update an Ingress or Secret to `body` (read-then-replace, as `kubectl replace`)."""
        api = {"Ingress": (self.net.read_namespaced_ingress,
                           self.net.replace_namespaced_ingress),
               "Secret": (self.core.read_namespaced_secret,
                          self.core.replace_namespaced_secret)}
        read, write = api[body["kind"]]
        name = body["metadata"]["name"]
        current = read(name, namespace)
        body = {**body, "metadata": {**body["metadata"],
                                     "resourceVersion": current.metadata.resource_version}}
        write(name, namespace, body)

    def replace_ingress(self, namespace: str, body: dict[str, Any]) -> None:
        self.replace(namespace, body)

    def echo_backends(self, namespace: str, *names: str, replicas: int = 1,
                      wait: bool = True, **kwargs: Any) -> None:
        """Deployment + Service for each name; with `wait`, until all their pods are ready."""
        for name in names:
            self.apply(namespace, manifests.echo_deployment(name, replicas, **kwargs))
            self.apply(namespace, manifests.service(name))
        if wait:
            for name in names:
                self.wait_rolled_out(namespace, name, replicas)

    # -- Deployments -------------------------------------------------------------------------
    def wait_rolled_out(self, namespace: str, name: str, replicas: int) -> None:
        """Until the Deployment has `replicas` updated, ready pods and nothing else."""
        def rolled_out() -> None:
            dep = self.apps.read_namespaced_deployment(name, namespace)
            status = dep.status
            assert (status.observed_generation or 0) >= dep.metadata.generation
            assert (status.updated_replicas or 0) == replicas, status
            assert (status.ready_replicas or 0) == replicas, status
            assert (status.replicas or 0) == replicas, status
        eventually(rolled_out, f"Deployment {namespace}/{name} rolled out", ROLLOUT,
                   measure=False)

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        self.apps.patch_namespaced_deployment_scale(name, namespace,
                                                    {"spec": {"replicas": replicas}})

    def rollout_restart(self, namespace: str, name: str) -> None:
        """What `kubectl rollout restart` does: stamp the pod template."""
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat()
        self.apps.patch_namespaced_deployment(name, namespace, {"spec": {"template": {
            "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}})

    def ready_pods(self, namespace: str, app: str) -> set[str]:
        """Names of the app's pods that are Ready and not being deleted."""
        return ready_pod_names(
            self.core.list_namespaced_pod(namespace, label_selector=f"app={app}").items)

    def pod_names(self, namespace: str, app: str) -> set[str]:
        """Every pod of the app that still exists, terminating or not."""
        pods = self.core.list_namespaced_pod(namespace, label_selector=f"app={app}").items
        return {p.metadata.name for p in pods}

    def delete_pod(self, namespace: str, name: str) -> None:
        self.core.delete_namespaced_pod(name, namespace)

    # -- status ------------------------------------------------------------------------------
    def load_balancer_addresses(self, namespace: str, name: str) -> list[str]:
        """status.loadBalancer.ingress of an Ingress, as IPs or hostnames."""
        ing = self.net.read_namespaced_ingress(name, namespace)
        lb = ing.status.load_balancer if ing.status else None
        return [e.ip or e.hostname for e in (lb.ingress or [])] if lb else []

    def create_ingress_class(self, name: str, controller: str, owner: str) -> None:
        """A cluster-scoped IngressClass labelled as the suite's (`owner`: the case or
        module), so that a run killed before deleting it does not leave it for good."""
        self.net.create_ingress_class({"metadata": {"name": name,
                                                    "labels": {SUITE_LABEL: owner[:63]}},
                                       "spec": {"controller": controller}})

    def ingress_class_names(self) -> dict[str, Any]:
        return {c.metadata.name: c for c in self.net.list_ingress_class().items}
