"""RoutingTable -> haproxy.cfg (HAProxy 2.6) and its crt-list: pure functions, no I/O.

`render_haproxy_cfg(table, settings)` returns the whole configuration file and
`render_crt_list(table, settings)` the certificate list the HTTPS `bind` line loads. Neither
writes anything: the supervisor (`haproxy_process.HAProxyDataPlane`) writes the certificate
files, passes their paths in `HAProxySettings.certificates` (certificate id -> PEM file with the
chain and the key) and runs `haproxy -c` on the result before using it.

How each Ingress semantic (`simulator.proxy.matching`, `simulator.proxy.server`) maps to HAProxy
=============================================================================================

One `frontend ingress` holds both listeners (`bind HOST:PORT` and `bind HOST:PORT ssl crt-list
FILE alpn http/1.1`); its `http-request` rules run in order, then the `use_backend` rules.

- Host. `txn.host` = `req.hdr(host),host_only,lower,regsub([.]$,)`: lower case, port dropped
  (IPv6 literals keep their brackets), one trailing dot dropped. Exact host: an ACL
  `var(txn.host) -m str foo.bar.com`. Wildcard `*.bar.com`: `var(txn.host) -m reg
  ^[^.]+[.]bar[.]com$`, exactly one non-empty label. Host-less rules: no host condition.
- Precedence and no fallthrough. `use_backend` rules are tried in order, so they are emitted
  group by group: exact hosts, then wildcards, then the host-less rules; within a group in
  `routing.sort_paths` order (the table's own order; groups the table lists twice are merged
  and re-sorted, as `RouteIndex` does). Every exact and wildcard group ends with
  `use_backend <default backend or the 404 backend> if <group's host ACL>`, so a path miss in
  a matched group never reaches a less specific group. A wildcard never sees a host that has
  an exact group: that host's catch-all rule came first. Finally `default_backend` is the
  table's default backend or the 404 backend.
- Path. Matched on `txn.path`, the percent-decoded, dot-segment-normalised path: the URI is
  saved (`txn.uri` = `pathq`), normalised with `http-request normalize-uri
  percent-decode-unreserved`, `path-strip-dot` and `path-strip-dotdot full` (so `%2e%2e` is
  `..`, never above the root), then `txn.path` = `path,regsub(%2[Ff],%252F,g),url_dec` (an
  encoded `/` decodes to the text `%2F`, data inside one segment, never a separator; an
  invalid escape leaves the path undecoded), and the original URI is put back with
  `http-request set-uri %[var(txn.uri)]`: the path and query reach the backend unchanged.
  (`normalize-uri` is experimental in 2.6: `expose-experimental-directives` in `global`.)
  Exact `/foo`: `-m str /foo` (case-sensitive, trailing slash significant). Prefix and
  ImplementationSpecific `/foo` or `/foo/`: `-m str /foo` OR `-m beg /foo/` (element-wise:
  `/foobar` does not match); `/` (and an empty ImplementationSpecific path): no condition.
  Slashes are not merged (no `path-merge-slashes`: `/a//b` is not `/a/b`, as in the
  reference).
- Default backend: the groups' catch-all rules and `default_backend`; without one, the
  `no-route` backend answers `http-request return status 404`.
- Backends. One HAProxy backend per Service port (`NAMESPACE_SERVICE:PORT`), `balance
  roundrobin`, one `server epN ADDRESS:PORT` per endpoint plus spare slots
  (`server-template ep N-M 0.0.0.0:1 disabled`), so the supervisor can add, move and remove
  endpoints through the runtime API (`set server B/epN addr A port P`, `state
  ready|drain|maint`) without a reload. No endpoints (every slot in maintenance) -> HAProxy's
  own 503. Terminating endpoints are served like the reference when nothing else is left (the
  controller's usable set); next to non-terminating ones they are drained (`disabled` in the
  file, `state drain` at runtime). Endpoints that leave go to maintenance: their in-flight
  requests finish, new ones go elsewhere.
- Upstream failures: `retries 2`, `option redispatch 1` and `retry-on conn-failure
  empty-response` (L7 retries disabled for non-idempotent methods, RFC 9110 9.2.2) retry on
  another endpoint; a connection failure after the retries gives 502 (HAProxy says 503: an
  `http-error` marker and `http-after-response set-status 502` when a server had been chosen
  tell it apart from "no endpoints"), a server timeout 504, a broken response 502.
- TLS. The crt-list's first line is the default certificate (self-signed, naming no host of
  the table, SNI filter `default.ingress-sim.invalid`): served without SNI or for an unknown
  SNI, never another host's certificate. Each table certificate gets a line with the SNI
  filters it owns: a name goes to the first certificate listing it (`TLSIndex`); HAProxy
  prefers an exact name to a wildcard and its wildcards cover one label. Certificates the
  supervisor could not load are left out (their hosts get the default certificate).
- 421. `txn.sni` = `ssl_fc_sni,lower,regsub([.]$,)`. For each certificate: when the SNI
  selected it (an exact name it owns, or a wildcard it owns when no certificate has the exact
  name), the Host names a host with a certificate, and this certificate does not cover the
  Host (exactly or by its one-label wildcard) -> `http-request return status 421`.
- Request checks: HTTP/1.1 without Host -> 400 (HAProxy itself answers 400 to several Host
  headers). An absolute-form target is routed by its authority (HAProxy checks that Host
  agrees; an HTTP/1.0 request without Host gets `txn.host` and a Host header from the
  authority) and reaches the backend in origin-form, like the reference proxy: the saved
  target is `pathq`, the path and query as sent.
- Forwarding headers: X-Forwarded-For (the client's value, then the client address, in one
  header), X-Forwarded-Proto (`https` when `ssl_fc`), X-Forwarded-Host (the Host as sent,
  port included), X-Forwarded-Port (`dst_port`), X-Real-IP; X-Request-ID kept when the
  client's is a plain token, else a random 32-hex-digit id (`uuid`); `Proxy-*` request
  headers removed; hop-by-hop headers are HAProxy's own business.

What HAProxy cannot express (documented conformance differences)
-----------------------------------------------------------------

- A request-target with a fragment (`#`) is refused with 400 (the reference ignores the
  fragment); so is a non-ASCII byte in the request line (the reference also answers 400).
- An absolute-form target whose authority differs from Host gets 400 (RFC 9112 3.2.2 says
  to route by the authority and ignore Host, as the reference does).
- `OPTIONS *` (asterisk-form) is routed like `/` and gets what that host's rules say (the
  reference answers 400: it routes paths only).
- `%2F` and the text `%2F` (sent as `%252F`) are the same path for matching (both data, so
  neither matches a rule: kube-apiserver rejects `%2F` in Exact and Prefix paths).
- Several X-Forwarded-For headers from the client: only the last one is kept in the chain.
- Certificate host names outside `[a-z0-9.*_-]` are not listed in the crt-list (SNI filters
  cannot hold them); such names are not valid DNS names anyway.
- Round robin is per HAProxy backend, i.e. per Service port: two paths to one Service share
  a rotation (the reference rotates per route).

Not a difference in meaning, but in cost: `use_backend` rules are evaluated one after the
other, so a request's routing time grows with the number of host groups before its own
(fine at 10,000 Ingresses; maps would make it logarithmic but need files beside the
configuration). A reload re-parses the whole file (about 1-3 s at 10,000 Ingresses), which
is why endpoint-only changes go through the runtime API instead.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .. import routing
from ..routing import Backend, Certificate, Endpoint, PathRule, PathType, RoutingTable

FRONTEND = "ingress"
NO_ROUTE = "no-route"  # the 404 backend (service backends always contain ":")
SLOT_PREFIX = "ep"
DEFAULT_SNI = "default.ingress-sim.invalid"
# RFC 9110 9.2.2: idempotent methods, the only ones retried after a request was sent.
IDEMPOTENT = ("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE")
ERROR_MARKER = "x-ingress-sim-error"


@dataclass(frozen=True)
class HAProxySettings:
    """Everything the configuration needs besides the table (paths are absolute)."""

    http_bind: tuple[str, int] | None = ("127.0.0.1", 8080)
    https_bind: tuple[str, int] | None = ("127.0.0.1", 8443)
    admin_socket: str = "/run/ingress-sim/haproxy.sock"  # the runtime API (level admin)
    crt_list: str = "/run/ingress-sim/crt-list.txt"
    default_certificate: str = "/run/ingress-sim/default.pem"
    # certificate id (`certificate_id`) -> PEM file (chain + key); others are left out
    certificates: Mapping[str, str] = field(default_factory=dict)
    # backend name (`Backend.name`) -> slots to render at least (never fewer than needed)
    slots: Mapping[str, int] = field(default_factory=dict)
    min_slots: int = 4
    connect_timeout: float = 5.0
    client_timeout: float = 60.0
    server_timeout: float = 60.0
    keep_alive_timeout: float = 60.0
    hard_stop_after: float = 30.0  # how long an old worker may finish requests after a reload
    nbthread: int | None = 2


@dataclass(frozen=True)
class BackendPlan:
    """A Service port as an HAProxy backend: its name and how many server slots it has."""

    id: str
    backend: Backend
    capacity: int

    def server(self, slot: int) -> str:
        """The server name of slot `slot` (0-based)."""
        return f"{SLOT_PREFIX}{slot + 1}"


# -- names, quoting --------------------------------------------------------------------------

_NAME_PART = re.compile(r"[a-z0-9][a-z0-9.-]*")
_SAFE_WORD = re.compile(r"[A-Za-z0-9_./:*+=@,%~^$\[\]-]+")
_SNI_NAME = re.compile(r"(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*")


def word(text: str) -> str:
    """`text` as one configuration word: bare when safe, else in double quotes with `\\`,
    `"`, `$` escaped and every other byte outside printable ASCII as `\\xHH`."""
    if text and _SAFE_WORD.fullmatch(text):
        return text
    out = []
    for byte in text.encode("utf-8", "surrogateescape"):
        ch = chr(byte)
        if ch in '\\"$':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    return '"' + "".join(out) + '"'


def backend_id(backend: Backend) -> str:
    """The HAProxy backend name of a Service port: `NAMESPACE_SERVICE:PORT` (DNS labels hold
    no `_` or `:`, so this is unambiguous), or `svc-HASH` for names outside that alphabet."""
    parts = (backend.namespace, backend.service, backend.port)
    if all(_NAME_PART.fullmatch(p) for p in parts):
        return f"{backend.namespace}_{backend.service}:{backend.port}"
    digest = hashlib.sha256(backend.name.encode("utf-8", "surrogateescape")).hexdigest()
    return f"svc-{digest[:16]}"


def certificate_id(cert: Certificate) -> str:
    """A stable id for a certificate's PEM content (the file name the supervisor uses)."""
    return hashlib.sha256(cert.cert_pem + b"\0" + cert.key_pem).hexdigest()[:20]


