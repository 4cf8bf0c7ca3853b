"""Core-group printers (pkg/printers/internalversion/printers.go): Service, Endpoints, Node,
Event, Namespace, Secret, ConfigMap, ServiceAccount (Pod is in `_pod`).

kube-apiserver prints with `GenerateOptions{Wide: true}`, so every row carries the `-o wide`
cells too; kubectl hides the priority-1 columns itself.  Fields the API server always defaults
or converts (Service type, port protocol, Secret type, podIPs from podIP, ...) are read with
that value when the stored object lacks them, so a row matches a real API round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ._common import (
    NONE,
    UNKNOWN,
    Cells,
    Obj,
    Printer,
    age,
    age_column,
    column,
    dig,
    format_labels,
    integer,
    items,
    mapping,
    name_column,
    name_of,
    parse_time,
    since,
    sorted_set,
)
from ._descriptions import DOC

# ---- Service -----------------------------------------------------------------------------------

SERVICE_COLUMNS = (
    name_column(),
    column("Type", description=DOC["ServiceSpec.type"]),
    column("Cluster-IP", description=DOC["ServiceSpec.clusterIP"]),
    column("External-IP", description=DOC["ServiceSpec.externalIPs"]),
    column("Port(s)", description=DOC["ServiceSpec.ports"]),
    age_column(),
    column("Selector", priority=1, description=DOC["ServiceSpec.selector"]),
)


def load_balancer_status(status: Any) -> str:
    """loadBalancerStatusStringer with wide=true: sorted unique ingress IPs (else hostnames)."""
    points = []
    for ingress in items(status, "ingress"):
        point = dig(ingress, "ip", default="") or dig(ingress, "hostname", default="")
        if point:
            points.append(point)
    return ",".join(sorted_set(points))


def _service_external_ip(svc_type: str, svc: Obj) -> str:
    """getServiceExternalIP (wide)."""
    external_ips = [str(ip) for ip in items(svc, "spec", "externalIPs")]
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) if external_ips else NONE
    if svc_type == "LoadBalancer":
        lb_ips = load_balancer_status(dig(svc, "status", "loadBalancer"))
        if external_ips:
            return ",".join((lb_ips.split(",") if lb_ips else []) + external_ips)
        return lb_ips or "<pending>"
    if svc_type == "ExternalName":
        return dig(svc, "spec", "externalName", default="")
    return UNKNOWN


def _port_string(ports: list[Any]) -> str:
    """makePortString: `80/TCP`, `80:30080/TCP` when a node port is allocated."""
    pieces = []
    for port in ports:
        protocol = dig(port, "protocol", default="") or "TCP"
        node_port = integer(port, "nodePort")
        number = integer(port, "port")
        pieces.append(f"{number}:{node_port}/{protocol}" if node_port > 0
                      else f"{number}/{protocol}")
    return ",".join(pieces)


def service_cells(svc: Obj, now: datetime) -> Cells:
    """Port of printService."""
    svc_type = dig(svc, "spec", "type", default="") or "ClusterIP"
    cluster_ips = items(svc, "spec", "clusterIPs")
    if not cluster_ips and dig(svc, "spec", "clusterIP"):
        cluster_ips = [dig(svc, "spec", "clusterIP")]
    return [
        name_of(svc), svc_type, cluster_ips[0] if cluster_ips else NONE,
        _service_external_ip(svc_type, svc),
        _port_string(items(svc, "spec", "ports")) or NONE,
        age(svc, now),
        format_labels(dig(svc, "spec", "selector")),
    ]


# ---- Endpoints ---------------------------------------------------------------------------------

ENDPOINTS_COLUMNS = (
    name_column(), column("Endpoints", description=DOC["Endpoints.subsets"]), age_column(),
)


def _join_host_port(host: str, port: int) -> str:
    """net.JoinHostPort: brackets around hosts containing a colon."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def format_endpoints(endpoints: Obj) -> str:
    """formatEndpoints(endpoints, nil): up to 3 `ip:port`, then `+ N more...`."""
    subsets = items(endpoints, "subsets")
    if not subsets:
        return NONE
    listed: list[str] = []
    limit, more, count = 3, False, 0
    for subset in subsets:
        addresses = [dig(a, "ip", default="") for a in items(subset, "addresses")]
        ports = items(subset, "ports")
        targets = [addresses] if not ports else [
            [_join_host_port(ip, integer(port, "port")) for ip in addresses] for port in ports]
        for group in targets:
            count += len(group)
            for entry in group:
                if len(listed) == limit:
                    more = True
                    break
                listed.append(entry)
    ret = ",".join(listed)
    return f"{ret} + {count - limit} more..." if more else ret


