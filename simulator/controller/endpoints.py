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
    for port in as_list(endpoint_slice.get("ports")):
        port = as_dict(port)
        if as_str(port.get("name")) != port_name:
            continue
        if as_str(port.get("protocol")) not in ("", "TCP"):
            continue
        number = port.get("port")
        if isinstance(number, int) and not isinstance(number, bool) and 0 < number < 65536:
            return number
    return None


def _parse_ip(text: str) -> tuple[int, int, str] | None:
    """(IP version, the address as an integer, its canonical text) of an IP address, or None.
    A canonical dotted quad (what EndpointSlices hold) takes a fast path; everything else goes
    through `ipaddress`, which decides."""
    try:
        packed = socket.inet_pton(socket.AF_INET, text)
    except (OSError, ValueError, TypeError):
        packed = None
    if packed is not None and socket.inet_ntop(socket.AF_INET, packed) == text:
        return 4, int.from_bytes(packed, "big"), text
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return ip.version, int(ip), str(ip)


def _condition(conditions: dict, key: str, default: bool) -> bool:
    value = conditions.get(key)
    return value if isinstance(value, bool) else default


def _candidates(endpoint_slice: dict, port: int) -> list[tuple[tuple, Endpoint]]:
    """(sort key, Endpoint) for each endpoint of one slice with a valid IP address."""
    found = []
    for item in as_list(endpoint_slice.get("endpoints")):
        if not isinstance(item, dict):
            continue
        addresses = item.get("addresses")
        # "No semantics are defined for additional addresses beyond the first, and kube-proxy
        # does not look at them", so the first address it is.
        if not isinstance(addresses, list) or not addresses:
            continue
        ip = _parse_ip(as_str(addresses[0]))
        if ip is None:
            continue
        conditions = as_dict(item.get("conditions"))
        ready = _condition(conditions, "ready", True)
        serving = _condition(conditions, "serving", ready)
        terminating = _condition(conditions, "terminating", False)
        target_ref = item.get("targetRef")
        target = as_str(target_ref.get("name")) if isinstance(target_ref, dict) else ""
        endpoint = Endpoint(ip[2], port, ready, serving, terminating, target)
        found.append(((ip[0], ip[1], port, not ready, not serving, terminating, target),
                      endpoint))
    return found


def usable_endpoints(slices: Iterable[dict], port_name: str) -> tuple[Endpoint, ...]:
    """The endpoints of a Service port across its EndpointSlices: deduplicated by
    address:port (the same pod may sit in two slices while they are rebalanced; the best
    conditions win), the usable set (see the module docstring), sorted by address and port."""
    candidates: list[tuple[tuple, Endpoint]] = []
    for endpoint_slice in slices:
        if as_str(endpoint_slice.get("addressType")) not in IP_ADDRESS_TYPES:
            continue
        port = slice_port(endpoint_slice, port_name)
        if port is not None:
            candidates += _candidates(endpoint_slice, port)
    if len(candidates) == 1:  # the common case, short
        endpoint = candidates[0][1]
        return (endpoint,) if endpoint.ready or (endpoint.serving and endpoint.terminating) \
            else ()
    best: dict[tuple[int, int, int], tuple[tuple, Endpoint]] = {}
    for key, endpoint in candidates:
        address = key[:3]
        if address not in best or key < best[address][0]:
            best[address] = (key, endpoint)
    ordered = [endpoint for _, endpoint in sorted(best.values(), key=lambda kv: kv[0])]
    ready = tuple(e for e in ordered if e.ready)
    if ready:
        return ready
    return tuple(e for e in ordered if e.serving and e.terminating)
