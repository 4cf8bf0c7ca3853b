"""Deployment arithmetic, pure functions over dicts: a port of
pkg/controller/deployment/util/deployment_util.go (and intstr.GetScaledValueFromIntOrPercent)
with upstream's names, so behaviour can be checked line by line against it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from functools import cmp_to_key
from typing import Any

from .hashing import without_nulls
from .objects import get_condition, meta, now_rfc3339, parse_time

Obj = dict[str, Any]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
DEPRECATED_ROLLBACK_TO = "deprecated.deployment.rollback.to"
POD_TEMPLATE_HASH = "pod-template-hash"  # apps.DefaultDeploymentUniqueLabelKey

ANNOTATIONS_TO_SKIP = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS,
                                 MAX_REPLICAS, DEPRECATED_ROLLBACK_TO})
# maxRevHistoryLengthInChars in the deployment controller.
MAX_REV_HISTORY_LENGTH_IN_CHARS = 2000
MAX_INT32 = 2**31 - 1
_ZERO_TIME = datetime.min.replace(tzinfo=timezone.utc)

# Condition reasons (deployment_util.go).
NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
RS_UPDATED_REASON = "ReplicaSetUpdated"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
PAUSED_DEPLOY_REASON = "DeploymentPaused"
RESUMED_DEPLOY_REASON = "DeploymentResumed"
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"


# ---- intstr ----------------------------------------------------------------------------------

def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is; "N%" of `total`, rounded up or
    down. Raises ValueError for anything else (validation rejects it upstream)."""
    if value is None:
        raise ValueError("nil value for IntOrString")
    if isinstance(value, bool):
        raise ValueError("invalid type: neither int nor percentage")
    if isinstance(value, int):
        return value
    if not isinstance(value, str) or not value.endswith("%"):
        raise ValueError("invalid type: string is not a percentage")
    percent = int(value[:-1])
    scaled = float(percent) * float(total) / 100
    return int(math.ceil(scaled) if round_up else math.floor(scaled))


# ---- spec accessors --------------------------------------------------------------------------

def replicas(obj: Obj) -> int:
    """*(obj.Spec.Replicas) of a Deployment or ReplicaSet (defaulted to 1 by the server)."""
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def status_int(obj: Obj | None, name: str) -> int:
    return int(((obj or {}).get("status") or {}).get(name) or 0)


def is_rolling_update(d: Obj) -> bool:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type",
                                                            "RollingUpdate") == "RollingUpdate"


def _rolling(d: Obj) -> Obj:
    return (((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {})


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None,
                       desired: int) -> tuple[int, int]:
    """ResolveFenceposts: surge rounds up, unavailable rounds down; both 0 -> unavailable 1."""
    surge = scaled_value(0 if max_surge is None else max_surge, desired, True)
    unavailable = scaled_value(0 if max_unavailable is None else max_unavailable, desired,
                               False)
    if surge == 0 and unavailable == 0:
        # "If both fenceposts resolve to zero, then we should set maxUnavailable to 1 on the
        # theory that surge might not work due to quota."
        unavailable = 1
    return surge, unavailable


def max_unavailable(d: Obj) -> int:
    """MaxUnavailable: 0 unless RollingUpdate; never more than the replicas."""
    want = replicas(d)
    if not is_rolling_update(d) or want == 0:
        return 0
    rolling = _rolling(d)
    _, unavailable = resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"),
                                        want)
    return min(unavailable, want)


def max_surge(d: Obj) -> int:
    """MaxSurge: 0 unless RollingUpdate."""
    if not is_rolling_update(d):
        return 0
    rolling = _rolling(d)
    surge, _ = resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"),
                                  replicas(d))
    return surge


def has_progress_deadline(d: Obj) -> bool:
    value = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return value is not None and value != MAX_INT32


def has_revision_history_limit(d: Obj) -> bool:
    value = (d.get("spec") or {}).get("revisionHistoryLimit")
    return value is not None and value != MAX_INT32


# ---- replica counts --------------------------------------------------------------------------

def replica_count(rss: Iterable[Obj | None]) -> int:
    """GetReplicaCountForReplicaSets: the sum of spec.replicas."""
    return sum(replicas(rs) for rs in rss if rs is not None)


def actual_replica_count(rss: Iterable[Obj | None]) -> int:
    """GetActualReplicaCountForReplicaSets: the sum of status.replicas."""
    return sum(status_int(rs, "replicas") for rs in rss if rs is not None)


