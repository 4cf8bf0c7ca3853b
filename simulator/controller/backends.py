"""Ingress backends -> `routing.Backend`: Service, Service port, EndpointSlices, endpoints.

The chain, for `backend.service {name, port}` of an Ingress in namespace N:

1. the Service N/name ("The service must exist in the same namespace as the Ingress
   object");
2. its port: `port.number` matches a Service port's `port`, `port.name` a Service port's
   `name` ("Port of the referenced service. A port name or port number is required");
3. that Service port's `name` ("" when the Service has a single unnamed port) names the
   EndpointSlice port ("If the EndpointSlice is derived from a Kubernetes service, this
   corresponds to the Service.ports[].name"), whose number is the resolved targetPort the
   endpoints listen on;
4. the EndpointSlices labelled `kubernetes.io/service-name: name` in N.

A missing Service or Service port keeps the rule with no endpoints, so the data plane answers
503 for it instead of letting the request fall through to another rule or the default
backend. ingress-nginx does the same: the location stays, its upstream is empty, and nginx
answers 503 ("Service Temporarily Unavailable"). An ExternalName Service is treated the same
way (it has no EndpointSlices; resolving DNS names is left out of the reference controller).
`backend.resource` (a CRD object instead of a Service) is not supported: the rule is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from simulator.controller.endpoints import usable_endpoints
from simulator.controller.objects import as_dict, as_list, as_str
from simulator.routing import Backend

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Problem:
    """Why a backend is degraded or dropped: the reason and message of a Warning Event."""

    reason: str
    message: str


@dataclass(frozen=True)
class Resolution:
    """A resolved backend (None: drop the rule) and what went wrong, if anything."""

    backend: Backend | None
    problem: Problem | None = None


def _port_ref(service_ref: dict) -> str:
    """The Ingress's service port as a string: the number ("80") or the name ("http")."""
    port = as_dict(service_ref.get("port"))
    number = port.get("number")
    if isinstance(number, int) and not isinstance(number, bool):
        return str(number)
    return as_str(port.get("name"))


def parse_backend(backend: object) -> tuple[str, str] | Resolution:
    """The (Service name, port) an IngressBackend (`{"service": ...}` or `{"resource": ...}`)
    names, or the Resolution that drops its rule. Depends on the backend alone."""
    backend = as_dict(backend)
    service_ref = as_dict(backend.get("service"))
    if not service_ref:
        if backend.get("resource") is not None:
            kind = as_str(as_dict(backend.get("resource")).get("kind")) or "resource"
            return Resolution(None, Problem(
                "UnsupportedBackend",
                f"backend.resource ({kind}) is not supported; the rule is ignored"))
        return Resolution(None, Problem(
            "InvalidBackend", "backend names neither a service nor a resource; "
            "the rule is ignored"))
    name, port = as_str(service_ref.get("name")), _port_ref(service_ref)
    if not name or not port:
        return Resolution(None, Problem(
            "InvalidBackend", "backend.service needs a name and a port number or name; "
            "the rule is ignored"))
    return name, port


def service_key(namespace: str, backend: object) -> tuple[str, str, str] | Resolution:
    """`(namespace, *parse_backend(backend))` (what `BackendResolver.lookup_key` takes), or
    the Resolution that drops the rule."""
    # A fast path for the usual shape, {"service": {"name": str, "port": {"number": int}}};
    # anything else goes through parse_backend, which decides.
    if type(backend) is dict:
        service_ref = backend.get("service")
        if type(service_ref) is dict:
            name, port = service_ref.get("name"), service_ref.get("port")
            if type(name) is str and name and type(port) is dict:
                number = port.get("number")
                if type(number) is int:
                    return namespace, name, str(number)
    parsed = parse_backend(backend)
    return parsed if type(parsed) is Resolution else (namespace, parsed[0], parsed[1])


# A resolution and what it was computed from: the Service and its EndpointSlices.
CachedResolution = tuple[object, tuple, Resolution]

# Above this share of changed objects, indexing them all again is as cheap as patching.
_PATCH_LIMIT = 0.25


