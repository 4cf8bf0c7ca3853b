"""Informers: a cache of one resource kept current by LIST then WATCH, with event handlers
and indexes (client-go's Reflector + Indexer + SharedIndexInformer, on asyncio).

The reflector lists, then watches from the list's resourceVersion, resumes each new watch
from the last resourceVersion it saw (BOOKMARKs included), and relists when the server
answers 410 Gone. A relist is reconciled against the cache like DeltaFIFO.Replace: changed
objects become updates and vanished ones deletes, so handlers never miss a deletion.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .client import ApiClient, ApiError
from .kinds import Kind
from .objects import key_of, meta

Obj = dict[str, Any]
log = logging.getLogger(__name__)

# client-go watches for a random 5-10 minutes (minWatchTimeout * (1 + rand)).
MIN_WATCH_TIMEOUT = 300
RETRY_DELAY_SECONDS = 0.2


@dataclass
class Handlers:
    on_add: Callable[[Obj], None] | None = None
    on_update: Callable[[Obj, Obj], None] | None = None
    on_delete: Callable[[Obj], None] | None = None


@dataclass
class _Index:
    fn: Callable[[Obj], Iterable[str]]
    values: dict[str, set[str]] = field(default_factory=dict)
    # What each key was indexed under, to unindex without recomputing on a stale object.
    by_key: dict[str, tuple[str, ...]] = field(default_factory=dict)


class Informer:
    """One resource's cache, kept in sync through the API server."""

    def __init__(self, client: ApiClient, kind: Kind, *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 rng: random.Random | None = None) -> None:
        self.client = client
        self.kind = kind
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.rng = rng or random.Random(0)
        self.cache: dict[str, Obj] = {}
        self.synced = asyncio.Event()
        self.resource_version = ""
        self._handlers: list[Handlers] = []
        self._indexes: dict[str, _Index] = {}
        self._task: asyncio.Task[None] | None = None

    # ---- configuration ---------------------------------------------------------------------

    def add_handler(self, on_add: Callable[[Obj], None] | None = None,
                    on_update: Callable[[Obj, Obj], None] | None = None,
                    on_delete: Callable[[Obj], None] | None = None) -> None:
        """Register callbacks; they run on the event loop and should only enqueue work.

        Handlers added after the informer has synced see the cached objects as adds.
        """
        handlers = Handlers(on_add, on_update, on_delete)
        self._handlers.append(handlers)
        if self.synced.is_set() and on_add is not None:
            for obj in list(self.cache.values()):
                on_add(obj)

    def add_index(self, name: str, fn: Callable[[Obj], Iterable[str]]) -> None:
        """Index objects by the values `fn` returns (cache.Indexers)."""
        index = _Index(fn)
        self._indexes[name] = index
        for key, obj in self.cache.items():
            self._index_add(index, key, obj)

    # ---- reads -----------------------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        return self.cache.get(key)

    def get_by_name(self, namespace: str, name: str) -> Obj | None:
        return self.cache.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> list[Obj]:
        return list(self.cache.values())

    def by_index(self, name: str, value: str) -> list[Obj]:
        keys = self._indexes[name].values.get(value, ())
        return [self.cache[k] for k in sorted(keys) if k in self.cache]

    def keys_by_index(self, name: str, value: str) -> list[str]:
        return sorted(self._indexes[name].values.get(value, ()))

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"informer-{self.kind}")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        rv = ""
        while True:
            try:
                if not rv:
                    items, rv = await self.client.list_all(
                        self.kind, self.namespace, label_selector=self.label_selector,
                        field_selector=self.field_selector)
                    self._replace(items)
                    self.resource_version = rv
                    self.synced.set()
                timeout = int(MIN_WATCH_TIMEOUT * (1 + self.rng.random()))
                opened = asyncio.get_running_loop().time()
                async for event in self.client.watch(
                        self.kind, self.namespace, resource_version=rv,
                        label_selector=self.label_selector, field_selector=self.field_selector,
                        timeout_seconds=timeout):
                    new_rv = str(meta(event.object).get("resourceVersion") or "")
                    if event.type != "BOOKMARK":
                        self._apply(event.type, event.object)
                    if new_rv:
                        rv = new_rv
                        self.resource_version = rv
                if asyncio.get_running_loop().time() - opened < RETRY_DELAY_SECONDS:
                    # A watch the server ends at once (shutting down?): do not spin.
                    await asyncio.sleep(RETRY_DELAY_SECONDS)
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                if exc.gone:
                    log.debug("%s: watch expired (%s), relisting", self.kind, exc.message)
                    rv = ""
                    continue
                log.warning("%s: list/watch failed: %s", self.kind, exc)
                await asyncio.sleep(RETRY_DELAY_SECONDS)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
                log.debug("%s: list/watch interrupted: %r", self.kind, exc)
                await asyncio.sleep(RETRY_DELAY_SECONDS)

    # ---- cache maintenance -----------------------------------------------------------------

    def _apply(self, event_type: str, obj: Obj) -> None:
        key = key_of(obj)
        if event_type == "DELETED":
            old = self.cache.pop(key, None)
            self._unindex(key)
            self._notify_delete(old if old is not None else obj)
            return
        self._store(key, self.cache.get(key), obj)

    def _store(self, key: str, old: Obj | None, obj: Obj) -> None:
        """Cache `obj` (replacing `old`, if any) and tell the handlers."""
        self.cache[key] = obj
        self._reindex(key, obj)
        if old is None:
            self._notify_add(obj)
        else:
            self._notify_update(old, obj)

    def _replace(self, items: list[Obj]) -> None:
        fresh = {key_of(obj): obj for obj in items}
        for key in [k for k in self.cache if k not in fresh]:
            old = self.cache.pop(key)
            self._unindex(key)
            self._notify_delete(old)
        for key, obj in fresh.items():
            old = self.cache.get(key)
            if old is not None and meta(old).get("resourceVersion") == \
                    meta(obj).get("resourceVersion"):
                continue
            self._store(key, old, obj)

    def _reindex(self, key: str, obj: Obj) -> None:
        for index in self._indexes.values():
            self._index_remove(index, key)
            self._index_add(index, key, obj)

    def _unindex(self, key: str) -> None:
        for index in self._indexes.values():
            self._index_remove(index, key)

    @staticmethod
    def _index_add(index: _Index, key: str, obj: Obj) -> None:
        values = tuple(index.fn(obj))
        index.by_key[key] = values
        for value in values:
            index.values.setdefault(value, set()).add(key)

    @staticmethod
    def _index_remove(index: _Index, key: str) -> None:
        for value in index.by_key.pop(key, ()):
            keys = index.values.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index.values[value]

    # ---- notification: a failing handler must not stop the informer ----------------------

    def _notify_add(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_add is not None:
                _safely(h.on_add, obj)

    def _notify_update(self, old: Obj, new: Obj) -> None:
        for h in self._handlers:
            if h.on_update is not None:
                _safely(h.on_update, old, new)

    def _notify_delete(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_delete is not None:
                _safely(h.on_delete, obj)


def _safely(fn: Callable[..., None], *args: Obj) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - one bad handler must not starve the others
        log.exception("informer handler %r failed", fn)


def by_namespace(obj: Obj) -> Iterable[str]:
    """Index function: the object's namespace (cache.MetaNamespaceIndexFunc)."""
    return (str(meta(obj).get("namespace", "")),)


def by_owner_uid(obj: Obj) -> Iterable[str]:
    """Index function: the uid of every owner."""
    return tuple(str(r.get("uid")) for r in meta(obj).get("ownerReferences") or []
                 if isinstance(r, dict) and r.get("uid"))


class SharedInformers:
    """One informer per kind, shared by every control loop (SharedInformerFactory)."""

    def __init__(self, client: ApiClient, rng: random.Random) -> None:
        self.client = client
        self.rng = rng
        self._informers: dict[Kind, Informer] = {}

    def get(self, kind: Kind) -> Informer:
        informer = self._informers.get(kind)
        if informer is None:
            informer = Informer(self.client, kind, rng=random.Random(self.rng.random()))
            informer.add_index("namespace", by_namespace)
            informer.add_index("owner", by_owner_uid)
            self._informers[kind] = informer
        return informer

    def all(self) -> list[Informer]:
        return list(self._informers.values())

    def start(self) -> None:
        for informer in self._informers.values():
            informer.start()

    async def wait_for_sync(self, timeout: float = 60.0) -> None:
        await asyncio.wait_for(asyncio.gather(*(i.synced.wait()
                                                for i in self._informers.values())), timeout)

    async def stop(self) -> None:
        await asyncio.gather(*(i.stop() for i in self._informers.values()))
