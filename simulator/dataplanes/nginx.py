"""RoutingTable -> nginx.conf: a pure renderer (no I/O, no clock), golden-file tested.

`render_nginx_conf(table, settings)` returns the whole configuration of one nginx instance
(nginx OSS >= 1.15.3: no Lua, no NGINX Plus API). `settings` carries everything that is not
in the table: listen addresses and ports, the work directory (pid file, temp paths, error
log) and the certificate FILES (`NginxSettings.certificates` maps `certificate_id(cert)` to
the PEM file paths the supervisor wrote; the renderer never touches the file system).
`nginx_process.NginxDataPlane` runs it.

How each Ingress semantic maps to nginx (the reference is `simulator.proxy.matching`)
------------------------------------------------------------------------------------

Hosts: one `server` block per host name, every block listening on the HTTP port and (with
`ssl`) the HTTPS port.

- Exact host `foo.bar.com` -> `server_name "foo.bar.com";`. nginx lower-cases the Host
  value and drops its port and one trailing dot before choosing a server (and takes the host
  of an absolute-form request-target over the Host header), as `uri.normalize_host` does.
- Wildcard `*.foo.com` -> `server_name "~^[^.]+\\.foo\\.com$";`: a regex, because nginx's own
  `*.foo.com` also matches `a.b.foo.com`, while an Ingress wildcard covers exactly one
  label. nginx tries exact names before regexes, so exact > wildcard, as in the reference.
- Host-less rules -> the `default_server` (`server_name _`), which gets every request whose
  Host matches no other server (no Host, unknown hosts, IP literals).
- No fallthrough: a server block holds only its own group's locations plus a catch-all
  `location /` for the default backend (or `return 404`), so a path that misses in a host's
  block never reaches the wildcard or host-less rules.

Paths, per server block (nginx matches on the percent-decoded, dot-segment-normalised URI,
case-sensitively on Linux; `merge_slashes off` keeps `//` significant, as the reference):

- Exact `/foo` -> `location = "/foo"`.
- Prefix (and ImplementationSpecific) `/foo` or `/foo/` -> `location = "/foo"` plus
  `location "/foo/"`: element-wise, because nginx's plain `location /foo` would also match
  `/foobar`. Prefix `/` (and an empty ImplementationSpecific path) -> `location "/"`.
- Precedence: nginx takes an `=` location that equals the URI first, else the longest
  prefix location (no regex locations are used, so nothing else interferes). Several rules
  can land on one location (Exact `/foo` and Prefix `/foo` both want `= /foo`; Prefix `/foo`
  and `/foo/` share both locations), so the renderer does not trust nginx's order: for every
  location it runs the reference matcher (`matching.rule_matches`, over the group's rules in
  `routing.sort_paths` order) on a request that stands for exactly the URIs that location
  receives (the location's own path for `=`, the prefix plus a segment no rule can contain
  for a prefix location) and writes the winner's backend into it. Every set of URIs nginx
  sends to one location has the same winner in the reference, so the two agree.
- Every prefix location `/x/` gets a companion `location = "/x"` (routed like the request
  `/x`): otherwise nginx answers `/x` with a 301 to `/x/` (its proxy_pass auto-redirect).
- No matching rule -> the default backend, else `return 404`.

Backends: one `upstream` per Backend with endpoints (`server ADDRESS:PORT max_fails=0;` per
endpoint, round robin, `keepalive`), `proxy_pass http://UPSTREAM;` with no URI part, so the
request-target goes upstream exactly as the client sent it (in origin-form). A Backend
without endpoints -> `return 503;`. Connect failures -> 502, timeouts -> 504.
`proxy_next_upstream error timeout`: another endpoint is tried only when the request could
not be sent (nginx never resends a non-idempotent request once sent), no passive health
marking (`max_fails=0`), as the reference proxy.

Headers: `Host` forwarded as received (the authority of an absolute-form target, or the
upstream name when there is none); `X-Forwarded-For` = the client's chain + the client
address, `X-Forwarded-Proto` = `$scheme`, `X-Forwarded-Host` = the Host asked for,
`X-Forwarded-Port` = the port the client connected to, `X-Real-IP`, `X-Request-ID` = the
client's if it is a plain token else nginx's `$request_id`; hop-by-hop fields
(Connection, Keep-Alive, TE, Upgrade, Proxy-Connection) are not forwarded. The upstream's
`Server` and `Date` pass through.

TLS: the certificate comes from the server block nginx picks by SNI. Server blocks exist
for every TLS host name too (a certificate's names join the routing hosts, each routed like
the reference routes that name: exact group, else wildcard group, else host-less rules), and
each gets the certificate `tls.TLSIndex.lookup` would choose for its name (exact name first,
then a one-label wildcard; the first certificate listing a name wins); the default server,
hence an unknown or missing SNI, gets the default (self-signed) certificate, never another
host's. Certificates missing from `settings.certificates` (the supervisor leaves out PEM
that does not load) are treated as absent, as the reference skips them.

421: nginx chooses the server by Host, not by SNI, so a request for host B on a connection
whose SNI named host A would be served. Each TLS host's block therefore checks
`$ingress_sni_certificate` (a `map` of `$ssl_server_name` -> the certificate that SNI got,
case-insensitive and trailing-dot tolerant) against the certificates that cover the block's
own name, and answers `return 421` when the SNI named another TLS host whose certificate
does not cover this Host: the reference's rule exactly. Plain HTTP and TLS without SNI
never get 421.

What nginx cannot express (documented conformance differences)
-------------------------------------------------------------

- `%2F` in a path: nginx decodes it to `/` before matching, so `/a%2Fb` matches Prefix `/a`
  (the reference keeps it as data inside one segment: no match), and `..` can climb through
  it (`/a/b%2F..%2F..%2Fadmin` is routed as `/admin`).
- `..` above the root (`/../x`): nginx answers 400; the reference routes it as `/x`.
- Endpoint changes cost a full (graceful) reload: nginx OSS has no way to change an
  upstream's servers at run time without Lua or the NGINX Plus API. Reloads drop no request
  (listening sockets stay open; old workers finish what they started), but each one starts
  new worker processes and drops idle keepalive connections.
- Error bodies are nginx's own HTML pages; 404/503 statuses match.
- Header fields NAMED in the client's `Connection` header (`Connection: close, X-Foo`) are
  forwarded; nginx drops only the hop-by-hop fields listed above. The reference drops them.
- Retries: when no connection to an endpoint can be made, nginx tries the next endpoint for
  every method (nothing was sent); the reference tries only one endpoint for
  non-idempotent methods. Both never resend a request an endpoint may have received.
- `https_redirect` (308 to https) is not rendered.
- Round robin is per upstream, i.e. per Service port: two paths to one Service share a
  rotation (the reference rotates per route).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from simulator.proxy.matching import rule_matches, wildcard_for
from simulator.routing import Backend, Certificate, PathRule, PathType, RoutingTable, host_groups

# A path segment no Ingress path can contain (kube-apiserver and HTTP both refuse NUL):
# the stand-in for "whatever comes after this prefix".
_ANY_SEGMENT = "\0"


@dataclass(frozen=True)
class NginxSettings:
    """Everything the configuration needs besides the table.

    `certificates`: `certificate_id(cert)` -> (certificate chain file, key file) for the
    table's certificates that load; `default_certificate`: the files for clients whose SNI
    names no TLS host (required when `https_port` is set). `control_port`: a loopback port
    answering `GET /ingress-sim/generation` with `generation` (the supervisor's way to see
    which configuration the workers run). `user`: the `user` directive (the supervisor
    passes "root" when it runs as root, so workers can use the private work directory).
    Timeouts are seconds."""

    work_dir: str
    http_port: int | None = 80
    https_port: int | None = None
    listen_host: str = "127.0.0.1"
    control_port: int | None = None
    generation: int = 0
    certificates: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    default_certificate: tuple[str, str] | None = None
    user: str | None = None
    worker_processes: int = 1
    worker_connections: int = 4096
    upstream_timeout: float = 60.0
    connect_timeout: float | None = None
    client_timeout: float = 60.0
    drain_timeout: float = 30.0
    keepalive: int = 32
    upstream_idle_timeout: float = 30.0
    error_log: str | None = None  # default: WORK_DIR/error.log
    access_log: str | None = None  # default: off


GENERATION_PATH = "/ingress-sim/generation"


def certificate_id(cert: Certificate) -> str:
    """A stable name for a certificate's PEM pair (content-addressed: file names, map
    values)."""
    digest = hashlib.sha256(cert.cert_pem + b"\0" + cert.key_pem).hexdigest()
    return digest[:16]


# -- quoting ---------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def quote(value: str) -> str:
    """An nginx configuration string token: double quotes, with the escapes nginx's parser
    undoes (`\\\\`, `\\"`). Control characters cannot be written: ValueError."""
    if _UNSAFE.search(value):
        raise ValueError(f"control character in {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _regex_literal(text: str) -> str:
    """`text` as a PCRE literal (every non-alphanumeric character escaped)."""
    return "".join(c if c.isalnum() and c.isascii() else "\\" + c for c in text)


def host_pattern(host: str) -> str:
    """The server_name for a routing or TLS host: the name itself, or for `*.rest` a regex
    matching exactly one label before `.rest`."""
    if host.startswith("*."):
        return "~^[^.]+" + _regex_literal(host[1:]) + "$"
    return host


def _seconds(value: float) -> str:
    ms = round(value * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _listen_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


# -- the table, prepared ---------------------------------------------------------------------

def _host_group(groups: Mapping[str, object], name: str) -> str | None:
    """`RouteIndex.host_group` for a server name (an exact name or `*.rest`)."""
    if name in groups:
        return name
    wildcard = wildcard_for(name)
    if wildcard is not None and wildcard in groups:
        return wildcard
    return "" if "" in groups else None


class _TLSNames:
    """`tls.TLSIndex` without SSL contexts: name -> certificate id, first listing wins."""

    def __init__(self, table: RoutingTable, usable: Mapping[str, object]) -> None:
        self.names: dict[str, str] = {}
        self.hosts_of: dict[str, set[str]] = {}
        for cert in table.certificates:
            cid = certificate_id(cert)
            if cid not in usable:
                continue
            names = {h.strip().lower().rstrip(".") for h in cert.hosts} - {""}
            self.hosts_of.setdefault(cid, set()).update(names)
            for name in cert.hosts:
                name = name.strip().lower().rstrip(".")
                if name:
                    self.names.setdefault(name, cid)

    def lookup(self, name: str) -> str | None:
        cid = self.names.get(name)
        if cid is None:
            wildcard = wildcard_for(name)
            cid = self.names.get(wildcard) if wildcard else None
        return cid

    def covering(self, name: str) -> list[str]:
        """The certificates whose host list names `name` (exactly or by one-label
        wildcard): a connection made with one of them may carry a request for `name`."""
        wildcard = wildcard_for(name)
        return sorted(cid for cid, hosts in self.hosts_of.items()
                      if name in hosts or (wildcard is not None and wildcard in hosts))


# -- locations ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Location:
    """One nginx location and the rule that wins for every URI it receives (None: no rule,
    the default backend or 404)."""

    exact: bool
    path: str
    rule: PathRule | None


def _prefix_of(rule: PathRule) -> str:
    """The element-wise prefix a Prefix rule stands for, without its trailing slash ("" for
    `/`): the rule matches this path and everything under `prefix + "/"`."""
    path = rule.path or "/"
    return path[:-1] if path.endswith("/") else path


def locations(rules: tuple[PathRule, ...]) -> list[Location]:
    """The locations of one host group, in a stable order (exact first, then prefixes,
    each sorted by path), each with its winning rule."""
    exact: set[str] = set()
    prefix: set[str] = {"/"}
    for rule in rules:
        if rule.path_type is PathType.EXACT:
            exact.add(rule.path or "/")
        else:
            stem = _prefix_of(rule)
            if stem:
                exact.add(stem)
            prefix.add(stem + "/")
    # nginx redirects `/x` to `/x/` when a proxy_pass location `/x/` exists and nothing else
    # claims `/x`: give every such `/x` its own exact location.
    exact.update(p[:-1] for p in exact | prefix if len(p) > 1 and p.endswith("/"))

    def winner(request: tuple[str, ...]) -> PathRule | None:
        return next((r for r in rules if rule_matches(r, request)), None)

    out = [Location(True, p, winner(tuple(p.split("/")))) for p in sorted(exact)]
    out += [Location(False, p, winner((*p.split("/")[:-1], _ANY_SEGMENT)))
            for p in sorted(prefix)]
    return out


# -- rendering ---------------------------------------------------------------------------------

class _Upstreams:
    """Backend -> upstream name (stable, readable, unique)."""

    def __init__(self, backends: list[Backend]) -> None:
        self.names: dict[Backend, str] = {}
        used: set[str] = set()
        for backend in sorted(set(backends), key=lambda b: (b.name, b.endpoints)):
            if not backend.endpoints:
                continue
            base = re.sub(r"[^A-Za-z0-9]+", "_",
                          f"{backend.namespace}_{backend.service}_{backend.port}").strip("_")
            name, n = base or "backend", 1
            while name in used:
                n += 1
                name = f"{base}_{n}"
            used.add(name)
            self.names[backend] = name


def _target(backend: Backend | None, upstreams: _Upstreams) -> str:
    """The body of a location (or catch-all) that sends to `backend`."""
    if backend is None:
        return "return 404;"
    if not backend.endpoints:
        return "return 503;"
    return f"proxy_pass http://{upstreams.names[backend]};"


def _describe(loc: Location, default: Backend | None) -> str:
    if loc.rule is not None:
        rule = loc.rule
        source = f" ({rule.source})" if rule.source else ""
        return f"{rule.path_type.value} {rule.path or '/'!s} -> {rule.backend.name}{source}"
    return f"no rule -> default backend {default.name}" if default else "no rule -> 404"


def _comment(text: str) -> str:
    return "# " + _UNSAFE.sub("?", text)


def _listens(settings: NginxSettings, default: bool) -> list[str]:
    host = _listen_host(settings.listen_host)
    flag = " default_server" if default else ""
    out = []
    if settings.http_port is not None:
        out.append(f"listen {host}:{settings.http_port}{flag};")
    if settings.https_port is not None:
        out.append(f"listen {host}:{settings.https_port} ssl{flag};")
    return out


def _server(lines: list[str], settings: NginxSettings, table: RoutingTable,
            upstreams: _Upstreams, name: str | None, rules: tuple[PathRule, ...] | None,
            group: str | None, tls: _TLSNames | None) -> None:
    """Append one server block: `name` None for the default server."""
    add = lines.append
    add("")
    if name is None:
        add("    # Host-less rules, and every Host no other server names (default server).")
    else:
        routed = {None: "no rules", "": "the host-less rules"}.get(group, f"the rules of {group}")
        add(f"    # {name}: {routed}.")
    add("    server {")
    for listen in _listens(settings, name is None):
        add(f"        {listen}")
    add(f"        server_name {quote(host_pattern(name)) if name is not None else '_'};")
    if tls is not None and name is not None:
        cid = tls.lookup(name)
        if cid is not None:
            crt, key = settings.certificates[cid]
            add(f"        ssl_certificate {quote(crt)};")
            add(f"        ssl_certificate_key {quote(key)};")
            # 421 when the connection's SNI chose a certificate that does not cover this host.
            allowed = "|".join(["", *tls.covering(name)])
            add(f'        if ($ingress_sni_certificate !~ "^({allowed})$") {{')
            add("            return 421;")
            add("        }")
    default = table.default_backend
    for loc in locations(rules or ()):
        try:
            path = quote(loc.path)
        except ValueError:
            add(f"        {_comment('skipped, not expressible: ' + repr(loc.path))}")
            continue
        backend = loc.rule.backend if loc.rule is not None else default
        add(f"        {_comment(_describe(loc, default))}")
        add(f"        location {'= ' if loc.exact else ''}{path} {{")
        add(f"            {_target(backend, upstreams)}")
        add("        }")
    add("    }")


def render_nginx_conf(table: RoutingTable, settings: NginxSettings) -> str:
    """The complete nginx.conf serving `table` (see the module docstring)."""
    if settings.https_port is not None and settings.default_certificate is None:
        raise ValueError("an HTTPS listener needs settings.default_certificate")
    work = settings.work_dir.rstrip("/") or "/"
    error_log = settings.error_log or f"{work}/error.log"
    groups = host_groups(table)
    tls = _TLSNames(table, settings.certificates) if settings.https_port is not None else None

    backends = [r.backend for rules in groups.values() for r in rules]
    if table.default_backend is not None:
        backends.append(table.default_backend)
    upstreams = _Upstreams(backends)

    lines: list[str] = []
    add = lines.append
    add(f"# Rendered by simulator.dataplanes.nginx from RoutingTable version {table.version}.")
    add("# Generated: edits are overwritten.")
    add("daemon off;")
    add("master_process on;")
    add(f"worker_processes {settings.worker_processes};")
    if settings.user:
        add(f"user {settings.user};")
    add(f"pid {quote(work + '/nginx.pid')};")
    add(f"error_log {quote(error_log)} notice;")
    add(f"worker_shutdown_timeout {_seconds(settings.drain_timeout)};")
    add("")
    add("events {")
    add(f"    worker_connections {settings.worker_connections};")
    add("}")
    add("")
    add("http {")
    for directive in (
        "access_log off;" if settings.access_log is None
        else f"access_log {quote(settings.access_log)};",
        "server_tokens off;",
        f"client_body_temp_path {quote(work + '/tmp/client_body')};",
        f"proxy_temp_path {quote(work + '/tmp/proxy')};",
        f"fastcgi_temp_path {quote(work + '/tmp/fastcgi')};",
        f"uwsgi_temp_path {quote(work + '/tmp/uwsgi')};",
        f"scgi_temp_path {quote(work + '/tmp/scgi')};",
        "server_names_hash_bucket_size 256;",
        "server_names_hash_max_size 65536;",
        "map_hash_bucket_size 256;",
        "map_hash_max_size 65536;",
        "# `//` is significant in Ingress paths: do not merge slashes before matching.",
        "merge_slashes off;",
        "client_max_body_size 0;",
        f"client_header_timeout {_seconds(settings.client_timeout)};",
        f"client_body_timeout {_seconds(settings.client_timeout)};",
        f"keepalive_timeout {_seconds(settings.client_timeout)};",
        f"send_timeout {_seconds(settings.client_timeout)};",
        "",
        "proxy_http_version 1.1;",
        "proxy_connect_timeout "
        f"{_seconds(settings.connect_timeout or settings.upstream_timeout)};",
        f"proxy_send_timeout {_seconds(settings.upstream_timeout)};",
        f"proxy_read_timeout {_seconds(settings.upstream_timeout)};",
        "proxy_next_upstream error timeout;",
        "proxy_buffering off;",
        "proxy_request_buffering off;",
        "proxy_redirect off;",
        "proxy_pass_header Server;",
        "proxy_pass_header Date;",
        "proxy_set_header Host $ingress_upstream_host;",
        'proxy_set_header Connection "";',
        'proxy_set_header Keep-Alive "";',
        'proxy_set_header TE "";',
        'proxy_set_header Upgrade "";',
        'proxy_set_header Proxy-Connection "";',
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Forwarded-Host $ingress_forwarded_host;",
        "proxy_set_header X-Forwarded-Port $server_port;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_set_header X-Request-ID $ingress_request_id;",
    ):
        add(f"    {directive}" if directive else "")
    if tls is not None:
        assert settings.default_certificate is not None
        crt, key = settings.default_certificate
        add("")
        add("    ssl_protocols TLSv1.2 TLSv1.3;")
        add("    # The default certificate: unknown or missing SNI never gets another host's.")
        add(f"    ssl_certificate {quote(crt)};")
        add(f"    ssl_certificate_key {quote(key)};")

    add("")
    add("    # The Host the client asked for: an absolute-form target's authority wins.")
    add("    map $request $ingress_forwarded_host {")
    add('        "~*^[^ ]+ https?://(?<ingress_authority>[^/?# ]+)" $ingress_authority;')
    add("        default $http_host;")
    add("    }")
    add("    map $ingress_forwarded_host $ingress_upstream_host {")
    add('        "" $proxy_host;')
    add("        default $ingress_forwarded_host;")
    add("    }")
    add("    # The client's request id when it is a plain token, else a fresh one.")
    add("    map $http_x_request_id $ingress_request_id {")
    add('        "~^[A-Za-z0-9._:-]{1,200}$" $http_x_request_id;')
    add("        default $request_id;")
    add("    }")
    if tls is not None:
        add("    # SNI -> the certificate that connection got (for 421 Misdirected Request).")
        add("    map $ssl_server_name $ingress_sni_certificate {")
        add("        hostnames;")
        add('        default "";')
        for name, cid in sorted(tls.names.items()):
            if name.startswith("*."):
                pattern = "~*^[^.]+" + _regex_literal(name[1:]) + r"\.?$"
            else:
                pattern = name
            try:
                add(f"        {quote(pattern)} {cid};")
            except ValueError:
                add(f"        {_comment('skipped, not expressible: ' + repr(name))}")
        add("    }")

    for backend, name in sorted(upstreams.names.items(), key=lambda item: item[1]):
        add("")
        add(f"    # {backend.name}")
        add(f"    upstream {name} {{")
        for endpoint in backend.endpoints:
            note = f"  # {endpoint.target}" if endpoint.target else ""
            add(f"        server {endpoint.hostport} max_fails=0;{note}")
        add(f"        keepalive {settings.keepalive};")
        add(f"        keepalive_timeout {_seconds(settings.upstream_idle_timeout)};")
        add("    }")

    _server(lines, settings, table, upstreams, None, groups.get(""), "" if "" in groups
            else None, tls)
    names = {g for g in groups if g}
    if tls is not None:
        names.update(tls.names)
    exact = sorted(n for n in names if not n.startswith("*."))
    wildcards = sorted(n for n in names if n.startswith("*."))
    for name in exact + wildcards:
        try:
            quote(host_pattern(name))
        except ValueError:
            add(f"    {_comment('skipped host, not expressible: ' + repr(name))}")
            continue
        group = _host_group(groups, name)
        _server(lines, settings, table, upstreams, name,
                groups.get(group) if group is not None else None, group, tls)

    if settings.control_port is not None:
        add("")
        add("    # The supervisor's view: which configuration generation the workers run.")
        add("    server {")
        add(f"        listen {_listen_host(settings.listen_host)}:{settings.control_port};")
        add("        server_name _;")
        add(f"        location = {GENERATION_PATH} {{")
        add(f'            return 200 "{settings.generation}\\n";')
        add("        }")
        add("        location / {")
        add("            return 404;")
        add("        }")
        add("    }")
    add("}")
    return "\n".join(lines) + "\n"
