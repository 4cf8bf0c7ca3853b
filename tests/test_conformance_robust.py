"""The suite against clusters that are not fresh, not complete or not well: what a killed run
left behind (swept at target start), a pre-existing catch-all (named in a warning), no HTTPS
entry (TLS cases skipped), an unreachable or misbehaving API server, an API server too old
for the preStop sleep action, a controller that routes but publishes no status; and the
per-case timeout `python -m conformance run` sets. Real API servers throughout (the
simulator's, alone or with its cluster), the suite in a child process as users run it."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import urllib3
from kubernetes.client import ApiException

from conformance.__main__ import MIN_CASE_TIMEOUT_S, timeout_args
from conformance.harness import leftovers, record
from conformance.harness.consistency import NotConsistent, Settings, eventually, holds
from conformance.harness.kube import SUITE_LABEL, Kube, parse_server_version
from conformance.harness.manifests import (
    LEGACY_CLASS_ANNOTATION,
    backend,
    ingress,
    path,
    rule,
)
from conformance.targets import TargetError, TargetOptions
from conformance.targets.kubeconfig import KubeconfigTarget
from simulator.apiserver import server as apiserver_module
from simulator.apiserver.app import ApiServer
from simulator.up import SimulatorThread

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "conformance" / "cases"
RUN_TIMEOUT_S = 240
FAST = Settings(poll_s=0.01, successes=2, timeout_s=5.0)
CLASS = "robust"
OTHER_CONTROLLER = "example.com/robust-tests"


# ---- helpers -----------------------------------------------------------------------------


def run_suite(cwd: Path, *args: str) -> tuple[int, str, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "-p", "no:xdist", "-q",
         "--report-dir", str(cwd / "reports"), *args],
        cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    report_file = cwd / "reports" / "latest" / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    return proc.returncode, proc.stdout + proc.stderr, report


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["outcome"] for c in report.get("cases", [])}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_kubeconfig(path: Path, server: str) -> Path:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    return path


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, Path]]:
    """An API server of its own (the sweep deletes every labelled namespace in it), with an
    IngressClass `robust` that is not the default."""
    server = ApiServer().start()
    kubeconfig = server.write_kubeconfig(tmp_path_factory.mktemp("robust") / "kubeconfig")
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    kubernetes.client.NetworkingV1Api(client).create_ingress_class(
        {"metadata": {"name": CLASS}, "spec": {"controller": OTHER_CONTROLLER}})
    client.close()
    yield server, kubeconfig
    server.stop()


@pytest.fixture
def api(alone: tuple[ApiServer, Path]) -> Iterator[kubernetes.client.ApiClient]:
    client = kubernetes.config.new_client_from_config(config_file=str(alone[1]))
    yield client
    client.close()


def start_target(kubeconfig: Path, messages: list[str], **options: Any) -> Any:
    opts = TargetOptions(kubeconfig=str(kubeconfig), http_address="127.0.0.1:9",
                         ingress_class=CLASS, **options)
    return KubeconfigTarget(opts).start(messages.append)


def leftover_namespace(core: kubernetes.client.CoreV1Api, case: str = "default_backend",
                       **metadata: Any) -> str:
    """A namespace as the suite labels its own (what a killed run leaves)."""
    name = f"conf-{case.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name, "labels": {SUITE_LABEL: case},
                                        **metadata}})
    return name


def user_namespace(core: kubernetes.client.CoreV1Api) -> str:
    name = f"users-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    return name


def exists(read: Any, *args: str) -> bool:
    try:
        read(*args)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


# ---- 1. what earlier runs left, and catch-alls the suite did not create --------------------


def test_start_deletes_what_earlier_runs_left(alone: tuple[ApiServer, Path],
                                              api: kubernetes.client.ApiClient) -> None:
    core, net = kubernetes.client.CoreV1Api(api), kubernetes.client.NetworkingV1Api(api)
    left = leftover_namespace(core)
    net.create_namespaced_ingress(left, ingress("only-default", target_class=CLASS,
                                                default_backend=backend("fallback")))
    other_class = f"conformance-other-controller-{uuid.uuid4().hex[:8]}"
    Kube(api, CLASS).create_ingress_class(other_class, OTHER_CONTROLLER, "ingress_class")
    users = user_namespace(core)
    messages: list[str] = []

    info = start_target(alone[1], messages)

    assert info.ingress_class == CLASS
    assert not exists(core.read_namespace, left), messages
    assert not exists(net.read_ingress_class, other_class), messages
    assert exists(core.read_namespace, users)  # only the suite's own
    assert exists(net.read_ingress_class, CLASS)
    text = "\n".join(messages)
    assert f"deleting 1 namespace(s) left by earlier runs (label {SUITE_LABEL}): {left}" in text
    assert f"deleted IngressClass {other_class}, left by an earlier run" in text
    assert "the namespaces of earlier runs are gone" in text
    assert "WARNING" not in text  # the catch-all went with its namespace


def test_the_wait_for_leftovers_is_bounded(alone: tuple[ApiServer, Path],
                                           api: kubernetes.client.ApiClient) -> None:
    """A namespace held by a finalizer: the sweep gives up after its timeout, says which
    namespaces are left, and a catch-all inside one is named as an earlier run's."""
    core, net = kubernetes.client.CoreV1Api(api), kubernetes.client.NetworkingV1Api(api)
    stuck = leftover_namespace(core)
    hold = ["example.com/hold"]
    core.create_namespaced_config_map(stuck, {"metadata": {"name": "held",
                                                           "finalizers": hold}})
    body = ingress("only-default", target_class=CLASS, default_backend=backend("fallback"))
    body["metadata"]["finalizers"] = hold
    net.create_namespaced_ingress(stuck, body)
    messages: list[str] = []
    try:
        started = time.monotonic()
        left = leftovers.sweep(api, messages.append, timeout_s=1.0, poll_s=0.05)
        assert time.monotonic() - started < 10
        assert left == [stuck]
        assert core.read_namespace(stuck).status.phase == "Terminating"
        assert any(m.startswith("WARNING: 1 namespace(s) of earlier runs still terminating "
                                f"after 1s: {stuck}") for m in messages), messages
        found = leftovers.prepare_cluster(api, CLASS, False, messages.append, timeout_s=0.5)
        assert [(c.namespace, c.name, c.leftover) for c in found] == [
            (stuck, "only-default", True)]
        assert any(f"Ingress {stuck}/only-default of class {CLASS}" in m
                   and "left by an earlier run" in m for m in messages), messages
    finally:
        core.patch_namespaced_config_map("held", stuck, {"metadata": {"finalizers": None}})
        net.patch_namespaced_ingress("only-default", stuck, {"metadata": {"finalizers": None}})

    def gone() -> None:
        assert not exists(core.read_namespace, stuck), "still there"
    eventually(gone, "the held namespace goes", FAST, measure=False)


