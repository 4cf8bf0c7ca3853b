"""Networking printers (pkg/printers/internalversion/printers.go): Ingress, IngressClass,
EndpointSlice, NetworkPolicy."""

from __future__ import annotations

from datetime import datetime

from ._common import (
    NONE,
    Cells,
    Obj,
    Printer,
    age,
    age_column,
    column,
    dig,
    format_label_selector,
    items,
    list_with_more,
    mapping,
    name_column,
    name_of,
)
from ._core import load_balancer_status
from ._descriptions import DOC

# ---- Ingress -----------------------------------------------------------------------------------

INGRESS_COLUMNS = (
    name_column(),
    column("Class", description="The name of the IngressClass resource that should be used for "
           "additional configuration"),
    column("Hosts", description="Hosts that incoming requests are matched against before the "
           "ingress rule"),
    column("Address", description="Address is a list containing ingress points for the "
           "load-balancer"),
    column("Ports", description="Ports of TLS configurations that open"),
    age_column(),
)


def format_hosts(rules: list[object]) -> str:
    """formatHosts: up to 3 hosts, `+ N more...` (N counts every further rule), `*` if none."""
    hosts: list[str] = []
    limit, more = 3, False
    for rule in rules:
        if len(hosts) == limit:
            more = True
        host = dig(rule, "host", default="")
        if not more and host:
            hosts.append(host)
    if not hosts:
        return "*"
    ret = ",".join(hosts)
    return f"{ret} + {len(rules) - limit} more..." if more else ret


def ingress_cells(ing: Obj, now: datetime) -> Cells:
    """Port of printIngress (address unclipped: the server prints wide)."""
    class_name = dig(ing, "spec", "ingressClassName")
    return [
        name_of(ing),
        NONE if class_name is None else class_name,
        format_hosts(items(ing, "spec", "rules")),
        load_balancer_status(dig(ing, "status", "loadBalancer")),
        "80, 443" if items(ing, "spec", "tls") else "80",  # formatPorts
        age(ing, now),
    ]


# ---- IngressClass ------------------------------------------------------------------------------

INGRESSCLASS_COLUMNS = (
    name_column(),
    column("Controller", description="Controller that is responsible for handling this class"),
    column("Parameters", description="A reference to a resource with additional parameters"),
    age_column(),
)

DEFAULT_INGRESS_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


def ingressclass_cells(ic: Obj, now: datetime) -> Cells:
    """Port of printIngressClass, with the ` (default)` name suffix upstream added in 2025."""
    name = name_of(ic)
    if mapping(ic, "metadata", "annotations").get(DEFAULT_INGRESS_CLASS_ANNOTATION) == "true":
        name += " (default)"
    params = dig(ic, "spec", "parameters")
    parameters = NONE
    if params is not None:
        parameters = dig(params, "kind", default="")
        if dig(params, "apiGroup") is not None:
            parameters += "." + dig(params, "apiGroup")
        parameters += "/" + dig(params, "name", default="")
    return [name, dig(ic, "spec", "controller", default=""), parameters, age(ic, now)]


# ---- EndpointSlice -----------------------------------------------------------------------------

ENDPOINTSLICE_COLUMNS = (
    name_column(),
    column("AddressType", description=DOC["EndpointSlice.addressType"]),
    column("Ports", description=DOC["EndpointSlice.ports"]),
    column("Endpoints", description=DOC["EndpointSlice.endpoints"]),
    age_column(),
)


def format_discovery_ports(ports: list[object]) -> str:
    """formatDiscoveryPorts: port numbers (else names, else `*`), up to 3."""
    listed: list[str] = []
    limit, more = 3, False
    for port in ports:
        if len(listed) < limit:
            number, name = dig(port, "port"), dig(port, "name")
            listed.append(str(int(number)) if number is not None
                          else name if name is not None else "*")
        elif len(listed) == limit:
            more = True
    return list_with_more(listed, more, len(ports), limit)


def format_discovery_endpoints(endpoints: list[object]) -> str:
    """formatDiscoveryEndpoints: addresses of all endpoints, up to 3."""
    listed: list[str] = []
    limit, more, count = 3, False, 0
    for endpoint in endpoints:
        for address in items(endpoint, "addresses"):
            if len(listed) < limit:
                listed.append(address)
            elif len(listed) == limit:
                more = True
            count += 1
    return list_with_more(listed, more, count, limit)


def endpointslice_cells(eps: Obj, now: datetime) -> Cells:
    """Port of printEndpointSlice."""
    return [
        name_of(eps), eps.get("addressType") or "",
        format_discovery_ports(items(eps, "ports")),
        format_discovery_endpoints(items(eps, "endpoints")),
        age(eps, now),
    ]


# ---- NetworkPolicy -----------------------------------------------------------------------------

NETWORKPOLICY_COLUMNS = (
    name_column(),
    column("Pod-Selector", description=DOC["NetworkPolicySpec.podSelector"]),
    age_column(),
)


def networkpolicy_cells(np: Obj, now: datetime) -> Cells:
    """Port of printNetworkPolicy (podSelector is a value, so an absent one is empty)."""
    selector = dig(np, "spec", "podSelector", default={})
    return [name_of(np), format_label_selector(selector), age(np, now)]


PRINTERS: dict[str, Printer] = {
    "networking.k8s.io/Ingress": Printer(INGRESS_COLUMNS, ingress_cells),
    "networking.k8s.io/IngressClass": Printer(INGRESSCLASS_COLUMNS, ingressclass_cells),
    "networking.k8s.io/NetworkPolicy": Printer(NETWORKPOLICY_COLUMNS, networkpolicy_cells),
    "discovery.k8s.io/EndpointSlice": Printer(ENDPOINTSLICE_COLUMNS, endpointslice_cells),
}
