"""`--target traefik`: flags, binary discovery, the build's patch planning and the baseline
need neither Go nor Traefik; the end-to-end test runs when a Traefik binary is available
(`TRAEFIK_BIN`, `traefik` on PATH or the suite's cache) and is skipped otherwise."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conformance.targets import TARGETS, TargetError, TargetOptions, make_target, traefik
from conformance.targets import traefik_build as build

from .baselines import assert_sound

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "controllers" / "traefik"


def _executable(path: Path, text: str = "#!/bin/sh\necho 'Version:      v3.7.13'\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# ---- flags ---------------------------------------------------------------------------------


def test_registered_and_option() -> None:
    assert TARGETS["traefik"] is traefik.TraefikTarget
    target = make_target("traefik", TargetOptions(traefik_bin="/x/traefik"))
    assert target.options.traefik_bin == "/x/traefik"


def test_flags() -> None:
    args = traefik.traefik_args("http://127.0.0.1:6443", 8080, 8443, "/tmp/t.log")
    flags = dict(a.removeprefix("--").split("=", 1) for a in args)
    assert flags["entrypoints.web.address"] == "127.0.0.1:8080"
    assert flags["entrypoints.websecure.address"] == "127.0.0.1:8443"
    assert flags["entrypoints.websecure.http.tls"] == "true"
    assert flags["providers.kubernetesingress"] == "true"
    assert flags["providers.kubernetesingress.endpoint"] == "http://127.0.0.1:6443"
    assert flags["providers.kubernetesingress.ingressclass"] == "traefik"
    assert flags["providers.kubernetesingress.ingressendpoint.ip"] == "127.0.0.1"
    # Not the reference controller's exact status entry, which it clears on Ingresses it
    # does not serve.
    assert flags["providers.kubernetesingress.ingressendpoint.hostname"] == "localhost"
    assert flags["log.filepath"] == "/tmp/t.log"
    assert flags["global.sendanonymoususage"] == "false"
    assert len(flags) == len(args)  # no flag twice


def test_flags_documented_in_readme() -> None:
    readme = (FIXTURES / "README.md").read_text()
    for arg in traefik.traefik_args("http://127.0.0.1:PORT", 1, 2, "FILE"):
        name = arg.split("=", 1)[0]
        assert f"`{name}" in readme, f"{name} is not explained in the README"
    assert traefik.VERSION in readme


def test_ingress_class_fixture_is_what_the_target_creates() -> None:
    manifest = yaml.safe_load((FIXTURES / "ingressclass.yaml").read_text())
    assert manifest == traefik.ingress_class_manifest()
    assert manifest["spec"]["controller"] == traefik.CONTROLLER


# ---- finding the binary ------------------------------------------------------------------


def test_explicit_binary(tmp_path: Path) -> None:
    binary = _executable(tmp_path / "traefik")
    assert traefik.find_binary(str(binary), {"PATH": ""}) == binary
    assert traefik.binary_version(binary) == "v3.7.13"


def test_explicit_binary_missing(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="--traefik-bin .*: no such file"):
        traefik.find_binary(str(tmp_path / "nope"), {"PATH": ""})


def test_explicit_binary_not_executable(tmp_path: Path) -> None:
    plain = tmp_path / "traefik"
    plain.write_text("")
    with pytest.raises(TargetError, match="not an executable file"):
        traefik.find_binary(str(plain), {"PATH": ""})


def test_path_then_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {"PATH": str(tmp_path / "bin"), "XDG_CACHE_HOME": str(cache)}
    assert traefik.find_binary(None, env) is None
    cached = _executable(cache / "ingress-conformance" / "traefik" / traefik.VERSION / "traefik")
    assert traefik.cached_binary(traefik.VERSION, env) == cached
    assert traefik.find_binary(None, env) == cached
    on_path = _executable(tmp_path / "bin" / "traefik")
    assert traefik.find_binary(None, env) == on_path


def test_no_binary_and_no_go_says_what_to_do(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    with pytest.raises(TargetError) as info:
        traefik.find_go(env)
    message = str(info.value)
    assert "Install Go" in message and "--traefik-bin" in message
    assert str(traefik.cached_binary(traefik.VERSION, env)) in message


def test_target_start_without_binary_or_go(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    target = make_target("traefik", TargetOptions())
    try:
        with pytest.raises(TargetError, match="Install Go"):
            target.start(lambda message: None)
    finally:
        target.stop()
        shutil.rmtree(target.workdir, ignore_errors=True)


def test_version_of_a_binary_that_fails(tmp_path: Path) -> None:
    assert traefik.binary_version(_executable(tmp_path / "t", "#!/bin/sh\nexit 3\n")) == "unknown"


# ---- the build's recovery from a partial module proxy -------------------------------------

REFUSED_LOG = """\
go: downloading github.com/go-acme/lego/v5 v5.4.1
/root/go/pkg/mod/github.com/go-acme/lego/v5@v5.4.1/providers/dns/sakuracloud/wrapper.go:10:2: \
github.com/sacloud/sacloud-sdk-go@v0.1.0: reading https://proxy.golang.org/github.com/sacloud/\
sacloud-sdk-go/@v/v0.1.0.zip: 403 Forbidden
\tserver response: This module version is not available.
/root/go/pkg/mod/github.com/go-acme/lego/v5@v5.4.1/providers/dns/edgedns/edgedns.go:12:2: \
github.com/akamai/AkamaiOPEN-edgegrid-golang/v13@v13.4.0: reading https://proxy.golang.org/x: \
403 Forbidden
pkg/middlewares/auth/basic_auth.go:13:2: github.com/containous/go-http-auth@v0.4.1-0.2026: \
reading https://proxy.golang.org/github.com/containous/go-http-auth/@v/v.zip: 403 Forbidden
"""


def test_plan_patches_for_refused_modules() -> None:
    plan = build.plan_patches(REFUSED_LOG)
    assert plan == ({"github.com/go-acme/lego/v5": {"sakuracloud", "edgedns"}}, True)


def test_no_patch_for_other_failures() -> None:
    assert build.plan_patches("pkg/x.go:1:2: undefined: y\n") is None
    other = ("pkg/server/x.go:3:2: example.com/needed@v1.0.0: reading https://proxy/x.zip: "
             "403 Forbidden\n")
    assert build.plan_patches(REFUSED_LOG + other) is None


def test_drop_lego_providers(tmp_path: Path) -> None:
    registry = tmp_path / "zz_gen_dns_providers.go"
    registry.write_text(
        'import (\n\t"fmt"\n\n\t"github.com/go-acme/lego/v5/providers/dns/abion"\n'
        '\t"github.com/go-acme/lego/v5/providers/dns/edgedns"\n)\n\n'
        'func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {\n'
        '\tswitch name {\n\tcase "abion":\n\t\treturn abion.NewDNSProvider()\n'
        '\tcase "edgedns", "fastdns":\n\t\treturn edgedns.NewDNSProvider()\n'
        '\tdefault:\n\t\treturn nil, fmt.Errorf("unrecognized DNS provider: %s", name)\n\t}\n}\n')
    build.drop_lego_providers(registry, "github.com/go-acme/lego/v5", {"edgedns"})
    text = registry.read_text()
    assert "edgedns" not in text and "fastdns" not in text
    assert "abion.NewDNSProvider()" in text
    with pytest.raises(TargetError, match="cannot remove"):
        build.drop_lego_providers(registry, "github.com/go-acme/lego/v5", {"edgedns"})


def test_restore_nested_modules(tmp_path: Path) -> None:
    (tmp_path / "webui" / "static").mkdir(parents=True)
    (tmp_path / "webui" / "static" / "DONT-EDIT-FILES-IN-THIS-DIRECTORY.md").write_text("x")
    build.restore_nested_modules(tmp_path)
    ext = tmp_path / "pkg" / "config" / "dynamic" / "ext"
    assert "module github.com/traefik/traefik/dynamic/ext" in (ext / "go.mod").read_text()
    assert "type Router struct{}" in (ext / "ext.go").read_text()
    assert [p.name for p in (tmp_path / "webui" / "static").iterdir()] == [
        "DONT-EDIT-FILES-IN-THIS-DIRECTORY.md"]


# ---- the baseline ----------------------------------------------------------------------------


def test_baseline_entries_name_real_cases_with_reason_and_link() -> None:
    baseline = assert_sound(FIXTURES / "baseline.yaml")
    assert baseline.target == "traefik"
    assert baseline.entries


# ---- end to end ----------------------------------------------------------------------------


def _available_binary() -> str | None:
    explicit = os.environ.get("TRAEFIK_BIN")
    if explicit:
        return explicit
    found = traefik.find_binary(None)
    return str(found) if found else None


@pytest.mark.timeout(600)
def test_end_to_end_host_rules_and_status(tmp_path: Path) -> None:
    binary = _available_binary()
    if binary is None:
        pytest.skip("no Traefik binary: set TRAEFIK_BIN, put traefik on PATH, or build it "
                    f"once into {traefik.cached_binary()} with `python -m conformance run "
                    "--target traefik` (needs Go)")
    report_dir = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--target", "traefik",
         f"--traefik-bin={binary}", f"--report-dir={report_dir}", "-n", "2",
         f"--baseline={FIXTURES / 'baseline.yaml'}", "--feature", "host_rules",
         "--feature", "status", "--feature", "default_backend"],
        cwd=tmp_path, capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    report = json.loads((report_dir / "latest" / "report.json").read_text())
    assert report["target"]["controller"] == traefik.CONTROLLER
    outcomes = {c["id"]: c["outcome"] for c in report["cases"]}
    assert outcomes["status/address_published"] == "passed"
    assert outcomes["status/status_cleared_when_class_changes"] == "xfailed"
    assert outcomes["default_backend/default_backend_beside_rules"] == "xfailed"
    assert all(o == "passed" for i, o in outcomes.items() if i.startswith("host_rules/"))
