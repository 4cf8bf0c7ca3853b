"""Pod -> endpoint translation shared by the EndpointSlice and Endpoints controllers, pure
functions over dicts (pkg/controller/endpointslice utils.go, pkg/api/v1/pod FindPort,
staging/src/k8s.io/endpointslice/util, pkg/api/v1/endpoints RepackSubsets).

Ports: a Service port's targetPort is resolved to a containerPort as `podutil.FindPort` does
(a number as is, a name through the pod's declared container ports), then, unlike a real
cluster, through the kubelet's `simulator.dev/ports` annotation to the port the pod's process
really listens on on its loopback address (`kubelet.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .kubelet import published_ports
from .objects import being_deleted, is_pod_ready, is_pod_terminal, labels_of, meta
from .selectors import matches_set

Obj = dict[str, Any]

LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
LABEL_HEADLESS = "service.kubernetes.io/headless"
# KEP-4974: kube-controller-manager 1.33 labels the Endpoints objects it manages.
ENDPOINTS_MANAGED_BY = "endpoints.kubernetes.io/managed-by"
ENDPOINTS_CONTROLLER_NAME = "endpoint-controller"


def service_selector(service: Obj) -> dict[str, str] | None:
    """The Service's selector, or None when it has none (then no controller manages its
    endpoints)."""
    selector = (service.get("spec") or {}).get("selector")
    return selector or None


def service_selects(service: Obj, pod: Obj) -> bool:
    selector = service_selector(service)
    return selector is not None and \
        meta(service).get("namespace") == meta(pod).get("namespace") and \
        matches_set(selector, labels_of(pod))


def is_headless(service: Obj) -> bool:
    """!helper.IsServiceIPSet: clusterIP None (or unset)."""
    ip = (service.get("spec") or {}).get("clusterIP")
    return not ip or ip == "None"


def should_pod_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """endpointsliceutil.ShouldPodBeInEndpoints: not terminal, has an IP, and (unless asked
    to include them) not terminating."""
    if is_pod_terminal(pod):
        return False
    status = pod.get("status") or {}
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    return include_terminating or not being_deleted(pod)


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """podutil.FindPort: the containerPort a Service port targets on this pod."""
    target = service_port.get("targetPort", service_port.get("port"))
    protocol = service_port.get("protocol") or "TCP"
    if isinstance(target, str) and not target.isdigit():
        spec = pod.get("spec") or {}
        # Regular containers, then restartable init containers (sidecars).
        containers = list(spec.get("containers") or []) + [
            c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
        for container in containers:
            for port in container.get("ports") or []:
                if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                    return int(port["containerPort"])
        return None
    if target is None:
        return None
    return int(target)


def real_port(pod: Obj, container_port: int) -> int:
    """The port the pod's process listens on for `container_port` (see the module doc)."""
    return published_ports(pod).get(container_port, container_port)


def endpoint_ports(service: Obj, pod: Obj) -> list[Obj]:
    """getEndpointPorts: one EndpointPort per Service port the pod can serve."""
    out: list[Obj] = []
    for sp in (service.get("spec") or {}).get("ports") or []:
        number = find_port(pod, sp)
        if number is None:
            continue
        port: Obj = {"name": sp.get("name") or "", "protocol": sp.get("protocol") or "TCP",
                     "port": real_port(pod, number)}
        if sp.get("appProtocol"):
            port["appProtocol"] = sp["appProtocol"]
        out.append(port)
    return out


def port_key(ports: Iterable[Obj]) -> tuple:
    """endpointsliceutil.NewPortMapKey: the identity of a set of ports."""
    return tuple(sorted((p.get("name") or "", p.get("protocol") or "TCP", int(p.get("port") or 0),
                         p.get("appProtocol") or "") for p in ports))


def should_set_hostname(pod: Obj, service: Obj) -> bool:
    """ShouldSetHostname: the pod names this Service as its subdomain."""
    spec = pod.get("spec") or {}
    return bool(spec.get("hostname")) and spec.get("subdomain") == meta(service).get("name") \
        and meta(service).get("namespace") == meta(pod).get("namespace")


def _pod_ref(pod: Obj) -> Obj:
    md = meta(pod)
    return {"kind": "Pod", "namespace": md.get("namespace"), "name": md.get("name"),
            "uid": md.get("uid")}


