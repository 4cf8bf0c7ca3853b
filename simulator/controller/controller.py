"""The reference Ingress controller: informers -> translate -> a data plane, plus status and
Events, against any API server a kubeconfig points at.

The loop is level-triggered: every informer change marks the controller dirty, and one
reconcile thread builds a Snapshot of all caches, runs the pure translation (a `Translator`,
which redoes only what the changed objects touch), hands a changed RoutingTable to the data
plane, then writes Ingress status and Warning Events. A burst of changes is coalesced into one
reconcile. While the API server is unreachable the informers back off and the last good table
keeps serving.

Warning Events are recorded only once a problem has persisted for `warning_delay_seconds`: the
caches of different resources are not updated at the same instant (a Secret created a few ms
after the Ingress naming it), and a problem that lasts only until the other cache catches up
is no problem at all.

After the first complete reconcile the controller freezes the garbage collector's view of
everything allocated so far (`gc.freeze()`, `freeze_gc_after_sync`): the caches (and, in
`python -m simulator up`, the API server's store) are long-lived, and a full collection walking
all of them would hold the GIL for ~100 ms at 1,000 Ingresses, right in the path of a change.
"""

from __future__ import annotations

import gc
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
from .classes import ClassSelector
from .informer import Informer
from .translate import ControllerEvent, Snapshot, TranslateResult, Translator

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
    # A Warning is recorded once its problem has lasted this long (transient disagreements
    # between the informers' caches are not worth an Event).
    warning_delay_seconds: float = 1.0
    # gc.freeze() once the first snapshot is reconciled (see the module docstring).
    freeze_gc_after_sync: bool = True


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
        # event key -> when (monotonic) the problem was first seen, until it is recorded
        self._pending: dict[tuple[str, str, str, str], float] = {}
        self._clock: Callable[[], float] = time.monotonic
        self._translator = Translator()
        self._result: TranslateResult | None = None
        self._status_checked: dict[tuple[str, str], tuple[dict, bool]] = {}
        self._frozen = False
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
            if not self._dirty.wait(self._next_warning_due()):
                self._record_due_warnings()  # nothing changed, but a Warning has matured
                continue
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
            if self.config.freeze_gc_after_sync and not self._frozen:
                self._frozen = True
                gc.freeze()  # what exists now lives long: keep it out of full collections

    def _next_warning_due(self) -> float | None:
        """Seconds until the oldest pending Warning is due (None: nothing pending)."""
        if not self._pending or not self.config.record_events:
            return None
        due = min(self._pending.values()) + self.config.warning_delay_seconds
        return max(0.0, due - self._clock()) + 0.001

    def _record_due_warnings(self) -> None:
        if self._result is None:
            return
        try:
            self._record_events(self._result.events)
        except Exception as exc:  # noqa: BLE001 - an Event is not worth the loop
            log.exception("recording events failed")
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
        result = self._translator.translate(self.snapshot())
        self._result = result
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
        that carry our address but are no longer ours, unless another controller's
        IngressClass claims them (its controller writes their status, maybe with the same
        address: clearing it would make the two fight)."""
        wanted = self._wanted_status()
        selector = ClassSelector.build(self.informers["ingressclasses"].items(),
                                       self.config.controller_name)
        checked = self._status_checked
        self._status_checked = done = {}
        for ing in self.informers["ingresses"].items():
            md = ing["metadata"]
            key = (md.get("namespace", ""), md["name"])
            ours = key in served
            if checked.get(key) == (ing, ours):  # this very object was right last time
                done[key] = (ing, ours)
                continue
            current = ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if key in served:
                target = wanted
            elif current == wanted and not selector.claimed_elsewhere(ing):
                target = []
            else:
                continue
            if current == target:
                done[key] = (ing, ours)
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
        """One Event per distinct (Ingress, reason, message) while it persists, recorded once
        it has persisted for `warning_delay_seconds`."""
        current = {(e.namespace, e.ingress, e.reason, e.message): e for e in events}
        for key in list(self._recorded):
            if key not in current:
                del self._recorded[key]  # resolved: a reappearance is recorded again
        for key in list(self._pending):
            if key not in current:
                del self._pending[key]  # gone before it was worth an Event
        now = self._clock()
        due = []
        for key, event in current.items():
            if key in self._recorded:
                continue
            first_seen = self._pending.setdefault(key, now)
            if now - first_seen >= self.config.warning_delay_seconds:
                due.append((key, event))
        if not due:
            return
        cache = self.informers["ingresses"]
        for key, event in due:
            with cache.lock:
                ing = cache.cache.get((event.namespace, event.ingress))
            if ing is None:
                continue
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            body = {
                "metadata": {"generateName": f"{event.ingress}.", "namespace": event.namespace},
                "involvedObject": {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
                                   "namespace": event.namespace, "name": event.ingress,
                                   "uid": ing["metadata"].get("uid"),
                                   "resourceVersion": ing["metadata"].get("resourceVersion")},
                "reason": event.reason, "message": event.message, "type": event.type,
                "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
                "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            }
            try:
                created = self.core.create_namespaced_event(event.namespace, body)
                self._recorded[key] = created.metadata.name
                del self._pending[key]
                self.stats.events_recorded += 1
            except ApiException as exc:
                log.warning("recording event on %s/%s failed: %s", event.namespace,
                            event.ingress, exc.reason)
