"""Which pods a shrinking ReplicaSet deletes first: controller.ActivePodsWithRanks.Less
(pkg/controller/controller_utils.go) with LogarithmicScaleDown, as upstream runs it by default.

Earlier in the order = deleted first:
1. unassigned before assigned; 2. Pending < Unknown < Running; 3. not ready before ready;
4. lower `controller.kubernetes.io/pod-deletion-cost` first; 5. more related pods on the same
node first; 6. ready more recently first (by power-of-two buckets of age); 7. more container
restarts first; 8. created more recently first (by buckets); then by uid.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import cmp_to_key
from typing import Any

from .objects import (
    is_pod_active,
    is_pod_ready,
    max_container_restarts,
    meta,
    node_name_of,
    now,
    parse_time,
    pod_phase,
    pod_ready_since,
    uid_of,
)

Obj = dict[str, Any]

POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def _deletion_cost(pod: Obj) -> int:
    try:
        return int((meta(pod).get("annotations") or {}).get(POD_DELETION_COST, "0"))
    except ValueError:
        return 0


def _log_rank(t: datetime, at: datetime) -> int:
    """One side of logarithmicRankDiff: log2 of the age in nanoseconds, -1 if not positive."""
    ns = (at - t).total_seconds() * 1e9
    return int(math.log2(ns)) if ns > 0 else -1


def _cmp_times(t1: datetime | None, t2: datetime | None, a: Obj, b: Obj, at: datetime) -> int:
    """Newer first; with LogarithmicScaleDown, times in the same power-of-two age bucket tie
    and fall back to the uid."""
    if t1 is None or t2 is None:
        # afterOrZero: a zero time sorts first.
        if t1 is None and t2 is None:
            return 0
        return -1 if t1 is None else 1
    diff = _log_rank(t1, at) - _log_rank(t2, at)
    if diff == 0:
        ua, ub = uid_of(a), uid_of(b)
        return (ua > ub) - (ua < ub)
    return -1 if diff < 0 else 1


def rank_for_deletion(pods: list[Obj], related: list[Obj] | None = None,
                      at: datetime | None = None) -> list[Obj]:
    """The pods sorted so that the first ones are the best to delete (getPodsToDelete)."""
    at = at or now()
    on_node: dict[str, int] = {}
    for pod in related if related is not None else pods:
        if is_pod_active(pod):
            on_node[node_name_of(pod)] = on_node.get(node_name_of(pod), 0) + 1
    rank = {id(p): on_node.get(node_name_of(p), 0) for p in pods}

    def cmp(a: Obj, b: Obj) -> int:
        na, nb = node_name_of(a), node_name_of(b)
        if na != nb and (not na or not nb):
            return -1 if not na else 1
        pa, pb = _PHASE_ORDINAL.get(pod_phase(a), 0), _PHASE_ORDINAL.get(pod_phase(b), 0)
        if pa != pb:
            return -1 if pa < pb else 1
        ra, rb = is_pod_ready(a), is_pod_ready(b)
        if ra != rb:
            return -1 if not ra else 1
        ca, cb = _deletion_cost(a), _deletion_cost(b)
        if ca != cb:
            return -1 if ca < cb else 1
        if rank[id(a)] != rank[id(b)]:
            return -1 if rank[id(a)] > rank[id(b)] else 1
        if ra and rb:
            ta, tb = pod_ready_since(a), pod_ready_since(b)
            if ta != tb:
                result = _cmp_times(ta, tb, a, b, at)
                if result:
                    return result
        xa, xb = max_container_restarts(a), max_container_restarts(b)
        if xa != xb:
            return -1 if xa > xb else 1
        ta = parse_time(meta(a).get("creationTimestamp"))
        tb = parse_time(meta(b).get("creationTimestamp"))
        if ta != tb:
            return _cmp_times(ta, tb, a, b, at)
        return 0

    return sorted(pods, key=cmp_to_key(cmp))
