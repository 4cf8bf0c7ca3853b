"""The Deployment controller (pkg/controller/deployment): Deployment -> ReplicaSets.

Follows upstream's sync loop function by function: `syncDeployment` picks scaling (`sync`,
`scale`), `rolloutRolling` (`reconcileNewReplicaSet`, `reconcileOldReplicaSets`,
`cleanupUnhealthyReplicas`, `scaleDownOldReplicaSetsForRollingUpdate`) or `rolloutRecreate`;
`getNewReplicaSet` creates `<deployment>-<pod-template-hash>`; `syncRolloutStatus` writes the
status and the Available/Progressing conditions; `cleanupDeployment` trims old ReplicaSets to
revisionHistoryLimit. The arithmetic lives in `rollout.py`.

One difference: upstream persists the Deployment's revision annotation through UpdateStatus
(the status strategy keeps annotations); this API server's status endpoint ignores metadata,
so the annotation is written with a merge patch of the Deployment.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from typing import Any

from . import rollout as ru
from .client import ApiClient, ApiError
from .controller import Controller, Requeue
from .events import EventRecorder
from .hashing import compute_hash
from .informer import Informer, SharedInformers
from .kinds import DEPLOYMENTS, PODS, REPLICASETS
from .objects import (
    being_deleted,
    controller_ref,
    get_condition,
    key_of,
    labels_of,
    meta,
    new_controller_ref,
    now,
    parse_time,
    pod_phase,
    split_key,
    uid_of,
)
from .ownership import OwnerGone, claim
from .selectors import is_empty, matches

Obj = dict[str, Any]
log = logging.getLogger(__name__)


class DeploymentController(Controller):
    name = "deployment-controller"
    workers = 4

    def __init__(self, client: ApiClient, informers: SharedInformers,
                 recorder: EventRecorder) -> None:
        super().__init__()
        self.client = client
        self.recorder = recorder
        self.deployments: Informer = informers.get(DEPLOYMENTS)
        self.rss: Informer = informers.get(REPLICASETS)
        self.pods: Informer = informers.get(PODS)
        self.deployments.add_handler(lambda d: self.enqueue(key_of(d)),
                                     lambda old, new: self.enqueue(key_of(new)),
                                     lambda d: self.enqueue(key_of(d)))
        self.rss.add_handler(self._add_rs, self._update_rs, self._delete_rs)
        self.pods.add_handler(on_delete=self._delete_pod)

    # ---- event handlers (addReplicaSet, updateReplicaSet, deleteReplicaSet, deletePod) -----

    def _resolve(self, namespace: str, ref: Obj | None) -> Obj | None:
        """resolveControllerRef: the Deployment a controllerRef names, if its uid matches."""
        if ref is None or ref.get("kind") != "Deployment":
            return None
        d = self.deployments.get_by_name(namespace, ref.get("name", ""))
        return d if d is not None and uid_of(d) == ref.get("uid") else None

    def _deployments_for_rs(self, rs: Obj) -> list[Obj]:
        """getDeploymentsForReplicaSet: Deployments whose selector matches an orphan."""
        ns = meta(rs).get("namespace", "")
        return [d for d in self.deployments.by_index("namespace", ns)
                if not is_empty((d.get("spec") or {}).get("selector")) and
                matches((d.get("spec") or {}).get("selector"), labels_of(rs))]

    def _add_rs(self, rs: Obj) -> None:
        if being_deleted(rs):
            self._delete_rs(rs)
            return
        ns = meta(rs).get("namespace", "")
        ref = controller_ref(rs)
        if ref is not None:
            d = self._resolve(ns, ref)
            if d is not None:
                self.enqueue(key_of(d))
            return
        for d in self._deployments_for_rs(rs):
            self.enqueue(key_of(d))

    def _update_rs(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        ns = meta(new).get("namespace", "")
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        if old_ref is not None and (new_ref is None or old_ref.get("uid") != new_ref.get("uid")):
            d = self._resolve(ns, old_ref)
            if d is not None:
                self.enqueue(key_of(d))
        if new_ref is not None:
            d = self._resolve(ns, new_ref)
            if d is not None:
                self.enqueue(key_of(d))
            return
        if labels_of(old) != labels_of(new) or old_ref is not None:
            for d in self._deployments_for_rs(new):
                self.enqueue(key_of(d))

    def _delete_rs(self, rs: Obj) -> None:
        d = self._resolve(meta(rs).get("namespace", ""), controller_ref(rs))
        if d is not None:
            self.enqueue(key_of(d))

    def _delete_pod(self, pod: Obj) -> None:
        """Recreate waits for old pods to be gone: their deletion resumes the rollout."""
        ns = meta(pod).get("namespace", "")
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.rss.get_by_name(ns, ref.get("name", ""))
        if rs is None or uid_of(rs) != ref.get("uid"):
            return
        d = self._resolve(ns, controller_ref(rs))
        if d is not None and not ru.is_rolling_update(d):
            self.enqueue(key_of(d))

    # ---- syncDeployment --------------------------------------------------------------------

    async def sync(self, key: Any) -> None:
        cached = self.deployments.get(key)
        if cached is None:
            return
        d = copy.deepcopy(cached)
        selector = (d.get("spec") or {}).get("selector")
        if is_empty(selector):
            self.recorder.event(d, DEPLOYMENTS, "Warning", "SelectingAll",
                                "This deployment is selecting all pods. A non-empty selector "
                                "is required.")
            status = d.setdefault("status", {})
            if int(status.get("observedGeneration") or 0) < int(meta(d).get("generation") or 0):
                status["observedGeneration"] = meta(d).get("generation")
                await self._update_status(d)
            return
        rs_list = await self._get_replica_sets_for_deployment(d)
        if being_deleted(d):
            await self._sync_status_only(d, rs_list)
            return
        await self._check_paused_conditions(d)
        if (d.get("spec") or {}).get("paused"):
            await self._sync(d, rs_list)
            return
        if await self._is_scaling_event(d, rs_list):
            await self._sync(d, rs_list)
            return
        if ru.is_rolling_update(d):
            await self._rollout_rolling(d, rs_list)
        else:
            await self._rollout_recreate(d, rs_list)

    async def _get_replica_sets_for_deployment(self, d: Obj) -> list[Obj]:
        """getReplicaSetsForDeployment: claim (adopt/release) the namespace's ReplicaSets."""
        ns = meta(d).get("namespace", "")
        selector = d["spec"]["selector"]
        candidates = self.rss.by_index("namespace", ns)
        try:
            claimed = await claim(self.client, d, DEPLOYMENTS, REPLICASETS, candidates,
                                  lambda rs: matches(selector, labels_of(rs)))
        except OwnerGone as exc:
            raise Requeue(0.5) from exc
        return [copy.deepcopy(rs) for rs in claimed]

    def _pod_map(self, rs_list: list[Obj]) -> dict[str, list[Obj]]:
        """getPodMapForDeployment: the pods each ReplicaSet controls, by ReplicaSet uid."""
        out: dict[str, list[Obj]] = {}
        for rs in rs_list:
            uid = uid_of(rs)
            out[uid] = [p for p in self.pods.by_index("owner", uid)
                        if (controller_ref(p) or {}).get("uid") == uid]
        return out

    async def _check_paused_conditions(self, d: Obj) -> None:
        """checkPausedConditions: Progressing Unknown while paused, and when resumed."""
        if not ru.has_progress_deadline(d):
            return
        status = d.setdefault("status", {})
        cond = get_condition(status, "Progressing")
        if cond is not None and cond.get("reason") == ru.TIMED_OUT_REASON:
            return
        paused = bool(d["spec"].get("paused"))
        paused_cond = cond is not None and cond.get("reason") == ru.PAUSED_DEPLOY_REASON
        if paused and not paused_cond:
            ru.set_condition(status, ru.new_condition("Progressing", "Unknown",
                                                      ru.PAUSED_DEPLOY_REASON,
                                                      "Deployment is paused"))
        elif not paused and paused_cond:
            ru.set_condition(status, ru.new_condition("Progressing", "Unknown",
                                                      ru.RESUMED_DEPLOY_REASON,
                                                      "Deployment is resumed"))
        else:
            return
        await self._update_status(d)

    async def _is_scaling_event(self, d: Obj, rs_list: list[Obj]) -> bool:
        """isScalingEvent: an active ReplicaSet was sized for another replica count."""
        new_rs, old_rss = await self._get_all_replica_sets_and_sync_revision(d, rs_list, False)
        for rs in ru.filter_active([*old_rss, new_rs]):
            desired = ru.desired_replicas_annotation(rs)
            if desired is not None and desired != ru.replicas(d):
                return True
        return False

    # ---- sync (scaling and paused) ---------------------------------------------------------

    async def _sync(self, d: Obj, rs_list: list[Obj]) -> None:
        new_rs, old_rss = await self._get_all_replica_sets_and_sync_revision(d, rs_list, False)
        await self._scale(d, new_rs, old_rss)
        if d["spec"].get("paused"):
            await self._cleanup_deployment(old_rss, d)
        await self._sync_deployment_status([*old_rss, new_rs], new_rs, d)

    async def _scale(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
        """scale: proportional scaling of the active ReplicaSets (maxSurge headroom)."""
        want = ru.replicas(d)
        active_or_latest = ru.find_active_or_latest(new_rs, old_rss)
        if active_or_latest is not None:
            if ru.replicas(active_or_latest) != want:
                await self._scale_rs_and_record(active_or_latest, want, d)
            return
        if ru.is_saturated(d, new_rs):
            for old in ru.filter_active(old_rss):
                await self._scale_rs_and_record(old, 0, d)
            return
        if not ru.is_rolling_update(d):
            return
        all_rss = ru.filter_active([*old_rss, new_rs])
        all_replicas = ru.replica_count(all_rss)
        allowed = want + ru.max_surge(d) if want > 0 else 0
        to_add = allowed - all_replicas
        if to_add > 0:
            all_rss = ru.by_size_newer(all_rss)
        elif to_add < 0:
            all_rss = ru.by_size_older(all_rss)
        added = 0
        sizes: dict[str, int] = {}
        for rs in all_rss:
            name = meta(rs)["name"]
            if to_add != 0:
                proportion = ru.replica_set_proportion(rs, d, to_add, added)
                sizes[name] = ru.replicas(rs) + proportion
                added += proportion
            else:
                sizes[name] = ru.replicas(rs)
        for i, rs in enumerate(all_rss):
            name = meta(rs)["name"]
            if i == 0 and to_add != 0:
                # "Add/remove any leftovers to the largest replica set."
                sizes[name] = max(0, sizes[name] + to_add - added)
            await self._scale_rs(rs, sizes[name], d)

    # ---- rolloutRolling --------------------------------------------------------------------

    async def _rollout_rolling(self, d: Obj, rs_list: list[Obj]) -> None:
        new_rs, old_rss = await self._get_all_replica_sets_and_sync_revision(d, rs_list, True)
        assert new_rs is not None
        all_rss = [*old_rss, new_rs]
        if await self._reconcile_new_replica_set(all_rss, new_rs, d):
            await self._sync_rollout_status(all_rss, new_rs, d)
            return
        if await self._reconcile_old_replica_sets(all_rss, ru.filter_active(old_rss), new_rs, d):
            await self._sync_rollout_status(all_rss, new_rs, d)
            return
        if ru.deployment_complete(d, d.get("status") or {}):
            await self._cleanup_deployment(old_rss, d)
        await self._sync_rollout_status(all_rss, new_rs, d)

    async def _reconcile_new_replica_set(self, all_rss: list[Obj], new_rs: Obj,
                                         d: Obj) -> bool:
        want = ru.replicas(d)
        if ru.replicas(new_rs) == want:
            return False
        if ru.replicas(new_rs) > want:
            return await self._scale_rs_and_record(new_rs, want, d)
        return await self._scale_rs_and_record(new_rs, ru.new_rs_new_replicas(d, all_rss,
                                                                              new_rs), d)

    async def _reconcile_old_replica_sets(self, all_rss: list[Obj], old_rss: list[Obj],
                                          new_rs: Obj, d: Obj) -> bool:
        old_pods = ru.replica_count(old_rss)
        if old_pods == 0:
            return False
        all_pods = ru.replica_count(all_rss)
        min_available = ru.replicas(d) - ru.max_unavailable(d)
        new_unavailable = ru.replicas(new_rs) - ru.status_int(new_rs, "availableReplicas")
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        # "Clean up unhealthy replicas first, otherwise unhealthy replicas will block
        # deployment and cause timeout."
        old_rss, cleaned = await self._cleanup_unhealthy_replicas(old_rss, d, max_scaled_down)
        scaled = await self._scale_down_old_replica_sets_for_rolling_update(
            [*old_rss, new_rs], old_rss, d)
        return cleaned + scaled > 0

    async def _cleanup_unhealthy_replicas(self, old_rss: list[Obj], d: Obj,
                                          max_cleanup: int) -> tuple[list[Obj], int]:
        old_rss = ru.by_creation(old_rss)
        total = 0
        for i, rs in enumerate(old_rss):
            if total >= max_cleanup:
                break
            if ru.replicas(rs) == 0 or ru.replicas(rs) == ru.status_int(rs, "availableReplicas"):
                continue
            down = min(max_cleanup - total,
                       ru.replicas(rs) - ru.status_int(rs, "availableReplicas"))
            new_count = ru.replicas(rs) - down
            _, updated = await self._scale_rs_and_record_get(rs, new_count, d)
            total += down
            old_rss[i] = updated
        return old_rss, total

    async def _scale_down_old_replica_sets_for_rolling_update(self, all_rss: list[Obj],
                                                              old_rss: list[Obj],
                                                              d: Obj) -> int:
        min_available = ru.replicas(d) - ru.max_unavailable(d)
        available = ru.available_replica_count(all_rss)
        if available <= min_available:
            return 0
        total = 0
        to_scale_down = available - min_available
        for rs in ru.by_creation(old_rss):
            if total >= to_scale_down:
                break
            if ru.replicas(rs) == 0:
                continue
            down = min(ru.replicas(rs), to_scale_down - total)
            await self._scale_rs_and_record(rs, ru.replicas(rs) - down, d)
            total += down
        return total

    # ---- rolloutRecreate -------------------------------------------------------------------

    async def _rollout_recreate(self, d: Obj, rs_list: list[Obj]) -> None:
        new_rs, old_rss = await self._get_all_replica_sets_and_sync_revision(d, rs_list, False)
        all_rss = [*old_rss, new_rs]
        scaled = False
        for rs in ru.filter_active(old_rss):
            if await self._scale_rs_and_record(rs, 0, d):
                scaled = True
        if scaled:
            await self._sync_rollout_status(all_rss, new_rs, d)
            return
        if self._old_pods_running(new_rs, old_rss, self._pod_map(rs_list)):
            await self._sync_rollout_status(all_rss, new_rs, d)
            return
        if new_rs is None:
            new_rs, old_rss = await self._get_all_replica_sets_and_sync_revision(d, rs_list,
                                                                                 True)
            all_rss = [*old_rss, new_rs]
        assert new_rs is not None
        await self._scale_rs_and_record(new_rs, ru.replicas(d), d)
        if ru.deployment_complete(d, d.get("status") or {}):
            await self._cleanup_deployment(old_rss, d)
        await self._sync_rollout_status(all_rss, new_rs, d)

    @staticmethod
    def _old_pods_running(new_rs: Obj | None, old_rss: list[Obj],
                          pod_map: dict[str, list[Obj]]) -> bool:
        """oldPodsRunning: any old pod not yet in a terminal phase."""
        if ru.actual_replica_count(old_rss) > 0:
            return True
        new_uid = uid_of(new_rs) if new_rs is not None else None
        for rs_uid, pods in pod_map.items():
            if rs_uid == new_uid:
                continue
            if any(pod_phase(p) not in ("Failed", "Succeeded") for p in pods):
                return True
        return False

    # ---- getNewReplicaSet ------------------------------------------------------------------

    async def _get_all_replica_sets_and_sync_revision(
            self, d: Obj, rs_list: list[Obj], create: bool) -> tuple[Obj | None, list[Obj]]:
        old_rss = ru.find_old_replica_sets(d, rs_list, ru.find_new_replica_set(d, rs_list))
        new_rs = await self._get_new_replica_set(d, rs_list, old_rss, create)
        return new_rs, old_rss

    async def _get_new_replica_set(self, d: Obj, rs_list: list[Obj], old_rss: list[Obj],
                                   create: bool) -> Obj | None:
        existing = ru.find_new_replica_set(d, rs_list)
        new_revision = str(ru.max_revision(old_rss) + 1)
        status = d.setdefault("status", {})
        if existing is not None:
            rs = copy.deepcopy(existing)
            annotations_updated = ru.set_new_replica_set_annotations(d, rs, new_revision, True)
            min_ready = int(d["spec"].get("minReadySeconds") or 0)
            if annotations_updated or int(rs["spec"].get("minReadySeconds") or 0) != min_ready:
                _set_min_ready_seconds(rs, min_ready)
                return await self.client.update(REPLICASETS, rs)
            await self._set_deployment_revision(
                d, (meta(rs).get("annotations") or {}).get(ru.REVISION, ""))
            if ru.has_progress_deadline(d) and get_condition(status, "Progressing") is None:
                ru.set_condition(status, ru.new_condition(
                    "Progressing", "True", ru.FOUND_NEW_RS_REASON,
                    f'Found new replica set "{meta(rs)["name"]}"'))
                await self._update_status(d)
            return rs
        if not create:
            return None
        template = copy.deepcopy(d["spec"]["template"])
        pod_hash = compute_hash(template, status.get("collisionCount"))
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels[ru.POD_TEMPLATE_HASH] = pod_hash
        template.setdefault("metadata", {})["labels"] = labels
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[ru.POD_TEMPLATE_HASH] = pod_hash
        ns = meta(d)["namespace"]
        new_rs: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{meta(d)['name']}-{pod_hash}", "namespace": ns,
                         "ownerReferences": [new_controller_ref(d, DEPLOYMENTS)],
                         "labels": dict(labels)},
            "spec": {"replicas": 0, "selector": selector, "template": template},
        }
        _set_min_ready_seconds(new_rs, int(d["spec"].get("minReadySeconds") or 0))
        new_rs["spec"]["replicas"] = ru.new_rs_new_replicas(d, [*old_rss, new_rs], new_rs)
        ru.set_new_replica_set_annotations(d, new_rs, new_revision, False)
        already_exists = False
        try:
            created = await self.client.create(REPLICASETS, new_rs, ns)
        except ApiError as exc:
            if exc.already_exists:
                # A slow cache: the ReplicaSet may be ours. Read it from the server.
                already_exists = True
                current = await self.client.get(REPLICASETS, new_rs["metadata"]["name"], ns)
                ref = controller_ref(current)
                if ref is not None and ref.get("uid") == uid_of(d) and ru.equal_ignore_hash(
                        d["spec"]["template"], current["spec"].get("template")):
                    created = current
                else:
                    # A hash collision: bump collisionCount and retry with another hash.
                    status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
                    await self._update_status(d)
                    raise
            elif exc.namespace_terminating:
                raise Requeue(1.0) from exc
            else:
                msg = f'Failed to create new replica set "{new_rs["metadata"]["name"]}": {exc}'
                if ru.has_progress_deadline(d):
                    ru.set_condition(status, ru.new_condition(
                        "Progressing", "False", ru.FAILED_RS_CREATE_REASON, msg))
                    with contextlib.suppress(ApiError):
                        await self._update_status(d)
                self.recorder.event(d, DEPLOYMENTS, "Warning", ru.FAILED_RS_CREATE_REASON, msg)
                raise
        count = ru.replicas(created)
        if not already_exists and count > 0:
            self.recorder.event(d, DEPLOYMENTS, "Normal", "ScalingReplicaSet",
                                f"Scaled up replica set {meta(created)['name']} from 0 to "
                                f"{count}")
        await self._set_deployment_revision(d, new_revision)
        if not already_exists and ru.has_progress_deadline(d):
            ru.set_condition(status, ru.new_condition(
                "Progressing", "True", ru.NEW_RS_REASON,
                f'Created new replica set "{meta(created)["name"]}"'))
            await self._update_status(d)
        return created

    async def _set_deployment_revision(self, d: Obj, rev: str) -> None:
        """SetDeploymentRevision, persisted at once (see the module docstring)."""
        annotations = meta(d).get("annotations") or {}
        if not rev or annotations.get(ru.REVISION) == rev:
            return
        patched = await self.client.patch(
            DEPLOYMENTS, meta(d)["name"], {"metadata": {"annotations": {ru.REVISION: rev}}},
            meta(d)["namespace"])
        d["metadata"]["annotations"] = meta(patched).get("annotations") or {}
        d["metadata"]["resourceVersion"] = meta(patched).get("resourceVersion")

    # ---- scaling ReplicaSets ---------------------------------------------------------------

    async def _scale_rs_and_record(self, rs: Obj, new_scale: int, d: Obj) -> bool:
        scaled, _ = await self._scale_rs_and_record_get(rs, new_scale, d)
        return scaled

    async def _scale_rs_and_record_get(self, rs: Obj, new_scale: int, d: Obj
                                       ) -> tuple[bool, Obj]:
        """scaleReplicaSetAndRecordEvent: nothing to do when already at `new_scale`."""
        if ru.replicas(rs) == new_scale:
            return False, rs
        return await self._scale_rs(rs, new_scale, d)

    async def _scale_rs(self, rs: Obj, new_scale: int, d: Obj) -> tuple[bool, Obj]:
        """scaleReplicaSet: spec.replicas plus the desired/max-replicas annotations."""
        size_changes = ru.replicas(rs) != new_scale
        max_replicas = ru.replicas(d) + ru.max_surge(d)
        if not size_changes and not ru.replicas_annotations_need_update(rs, ru.replicas(d),
                                                                         max_replicas):
            return False, rs
        old_scale = ru.replicas(rs)
        body = copy.deepcopy(rs)
        body["spec"]["replicas"] = new_scale
        ru.set_replicas_annotations(body, ru.replicas(d), max_replicas)
        updated = await self.client.update(REPLICASETS, body)
        rs.clear()
        rs.update(updated)
        if size_changes:
            direction = "up" if old_scale < new_scale else "down"
            self.recorder.event(d, DEPLOYMENTS, "Normal", "ScalingReplicaSet",
                                f"Scaled {direction} replica set {meta(updated)['name']} from "
                                f"{old_scale} to {new_scale}")
        return size_changes, rs

    async def _cleanup_deployment(self, old_rss: list[Obj], d: Obj) -> None:
        """cleanupDeployment: delete the oldest idle ReplicaSets past revisionHistoryLimit."""
        if not ru.has_revision_history_limit(d):
            return
        alive = [rs for rs in old_rss if rs is not None and not being_deleted(rs)]
        diff = len(alive) - int(d["spec"]["revisionHistoryLimit"])
        if diff <= 0:
            return
        for rs in ru.by_revision(alive)[:diff]:
            if ru.status_int(rs, "replicas") != 0 or ru.replicas(rs) != 0 or \
                    int(meta(rs).get("generation") or 0) > ru.status_int(rs, "observedGeneration"):
                continue
            try:
                await self.client.delete(REPLICASETS, meta(rs)["name"], meta(rs)["namespace"])
            except ApiError as exc:
                if not exc.not_found:
                    raise

    # ---- status ----------------------------------------------------------------------------

    async def _update_status(self, d: Obj) -> None:
        updated = await self.client.update_status(DEPLOYMENTS, d)
        d["metadata"]["resourceVersion"] = meta(updated).get("resourceVersion")

    async def _sync_status_only(self, d: Obj, rs_list: list[Obj]) -> None:
        new_rs, old_rss = await self._get_all_replica_sets_and_sync_revision(d, rs_list, False)
        await self._sync_deployment_status([*old_rss, new_rs], new_rs, d)

    async def _sync_deployment_status(self, all_rss: list[Obj | None], new_rs: Obj | None,
                                      d: Obj) -> None:
        """syncDeploymentStatus: counts and Available only."""
        status = ru.calculate_status(all_rss, new_rs, d)
        if status == (d.get("status") or {}):
            return
        d["status"] = status
        await self._update_status(d)

    async def _sync_rollout_status(self, all_rss: list[Obj | None], new_rs: Obj | None,
                                   d: Obj) -> None:
        """syncRolloutStatus: counts, Available, and the Progressing condition."""
        status = ru.calculate_status(all_rss, new_rs, d)
        if not ru.has_progress_deadline(d):
            ru.remove_condition(status, "Progressing")
        current = get_condition(d.get("status"), "Progressing")
        complete = (int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0)
                    and current is not None and current.get("reason") ==
                    ru.NEW_RS_AVAILABLE_REASON)
        if ru.has_progress_deadline(d) and not complete:
            rs_name = meta(new_rs)["name"] if new_rs is not None else None
            name = meta(d)["name"]
            if ru.deployment_complete(d, status):
                msg = (f'ReplicaSet "{rs_name}" has successfully progressed.' if rs_name
                       else f'Deployment "{name}" has successfully progressed.')
                ru.set_condition(status, ru.new_condition("Progressing", "True",
                                                          ru.NEW_RS_AVAILABLE_REASON, msg))
            elif ru.deployment_progressing(d, status):
                msg = (f'ReplicaSet "{rs_name}" is progressing.' if rs_name
                       else f'Deployment "{name}" is progressing.')
                cond = ru.new_condition("Progressing", "True", ru.RS_UPDATED_REASON, msg)
                # Progress refreshes lastUpdateTime even when the reason stays the same.
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    ru.remove_condition(status, "Progressing")
                ru.set_condition(status, cond)
            elif ru.deployment_timed_out(d, status, now()):
                msg = (f'ReplicaSet "{rs_name}" has timed out progressing.' if rs_name
                       else f'Deployment "{name}" has timed out progressing.')
                ru.set_condition(status, ru.new_condition("Progressing", "False",
                                                          ru.TIMED_OUT_REASON, msg))
        failure = self._replica_failure(all_rss, new_rs)
        if failure is not None:
            ru.set_condition(status, failure)
        else:
            ru.remove_condition(status, "ReplicaFailure")
        if status == (d.get("status") or {}):
            self._requeue_stuck_deployment(d, status)
            return
        d["status"] = status
        await self._update_status(d)

    @staticmethod
    def _replica_failure(all_rss: list[Obj | None], new_rs: Obj | None) -> Obj | None:
        """getReplicaFailures: a ReplicaFailure condition of the new (else any) ReplicaSet."""
        ordered = ([new_rs] if new_rs is not None else []) + [rs for rs in all_rss
                                                              if rs is not new_rs]
        for rs in ordered:
            if rs is None:
                continue
            cond = get_condition(rs.get("status"), "ReplicaFailure")
            if cond is not None:
                return ru.new_condition("ReplicaFailure", cond.get("status", "True"),
                                        cond.get("reason", ""), cond.get("message", ""))
        return None

    def _requeue_stuck_deployment(self, d: Obj, status: Obj) -> None:
        """requeueStuckDeployment: look again when the progress deadline would pass."""
        current = get_condition(d.get("status"), "Progressing")
        if not ru.has_progress_deadline(d) or current is None:
            return
        if ru.deployment_complete(d, status) or current.get("reason") == ru.TIMED_OUT_REASON:
            return
        since = parse_time(current.get("lastUpdateTime"))
        if since is None:
            return
        after = (since - now()).total_seconds() + int(d["spec"]["progressDeadlineSeconds"])
        ns, name = split_key(key_of(d))
        if after < 1:
            self.queue.add_rate_limited(f"{ns}/{name}")
        else:
            self.queue.add_after(f"{ns}/{name}", after + 1)


def _set_min_ready_seconds(rs: Obj, seconds: int) -> None:
    """ReplicaSetSpec.minReadySeconds is `omitempty`: 0 is not written."""
    if seconds:
        rs["spec"]["minReadySeconds"] = seconds
    else:
        rs["spec"].pop("minReadySeconds", None)
