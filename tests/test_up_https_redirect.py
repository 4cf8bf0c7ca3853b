"""`simulator up`'s HTTP -> HTTPS redirect option: the whole simulator (as `up` builds it,
from SimulatorOptions), an Ingress with a TLS section created through the `kubernetes`
client, and real requests over plain HTTP that are redirected (308, same host and target,
the HTTPS listener's port) when the option is on and served when it is off (the default)."""

from __future__ import annotations

import http.client
import ssl
from pathlib import Path

import pytest
import trustme

from simulator.up import SimulatorOptions, make_data_plane

from .conftest import eventually
from .e2e_helpers import (
    TIMEOUT,
    Env,
    create_app,
    create_ingress,
    create_tls_secret,
    fresh_namespace,
    https_get,
    rule,
    running_simulator,
    unique,
)


def plain_get(env: Env, host: str, path: str) -> tuple[int, str | None]:
    """GET over plain HTTP: the status and the Location header."""
    conn = http.client.HTTPConnection(*env.http_address, timeout=TIMEOUT)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Location")
    finally:
        conn.close()


def serves_https(env: Env, host: str, ca: trustme.CA) -> bool:
    """Whether `host` answers 200 over TLS with its own certificate (until the controller has
    loaded it, the default certificate fails verification)."""
    try:
        return https_get(env, host, ca=ca).status == 200
    except ssl.SSLError:
        return False


@pytest.mark.parametrize("redirect", [True, False], ids=["on", "off"])
def test_up_https_redirect(redirect: bool, tmp_path: Path) -> None:
    options = SimulatorOptions(https_redirect=True) if redirect else SimulatorOptions()
    ca = trustme.CA()
    with running_simulator(tmp_path, options) as env, fresh_namespace(env) as ns:
        secure, plain = unique("secure") + ".example.com", unique("plain") + ".example.com"
        create_app(env, ns, "app")
        create_tls_secret(env, ns, "secure-tls", ca.issue_cert(secure))
        create_ingress(env, ns, "web", [rule(secure, "app"), rule(plain, "app")],
                       tls=[{"hosts": [secure], "secretName": "secure-tls"}])
        # Both hosts are served once the controller has caught up (TLS over HTTPS).
        eventually(lambda: serves_https(env, secure, ca), what="https route")
        eventually(lambda: plain_get(env, plain, "/")[0] == 200, what="plain route")

        status, location = plain_get(env, secure, "/some/path?q=1")
        if redirect:
            assert status == 308
            assert location == f"https://{secure}:{env.https_address[1]}/some/path?q=1"
        else:
            assert (status, location) == (200, None)
        # A host without a certificate is served over plain HTTP either way.
        assert plain_get(env, plain, "/x") == (200, None)


@pytest.mark.parametrize("data_plane", ["nginx", "haproxy"])
def test_https_redirect_is_refused_by_real_data_planes(data_plane: str) -> None:
    # Their renderers have no redirect: refusing beats silently serving plain HTTP.
    with pytest.raises(ValueError, match="https_redirect"):
        make_data_plane(SimulatorOptions(data_plane=data_plane, https_redirect=True))
