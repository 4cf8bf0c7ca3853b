"""Endpoint churn: the controller follows a Service's ready endpoints as pods come and go
(scale up and down, pod deletion, scale to zero, rolling restarts). Spec: Service/
EndpointSlice semantics (only ready, non-terminating endpoints receive traffic) and the
Kubernetes docs on Deployments, pod termination and the preStop hook."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from conformance.harness import record
from conformance.harness.checks import not_served, served_by, status_is
from conformance.harness.client import HttpClient
from conformance.harness.consistency import eventually
from conformance.harness.kube import ROLLOUT, Kube
from conformance.harness.load import OpenLoop
from conformance.harness.manifests import echo_deployment, hostname, path, rule, service
from conformance.targets import TargetInfo

pytestmark = [pytest.mark.feature("endpoint_churn"), pytest.mark.level("core")]

APP = "churn"
REQUESTS = 30  # per look at which pods answer
LOAD_RATE = 50.0  # requests/s during rolling restarts
AFTER_ROLLOUT_S = 1.0  # load keeps running this long once the rollout is over
# The preStop `sleep` action (the echo image has no shell for `exec: sleep`): KEP-3960,
# alpha (off by default) in Kubernetes 1.29, beta and on by default from 1.30.
PRESTOP_SLEEP_SINCE = (1, 30)


def require_prestop_sleep(kube: Kube) -> None:
    """Skip, naming the API server's version, when it predates the preStop sleep action
    (an unknown version runs the case: the API server then says what it lacks)."""
    version, git_version = kube.server_version()
    if version is not None and version < PRESTOP_SLEEP_SINCE:
        pytest.skip(f"the API server is {git_version}: the preStop sleep action this case's "
                    "pods use is on by default only from Kubernetes 1.30 (KEP-3960; alpha, "
                    "feature gate PodLifecycleSleepAction, in 1.29)")


def setup_app(kube: Kube, http: HttpClient, namespace: str, replicas: int,
              **deployment: Any) -> str:
    """The app's Deployment, Service and Ingress, rolled out and served; its host."""
    host = hostname(namespace, APP)
    kube.apply(namespace, echo_deployment(APP, replicas, **deployment))
    kube.apply(namespace, service(APP))
    kube.ingress(namespace, APP, rule(host, path("/", APP)))
    kube.wait_rolled_out(namespace, APP, replicas)
    eventually(lambda: served_by(http, host, "/", APP, namespace=namespace),
               "the app is served")
    return host


def only_ready_pods_answer(kube: Kube, http: HttpClient, namespace: str, host: str,
                           replicas: int, *, all_of_them: bool,
                           never: frozenset[str] = frozenset()) -> Counter[str]:
    """`REQUESTS` requests: every one answered by a ready, non-terminating pod of the app
    (there are `replicas` of them), none by a pod in `never`; with `all_of_them`, every ready
    pod answered at least once."""
    ready = kube.ready_pods(namespace, APP)
    assert len(ready) == replicas, f"{len(ready)} ready pods, expected {replicas}"
    seen: Counter[str] = Counter()
    for _ in range(REQUESTS):
        resp = served_by(http, host, "/", APP, namespace=namespace)
        echo = resp.echo
        assert echo is not None
        seen[echo.pod] += 1
    stale = set(seen) - ready
    assert not stale, f"answered by pods that are gone or terminating: {sorted(stale)}"
    assert not set(seen) & never, f"answered by deleted pods: {sorted(set(seen) & never)}"
    if all_of_them:
        missing = ready - set(seen)
        assert not missing, f"ready pods that got none of {REQUESTS} requests: {sorted(missing)}"
    return seen


def test_scale_up(namespace: str, kube: Kube, http: HttpClient) -> None:
    """Scaling 1 -> 3: the new pods, once ready, receive traffic (their endpoints join the
    Service's EndpointSlices and the controller follows them)."""
    host = setup_app(kube, http, namespace, 1)
    kube.scale(namespace, APP, 3)
    kube.wait_rolled_out(namespace, APP, 3)
    eventually(lambda: only_ready_pods_answer(kube, http, namespace, host, 3, all_of_them=True),
               "all 3 pods get traffic")


def test_scale_down(namespace: str, kube: Kube, http: HttpClient) -> None:
    """Scaling 3 -> 1: once converged, no request reaches a removed (terminating or deleted)
    pod; the remaining one answers everything."""
    host = setup_app(kube, http, namespace, 3)
    before = kube.ready_pods(namespace, APP)
    kube.scale(namespace, APP, 1)
    kube.wait_rolled_out(namespace, APP, 1)
    removed = frozenset(before - kube.ready_pods(namespace, APP))
    eventually(lambda: only_ready_pods_answer(kube, http, namespace, host, 1, all_of_them=True,
                                              never=removed),
               "only the remaining pod gets traffic")


