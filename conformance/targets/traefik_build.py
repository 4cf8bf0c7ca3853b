"""Building the Traefik binary for `--target traefik` from its Go module.

`go install github.com/traefik/traefik/v3/cmd/traefik@VERSION` refuses Traefik (its go.mod
has replace directives), so the recipe is: `go mod download -json` the module, copy it to a
writable directory, and `go build ./cmd/traefik` there. Two things the module zip lacks are
put back:

- the nested module `pkg/config/dynamic/ext` (go.mod replaces
  `github.com/traefik/traefik/dynamic/ext` with that directory, but module zips leave nested
  modules out): upstream it holds two empty extension structs, written here as upstream has
  them;
- the web UI assets are not needed: `webui/static` keeps its placeholder file, which satisfies
  `//go:embed static` (the dashboard is not used).

A Go module proxy that serves only part of the ecosystem (as on some CI machines) may refuse
some of Traefik's dependencies. When the build fails only because of such modules, and only
these ones, the build is retried with the smallest patch that avoids them, and the patch is
recorded next to the binary (`build.json`) and in the report's target details:

- ACME DNS-challenge providers of lego whose SDK is not served are left out of lego's
  provider registry (Traefik then rejects them as unknown providers; Ingress routing does not
  use them);
- Traefik's fork `github.com/containous/go-http-auth`, if not served, is replaced by upstream
  `github.com/abbot/go-http-auth` v0.4.0 plus the two functions Traefik uses from the fork
  (`CheckSecret`, `DigestAuth.RequireAuthStale`); only basic/digest auth middlewares use it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from . import gobuild
from .base import TargetError

MODULE = "github.com/traefik/traefik/v3"
VERSION_VAR = "github.com/traefik/traefik/v3/pkg/version.Version"
BUILD_TIMEOUT_S = 3600.0

# pkg/config/dynamic/ext of the Traefik repository (a nested module, absent from module zips).
EXT_GO_MOD = "module github.com/traefik/traefik/dynamic/ext\n\ngo 1.24.0\n"
EXT_GO = """package ext

// HTTP is a dynamic.HTTP extension.
type HTTP struct{}

// Router is a dynamic.Router extension.
type Router struct{}

// RouterIng is a RouterIng extension for ingress provider annotations.
type RouterIng struct{}

// ToRouter converts RouterIng to a Router.
func (r RouterIng) ToRouter() Router {
\treturn Router{}
}
"""

HTTP_AUTH_FORK = "github.com/containous/go-http-auth"
HTTP_AUTH = "github.com/abbot/go-http-auth"
HTTP_AUTH_VERSION = "v0.4.0"
HTTP_AUTH_COMPAT = """package auth

// Added by the ingress-conformance build of Traefik: the two symbols Traefik uses from its
// fork github.com/containous/go-http-auth, which the Go module proxy did not serve.

import (
\t"fmt"
\t"net/http"
\t"strings"
\t"time"
)

// CheckSecret returns true if the password matches the encrypted secret.
func CheckSecret(password, secret string) bool {
\tcompare := compareFuncs[0].compare
\tfor _, cmp := range compareFuncs[1:] {
\t\tif strings.HasPrefix(secret, cmp.prefix) {
\t\t\tcompare = cmp.compare
\t\t\tbreak
\t\t}
\t}
\treturn compare([]byte(secret), []byte(password)) == nil
}

