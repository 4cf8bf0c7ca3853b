"""The reference controller's pure core: `translate(snapshot) -> TranslateResult`.

Same snapshot in, equal result out, whatever the order of the objects in it; nothing is cached
between calls (indexes are built per call), so the shell may call it on every change.

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

from collections import defaultdict
from dataclasses import dataclass

from simulator.controller.backends import BackendResolver, Problem
from simulator.controller.classes import ClassSelector
from simulator.controller.events import ControllerEvent, EventLog
from simulator.controller.objects import age_key, as_dict, as_list, as_str, namespace_of, ref_of
from simulator.controller.tls import CertificateBuilder
from simulator.routing import Backend, HostRoutes, PathRule, PathType, RoutingTable, sort_paths

__all__ = ["ControllerEvent", "Snapshot", "TranslateResult", "translate"]


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
    selector = ClassSelector.build(snapshot.ingress_classes, snapshot.controller_name)
    ingresses = sorted(
        (ing for ing in snapshot.ingresses
         if isinstance(ing, dict)
         and (snapshot.watch_namespace is None or namespace_of(ing) == snapshot.watch_namespace)
         and selector.serves(ing)),
        key=age_key)
    log = EventLog()
    resolver = BackendResolver(snapshot.services, snapshot.endpoint_slices)
    routes = _Routes(resolver, log)
    certificates = CertificateBuilder(snapshot.secrets, log)
    for ingress in ingresses:  # oldest first: the first claim wins
        routes.add(ingress)
        certificates.add(ingress)
    table = RoutingTable(
        hosts=routes.hosts(),
        default_backend=routes.default_backend,
        certificates=certificates.certificates(),
        warnings=log.warnings(),
    )
    served = tuple(sorted({ref_of(ing) for ing in ingresses}))
    return TranslateResult(table, served, log.events())


_PATH_TYPES = {t.value: t for t in PathType}  # a dict lookup is ~10x faster than PathType(v)


def _parse_path(item: dict) -> tuple[str, PathType] | Problem:
    """(path, pathType) of an HTTPIngressPath, or the Problem that drops it."""
    raw_type = as_str(item.get("pathType")) or PathType.IMPLEMENTATION_SPECIFIC.value
    path_type = _PATH_TYPES.get(raw_type)
    if path_type is None:
        return Problem("InvalidPath", f'unknown pathType "{raw_type}"; the rule is ignored')
    path = as_str(item.get("path"))
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


class _Routes:
    """Path rules per host and the default backend, claimed oldest Ingress first."""

    def __init__(self, resolver: BackendResolver, log: EventLog) -> None:
        self._resolver = resolver
        self._log = log
        # host -> match key -> the winning rule
        self._rules: dict[str, dict[tuple[bool, str], PathRule]] = defaultdict(dict)
        self.default_backend: Backend | None = None
        self._default_owner = ""

    def add(self, ingress: dict) -> None:
        """Add one served Ingress's default backend and rules (call oldest first)."""
        ref = ref_of(ingress)
        source = f"{ref[0]}/{ref[1]}"
        spec = as_dict(ingress.get("spec"))
        if spec.get("defaultBackend") is not None:
            self._add_default(ref, source, as_dict(spec.get("defaultBackend")))
        for rule in as_list(spec.get("rules")):
            rule = as_dict(rule)
            host = as_str(rule.get("host")).lower()
            for item in as_list(as_dict(rule.get("http")).get("paths")):
                self._add_path(ref, source, host, as_dict(item))

    def _add_default(self, ref: tuple[str, str], source: str, spec: dict) -> None:
        if self.default_backend is not None:
            winner = "this Ingress" if self._default_owner == source else \
                f"Ingress {self._default_owner}"
            self._log.warn(ref, "DefaultBackendConflict", (
                f"the default backend is already {self.default_backend.name} from {winner}; "
                "this defaultBackend is ignored"))
            return
        resolution = self._resolver.resolve(ref[0], spec)
        if resolution.problem is not None:
            self._log.warn(ref, resolution.problem.reason, resolution.problem.message)
        if resolution.backend is not None:
            self.default_backend = resolution.backend
            self._default_owner = source

    def _add_path(self, ref: tuple[str, str], source: str, host: str, item: dict) -> None:
        parsed = _parse_path(item)
        if isinstance(parsed, Problem):
            self._log.warn(ref, parsed.reason, parsed.message)
            return
        path, path_type = parsed
        key = _match_key(path, path_type)
        winner = self._rules[host].get(key)
        if winner is not None:
            by = "earlier in this Ingress" if winner.source == source else \
                f"by Ingress {winner.source}"
            self._log.warn(ref, "PathConflict", (
                f'{path_type.value} path "{path}" on {_host_text(host)} is already served '
                f'{by} ({winner.path_type.value} "{winner.path}" -> {winner.backend.name}); '
                "this rule is ignored"))
            return
        resolution = self._resolver.resolve(ref[0], as_dict(item.get("backend")))
        if resolution.problem is not None:
            self._log.warn(ref, resolution.problem.reason, resolution.problem.message)
        if resolution.backend is not None:
            self._rules[host][key] = PathRule(path, path_type, resolution.backend, source)

    def hosts(self) -> tuple[HostRoutes, ...]:
        """Hosts sorted by name, each with its paths in precedence order."""
        return tuple(HostRoutes(host, sort_paths(list(rules.values())))
                     for host, rules in sorted(self._rules.items()) if rules)
