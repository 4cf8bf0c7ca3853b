"""`python -m simulator apiserver`: kubeconfig, ready file, clean stop, persistence."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import kubernetes
import pytest


def _start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, dict]:
    ready = tmp_path / "ready.json"
    ready.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "apiserver", "--kubeconfig",
                             str(tmp_path / "kubeconfig"), "--ready-file", str(ready), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"apiserver did not become ready: {out}\n{err}")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    proc.send_signal(sig)
    return proc.wait(timeout=20)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_writes_kubeconfig_and_stops_cleanly(tmp_path, sig):
    proc, ready = _start(tmp_path)
    assert ready["kubeconfig"] == str(tmp_path / "kubeconfig")
    assert ready["apiserver"].startswith("http://127.0.0.1:")
    client = kubernetes.config.new_client_from_config(config_file=ready["kubeconfig"])
    names = [n.metadata.name for n in kubernetes.client.CoreV1Api(client).list_namespace().items]
    client.close()
    assert {"default", "kube-system"} <= set(names)
    assert _stop(proc, sig) == 0


def test_state_file_restores_objects(tmp_path):
    state = tmp_path / "state.json"
    proc, ready = _start(tmp_path, "--state", str(state))
    client = kubernetes.config.new_client_from_config(config_file=ready["kubeconfig"])
    core = kubernetes.client.CoreV1Api(client)
    created = core.create_namespaced_config_map("default", {"metadata": {"name": "kept"},
                                                            "data": {"a": "1"}})
    client.close()
    assert _stop(proc) == 0
    assert state.exists()

    proc, ready = _start(tmp_path, "--state", str(state))
    client = kubernetes.config.new_client_from_config(config_file=ready["kubeconfig"])
    core = kubernetes.client.CoreV1Api(client)
    kept = core.read_namespaced_config_map("kept", "default")
    assert kept.data == {"a": "1"}
    assert kept.metadata.uid == created.metadata.uid
    fresh = core.create_namespaced_config_map("default", {"metadata": {"name": "new"}})
    assert int(fresh.metadata.resource_version) > int(created.metadata.resource_version)
    client.close()
    assert _stop(proc) == 0


def test_port_in_use_is_a_clear_error(tmp_path):
    proc, ready = _start(tmp_path)
    port = ready["apiserver"].rsplit(":", 1)[1]
    other = subprocess.run([sys.executable, "-m", "simulator", "apiserver", "--kubeconfig",
                            str(tmp_path / "other"), "--port", port],
                           capture_output=True, text=True, timeout=30)
    _stop(proc)
    assert other.returncode == 1
    assert "cannot start the API server" in other.stderr
    assert "Traceback" not in other.stderr


def test_up_serves_everything_and_stops_cleanly(tmp_path):
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "up", "--kubeconfig",
                             str(tmp_path / "kubeconfig"), "--ready-file", str(ready)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"simulator up did not become ready: {out}\n{err}")
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    assert set(info) == {"apiserver", "http", "https", "kubeconfig", "ingress_class"}
    assert info["ingress_class"] == "reference"
    client = kubernetes.config.new_client_from_config(config_file=info["kubeconfig"])
    classes = kubernetes.client.NetworkingV1Api(client).list_ingress_class().items
    client.close()
    assert [c.metadata.name for c in classes] == ["reference"]
    import http.client

    host, port = info["http"].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/", headers={"Host": "nothing.example.com"})
    assert conn.getresponse().status == 404  # no Ingress yet: a well-formed 404
    conn.close()
    assert _stop(proc) == 0
    out = proc.stdout.read()  # type: ignore[union-attr]
    assert "kubectl --kubeconfig" in out and "curl -H 'Host: app1.example.com'" in out


@pytest.mark.parametrize("plane", ["nginx", "haproxy"])
def test_up_says_how_to_install_a_missing_proxy(tmp_path, plane):
    missing = str(tmp_path / f"no-{plane}")
    proc = subprocess.run([sys.executable, "-m", "simulator", "up", "--kubeconfig",
                           str(tmp_path / "kc"), "--data-plane", plane,
                           f"--{plane}-bin", missing],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"--data-plane {plane}: {missing!r} is not an executable" in proc.stderr
    assert f"apt-get install -y {'nginx-light' if plane == 'nginx' else 'haproxy'}" \
        in proc.stderr
    assert "Traceback" not in proc.stderr


def test_up_refuses_https_redirect_with_a_real_data_plane(tmp_path):
    """The redirect exists only in the builtin proxy: asking a real one for it is a clear
    usage error, not plain HTTP served against the user's wish."""
    proc = subprocess.run([sys.executable, "-m", "simulator", "up", "--kubeconfig",
                           str(tmp_path / "kc"), "--data-plane", "nginx", "--https-redirect"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--data-plane nginx: https_redirect is not supported" in proc.stderr
    assert "Traceback" not in proc.stderr
