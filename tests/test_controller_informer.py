"""The reference controller's informer (official `kubernetes` client) against API-server
faults: dropped watches, 410 Expired, an outage, each followed by convergence."""

from __future__ import annotations

import threading
import time

import kubernetes
import pytest

from simulator.apiserver.app import ApiServer
from simulator.controller.informer import Informer

from .conftest import eventually


@pytest.fixture
def setup(tmp_path):
    with ApiServer() as server:
        client = kubernetes.config.new_client_from_config(
            config_file=str(server.write_kubeconfig(tmp_path / "kc")))
        core = kubernetes.client.CoreV1Api(client)
        changes = threading.Semaphore(0)
        informer = Informer("configmaps", core.list_config_map_for_all_namespaces,
                            lambda _: changes.release(), backoff_initial=0.05,
                            backoff_max=0.5)
        informer.start()
        assert informer.synced.wait(10)
        yield server, core, informer
        informer.stop()
        client.close()


def _names(informer: Informer) -> set[str]:
    return {o["metadata"]["name"] for o in informer.items()}


def test_informer_follows_changes(setup):
    _, core, informer = setup
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    eventually(lambda: "a" in _names(informer))
    core.delete_namespaced_config_map("a", "default")
    eventually(lambda: "a" not in _names(informer))


def test_informer_survives_dropped_watches(setup):
    server, core, informer = setup
    eventually(lambda: server.api.store.watcher_count() == 1)
    assert server.drop_watches() == 1
    core.create_namespaced_config_map("default", {"metadata": {"name": "after-drop"}})
    eventually(lambda: "after-drop" in _names(informer))


def test_informer_relists_on_410(setup):
    server, core, informer = setup
    eventually(lambda: server.api.store.watcher_count() == 1)
    relists = informer.relists
    server.expire_next_watches(1)
    server.drop_watches()
    core.create_namespaced_config_map("default", {"metadata": {"name": "after-410"}})
    eventually(lambda: "after-410" in _names(informer))
    assert informer.relists > relists


def test_informer_recovers_from_an_outage_without_losing_changes(setup):
    server, core, informer = setup
    core.create_namespaced_config_map("default", {"metadata": {"name": "gone-during-outage"}})
    eventually(lambda: "gone-during-outage" in _names(informer))
    server.outage(1.0)
    time.sleep(0.2)
    # Writes during the outage go straight to the store (the API itself is down).
    from simulator.apiserver.rest import DeleteOptions, WriteOptions

    cm = server.api.registry.lookup("", "v1", "configmaps")
    server.api.create(cm, "default", {"metadata": {"name": "made-during-outage"}},
                      WriteOptions("test"))
    server.api.delete(cm, "default", "gone-during-outage", DeleteOptions())
    eventually(lambda: _names(informer) >= {"made-during-outage"}
                and "gone-during-outage" not in _names(informer))