def test_start_warns_about_catch_alls_it_did_not_create(alone: tuple[ApiServer, Path],
                                                        api: kubernetes.client.ApiClient,
                                                        ) -> None:
    core, net = kubernetes.client.CoreV1Api(api), kubernetes.client.NetworkingV1Api(api)
    ns = user_namespace(core)
    fallback = backend("fallback")
    catch_alls = {
        "only-default": ingress("only-default", target_class=CLASS, default_backend=fallback),
        "beside-rules": ingress("beside-rules", rule("a.example.test", path("/", "app")),
                                target_class=CLASS, default_backend=fallback),
        "hostless-root": ingress("hostless-root", rule(None, path("/", "app")),
                                 target_class=CLASS),
        "legacy": ingress("legacy", ingress_class=None, default_backend=fallback,
                          annotations={LEGACY_CLASS_ANNOTATION: CLASS}),
    }
    harmless = [
        ingress("other-class", ingress_class="someone-else", default_backend=fallback),
        ingress("with-host", rule("b.example.test", path("/", "app")), target_class=CLASS),
        ingress("hostless-exact", rule(None, path("/", "app", "Exact")), target_class=CLASS),
        ingress("hostless-foo", rule(None, path("/foo", "app")), target_class=CLASS),
    ]
    for body in [*catch_alls.values(), *harmless]:
        net.create_namespaced_ingress(ns, body)
    messages: list[str] = []
    try:
        start_target(alone[1], messages)
    finally:
        core.delete_namespace(ns)
    warnings = [m for m in messages if m.startswith("WARNING")]
    assert len(warnings) == len(catch_alls), messages
    why = {"only-default": "(spec.defaultBackend and no rules)",
           "beside-rules": "(spec.defaultBackend)", "legacy": "(spec.defaultBackend and no rules)",
           "hostless-root": "(a rule without a host for path / (Prefix))"}
    for name in catch_alls:
        assert any(f"Ingress {ns}/{name} of class {CLASS} catches every unmatched request "
                   f"{why[name]}, not created by the suite" in w and "404" in w
                   for w in warnings), (name, warnings)


