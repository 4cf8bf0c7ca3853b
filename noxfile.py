"""Sessions: `nox -s conformance` (the suite against a target, default the simulator),
`nox -s tests` (the framework's own tests), `nox -s bench`, `nox -s lint`."""

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
    session.install("-e", ".")
    session.run("python", "-m", "conformance", "run", *session.posargs)


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