// RequireAuthStale is RequireAuth with stale=true in the challenge.
func (a *DigestAuth) RequireAuthStale(w http.ResponseWriter, r *http.Request) {
\tif len(a.clients) > a.ClientCacheSize+a.ClientCacheTolerance {
\t\ta.Purge(a.ClientCacheTolerance * 2)
\t}
\tnonce := RandomKey()
\ta.clients[nonce] = &digest_client{nc: 0, last_seen: time.Now().UnixNano()}
\tw.Header().Set(contentType, a.Headers.V().UnauthContentType)
\tw.Header().Set(a.Headers.V().Authenticate,
\t\tfmt.Sprintf(`Digest realm="%s", nonce="%s", opaque="%s", algorithm="MD5", `+
\t\t\t`qop="auth", stale=true`, a.Realm, nonce, a.Opaque))
\tw.WriteHeader(a.Headers.V().UnauthCode)
\tw.Write([]byte(a.Headers.V().UnauthResponse))
}
"""

# `FILE.go:L:C: MODULE@VERSION: reading https://proxy/...: 403 Forbidden` (or 404/410)
UNSERVED = re.compile(r"^(?P<file>\S+\.go):\d+:\d+: (?P<module>[^@\s]+)@(?P<version>\S+): "
                      r"reading \S+: (?:403|404|410)\b", re.M)
LEGO_PROVIDER = re.compile(r"/(?P<lego>github\.com/go-acme/lego/v\d+)@[^/]+/providers/dns/"
                           r"(?P<provider>[a-z0-9]+)/")


def go_env() -> dict[str, str]:
    return dict(os.environ, GOFLAGS="-mod=mod")


def _go(go: str, args: list[str], cwd: Path | None = None, timeout: float = 600.0) -> str:
    proc = subprocess.run([go, *args], cwd=cwd, env=go_env(), capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise TargetError(f"`go {' '.join(args)}` failed:\n{proc.stderr.strip()[-3000:]}")
    return proc.stdout


def download_module(go: str, module: str, version: str) -> Path:
    """The read-only directory of module@version in the module cache."""
    info = json.loads(_go(go, ["mod", "download", "-json", f"{module}@{version}"]))
    if info.get("Error"):
        raise TargetError(f"cannot download {module}@{version}: {info['Error']}")
    return Path(info["Dir"])


def restore_nested_modules(src: Path) -> None:
    ext = src / "pkg" / "config" / "dynamic" / "ext"
    if not (ext / "go.mod").exists():
        ext.mkdir(parents=True, exist_ok=True)
        (ext / "go.mod").write_text(EXT_GO_MOD)
        (ext / "ext.go").write_text(EXT_GO)
    static = src / "webui" / "static"  # //go:embed static needs at least one file
    if not static.is_dir() or not any(p.name[0] not in "._" for p in static.iterdir()):
        static.mkdir(parents=True, exist_ok=True)
        (static / "placeholder.txt").write_text("web UI assets not built\n")


def unserved_modules(log: str) -> list[tuple[str, str, str]]:
    """(importing file, module, version) for each import the proxy refused."""
    return [(m["file"], m["module"], m["version"]) for m in UNSERVED.finditer(log)]


def plan_patches(log: str) -> tuple[dict[str, set[str]], bool] | None:
    """What to patch so that the build avoids the modules the proxy refused: lego modules
    -> DNS providers to drop, and whether to replace the go-http-auth fork. None when a
    refused module is needed for anything else (then no patch helps)."""
    refused = unserved_modules(log)
    if not refused:
        return None
    providers: dict[str, set[str]] = {}
    http_auth = False
    for file, module, _ in refused:
        if module == HTTP_AUTH_FORK:
            http_auth = True
            continue
        found = LEGO_PROVIDER.search(file.replace("\\", "/"))
        if found is None:
            return None
        providers.setdefault(found["lego"], set()).add(found["provider"])
    return providers, http_auth


def drop_lego_providers(registry: Path, lego: str, providers: set[str]) -> None:
    text = registry.read_text()
    for provider in sorted(providers):
        text, imports = re.subn(rf'\n\t"{re.escape(lego)}/providers/dns/{provider}"', "", text)
        text, cases = re.subn(rf"\n\tcase [^\n]*:\n\t\treturn {provider}\.NewDNSProvider\(\)",
                              "", text)
        if imports != 1 or cases != 1:
            raise TargetError(f"cannot remove the lego DNS provider {provider} from {registry}")
    registry.write_text(text)


def apply_patches(go: str, src: Path, plan: tuple[dict[str, set[str]], bool]) -> list[str]:
    providers, http_auth = plan
    notes = []
    patched = src / "_patched"  # `_` keeps it out of ./... patterns
    for lego, names in sorted(providers.items()):
        info = json.loads(_go(go, ["list", "-m", "-json", lego], cwd=src))
        dest = patched / lego.rsplit("/", 2)[-2]
        if not dest.exists():
            gobuild.copy_writable(Path(info["Dir"]), dest)
        drop_lego_providers(dest / "providers" / "dns" / "zz_gen_dns_providers.go", lego, names)
        _go(go, ["mod", "edit", f"-replace={lego}=./{dest.relative_to(src)}"], cwd=src)
        notes.append(f"{lego}: DNS providers left out (SDKs not served): "
                     f"{', '.join(sorted(names))}")
    if http_auth:
        dest = patched / "go-http-auth"
        if not dest.exists():
            gobuild.copy_writable(download_module(go, HTTP_AUTH, HTTP_AUTH_VERSION), dest)
            for test in dest.glob("*_test.go"):
                test.unlink()
            shutil.rmtree(dest / "examples", ignore_errors=True)
            requires = "".join(
                f"\t{line.split()[0]} {line.split()[1]}\n"
                for line in (src / "go.mod").read_text().splitlines()
                if line.strip().startswith(("golang.org/x/crypto ", "golang.org/x/net ")))
            (dest / "go.mod").write_text(f"module {HTTP_AUTH}\n\ngo 1.16\n\n"
                                         f"require (\n{requires})\n")
            (dest / "zz_traefik_compat.go").write_text(HTTP_AUTH_COMPAT)
        _go(go, ["mod", "edit", f"-dropreplace={HTTP_AUTH}",
                 f"-replace={HTTP_AUTH}=./{dest.relative_to(src)}"], cwd=src)
        notes.append(f"{HTTP_AUTH_FORK} (not served) replaced by {HTTP_AUTH} "
                     f"{HTTP_AUTH_VERSION} + CheckSecret/RequireAuthStale")
    return notes


def _go_build(go: str, src: Path, version: str, output: Path, log_path: Path,
              progress: gobuild.Progress, started: float) -> int:
    args = [go, "build", "-trimpath", "-ldflags", f"-s -w -X {VERSION_VAR}={version}",
            "-o", str(output), "./cmd/traefik"]

    def tick() -> None:
        progress(f"building Traefik {version}: {time.monotonic() - started:.0f}s elapsed "
                 f"(log: {log_path})")
    status = gobuild.run_logged(args, src, go_env(), log_path, BUILD_TIMEOUT_S, tick)
    return -1 if status is None else status


def build_traefik(version: str, dest: Path, progress: gobuild.Progress, go: str = "go") -> dict:
    """Build Traefik `version` into `dest` (an executable file); returns what build.json
    records: version, Go version, seconds taken and the patches applied."""
    started = time.monotonic()
    log_path = gobuild.start_build_log(dest)
    progress(f"downloading the Go module {MODULE}@{version} ...")
    module_dir = download_module(go, MODULE, version)
    with tempfile.TemporaryDirectory(prefix="build-", dir=dest.parent) as tmp:
        src = Path(tmp) / "src"
        gobuild.copy_writable(module_dir, src)
        restore_nested_modules(src)
        output = Path(tmp) / "traefik"
        progress(f"building Traefik {version} with {go} (the first build takes about 5-10 "
                 f"minutes on 2 cores; log: {log_path}) ...")
        status = _go_build(go, src, version, output, log_path, progress, started)
        notes: list[str] = []
        if status != 0:
            plan = plan_patches(log_path.read_text())
            if plan is None:
                raise TargetError(f"building Traefik {version} failed (status {status}); "
                                  f"see {log_path}")
            notes = apply_patches(go, src, plan)
            progress("the Go module proxy refused some dependencies; building again with: "
                     + "; ".join(notes))
            status = _go_build(go, src, version, output, log_path, progress, started)
            if status != 0:
                raise TargetError(f"building Traefik {version} failed (status {status}); "
                                  f"see {log_path}")
        os.replace(output, dest)
    info = {"version": version, "go": _go(go, ["version"]).strip(),
            "build_seconds": gobuild.seconds_since(started), "patches": notes}
    return gobuild.record_build(dest, info, "Traefik", progress)
