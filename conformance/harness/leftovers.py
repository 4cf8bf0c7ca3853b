"""What earlier runs left in a cluster, dealt with when a target on an existing cluster starts.

A run that is killed (Ctrl-C twice, a CI job's timeout, an OOM) never deletes its namespaces,
and some of them hold catch-alls (an Ingress with a defaultBackend answers every unmatched
request of the cluster): every later run would then fail its default_backend and 404 cases.
So, before any case:

- namespaces carrying the suite's label (`kube.SUITE_LABEL`) are deleted, and the target
  waits (bounded, showing progress) until they are gone; cluster-scoped objects the suite
  labels (IngressClasses) are deleted;
- an Ingress of the class under test that the suite did not create and that catches every
  unmatched request (a defaultBackend, or a rule without a host for `/`) is named in a
  warning: the cases that expect 404 for unmatched requests fail while it exists.

One run at a time per cluster: a second run started meanwhile would delete the first one's
namespaces (two runs cannot share a cluster anyway: a catch-all case of one would break the
404 cases of the other, the lock that serializes them is per run)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kubernetes
from kubernetes.client import ApiException

from .kube import SUITE_LABEL
from .manifests import LEGACY_CLASS_ANNOTATION

SWEEP_TIMEOUT_S = 120.0  # namespaces with pods take a grace period or two to go
POLL_S = 1.0
PROGRESS_EVERY_S = 5.0
SHOWN = 5  # names listed in one message
CATCH_ALL_PATH_TYPES = ("Prefix", "ImplementationSpecific")

Progress = Callable[[str], None]


def names(items: list[str]) -> str:
    """`a, b, c` (and how many more, past SHOWN)."""
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _forbidden(progress: Progress, what: str, exc: ApiException) -> None:
    progress(f"WARNING: cannot {what} ({exc.status} {exc.reason}): what earlier runs may "
             "have left in the cluster is not checked")


def sweep(client: kubernetes.client.ApiClient, progress: Progress,
          timeout_s: float = SWEEP_TIMEOUT_S, poll_s: float = POLL_S) -> list[str]:
    """Delete what earlier runs left (labelled namespaces and IngressClasses) and wait, at
    most `timeout_s`, until the namespaces are gone; the names of those still there."""
    core = kubernetes.client.CoreV1Api(client)
    net = kubernetes.client.NetworkingV1Api(client)
    try:
        classes = net.list_ingress_class(label_selector=SUITE_LABEL).items
    except ApiException as exc:
        _forbidden(progress, "list IngressClasses", exc)
        classes = []
    for cls in classes:
        try:
            net.delete_ingress_class(cls.metadata.name)
        except ApiException as exc:
            if exc.status != 404:
                _forbidden(progress, f"delete IngressClass {cls.metadata.name}", exc)
                continue
        progress(f"deleted IngressClass {cls.metadata.name}, left by an earlier run")
    try:
        namespaces = core.list_namespace(label_selector=SUITE_LABEL).items
    except ApiException as exc:
        _forbidden(progress, "list namespaces", exc)
        return []
    if not namespaces:
        return []
    found = sorted(ns.metadata.name for ns in namespaces)
    progress(f"deleting {len(found)} namespace(s) left by earlier runs (label {SUITE_LABEL}): "
             f"{names(found)}")
    for ns in namespaces:
        if ns.metadata.deletion_timestamp is not None:
            continue  # already terminating
        try:
            core.delete_namespace(ns.metadata.name, propagation_policy="Background")
        except ApiException as exc:
            if exc.status not in (404, 409):  # gone, or being deleted
                _forbidden(progress, f"delete namespace {ns.metadata.name}", exc)
    started = time.monotonic()
    shown = started
    while True:
        left = sorted(ns.metadata.name
                      for ns in core.list_namespace(label_selector=SUITE_LABEL).items)
        if not left:
            progress(f"the namespaces of earlier runs are gone "
                     f"({time.monotonic() - started:.1f}s)")
            return []
        now = time.monotonic()
        if now - started >= timeout_s:
            progress(f"WARNING: {len(left)} namespace(s) of earlier runs still terminating "
                     f"after {timeout_s:.0f}s: {names(left)}; what is in them may still be "
                     f"served (`kubectl get namespace {left[0]} -o yaml` shows what holds "
                     "it); going on")
            return left
        if now - shown >= PROGRESS_EVERY_S:
            shown = now
            progress(f"still waiting for {len(left)} namespace(s) of earlier runs to go "
                     f"({now - started:.0f}s of at most {timeout_s:.0f}s)")
        time.sleep(poll_s)


@dataclass(frozen=True)
class CatchAll:
    """An Ingress of the class under test that answers every unmatched request."""

    namespace: str
    name: str
    why: str
    leftover: bool  # in a namespace of an earlier run that is still terminating


def of_class(ingress: Any, ingress_class: str, class_is_default: bool) -> bool:
    """Whether the controller of `ingress_class` serves `ingress` by its class: its
    ingressClassName, else the deprecated annotation, else (no class at all) when the class
    is the cluster's default."""
    named = ingress.spec.ingress_class_name
    if named:
        return bool(named == ingress_class)
    legacy = (ingress.metadata.annotations or {}).get(LEGACY_CLASS_ANNOTATION)
    if legacy:
        return bool(legacy == ingress_class)
    return class_is_default