def pod_to_endpoint(pod: Obj, service: Obj) -> Obj:
    """podToEndpoint: ready = Ready and not terminating (or publishNotReadyAddresses),
    serving = Ready, terminating = deletionTimestamp set."""
    serving = is_pod_ready(pod)
    terminating = being_deleted(pod)
    ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses")) or \
        (serving and not terminating)
    status = pod.get("status") or {}
    addresses = [status["podIP"]] if status.get("podIP") else \
        [ip.get("ip") for ip in status.get("podIPs") or []][:1]
    endpoint: Obj = {"addresses": addresses,
                     "conditions": {"ready": ready, "serving": serving,
                                    "terminating": terminating}}
    if should_set_hostname(pod, service):
        endpoint["hostname"] = pod["spec"]["hostname"]
    endpoint["targetRef"] = _pod_ref(pod)
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        endpoint["nodeName"] = node
    return endpoint


def endpoint_key(endpoint: Obj) -> tuple:
    """hashEndpoint: addresses, hostname and the target pod identify an endpoint."""
    ref = endpoint.get("targetRef") or {}
    return (tuple(sorted(endpoint.get("addresses") or [])), endpoint.get("hostname") or "",
            ref.get("namespace") or "", ref.get("name") or "")


# ---- the legacy Endpoints object ------------------------------------------------------------

def endpoint_address(pod: Obj, service: Obj) -> Obj:
    """podToEndpointAddressForService."""
    status = pod.get("status") or {}
    address: Obj = {"ip": status.get("podIP") or ((status.get("podIPs") or [{}])[0].get("ip"))}
    if should_set_hostname(pod, service):
        address["hostname"] = pod["spec"]["hostname"]
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        address["nodeName"] = node
    address["targetRef"] = _pod_ref(pod)
    return address


def endpoints_port(service_port: Obj, number: int) -> Obj:
    """endpointPortFromServicePort: the name only when set (omitempty)."""
    port: Obj = {}
    if service_port.get("name"):
        port["name"] = service_port["name"]
    port["port"] = number
    port["protocol"] = service_port.get("protocol") or "TCP"
    if service_port.get("appProtocol"):
        port["appProtocol"] = service_port["appProtocol"]
    return port


def repack_subsets(entries: list[tuple[Obj, Obj | None, bool]]) -> list[Obj]:
    """endpoints.RepackSubsets over (address, port or None, ready) entries: addresses that
    offer the same set of ports share a subset; sorted like SortSubsets."""
    by_port: dict[tuple, dict[tuple, tuple[Obj, bool]]] = {}
    ports: dict[tuple, Obj | None] = {}
    for address, port, ready in entries:
        pk = _port_identity(port)
        ports[pk] = port
        ak = _address_identity(address)
        current = by_port.setdefault(pk, {}).get(ak)
        # An address ready for a port in any entry is ready for it.
        by_port[pk][ak] = (address, ready or (current[1] if current else False))
    groups: dict[tuple, list[tuple]] = {}
    group_addresses: dict[tuple, dict[tuple, tuple[Obj, bool]]] = {}
    for pk, addresses in by_port.items():
        gk = tuple(sorted((ak, ready) for ak, (_, ready) in addresses.items()))
        groups.setdefault(gk, []).append(pk)
        group_addresses[gk] = addresses
    subsets = []
    for gk, pks in groups.items():
        addresses = group_addresses[gk]
        ready = sorted((a for a, r in addresses.values() if r), key=_address_identity)
        not_ready = sorted((a for a, r in addresses.values() if not r), key=_address_identity)
        subset: Obj = {}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        port_list = sorted((ports[pk] for pk in pks if ports[pk] is not None),
                           key=lambda p: _port_identity(p))
        if port_list:
            subset["ports"] = port_list
        subsets.append(subset)
    return sorted(subsets, key=_subset_sort_key)


def _port_identity(port: Obj | None) -> tuple:
    if port is None:
        return ("", -1, "", "")
    return (port.get("name") or "", int(port.get("port") or 0), port.get("protocol") or "TCP",
            port.get("appProtocol") or "")


def _address_identity(address: Obj) -> tuple:
    ref = address.get("targetRef") or {}
    return (address.get("ip") or "", address.get("hostname") or "", ref.get("uid") or "")


def _subset_sort_key(subset: Obj) -> tuple:
    first = (subset.get("addresses") or subset.get("notReadyAddresses") or [{}])[0]
    return (_address_identity(first), tuple(_port_identity(p) for p in subset.get("ports") or []))
