"""Run every benchmark and print its figures: `python -m benchmarks [NAME ...]`."""

from __future__ import annotations

import sys

from . import apiserver, cluster, conformance, controller, dataplanes, proxy

BENCHMARKS = {
    "apiserver": apiserver.main,
    "cluster": cluster.main,
    "conformance": conformance.main,
    "controller": controller.main,
    "dataplanes": dataplanes.main,
    "proxy": proxy.main,
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    for name in names:
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
            return 2
        BENCHMARKS[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
