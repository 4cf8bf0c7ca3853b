"""An open-loop HTTP load generator: requests start on a fixed schedule (`rate` per second)
whether or not earlier ones have answered, so a slow or stuck backend cannot slow the load
down and hide failures, as a closed loop would. Bounded in count and in time."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

REQUEST_TIMEOUT = 5.0  # a request slower than this counts as failed


@dataclass
class LoadResult:
    """What the load generator saw."""

    requests: int = 0
    failures: int = 0
    duration: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)  # "200", "503", "ConnectionError"

    def summary(self) -> str:
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(self.outcomes.items()))
        return (f"requests={self.requests} failures={self.failures} "
                f"duration={self.duration:.1f}s ({kinds})")


class OpenLoop:
    """GET `path` with `Host: host` at `address`, `rate` requests/s, a new connection each
    (as many clients do), until `stop()`, `max_requests` or `max_seconds`."""

    def __init__(self, address: tuple[str, int], host: str, rate: float = 100.0,
                 max_requests: int = 6000, max_seconds: float = 60.0, path: str = "/") -> None:
        self.address = address
        self.host = host
        self.rate = rate
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.path = path
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="open-loop", daemon=True)

    def start(self) -> OpenLoop:
        self._thread.start()
        return self

    def stop(self) -> LoadResult:
        """Stop issuing requests, wait for those in flight, return the figures."""
        self._stop.set()
        self._thread.join(self.max_seconds + REQUEST_TIMEOUT + 5)
        return self.result

    def _one(self) -> None:
        conn = http.client.HTTPConnection(*self.address, timeout=REQUEST_TIMEOUT)
        try:
            conn.request("GET", self.path, headers={"Host": self.host, "Connection": "close"})
            resp = conn.getresponse()
            resp.read()
            outcome, ok = str(resp.status), 200 <= resp.status < 300
        except (OSError, http.client.HTTPException) as exc:
            outcome, ok = type(exc).__name__, False
        finally:
            conn.close()
        with self._lock:
            self.result.outcomes[outcome] += 1
            self.result.failures += 0 if ok else 1

    def _run(self) -> None:
        # Enough workers for every request that can be in flight at once at this rate.
        workers = int(self.rate * REQUEST_TIMEOUT) + 1
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=min(workers, 200)) as pool:
            sent = 0
            while sent < self.max_requests and not self._stop.is_set():
                due = started + sent / self.rate
                now = time.monotonic()
                if now - started > self.max_seconds:
                    break
                if due > now:
                    self._stop.wait(due - now)
                    continue
                pool.submit(self._one)
                sent += 1
        self.result.requests = sent
        self.result.duration = time.monotonic() - started
