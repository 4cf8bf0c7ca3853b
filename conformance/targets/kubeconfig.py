"""`--target kubeconfig`: any cluster with an Ingress controller already installed. The user
says where its entry points are (`--http-address`, `--https-address`) and which class it
serves (`--ingress-class`, default: the cluster's default IngressClass).

At start it deletes what earlier (killed) runs of the suite left in the cluster and warns
about catch-all Ingresses of the class that would fail the 404 cases (harness.leftovers)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kubernetes
import urllib3
from kubernetes.client import ApiException

from ..harness import leftovers
from ..harness.manifests import DEFAULT_CLASS_ANNOTATION
from .base import Target, TargetError, TargetInfo

DEFAULT_PRESTOP_SECONDS = 10
# Per request while starting: a cluster that does not answer fails the start in a minute or
# so (the client retries 3 times), not in the OS's connect timeout several times over.
REQUEST_TIMEOUT_S = 15.0


def default_kubeconfig() -> str:
    return os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(
        Path.home() / ".kube" / "config")


class KubeconfigTarget(Target):
    name = "kubeconfig"

    def start(self, progress: Any) -> TargetInfo:
        options = self.options
        kubeconfig = options.kubeconfig or default_kubeconfig()
        if not Path(kubeconfig).is_file():
            raise TargetError(f"no kubeconfig at {kubeconfig}: pass --kubeconfig FILE")
        if not options.http_address:
            raise TargetError("--target kubeconfig needs --http-address HOST:PORT, where the "
                              "controller takes HTTP traffic (e.g. localhost:80 on kind)")
        progress(f"connecting to the cluster in {kubeconfig} ...")
        try:
            client = kubernetes.config.new_client_from_config(config_file=kubeconfig)
        except Exception as exc:  # the loader raises several kinds for a bad file
            raise TargetError(f"cannot load {kubeconfig}: {exc}") from exc
        host = client.configuration.host
        try:
            try:
                classes = kubernetes.client.NetworkingV1Api(client).list_ingress_class(
                    _request_timeout=REQUEST_TIMEOUT_S).items
            except ApiException as exc:
                raise TargetError(f"cannot list IngressClasses with {kubeconfig}: {exc}") \
                    from exc
            chosen = self._choose_class(classes)
            annotations = chosen.metadata.annotations or {}
            try:
                leftovers.prepare_cluster(
                    client, chosen.metadata.name,
                    annotations.get(DEFAULT_CLASS_ANNOTATION) == "true", progress)
            except ApiException as exc:  # best effort: the cases will say what is wrong
                progress(f"WARNING: looking for what earlier runs left failed: {exc.status} "
                         f"{exc.reason}")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise TargetError(f"cannot reach the API server at {host}: {reason}; is the "
                              f"cluster running? (kubeconfig {kubeconfig})") from exc
        finally:
            client.close()
        return TargetInfo(
            name=self.name, kubeconfig=str(kubeconfig), http_address=options.http_address,
            https_address=options.https_address, ingress_class=chosen.metadata.name,
            controller=chosen.spec.controller or "unknown",
            version=options.controller_version or "unknown",
            prestop_seconds=options.prestop_seconds or DEFAULT_PRESTOP_SECONDS)

    def _choose_class(self, classes: list[Any]) -> Any:
        by_name = {c.metadata.name: c for c in classes}
        wanted = self.options.ingress_class
        if wanted:
            if wanted not in by_name:
                raise TargetError(f"IngressClass {wanted!r} is not in the cluster; it has: "
                                  f"{', '.join(sorted(by_name)) or 'none'}")
            return by_name[wanted]
        defaults = [c for c in classes
                    if (c.metadata.annotations or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"]
        if len(defaults) != 1:
            raise TargetError("pass --ingress-class NAME: the cluster has "
                              f"{len(defaults)} default IngressClasses "
                              f"(classes: {', '.join(sorted(by_name)) or 'none'})")
        return defaults[0]

    def stop(self) -> None:
        pass