def test_deleted_pod_gets_no_traffic(namespace: str, kube: Kube, http: HttpClient) -> None:
    """Deleting a pod (its ReplicaSet replaces it): once converged, no request reaches the
    deleted pod, and the replacement gets traffic."""
    host = setup_app(kube, http, namespace, 2)
    victim = sorted(kube.ready_pods(namespace, APP))[0]
    kube.delete_pod(namespace, victim)
    eventually(lambda: only_ready_pods_answer(kube, http, namespace, host, 2, all_of_them=True,
                                              never=frozenset({victim})),
               "the deleted pod gets no traffic")


def test_scale_to_zero_and_back(namespace: str, kube: Kube, http: HttpClient) -> None:
    """Scaling to 0: no pod answers (the Service has no endpoints); back to 1: served again."""
    host = setup_app(kube, http, namespace, 1)
    kube.scale(namespace, APP, 0)
    resp = eventually(lambda: not_served(http, host, "/", namespace),
                      "no pod answers at 0 replicas")
    record.observe("status_at_zero_replicas", resp.status)
    kube.scale(namespace, APP, 1)
    kube.wait_rolled_out(namespace, APP, 1)
    eventually(lambda: only_ready_pods_answer(kube, http, namespace, host, 1, all_of_them=True),
               "served again at 1 replica")


@pytest.mark.level("extended")
def test_scale_to_zero_answers_503(namespace: str, kube: Kube, http: HttpClient) -> None:
    """A backend Service without endpoints gets 503 Service Unavailable (what ingress-nginx
    and most proxies answer, and what users' health checks expect)."""
    host = setup_app(kube, http, namespace, 1)
    kube.scale(namespace, APP, 0)
    eventually(lambda: status_is(http, host, "/", 503), "503 at 0 replicas")


def restart_under_load(kube: Kube, http: HttpClient, namespace: str, host: str) -> OpenLoop:
    """`kubectl rollout restart` with constant load, until the rollout has completed and
    every old pod is gone (so the load covers their preStop and their exit), plus
    `AFTER_ROLLOUT_S`; the finished load generator."""
    old = kube.pod_names(namespace, APP)
    load = OpenLoop(http.http_address, host, rate=LOAD_RATE, max_requests=int(LOAD_RATE * 400),
                    max_seconds=400.0).start()
    try:
        kube.rollout_restart(namespace, APP)
        kube.wait_rolled_out(namespace, APP, 2)

        def old_pods_gone() -> None:
            left = kube.pod_names(namespace, APP) & old
            assert not left, f"old pods still exist: {sorted(left)}"
        eventually(old_pods_gone, "the old pods are gone", ROLLOUT, measure=False)
        time.sleep(AFTER_ROLLOUT_S)  # how long the load lasts, not a wait for convergence
    finally:
        load.stop()
    return load


def test_rolling_restart_zero_downtime(namespace: str, kube: Kube, http: HttpClient,
                                       target: TargetInfo) -> None:
    """A rolling restart with the zero-downtime recipe (maxUnavailable 0 / maxSurge 1, a
    preStop sleep long enough for the controller to drop the endpoint, a grace period
    beyond it) loses no request under constant load: terminating pods leave the rotation
    while they still answer (Kubernetes docs: Pod termination, container hooks)."""
    require_prestop_sleep(kube)
    host = setup_app(kube, http, namespace, 2, prestop_sleep_s=target.prestop_seconds,
                     termination_grace_s=target.prestop_seconds + 10,
                     zero_downtime_strategy=True)
    result = restart_under_load(kube, http, namespace, host).result
    record.errors(result.failures)
    record.observe("outcomes", dict(result.outcomes))
    assert result.failures == 0, f"requests failed during the rolling restart: {result.summary()}"


@pytest.mark.level("implementation-specific")
def test_rolling_restart_without_prestop(namespace: str, kube: Kube, http: HttpClient) -> None:
    """The same rolling restart without a preStop sleep: pods stop at once on deletion, so
    whether requests fail depends on how fast the controller drops endpoints and whether it
    retries: recorded."""
    host = setup_app(kube, http, namespace, 2, zero_downtime_strategy=True)
    result = restart_under_load(kube, http, namespace, host).result
    record.errors(result.failures)
    record.observe("requests", result.requests)
    record.observe("outcomes", dict(result.outcomes))
