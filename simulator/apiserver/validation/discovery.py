"""discovery.k8s.io/v1: EndpointSlice.

Port of `pkg/apis/discovery/validation/validation.go` (ValidateEndpointSliceCreate,
ValidateEndpointSliceUpdate).
"""

from __future__ import annotations

from . import names
from .field import ErrorList, GoJSON, Path, duplicate, invalid, not_supported, required, too_many
from .meta import (
    as_dict,
    as_list,
    as_str,
    validate_dns1123_label,
    validate_immutable,
    validate_labels,
    validate_object_meta,
    validate_qualified_name,
)

SUPPORTED_ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")  # sets.List() order
SUPPORTED_PORT_PROTOCOLS = ("SCTP", "TCP", "UDP")
MAX_TOPOLOGY_LABELS = 16
MAX_ADDRESSES = 100
MAX_PORTS = 20000
MAX_ENDPOINTS = 1000
MAX_ZONE_HINTS = 8


def validate_endpoint_slice(obj: dict, old: dict | None = None) -> ErrorList:
    """ValidateEndpointSlice; on update, unchanged endpoints are not re-validated (upstream
    keeps accepting IPs validated under older rules)."""
    errs = validate_object_meta(obj.get("metadata"), True, names.name_is_dns_subdomain)
    address_type = as_str(obj.get("addressType"))
    if not address_type:
        errs.append(required(Path("addressType"), ""))
    elif address_type not in SUPPORTED_ADDRESS_TYPES:
        errs.append(not_supported(Path("addressType"), GoJSON(address_type),
                                  SUPPORTED_ADDRESS_TYPES))
    errs.extend(_validate_ports(as_list(obj.get("ports")), Path("ports")))
    if old is None or as_list(old.get("endpoints")) != as_list(obj.get("endpoints")):
        errs.extend(_validate_endpoints(as_list(obj.get("endpoints")), address_type,
                                        Path("endpoints")))
    return errs


def validate_endpoint_slice_update(obj: dict, old: dict) -> ErrorList:
    """ValidateEndpointSliceUpdate: addressType is immutable.

    Upstream runs no ValidateObjectMetaUpdate here; the REST layer's common checks cover it.
    """
    errs = validate_endpoint_slice(obj, old)
    errs.extend(validate_immutable(GoJSON(as_str(obj.get("addressType"))),
                                   GoJSON(as_str(old.get("addressType"))), Path("addressType")))
    return errs


def _validate_endpoints(endpoints: list, address_type: str, path: Path) -> ErrorList:
    # validateEndpoints
    if len(endpoints) > MAX_ENDPOINTS:
        return [too_many(path, len(endpoints), MAX_ENDPOINTS)]
    errs: ErrorList = []
    for i, endpoint in enumerate(endpoints):
        endpoint = as_dict(endpoint)
        idx_path = path.index(i)
        address_path = idx_path.child("addresses")
        addresses = [as_str(a) for a in as_list(endpoint.get("addresses"))]
        if not addresses:
            errs.append(required(address_path, "must contain at least 1 address"))
        elif len(addresses) > MAX_ADDRESSES:
            errs.append(too_many(address_path, len(addresses), MAX_ADDRESSES))
        for j, address in enumerate(addresses):
            # Unknown address types fall through unvalidated, as upstream.
            if address_type == "IPv4":
                errs.extend(names.is_valid_ipv4_address(address_path.index(j), address))
                errs.extend(names.validate_non_special_ip(address, address_path.index(j)))
            elif address_type == "IPv6":
                errs.extend(names.is_valid_ipv6_address(address_path.index(j), address))
                errs.extend(names.validate_non_special_ip(address, address_path.index(j)))
            elif address_type == "FQDN":
                errs.extend(names.is_fully_qualified_domain_name(address_path.index(j), address))
        node_name = endpoint.get("nodeName")
        if node_name is not None:
            node_name = as_str(node_name)
            errs.extend(invalid(idx_path.child("nodeName"), node_name, msg)
                        for msg in names.name_is_dns_subdomain(node_name, False))
        topology = as_dict(endpoint.get("deprecatedTopology"))
        topology_path = idx_path.child("deprecatedTopology")
        if len(topology) > MAX_TOPOLOGY_LABELS:
            errs.append(too_many(topology_path, len(topology), MAX_TOPOLOGY_LABELS))
        errs.extend(validate_labels(topology, topology_path))
        hostname = endpoint.get("hostname")
        if hostname is not None:
            errs.extend(validate_dns1123_label(as_str(hostname), idx_path.child("hostname")))
        hints = endpoint.get("hints")
        if hints is not None:
            errs.extend(_validate_hints(as_dict(hints), idx_path.child("hints")))
    return errs


def _validate_hints(hints: dict, path: Path) -> ErrorList:
    # validateHints
    zones_path = path.child("forZones")
    zones = as_list(hints.get("forZones"))
    if len(zones) > MAX_ZONE_HINTS:
        return [too_many(zones_path, len(zones), MAX_ZONE_HINTS)]
    errs: ErrorList = []
    seen: set[str] = set()
    for i, zone in enumerate(zones):
        name = as_str(as_dict(zone).get("name"))
        zone_path = zones_path.index(i).child("name")
        if name in seen:
            errs.append(duplicate(zone_path, name))
        else:
            seen.add(name)
        errs.extend(invalid(zone_path, name, msg) for msg in names.is_valid_label_value(name))
    return errs


def _validate_ports(ports: list, path: Path) -> ErrorList:
    # validatePorts; discovery/v1 defaults name to "" and protocol to TCP.
    if len(ports) > MAX_PORTS:
        return [too_many(path, len(ports), MAX_PORTS)]
    errs: ErrorList = []
    seen: set[str] = set()
    for i, port in enumerate(ports):
        port = as_dict(port)
        idx_path = path.index(i)
        name = as_str(port.get("name"))
        if name:
            errs.extend(validate_dns1123_label(name, idx_path.child("name")))
        if name in seen:
            errs.append(duplicate(idx_path.child("name"), GoJSON(name)))
        else:
            seen.add(name)
        protocol = as_str(port.get("protocol")) if port.get("protocol") is not None else "TCP"
        if protocol not in SUPPORTED_PORT_PROTOCOLS:
            errs.append(not_supported(idx_path.child("protocol"), GoJSON(protocol),
                                      SUPPORTED_PORT_PROTOCOLS))
        if port.get("appProtocol") is not None:
            errs.extend(validate_qualified_name(as_str(port.get("appProtocol")),
                                                idx_path.child("appProtocol")))
    return errs
