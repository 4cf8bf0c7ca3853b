"""EndpointSlices -> the endpoints a backend may send new requests to.

Conditions, from the EndpointSlice API reference (discovery.k8s.io/v1 EndpointConditions):

- ready: "A nil value indicates an unknown state. In most cases consumers should interpret
  this unknown state as ready."
- serving: "identical to ready except that it is set regardless of the terminating state of
  endpoints ... If nil, consumers should defer to the ready condition." (kube-proxy reads a nil
  serving as true; the two differ only for a not-ready terminating endpoint with no serving
  condition, which we leave out.)
- terminating: "A nil value indicates an unknown state. Consumers should interpret this
  unknown state to mean that the endpoint is not terminating."

The usable set is the ready endpoints; when none is ready, the serving and terminating ones:
kube-proxy's "terminating endpoints fallback" (KEP-1669, ProxyTerminatingEndpoints), which
lets a Service being rolled or scaled down finish its in-flight traffic instead of answering
503 while the old pods drain.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from simulator.controller.objects import as_dict, as_list, as_str
from simulator.routing import Endpoint

# addressType is one of IPv4, IPv6 and FQDN; FQDN slices are deprecated and unroutable here.
IP_ADDRESS_TYPES = frozenset({"IPv4", "IPv6"})


def slice_port(endpoint_slice: dict, port_name: str) -> int | None:
    """The TCP port number this slice gives the Service port named `port_name` ("" for a
    single unnamed port), or None. "All ports in an EndpointSlice must have a unique name. If
    the EndpointSlice is derived from a Kubernetes service, this corresponds to the
    Service.ports[].name." """
    ports = endpoint_slice.get("ports")
    if type(ports) is not list:
        ports = as_list(ports)
    for port in ports:
        if type(port) is not dict:
            port = as_dict(port)
        name = port.get("name")
        if (name if type(name) is str else as_str(name)) != port_name:
            continue
        protocol = port.get("protocol")
        if protocol is not None and protocol != "TCP" and as_str(protocol) not in ("", "TCP"):
            continue
        number = port.get("port")
        if type(number) is int:
            if 0 < number < 65536:
                return number
        elif isinstance(number, int) and not isinstance(number, bool) and 0 < number < 65536:
            return number
    return None


def _parse_ip(text: str) -> tuple[int, int, str] | None:
    """(IP version, the address as an integer, its canonical text) of an IP address, or None.
    A canonical dotted quad (what EndpointSlices hold) takes a fast path; everything else goes
    through `ipaddress`, which decides."""
    try:
        packed = _inet_pton(_AF_INET, text)
    except (OSError, ValueError, TypeError):
        packed = None
    if packed is not None and _inet_ntop(_AF_INET, packed) == text:
        return 4, int.from_bytes(packed, "big"), text
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return ip.version, int(ip), str(ip)


_inet_pton, _inet_ntop, _AF_INET = socket.inet_pton, socket.inet_ntop, socket.AF_INET


def _condition(conditions: dict, key: str, default: bool) -> bool:
    value = conditions.get(key)
    return value if isinstance(value, bool) else default


def _canonical_ip(text: str) -> str | None:
    """`_parse_ip(text)[2]`, the canonical text of an IP address, or None; without building
    the rest for a canonical dotted quad, the usual case."""
    try:
        packed = _inet_pton(_AF_INET, text)
    except (OSError, ValueError, TypeError):
        packed = None
    if packed is not None and _inet_ntop(_AF_INET, packed) == text:
        return text
    ip = _parse_ip(text)
    return None if ip is None else ip[2]


def _candidates(endpoint_slice: dict, port: int, found: list[Endpoint]) -> None:
    """Add to `found` the endpoints of one slice with a valid IP address (canonical in
    `address`)."""
    items = endpoint_slice.get("endpoints")
    if type(items) is not list:
        items = as_list(items)
    for item in items:
        if not isinstance(item, dict):
            continue
        addresses = item.get("addresses")
        # "No semantics are defined for additional addresses beyond the first, and kube-proxy
        # does not look at them", so the first address it is.
        if not isinstance(addresses, list) or not addresses:
            continue
        address = addresses[0]
        address = _canonical_ip(address if type(address) is str else as_str(address))
        if address is None:
            continue
        conditions = item.get("conditions")
        if type(conditions) is not dict:
            conditions = as_dict(conditions)
        ready = conditions.get("ready")
        if ready is not True and ready is not False:  # bool is final: a value or unknown
            ready = True
        serving = conditions.get("serving")
        if serving is not True and serving is not False:
            serving = ready
        terminating = conditions.get("terminating")
        if terminating is not True:  # False, or unknown: "not terminating"
            terminating = False
        target_ref = item.get("targetRef")
        target = as_str(target_ref.get("name")) if isinstance(target_ref, dict) else ""
        found.append(Endpoint(address, port, ready, serving, terminating, target))


def _sort_key(endpoint: Endpoint) -> tuple:
    """Orders the candidates for one address:port best first, then by address and port."""
    ip = _parse_ip(endpoint.address)  # canonical: the same version and number as it was
    assert ip is not None
    return (ip[0], ip[1], endpoint.port, not endpoint.ready, not endpoint.serving,
            endpoint.terminating, endpoint.target)


def usable_endpoints(slices: Iterable[dict], port_name: str) -> tuple[Endpoint, ...]:
    """The endpoints of a Service port across its EndpointSlices: deduplicated by
    address:port (the same pod may sit in two slices while they are rebalanced; the best
    conditions win), the usable set (see the module docstring), sorted by address and port."""
    candidates: list[Endpoint] = []
    for endpoint_slice in slices:
        address_type = endpoint_slice.get("addressType")
        if (address_type if type(address_type) is str else as_str(address_type)) \
                not in IP_ADDRESS_TYPES:
            continue
        port = slice_port(endpoint_slice, port_name)
        if port is not None:
            _candidates(endpoint_slice, port, candidates)
    if len(candidates) == 1:  # the common case, short
        endpoint = candidates[0]
        return (endpoint,) if endpoint.ready or (endpoint.serving and endpoint.terminating) \
            else ()
    best: dict[tuple[int, int, int], tuple[tuple, Endpoint]] = {}
    for endpoint in candidates:
        key = _sort_key(endpoint)
        address = key[:3]
        if address not in best or key < best[address][0]:
            best[address] = (key, endpoint)
    ordered = [endpoint for _, endpoint in sorted(best.values(), key=lambda kv: kv[0])]
    ready = tuple(e for e in ordered if e.ready)
    if ready:
        return ready
    return tuple(e for e in ordered if e.serving and e.terminating)
