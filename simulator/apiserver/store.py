"""The object store: one global resourceVersion, per-resource watch history, watch fan-out.

Objects are kept as their serialized JSON (bytes) plus their labels: a LIST is a join of
byte strings and a watch event is encoded once for every watcher, which is what makes
10,000-object lists and many watchers cheap.  Like kube-apiserver's watch cache, each
resource keeps a bounded window of recent events; a watch (or a consistent read) older than
the window gets 410 Expired.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import errors
from .selectors import FieldSelector, LabelSelector, field_value

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"

# How many events each resource keeps for watch resumption and snapshot reads.
DEFAULT_HISTORY = 10_000
# A watcher that falls this far behind is closed, as kube-apiserver closes slow watchers.
MAX_PENDING_EVENTS = 200_000


@dataclass(eq=False)
class Stored:
    """One stored object: its JSON encoding and the few fields filtering needs."""

    raw: bytes
    rv: int
    labels: dict[str, str] | None = None
    _parsed: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, obj: dict[str, Any], rv: int) -> Stored:
        return cls(orjson.dumps(obj), rv, (obj.get("metadata") or {}).get("labels"))

    def obj(self) -> dict[str, Any]:
        """A fresh, mutable copy of the object."""
        return orjson.loads(self.raw)

    def view(self) -> dict[str, Any]:
        """A cached parsed object for read-only use (filters, tables)."""
        if self._parsed is None:
            self._parsed = orjson.loads(self.raw)
        return self._parsed


@dataclass(eq=False)
class Event:
    rv: int
    type: str
    namespace: str
    name: str
    new: Stored  # the object after the change (for DELETED: its last state, new rv)
    prev: Stored | None  # the object before the change (None for ADDED)


Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects


@dataclass
class Filter:
    """What a list or watch selects: a namespace (None = all) and selectors."""

    namespace: str | None = None
    labels: LabelSelector = field(default_factory=LabelSelector)
    fields: FieldSelector = field(default_factory=FieldSelector)
    # Extra fields a resource maps (e.g. Secret `type`): resolved from the parsed object.

    def matches(self, key: Key, stored: Stored) -> bool:
        if self.namespace is not None and key[0] != self.namespace:
            return False
        if not self.labels.empty and not self.labels.matches(stored.labels):
            return False
        if not self.fields.empty:
            obj = stored.view()
            return self.fields.matches(lambda path: field_value(obj, path))
        return True


class Watcher:
    """One watch stream's queue. Events are pushed under the store lock, read by the server."""

    def __init__(self, store: Store, resource: str, flt: Filter) -> None:
        self.store = store
        self.resource = resource
        self.filter = flt
        self.pending: deque[tuple[str, Stored]] = deque()
        self.closed = False
        self.overflowed = False
        self.wakeup: Callable[[], None] = lambda: None

    def offer(self, event: Event) -> None:
        """Queue `event` as this watcher sees it: selector transitions become ADDED/DELETED."""
        key = (event.namespace, event.name)
        now = self.filter.matches(key, event.new)
        before = event.prev is not None and self.filter.matches(key, event.prev)
        if event.type == ADDED:
            kind = ADDED if now else None
        elif event.type == DELETED:
            kind = DELETED if before else None
        elif now and before:
            kind = MODIFIED
        elif now:
            kind = ADDED
        elif before:
            kind = DELETED
        else:
            kind = None
        if kind is not None:
            self.push(kind, event.new)

    def push(self, kind: str, stored: Stored) -> None:
        if len(self.pending) >= MAX_PENDING_EVENTS:
            self.overflowed = True
            self.close()
            return
        self.pending.append((kind, stored))
        self.wakeup()

    def drain(self) -> list[tuple[str, Stored]]:
        out = []
        while self.pending:
            out.append(self.pending.popleft())
        return out

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.store._unregister(self)
            self.wakeup()