def catch_all_reason(ingress: Any) -> str | None:
    """Why `ingress` answers every request no other rule matches, or None."""
    spec = ingress.spec
    if spec.default_backend is not None:
        return "spec.defaultBackend" + ("" if spec.rules else " and no rules")
    for rule in spec.rules or []:
        if rule.host or rule.http is None:
            continue
        for p in rule.http.paths or []:
            if (p.path or "/") == "/" and p.path_type in CATCH_ALL_PATH_TYPES:
                return f"a rule without a host for path / ({p.path_type})"
    return None


def catch_alls(client: kubernetes.client.ApiClient, ingress_class: str,
               class_is_default: bool, leftover_namespaces: frozenset[str] = frozenset(),
               ) -> list[CatchAll]:
    """The catch-all Ingresses of `ingress_class` in the cluster, namespace/name order."""
    net = kubernetes.client.NetworkingV1Api(client)
    found = []
    for ing in net.list_ingress_for_all_namespaces().items:
        md = ing.metadata
        if not of_class(ing, ingress_class, class_is_default):
            continue  # (one being deleted still counts: it is served until it is gone)
        why = catch_all_reason(ing)
        if why is not None:
            found.append(CatchAll(md.namespace, md.name, why,
                                  md.namespace in leftover_namespaces))
    return sorted(found, key=lambda c: (c.namespace, c.name))


def prepare_cluster(client: kubernetes.client.ApiClient, ingress_class: str,
                    class_is_default: bool, progress: Progress,
                    timeout_s: float = SWEEP_TIMEOUT_S) -> list[CatchAll]:
    """Sweep what earlier runs left, then warn about each catch-all of `ingress_class` still
    in the cluster (returned)."""
    progress("looking for what earlier runs left in the cluster ...")
    left = sweep(client, progress, timeout_s)
    try:
        found = catch_alls(client, ingress_class, class_is_default, frozenset(left))
    except ApiException as exc:
        _forbidden(progress, "list Ingresses in all namespaces", exc)
        return []
    for c in found:
        origin = ("left by an earlier run, its namespace still terminating" if c.leftover
                  else "not created by the suite")
        progress(f"WARNING: Ingress {c.namespace}/{c.name} of class {ingress_class} catches "
                 f"every unmatched request ({c.why}), {origin}: while it exists, the cases "
                 "that expect 404 for unmatched requests fail, and the default_backend "
                 "cases may; delete it, or test another IngressClass")
    return found