def ready_replica_count(rss: Iterable[Obj | None]) -> int:
    return sum(status_int(rs, "readyReplicas") for rs in rss if rs is not None)


def available_replica_count(rss: Iterable[Obj | None]) -> int:
    return sum(status_int(rs, "availableReplicas") for rs in rss if rs is not None)


def filter_active(rss: Iterable[Obj | None]) -> list[Obj]:
    """controller.FilterActiveReplicaSets: spec.replicas > 0."""
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


# ---- ordering --------------------------------------------------------------------------------

def _created(obj: Obj) -> datetime:
    return parse_time(meta(obj).get("creationTimestamp")) or _ZERO_TIME


def _cmp_creation(a: Obj, b: Obj) -> int:
    """ReplicaSetsByCreationTimestamp.Less, as a comparison: older first, then by name."""
    ta, tb = _created(a), _created(b)
    if ta == tb:
        na, nb = meta(a).get("name", ""), meta(b).get("name", "")
        return (na > nb) - (na < nb)
    return -1 if ta < tb else 1


def by_creation(rss: Iterable[Obj]) -> list[Obj]:
    return sorted(rss, key=cmp_to_key(_cmp_creation))


def by_size_newer(rss: Iterable[Obj]) -> list[Obj]:
    """ReplicaSetsBySizeNewer: bigger first; the same size: newer first."""
    def cmp(a: Obj, b: Obj) -> int:
        if replicas(a) == replicas(b):
            return _cmp_creation(b, a)
        return -1 if replicas(a) > replicas(b) else 1
    return sorted(rss, key=cmp_to_key(cmp))


def by_size_older(rss: Iterable[Obj]) -> list[Obj]:
    """ReplicaSetsBySizeOlder: bigger first; the same size: older first."""
    def cmp(a: Obj, b: Obj) -> int:
        if replicas(a) == replicas(b):
            return _cmp_creation(a, b)
        return -1 if replicas(a) > replicas(b) else 1
    return sorted(rss, key=cmp_to_key(cmp))