def endpoints_cells(obj: Obj, now: datetime) -> Cells:
    """Port of printEndpoints."""
    return [name_of(obj), format_endpoints(obj), age(obj, now)]


# ---- Node --------------------------------------------------------------------------------------

NODE_COLUMNS = (
    name_column(),
    column("Status", description="The status of the node"),
    column("Roles", description="The roles of the node"),
    age_column(),
    column("Version", description=DOC["NodeSystemInfo.kubeletVersion"]),
    column("Internal-IP", priority=1, description=DOC["NodeStatus.addresses"]),
    column("External-IP", priority=1, description=DOC["NodeStatus.addresses"]),
    column("OS-Image", priority=1, description=DOC["NodeSystemInfo.osImage"]),
    column("Kernel-Version", priority=1, description=DOC["NodeSystemInfo.kernelVersion"]),
    column("Container-Runtime", priority=1,
           description=DOC["NodeSystemInfo.containerRuntimeVersion"]),
)


def _node_roles(node: Obj) -> str:
    """findNodeRoles: `node-role.kubernetes.io/<role>` keys and `kubernetes.io/role` values."""
    roles = []
    for key, value in mapping(node, "metadata", "labels").items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key[len("node-role.kubernetes.io/"):]
            if role:
                roles.append(role)
        elif key == "kubernetes.io/role" and value:
            roles.append(value)
    return ",".join(sorted_set(roles)) or NONE


def _node_address(node: Obj, address_type: str) -> str:
    """getNodeInternalIP / getNodeExternalIP: the first address of that type."""
    for address in items(node, "status", "addresses"):
        if dig(address, "type") == address_type:
            return dig(address, "address", default="")
    return NONE


def node_cells(node: Obj, now: datetime) -> Cells:
    """Port of printNode."""
    conditions = {c.get("type"): c for c in items(node, "status", "conditions")
                  if isinstance(c, Mapping)}
    status = []
    if "Ready" in conditions:
        status.append("Ready" if conditions["Ready"].get("status") == "True" else "NotReady")
    else:
        status.append("Unknown")
    if dig(node, "spec", "unschedulable"):
        status.append("SchedulingDisabled")
    info = mapping(node, "status", "nodeInfo")
    return [
        name_of(node), ",".join(status), _node_roles(node), age(node, now),
        info.get("kubeletVersion") or "",
        _node_address(node, "InternalIP"), _node_address(node, "ExternalIP"),
        info.get("osImage") or UNKNOWN, info.get("kernelVersion") or UNKNOWN,
        info.get("containerRuntimeVersion") or UNKNOWN,
    ]


# ---- Event -------------------------------------------------------------------------------------

EVENT_COLUMNS = (
    column("Last Seen", description=DOC["Event.lastTimestamp"]),
    column("Type", description=DOC["Event.type"]),
    column("Reason", description=DOC["Event.reason"]),
    column("Object", description=DOC["Event.involvedObject"]),
    column("Subobject", priority=1, description=DOC["ObjectReference.fieldPath"]),
    column("Source", priority=1, description=DOC["Event.source"]),
    column("Message", description=DOC["Event.message"]),
    column("First Seen", priority=1, description=DOC["Event.firstTimestamp"]),
    column("Count", priority=1, description=DOC["Event.count"]),
    name_column(priority=1),
)


def core_event_view(event: Obj) -> dict[str, Any]:
    """An events.k8s.io/v1 Event under its core/v1 field names, as conversion to api.Event does."""
    return {
        "metadata": event.get("metadata") or {},
        "involvedObject": event.get("regarding") or {},
        "reason": event.get("reason") or "",
        "message": event.get("note") or "",
        "source": event.get("deprecatedSource") or {},
        "firstTimestamp": event.get("deprecatedFirstTimestamp"),
        "lastTimestamp": event.get("deprecatedLastTimestamp"),
        "count": event.get("deprecatedCount") or 0,
        "type": event.get("type") or "",
        "eventTime": event.get("eventTime"),
        "series": event.get("series"),
        "reportingComponent": event.get("reportingController") or "",
        "reportingInstance": event.get("reportingInstance") or "",
    }


