"""The EndpointSlice controller (pkg/controller/endpointslice, and the reconciler in
staging/src/k8s.io/endpointslice/reconciler.go): Service + Pods -> EndpointSlices.

For a Service with a selector, the pods it selects that have an IP and are not terminal
become endpoints (`endpointutil.pod_to_endpoint`; terminating pods stay, with
terminating=true, until they are gone). Endpoints are grouped by their resolved ports (pods
whose ports resolve differently need different slices, as upstream), at most 100 per slice
(maxEndpointsPerSlice). `reconcile` keeps existing slices where it can: it updates them in
place, fills slices with room, creates new slices `<service>-<5 characters>` (generateName
`<service>-`, the suffix from the cluster's seeded generator), deletes slices whose ports are
no longer wanted, and keeps one empty placeholder slice when the Service has no endpoints.
Slices carry the labels `kubernetes.io/service-name` and
`endpointslice.kubernetes.io/managed-by` plus the Service's own, and a controller
ownerReference to the Service, so the garbage collector removes them with it.

Like upstream's endpointSliceTracker, the controller remembers the slices it wrote and waits
(requeues) until its cache has caught up with them, so a sync never creates a slice twice.
"""

from __future__ import annotations

import copy
import random
import time
from typing import Any

from .client import ApiClient, ApiError
from .controller import Controller, Requeue
from .endpointutil import (
    CONTROLLER_NAME,
    LABEL_HEADLESS,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    endpoint_key,
    endpoint_ports,
    is_headless,
    pod_to_endpoint,
    port_key,
    service_selector,
    service_selects,
    should_pod_be_in_endpoints,
)
from .informer import Informer, SharedInformers
from .kinds import ENDPOINTSLICES, PODS, SERVICES
from .objects import being_deleted, key_of, labels_of, meta, new_controller_ref, uid_of
from .replicaset import generated_name

Obj = dict[str, Any]

MAX_ENDPOINTS_PER_SLICE = 100
# How long to wait for the cache to show a slice we wrote before trusting the cache anyway.
TRACKER_PATIENCE_SECONDS = 10.0
DELETED = -1


def slice_service_key(endpoint_slice: Obj) -> str | None:
    """`namespace/service` for a slice this controller manages."""
    labels = labels_of(endpoint_slice)
    if labels.get(LABEL_MANAGED_BY) != CONTROLLER_NAME or not labels.get(LABEL_SERVICE_NAME):
        return None
    return f"{meta(endpoint_slice).get('namespace')}/{labels[LABEL_SERVICE_NAME]}"


def slice_labels(service: Obj) -> dict[str, str]:
    """setEndpointSliceLabels: the Service's labels, the headless marker, the two reserved."""
    labels = {k: v for k, v in labels_of(service).items()
              if k not in (LABEL_SERVICE_NAME, LABEL_MANAGED_BY)}
    if is_headless(service):
        labels[LABEL_HEADLESS] = ""
    else:
        labels.pop(LABEL_HEADLESS, None)
    labels[LABEL_SERVICE_NAME] = meta(service)["name"]
    labels[LABEL_MANAGED_BY] = CONTROLLER_NAME
    return labels


class _Tracker:
    """endpointSliceTracker: the generation (here resourceVersion) of each slice we wrote."""

    def __init__(self) -> None:
        self._expected: dict[str, dict[str, tuple[int, float]]] = {}

    def expect(self, service_key: str, name: str, rv: int) -> None:
        self._expected.setdefault(service_key, {})[name] = (rv, time.monotonic())

    def forget(self, service_key: str, name: str | None = None) -> None:
        if name is None:
            self._expected.pop(service_key, None)
        else:
            self._expected.get(service_key, {}).pop(name, None)

    def stale(self, service_key: str, cached: dict[str, Obj]) -> bool:
        """True while the cache lags behind a write of ours (forgiven after a while)."""
        expected = self._expected.get(service_key)
        if not expected:
            return False
        for name, (rv, stamp) in list(expected.items()):
            current = cached.get(name)
            if rv == DELETED:
                caught_up = current is None
            else:
                caught_up = current is not None and \
                    int(meta(current).get("resourceVersion") or 0) >= rv
            if caught_up or time.monotonic() - stamp > TRACKER_PATIENCE_SECONDS:
                del expected[name]
        return bool(expected)


