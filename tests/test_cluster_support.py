"""Fixtures and helpers for the simulated cluster's tests (no tests here).

Each test module gets its own API server and cluster, so the kubelet never claims pods that
other test modules leave in the shared session server.
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import kubernetes
import pytest

from simulator.apiserver.app import ApiServer
from simulator.cluster import Cluster, ClusterThread

from .conftest import eventually

SEED = Path(__file__).resolve().parent.parent / "fixtures" / "examples" / "seed"
KUBECTL_CANDIDATES = ("/usr/lib/google-cloud-sdk/bin/kubectl.1.33",)
DEADLINE = 60.0  # generous: only there to turn a hang into a failure

T = TypeVar("T")


def kubectl_binary() -> str | None:
    for candidate in KUBECTL_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("kubectl")


def wait_for(fn: Callable[[], T], timeout: float = DEADLINE, interval: float = 0.05,
             what: str = "condition") -> T:
    """conftest's `eventually`, with this module's longer default deadline."""
    return eventually(fn, timeout, interval, what)


def http_get(ip: str, port: int, path: str = "/", timeout: float = 5.0) -> tuple[int, str]:
    """One GET over a real socket to a pod's address."""
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


# ---- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sim_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = ApiServer().start()
    server.kubeconfig_path = server.write_kubeconfig(  # type: ignore[attr-defined]
        tmp_path_factory.mktemp("simkube") / "kubeconfig")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sim_cluster(sim_server: ApiServer) -> Iterator[ClusterThread]:
    handle = Cluster(sim_server.url, seed=42).run_in_thread()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def api_client(sim_server: ApiServer, sim_cluster: ClusterThread
               ) -> Iterator[kubernetes.client.ApiClient]:
    """Overrides conftest's session client: this module's own API server, with a cluster
    attached (conftest's `core`, `apps` and `namespace` fixtures then use it)."""
    client = kubernetes.config.new_client_from_config(
        config_file=str(sim_server.kubeconfig_path))  # type: ignore[attr-defined]
    yield client
    client.close()


@pytest.fixture(scope="module")
def sim_client(api_client: kubernetes.client.ApiClient) -> kubernetes.client.ApiClient:
    return api_client


@pytest.fixture
def discovery(api_client: kubernetes.client.ApiClient) -> kubernetes.client.DiscoveryV1Api:
    return kubernetes.client.DiscoveryV1Api(api_client)


@pytest.fixture
def ns(namespace: str) -> str:
    """conftest's per-test namespace, under the name the cluster tests use."""
    return namespace


@pytest.fixture
def kubectl(sim_server: ApiServer, ns: str) -> Callable[..., subprocess.CompletedProcess]:
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl is not installed on this machine")

    def run(*args: str, check: bool = True, timeout: float = DEADLINE
            ) -> subprocess.CompletedProcess:
        cmd = [binary, "--kubeconfig", str(sim_server.kubeconfig_path),  # type: ignore
               "-n", ns, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    return run


# ---- objects ---------------------------------------------------------------------------------

def deployment(name: str, replicas: int = 2, *, image: str = "nginxdemos/hello:plain-text",
               strategy: dict | None = None, pod_spec: dict | None = None,
               container: dict | None = None, **spec: Any) -> dict:
    """A Deployment like the seed's, with overrides."""
    ctr = {"name": name, "image": image, "ports": [{"containerPort": 80}], **(container or {})}
    body: dict = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [ctr], **(pod_spec or {})}},
                 **spec},
    }
    if strategy is not None:
        body["spec"]["strategy"] = strategy
    return body


def service(name: str, app: str, target_port: int | str = 80) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": app},
                     "ports": [{"port": 80, "targetPort": target_port, "protocol": "TCP"}]}}


def slices_of(discovery: kubernetes.client.DiscoveryV1Api, ns: str, svc: str) -> list:
    return discovery.list_namespaced_endpoint_slice(
        ns, label_selector=f"kubernetes.io/service-name={svc}").items


def endpoints_of(discovery: kubernetes.client.DiscoveryV1Api, ns: str, svc: str
                 ) -> dict[str, tuple[str, int, Any]]:
    """pod name -> (address, port, conditions) across the Service's slices."""
    out = {}
    for s in slices_of(discovery, ns, svc):
        port = s.ports[0].port if s.ports else None
        for ep in s.endpoints or []:
            out[ep.target_ref.name] = (ep.addresses[0], port, ep.conditions)
    return out


def ready_deployment(apps: kubernetes.client.AppsV1Api, ns: str, name: str,
                     replicas: int) -> Any:
    """Wait until the Deployment has `replicas` updated, available replicas."""
    def done() -> Any:
        d = apps.read_namespaced_deployment(name, ns)
        st = d.status
        ok = (st.observed_generation == d.metadata.generation and
              st.updated_replicas == replicas and st.available_replicas == replicas and
              st.replicas == replicas)
        return d if ok else None
    return wait_for(done, what=f"deployment {name} available with {replicas} replicas")


class SliceWatcher:
    """Follows a Service's EndpointSlices on a thread; records ready counts per change."""

    def __init__(self, client: kubernetes.client.ApiClient, ns: str, svc: str) -> None:
        self.api = kubernetes.client.DiscoveryV1Api(client)
        self.ns = ns
        self.svc = svc
        self.slices: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []  # pod name -> conditions, after each event
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SliceWatcher:
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        listed = self.api.list_namespaced_endpoint_slice(
            self.ns, label_selector=f"kubernetes.io/service-name={self.svc}")
        for s in listed.items:
            self.slices[s.metadata.name] = s
        self._record()
        rv = listed.metadata.resource_version
        self._started.set()
        w = kubernetes.watch.Watch()
        while not self._stop.is_set():
            for event in w.stream(self.api.list_namespaced_endpoint_slice, self.ns,
                                  label_selector=f"kubernetes.io/service-name={self.svc}",
                                  resource_version=rv, timeout_seconds=1):
                obj = event["object"]
                rv = obj.metadata.resource_version
                if event["type"] == "DELETED":
                    self.slices.pop(obj.metadata.name, None)
                else:
                    self.slices[obj.metadata.name] = obj
                self._record()
                if self._stop.is_set():
                    break

    def _record(self) -> None:
        state = {}
        for s in self.slices.values():
            for ep in s.endpoints or []:
                state[ep.target_ref.name] = ep.conditions
        self.history.append(state)

    def current(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}