class BackendResolver:
    """Resolves Ingress backends against one snapshot's Services and EndpointSlices.

    Indexes are built per snapshot and results memoised per (namespace, service, port), so
    thousands of Ingresses sharing Services resolve each one once. Given the resolver of an
    earlier snapshot (`previous`), it carries that one's work forward: the indexes are
    patched with the objects that differ (objects are never mutated, so a new object is a
    change and identity stands for the resourceVersion), and a backend whose Service and
    EndpointSlices are all the same objects as then keeps its Resolution without being looked
    up again; equal inputs, equal Resolution."""

    def __init__(self, services: Iterable[dict], endpoint_slices: Iterable[dict],
                 previous: BackendResolver | None = None) -> None:
        # What this snapshot resolved: handed to the next snapshot's resolver.
        self.cache: dict[tuple[str, str, str], CachedResolution] = {}
        self._service_list = tuple(services)
        self._slice_list = tuple(endpoint_slices)
        self._previous: dict[tuple[str, str, str], CachedResolution] = {}
        # (namespace, Service name) of every Service or EndpointSlice that differs from the
        # previous snapshot's; None: unknown, so every backend is looked up again.
        self._changed: set[tuple[str, str]] | None = None
        if previous is None:
            self._services = self._index_services(self._service_list)
            self._slices = self._index_slices(self._slice_list)
            return
        self._previous = previous.cache
        changed: set[tuple[str, str]] | None = set()
        if previous._service_list == self._service_list:  # identities first: cheap
            self._service_list, self._services = previous._service_list, previous._services
        else:
            services = _patched(previous._service_list, self._service_list,
                                previous._services, _service_index_key, changed)
            if services is None:
                services, changed = self._index_services(self._service_list), None
            self._services = services
        if previous._slice_list == self._slice_list:
            self._slice_list, self._slices = previous._slice_list, previous._slices
        else:
            slices = _patched(previous._slice_list, self._slice_list, previous._slices,
                              _slice_index_key, changed, several=True)
            if slices is None:
                slices, changed = self._index_slices(self._slice_list), None
            self._slices = slices
        self._changed = changed

    @staticmethod
    def _index_services(services: tuple[dict, ...]) -> dict[tuple[str, str], dict]:
        index: dict[tuple[str, str], dict] = {}
        for service in services:
            index[_service_index_key(service)] = service
        return index

    @staticmethod
    def _index_slices(endpoint_slices: tuple[dict, ...]
                      ) -> dict[tuple[str, str], tuple[dict, ...]]:
        slices: dict[tuple[str, str], list[dict]] = {}
        for endpoint_slice in endpoint_slices:
            key = _slice_index_key(endpoint_slice)
            if key is not None:
                found = slices.get(key)
                if found is None:
                    slices[key] = [endpoint_slice]
                else:
                    found.append(endpoint_slice)
        # tuples: what `lookup` compares with the previous snapshot's, built once
        return {key: tuple(found) for key, found in slices.items()}

    def resolve(self, namespace: str, backend: dict) -> Resolution:
        """Resolve an IngressBackend (`{"service": ...}` or `{"resource": ...}`) of an
        Ingress in `namespace`."""
        parsed = parse_backend(backend)
        if isinstance(parsed, Resolution):
            return parsed
        return self.lookup(namespace, *parsed)

    def lookup(self, namespace: str, name: str, port: str) -> Resolution:
        """Resolve port `port` (a number or a name) of Service `namespace/name`."""
        return self.lookup_key((namespace, name, port))

    def lookup_key(self, key: tuple[str, str, str]) -> Resolution:
        """`lookup(*key)`."""
        cached = self.cache.get(key)
        if cached is not None:
            return cached[2]
        cached = self._previous.get(key)
        service_key = (key[0], key[1])
        changed = self._changed
        if cached is None or changed is None or service_key in changed:
            service = self._services.get(service_key)
            slices = self._slices.get(service_key, ())
            if cached is None or cached[0] is not service or cached[1] != slices:
                cached = (service, slices, self._resolve_service(service, slices, *key))
        self.cache[key] = cached
        return cached[2]

    @staticmethod
    def _resolve_service(service: dict | None, slices: tuple[dict, ...], namespace: str,
                         name: str, port: str) -> Resolution:
        if service is None:
            return Resolution(Backend(namespace, name, port), Problem(
                "ServiceNotFound",
                f'Service "{namespace}/{name}" not found; requests for this backend get 503'))
        spec = service.get("spec")
        if type(spec) is not dict:
            spec = as_dict(spec)
        service_type = spec.get("type")
        if (service_type if type(service_type) is str else as_str(service_type)) == \
                "ExternalName":
            return Resolution(Backend(namespace, name, port), Problem(
                "UnsupportedBackend",
                f'Service "{namespace}/{name}" is of type ExternalName, which is not '
                "supported; requests for this backend get 503"))
        port_name = _service_port_name(spec, port)
        if port_name is None:
            what = f"port {port}" if port.isdigit() else f'a port named "{port}"'
            return Resolution(Backend(namespace, name, port), Problem(
                "PortNotFound",
                f'Service "{namespace}/{name}" has no TCP {what}; '
                "requests for this backend get 503"))
        endpoints = usable_endpoints(slices, port_name)
        return Resolution(Backend(namespace, name, port, endpoints))


