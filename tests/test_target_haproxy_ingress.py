"""`--target haproxy-ingress`: flags, the global ConfigMap, binary discovery and the
baseline need neither Go nor the controller; the end-to-end test runs when a controller
binary is in the suite's cache (until `--haproxy-ingress-bin` is registered), with haproxy and
the Lua `json` module, and is skipped otherwise.

The target is not registered in conformance.targets yet: the end-to-end test registers it
in a child process, as `python -m conformance run` would see it."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conformance.targets import TargetError, TargetOptions, out_of_cluster
from conformance.targets import haproxy_ingress as hi
from conformance.targets import haproxy_ingress_build as build

from .baselines import assert_sound

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "controllers" / "haproxy-ingress" / "out-of-cluster"
VERSION_OUTPUT = ("#!/bin/sh\necho\necho 'Name:       HAProxy'\necho 'Release:    v0.14.7'\n"
                  "echo 'Build:      aa2c1bd'\n")


def _executable(path: Path, text: str = VERSION_OUTPUT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _rootfs(directory: Path) -> Path:
    template = directory / "rootfs" / "etc" / "templates" / "haproxy" / "haproxy.tmpl"
    template.parent.mkdir(parents=True)
    template.write_text("")
    return directory / "rootfs"


# ---- flags and cluster-side objects ----------------------------------------------------------


def test_flags() -> None:
    args = hi.controller_args("/w/kubeconfig", "/w/fs", 10254)
    flags = dict(a.removeprefix("--").split("=", 1) for a in args)
    assert flags["kubeconfig"] == "/w/kubeconfig"
    assert flags["local-filesystem-prefix"] == "/w/fs"
    assert flags["ingress-class"] == "haproxy"
    assert flags["configmap"] == "haproxy-ingress/haproxy-ingress"
    assert flags["publish-service"] == "haproxy-ingress/haproxy-ingress"
    assert flags["master-worker"] == "true"
    assert flags["healthz-port"] == "10254"
    assert len(flags) == len(args)  # no flag twice


def test_flags_and_config_keys_documented_in_readme() -> None:
    readme = (FIXTURES / "README.md").read_text()
    for arg in hi.controller_args("K", "P", 1):
        name = arg.split("=", 1)[0]
        assert f"`{name}" in readme, f"{name} is not explained in the README"
    ports = dict.fromkeys(("http", "https", "stats", "healthz", "prometheus"), 1)
    for key in hi.config_map_data(ports):
        assert f"`{key}" in readme, f"ConfigMap key {key} is not explained in the README"
    assert hi.VERSION in readme


def test_config_map_puts_every_listener_on_loopback() -> None:
    data = hi.config_map_data({"http": 1, "https": 2, "stats": 3, "healthz": 4,
                               "prometheus": 5})
    assert (data["http-port"], data["https-port"]) == ("1", "2")
    assert (data["stats-port"], data["healthz-port"], data["prometheus-port"]) == ("3", "4", "5")
    assert all(v == "127.0.0.1" for k, v in data.items() if k.startswith("bind-ip-addr-"))


def test_ingress_class_fixture_is_what_the_target_creates() -> None:
    manifest = yaml.safe_load((FIXTURES / "ingressclass.yaml").read_text())
    assert manifest == hi.ingress_class_manifest()
    assert manifest["spec"]["controller"] == hi.CONTROLLER == "haproxy-ingress.github.io/controller"


def test_publish_service_status_is_not_the_reference_controllers() -> None:
    svc = hi.publish_service_manifest()
    assert svc["metadata"] == {"name": hi.PUBLISH_SERVICE, "namespace": hi.NAMESPACE}
    assert svc["spec"]["type"] == "LoadBalancer" and "selector" not in svc["spec"]
    entries = hi.publish_status()["status"]["loadBalancer"]["ingress"]
    assert {"ip": "127.0.0.1"} in entries and {"hostname": "localhost"} in entries


def test_kubernetes_service_is_the_apiservers() -> None:
    svc = hi.kubernetes_service_manifest()
    assert (svc["metadata"]["namespace"], svc["metadata"]["name"]) == ("default", "kubernetes")
    assert svc["spec"]["ports"][0]["port"] == 443


def test_build_ldflags_set_the_version() -> None:
    flags = build.ldflags("v0.14.7", "aa2c1bd")
    assert f"-X {build.VERSION_PKG}.RELEASE=v0.14.7" in flags
    assert f"-X {build.VERSION_PKG}.COMMIT=aa2c1bd" in flags
    env = build.go_env({"PATH": "/bin"})
    assert (env["GOSUMDB"], env["GOFLAGS"], env["CGO_ENABLED"]) == ("off", "-mod=mod", "0")


# ---- finding the binary, rootfs, haproxy and Lua json --------------------------------------


def test_explicit_binary(tmp_path: Path) -> None:
    binary = _executable(tmp_path / "haproxy-ingress-controller")
    assert hi.find_binary(str(binary), {}) == binary
    assert hi.binary_version(binary) == "v0.14.7"


def test_explicit_binary_missing(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="--haproxy-ingress-bin .*: no such file"):
        hi.find_binary(str(tmp_path / "nope"), {})


def test_explicit_binary_not_executable(tmp_path: Path) -> None:
    plain = tmp_path / "haproxy-ingress-controller"
    plain.write_text("")
    with pytest.raises(TargetError, match="not an executable file"):
        hi.find_binary(str(plain), {})


def test_cache(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert hi.find_binary(None, env) is None
    cached = _executable(tmp_path / "cache" / "ingress-conformance" / "haproxy-ingress"
                        / hi.VERSION / "haproxy-ingress-controller")
    assert hi.cached_binary(hi.VERSION, env) == cached
    assert hi.find_binary(None, env) == cached


def test_rootfs_beside_the_binary_then_the_cache(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    binary = _executable(tmp_path / "bin" / "haproxy-ingress-controller")
    with pytest.raises(TargetError, match="no rootfs/"):
        hi.find_rootfs(binary, env)
    cached = _rootfs(hi.cached_binary(hi.VERSION, env).parent)
    assert hi.find_rootfs(binary, env) == cached
    beside = _rootfs(binary.parent)
    assert hi.find_rootfs(binary, env) == beside


def test_haproxy(tmp_path: Path) -> None:
    explicit = _executable(tmp_path / "my-haproxy", "#!/bin/sh\n")
    assert hi.find_haproxy(str(explicit), {"PATH": ""}) == explicit
    on_path = _executable(tmp_path / "bin" / "haproxy", "#!/bin/sh\n")
    assert hi.find_haproxy(None, {"PATH": str(tmp_path / "bin")}) == on_path
    with pytest.raises(TargetError, match="--haproxy-bin"):
        hi.find_haproxy(str(tmp_path / "nope"), {"PATH": ""})


def test_lua_json(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="apt-get install lua-json"):
        hi.find_lua_json((str(tmp_path / "json.lua"),))
    (tmp_path / "json.lua").write_text("return {}")
    assert hi.find_lua_json((str(tmp_path / "json.lua"),)) == tmp_path / "json.lua"


def test_no_binary_and_no_go_says_what_to_do(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    with pytest.raises(TargetError) as info:
        hi.find_go(env)
    message = str(info.value)
    assert "Install Go" in message and "--haproxy-ingress-bin" in message
    assert str(hi.cached_binary(hi.VERSION, env)) in message


def test_target_start_without_binary_or_go(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    haproxy = _executable(tmp_path / "haproxy", "#!/bin/sh\n")
    monkeypatch.setattr(hi, "find_lua_json", lambda: tmp_path / "json.lua")
    target = hi.HAProxyIngressTarget(TargetOptions(haproxy_bin=str(haproxy)))
    try:
        with pytest.raises(TargetError, match="Install Go"):
            target.start(lambda message: None)
    finally:
        target.stop()
        shutil.rmtree(target.workdir, ignore_errors=True)


def test_version_of_a_binary_that_fails(tmp_path: Path) -> None:
    assert hi.binary_version(_executable(tmp_path / "c", "#!/bin/sh\nexit 3\n")) == "unknown"


def test_descendants_walks_the_process_tree(tmp_path: Path) -> None:
    for pid, ppid in ((10, 1), (11, 10), (12, 11), (13, 11), (20, 1)):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (ha proxy) S {ppid} 0 0\n")
    assert sorted(out_of_cluster.descendants(10, tmp_path)) == [11, 12, 13]
    assert out_of_cluster.descendants(20, tmp_path) == []


# ---- the baseline ----------------------------------------------------------------------------


def test_baseline_entries_name_real_cases_with_reason_and_link() -> None:
    baseline = assert_sound(FIXTURES / "baseline.yaml")
    assert baseline.target == "haproxy-ingress"
    assert baseline.entries


# ---- end to end ----------------------------------------------------------------------------

def _missing_for_end_to_end() -> str | None:
    binary = hi.find_binary(None)
    if binary is None:
        return (f"no HAProxy Ingress binary in the cache: build it once into "
                f"{hi.cached_binary()} with `python -m conformance run --target "
                "haproxy-ingress` (needs Go)")
    try:
        hi.find_rootfs(binary)
        hi.find_haproxy(None)
        hi.find_lua_json()
    except TargetError as exc:
        return str(exc)
    return None


@pytest.mark.timeout(900)
def test_end_to_end_host_rules_and_status(tmp_path: Path) -> None:
    missing = _missing_for_end_to_end()
    if missing is not None:
        pytest.skip(missing)
    report_dir = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--target", "haproxy-ingress",
         f"--report-dir={report_dir}", "-n", "2",
         f"--baseline={FIXTURES / 'baseline.yaml'}", "--feature", "host_rules",
         "--feature", "status"],
        cwd=ROOT, capture_output=True, text=True, timeout=840)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    report = json.loads((report_dir / "latest" / "report.json").read_text())
    assert report["target"]["controller"] == hi.CONTROLLER
    assert report["target"]["version"] == hi.VERSION
    outcomes = {c["id"]: c["outcome"] for c in report["cases"]}
    assert all(o == "passed" for i, o in outcomes.items() if i.startswith("host_rules/"))
    # Status comes every 60 s: these pass or fail by when they start within that period.
    assert outcomes["status/address_published"] in ("passed", "xfailed")
    assert outcomes["status/status_cleared_when_class_changes"] == "xfailed"
