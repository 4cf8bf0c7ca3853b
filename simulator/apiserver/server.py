"""The HTTP layer: kube-apiserver's REST paths over aiohttp.

Routes requests to `rest.Api` verbs, negotiates the response shape (JSON, YAML, Table,
metadata-only), streams watches as newline-delimited JSON events, serves discovery and the
OpenAPI v3 index, and checks the bearer token when one is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import random
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from . import decoding, discovery, errors, query, tables, wire
from .lifecycle import install_builtin_controllers
from .meta import utcnow
from .resources import Registry, ResourceType
from .rest import Api, DeleteOptions, ListResult, WriteOptions
from .selectors import parse_field_selector, parse_label_selector
from .store import ADDED, BOOKMARK, DELETED, Filter, Store, Stored

VERSION_INFO = {
    "major": "1",
    "minor": "33",
    "gitVersion": "v1.33.0-simulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.24.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

# How often a watch with allowWatchBookmarks gets a BOOKMARK carrying the current rv.
BOOKMARK_INTERVAL_SECONDS = 10.0
# kube-apiserver's --min-request-timeout: a watch without timeoutSeconds lasts 1-2x this.
MIN_REQUEST_TIMEOUT = 1800
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass
class Target:
    """A parsed resource path."""

    rt: ResourceType
    namespace: str  # "" for cluster-scoped or all-namespaces
    name: str = ""
    subresource: str = ""
    all_namespaces: bool = False


def _json(body: Any, status: int = 200, content_type: str = "application/json") -> web.Response:
    # Set through headers: aiohttp's content_type= refuses media-type parameters, and the
    # aggregated discovery type has several.
    return web.Response(body=orjson.dumps(body), status=status,
                        headers={"Content-Type": content_type})


def _error_response(exc: errors.ApiError) -> web.Response:
    return _json(exc.status(), exc.code)


class ApiHandler:
    """aiohttp request handling for one `Api`."""

    def __init__(self, api: Api, token: str | None = None) -> None:
        self.api = api
        self.registry: Registry = api.registry
        self.token = token
        self.server_address = "127.0.0.1:0"
        self.bookmark_interval = BOOKMARK_INTERVAL_SECONDS
        self._shutdown = asyncio.Event()
        self.faults = Faults()

    # ---- app -----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.faults.latency_seconds:
            await asyncio.sleep(self.faults.latency_seconds)
        if self.token is not None:
            header = request.headers.get("Authorization", "")
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip(), self.token):
                return _error_response(errors.unauthorized())
        try:
            return await handler(request)
        except errors.PathNotFound:
            return web.Response(status=404, text="404 page not found")
        except errors.ApiError as exc:
            return _error_response(exc)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if path == "/version":
            return _json(VERSION_INFO)
        if path in ("/openapi/v2", "/swagger-2.0.0.pb-v1"):
            return self._openapi_v2(request)
        if path == "/openapi/v3":
            return _json(discovery.openapi_index(self.registry))
        if len(parts) >= 3 and parts[:2] == ["openapi", "v3"]:
            group, version = (("", parts[3]) if parts[2] == "api" and len(parts) == 4 else
                              (parts[3], parts[4]) if parts[2] == "apis" and len(parts) == 5
                              else ("", ""))
            doc = discovery.openapi_gv_document(self.registry, group, version) if version else None
            if doc is None:
                return web.Response(status=404, text="404 page not found")
            return _json(doc)
        if not parts or parts[0] not in ("api", "apis"):
            return web.Response(status=404, text="404 page not found")
        if parts[0] == "api":
            if len(parts) == 1:
                return self._discovery_root(request, legacy=True)
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) == 1:
                return self._discovery_root(request, legacy=False)
            if len(parts) == 2:
                doc = discovery.api_group(self.registry, parts[1])
                if doc is None:
                    raise errors.path_not_found(path)
                return _json(doc)
            group, version, rest = parts[1], parts[2], parts[3:]
        if not rest:
            doc = discovery.api_resource_list(self.registry, group, version)
            if doc is None:
                raise errors.path_not_found(path)
            return _json(doc)
        target = self._resolve(group, version, rest)
        return await self._serve_resource(request, target)

    @staticmethod
    def _openapi_v2(request: web.Request) -> web.Response:
        """An OpenAPI v2 document without definitions.

        kubectl 1.27/1.28 fetch it (as protobuf) before any apply; an empty protobuf message is
        a valid empty `openapi_v2.Document`, so they validate nothing client-side and build
        strategic merge patches from their compiled-in types, as they do for kinds the
        document does not describe.
        """
        if "protobuf" in request.headers.get("Accept", ""):
            return web.Response(body=b"", headers={"Content-Type": discovery.OPENAPI_V2_PROTOBUF})
        return _json(discovery.openapi_v2_document())

    def _discovery_root(self, request: web.Request, legacy: bool) -> web.Response:
        version = discovery.wants_aggregated(request.headers.get("Accept", ""))
        if version:
            return _json(discovery.aggregated(self.registry, legacy, version),
                         content_type=discovery.aggregated_content_type(version))
        if legacy:
            return _json(discovery.api_versions(self.server_address))
        return _json(discovery.api_group_list(self.registry))

    def _resolve(self, group: str, version: str, rest: list[str]) -> Target:
        def lookup(plural: str) -> ResourceType:
            rt = self.registry.lookup(group, version, plural)
            if rt is None:
                raise errors.path_not_found("/".join(rest))
            return rt

        if rest[0] == "namespaces" and len(rest) >= 3 and not group and version == "v1" and \
                rest[2] in ("status", "finalize") and len(rest) == 3:
            return Target(lookup("namespaces"), "", rest[1], rest[2])
        if rest[0] == "namespaces" and len(rest) >= 3:
            rt = lookup(rest[2])
            if not rt.namespaced:
                raise errors.path_not_found("/".join(rest))
            name = rest[3] if len(rest) > 3 else ""
            sub = rest[4] if len(rest) > 4 else ""
            if len(rest) > 5 or (sub and sub not in rt.subresources):
                raise errors.path_not_found("/".join(rest))
            return Target(rt, rest[1], name, sub)
        rt = lookup(rest[0])
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if len(rest) > 3 or (sub and sub not in rt.subresources and
                             not (rt.kind == "Namespace" and sub == "finalize")):
            raise errors.path_not_found("/".join(rest))
        if rt.namespaced and name:
            # A namespaced kind addressed without a namespace has no item paths.
            raise errors.path_not_found("/".join(rest))
        return Target(rt, "", name, sub, all_namespaces=rt.namespaced)

    # ---- resources -----------------------------------------------------------------------

    async def _serve_resource(self, request: web.Request, t: Target) -> web.StreamResponse:
        method = request.method
        q = request.query
        accept = wire.parse_accept(request.headers.get("Accept"))
        watch = method == "GET" and not t.name and query.flag(q, "watch")
        if not watch:  # a watch is long-running: no request deadline
            query.check_timeout(q)
        if not t.name:
            if watch:
                return await self._watch(request, t, accept)
            if method == "GET":
                return self._list(t, q, accept)
            if method == "POST":
                if t.all_namespaces:
                    raise errors.method_not_allowed()
                body = wire.decode_body(await request.read(),
                                        request.headers.get("Content-Type", ""))
                obj = self.api.create(t.rt, t.namespace, body, self._write_options(request))
                return self._object(obj, accept, 201)
            if method == "DELETE":
                if t.all_namespaces:
                    # Only list and watch are served across namespaces (as for POST).
                    raise errors.method_not_allowed()
                _list_options(q)
                flt = self._filter(t, q)
                opts = await self._delete_options(request)
                items = self.api.delete_collection(t.rt, flt, opts)
                return self._object({"kind": t.rt.list_kind, "apiVersion": t.rt.api_version,
                                     "metadata": {"resourceVersion":
                                                  str(self.api.store.resource_version)},
                                     "items": items}, accept)
            raise errors.method_not_allowed()
        if method == "GET":
            stored = self.api.get(t.rt, t.namespace, t.name)
            if t.subresource == "scale":
                return self._object(self.api.scale_of(t.rt, stored.obj()), accept)
            return self._stored(stored, t.rt, accept)
        if method == "PUT":
            body = wire.decode_body(await request.read(), request.headers.get("Content-Type", ""))
            sub = "" if t.subresource == "finalize" else t.subresource
            obj, created = self.api.update(t.rt, t.namespace, t.name, body,
                                           self._write_options(request), sub)
            return self._object(obj, accept, 201 if created else 200)
        if method == "PATCH":
            obj, created = self.api.patch(t.rt, t.namespace, t.name,
                                          request.headers.get("Content-Type", ""),
                                          await request.read(), self._write_options(request),
                                          t.subresource)
            return self._object(obj, accept, 201 if created else 200)
        if method == "DELETE":
            if t.subresource:
                raise errors.method_not_allowed()
            result = self.api.delete(t.rt, t.namespace, t.name,
                                     await self._delete_options(request))
            return self._object(result.body, accept)
        raise errors.method_not_allowed()

    def _write_options(self, request: web.Request) -> WriteOptions:
        q = request.query
        manager = q.get("fieldManager", "")
        if not manager:
            manager = request.headers.get("User-Agent", "unknown").split("/")[0][:128]
        validation = q.get("fieldValidation", "")
        if validation and validation not in ("Ignore", "Warn", "Strict"):
            raise errors.bad_request(f"fieldValidation must be one of Ignore, Warn, Strict, "
                                     f"got {validation!r}")
        return WriteOptions(field_manager=manager, dry_run=q.get("dryRun") == "All",
                            force=query.flag(q, "force"))

    async def _delete_options(self, request: web.Request) -> DeleteOptions:
        q = request.query
        body: dict[str, Any] = {}
        raw = await request.read()
        if raw.strip():
            decoded = wire.decode_body(raw, request.headers.get("Content-Type", ""))
            if isinstance(decoded, dict):
                body = decoded
                error = decoding.check("meta.k8s.io/v1", "DeleteOptions", body).go_json_error()
                if error:  # a decode error, which kube-apiserver answers as a plain 500
                    raise errors.internal_error(error)
        grace = query.int_param(q, "gracePeriodSeconds")
        if grace is None:
            grace = body.get("gracePeriodSeconds")
        pre = body.get("preconditions") or {}
        policy = q.get("propagationPolicy", body.get("propagationPolicy"))
        orphan = query.flag(q, "orphanDependents") if "orphanDependents" in q else \
            body.get("orphanDependents") is True
        if policy is None and orphan:
            policy = "Orphan"
        dry = q.get("dryRun") == "All" or body.get("dryRun") == ["All"]
        return DeleteOptions(grace_period_seconds=int(grace) if grace is not None else None,
                             propagation_policy=policy, precondition_uid=pre.get("uid"),
                             precondition_rv=pre.get("resourceVersion"), dry_run=dry)

    def _filter(self, t: Target, q: Any) -> Filter:
        supported = {"metadata.name", "metadata.namespace", *t.rt.field_selectors}
        return Filter(
            namespace=None if t.all_namespaces else (t.namespace if t.rt.namespaced else None),
            labels=parse_label_selector(q.get("labelSelector")),
            fields=parse_field_selector(q.get("fieldSelector"), supported),
        )

    # ---- encoding ------------------------------------------------------------------------

    def _object(self, obj: dict[str, Any], accept: wire.Accept, status: int = 200
                ) -> web.Response:
        if accept.as_kind == "Table" and obj.get("kind") not in ("Status", "Scale") \
                and "items" not in obj:
            rt = self.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
            if rt is not None:
                return self._encode(self._table(rt, [obj], accept, obj["metadata"]
                                                .get("resourceVersion", ""), ""), accept, status)
        if accept.as_kind == "PartialObjectMetadata" and "metadata" in obj:
            obj = _partial(obj, accept.meta_version)
        return self._encode(obj, accept, status)

    @staticmethod
    def _encode(obj: dict[str, Any], accept: wire.Accept, status: int = 200) -> web.Response:
        if accept.yaml:
            return web.Response(body=wire.dump_yaml(obj), status=status,
                                content_type="application/yaml")
        return _json(obj, status)

    def _stored(self, stored: Stored, rt: ResourceType, accept: wire.Accept) -> web.Response:
        if accept.as_kind or accept.yaml:
            return self._object(stored.obj(), accept)
        return web.Response(body=stored.raw, content_type="application/json")

    def _list(self, t: Target, q: Any, accept: wire.Accept) -> web.Response:
        limit = max(0, _list_options(q).limit)
        result = self.api.list(t.rt, self._filter(t, q), limit=limit,
                               continue_token=q.get("continue", ""),
                               resource_version=q.get("resourceVersion", ""),
                               rv_match=q.get("resourceVersionMatch", ""))
        if accept.as_kind == "Table":
            return self._encode(self._table(t.rt, [s.view() for s in result.items], accept,
                                            str(result.resource_version),
                                            result.continue_token,
                                            include=q.get("includeObject", "Metadata")), accept)
        if accept.as_kind in ("PartialObjectMetadataList", "PartialObjectMetadata"):
            return self._encode({
                "kind": "PartialObjectMetadataList", "apiVersion": f"meta.k8s.io/"
                f"{accept.meta_version}", "metadata": _list_meta(result),
                "items": [_partial(s.view(), accept.meta_version) for s in result.items]}, accept)
        if accept.yaml:
            return self._encode({"kind": t.rt.list_kind, "apiVersion": t.rt.api_version,
                                 "metadata": _list_meta(result),
                                 "items": [s.view() for s in result.items]}, accept)
        head = orjson.dumps({"kind": t.rt.list_kind, "apiVersion": t.rt.api_version,
                             "metadata": _list_meta(result)})
        body = head[:-1] + b',"items":[' + b",".join(s.raw for s in result.items) + b"]}"
        return web.Response(body=body, content_type="application/json")

    def _table(self, rt: ResourceType, objs: list[dict[str, Any]], accept: wire.Accept,
               rv: str, cont: str, include: str = "Metadata", headers: bool = True
               ) -> dict[str, Any]:
        now = utcnow()
        cols = list(rt.printer_columns) or None
        rows = []
        for obj in objs:
            row: dict[str, Any] = {"cells": tables.row_cells(rt.key, obj, now, cols)}
            if include == "Object":
                row["object"] = obj
            elif include != "None":
                row["object"] = _partial(obj, accept.meta_version)
            rows.append(row)
        table: dict[str, Any] = {"kind": "Table", "apiVersion": f"meta.k8s.io/"
                                 f"{accept.meta_version}", "metadata": {"resourceVersion": rv}}
        if cont:
            table["metadata"]["continue"] = cont
        table["columnDefinitions"] = tables.column_definitions(rt.key, cols) if headers else None
        table["rows"] = rows
        return table

    # ---- watch ---------------------------------------------------------------------------

    async def _watch(self, request: web.Request, t: Target, accept: wire.Accept
                     ) -> web.StreamResponse:
        q = request.query
        flt = self._filter(t, q)
        rv_text = q.get("resourceVersion", "")
        timeout = _list_options(q).timeout_seconds
        send_initial = query.flag(q, "sendInitialEvents")
        bookmarks = query.flag(q, "allowWatchBookmarks")
        if send_initial and q.get("resourceVersionMatch") != "NotOlderThan":
            raise errors.ApiError(
                422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: '
                'Forbidden: sendInitialEvents requires setting resourceVersionMatch to '
                'NotOlderThan')
        if send_initial and not bookmarks:
            raise errors.ApiError(
                422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: allowWatchBookmarks: '
                'Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true')
        since: int | None = None
        if rv_text not in ("", "0"):
            try:
                since = int(rv_text)
            except ValueError as exc:
                raise errors.bad_request(f"invalid resource version: {rv_text}") from exc
        initial = send_initial or since is None
        # No timeoutSeconds (or 0): the --min-request-timeout window, randomized.
        duration = timeout or MIN_REQUEST_TIMEOUT * (1 + random.random())

        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        response.enable_chunked_encoding()
        try:
            if self.faults.take_expired_watch(t.namespace):
                raise errors.gone_resource_version(since or 0, self.api.store.resource_version)
            watcher, start_rv = self.api.store.watch(self.api.resource_key(t.rt), flt, since,
                                                     initial)
        except errors.ApiError as exc:
            # kube-apiserver answers 200 and sends the 410 as the stream's only event.
            await response.prepare(request)
            await response.write(orjson.dumps({"type": "ERROR", "object": exc.status()}) + b"\n")
            return response
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        loop_thread = threading.get_ident()

        def wakeup() -> None:
            if threading.get_ident() == loop_thread:
                wake.set()
            else:
                loop.call_soon_threadsafe(wake.set)

        watcher.wakeup = wakeup
        encoder = _EventEncoder(self, t.rt, accept, q.get("includeObject", "Metadata"))
        deadline = loop.time() + duration
        next_bookmark = loop.time() + self.bookmark_interval
        try:
            await response.prepare(request)
            if send_initial:
                initial_events = watcher.drain()
                chunk = b"".join(encoder.encode(kind, s) for kind, s in initial_events)
                chunk += encoder.bookmark(start_rv, initial_end=True)
                await response.write(chunk)
            while not watcher.closed and not self._shutdown.is_set():
                wake.clear()
                batch = watcher.drain()
                if batch:
                    await response.write(b"".join(encoder.encode(k, s) for k, s in batch))
                    continue
                now = loop.time()
                if now >= deadline:
                    break
                if bookmarks and now >= next_bookmark:
                    await response.write(encoder.bookmark(self.api.store.resource_version))
                    next_bookmark = now + self.bookmark_interval
                wait = min(deadline, next_bookmark if bookmarks else deadline) - now
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=max(wait, 0.001))
            if watcher.overflowed:
                await response.write(orjson.dumps({"type": "ERROR", "object": errors.expired(
                    "watch closed: the client could not keep up").status()}) + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            watcher.close()
        return response

    def shutdown(self) -> None:
        self._shutdown.set()


@dataclass
class Faults:
    """API-server faults the event model injects (the way real clusters misbehave)."""

    latency_seconds: float = 0.0
    expire_next_watches: int = 0  # any watch request
    # Watch requests of one namespace only (a relisting informer elsewhere cannot take them).
    expire_in_namespace: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take_expired_watch(self, namespace: str = "") -> bool:
        """Whether this watch request must be answered with 410 Expired."""
        with self._lock:
            if self.expire_in_namespace.get(namespace, 0) > 0:
                self.expire_in_namespace[namespace] -= 1
                return True
            if self.expire_next_watches > 0:
                self.expire_next_watches -= 1
                return True
            return False


class _EventEncoder:
    """Encodes watch events for one stream; plain JSON events reuse the stored bytes."""

    def __init__(self, handler: ApiHandler, rt: ResourceType, accept: wire.Accept,
                 include: str) -> None:
        self.handler = handler
        self.rt = rt
        self.accept = accept
        self.include = include
        self.first = True

    def encode(self, kind: str, stored: Stored) -> bytes:
        if self.accept.as_kind == "Table":
            table = self.handler._table(self.rt, [stored.view()], self.accept,
                                        str(stored.rv), "", self.include, headers=self.first)
            self.first = False
            return orjson.dumps({"type": kind, "object": table}) + b"\n"
        if self.accept.as_kind.startswith("PartialObjectMetadata"):
            partial = _partial(stored.view(), self.accept.meta_version)
            return orjson.dumps({"type": kind, "object": partial}) + b"\n"
        return b'{"type":"' + kind.encode() + b'","object":' + stored.raw + b"}\n"

    def bookmark(self, rv: int, initial_end: bool = False) -> bytes:
        md: dict[str, Any] = {"resourceVersion": str(rv), "creationTimestamp": None}
        if initial_end:
            md["annotations"] = {INITIAL_EVENTS_END: "true"}
        return orjson.dumps({"type": BOOKMARK, "object": {
            "kind": self.rt.kind, "apiVersion": self.rt.api_version, "metadata": md}}) + b"\n"


@dataclass(frozen=True)
class _ListOptions:
    limit: int
    timeout_seconds: int


def _list_options(q: Any) -> _ListOptions:
    """The integers of ListOptions (lists, watches, deletecollection); 400 if malformed."""
    return _ListOptions(query.int_param(q, "limit") or 0,
                        query.int_param(q, "timeoutSeconds") or 0)


def _partial(obj: dict[str, Any], meta_version: str) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{meta_version}",
            "metadata": obj.get("metadata", {})}


def _list_meta(result: ListResult) -> dict[str, Any]:
    md: dict[str, Any] = {"resourceVersion": str(result.resource_version)}
    if result.continue_token:
        md["continue"] = result.continue_token
    if result.remaining is not None:
        md["remainingItemCount"] = result.remaining
    return md


def build_api(history: int | None = None, seed: int = 0) -> Api:
    """A fresh Api with its store, registry and built-in controllers (namespaces, CRDs)."""
    store = Store(history=history) if history else Store()
    api = Api(store, Registry(), seed=seed)
    install_builtin_controllers(api)
    return api


__all__ = ["ApiHandler", "build_api", "ADDED", "DELETED"]
