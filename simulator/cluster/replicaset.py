"""The ReplicaSet controller (pkg/controller/replicaset/replica_set.go): ReplicaSet -> Pods.

`syncReplicaSet` claims the namespace's active pods, and when its expectations are met runs
`manageReplicas`: create the missing pods in slow-start batches (1, 2, 4, ...; at most
burstReplicas per sync) or delete the surplus, best candidates first (`podranking.py`).
Then `calculateStatus` / `updateReplicaSetStatus` write replicas, fullyLabeledReplicas,
readyReplicas, availableReplicas and observedGeneration.

Pod names: `<replicaset>-<5 characters>` with `generateName: <replicaset>-`, as
GetPodFromTemplate asks the API server for; the suffix is drawn here from the cluster's seeded
random generator so runs are reproducible (a clash with an existing name is retried).
"""

from __future__ import annotations

import asyncio
import copy
import random
from typing import Any

from .client import ApiClient, ApiError
from .controller import Controller, Requeue
from .events import EventRecorder
from .expectations import Expectations
from .hashing import SAFE_ALPHABET
from .informer import Informer, SharedInformers
from .kinds import PODS, REPLICASETS
from .objects import (
    being_deleted,
    controller_ref,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    key_of,
    labels_of,
    meta,
    new_controller_ref,
    now_rfc3339,
    uid_of,
)
from .ownership import OwnerGone, claim
from .podranking import rank_for_deletion
from .selectors import matches, matches_set

Obj = dict[str, Any]

BURST_REPLICAS = 500  # --concurrent-... burstReplicas in NewReplicaSetController
SLOW_START_INITIAL_BATCH_SIZE = 1
NAME_ATTEMPTS = 5


def random_suffix(rng: random.Random, n: int = 5) -> str:
    """utilrand.String(n): characters from the safe alphabet."""
    return "".join(rng.choice(SAFE_ALPHABET) for _ in range(n))


