"""The reference Ingress controller: informers -> translate -> a data plane, plus status and
Events, against any API server a kubeconfig points at.

The loop is level-triggered: every informer change marks the controller dirty, and one
reconcile thread builds a Snapshot of all caches, runs the pure `translate`, hands a changed
RoutingTable to the data plane, then writes Ingress status and Warning Events. While the API
server is unreachable the informers back off and the last good table keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import kubernetes
from kubernetes.client import ApiException

from ..routing import RoutingTable
from .informer import Informer
from .translate import ControllerEvent, Snapshot, translate

log = logging.getLogger(__name__)

CONTROLLER_NAME = "simulator.dev/reference-ingress-controller"
COMPONENT = "reference-ingress-controller"


@dataclass
class ControllerConfig:
    controller_name: str = CONTROLLER_NAME
    # The address published in status.loadBalancer.ingress (the proxy's entry IP).
    status_address: str = "127.0.0.1"
    status_ports: tuple[int, ...] = ()
    watch_namespace: str | None = None
    resync_seconds: float = 60.0
    # Coalesce bursts of changes: wait this long after the first change before reconciling.
    debounce_seconds: float = 0.005
    publish_status: bool = True
    record_events: bool = True


@dataclass
class ControllerStats:
    reconciles: int = 0
    tables_published: int = 0
    last_reconcile_seconds: float = 0.0
    status_updates: int = 0
    events_recorded: int = 0
    errors: list[str] = field(default_factory=list)


class ReferenceController:
    """Runs informers and the reconcile loop on daemon threads."""

    def __init__(self, api_client: kubernetes.client.ApiClient,
                 on_table: Callable[[RoutingTable], None],
                 config: ControllerConfig | None = None) -> None:
        self.api_client = api_client
        self.on_table = on_table
        self.config = config or ControllerConfig()
        self.stats = ControllerStats()
        self.table = RoutingTable()
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._recorded: dict[tuple[str, str, str, str], str] = {}  # event key -> Event name
        core = kubernetes.client.CoreV1Api(api_client)
        net = kubernetes.client.NetworkingV1Api(api_client)
        disc = kubernetes.client.DiscoveryV1Api(api_client)
        self.core, self.net = core, net
        lists = {
            "ingressclasses": net.list_ingress_class,
            "ingresses": net.list_ingress_for_all_namespaces,
            "services": core.list_service_for_all_namespaces,
            "endpointslices": disc.list_endpoint_slice_for_all_namespaces,
            "secrets": core.list_secret_for_all_namespaces,
        }
        self.informers = {
            name: Informer(name, fn, self._changed, resync_seconds=self.config.resync_seconds)
            for name, fn in lists.items()
        }

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self, wait_synced: float | None = 30.0) -> None:
        for informer in self.informers.values():
            informer.start()
        self._thread = threading.Thread(target=self._loop, name="reference-controller",
                                        daemon=True)
        self._thread.start()
        if wait_synced:
            deadline = time.monotonic() + wait_synced
            for informer in self.informers.values():
                if not informer.synced.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"informer {informer.name} did not sync in "
                                       f"{wait_synced:.0f}s: is the API server reachable?")

    def stop(self) -> None:
        self._stop.set()
        self._dirty.set()
        for informer in self.informers.values():
            informer.stop()
        if self._thread is not None:
            self._thread.join(5)

    def _changed(self, _source: str) -> None:
        self._dirty.set()

    # ---- reconcile -----------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._dirty.wait()
            if self._stop.is_set():
                return
            time.sleep(self.config.debounce_seconds)
            self._dirty.clear()
            if not all(i.synced.is_set() for i in self.informers.values()):
                continue
            try:
                self.reconcile()
            except Exception as exc:  # noqa: BLE001 - keep serving the last good table
                log.exception("reconcile failed; the previous routing table keeps serving")
                self.stats.errors.append(f"{type(exc).__name__}: {exc}")

    def snapshot(self) -> Snapshot:
        items = {name: tuple(inf.items()) for name, inf in self.informers.items()}
        return Snapshot(ingresses=items["ingresses"], services=items["services"],
                        endpoint_slices=items["endpointslices"], secrets=items["secrets"],
                        ingress_classes=items["ingressclasses"],
                        controller_name=self.config.controller_name,
                        watch_namespace=self.config.watch_namespace)

    def reconcile(self) -> None:
        started = time.perf_counter()
        result = translate(self.snapshot())
        table = result.table
        if replace(table, version=0) != replace(self.table, version=0):
            self.table = replace(table, version=self.table.version + 1)
            self.on_table(self.table)
            self.stats.tables_published += 1
        self.stats.reconciles += 1
        self.stats.last_reconcile_seconds = time.perf_counter() - started
        if self.config.publish_status:
            self._publish_status(set(result.served))
        if self.config.record_events:
            self._record_events(result.events)

    # ---- status --------------------------------------------------------------------------

    def _wanted_status(self) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {"ip": self.config.status_address}
        if self.config.status_ports:
            entry["ports"] = [{"port": p, "protocol": "TCP"} for p in self.config.status_ports]
        return [entry]

    def _publish_status(self, served: set[tuple[str, str]]) -> None:
        """status.loadBalancer.ingress = our address for served Ingresses; cleared on those
        that carry our address but are no longer ours."""
        wanted = self._wanted_status()
        for ing in self.informers["ingresses"].items():
            md = ing["metadata"]
            key = (md.get("namespace", ""), md["name"])
            current = ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if key in served:
                target = wanted
            elif current == wanted:
                target = []
            else:
                continue
            if current == target:
                continue
            try:
                self.net.patch_namespaced_ingress_status(
                    md["name"], key[0], {"status": {"loadBalancer": {"ingress": target}}})
                self.stats.status_updates += 1
            except ApiException as exc:
                if exc.status != 404:  # deleted meanwhile: nothing to publish
                    log.warning("status update of %s/%s failed: %s", key[0], md["name"],
                                exc.reason)

    # ---- events --------------------------------------------------------------------------

    def _record_events(self, events: tuple[ControllerEvent, ...]) -> None:
        """One Event per distinct (Ingress, reason, message) while it persists."""
        current = {(e.namespace, e.ingress, e.reason, e.message): e for e in events}
        for key in list(self._recorded):
            if key not in current:
                del self._recorded[key]  # resolved: a reappearance is recorded again
        ingresses = {(i["metadata"].get("namespace", ""), i["metadata"]["name"]): i
                     for i in self.informers["ingresses"].items()}
        for key, event in current.items():
            if key in self._recorded:
                continue
            ing = ingresses.get((event.namespace, event.ingress))
            if ing is None:
                continue
            now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            body = {
                "metadata": {"generateName": f"{event.ingress}.", "namespace": event.namespace},
                "involvedObject": {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
                                   "namespace": event.namespace, "name": event.ingress,
                                   "uid": ing["metadata"].get("uid"),
                                   "resourceVersion": ing["metadata"].get("resourceVersion")},
                "reason": event.reason, "message": event.message, "type": event.type,
                "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
                "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            }
            try:
                created = self.core.create_namespaced_event(event.namespace, body)
                self._recorded[key] = created.metadata.name
                self.stats.events_recorded += 1
            except ApiException as exc:
                log.warning("recording event on %s/%s failed: %s", event.namespace,
                            event.ingress, exc.reason)