def revision(obj: Obj) -> int:
    """deploymentutil.Revision: the revision annotation, 0 when absent or malformed."""
    try:
        return int((meta(obj).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def by_revision(rss: Iterable[Obj]) -> list[Obj]:
    """ReplicaSetsByRevision: lowest revision first, then by creation."""
    def cmp(a: Obj, b: Obj) -> int:
        ra, rb = revision(a), revision(b)
        if ra == rb:
            return _cmp_creation(a, b)
        return -1 if ra < rb else 1
    return sorted(rss, key=cmp_to_key(cmp))


def max_revision(rss: Iterable[Obj]) -> int:
    return max((revision(rs) for rs in rss), default=0)


# ---- new and old ReplicaSets -----------------------------------------------------------------

def _without_hash(template: Obj | None) -> Obj:
    template = without_nulls(dict(template or {}))
    md = dict(template.get("metadata") or {})
    labels = dict(md.get("labels") or {})
    labels.pop(POD_TEMPLATE_HASH, None)
    if labels:
        md["labels"] = labels
    else:
        md.pop("labels", None)
    template["metadata"] = md
    return template


def equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    """EqualIgnoreHash: templates equal apart from the pod-template-hash label (and null
    fields, which a typed comparison cannot see)."""
    return _without_hash(a) == _without_hash(b)


def find_new_replica_set(d: Obj, rss: Sequence[Obj]) -> Obj | None:
    """FindNewReplicaSet: the oldest ReplicaSet whose template is the Deployment's."""
    template = (d.get("spec") or {}).get("template")
    for rs in by_creation(rss):
        if equal_ignore_hash((rs.get("spec") or {}).get("template"), template):
            return rs
    return None


def find_old_replica_sets(d: Obj, rss: Sequence[Obj], new_rs: Obj | None) -> list[Obj]:
    """FindOldReplicaSets (all of them, active or not)."""
    new_uid = meta(new_rs).get("uid") if new_rs is not None else None
    return [rs for rs in rss if meta(rs).get("uid") != new_uid]


def new_rs_new_replicas(d: Obj, all_rss: Sequence[Obj | None], new_rs: Obj) -> int:
    """NewRSNewReplicas: how far the new ReplicaSet may grow now."""
    want = replicas(d)
    if is_rolling_update(d):
        surge = scaled_value(_rolling(d).get("maxSurge"), want, True)
        current = replica_count(all_rss)
        max_total = want + surge
        if current >= max_total:
            return replicas(new_rs)  # cannot scale up
        scale_up = min(max_total - current, want - replicas(new_rs))
        return replicas(new_rs) + scale_up
    return want  # Recreate


def find_active_or_latest(new_rs: Obj | None, old_rss: Sequence[Obj]) -> Obj | None:
    """FindActiveOrLatest: the only active ReplicaSet, or the newest when none is active."""
    if new_rs is None and not old_rss:
        return None
    newest_first = list(reversed(by_creation(old_rss)))
    active = filter_active([*newest_first, new_rs])
    if not active:
        return new_rs if new_rs is not None else newest_first[0]
    if len(active) == 1:
        return active[0]
    return None


def desired_replicas_annotation(rs: Obj) -> int | None:
    try:
        return int((meta(rs).get("annotations") or {})[DESIRED_REPLICAS])
    except (KeyError, ValueError):
        return None


def max_replicas_annotation(rs: Obj) -> int | None:
    try:
        return int((meta(rs).get("annotations") or {})[MAX_REPLICAS])
    except (KeyError, ValueError):
        return None


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    """IsSaturated: the ReplicaSet has (and wants) all the Deployment's replicas available."""
    if rs is None:
        return False
    desired = desired_replicas_annotation(rs)
    if desired is None:
        return False
    want = replicas(d)
    return replicas(rs) == want and desired == want and status_int(rs, "availableReplicas") == \
        want


def replica_set_proportion(rs: Obj | None, d: Obj, to_add: int, added: int) -> int:
    """GetReplicaSetProportion: this ReplicaSet's share of a proportional scale."""
    if rs is None or replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _replica_set_fraction(rs, d)
    allowed = to_add - added
    if to_add > 0:
        return min(fraction, allowed)
    return max(fraction, allowed)


def _replica_set_fraction(rs: Obj, d: Obj) -> int:
    """getReplicaSetFraction."""
    if replicas(d) == 0:
        return -replicas(rs)
    deployment_max = replicas(d) + max_surge(d)
    before = max_replicas_annotation(rs)
    if not before:
        # "If we cannot find the annotation then fallback to the current deployment size."
        before = status_int(d, "replicas")
        if before == 0:
            return 0
    size = float(replicas(rs) * deployment_max) / float(before)
    return _round_half_away(size) - replicas(rs)


def _round_half_away(x: float) -> int:
    """integer.RoundToInt32 (math.Round: halves away from zero)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


# ---- annotations -----------------------------------------------------------------------------

def set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
    """SetReplicasAnnotations: desired-replicas and max-replicas; True when changed."""
    annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for name, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if annotations.get(name) != value:
            annotations[name] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, max_replicas: int) -> bool:
    annotations = meta(rs).get("annotations") or {}
    return annotations.get(DESIRED_REPLICAS) != str(desired) or \
        annotations.get(MAX_REPLICAS) != str(max_replicas)


def _copy_deployment_annotations(d: Obj, rs: Obj) -> bool:
    """copyDeploymentAnnotationsToReplicaSet."""
    annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for k, v in (meta(d).get("annotations") or {}).items():
        if k in ANNOTATIONS_TO_SKIP or annotations.get(k) == v:
            continue
        annotations[k] = v
        changed = True
    return changed


def set_new_replica_set_annotations(d: Obj, rs: Obj, new_revision: str, exists: bool) -> bool:
    """SetNewReplicaSetAnnotations: copy the Deployment's annotations, raise the revision
    (recording the old one in revision-history on a rollback), and on create set the
    replicas annotations. True when anything changed."""
    changed = _copy_deployment_annotations(d, rs)
    annotations = rs["metadata"]["annotations"]
    old_revision = annotations.get(REVISION)
    try:
        old_int = int(old_revision) if old_revision is not None else 0
    except ValueError:
        if old_revision != "":
            return False
        old_int = 0
    new_int = int(new_revision)
    if old_int < new_int:
        annotations[REVISION] = new_revision
        changed = True
    if old_revision is not None and old_int < new_int:
        history = annotations.get(REVISION_HISTORY, "")
        olds = history.split(",") if history else []
        if not olds:
            annotations[REVISION_HISTORY] = old_revision
        else:
            total = len(history) + len(old_revision) + 1
            start = 0
            while total > MAX_REV_HISTORY_LENGTH_IN_CHARS and start < len(olds):
                total -= len(olds[start]) + 1
                start += 1
            if total <= MAX_REV_HISTORY_LENGTH_IN_CHARS:
                annotations[REVISION_HISTORY] = ",".join([*olds[start:], old_revision])
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


# ---- status and conditions -------------------------------------------------------------------

def new_condition(cond_type: str, status: str, reason: str, message: str) -> Obj:
    """NewDeploymentCondition."""
    stamp = now_rfc3339()
    return {"type": cond_type, "status": status, "lastUpdateTime": stamp,
            "lastTransitionTime": stamp, "reason": reason, "message": message}


def set_condition(status: Obj, condition: Obj) -> None:
    """SetDeploymentCondition: same status and reason -> no change; same status ->
    keep lastTransitionTime; the condition moves to the end of the list."""
    current = get_condition(status, condition["type"])
    if current is not None and current.get("status") == condition["status"] and \
            current.get("reason") == condition["reason"]:
        return
    if current is not None and current.get("status") == condition["status"]:
        condition = {**condition, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, condition["type"])
    status.setdefault("conditions", []).append(condition)


def remove_condition(status: Obj, cond_type: str) -> None:
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != cond_type]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)


def _omit_empty(status: Obj) -> Obj:
    """DeploymentStatus fields are all `omitempty`: zero counts are not written."""
    return {k: v for k, v in status.items() if v not in (0, None, [])}


def calculate_status(all_rss: Sequence[Obj | None], new_rs: Obj | None, d: Obj) -> Obj:
    """calculateStatus (sync.go): counts from the ReplicaSets and the Available condition."""
    available = available_replica_count(all_rss)
    total = replica_count(all_rss)
    unavailable = max(0, total - available)
    old_status = d.get("status") or {}
    status: Obj = {
        "observedGeneration": int(meta(d).get("generation") or 0),
        "replicas": actual_replica_count(all_rss),
        "updatedReplicas": actual_replica_count([new_rs]),
        "readyReplicas": ready_replica_count(all_rss),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
        "collisionCount": old_status.get("collisionCount"),
    }
    status = _omit_empty(status)
    if old_status.get("collisionCount") is not None:
        status["collisionCount"] = old_status["collisionCount"]
    conditions = [dict(c) for c in old_status.get("conditions") or []]
    if conditions:
        status["conditions"] = conditions
    if available >= replicas(d) - max_unavailable(d):
        set_condition(status, new_condition("Available", "True", MINIMUM_REPLICAS_AVAILABLE,
                                            "Deployment has minimum availability."))
    else:
        set_condition(status, new_condition("Available", "False", MINIMUM_REPLICAS_UNAVAILABLE,
                                            "Deployment does not have minimum availability."))
    return status


def deployment_complete(d: Obj, status: Obj) -> bool:
    """DeploymentComplete: every replica updated and available, latest spec observed."""
    want = replicas(d)
    return (int(status.get("updatedReplicas") or 0) == want and
            int(status.get("replicas") or 0) == want and
            int(status.get("availableReplicas") or 0) == want and
            int(status.get("observedGeneration") or 0) >= int(meta(d).get("generation") or 0))


def deployment_progressing(d: Obj, status: Obj) -> bool:
    """DeploymentProgressing: more updated/ready/available replicas or fewer old ones."""
    old = d.get("status") or {}

    def n(s: Obj, k: str) -> int:
        return int(s.get(k) or 0)

    old_old = n(old, "replicas") - n(old, "updatedReplicas")
    new_old = n(status, "replicas") - n(status, "updatedReplicas")
    return (n(status, "updatedReplicas") > n(old, "updatedReplicas") or new_old < old_old or
            n(status, "readyReplicas") > n(old, "readyReplicas") or
            n(status, "availableReplicas") > n(old, "availableReplicas"))


def deployment_timed_out(d: Obj, status: Obj, at: datetime) -> bool:
    """DeploymentTimedOut: no progress reported for progressDeadlineSeconds."""
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, "Progressing")
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE_REASON:
        return False
    if cond.get("reason") == TIMED_OUT_REASON:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return False
    return since + timedelta(seconds=int(d["spec"]["progressDeadlineSeconds"])) < at