def _service_index_key(service: dict) -> tuple[str, str]:
    """(namespace, name) of a Service."""
    md = service.get("metadata") if type(service) is dict else None
    if type(md) is not dict:
        md = {}
    namespace, name = md.get("namespace"), md.get("name")
    return namespace if type(namespace) is str else "", name if type(name) is str else ""


def _slice_index_key(endpoint_slice: dict) -> tuple[str, str] | None:
    """(namespace, Service name) of an EndpointSlice, or None if it names no Service."""
    md = endpoint_slice.get("metadata") if type(endpoint_slice) is dict else None
    labels = md.get("labels") if type(md) is dict else None
    service = labels.get(SERVICE_NAME_LABEL) if type(labels) is dict else None
    if not service or type(service) is not str:
        return None
    namespace = md.get("namespace")
    return namespace if type(namespace) is str else "", service


def _patched(old: tuple[dict, ...], new: tuple[dict, ...], index: dict,
             key_of: Callable[[dict], tuple[str, str] | None],
             changed: set[tuple[str, str]] | None, several: bool = False) -> dict | None:
    """The index of `new`, made by patching `index`, the index of `old`, with the objects
    that differ; the keys it patches are added to `changed`. Services are indexed one per key,
    EndpointSlices (`several`) as a tuple per key, in no particular order (resolving does not
    depend on it). None when patching could differ from indexing `new` (two Services with one
    key, one object listed twice) or costs as much: index `new` instead."""
    old_ids = set(map(id, old))
    added = [obj for obj in new if id(obj) not in old_ids]
    if len(added) > _PATCH_LIMIT * len(new) + 1:
        return None
    new_ids = set(map(id, new))
    removed = [obj for obj in old if id(obj) not in new_ids]
    if len(old_ids) != len(old) or len(new_ids) != len(new) or \
            (not several and len(index) != len(old)):
        return None  # an object listed twice, or two Services with one key
    patched = dict(index)
    for obj in removed:
        key = key_of(obj)
        if key is None:
            continue
        if several:
            rest = tuple(o for o in patched[key] if o is not obj)
            if rest:
                patched[key] = rest
            else:
                del patched[key]
        else:
            del patched[key]
        if changed is not None:
            changed.add(key)
    for obj in added:
        key = key_of(obj)
        if key is None:
            continue
        if several:
            patched[key] = patched.get(key, ()) + (obj,)
        elif key in patched:
            return None  # two Services with one key: indexing decides which one wins
        else:
            patched[key] = obj
        if changed is not None:
            changed.add(key)
    return patched


def _text(value: object) -> str:
    return value if type(value) is str else ""


def _service_port_name(spec: dict, port: str) -> str | None:
    """The `name` of the Service's TCP port that `port` (a number or a name) refers to, ""
    for an unnamed port, or None if there is none."""
    ports = spec.get("ports")
    if type(ports) is not list:
        ports = as_list(ports)
    by_number = port.isdigit()
    for entry in ports:
        if type(entry) is not dict:
            entry = as_dict(entry)
        protocol = entry.get("protocol")
        if protocol is not None and protocol != "TCP" and as_str(protocol) not in ("", "TCP"):
            continue
        entry_name = entry.get("name")
        if type(entry_name) is not str:
            entry_name = as_str(entry_name)
        if by_number:
            if entry.get("port") == int(port):
                return entry_name
        elif entry_name == port:
            return entry_name
    return None