def generated_name(prefix: str, rng: random.Random) -> str:
    """names.SimpleNameGenerator: the prefix cut to leave room for 5 random characters."""
    return prefix[:63 - 5] + random_suffix(rng)


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    workers = 4

    def __init__(self, client: ApiClient, informers: SharedInformers, recorder: EventRecorder,
                 rng: random.Random) -> None:
        super().__init__()
        self.client = client
        self.recorder = recorder
        self.rng = rng
        self.expectations = Expectations()
        self.rss: Informer = informers.get(REPLICASETS)
        self.pods: Informer = informers.get(PODS)
        self.rss.add_handler(lambda rs: self.enqueue(key_of(rs)),
                             lambda old, new: self.enqueue(key_of(new)),
                             self._delete_rs)
        self.pods.add_handler(self._add_pod, self._update_pod, self._delete_pod)

    # ---- event handlers --------------------------------------------------------------------

    def _delete_rs(self, rs: Obj) -> None:
        self.expectations.delete(key_of(rs))
        self.enqueue(key_of(rs))

    def _resolve(self, namespace: str, ref: Obj | None) -> Obj | None:
        if ref is None or ref.get("kind") != "ReplicaSet":
            return None
        rs = self.rss.get_by_name(namespace, ref.get("name", ""))
        return rs if rs is not None and uid_of(rs) == ref.get("uid") else None

    def _pod_replica_sets(self, pod: Obj) -> list[Obj]:
        """getPodReplicaSets: the ReplicaSets whose selector matches an orphan pod."""
        ns = meta(pod).get("namespace", "")
        return [rs for rs in self.rss.by_index("namespace", ns)
                if matches((rs.get("spec") or {}).get("selector"), labels_of(pod))]

    def _add_pod(self, pod: Obj) -> None:
        if being_deleted(pod):
            self._delete_pod(pod)
            return
        ns = meta(pod).get("namespace", "")
        ref = controller_ref(pod)
        if ref is not None:
            rs = self._resolve(ns, ref)
            if rs is not None:
                self.expectations.creation_observed(key_of(rs))
                self.enqueue(key_of(rs))
            return
        for rs in self._pod_replica_sets(pod):
            self.enqueue(key_of(rs))

    def _update_pod(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        label_changed = labels_of(old) != labels_of(new)
        if being_deleted(new):
            # Replace a terminating pod at once, not when the kubelet finally removes it.
            self._delete_pod(new)
            if label_changed:
                self._delete_pod(old)
            return
        ns = meta(new).get("namespace", "")
        new_ref, old_ref = controller_ref(new), controller_ref(old)
        ref_changed = new_ref != old_ref
        if ref_changed and old_ref is not None:
            rs = self._resolve(ns, old_ref)
            if rs is not None:
                self.enqueue(key_of(rs))
        if new_ref is not None:
            rs = self._resolve(ns, new_ref)
            if rs is None:
                return
            self.enqueue(key_of(rs))
            min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
            if not is_pod_ready(old) and is_pod_ready(new) and min_ready > 0:
                self.queue.add_after(key_of(rs), min_ready + 1)
            return
        if label_changed or ref_changed:
            for rs in self._pod_replica_sets(new):
                self.enqueue(key_of(rs))

    def _delete_pod(self, pod: Obj) -> None:
        rs = self._resolve(meta(pod).get("namespace", ""), controller_ref(pod))
        if rs is None:
            return
        self.expectations.deletion_observed(key_of(rs), key_of(pod))
        self.enqueue(key_of(rs))

    # ---- syncReplicaSet --------------------------------------------------------------------

    async def sync(self, key: Any) -> None:
        cached = self.rss.get(key)
        if cached is None:
            self.expectations.delete(key)
            return
        rs = copy.deepcopy(cached)
        needs_sync = self.expectations.satisfied(key)
        selector = (rs.get("spec") or {}).get("selector")
        ns = meta(rs)["namespace"]
        active = [p for p in self.pods.by_index("namespace", ns) if is_pod_active(p)]
        try:
            pods = await claim(self.client, rs, REPLICASETS, PODS, active,
                               lambda p: matches(selector, labels_of(p)))
        except OwnerGone as exc:
            raise Requeue(0.5) from exc
        manage_error: ApiError | None = None
        if needs_sync and not being_deleted(rs):
            try:
                await self._manage_replicas(pods, rs)
            except ApiError as exc:
                manage_error = exc
        status = self._calculate_status(rs, pods, manage_error)
        updated = await self._update_status(rs, status)
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        if manage_error is None and min_ready > 0 and updated is not None:
            st = updated.get("status") or {}
            want = int(rs["spec"].get("replicas", 1))
            if int(st.get("readyReplicas") or 0) == want and \
                    int(st.get("availableReplicas") or 0) != want:
                self.queue.add_after(key, min_ready)
        if manage_error is not None:
            raise manage_error

    async def _manage_replicas(self, pods: list[Obj], rs: Obj) -> None:
        key = key_of(rs)
        want = int(rs["spec"].get("replicas", 1))
        diff = len(pods) - want
        if diff < 0:
            count = min(-diff, BURST_REPLICAS)
            self.expectations.expect_creations(key, count)
            successes, error = await self._slow_start_batch(count, rs)
            for _ in range(count - successes):
                # "Any skipped pods that we never attempted to start shouldn't be expected."
                self.expectations.creation_observed(key)
            if error is not None:
                raise error
        elif diff > 0:
            count = min(diff, BURST_REPLICAS)
            victims = rank_for_deletion(pods)[:count] if count < len(pods) else pods[:count]
            self.expectations.expect_deletions(key, [key_of(p) for p in victims])
            results = await asyncio.gather(*(self._delete_pod_of(rs, p) for p in victims),
                                           return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    async def _slow_start_batch(self, count: int, rs: Obj) -> tuple[int, ApiError | None]:
        """slowStartBatch: batches of 1, 2, 4, ... pods; stop at the first failing batch."""
        remaining, successes = count, 0
        batch = min(remaining, SLOW_START_INITIAL_BATCH_SIZE)
        while batch > 0:
            results = await asyncio.gather(*(self._create_pod(rs) for _ in range(batch)),
                                           return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            successes += batch - len(errors)
            if errors:
                err = errors[0]
                if isinstance(err, ApiError):
                    return successes, err
                raise err
            remaining -= batch
            batch = min(2 * batch, remaining)
        return successes, None

    async def _create_pod(self, rs: Obj) -> None:
        """PodControl.CreatePods with GetPodFromTemplate."""
        template = rs["spec"].get("template") or {}
        tmeta = template.get("metadata") or {}
        md = meta(rs)
        prefix = f"{md['name']}-"
        pod_meta: Obj = {"generateName": prefix, "namespace": md["namespace"],
                         "labels": dict(tmeta.get("labels") or {}),
                         "ownerReferences": [new_controller_ref(rs, REPLICASETS)]}
        if tmeta.get("annotations"):
            pod_meta["annotations"] = dict(tmeta["annotations"])
        if tmeta.get("finalizers"):
            pod_meta["finalizers"] = list(tmeta["finalizers"])
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
                "spec": copy.deepcopy(template.get("spec") or {})}
        for attempt in range(NAME_ATTEMPTS):
            pod_meta["name"] = generated_name(prefix, self.rng)
            try:
                created = await self.client.create(PODS, body, md["namespace"])
            except ApiError as exc:
                if exc.already_exists and attempt < NAME_ATTEMPTS - 1:
                    continue
                if exc.namespace_terminating:
                    # "if the namespace is being terminated, we don't have to do anything
                    # because any creation will fail"
                    return
                self.recorder.event(rs, REPLICASETS, "Warning", "FailedCreate",
                                    f"Error creating: {exc.message}")
                raise
            self.recorder.event(rs, REPLICASETS, "Normal", "SuccessfulCreate",
                                f"Created pod: {created['metadata']['name']}")
            return

    async def _delete_pod_of(self, rs: Obj, pod: Obj) -> None:
        """PodControl.DeletePod; a failed delete will not be observed, so un-expect it."""
        md = meta(pod)
        try:
            await self.client.delete(PODS, md["name"], md["namespace"])
        except ApiError as exc:
            self.expectations.deletion_observed(key_of(rs), key_of(pod))
            if exc.not_found:
                return
            self.recorder.event(rs, REPLICASETS, "Warning", "FailedDelete",
                                f"Error deleting: {exc.message}")
            raise
        self.recorder.event(rs, REPLICASETS, "Normal", "SuccessfulDelete",
                            f"Deleted pod: {md['name']}")

    # ---- status ----------------------------------------------------------------------------

    @staticmethod
    def _calculate_status(rs: Obj, pods: list[Obj], manage_error: ApiError | None) -> Obj:
        """calculateStatus."""
        status = copy.deepcopy(rs.get("status") or {})
        template_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get(
            "labels") or {}
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        fully_labeled = sum(1 for p in pods if matches_set(template_labels, labels_of(p)))
        ready = [p for p in pods if is_pod_ready(p)]
        available = sum(1 for p in ready if is_pod_available(p, min_ready))
        conditions = [c for c in status.get("conditions") or []
                      if c.get("type") != "ReplicaFailure"]
        failure = next((c for c in status.get("conditions") or []
                        if c.get("type") == "ReplicaFailure"), None)
        if manage_error is not None and failure is None:
            diff = len(pods) - int(rs["spec"].get("replicas", 1))
            reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
            conditions.append({"type": "ReplicaFailure", "status": "True",
                               "lastTransitionTime": now_rfc3339(), "reason": reason,
                               "message": str(manage_error.message)})
        elif manage_error is not None and failure is not None:
            conditions.append(failure)
        status["replicas"] = len(pods)
        # ReplicaSetStatus: replicas is always written, the other counts are `omitempty`.
        for name, value in (("fullyLabeledReplicas", fully_labeled),
                            ("readyReplicas", len(ready)), ("availableReplicas", available)):
            if value:
                status[name] = value
            else:
                status.pop(name, None)
        if conditions:
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)
        return status

    async def _update_status(self, rs: Obj, status: Obj) -> Obj | None:
        """updateReplicaSetStatus: write only when something changed (observedGeneration
        included); on a conflict re-read once and retry, as upstream."""
        old = rs.get("status") or {}
        generation = int(meta(rs).get("generation") or 0)
        same = all(int(old.get(k) or 0) == int(status.get(k) or 0)
                   for k in ("replicas", "fullyLabeledReplicas", "readyReplicas",
                             "availableReplicas"))
        if same and generation == int(old.get("observedGeneration") or 0) and \
                old.get("conditions") == status.get("conditions"):
            return rs
        status["observedGeneration"] = generation
        body = rs
        for attempt in range(2):
            body["status"] = status
            try:
                return await self.client.update_status(REPLICASETS, body)
            except ApiError as exc:
                if exc.not_found:
                    return None
                if not exc.conflict or attempt == 1:
                    raise
                # The generation acted on stays (upstream sets it once, before retrying).
                body = await self.client.get(REPLICASETS, meta(rs)["name"], meta(rs)["namespace"])
        return None
