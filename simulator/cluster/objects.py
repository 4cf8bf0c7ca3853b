"""Helpers over plain API objects (dicts): keys, timestamps, owner references, conditions
and the pod predicates controllers share (podutil.IsPodReady, controller.IsPodActive, ...).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from .kinds import Kind

Obj = dict[str, Any]


# ---- keys and metadata -----------------------------------------------------------------------

def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def key_of(obj: Obj) -> str:
    """cache.MetaNamespaceKeyFunc: `namespace/name`, or `name` for cluster-scoped objects."""
    md = meta(obj)
    ns = md.get("namespace")
    return f"{ns}/{md.get('name', '')}" if ns else str(md.get("name", ""))


def split_key(key: str) -> tuple[str, str]:
    """cache.SplitMetaNamespaceKey: (namespace, name); namespace "" when cluster-scoped."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else ("", ns)


def uid_of(obj: Obj) -> str:
    return str(meta(obj).get("uid", ""))


def labels_of(obj: Obj) -> dict[str, str]:
    return meta(obj).get("labels") or {}


def being_deleted(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def finalizers_of(obj: Obj) -> list[str]:
    return list(meta(obj).get("finalizers") or [])


# ---- time ------------------------------------------------------------------------------------

def now() -> datetime:
    return datetime.now(timezone.utc)


def rfc3339(when: datetime) -> str:
    """metav1.Time on the wire: second precision, UTC, `Z`."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_rfc3339() -> str:
    return rfc3339(now())


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


# ---- owner references ------------------------------------------------------------------------

def controller_ref(obj: Obj) -> Obj | None:
    """metav1.GetControllerOf: the ownerReference with controller: true."""
    for ref in meta(obj).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def new_controller_ref(owner: Obj, kind: Kind) -> Obj:
    """metav1.NewControllerRef: controller and blockOwnerDeletion both true."""
    md = meta(owner)
    return {"apiVersion": kind.api_version, "kind": kind.kind, "name": md["name"],
            "uid": md["uid"], "controller": True, "blockOwnerDeletion": True}


def owned_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == uid_of(owner)


def owner_uids(obj: Obj) -> list[str]:
    return [str(r.get("uid")) for r in meta(obj).get("ownerReferences") or []
            if isinstance(r, dict) and r.get("uid")]


# ---- conditions ------------------------------------------------------------------------------

def get_condition(status: Obj | None, cond_type: str) -> Obj | None:
    for cond in (status or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == cond_type:
            return cond
    return None


# ---- pods ------------------------------------------------------------------------------------

def is_pod_ready(pod: Obj) -> bool:
    """podutil.IsPodReady: the Ready condition is True."""
    cond = get_condition(pod.get("status"), "Ready")
    return cond is not None and cond.get("status") == "True"


def pod_ready_since(pod: Obj) -> datetime | None:
    cond = get_condition(pod.get("status"), "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return parse_time(cond.get("lastTransitionTime"))


def is_pod_available(pod: Obj, min_ready_seconds: int, at: datetime | None = None) -> bool:
    """podutil.IsPodAvailable: ready for at least minReadySeconds."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = pod_ready_since(pod)
    return since is not None and since + timedelta(seconds=min_ready_seconds) < (at or now())


def pod_phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_pod_terminal(pod: Obj) -> bool:
    """podutil.IsPodTerminal: Succeeded or Failed."""
    return pod_phase(pod) in ("Succeeded", "Failed")


def is_pod_active(pod: Obj) -> bool:
    """controller.IsPodActive: not terminal and not being deleted."""
    return not is_pod_terminal(pod) and not being_deleted(pod)


def node_name_of(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def max_container_restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(s.get("restartCount") or 0) for s in statuses), default=0)
