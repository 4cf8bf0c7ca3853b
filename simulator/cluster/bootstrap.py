"""Objects a fresh cluster has before any workload: the simulated Node (what a kubelet
registers, `kubelet_node_status.go`) and the default IngressClass of the reference
controller.
"""

from __future__ import annotations

from typing import Any

from .client import ApiClient, ApiError
from .kinds import INGRESSCLASSES, NODES
from .objects import now_rfc3339

Obj = dict[str, Any]

NODE_NAME = "sim-node"
NODE_IP = "127.0.0.1"
KUBELET_VERSION = "v1.33.0-simulator"
# Advertised, not enforced: the simulated node runs as many pods as it is given.
MAX_PODS = "10000"

INGRESS_CLASS_NAME = "reference"
INGRESS_CONTROLLER = "simulator.dev/reference-ingress-controller"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


def node_conditions(at: str) -> list[Obj]:
    """A healthy node's conditions (setNodeReadyCondition and the pressure conditions)."""
    def cond(cond_type: str, status: str, reason: str, message: str) -> Obj:
        return {"type": cond_type, "status": status, "lastHeartbeatTime": at,
                "lastTransitionTime": at, "reason": reason, "message": message}
    return [
        cond("MemoryPressure", "False", "KubeletHasSufficientMemory",
             "kubelet has sufficient memory available"),
        cond("DiskPressure", "False", "KubeletHasNoDiskPressure",
             "kubelet has no disk pressure"),
        cond("PIDPressure", "False", "KubeletHasSufficientPID",
             "kubelet has sufficient PID available"),
        cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]


def node_object(name: str = NODE_NAME) -> Obj:
    at = now_rfc3339()
    resources = {"cpu": "8", "memory": "32Gi", "ephemeral-storage": "100Gi", "pods": MAX_PODS}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux"},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {},
        "status": {
            "capacity": dict(resources), "allocatable": dict(resources),
            "conditions": node_conditions(at),
            "addresses": [{"type": "InternalIP", "address": NODE_IP},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "",
                         "kernelVersion": "", "osImage": "Simulated",
                         "containerRuntimeVersion": "simulator://1.0",
                         "kubeletVersion": KUBELET_VERSION,
                         "kubeProxyVersion": KUBELET_VERSION,
                         "operatingSystem": "linux", "architecture": "amd64"},
        },
    }


async def register_node(client: ApiClient, name: str = NODE_NAME) -> Obj:
    """Create the Node, or mark an existing one Ready again (registerWithAPIServer)."""
    body = node_object(name)
    try:
        return await client.create(NODES, body)
    except ApiError as exc:
        if not exc.already_exists:
            raise
    current = await client.get(NODES, name)
    current["status"] = {**(current.get("status") or {}), **body["status"]}
    return await client.update_status(NODES, current)


def ingress_class_object() -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
        "metadata": {"name": INGRESS_CLASS_NAME,
                     "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
        "spec": {"controller": INGRESS_CONTROLLER},
    }


async def ensure_ingress_class(client: ApiClient) -> None:
    """Create the default IngressClass; an existing one (maybe edited) is left alone."""
    try:
        await client.create(INGRESSCLASSES, ingress_class_object())
    except ApiError as exc:
        if not exc.already_exists:
            raise
