"""The reference controller's pure core: `translate(snapshot) -> TranslateResult`.

Same snapshot in, equal result out, whatever the order of the objects in it. `translate` keeps
nothing between calls. The controller calls `Translator.translate` instead, the same function
with a memory: it reuses what it derived from an object (an Ingress's parsed rules, a resolved
Service port, a loaded TLS Secret, a host's routes) as long as the object, or every object a
result depends on, is the same object as in the previous call, so a change of one Ingress or
one EndpointSlice redoes only the hosts it touches. Objects are never mutated (the informers
replace them on every change), so identity stands for the resourceVersion; results are equal
to `translate`'s either way (tests/test_translate.py checks it on random change sequences).

What it does, rule by rule (quotes from https://kubernetes.io/docs/concepts/services-networking/
ingress/ and the networking.k8s.io/v1 API reference):

- Which Ingresses: see `simulator.controller.classes`. With `watch_namespace` set, only the
  Ingresses of that namespace are considered (their Services and Secrets are always in it).
- Hosts: "The host subcomponent is case-insensitive" (RFC 3986, which the API's `host` field
  follows), so exact hosts are lowercased; wildcards `*.example.com` are kept, lowercased
  (matching them, "*.foo.com ... baz.bar.foo.com: No match, wildcard only covers a single DNS
  label", is the data plane's job); a rule without host ("the rule applies to all inbound
  HTTP traffic through the IP address specified") lands on host "". Several Ingresses naming
  one host are merged into one `HostRoutes`. A host whose rules contribute no path is left out.
- Paths: Exact ("Matches the URL path exactly and with case sensitivity") and Prefix
  ("Matches based on a URL path prefix split by /. Matching is case sensitive and done on a
  path element by element basis"). ImplementationSpecific: "matching is up to the IngressClass.
  Implementations can treat this as a separate pathType or treat it identically to Prefix or
  Exact path types"; this controller gives it Prefix semantics and keeps the type in the table
  (data planes treat it as Prefix). An ImplementationSpecific rule with no path is "/"; a
  missing pathType is ImplementationSpecific (the networking/v1beta1 default; v1 requires the
  field). A path not starting with "/" or an unknown pathType: Warning "InvalidPath", rule
  dropped. Each host's paths are in `routing.sort_paths` order: "precedence will be given
  first to the longest matching path. If two paths are still equally matched, precedence will
  be given to paths with an exact path type over prefix path type."
- Conflicts: two rules for the same host that match the same requests (same path, both Exact,
  or both with Prefix semantics, i.e. Prefix or ImplementationSpecific, paths compared without
  trailing slashes since "/foo/" and "/foo" Prefix match the same requests per the docs' table)
  cannot both be served. The OLDEST Ingress wins (metadata.creationTimestamp, then namespace,
  then name, the rule ingress-nginx and Gateway API use), within one Ingress the first rule;
  the loser's rule is dropped with a Warning "PathConflict" naming the winner. A rule whose
  backend is dropped (below) claims nothing.
- Backends: see `simulator.controller.backends` (missing Service or port: rule kept with no
  endpoints, so 503, plus a Warning; `backend.resource`: Warning, rule dropped).
- Default backend: "defaultBackend is the backend that should handle requests that don't match
  any rule"; an Ingress with only a defaultBackend is the catch-all. The table has one: the
  oldest served Ingress's `spec.defaultBackend` wins, the others get a Warning
  "DefaultBackendConflict". (ingress-nginx also uses an Ingress's defaultBackend for the
  unmatched paths of that Ingress's own hosts; we do not.)
- TLS: see `simulator.controller.tls`.

Every problem is a Warning Event on the Ingress at fault (docs/DESIGN.md, principle 7: skip
the bad part, say why, keep serving everything else) and a line in `RoutingTable.warnings`.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from operator import attrgetter

from simulator.controller.backends import (
    BackendResolver,
    Problem,
    Resolution,
    service_key,
)
from simulator.controller.classes import ClassSelector
from simulator.controller.events import WARNING, ControllerEvent, EventLog
from simulator.controller.objects import NO_TIME, as_dict, as_list, as_str, creation_time
from simulator.controller.tls import CertificateBuilder, TLSMaterial
from simulator.routing import Backend, HostRoutes, PathRule, PathType, RoutingTable, sort_paths

__all__ = ["ControllerEvent", "Snapshot", "TranslateResult", "Translator", "translate"]


@dataclass(frozen=True)
class Snapshot:
    """The objects the controller sees, as plain JSON dicts as the Kubernetes API returns
    them."""

    ingresses: tuple[dict, ...]
    services: tuple[dict, ...]
    endpoint_slices: tuple[dict, ...]
    secrets: tuple[dict, ...]
    ingress_classes: tuple[dict, ...]
    controller_name: str  # e.g. "ingress-sim.dev/reference"
    watch_namespace: str | None = None


@dataclass(frozen=True)
class TranslateResult:
    table: RoutingTable  # version left at 0: the controller sets it
    served: tuple[tuple[str, str], ...]  # (namespace, name) of every Ingress served, sorted
    events: tuple[ControllerEvent, ...]  # sorted by Ingress, type, reason, message


def translate(snapshot: Snapshot) -> TranslateResult:
    """Translate a snapshot of the cluster into the routing table of this controller."""
    return Translator().translate(snapshot)


# The cyclic garbage collector is paused while a translation runs. A translation allocates
# many container objects (~30 per Ingress: plans, tuples, the table's dataclasses), all of them
# either freed by reference counting when it returns or kept (the result, the Translator's
# memory); it makes no reference cycles of its own. Left running, the collector would make a
# young collection every 700 of those allocations, and the survivors those promote trigger
# full collections, each walking every tracked object of the process (in the controller, the
# informers' caches, about a million objects at 10,000 Ingresses): work that finds nothing to
# free here and, at 10,000 Ingresses, can cost more than the translation itself. Pausing it
# changes no result: the allocation counters keep running, so the collection the translation
# deferred happens at the first allocation after it. The collector is paused only if it is
# enabled (a caller that disabled it keeps it disabled); translations running at the same time
# in several threads share one pause, and the last to finish resumes the collector.
_gc_lock = threading.Lock()
_gc_pauses = 0  # translations running under this module's pause


def _pause_gc() -> bool:
    """Pause the collector for one translation; True if `_resume_gc` must follow."""
    global _gc_pauses
    with _gc_lock:
        if _gc_pauses:
            _gc_pauses += 1
            return True
        if not gc.isenabled():
            return False
        gc.disable()
        _gc_pauses = 1
        return True


def _resume_gc() -> None:
    global _gc_pauses
    with _gc_lock:
        _gc_pauses -= 1
        if not _gc_pauses:
            gc.enable()


_PATH_TYPES = {t.value: t for t in PathType}  # a dict lookup is ~10x faster than PathType(v)


def _parse_path(item: dict) -> tuple[str, PathType] | Problem:
    """(path, pathType) of an HTTPIngressPath, or the Problem that drops it."""
    raw_type = item.get("pathType")
    if type(raw_type) is not str:
        raw_type = as_str(raw_type)
    path_type = _PATH_TYPES.get(raw_type or PathType.IMPLEMENTATION_SPECIFIC.value)
    if path_type is None:
        return Problem("InvalidPath", f'unknown pathType "{raw_type}"; the rule is ignored')
    path = item.get("path")
    if type(path) is not str:
        path = as_str(path)
    if not path and path_type is PathType.IMPLEMENTATION_SPECIFIC:
        path = "/"
    if not path.startswith("/"):
        return Problem("InvalidPath",
                       f'path "{path}" must begin with "/"; the rule is ignored')
    return path, path_type


def _match_key(path: str, path_type: PathType) -> tuple[bool, str]:
    """Equal for two rules of one host that match exactly the same requests."""
    if path_type is PathType.EXACT:
        return True, path
    # Prefix semantics: "/foo/" and "/foo" match the same requests (the docs' table:
    # Prefix "/aaa/bbb/" matches "/aaa/bbb", "ignores trailing slash").
    return False, path.rstrip("/") or "/"


def _host_text(host: str) -> str:
    return f'host "{host}"' if host else "the rules without host"


# One path of an Ingress rule: (host, path, pathType, (namespace, Service, port) or the
# Resolution that drops it). Its match key (`_match_key`) is computed only for a host with
# several claims, where it decides conflicts.
_Item = tuple[str, str, PathType, "tuple[str, str, str] | Resolution"]


class _Plan:
    """What translation needs of one Ingress, derived from that Ingress alone (once per
    object)."""

    __slots__ = ("ingress", "ref", "source", "age", "items", "default_backend", "problems",
                 "tls", "selector", "served")

    def __init__(self, ingress: dict) -> None:
        # The fast paths (`type(x) is dict`, ...) skip the objects.as_* calls for the usual
        # shapes; anything else goes through them, so the result is the same.
        self.ingress = ingress
        md = ingress.get("metadata")
        if type(md) is not dict:
            md = as_dict(md)
        namespace, name = md.get("namespace"), md.get("name")
        if type(namespace) is not str:
            namespace = as_str(namespace)
        if type(name) is not str:
            name = as_str(name)
        self.ref = (namespace, name)
        self.source = f"{namespace}/{name}"
        # objects.age_key, with the timestamps parsed once per distinct text
        created = md.get("creationTimestamp")
        self.age = (_created(created if type(created) is str else as_str(created)),
                    namespace, name)
        spec = ingress.get("spec")
        if type(spec) is not dict:
            spec = as_dict(spec)
        self.default_backend: tuple[str, str] | Resolution | None = None
        if spec.get("defaultBackend") is not None:
            self.default_backend = service_key(namespace, spec.get("defaultBackend"))
        items: list[_Item] = []
        problems: list[ControllerEvent] = []
        rules = spec.get("rules")
        for rule in rules if type(rules) is list else as_list(rules):
            if type(rule) is not dict:
                rule = as_dict(rule)
            host = rule.get("host")
            host = host.lower() if type(host) is str else as_str(host).lower()
            http = rule.get("http")
            if type(http) is not dict:
                http = as_dict(http)
            paths = http.get("paths")
            for item in paths if type(paths) is list else as_list(paths):
                if type(item) is not dict:
                    item = as_dict(item)
                parsed = _parse_path(item)
                if type(parsed) is Problem:
                    problems.append(self.warning(parsed.reason, parsed.message))
                    continue
                items.append((host, parsed[0], parsed[1],
                              service_key(namespace, item.get("backend"))))
        self.items = items
        self.problems = problems if problems else ()
        tls = spec.get("tls")
        self.tls = bool(tls if type(tls) is list else as_list(tls))
        self.selector: ClassSelector | None = None  # `served` was decided by this selector
        self.served = False

    def warning(self, reason: str, message: str) -> ControllerEvent:
        return ControllerEvent(self.ref[0], self.ref[1], WARNING, reason, message)


@lru_cache(maxsize=4096)
def _created(raw: str) -> datetime:
    """objects.creation_time of a creationTimestamp, or after every real one if none."""
    return creation_time({"metadata": {"creationTimestamp": raw}}) or NO_TIME


_AGE = attrgetter("age")
_NO_HOST: tuple[list, HostRoutes | None, tuple[ControllerEvent, ...]] = ([], None, ())


class Translator:
    """`translate` with a memory of the previous call (see the module docstring): the same
    results, computed again only where the objects changed. One caller at a time."""

    def __init__(self) -> None:
        self._plans: dict[int, _Plan] = {}  # id(Ingress) -> its plan
        self._selector: tuple[tuple, str, ClassSelector] | None = None
        self._resolver: BackendResolver | None = None
        # host -> (what its routes were computed from, the routes, their Warnings)
        self._hosts: dict[str, tuple[list, HostRoutes | None, tuple[ControllerEvent, ...]]] = {}
        self._host_table: tuple[HostRoutes, ...] = ()
        self._materials: dict[tuple[str, str], tuple[dict, TLSMaterial | tuple[str, str]]] = {}
        self._served: tuple[frozenset, tuple[tuple[str, str], ...]] = (frozenset(), ())
        self._events: tuple[frozenset, tuple[ControllerEvent, ...], tuple[str, ...]] = (
            frozenset(), (), ())

    def translate(self, snapshot: Snapshot) -> TranslateResult:
        """Equal to `translate(snapshot)`."""
        paused = _pause_gc()  # see `_pause_gc`
        try:
            return self._translate(snapshot)
        finally:
            if paused:
                _resume_gc()

    def _translate(self, snapshot: Snapshot) -> TranslateResult:
        selector = self._class_selector(snapshot.ingress_classes, snapshot.controller_name)
        served = self._served_plans(snapshot.ingresses, selector, snapshot.watch_namespace)
        served.sort(key=_AGE)  # oldest first: the first claim wins
        resolver = BackendResolver(snapshot.services, snapshot.endpoint_slices,
                                   self._resolver)
        log = EventLog()
        hosts, host_events = self._route_hosts(served, resolver)
        default_backend = _default_backend(served, resolver, log)
        certificates = self._certificates(served, snapshot.secrets, log)
        self._resolver = resolver
        events, warnings = self._all_events(served, host_events, log)
        table = RoutingTable(hosts=hosts, default_backend=default_backend,
                             certificates=certificates, warnings=warnings)
        return TranslateResult(table, self._served_refs(served), events)

    # ---- Ingresses -----------------------------------------------------------------------

    def _class_selector(self, ingress_classes: Iterable[dict],
                        controller_name: str) -> ClassSelector:
        classes = tuple(ingress_classes)
        previous = self._selector
        if previous is not None and previous[1] == controller_name and previous[0] == classes:
            return previous[2]
        selector = ClassSelector.build(classes, controller_name)
        if previous is not None and previous[2] == selector:
            selector = previous[2]  # keeps the plans' `served` decisions valid
        self._selector = (classes, controller_name, selector)
        return selector

    def _served_plans(self, ingresses: Iterable[dict], selector: ClassSelector,
                      watch_namespace: str | None) -> list[_Plan]:
        plans, previous = {}, self._plans
        served = []
        for ingress in ingresses:
            if not isinstance(ingress, dict):
                continue
            key = id(ingress)
            plan = previous.get(key)
            if plan is None or plan.ingress is not ingress:
                plan = _Plan(ingress)
            plans[key] = plan
            if watch_namespace is not None and plan.ref[0] != watch_namespace:
                continue
            if plan.selector is not selector:
                plan.served, plan.selector = selector.serves(ingress), selector
            if plan.served:
                served.append(plan)
        self._plans = plans
        return served

    def _served_refs(self, served: list[_Plan]) -> tuple[tuple[str, str], ...]:
        ordered = [plan.ref for plan in served]
        refs = frozenset(ordered)
        if refs != self._served[0]:
            # Sorting the list, in age order, is much cheaper than sorting the set, in hash
            # order: Ingresses are mostly named in the order they were created.
            if len(refs) != len(ordered):
                ordered = list(refs)  # the same Ingress twice in the snapshot
            ordered.sort()
            self._served = (refs, tuple(ordered))
        return self._served[1]

    # ---- paths ---------------------------------------------------------------------------

    def _route_hosts(self, served: list[_Plan], resolver: BackendResolver
                     ) -> tuple[tuple[HostRoutes, ...], list[tuple[ControllerEvent, ...]]]:
        """Each host's routes and Warnings, from its claims (plan, item, resolution of the
        item's backend), oldest Ingress first; a host whose claims are those of the previous
        call keeps its routes."""
        claims: dict[str, list] = {}
        lookup = resolver.lookup_key
        for plan in served:
            for item in plan.items:
                backend = item[3]
                resolution = backend if type(backend) is Resolution else lookup(backend)
                host_claims = claims.get(item[0])
                if host_claims is None:
                    claims[item[0]] = [plan, item, resolution]
                else:
                    host_claims += (plan, item, resolution)
        previous, results = self._hosts, {}
        changed = len(previous) != len(claims)
        events = []
        for host, basis in claims.items():  # each list is the basis of the host's routes
            result = previous.get(host, _NO_HOST)
            if result[0] != basis:
                result = _route_host(host, basis)
                changed = True
            results[host] = result
            if result[2]:
                events.append(result[2])
        self._hosts = results
        if changed:
            table = []
            for host in sorted(results):
                routes = results[host][1]
                if routes is not None:
                    table.append(routes)
            self._host_table = tuple(table)
        return self._host_table, events

    # ---- TLS -----------------------------------------------------------------------------

    def _certificates(self, served: list[_Plan], secrets: Iterable[dict],
                      log: EventLog) -> tuple:
        with_tls = [plan for plan in served if plan.tls]
        if not with_tls:
            self._materials = {}
            return ()
        builder = CertificateBuilder(secrets, log, self._materials)
        for plan in with_tls:
            builder.add(plan.ingress)
        self._materials = builder.materials
        return builder.certificates()

    # ---- Events --------------------------------------------------------------------------

    def _all_events(self, served: list[_Plan], host_events: list[tuple[ControllerEvent, ...]],
                    log: EventLog) -> tuple[tuple[ControllerEvent, ...], tuple[str, ...]]:
        found = set(log.events())
        for plan in served:
            if plan.problems:
                found.update(plan.problems)
        for events in host_events:
            found.update(events)
        if found != self._events[0]:
            ordered = tuple(sorted(found))
            self._events = (frozenset(found), ordered, EventLog.notes(ordered))
        return self._events[1], self._events[2]


def _route_host(host: str, basis: list) -> tuple[list, HostRoutes | None,
                                                 tuple[ControllerEvent, ...]]:
    """(basis, one host's routes, their Warnings) from its claims `basis`, `[plan, item,
    resolution, ...]`, oldest Ingress first: the first claim of a match key wins."""
    if len(basis) == 3:  # one claim, the common case: nothing to sort out
        plan, (_, path, path_type, _), resolution = basis
        events = (plan.warning(resolution.problem.reason, resolution.problem.message),) \
            if resolution.problem is not None else ()
        if resolution.backend is None:
            return basis, None, events
        return basis, HostRoutes(host, (PathRule(path, path_type, resolution.backend,
                                                 plan.source),)), events
    rules: dict[tuple[bool, str], PathRule] = {}
    events = []
    for i in range(0, len(basis), 3):
        plan, (_, path, path_type, _), resolution = basis[i:i + 3]
        key = _match_key(path, path_type)
        winner = rules.get(key)
        if winner is not None:
            by = "earlier in this Ingress" if winner.source == plan.source else \
                f"by Ingress {winner.source}"
            events.append(plan.warning("PathConflict", (
                f'{path_type.value} path "{path}" on {_host_text(host)} is already served '
                f'{by} ({winner.path_type.value} "{winner.path}" -> {winner.backend.name}); '
                "this rule is ignored")))
            continue
        if resolution.problem is not None:
            events.append(plan.warning(resolution.problem.reason, resolution.problem.message))
        if resolution.backend is not None:
            rules[key] = PathRule(path, path_type, resolution.backend, plan.source)
    routes = HostRoutes(host, sort_paths(list(rules.values()))) if rules else None
    return basis, routes, tuple(events)


def _default_backend(served: list[_Plan], resolver: BackendResolver,
                     log: EventLog) -> Backend | None:
    """The oldest served Ingress's defaultBackend; a Warning on the others.

    "defaultBackend is the backend that should handle requests that don't match any rule"."""
    default: Backend | None = None
    owner = ""
    for plan in served:
        if plan.default_backend is None:
            continue
        if default is not None:
            winner = "this Ingress" if owner == plan.source else f"Ingress {owner}"
            log.warn(plan.ref, "DefaultBackendConflict", (
                f"the default backend is already {default.name} from {winner}; "
                "this defaultBackend is ignored"))
            continue
        backend = plan.default_backend
        resolution = backend if isinstance(backend, Resolution) else \
            resolver.lookup_key(backend)
        if resolution.problem is not None:
            log.warn(plan.ref, resolution.problem.reason, resolution.problem.message)
        if resolution.backend is not None:
            default, owner = resolution.backend, plan.source
    return default
