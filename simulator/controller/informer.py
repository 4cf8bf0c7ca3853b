"""An informer over the official `kubernetes` client: list, then watch from the list's
resourceVersion, keeping a cache of plain JSON dicts.

As client-go's reflector does it: bookmarks advance the resourceVersion, a 410 Expired
(watch history gone) means relist, any other error means back off with jitter and relist,
and a watch that ends normally (timeoutSeconds) is simply resumed, unless it lasted under a
second with no event ("very short watch"), which counts as an error: a server that closes
every watch at once gets a backed-off relist, not a hot loop. Runs on its own daemon thread;
`on_change` is called after every cache change (and on resync).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes.client import ApiException
from kubernetes.watch.watch import iter_resp_lines

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)
ListFunc = Callable[..., Any]

# client-go's reflector: "very short watch: ... watch lasted less than a second and no items
# received".
SHORT_WATCH_SECONDS = 1.0


class ShortWatch(Exception):
    """A watch the server ended within SHORT_WATCH_SECONDS without sending any event."""


def jittered(delay: float, rng: random.Random) -> float:
    """`delay` scaled by a random factor in [0.5, 1.5), so informers that failed together do
    not retry together."""
    return delay * (0.5 + rng.random())


def _key(obj: dict[str, Any]) -> Key:
    md = obj.get("metadata") or {}
    return md.get("namespace", ""), md.get("name", "")


class Informer:
    """Keeps `cache` in sync with one resource collection (all namespaces)."""

    def __init__(self, name: str, list_func: ListFunc, on_change: Callable[[str], None], *,
                 watch_timeout: int = 300, resync_seconds: float = 0.0,
                 backoff_initial: float = 0.2, backoff_max: float = 10.0,
                 rng: random.Random | None = None) -> None:
        self.name = name
        self.list_func = list_func
        self.on_change = on_change
        self.watch_timeout = watch_timeout
        self.resync_seconds = resync_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.rng = rng or random.Random()
        self.cache: dict[Key, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.synced = threading.Event()
        self.resource_version = ""
        self.relists = 0  # how often the informer had to list again (410s, errors)
        self._stop = threading.Event()
        self._response: Any = None  # the open watch response, closed to stop at once
        self._delay = backoff_initial  # the next back-off (see `_run`)
        self._thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        _interrupt(self._response)
        if self._thread is not None:
            self._thread.join(5)

    def items(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.cache.values())

    # ---- the reflector loop --------------------------------------------------------------

    def _run(self) -> None:
        # The next back-off, doubled by every failure and reset by a watch that works (an
        # event, or a normal end after SHORT_WATCH_SECONDS), not by a list that works: a
        # server that lists fine but ends every watch at once must still be backed off.
        self._delay = self.backoff_initial
        while not self._stop.is_set():
            try:
                self._list()
                self._watch_until_expired()
            except ApiException as exc:
                if exc.status == 410:
                    log.info("informer %s: watch expired (410), relisting", self.name)
                    self.relists += 1
                    continue
                self._backoff(exc)
            except Exception as exc:  # noqa: BLE001 - any failure: back off, relist, go on
                self._backoff(exc)

    def _backoff(self, exc: BaseException) -> None:
        if self._stop.is_set():
            return  # the connection broke because we are stopping
        self.relists += 1
        delay = jittered(self._delay, self.rng)
        log.warning("informer %s: %s; retrying in %.2fs", self.name,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__, delay)
        self._stop.wait(delay)
        self._delay = min(self._delay * 2, self.backoff_max)

    def _list(self) -> None:
        resp = self.list_func(_preload_content=False)
        body = json.loads(resp.data)
        fresh = {_key(obj): obj for obj in body.get("items") or []}
        with self.lock:
            self.cache = fresh
            self.resource_version = body["metadata"]["resourceVersion"]
        self.synced.set()
        self.on_change(self.name)

    def _watch_until_expired(self) -> None:
        """Watch from the cached resourceVersion; return when the server ends the watch.

        The stream is read line by line with the client's own `iter_resp_lines`, so ERROR
        events (410 Expired above all) become ApiExceptions the reflector loop understands.
        """
        while not self._stop.is_set():
            timeout = self.watch_timeout
            if self.resync_seconds:
                timeout = max(1, min(timeout, int(self.resync_seconds)))
            resp = self.list_func(watch=True, resource_version=self.resource_version,
                                  allow_watch_bookmarks=True, timeout_seconds=timeout,
                                  _preload_content=False)
            self._response = resp
            started, events = time.monotonic(), 0
            try:
                for line in iter_resp_lines(resp):
                    if self._stop.is_set():
                        return
                    if not line or not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise ApiException(status=status.get("code"),
                                           reason=status.get("message", "watch error"))
                    events += 1
                    self._delay = self.backoff_initial  # the watch works
                    self._apply(event)
            finally:
                self._response = None
                resp.release_conn()
            if not events and not self._stop.is_set():
                if time.monotonic() - started < SHORT_WATCH_SECONDS:
                    raise ShortWatch("very short watch: the server ended it in under "
                                     f"{SHORT_WATCH_SECONDS:g} s with no event")
                self._delay = self.backoff_initial  # a quiet watch that ran its course
            if self.resync_seconds:
                self.on_change(self.name)  # resync: let handlers look at everything again

    def _apply(self, event: dict[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        with self.lock:
            if rv:
                self.resource_version = rv
            if kind == "BOOKMARK":
                return
            if kind == "DELETED":
                self.cache.pop(_key(obj), None)
            elif kind in ("ADDED", "MODIFIED"):
                self.cache[_key(obj)] = obj
            else:
                return
        self.on_change(self.name)


def _interrupt(response: Any) -> None:
    """Unblock a thread reading a watch response: shut its socket down (closing the
    response object from another thread does not wake a blocked read)."""
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
