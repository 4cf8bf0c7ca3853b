"""`python -m conformance run [pytest args]`: the suite against a target (what
`nox -s conformance` calls); `python -m conformance compare A.json B.json --output F`."""

from __future__ import annotations

import argparse
import os
import sys

import pytest

from .report.compare import CompareError, compare


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
