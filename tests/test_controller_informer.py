"""The reference controller's informer (official `kubernetes` client) against API-server
faults: dropped watches, 410 Expired, an outage, each followed by convergence."""

from __future__ import annotations

import random
import threading
import time

import kubernetes
import pytest

from simulator.apiserver.app import ApiServer
from simulator.controller.informer import Informer, jittered

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


def test_bookmarks_advance_the_resource_version_without_touching_the_cache(tmp_path):
    with ApiServer() as server:
        server.handler.bookmark_interval = 0.2
        client = kubernetes.config.new_client_from_config(
            config_file=str(server.write_kubeconfig(tmp_path / "kc")))
        core = kubernetes.client.CoreV1Api(client)
        core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
        changes: list[str] = []
        informer = Informer("configmaps", core.list_config_map_for_all_namespaces,
                            changes.append)
        informer.start()
        try:
            assert informer.synced.wait(10)
            listed_rv, calls = int(informer.resource_version), len(changes)
            # Other collections move the store's resourceVersion; only a bookmark can tell
            # the configmaps watch about it.
            secret = core.create_namespaced_secret("default", {"metadata": {"name": "s"}})
            eventually(lambda: int(informer.resource_version) >=
                       int(secret.metadata.resource_version))
            assert int(informer.resource_version) > listed_rv
            assert len(changes) == calls and _names(informer) == {"a"}
            assert informer.relists == 0
        finally:
            informer.stop()
            client.close()


class _Response:
    """What the `kubernetes` client returns with `_preload_content=False`, for a list whose
    body is `data` or a watch whose stream has `lines`."""

    def __init__(self, data: bytes = b"", lines: tuple[bytes, ...] = ()) -> None:
        self.data = data
        self._lines = lines

    def stream(self, *_args, **_kwargs):
        yield from self._lines

    def release_conn(self) -> None:
        pass


def test_failed_lists_back_off_exponentially_with_jitter_up_to_the_cap():
    calls: list[float] = []

    def refuse(**_kwargs):
        calls.append(time.monotonic())
        raise ConnectionRefusedError("connection refused")

    informer = Informer("things", refuse, lambda _: None, backoff_initial=0.02,
                        backoff_max=0.16, rng=random.Random(7))
    informer.start()
    try:
        eventually(lambda: len(calls) >= 8, timeout=10)
    finally:
        informer.stop()
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    nominal = [min(0.02 * 2 ** i, 0.16) for i in range(len(gaps))]
    rng = random.Random(7)
    for gap, base in zip(gaps[:7], nominal, strict=False):
        # the wait is the jittered delay (50%-150% of the nominal one), plus scheduling
        assert gap >= jittered(base, rng) - 0.005, (gaps, nominal)
        assert gap <= base * 1.5 + 0.5, (gaps, nominal)
    assert informer.relists >= 7


def test_jitter_spreads_delays_between_half_and_one_and_a_half_times():
    rng = random.Random(1)
    delays = [jittered(1.0, rng) for _ in range(1000)]
    assert 0.5 <= min(delays) < 0.6 and 1.4 < max(delays) < 1.5


def test_a_watch_the_server_ends_at_once_is_backed_off_not_spun():
    watches: list[float] = []

    def list_func(watch: bool = False, **_kwargs):
        if not watch:
            return _Response(b'{"metadata": {"resourceVersion": "5"}, "items": []}')
        watches.append(time.monotonic())
        return _Response()  # ends at once, no event

    informer = Informer("things", list_func, lambda _: None, backoff_initial=0.1,
                        backoff_max=0.4, rng=random.Random(3))
    informer.start()
    try:
        time.sleep(1.5)
    finally:
        informer.stop()
    # Without the rule this loops thousands of times; backed off (0.05-0.15 s, then doubling)
    # it is a handful.
    assert 2 <= len(watches) <= 10, len(watches)
    assert informer.relists >= 2


def test_resync_hands_every_object_to_the_handler_again(tmp_path):
    with ApiServer() as server:
        client = kubernetes.config.new_client_from_config(
            config_file=str(server.write_kubeconfig(tmp_path / "kc")))
        core = kubernetes.client.CoreV1Api(client)
        changes: list[float] = []
        informer = Informer("configmaps", core.list_config_map_for_all_namespaces,
                            lambda _: changes.append(time.monotonic()), resync_seconds=1)
        informer.start()
        try:
            assert informer.synced.wait(10)
            start = len(changes)
            eventually(lambda: len(changes) >= start + 2, timeout=10)  # no write at all
            assert informer.relists == 0
        finally:
            informer.stop()
            client.close()