def test_of_class_follows_the_name_then_the_annotation_then_the_default() -> None:
    def ing(class_name: str | None = None, annotation: str | None = None) -> Any:
        return kubernetes.client.V1Ingress(
            metadata=kubernetes.client.V1ObjectMeta(
                name="x", annotations={LEGACY_CLASS_ANNOTATION: annotation}
                if annotation else None),
            spec=kubernetes.client.V1IngressSpec(ingress_class_name=class_name))
    assert leftovers.of_class(ing("a"), "a", False)
    assert not leftovers.of_class(ing("b", annotation="a"), "a", True)
    assert leftovers.of_class(ing(annotation="a"), "a", False)
    assert leftovers.of_class(ing(), "a", True)
    assert not leftovers.of_class(ing(), "a", False)


def test_cluster_scoped_objects_of_the_cases_carry_the_suite_label(
        api: kubernetes.client.ApiClient) -> None:
    name = f"conformance-other-controller-{uuid.uuid4().hex[:8]}"
    kube = Kube(api, CLASS)
    kube.create_ingress_class(name, OTHER_CONTROLLER, "ingress_class")
    try:
        assert kube.net.read_ingress_class(name).metadata.labels == {
            SUITE_LABEL: "ingress_class"}
    finally:
        kube.net.delete_ingress_class(name)
    # ... and the cases create them only that way.
    direct = [p.name for p in CASES.glob("*.py") if "net.create_ingress_class" in p.read_text()]
    assert direct == []


# ---- the suite against the simulator's cluster, through --target kubeconfig ----------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimulatorThread, Path]]:
    """The simulator (API server, cluster, reference controller and proxy) and a kubeconfig
    for it; the suite reaches it as it would any cluster."""
    with SimulatorThread() as thread:
        path = tmp_path_factory.mktemp("cluster") / "kubeconfig"
        thread.simulator.apiserver.write_kubeconfig(path)
        yield thread, path


def kubeconfig_args(thread: SimulatorThread, kubeconfig: Path, *, https: bool = True,
                    ) -> list[str]:
    ready = thread.simulator.ready_info(kubeconfig)
    args = ["--target", "kubeconfig", "--kubeconfig", str(kubeconfig), "--http-address",
            ready["http"], "--ingress-class", ready["ingress_class"]]
    return args + (["--https-address", ready["https"]] if https else [])


def test_a_killed_runs_catch_all_does_not_fail_the_next_run(
        tmp_path: Path, cluster: tuple[SimulatorThread, Path]) -> None:
    thread, kubeconfig = cluster
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    try:
        core = kubernetes.client.CoreV1Api(client)
        left = leftover_namespace(core)
        # The catch-all of a default_backend case, its Service gone already: 503 for every
        # unmatched request while it exists.
        kubernetes.client.NetworkingV1Api(client).create_namespaced_ingress(
            left, ingress("only-default", target_class="reference",
                          default_backend=backend("fallback")))
        code, output, report = run_suite(
            tmp_path, *kubeconfig_args(thread, kubeconfig), "--consistency-timeout", "3",
            "-k", "test_unknown_host_answered_404 or test_no_match_without_default_backend")
        assert not exists(core.read_namespace, left)
    finally:
        client.close()
    assert code == 0, output
    assert f"deleting 1 namespace(s) left by earlier runs (label {SUITE_LABEL}): {left}" \
        in output
    assert set(outcomes(report).values()) == {"passed"}, report.get("cases")
    assert len(outcomes(report)) == 2


# ---- 2. no HTTPS entry ------------------------------------------------------------------------


def test_without_an_https_address_the_tls_cases_are_skipped(
        tmp_path: Path, cluster: tuple[SimulatorThread, Path]) -> None:
    thread, kubeconfig = cluster
    code, output, report = run_suite(
        tmp_path, *kubeconfig_args(thread, kubeconfig, https=False), "--feature", "tls")
    assert code == 0, output
    cases = report["cases"]
    assert len(cases) >= 8
    assert {c["outcome"] for c in cases} == {"skipped"}, cases
    assert all(c["message"].startswith("no --https-address given") for c in cases), cases
    assert "RuntimeError" not in output
    assert report["gate"]["passed"] is True


