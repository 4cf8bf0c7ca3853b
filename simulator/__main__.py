"""Command line: `python -m simulator apiserver|up|run ...` (see `--help`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from .apiserver.app import ApiServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator",
                                     description="Kubernetes Ingress simulator.")
    sub = parser.add_subparsers(dest="command", required=True)
    api = sub.add_parser("apiserver", help="serve only the fake Kubernetes API server")
    api.add_argument("--kubeconfig", required=True, type=Path,
                     help="write a kubeconfig for the server here")
    api.add_argument("--ready-file", type=Path,
                     help='once serving, write {"apiserver": URL, "kubeconfig": FILE} here')
    api.add_argument("--host", default="127.0.0.1", help="address to listen on")
    api.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    api.add_argument("--tls", action="store_true",
                     help="serve HTTPS with a certificate from a throwaway CA (in the kubeconfig)")
    api.add_argument("--token", help="require this bearer token (401 otherwise)")
    api.add_argument("--state", type=Path,
                     help="load objects from this JSON file at start, save them at stop")
    up = sub.add_parser("up", help="serve the whole simulated environment: API server, cluster, "
                        "reference controller and proxy")
    up.add_argument("--kubeconfig", required=True, type=Path,
                    help="write a kubeconfig for the API server here")
    up.add_argument("--ready-file", type=Path,
                    help='once serving, write {"apiserver", "http", "https", "kubeconfig", '
                         '"ingress_class"} here')
    up.add_argument("--data-plane", default="builtin", choices=["builtin", "nginx", "haproxy"],
                    help="the proxy the reference controller drives: the in-process one "
                         "(builtin) or a real nginx / HAProxy process")
    up.add_argument("--nginx-bin", help="nginx binary (default: nginx on PATH)")
    up.add_argument("--haproxy-bin", help="haproxy binary (default: haproxy on PATH)")
    up.add_argument("--https-redirect", action="store_true",
                    help="answer plain-HTTP requests for hosts with a TLS certificate with a "
                         "308 to https (builtin data plane only; default: serve them)")
    up.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    up.add_argument("--http-port", type=int, default=0, help="proxy HTTP port (default: free)")
    up.add_argument("--https-port", type=int, default=0,
                    help="proxy HTTPS port (default: free)")
    up.add_argument("--api-port", type=int, default=0, help="API server port (default: free)")
    run = sub.add_parser("run", help="start the simulator, replay a scenario (setup manifests "
                         "and seeded perturbations), write its timeline")
    run.add_argument("scenario", type=Path, help="scenario YAML file")
    run.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    run.add_argument("--timeline", type=Path,
                     help="write the timeline (JSON lines) here (default: standard output)")
    run.add_argument("--kubeconfig", type=Path,
                     help="also write a kubeconfig for the API server here (to watch the run)")
    return parser


def _run_scenario(args: argparse.Namespace) -> int:
    from .events import Runner, ScenarioError, load_scenario, write_timeline
    from .up import SimulatorOptions, SimulatorThread

    try:
        scenario = load_scenario(args.scenario)
    except (OSError, ScenarioError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with SimulatorThread(SimulatorOptions(seed=args.seed)) as thread:
        if args.kubeconfig:
            thread.simulator.apiserver.write_kubeconfig(args.kubeconfig)
        runner = Runner(scenario, args.seed, thread)
        try:
            timeline = runner.run()
        except TimeoutError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            runner.close()
    if args.timeline:
        write_timeline(timeline, args.timeline)
        print(f"{len(timeline)} actions; timeline written to {args.timeline}", file=sys.stderr)
    else:
        write_timeline(timeline, sys.stdout)
    return 0


async def _serve_up(args: argparse.Namespace) -> int:
    from .dataplanes.base import BinaryNotFound
    from .up import Simulator, SimulatorOptions

    try:
        sim = Simulator(SimulatorOptions(
            seed=args.seed, api_port=args.api_port, http_port=args.http_port,
            https_port=args.https_port, data_plane=args.data_plane, nginx_bin=args.nginx_bin,
            haproxy_bin=args.haproxy_bin, https_redirect=args.https_redirect))
    except BinaryNotFound as exc:
        print(f"error: --data-plane {args.data_plane}: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # an option this data plane lacks
        print(f"error: --data-plane {args.data_plane}: {exc}", file=sys.stderr)
        return 2
    try:
        await sim.start()
    except (OSError, RuntimeError, TimeoutError) as exc:
        print(f"error: cannot start the simulator: {exc}", file=sys.stderr)
        await sim.stop()
        return 1
    sim.apiserver.write_kubeconfig(args.kubeconfig)
    info = sim.ready_info(args.kubeconfig)
    if args.ready_file:
        args.ready_file.write_text(json.dumps(info))
    print(f"Simulator up: API server {info['apiserver']}, proxy http://{info['http']} and "
          f"https://{info['https']}, ingress class {info['ingress_class']!r}.\n"
          f"Next:\n  kubectl --kubeconfig {args.kubeconfig} apply -f fixtures/examples/seed/\n"
          f"  kubectl --kubeconfig {args.kubeconfig} wait --for=condition=available "
          f"deployment/app1\n"
          f"  curl -H 'Host: app1.example.com' http://{info['http']}/\n"
          f"Stop with Ctrl-C.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()
    print("Simulator stopped", flush=True)
    return 0


async def _serve_apiserver(args: argparse.Namespace) -> int:
    try:
        server = ApiServer(args.host, args.port, tls=args.tls, token=args.token,
                           state_file=args.state)
        await server.start_async()
    except (OSError, RuntimeError) as exc:
        print(f"error: cannot start the API server: {exc}", file=sys.stderr)
        return 1
    server.write_kubeconfig(args.kubeconfig)
    if args.ready_file:
        args.ready_file.write_text(json.dumps({"apiserver": server.url,
                                               "kubeconfig": str(args.kubeconfig)}))
    print(f"API server listening on {server.url}; kubeconfig: {args.kubeconfig}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop_async()
    print("API server stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "apiserver":
        return asyncio.run(_serve_apiserver(args))
    if args.command == "up":
        return asyncio.run(_serve_up(args))
    if args.command == "run":
        return _run_scenario(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
