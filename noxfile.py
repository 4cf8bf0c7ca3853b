"""Sessions: `nox -s conformance` (the suite against a target, default the simulator),
`nox -s kind` (a real controller in a kind cluster), `nox -s tests` (the framework's own
tests), `nox -s bench`, `nox -s lint`."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the framework's own tests (pass pytest arguments after `--`)."""
    session.install("-e", ".[test]")
    args = session.posargs or ["-n", "auto", "-q"]
    session.run("pytest", *args)


@nox.session
def conformance(session: nox.Session) -> None:
    """Run the conformance suite and write reports/latest/ (arguments after `--` go to the
    suite: `nox -s conformance -- --target kubeconfig --http-address localhost:80`)."""
    # pytest-timeout: this repository's pytest settings (pyproject.toml) set a timeout.
    session.install("-e", ".", "pytest-timeout>=2.2")
    session.run("python", "-m", "conformance", "run", *session.posargs)


KIND_CONTROLLERS = ("ingress-nginx", "traefik", "haproxy-ingress")
KIND_BASELINES = {
    "ingress-nginx": "fixtures/controllers/ingress-nginx/baseline.yaml",
    "traefik": "fixtures/controllers/traefik/baseline.yaml",
    "haproxy-ingress": "fixtures/controllers/haproxy-ingress/baseline.yaml",
}


def kind_suite_args(posargs: list[str]) -> list[str]:
    """`--target kind` plus the chosen controller's baseline (unless --baseline is given),
    then the caller's arguments."""
    controller = "ingress-nginx"
    for i, arg in enumerate(posargs):
        if arg == "--controller" and i + 1 < len(posargs):
            controller = posargs[i + 1]
        elif arg.startswith("--controller="):
            controller = arg.split("=", 1)[1]
    args = ["--target", "kind"]
    if "--controller" not in posargs and not any(a.startswith("--controller=")
                                                 for a in posargs):
        args += ["--controller", controller]
    if controller in KIND_BASELINES and not any(a == "--baseline" or a.startswith(
            "--baseline=") for a in posargs):
        args += ["--baseline", KIND_BASELINES[controller]]
    return args + list(posargs)


@nox.session
def kind(session: nox.Session) -> None:
    """Run the suite against a real controller in a kind cluster (needs Docker, kind and
    kubectl): `nox -s kind -- --controller ingress-nginx|traefik|haproxy-ingress`
    (`--provider k3s` for a k3s container instead of kind, `--keep-cluster` to keep it)."""
    session.install("-e", ".")
    session.run("python", "-m", "conformance", "run", *kind_suite_args(session.posargs))


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks and print their figures (not tests: nothing is asserted)."""
    session.install("-e", ".")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff>=0.4")
    session.run("ruff", "check", ".")
