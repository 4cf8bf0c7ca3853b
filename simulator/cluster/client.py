"""A small async Kubernetes REST client over aiohttp, speaking JSON dicts.

The simulated cluster reaches the API server only through this client, the way
kube-controller-manager and the kubelet reach kube-apiserver through client-go: list, watch
(resumed from a resourceVersion, 410 Gone reported so the caller relists), get, create,
update, status update, merge/strategic/JSON patch and delete with DeleteOptions.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from .kinds import Kind

Obj = dict[str, Any]

PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}
# A list is fetched in pages of this many items (client-go's pager uses 500).
LIST_PAGE_SIZE = 500
# Ordinary requests give up after this long; watches have no total timeout.
REQUEST_TIMEOUT_SECONDS = 30.0


class ApiError(Exception):
    """A non-2xx answer, carrying the Status object the server sent."""

    def __init__(self, code: int, reason: str, message: str, status: Obj | None = None) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.status = status or {}

    @property
    def not_found(self) -> bool:
        return self.code == 404

    @property
    def conflict(self) -> bool:
        return self.code == 409 and self.reason == "Conflict"

    @property
    def already_exists(self) -> bool:
        return self.code == 409 and self.reason == "AlreadyExists"

    @property
    def gone(self) -> bool:
        return self.code == 410

    def has_cause(self, cause: str) -> bool:
        """errors.HasStatusCause, e.g. `NamespaceTerminating`."""
        causes = (self.status.get("details") or {}).get("causes") or []
        return any(c.get("type") == cause for c in causes if isinstance(c, dict))

    @property
    def namespace_terminating(self) -> bool:
        """A create refused because the namespace is being deleted (403 Forbidden)."""
        return self.code == 403 and ("being terminated" in self.message or
                                     self.has_cause("NamespaceTerminating"))


@dataclass
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    object: Obj


class ApiClient:
    """One aiohttp session to one API server; cheap per-component views share it.

    >>> client = ApiClient("http://127.0.0.1:6443")
    >>> pod = await client.get(PODS, "web-1", "default")
    >>> await client.close()
    """

    def __init__(self, base_url: str, token: str | None = None, *,
                 ssl: ssl_module.SSLContext | bool | None = None,
                 field_manager: str = "simulator", user_agent: str = "simulator-cluster",
                 _session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.ssl = ssl
        self.field_manager = field_manager
        self.user_agent = user_agent
        self._session = _session
        self._owns_session = _session is None

    def view(self, field_manager: str, user_agent: str | None = None) -> ApiClient:
        """The same connection pool, writing as another field manager (e.g. `kubelet`)."""
        return ApiClient(self.base_url, self.token, ssl=self.ssl, field_manager=field_manager,
                         user_agent=user_agent or field_manager, _session=self.session)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            headers = {"Accept": "application/json"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            # Watches hold one connection each; writes from thousands of pods queue behind
            # the limit rather than opening thousands of sockets.
            connector = aiohttp.TCPConnector(limit=64, ssl=self.ssl if self.ssl is not None
                                             else True)
            self._session = aiohttp.ClientSession(
                connector=connector, headers=headers, json_serialize=lambda o: orjson.dumps(
                    o).decode(), timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS))
        return self._session

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
            if self.base_url.startswith("https:"):
                # aiohttp's graceful shutdown: TLS transports finish closing a moment after
                # the session does; a loop closed before that leaks their sockets.
                await asyncio.sleep(0.25)

    # ---- plumbing ------------------------------------------------------------------------

    async def _request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                       body: Any = None, content_type: str = "application/json") -> Obj:
        headers = {"User-Agent": self.user_agent}
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = content_type
        async with self.session.request(method, self.base_url + path, params=params,
                                        data=data, headers=headers) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                raise _error(resp.status, raw)
            return orjson.loads(raw) if raw else {}

    def _write_params(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        params = {"fieldManager": self.field_manager}
        if extra:
            params.update(extra)
        return params

    # ---- reads ---------------------------------------------------------------------------

    async def get(self, kind: Kind, name: str, namespace: str | None = None) -> Obj:
        return await self._request("GET", kind.path(namespace, name))

    async def list(self, kind: Kind, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_token: str | None = None,
                   resource_version: str | None = None) -> Obj:
        """One LIST request: the list object (items, metadata.resourceVersion/continue)."""
        params: dict[str, str] = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if limit:
            params["limit"] = str(limit)
        if continue_token:
            params["continue"] = continue_token
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        return await self._request("GET", kind.path(namespace), params=params)

    async def list_all(self, kind: Kind, namespace: str | None = None, *,
                       label_selector: str | None = None, field_selector: str | None = None
                       ) -> tuple[list[Obj], str]:
        """Every item, paging like client-go's pager; returns (items, resourceVersion)."""
        items: list[Obj] = []
        token: str | None = None
        while True:
            page = await self.list(kind, namespace, label_selector=label_selector,
                                   field_selector=field_selector, limit=LIST_PAGE_SIZE,
                                   continue_token=token)
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return items, str(meta.get("resourceVersion", ""))

    async def watch(self, kind: Kind, namespace: str | None = None, *, resource_version: str,
                    label_selector: str | None = None, field_selector: str | None = None,
                    timeout_seconds: int = 300) -> AsyncIterator[WatchEvent]:
        """Stream watch events after `resource_version` until the server ends the stream.

        An ERROR event (410 Gone when the version left the server's window) is raised as an
        ApiError, which is the caller's cue to relist.
        """
        params = {"watch": "true", "resourceVersion": resource_version,
                  "allowWatchBookmarks": "true", "timeoutSeconds": str(timeout_seconds)}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=REQUEST_TIMEOUT_SECONDS)
        async with self.session.get(self.base_url + kind.path(namespace), params=params,
                                    timeout=timeout,
                                    headers={"User-Agent": self.user_agent}) as resp:
            if resp.status >= 400:
                raise _error(resp.status, await resp.read())
            buffer = b""
            # Split lines ourselves: StreamReader.readline() refuses lines over 128 KiB,
            # and a big object is one line.
            async for chunk in resp.content.iter_any():
                buffer += chunk
                while True:
                    line, sep, rest = buffer.partition(b"\n")
                    if not sep:
                        break
                    buffer = rest
                    if line.strip():
                        yield _watch_event(line)
            if buffer.strip():
                yield _watch_event(buffer)

    # ---- writes --------------------------------------------------------------------------

    async def create(self, kind: Kind, body: Obj, namespace: str | None = None) -> Obj:
        ns = namespace if namespace is not None else (body.get("metadata") or {}).get(
            "namespace")
        return await self._request("POST", kind.path(ns), params=self._write_params(),
                                   body=body)

    async def update(self, kind: Kind, body: Obj, subresource: str | None = None) -> Obj:
        """PUT the whole object; its metadata.resourceVersion makes it conditional."""
        md = body["metadata"]
        return await self._request("PUT", kind.path(md.get("namespace"), md["name"],
                                                    subresource),
                                   params=self._write_params(), body=body)

    async def update_status(self, kind: Kind, body: Obj) -> Obj:
        return await self.update(kind, body, "status")

    async def patch(self, kind: Kind, name: str, patch: Any, namespace: str | None = None, *,
                    patch_type: str = "merge", subresource: str | None = None) -> Obj:
        """PATCH with `patch_type` merge (RFC 7386), strategic or json (RFC 6902)."""
        return await self._request("PATCH", kind.path(namespace, name, subresource),
                                   params=self._write_params(), body=patch,
                                   content_type=PATCH_CONTENT_TYPES[patch_type])

    async def delete(self, kind: Kind, name: str, namespace: str | None = None, *,
                     grace_period_seconds: int | None = None,
                     propagation_policy: str | None = None,
                     precondition_uid: str | None = None,
                     precondition_resource_version: str | None = None) -> Obj:
        """DELETE with DeleteOptions in the body, as client-go sends them."""
        options: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        pre: Obj = {}
        if precondition_uid:
            pre["uid"] = precondition_uid
        if precondition_resource_version:
            pre["resourceVersion"] = precondition_resource_version
        if pre:
            options["preconditions"] = pre
        return await self._request("DELETE", kind.path(namespace, name), body=options)


def _error(code: int, raw: bytes) -> ApiError:
    try:
        status = orjson.loads(raw)
    except orjson.JSONDecodeError:
        status = None
    if isinstance(status, dict) and status.get("kind") == "Status":
        return ApiError(int(status.get("code") or code), str(status.get("reason") or ""),
                        str(status.get("message") or ""), status)
    return ApiError(code, "", raw.decode(errors="replace")[:500])


def _watch_event(line: bytes) -> WatchEvent:
    event = orjson.loads(line)
    obj = event.get("object") or {}
    if event.get("type") == "ERROR":
        raise ApiError(int(obj.get("code") or 500), str(obj.get("reason") or ""),
                       str(obj.get("message") or ""), obj)
    return WatchEvent(str(event.get("type")), obj)


async def retry_on_conflict(fn: Any, attempts: int = 5) -> Any:
    """retry.RetryOnConflict: call `fn()` again (it re-reads) while the write conflicts."""
    for attempt in range(attempts):
        try:
            return await fn()
        except ApiError as exc:
            if not exc.conflict or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.01 * (2 ** attempt))
    return None