# ---- 6. the preStop sleep action needs Kubernetes 1.30 -----------------------------------------


def test_parse_server_version() -> None:
    assert parse_server_version({"major": "1", "minor": "29+"}) == (1, 29)
    assert parse_server_version(kubernetes.client.VersionInfo(
        major="1", minor="30", git_version="v1.30.2", build_date="", compiler="", git_commit="",
        git_tree_state="", go_version="", platform="")) == (1, 30)
    assert parse_server_version({"major": "", "minor": "", "gitVersion": "v1.28.9-eks-1"}) \
        == (1, 28)
    assert parse_server_version({"gitVersion": "weird"}) is None


def test_the_simulator_is_new_enough_for_the_prestop_sleep(
        api: kubernetes.client.ApiClient) -> None:
    version, git_version = Kube(api, CLASS).server_version()
    assert version is not None and version >= (1, 30), git_version


def test_zero_downtime_case_skipped_before_kubernetes_1_30(
        tmp_path: Path, cluster: tuple[SimulatorThread, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    thread, kubeconfig = cluster
    # The API server runs on a thread of this process: it answers /version from this dict.
    monkeypatch.setitem(apiserver_module.VERSION_INFO, "minor", "29")
    monkeypatch.setitem(apiserver_module.VERSION_INFO, "gitVersion", "v1.29.4")
    code, output, report = run_suite(tmp_path, *kubeconfig_args(thread, kubeconfig),
                                     "-k", "rolling_restart_zero_downtime")
    assert code == 0, output
    [case] = report["cases"]
    assert case["outcome"] == "skipped", case
    assert "the API server is v1.29.4" in case["message"]
    assert "Kubernetes 1.30" in case["message"] and "KEP-3960" in case["message"]


# ---- 7. a controller that routes but publishes no status ---------------------------------------


def test_ingress_class_cases_need_no_status_address(tmp_path: Path) -> None:
    with SimulatorThread() as thread:
        controller = thread.simulator.controller
        assert controller is not None
        controller.config.publish_status = False
        kubeconfig = thread.simulator.apiserver.write_kubeconfig(tmp_path / "kubeconfig")
        code, output, report = run_suite(tmp_path, *kubeconfig_args(thread, kubeconfig),
                                         "--feature", "ingress_class",
                                         "--consistency-timeout", "5")
    results = outcomes(report)
    assert code == 0, output
    for case in ("ingress_class_name", "default_class", "unknown_class_not_served",
                 "other_controllers_class_not_served"):
        assert results[f"ingress_class/{case}"] == "passed", report["cases"]
    observed = {c["id"]: c["observations"] for c in report["cases"]}
    assert observed["ingress_class/unknown_class_not_served"] == {
        "sentinel_has_address": False}


# ---- 3. the per-case timeout of `python -m conformance run` ------------------------------------


def test_case_timeout_follows_the_consistency_timeout() -> None:
    env: dict[str, str] = {}
    assert timeout_args([], env, True) == ["--timeout", f"{MIN_CASE_TIMEOUT_S:g}"]
    assert MIN_CASE_TIMEOUT_S >= 3 * 180  # three rollout waits fit
    assert timeout_args(["--consistency-timeout", "200"], env, True) == ["--timeout", "1200"]
    assert timeout_args(["--consistency-timeout=150.5"], env, True) == ["--timeout", "903"]
    for chosen in (["--timeout", "50"], ["--timeout=50"], ["-o", "timeout=50"],
                   ["-otimeout=50"], ["--override-ini", "timeout=50"],
                   ["--override-ini=timeout=50"]):
        assert timeout_args(chosen, env, True) == [], chosen
    assert timeout_args([], {"PYTEST_ADDOPTS": "--timeout 9"}, True) == []
    assert timeout_args(["-p", "no:timeout"], env, True) == []
    assert timeout_args([], env, False) == []
    assert timeout_args([], {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}, True) == []


@pytest.mark.parametrize(("args", "expected"), [
    (["--consistency-timeout", "200"], "timeout: 1200.0s"),
    ([], f"timeout: {MIN_CASE_TIMEOUT_S:.1f}s"),
    (["-o", "timeout=7"], "timeout: 7.0s"),
])
def test_run_from_the_repository_is_not_cut_by_its_ini_timeout(args: list[str],
                                                               expected: str) -> None:
    """From this repository, pyproject.toml's `timeout = 120` (for the framework's tests)
    would apply to the suite's cases too; what pytest-timeout says it uses:"""
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "-p", "no:xdist", "--collect-only",
         *args], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert expected in proc.stdout.splitlines(), proc.stdout[-2000:] + proc.stderr


# ---- 4. an API server that cannot be reached ---------------------------------------------------


def test_unreachable_api_server_is_a_clear_usage_error(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}")
    with pytest.raises(TargetError, match=rf"cannot reach the API server at "
                                          rf"http://127.0.0.1:{port}: .*is the cluster running"):
        start_target(kubeconfig, [])
    code, output, _ = run_suite(tmp_path, "--target", "kubeconfig", "--kubeconfig",
                                str(kubeconfig), "--http-address", "127.0.0.1:9")
    assert code == 4, output  # pytest's usage error
    assert f"cannot reach the API server at http://127.0.0.1:{port}" in output
    assert "INTERNALERROR" not in output and "Traceback" not in output


# ---- 5. transient API errors inside `eventually` -----------------------------------------------


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Forwards to the API server, except that it first answers with the statuses queued in
    `server.failures` (a Status body, as kube-apiserver sends)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        failures: list[int] = self.server.failures  # type: ignore[attr-defined]
        if failures:
            status = failures.pop(0)
            body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                               "code": status, "message": f"injected {status}"}).encode()
        else:
            upstream = self.server.upstream  # type: ignore[attr-defined]
            with urllib.request.urlopen(upstream + self.path, timeout=10) as resp:
                status, body = resp.status, resp.read()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky(alone: tuple[ApiServer, Path], tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    server.failures = []  # type: ignore[attr-defined]
    server.upstream = alone[0].url  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, write_kubeconfig(tmp_path / "flaky",
                                       f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


def test_eventually_retries_429_and_5xx_from_the_api_server(flaky: tuple[Any, Path]) -> None:
    server, kubeconfig = flaky
    kube = Kube.from_kubeconfig(str(kubeconfig), CLASS)
    try:
        server.failures[:] = [429, 503, 500]
        record.begin()
        ns = eventually(lambda: kube.core.read_namespace("default"), "read", FAST)
        assert ns.metadata.name == "default"
        assert server.failures == []
        # Other 4xx mean something: at once, not after the timeout.
        for status in (404, 409, 422):
            server.failures[:] = [status]
            started = time.monotonic()
            with pytest.raises(ApiException) as caught:
                eventually(lambda: kube.core.read_namespace("default"), "read", FAST)
            assert caught.value.status == status
            assert time.monotonic() - started < 1
        # A property that holds, with a 503 in between: the failed poll says nothing.
        server.failures[:] = [503]
        holds(lambda: kube.core.read_namespace("default"), "readable", 0.2, poll_s=0.01)
        server.failures[:] = [503] * 1000
        with pytest.raises(AssertionError, match="not checked once"):
            holds(lambda: kube.core.read_namespace("default"), "readable", 0.2, poll_s=0.01)
    finally:
        server.failures.clear()
        kube.close()


def test_eventually_retries_while_the_api_server_is_unreachable(
        alone: tuple[ApiServer, Path]) -> None:
    server, kubeconfig = alone
    kube = Kube.from_kubeconfig(str(kubeconfig), CLASS)
    try:
        kube.core.read_namespace("default")
        errors: list[str] = []

        def check() -> None:
            try:
                kube.core.read_namespace("default")
            except urllib3.exceptions.HTTPError as exc:
                errors.append(type(exc).__name__)
                raise
        server.outage(1.0)
        time.sleep(0.2)
        eventually(check, "the API server answers again", FAST, measure=False)
        assert "MaxRetryError" in errors
    finally:
        kube.close()


def test_an_api_error_that_never_clears_still_times_out(flaky: tuple[Any, Path]) -> None:
    server, kubeconfig = flaky
    kube = Kube.from_kubeconfig(str(kubeconfig), CLASS)
    try:
        server.failures[:] = [503] * 10_000
        with pytest.raises(NotConsistent, match=r"(?s)Exception: \(503\).*injected 503"):
            eventually(lambda: kube.core.read_namespace("default"), "read",
                       Settings(poll_s=0.01, successes=1, timeout_s=0.3))
    finally:
        server.failures.clear()
        kube.close()