class Store:
    """In-memory objects of all resources, keyed by resource then (namespace, name)."""

    def __init__(self, history: int = DEFAULT_HISTORY, initial_rv: int = 1) -> None:
        self.lock = threading.RLock()
        self._rv = initial_rv
        self._history_size = history
        self._objects: dict[str, dict[Key, Stored]] = {}
        self._history: dict[str, deque[Event]] = {}
        # The newest resourceVersion each resource has dropped from its history window.
        self._floor: dict[str, int] = {}
        self._watchers: dict[str, set[Watcher]] = {}
        self._start_rv = initial_rv

    # ---- reads ---------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, resource: str, key: Key) -> Stored | None:
        return self._objects.get(resource, {}).get(key)

    def items(self, resource: str) -> dict[Key, Stored]:
        return self._objects.get(resource, {})

    def resources(self) -> list[str]:
        return list(self._objects)

    def snapshot(self, resource: str, rv: int) -> dict[Key, Stored]:
        """The resource's objects as they were at `rv`, rebuilt from the history window.

        Raises 410 Expired when `rv` is older than what the window still holds.
        """
        with self.lock:
            live = self._objects.get(resource, {})
            if rv >= self._rv:
                return dict(live)
            if rv < self._floor.get(resource, self._start_rv):
                raise errors.expired(
                    f"too old resource version: {rv} ({self._floor.get(resource, 0) + 1})")
            state = dict(live)
            for ev in reversed(self._history.get(resource, ())):
                if ev.rv <= rv:
                    break
                key = (ev.namespace, ev.name)
                if ev.prev is None:
                    state.pop(key, None)
                else:
                    state[key] = ev.prev
            return state

    # ---- writes --------------------------------------------------------------------------

    def next_rv(self) -> int:
        """Reserve the next resourceVersion (call with the lock held)."""
        self._rv += 1
        return self._rv

    def put(self, resource: str, key: Key, obj: dict[str, Any], rv: int) -> Stored:
        """Store `obj` (its metadata.resourceVersion already set to `rv`) and emit the event."""
        with self.lock:
            table = self._objects.setdefault(resource, {})
            prev = table.get(key)
            stored = Stored.of(obj, rv)
            table[key] = stored
            self._emit(resource, Event(rv, MODIFIED if prev else ADDED, key[0], key[1],
                                       stored, prev))
            return stored

    def remove(self, resource: str, key: Key, final: dict[str, Any], rv: int) -> Stored:
        """Delete the object; `final` is its last state carrying the deletion's new rv."""
        with self.lock:
            table = self._objects.setdefault(resource, {})
            prev = table.pop(key)
            stored = Stored.of(final, rv)
            self._emit(resource, Event(rv, DELETED, key[0], key[1], stored, prev))
            return stored

    def _emit(self, resource: str, event: Event) -> None:
        hist = self._history.setdefault(resource, deque())
        if len(hist) >= self._history_size:
            dropped = hist.popleft()
            self._floor[resource] = dropped.rv
        hist.append(event)
        for watcher in list(self._watchers.get(resource, ())):
            watcher.offer(event)

    # ---- watch ---------------------------------------------------------------------------

    def watch(self, resource: str, flt: Filter, since: int | None,
              initial: bool) -> tuple[Watcher, int]:
        """Register a watcher and queue what it must see first.

        `initial`: send the current state as ADDED events (resourceVersion unset or "0", or
        sendInitialEvents=true). Otherwise replay history after `since`; 410 when it is gone.
        Returns the watcher and the resourceVersion the initial state was taken at.
        """
        with self.lock:
            watcher = Watcher(self, resource, flt)
            if initial:
                for key, stored in sorted(self._objects.get(resource, {}).items()):
                    if flt.matches(key, stored):
                        watcher.pending.append((ADDED, stored))
            elif since is not None:
                floor = self._floor.get(resource, self._start_rv)
                if since < floor:
                    raise errors.gone_resource_version(since, floor + 1)
                backlog: list[Event] = []
                for ev in reversed(self._history.get(resource, ())):
                    if ev.rv <= since:
                        break
                    backlog.append(ev)
                for ev in reversed(backlog):
                    watcher.offer(ev)
            self._watchers.setdefault(resource, set()).add(watcher)
            return watcher, self._rv

    def _unregister(self, watcher: Watcher) -> None:
        with self.lock:
            self._watchers.get(watcher.resource, set()).discard(watcher)

    def watcher_count(self) -> int:
        return sum(len(w) for w in self._watchers.values())

    def close_all_watchers(self) -> int:
        """End every open watch stream (a fault the event model injects); returns how many."""
        with self.lock:
            watchers = [w for ws in self._watchers.values() for w in ws]
        for w in watchers:
            w.close()
        return len(watchers)

    # ---- persistence ---------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """All objects and the resourceVersion, for `--state FILE`."""
        with self.lock:
            return {
                "resourceVersion": self._rv,
                "resources": {res: [s.view() for _, s in sorted(table.items())]
                              for res, table in self._objects.items() if table},
            }

    def load(self, state: dict[str, Any]) -> None:
        """Restore a `dump()`; history starts empty, so older watches get 410."""
        with self.lock:
            self._rv = int(state["resourceVersion"])
            self._start_rv = self._rv
            for res, objs in state["resources"].items():
                table = self._objects.setdefault(res, {})
                for obj in objs:
                    meta = obj["metadata"]
                    key = (meta.get("namespace", ""), meta["name"])
                    table[key] = Stored.of(obj, int(meta["resourceVersion"]))

    def iter_all(self) -> Iterator[tuple[str, Key, Stored]]:
        with self.lock:
            for res, table in self._objects.items():
                for key, stored in table.items():
                    yield res, key, stored


def filtered(items: Iterable[tuple[Key, Stored]], flt: Filter) -> list[tuple[Key, Stored]]:
    return [(k, s) for k, s in items if flt.matches(k, s)]