def _seconds(value: float) -> str:
    ms = max(1, round(value * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _bind(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def server_address(endpoint: Endpoint) -> str:
    return endpoint.hostport


def _capacity(needed: int, at_least: int) -> int:
    size = max(1, at_least)
    while size < needed:
        size *= 2
    return size


def plan_backends(table: RoutingTable, settings: HAProxySettings) -> dict[str, BackendPlan]:
    """Every backend the table uses (rules first, then the default backend), keyed by
    `Backend.name`, in first-use order. The first occurrence of a name defines it."""
    plans: dict[str, BackendPlan] = {}
    used: set[str] = {NO_ROUTE}
    backends = [r.backend for routes in table.hosts for r in routes.paths]
    if table.default_backend is not None:
        backends.append(table.default_backend)
    for backend in backends:
        if backend.name in plans:
            continue
        ident = backend_id(backend)
        base, n = ident, 2
        while ident in used:
            ident, n = f"{base}-{n}", n + 1
        used.add(ident)
        at_least = max(settings.min_slots, settings.slots.get(backend.name, 0))
        plans[backend.name] = BackendPlan(ident, backend,
                                          _capacity(len(backend.endpoints), at_least))
    return plans


def drained(backend: Backend) -> list[bool]:
    """Per endpoint: whether it only finishes what it has (terminating, while the backend has
    endpoints that are not terminating; a backend left with terminating endpoints only is
    served by them, like the reference proxy)."""
    flags = [ep.terminating for ep in backend.endpoints]
    return flags if not all(flags) else [False] * len(flags)


# -- host groups and paths -------------------------------------------------------------------

def host_groups(table: RoutingTable) -> list[tuple[str, tuple[PathRule, ...]]]:
    """(host, rules in precedence order) per group (`routing.host_groups`): exact hosts, then
    wildcards, then "" (each part in table order)."""
    groups = routing.host_groups(table)

    def rank(host: str) -> int:
        return 2 if host == "" else 1 if host.startswith("*.") else 0

    ordered = sorted(groups, key=rank)  # stable: table order within each rank
    return [(h, groups[h]) for h in ordered]


def wildcard_regex(host: str) -> str:
    """`*.foo.com` -> `^[^.]+[.]foo[.]com$` (exactly one non-empty label)."""
    rest = host[2:]
    escaped = "".join("[.]" if c == "." else re.escape(c) for c in rest)
    return f"^[^.]+[.]{escaped}$"


def path_conditions(rule: PathRule) -> list[tuple[str, str]] | None:
    """(match method, pattern) alternatives for a rule on `txn.path`; None = every path."""
    path = rule.path or "/"
    if rule.path_type is PathType.EXACT:
        return [("str", path)]
    base = path[:-1] if path.endswith("/") else path
    if base == "":
        return None
    return [("str", base), ("beg", base + "/")]


# -- TLS -------------------------------------------------------------------------------------

def _tls_name(name: str) -> str:
    return name.lower().rstrip(".")


@dataclass(frozen=True)
class TLSPlan:
    """The table's loadable certificates and who owns which SNI name (`TLSIndex` order)."""

    certificates: tuple[tuple[int, Certificate, str], ...]  # (table index, cert, cert id)
    owned: Mapping[int, tuple[str, ...]]  # table index -> names it serves by SNI

    @property
    def all_names(self) -> list[str]:
        return sorted({n for _, c, _ in self.certificates for n in map(_tls_name, c.hosts)})


def plan_tls(table: RoutingTable, settings: HAProxySettings) -> TLSPlan:
    certs: list[tuple[int, Certificate, str]] = []
    owner: dict[str, int] = {}
    for index, cert in enumerate(table.certificates):
        cid = certificate_id(cert)
        if cid not in settings.certificates:
            continue  # not loadable: its hosts get the default certificate
        certs.append((index, cert, cid))
        for name in cert.hosts:
            owner.setdefault(_tls_name(name), index)
    owned: dict[int, list[str]] = {}
    for name, index in owner.items():
        owned.setdefault(index, []).append(name)
    return TLSPlan(tuple(certs), {i: tuple(names) for i, names in owned.items()})


def _split_names(names: Iterable[str]) -> tuple[list[str], list[str]]:
    exact = [n for n in names if n and not n.startswith("*.")]
    wild = [n for n in names if n.startswith("*.") and len(n) > 2]
    return exact, wild


def render_crt_list(table: RoutingTable, settings: HAProxySettings) -> str:
    """The crt-list for the HTTPS bind line: the default certificate first (HAProxy serves
    the first one when no SNI filter matches), then each loadable certificate of the table
    with the SNI names it owns (one line per PEM file)."""
    plan = plan_tls(table, settings)
    lines = ["# generated by ingress-sim: the first certificate is the default one",
             f"{settings.default_certificate} {DEFAULT_SNI}"]
    by_file: dict[str, list[str]] = {}
    sources: dict[str, list[str]] = {}
    for index, cert, cid in plan.certificates:
        names = [n for n in plan.owned.get(index, ()) if _SNI_NAME.fullmatch(n)]
        if not names:
            continue
        path = settings.certificates[cid]
        by_file.setdefault(path, [])
        by_file[path] += [n for n in names if n not in by_file[path]]
        sources.setdefault(path, []).append(cert.source or cid)
    for path, names in by_file.items():
        lines.append(f"# {', '.join(sources[path])}")
        lines.append(f"{path} {' '.join(names)}")
    return "\n".join(lines) + "\n"


# -- the configuration -----------------------------------------------------------------------

class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def section(self, header: str) -> None:
        if self.lines:
            self.lines.append("")
        self.lines.append(header)

    def __call__(self, *words: str) -> None:
        self.lines.append("    " + " ".join(w for w in words if w))

    def comment(self, text: str) -> None:
        self.lines.append("    # " + text.replace("\n", " "))


def _acl(out: _Writer, name: str, fetch: str, method: str, patterns: Iterable[str]) -> None:
    out("acl", name, fetch, "-m", method, *(word(p) for p in patterns))


def render_haproxy_cfg(table: RoutingTable, settings: HAProxySettings) -> str:
    """The haproxy.cfg serving `table` (see the module docstring for the mapping)."""
    out = _Writer()
    plans = plan_backends(table, settings)
    groups = host_groups(table)
    fallback = plans[table.default_backend.name].id if table.default_backend else NO_ROUTE

    out.section(f"# generated by ingress-sim from RoutingTable version {table.version}")
    out.lines.append("global")
    out("expose-experimental-directives")  # for http-request normalize-uri (2.6)
    out("stats", "socket", word(settings.admin_socket), "mode", "600", "level", "admin")
    if settings.nbthread:
        out("nbthread", str(settings.nbthread))
    out("hard-stop-after", _seconds(settings.hard_stop_after))
    out("tune.ssl.default-dh-param", "2048")

    out.section("defaults")
    out("mode", "http")
    out("timeout", "connect", _seconds(settings.connect_timeout))
    out("timeout", "client", _seconds(settings.client_timeout))
    out("timeout", "server", _seconds(settings.server_timeout))
    out("timeout", "http-request", _seconds(settings.client_timeout))
    out("timeout", "http-keep-alive", _seconds(settings.keep_alive_timeout))
    out("retries", "2")
    out("option", "redispatch", "1")
    out("retry-on", "conn-failure", "empty-response")

    out.section(f"frontend {FRONTEND}")
    if settings.http_bind is not None:
        out("bind", _bind(settings.http_bind))
    if settings.https_bind is not None:
        out("bind", _bind(settings.https_bind), "ssl", "crt-list", word(settings.crt_list),
            "alpn", "http/1.1")
    out.comment("RFC 9112 3.2: an HTTP/1.1 request without Host is a 400")
    out("http-request", "deny", "deny_status", "400", "if", "HTTP_1.1",
        "!{", "req.hdr_cnt(host)", "gt", "0", "}")
    out.comment("routing keys: host (lower case, no port, no trailing dot), SNI, and the")
    out.comment("decoded, dot-segment-normalised path; the request-target is put back as sent")
    out("http-request", "set-var(txn.host)", "req.hdr(host),host_only,lower,regsub([.]$,)")
    out.comment("HTTP/1.0 absolute-form without Host: the target's authority names the host")
    out("http-request", "set-var(txn.authority)",
        "url,regsub(^[A-Za-z][A-Za-z0-9+.-]*://,),regsub([/?].*$,)",
        "if", "!{", "req.hdr_cnt(host)", "gt", "0", "}", "{", "url", "-m", "reg", "-i",
        "^https?://", "}")
    out("http-request", "set-header", "Host", "%[var(txn.authority)]", "if", "{",
        "var(txn.authority)", "-m", "found", "}")
    out("http-request", "set-var(txn.host)", "var(txn.authority),host_only,lower,regsub([.]$,)",
        "if", "{", "var(txn.authority)", "-m", "found", "}")
    if settings.https_bind is not None:
        out("http-request", "set-var(txn.sni)", "ssl_fc_sni,lower,regsub([.]$,)")
    out("http-request", "set-var(txn.uri)", "pathq")
    out("http-request", "normalize-uri", "percent-decode-unreserved")
    out("http-request", "normalize-uri", "path-strip-dot")
    out("http-request", "normalize-uri", "path-strip-dotdot", "full")
    out("http-request", "set-var(txn.path)", "path")
    out("http-request", "set-var(txn.path)", "path,regsub(%2[Ff],%252F,g),url_dec")
    out("http-request", "set-uri", "%[var(txn.uri)]")
    if settings.https_bind is not None:
        _render_misdirected(out, table, settings)
    out.comment("forwarding headers")
    out("acl", "idempotent", "method", *IDEMPOTENT)
    out("acl", "valid_request_id", "req.hdr(x-request-id)", "-m", "reg",
        "^[A-Za-z0-9._:-]{1,200}$")
    out("http-request", "del-header", "^proxy-", "-m", "reg")
    out("http-request", "set-header", "X-Forwarded-For",
        word("%[req.fhdr(x-forwarded-for)], %[src]"), "if", "{", "req.fhdr(x-forwarded-for)",
        "-m", "found", "}")
    out("http-request", "set-header", "X-Forwarded-For", "%[src]", "unless", "{",
        "req.fhdr(x-forwarded-for)", "-m", "found", "}")
    out("http-request", "set-header", "X-Forwarded-Proto", "https", "if", "{", "ssl_fc", "}")
    out("http-request", "set-header", "X-Forwarded-Proto", "http", "unless", "{", "ssl_fc", "}")
    out("http-request", "set-header", "X-Forwarded-Host", "%[req.fhdr(host)]",
        "if", "{", "req.fhdr(host)", "-m", "found", "}")
    out("http-request", "set-header", "X-Forwarded-Port", "%[dst_port]")
    out("http-request", "set-header", "X-Real-IP", "%[src]")
    out("http-request", "set-header", "X-Request-ID", "%[uuid,regsub(-,,g)]",
        "unless", "valid_request_id")
    out("http-request", "disable-l7-retry", "unless", "idempotent")
    out.comment("an upstream that cannot be reached after the retries is a 502")
    out("http-error", "status", "503", "content-type", "text/plain", "lf-string",
        word("no endpoint of %b could take the request\n"), "hdr", ERROR_MARKER, "1")
    out("http-after-response", "set-status", "502", "if", "{", f"res.hdr({ERROR_MARKER})",
        "-m", "found", "}", "{", "srv_name", "-m", "found", "}")
    out("http-after-response", "del-header", ERROR_MARKER)

    path_acls: dict[tuple[str, PathType], str] = {}
    for index, (host, rules) in enumerate(groups):
        if host == "":
            out.comment("host-less rules")
            host_acl = ""
        else:
            host_acl = f"host_{index}"
            out.comment(f"host {host}")
            if host.startswith("*."):
                _acl(out, host_acl, "var(txn.host)", "reg", [wildcard_regex(host)])
            else:
                _acl(out, host_acl, "var(txn.host)", "str", [host])
        covered = False  # a rule without a path condition ends the group by itself
        for rule in rules:
            conditions = path_conditions(rule)
            path_acl = ""
            if conditions is not None:
                key = (rule.path or "/", rule.path_type)
                if rule.path_type is PathType.IMPLEMENTATION_SPECIFIC:
                    key = (rule.path or "/", PathType.PREFIX)
                path_acl = path_acls.get(key, "")
                if not path_acl:
                    path_acl = path_acls[key] = f"path_{len(path_acls)}"
                    for method, pattern in conditions:
                        _acl(out, path_acl, "var(txn.path)", method, [pattern])
            target = plans[rule.backend.name].id
            cond = [c for c in (host_acl, path_acl) if c]
            out("use_backend", target, *(["if", *cond] if cond else []))
            if not path_acl:
                covered = True
                break
        if host_acl and not covered:
            out("use_backend", fallback, "if", host_acl)
    out("default_backend", fallback)

    out.section(f"backend {NO_ROUTE}")
    out("http-request", "return", "status", "404", "content-type", "text/plain", "string",
        word("no route\n"))

    for plan in plans.values():
        backend = plan.backend
        out.section(f"backend {plan.id}")
        out.comment(backend.name)
        out("balance", "roundrobin")
        drain = drained(backend)
        for slot, endpoint in enumerate(backend.endpoints):
            out("server", plan.server(slot), server_address(endpoint),
                "disabled" if drain[slot] else "")
        first = len(backend.endpoints) + 1
        if first <= plan.capacity:
            out("server-template", SLOT_PREFIX, f"{first}-{plan.capacity}", "0.0.0.0:1",
                "disabled")
    return "\n".join(out.lines) + "\n"


def _render_misdirected(out: _Writer, table: RoutingTable, settings: HAProxySettings) -> None:
    """421 when the SNI chose one certificate and the Host names a TLS host it does not
    cover (`simulator.proxy.server`: by_sni is not None and not by_sni.covers(host) and
    lookup(host) is not None)."""
    plan = plan_tls(table, settings)
    if not plan.certificates:
        return
    out.comment("RFC 9110 15.5.20: 421 when the SNI chose a certificate that does not cover")
    out.comment("the TLS host the Host header names")
    all_exact, all_wild = _split_names(plan.all_names)
    owned_exact = sorted(n for names in plan.owned.values() for n in names
                         if not n.startswith("*."))
    if all_exact:
        _acl(out, "tls_host", "var(txn.host)", "str", all_exact)
    if all_wild:
        _acl(out, "tls_host", "var(txn.host)", "reg", [wildcard_regex(w) for w in all_wild])
    if owned_exact:
        _acl(out, "sni_exact", "var(txn.sni)", "str", owned_exact)
    for index, cert, _cid in plan.certificates:
        exact, wild = _split_names(plan.owned.get(index, ()))
        if not exact and not wild:
            continue  # never chosen by SNI
        tag = f"tls_{index}"
        out.comment(f"certificate {cert.source or index}: {' '.join(cert.hosts)}")
        cover_exact, cover_wild = _split_names(sorted(set(map(_tls_name, cert.hosts))))
        if cover_exact:
            _acl(out, f"{tag}_covers", "var(txn.host)", "str", cover_exact)
        if cover_wild:
            _acl(out, f"{tag}_covers", "var(txn.host)", "reg",
                 [wildcard_regex(w) for w in cover_wild])
        misdirected = ["tls_host", f"!{tag}_covers"]
        if exact:
            _acl(out, f"{tag}_sni", "var(txn.sni)", "str", exact)
            out("http-request", "return", "status", "421", "content-type", "text/plain",
                "string", word("misdirected request\n"), "if", f"{tag}_sni", *misdirected)
        if wild:
            _acl(out, f"{tag}_sni_wild", "var(txn.sni)", "reg", [wildcard_regex(w) for w in wild])
            guard = ["!sni_exact"] if owned_exact else []
            out("http-request", "return", "status", "421", "content-type", "text/plain",
                "string", word("misdirected request\n"), "if", *guard, f"{tag}_sni_wild",
                *misdirected)


__all__ = [
    "BackendPlan", "HAProxySettings", "TLSPlan", "backend_id", "certificate_id", "drained",
    "host_groups", "plan_backends", "plan_tls", "render_crt_list", "render_haproxy_cfg", "word",
]
