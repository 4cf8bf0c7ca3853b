"""`python -m conformance run [pytest args]`: the suite against a target (what
`nox -s conformance` calls); `python -m conformance compare A.json B.json --output F`."""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import sys

import pytest

from .harness.consistency import DEFAULT as DEFAULT_SETTINGS
from .harness.kube import ROLLOUT
from .report.compare import CompareError, compare

# A case may wait for 3 rollouts in a row (the rolling-restart cases: set up, restart, the old
# pods gone), each up to ROLLOUT's timeout, plus its consistency waits: a per-case timeout is
# a guard against hangs only, never shorter than that.
MIN_CASE_TIMEOUT_S = 3 * ROLLOUT.timeout_s + 60
CONSISTENCY_WAITS_PER_CASE = 6


def _option(args: list[str], name: str) -> str | None:
    """The last value of `--name VALUE` / `--name=VALUE` in `args`."""
    value = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def _sets_timeout(args: list[str]) -> bool:
    """Whether `args` choose pytest-timeout's timeout: `--timeout`, or an ini override
    `-o timeout=`, `-otimeout=`, `--override-ini timeout=`, `--override-ini=timeout=`."""
    for i, arg in enumerate(args):
        if arg == "--timeout" or arg.startswith("--timeout="):
            return True
        following = args[i + 1] if i + 1 < len(args) else ""
        if arg in ("-o", "--override-ini") and following.startswith("timeout="):
            return True
        if arg.startswith(("-otimeout=", "--override-ini=timeout=")):
            return True
    return False


def timeout_args(args: list[str], environ: dict[str, str] | None = None,
                 plugin_available: bool | None = None) -> list[str]:
    """`--timeout N` for pytest-timeout, derived from the consistency timeout: a repository's
    ini (this one's pyproject says 120 s, for its own tests) must not cut the cases short.
    Nothing when the user chose a timeout (in `args` or PYTEST_ADDOPTS), when
    pytest-timeout is not installed, or when it is not loaded (`-p no:timeout`, or plugin
    autoloading off without `-p pytest_timeout`)."""
    environ = os.environ if environ is None else environ
    every = shlex.split(environ.get("PYTEST_ADDOPTS", "")) + list(args)
    if plugin_available is None:
        plugin_available = importlib.util.find_spec("pytest_timeout") is not None
    disabled = any(a in ("no:timeout", "-pno:timeout") for a in every)
    if environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):  # then only `-p pytest_timeout` loads it
        disabled = disabled or not any(a.endswith("pytest_timeout") for a in every)
    if not plugin_available or disabled or _sets_timeout(every):
        return []
    value = _option(every, "--consistency-timeout")
    try:
        consistency_s = float(value) if value is not None else DEFAULT_SETTINGS.timeout_s
    except ValueError:
        return []  # pytest will say what is wrong with it
    seconds = max(MIN_CASE_TIMEOUT_S, CONSISTENCY_WAITS_PER_CASE * consistency_s)
    return ["--timeout", f"{seconds:g}"]


def run(args: list[str]) -> int:
    """pytest over the cases, in parallel unless the caller chose (-n / -p no:xdist)."""
    # --noconftest: the cases need only the plugin; a conftest.py found from where the
    # command runs (e.g. this repository's tests/) must not lend them its fixtures.
    # The package is imported already (it is running this), so pytest cannot rewrite its
    # asserts and would warn; the cases' modules are still rewritten.
    argv = ["--pyargs", "conformance.cases", "-p", "no:cacheprovider", "--noconftest",
            "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    chose = any(a.startswith(("-n", "--numprocesses")) or a == "no:xdist" for a in args)
    if not chose:
        argv += ["-n", str(min(os.cpu_count() or 1, 4))]
    argv += timeout_args(args)
    return int(pytest.main(argv + args))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:
        return run(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m conformance")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the suite (all further arguments go to pytest)")
    cmp = sub.add_parser("compare", help="side-by-side matrix of several report.json files")
    cmp.add_argument("reports", nargs="+", help="report.json files, one per target")
    cmp.add_argument("--output", "-o", required=True, help="matrix.md or matrix.html")
    ns = parser.parse_args(argv)
    try:
        out = compare(ns.reports, ns.output)
    except CompareError as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
