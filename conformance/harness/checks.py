"""Assertions about one request, for use inside `eventually` (they raise AssertionError with
a message saying what was sent and what came back)."""

from __future__ import annotations

from typing import Any

from .client import HttpClient, Response


def served_by(http: HttpClient, host: str, path: str, service: str, *,
              namespace: str | None = None, method: str = "GET", **kwargs: Any) -> Response:
    """The request reached a pod of `service` (in `namespace`, when given) with its path
    unchanged and answered 2xx."""
    resp = http.request(host, path, method, **kwargs)
    where = f"{method} {path} Host: {host}"
    echo = resp.echo
    assert echo is not None and 200 <= resp.status < 300, (
        f"{where}: expected an answer from {service}, got {resp.summary()}")
    assert echo.service == service, f"{where}: expected {service}, got {resp.summary()}"
    if namespace is not None:
        assert echo.namespace == namespace, f"{where}: answered from {echo.namespace}"
    # echo-basic reports Go's r.RequestURI: the path and query exactly as received.
    assert echo.path == path, f"{where}: the backend saw {echo.path!r}, not {path!r}"
    assert echo.method == method, f"{where}: the backend saw method {echo.method}"
    return resp


def not_served(http: HttpClient, host: str, path: str, namespace: str,
               **kwargs: Any) -> Response:
    """No backend of `namespace` answered (whatever else did: an error page, another
    controller's default backend)."""
    resp = http.request(host, path, **kwargs)
    echo = resp.echo
    assert echo is None or echo.namespace != namespace, (
        f"GET {path} Host: {host}: expected no route, got {resp.summary()}")
    return resp


def status_is(http: HttpClient, host: str, path: str, status: int,
              **kwargs: Any) -> Response:
    resp = http.request(host, path, **kwargs)
    assert resp.status == status, (
        f"GET {path} Host: {host}: expected status {status}, got {resp.summary()}")
    return resp
