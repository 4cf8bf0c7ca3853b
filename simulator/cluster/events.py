"""core/v1 Events, written as client-go's record.EventRecorder writes them.

Events are best effort, as upstream: written in the background, failures dropped. Two parts
of client-go's event correlator apply:

- the spam filter (EventSourceObjectSpamFilter): per source and involved object, a token
  bucket of 25 events refilled at one per 5 minutes; events beyond it are dropped (so a
  ReplicaSet creating a thousand pods records 25 `SuccessfulCreate` events, as upstream);
- the logger (EventLogger): a repeat of the same (object, type, reason, message) bumps
  `count` and `lastTimestamp` of the first Event instead of writing a new one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from .client import ApiClient, ApiError
from .kinds import EVENTS, Kind
from .objects import meta, now_rfc3339

Obj = dict[str, Any]
log = logging.getLogger(__name__)

# Concurrent Event writes per recorder: events must never crowd out the control loops' writes.
MAX_IN_FLIGHT = 4
# defaultSpamBurst and defaultSpamQPS in client-go/tools/record/events_cache.go.
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0
# How many distinct events and objects the correlator remembers (maxLruCacheEntries).
CACHE_ENTRIES = 4096


class _TokenBucket:
    def __init__(self) -> None:
        self.tokens = float(SPAM_BURST)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(float(SPAM_BURST), self.tokens + (now - self.stamp) * SPAM_QPS)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class EventRecorder:
    """record.EventRecorder for one component (`deployment-controller`, `kubelet`, ...)."""

    def __init__(self, client: ApiClient, component: str, host: str | None = None) -> None:
        self.client = client
        self.component = component
        self.host = host
        self._seen: dict[tuple[str, str, str, str], tuple[str, str, int]] = {}
        self._buckets: dict[str, _TokenBucket] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    def event(self, obj: Obj, kind: Kind, event_type: str, reason: str, message: str,
              field_path: str | None = None) -> None:
        """Record an Event about `obj` (Normal or Warning) in the background."""
        uid = str(meta(obj).get("uid"))
        bucket = self._buckets.get(uid)
        if bucket is None:
            bucket = self._buckets[uid] = _TokenBucket()
            _trim(self._buckets)
        if not bucket.take():
            return
        task = asyncio.create_task(self._write(obj, kind, event_type, reason, message,
                                               field_path))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, obj: Obj, kind: Kind, event_type: str, reason: str, message: str,
                     field_path: str | None) -> None:
        md = meta(obj)
        namespace = md.get("namespace") or "default"
        seen_key = (str(md.get("uid")), event_type, reason, message)
        stamp = now_rfc3339()
        async with self._slots:
            try:
                seen = self._seen.get(seen_key)
                if seen is not None:
                    name, ns, count = seen
                    await self.client.patch(EVENTS, name, {"count": count + 1,
                                                           "lastTimestamp": stamp}, ns)
                    self._seen[seen_key] = (name, ns, count + 1)
                    return
                involved: Obj = {"kind": kind.kind, "namespace": md.get("namespace"),
                                 "name": md.get("name"), "uid": md.get("uid"),
                                 "apiVersion": kind.api_version,
                                 "resourceVersion": md.get("resourceVersion")}
                if field_path:
                    involved["fieldPath"] = field_path
                source: Obj = {"component": self.component}
                if self.host:
                    source["host"] = self.host
                body = {
                    "apiVersion": "v1", "kind": "Event",
                    # record.makeEvent: "<object name>.<unix nanoseconds in hex>".
                    "metadata": {"name": f"{md.get('name')}.{time.time_ns():x}",
                                 "namespace": namespace},
                    "involvedObject": {k: v for k, v in involved.items() if v is not None},
                    "reason": reason, "message": message, "type": event_type,
                    "source": source, "firstTimestamp": stamp, "lastTimestamp": stamp,
                    "count": 1, "reportingComponent": self.component,
                    "reportingInstance": self.host or "",
                }
                created = await self.client.create(EVENTS, body, namespace)
                self._seen[seen_key] = (created["metadata"]["name"], namespace, 1)
                _trim(self._seen)
            except ApiError as exc:
                log.debug("event %s/%s dropped: %s", reason, md.get("name"), exc)
            except Exception as exc:  # noqa: BLE001 - events are best effort
                log.debug("event %s/%s dropped: %r", reason, md.get("name"), exc)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _trim(cache: dict) -> None:
    """Forget the oldest entries past CACHE_ENTRIES (dicts keep insertion order)."""
    while len(cache) > CACHE_ENTRIES:
        del cache[next(iter(cache))]