class EndpointSliceController(Controller):
    name = "endpointslice-controller"
    workers = 4

    def __init__(self, client: ApiClient, informers: SharedInformers,
                 rng: random.Random) -> None:
        super().__init__()
        self.client = client
        self.rng = rng
        self.tracker = _Tracker()
        self.services: Informer = informers.get(SERVICES)
        self.pods: Informer = informers.get(PODS)
        self.slices: Informer = informers.get(ENDPOINTSLICES)
        self.slices.add_index("service", lambda s: [k] if (k := slice_service_key(s)) else [])
        self.services.add_handler(lambda s: self.enqueue(key_of(s)),
                                  lambda old, new: self.enqueue(key_of(new)),
                                  self._delete_service)
        self.pods.add_handler(self._pod_changed, lambda old, new: self._pod_changed(old, new),
                              self._pod_changed)
        self.slices.add_handler(self._slice_changed, lambda old, new: self._slice_changed(new),
                                self._slice_deleted)

    # ---- handlers --------------------------------------------------------------------------

    def _delete_service(self, service: Obj) -> None:
        self.tracker.forget(key_of(service))
        self.enqueue(key_of(service))

    def _pod_changed(self, pod: Obj, new: Obj | None = None) -> None:
        """addPod/updatePod/deletePod: queue the Services that select the pod (before or
        after a label change)."""
        pods = [pod] if new is None else [pod, new]
        if new is not None and meta(pod).get("resourceVersion") == \
                meta(new).get("resourceVersion"):
            return
        ns = meta(pods[-1]).get("namespace", "")
        for service in self.services.by_index("namespace", ns):
            if any(service_selects(service, p) for p in pods):
                self.enqueue(key_of(service))

    def _slice_changed(self, endpoint_slice: Obj) -> None:
        key = slice_service_key(endpoint_slice)
        if key is not None:
            self.enqueue(key)

    def _slice_deleted(self, endpoint_slice: Obj) -> None:
        key = slice_service_key(endpoint_slice)
        if key is not None:
            self.tracker.forget(key, meta(endpoint_slice).get("name"))
            self.enqueue(key)

    # ---- syncService -----------------------------------------------------------------------

    async def sync(self, key: Any) -> None:
        service = self.services.get(key)
        if service is None:
            self.tracker.forget(key)
            return  # the garbage collector deletes the slices it owned
        selector = service_selector(service)
        if selector is None or being_deleted(service) or \
                (service.get("spec") or {}).get("type") == "ExternalName":
            return
        existing = {meta(s)["name"]: s for s in self.slices.by_index("service", key)}
        if self.tracker.stale(key, existing):
            raise Requeue(0.05)
        pods = [p for p in self.pods.by_index("namespace", meta(service)["namespace"])
                if service_selects(service, p)]
        await self._reconcile(key, service, pods, list(existing.values()))

    async def _reconcile(self, key: str, service: Obj, pods: list[Obj],
                         existing: list[Obj]) -> None:
        desired: dict[tuple, tuple[list[Obj], dict[tuple, Obj]]] = {}
        for pod in sorted(pods, key=lambda p: meta(p).get("name", "")):
            if not should_pod_be_in_endpoints(pod, include_terminating=True):
                continue
            ports = endpoint_ports(service, pod)
            endpoint = pod_to_endpoint(pod, service)
            entry = desired.setdefault(port_key(ports), (ports, {}))
            entry[1][endpoint_key(endpoint)] = endpoint
        labels = slice_labels(service)
        to_create: list[Obj] = []
        to_update: list[Obj] = []
        to_delete: list[Obj] = []
        owned: dict[tuple, list[Obj]] = {}
        for s in existing:
            refs = meta(s).get("ownerReferences") or []
            if s.get("addressType") != "IPv4" or not any(r.get("uid") == uid_of(service)
                                                        for r in refs):
                to_delete.append(s)  # a leftover of a previous Service of this name
                continue
            owned.setdefault(port_key(s.get("ports") or []), []).append(s)
        for pk, slices in owned.items():
            if pk not in desired:
                to_delete.extend(slices)
                continue
            _, wanted = desired[pk]
            placed: set[tuple] = set()
            with_room: list[Obj] = []
            for s in slices:
                kept, changed = [], False
                for endpoint in s.get("endpoints") or []:
                    ek = endpoint_key(endpoint)
                    if ek in wanted and ek not in placed:
                        kept.append(wanted[ek])
                        placed.add(ek)
                        changed = changed or wanted[ek] != endpoint
                    else:
                        changed = True
                if not kept:
                    to_delete.append(s)
                    continue
                if labels_of(s) != labels:
                    changed = True
                body = copy.deepcopy(s)
                body["endpoints"] = kept
                body["metadata"]["labels"] = dict(labels)
                if changed:
                    to_update.append(body)
                if len(kept) < MAX_ENDPOINTS_PER_SLICE:
                    with_room.append(body)
            remaining = [ep for ek, ep in wanted.items() if ek not in placed]
            # Fill slices being updated anyway first, then untouched ones, then new slices.
            with_room.sort(key=lambda b: b not in to_update)
            for body in with_room:
                while remaining and len(body["endpoints"]) < MAX_ENDPOINTS_PER_SLICE:
                    body["endpoints"].append(remaining.pop(0))
                    if body not in to_update:
                        to_update.append(body)
            desired[pk] = (desired[pk][0], {endpoint_key(e): e for e in remaining})
        for pk, (ports, wanted) in desired.items():
            if pk in owned and not wanted:
                continue
            endpoints = list(wanted.values())
            for i in range(0, len(endpoints), MAX_ENDPOINTS_PER_SLICE):
                to_create.append(self._new_slice(service, labels, ports,
                                                 endpoints[i:i + MAX_ENDPOINTS_PER_SLICE]))
        if len(existing) == len(to_delete) and not to_create:
            # "When no endpoint slices would usually exist, we need to add a placeholder."
            placeholder = [s for s in to_delete if not s.get("endpoints") and
                           not s.get("ports") and any(r.get("uid") == uid_of(service)
                                                      for r in meta(s).get("ownerReferences")
                                                      or [])]
            if placeholder:
                to_delete.remove(placeholder[0])
            else:
                to_create.append(self._new_slice(service, labels, [], []))
        await self._write(key, to_create, to_update, to_delete)

    def _new_slice(self, service: Obj, labels: dict[str, str], ports: list[Obj],
                   endpoints: list[Obj]) -> Obj:
        md = meta(service)
        prefix = f"{md['name']}-"
        return {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": generated_name(prefix, self.rng), "generateName": prefix,
                         "namespace": md["namespace"], "labels": dict(labels),
                         "ownerReferences": [new_controller_ref(service, SERVICES)]},
            "addressType": "IPv4",
            # The Python client rejects `endpoints: null`; an empty list reads the same.
            "ports": ports or None,
            "endpoints": endpoints,
        }

    async def _write(self, key: str, to_create: list[Obj], to_update: list[Obj],
                     to_delete: list[Obj]) -> None:
        """finalize: creates first, then updates, then deletes (so endpoints moving between
        slices are never missing)."""
        for body in to_create:
            for attempt in range(5):
                try:
                    created = await self.client.create(ENDPOINTSLICES, body)
                except ApiError as exc:
                    if exc.already_exists and attempt < 4:
                        body["metadata"]["name"] = generated_name(
                            body["metadata"]["generateName"], self.rng)
                        continue
                    if exc.namespace_terminating:
                        return
                    raise
                self.tracker.expect(key, created["metadata"]["name"],
                                    int(created["metadata"]["resourceVersion"]))
                break
        for body in to_update:
            updated = await self.client.update(ENDPOINTSLICES, body)
            self.tracker.expect(key, updated["metadata"]["name"],
                                int(updated["metadata"]["resourceVersion"]))
        for s in to_delete:
            try:
                await self.client.delete(ENDPOINTSLICES, meta(s)["name"], meta(s)["namespace"])
            except ApiError as exc:
                if not exc.not_found:
                    raise
            self.tracker.expect(key, meta(s)["name"], DELETED)
