"""The legacy Endpoints controller (pkg/controller/endpoint/endpoints_controller.go):
Service + Pods -> one Endpoints object named after the Service.

`syncService`: pods selected by the Service with an IP, not terminal and not terminating
(unless publishNotReadyAddresses) contribute an address per Service port they can serve;
ready pods (or all, with publishNotReadyAddresses) go to `addresses`, the others to
`notReadyAddresses`, repacked into subsets by port set. Over 1000 addresses the object is
truncated and annotated `endpoints.kubernetes.io/over-capacity: truncated`. A deleted Service
takes its Endpoints with it; a Service without a selector is left alone (its Endpoints are
the user's).
"""

from __future__ import annotations

from typing import Any

from .client import ApiClient, ApiError
from .controller import Controller
from .endpointutil import (
    ENDPOINTS_CONTROLLER_NAME,
    ENDPOINTS_MANAGED_BY,
    LABEL_HEADLESS,
    endpoint_address,
    endpoints_port,
    find_port,
    is_headless,
    real_port,
    repack_subsets,
    service_selector,
    service_selects,
    should_pod_be_in_endpoints,
)
from .informer import Informer, SharedInformers
from .kinds import ENDPOINTS, PODS, SERVICES
from .objects import being_deleted, is_pod_ready, key_of, labels_of, meta, split_key

Obj = dict[str, Any]

MAX_CAPACITY = 1000
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"


def desired_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The subsets of the Service's Endpoints (syncService's loop and RepackSubsets)."""
    spec = service.get("spec") or {}
    tolerate_unready = bool(spec.get("publishNotReadyAddresses"))
    entries: list[tuple[Obj, Obj | None, bool]] = []
    for pod in sorted(pods, key=lambda p: meta(p).get("name", "")):
        if not should_pod_be_in_endpoints(pod, include_terminating=tolerate_unready):
            continue
        address = endpoint_address(pod, service)
        ready = tolerate_unready or is_pod_ready(pod)
        ports = spec.get("ports") or []
        if not ports:
            if is_headless(service):
                entries.append((address, None, ready))  # headless Services may lack ports
            continue
        for sp in ports:
            number = find_port(pod, sp)
            if number is None:
                continue
            entries.append((address, endpoints_port(sp, real_port(pod, number)), ready))
    return repack_subsets(entries)


def truncate(subsets: list[Obj]) -> tuple[list[Obj], bool]:
    """truncateEndpoints: keep at most 1000 addresses, ready ones first."""
    total = sum(len(s.get("addresses") or []) + len(s.get("notReadyAddresses") or [])
                for s in subsets)
    if total <= MAX_CAPACITY:
        return subsets, False
    budget = MAX_CAPACITY
    out = []
    for field in ("addresses", "notReadyAddresses"):
        for subset in subsets:
            take = (subset.get(field) or [])[:budget]
            budget -= len(take)
            subset[field] = take
    for subset in subsets:
        for field in ("addresses", "notReadyAddresses"):
            if not subset.get(field):
                subset.pop(field, None)
        if subset.get("addresses") or subset.get("notReadyAddresses"):
            out.append(subset)
    return out, True


class EndpointsController(Controller):
    name = "endpoint-controller"
    workers = 4

    def __init__(self, client: ApiClient, informers: SharedInformers) -> None:
        super().__init__()
        self.client = client
        self.services: Informer = informers.get(SERVICES)
        self.pods: Informer = informers.get(PODS)
        self.endpoints: Informer = informers.get(ENDPOINTS)
        self.services.add_handler(lambda s: self.enqueue(key_of(s)),
                                  lambda old, new: self.enqueue(key_of(new)),
                                  lambda s: self.enqueue(key_of(s)))
        self.pods.add_handler(self._pod_changed, self._pod_changed, self._pod_changed)
        self.endpoints.add_handler(on_delete=self._endpoints_deleted)

    def _pod_changed(self, pod: Obj, new: Obj | None = None) -> None:
        pods = [pod] if new is None else [pod, new]
        if new is not None and meta(pod).get("resourceVersion") == \
                meta(new).get("resourceVersion"):
            return
        for service in self.services.by_index("namespace", meta(pods[-1]).get("namespace", "")):
            if any(service_selects(service, p) for p in pods):
                self.enqueue(key_of(service))

    def _endpoints_deleted(self, endpoints: Obj) -> None:
        """checkLeftoverEndpoints-style: a managed Endpoints deleted by someone comes back."""
        if key_of(endpoints) in self.services.cache:
            self.enqueue(key_of(endpoints))

    async def sync(self, key: Any) -> None:
        namespace, name = split_key(key)
        service = self.services.get(key)
        if service is None:
            try:
                await self.client.delete(ENDPOINTS, name, namespace)
            except ApiError as exc:
                if not exc.not_found:
                    raise
            return
        if service_selector(service) is None or being_deleted(service) or \
                (service.get("spec") or {}).get("type") == "ExternalName":
            return
        pods = [p for p in self.pods.by_index("namespace", namespace)
                if service_selects(service, p)]
        subsets, truncated = truncate(desired_subsets(service, pods))
        current = self.endpoints.get(key)
        labels = dict(labels_of(service))
        if is_headless(service):
            labels[LABEL_HEADLESS] = ""
        else:
            labels.pop(LABEL_HEADLESS, None)
        labels[ENDPOINTS_MANAGED_BY] = ENDPOINTS_CONTROLLER_NAME
        annotations = dict((meta(current).get("annotations") or {}) if current else {})
        if truncated:
            annotations[OVER_CAPACITY] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY, None)
        if current is not None and (current.get("subsets") or []) == subsets and \
                labels_of(current) == labels and \
                (meta(current).get("annotations") or {}) == annotations:
            return
        if current is None:
            body = self._body(None, name, namespace, labels, annotations, subsets)
            try:
                await self.client.create(ENDPOINTS, body, namespace)
                return
            except ApiError as exc:
                if exc.namespace_terminating:
                    return
                if not exc.already_exists:
                    raise
                current = await self.client.get(ENDPOINTS, name, namespace)
        await self.client.update(ENDPOINTS, self._body(current, name, namespace, labels,
                                                       annotations, subsets))

    @staticmethod
    def _body(current: Obj | None, name: str, namespace: str, labels: dict[str, str],
              annotations: dict[str, str], subsets: list[Obj]) -> Obj:
        """The current object (its metadata kept, as upstream's DeepCopy) with new content."""
        md = dict(meta(current)) if current is not None else {"name": name,
                                                               "namespace": namespace}
        md["labels"] = labels
        if annotations:
            md["annotations"] = annotations
        else:
            md.pop("annotations", None)
        md.pop("managedFields", None)
        return {"apiVersion": "v1", "kind": "Endpoints", "metadata": md, "subsets": subsets}
