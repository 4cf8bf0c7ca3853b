"""A readers-writer lock across the suite's parallel workers, for the one kind of case that
cannot be isolated by namespace and host name: a catch-all (an Ingress whose defaultBackend
receives every request nothing else matches). While one is in place, every "nothing matches
-> 404" answer in the cluster changes, so

- cases that create a catch-all hold the lock exclusively, and remove the catch-all (and
  wait until it no longer answers) before releasing it;
- cases that assert what an unmatched request gets hold it shared.

An flock(2) on a file the controller process creates; xdist workers get its path."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator


@contextlib.contextmanager
def locked(path: str, exclusive: bool) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