def _event_source(event: Obj) -> str:
    """formatEventSource: component (or reportingController), `, host` (or reportingInstance)."""
    component = dig(event, "source", "component", default="") or event.get(
        "reportingComponent") or ""
    instance = dig(event, "source", "host", default="") or event.get("reportingInstance") or ""
    return f"{component}, {instance}" if instance else component


def event_cells(event: Obj, now: datetime) -> Cells:
    """Port of printEvent (wide)."""
    first_seen = since(event.get("firstTimestamp"), now)
    if parse_time(event.get("firstTimestamp")) is None:
        first_seen = since(event.get("eventTime"), now, micro=True)
    last_seen = since(event.get("lastTimestamp"), now)
    if parse_time(event.get("lastTimestamp")) is None:
        last_seen = first_seen
    count = integer(event, "count")
    series = event.get("series")
    if isinstance(series, Mapping):
        last_seen = since(series.get("lastObservedTime"), now, micro=True)
        count = integer(series, "count")
    elif count == 0:
        count = 1  # singleton events don't have a count set in the new API
    kind = dig(event, "involvedObject", "kind", default="").lower()
    involved = dig(event, "involvedObject", "name", default="")
    target = f"{kind}/{involved}" if involved else kind
    return [
        last_seen, event.get("type") or "", event.get("reason") or "", target,
        dig(event, "involvedObject", "fieldPath", default=""), _event_source(event),
        (event.get("message") or "").strip(), first_seen, count, name_of(event),
    ]


def events_v1_cells(event: Obj, now: datetime) -> Cells:
    """printEvent on an events.k8s.io/v1 Event (served from the same registry as core Events)."""
    return event_cells(core_event_view(event), now)


# ---- small kinds -------------------------------------------------------------------------------

NAMESPACE_COLUMNS = (
    name_column(), column("Status", description="The status of the namespace"), age_column(),
)


def namespace_cells(ns: Obj, now: datetime) -> Cells:
    """Port of printNamespace (the create strategy always sets phase Active)."""
    return [name_of(ns), dig(ns, "status", "phase", default="") or "Active", age(ns, now)]


SECRET_COLUMNS = (
    name_column(),
    column("Type", description=DOC["Secret.type"]),
    column("Data", description=DOC["Secret.data"]),
    age_column(),
)


def secret_cells(secret: Obj, now: datetime) -> Cells:
    """Port of printSecret (stringData is merged into data by conversion; type defaults Opaque)."""
    keys = set(mapping(secret, "data")) | set(mapping(secret, "stringData"))
    return [name_of(secret), secret.get("type") or "Opaque", len(keys), age(secret, now)]


CONFIGMAP_COLUMNS = (
    name_column(), column("Data", description=DOC["ConfigMap.data"]), age_column(),
)


def configmap_cells(cm: Obj, now: datetime) -> Cells:
    """Port of printConfigMap: len(data) + len(binaryData)."""
    count = len(mapping(cm, "data")) + len(mapping(cm, "binaryData"))
    return [name_of(cm), count, age(cm, now)]


SERVICEACCOUNT_COLUMNS = (
    name_column(), column("Secrets", description=DOC["ServiceAccount.secrets"]), age_column(),
)


def serviceaccount_cells(sa: Obj, now: datetime) -> Cells:
    """Port of printServiceAccount."""
    return [name_of(sa), len(items(sa, "secrets")), age(sa, now)]


PRINTERS: dict[str, Printer] = {
    "/Service": Printer(SERVICE_COLUMNS, service_cells),
    "/Endpoints": Printer(ENDPOINTS_COLUMNS, endpoints_cells),
    "/Node": Printer(NODE_COLUMNS, node_cells),
    "/Event": Printer(EVENT_COLUMNS, event_cells),
    "events.k8s.io/Event": Printer(EVENT_COLUMNS, events_v1_cells),
    "/Namespace": Printer(NAMESPACE_COLUMNS, namespace_cells),
    "/Secret": Printer(SECRET_COLUMNS, secret_cells),
    "/ConfigMap": Printer(CONFIGMAP_COLUMNS, configmap_cells),
    "/ServiceAccount": Printer(SERVICEACCOUNT_COLUMNS, serviceaccount_cells),
}
