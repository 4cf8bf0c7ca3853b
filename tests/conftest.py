"""Shared fixtures: one API server per test process, real clients against it."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import kubernetes
import pytest

from simulator.apiserver.app import ApiServer

T = TypeVar("T")
KUBECTL_DIR = Path("/usr/lib/google-cloud-sdk/bin")


@pytest.fixture(scope="session")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = ApiServer().start()
    server.kubeconfig_path = server.write_kubeconfig(  # type: ignore[attr-defined]
        tmp_path_factory.mktemp("kube") / "kubeconfig")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kubeconfig(apiserver: ApiServer) -> Path:
    return apiserver.kubeconfig_path  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def api_client(kubeconfig: Path) -> Iterator[kubernetes.client.ApiClient]:
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    yield client
    client.close()


@pytest.fixture
def core(api_client: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: kubernetes.client.ApiClient) -> kubernetes.client.AppsV1Api:
    return kubernetes.client.AppsV1Api(api_client)


@pytest.fixture
def networking(api_client: kubernetes.client.ApiClient) -> kubernetes.client.NetworkingV1Api:
    return kubernetes.client.NetworkingV1Api(api_client)


@pytest.fixture
def namespace(core: kubernetes.client.CoreV1Api) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        core.delete_namespace(name)
    except kubernetes.client.ApiException as exc:
        if exc.status != 404:
            raise


def kubectl_binaries() -> list[str]:
    """Every kubectl version on this machine (the gcloud dispatcher ships several)."""
    found = sorted(str(p) for p in KUBECTL_DIR.glob("kubectl.1.*")) if KUBECTL_DIR.is_dir() else []
    if not found and shutil.which("kubectl"):
        found = [shutil.which("kubectl")]  # type: ignore[list-item]
    return found


def ingress_body(name: str, host: str = "app.example.com", service: str = "app",
                 port: int = 80, **extra: object) -> dict:
    body: dict = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, **extra.pop("metadata", {})},  # type: ignore[dict-item]
        "spec": {"rules": [{"host": host, "http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": service, "port": {"number": port}}}}]}}]},
    }
    body.update(extra)
    return body


def eventually(check: Callable[[], T], timeout: float = 20.0, interval: float = 0.02,
               what: str = "condition") -> T:
    """Poll `check` until it returns something truthy (and return that); fail at the deadline
    with the last value seen. An ApiException counts as "not yet" (the object may not exist
    yet). The deadline only guards against hangs: nothing here measures speed."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except kubernetes.client.ApiException as exc:
            last = exc
        else:
            if last:
                return last  # type: ignore[return-value]
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; "
                         f"last value: {last!r}")
