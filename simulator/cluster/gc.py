"""The garbage collector (pkg/controller/garbagecollector): ownerReferences between the
objects the cluster watches (Deployments, ReplicaSets, Pods, Services, EndpointSlices).

- Background deletion: when every owner of an object is gone (checked with a live GET when
  the cache does not know the owner, like `isDangling`), the object is deleted
  (`attemptToDeleteItem`); owners that are gone are dropped from objects that keep others.
- Foreground deletion: an owner with deletionTimestamp and the `foregroundDeletion`
  finalizer has its dependents deleted (in the foreground themselves when they have
  dependents), and loses the finalizer once no dependent with blockOwnerDeletion is left
  (`processDeletingDependentsItem`); the API server then removes it.
- Orphaning: an owner with the `orphan` finalizer has its ownerReference removed from every
  dependent, then loses the finalizer (`orphanDependents`).
"""

from __future__ import annotations

import logging
from typing import Any

from .client import ApiClient, ApiError
from .controller import Controller, Requeue
from .informer import Informer, SharedInformers
from .kinds import Kind, kind_for
from .objects import being_deleted, finalizers_of, key_of, meta, owner_uids, uid_of

Obj = dict[str, Any]
log = logging.getLogger(__name__)

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


class GarbageCollector(Controller):
    name = "garbage-collector"
    workers = 8

    def __init__(self, client: ApiClient, informers: SharedInformers, kinds: list[Kind]) -> None:
        super().__init__()
        self.client = client
        self.informers: dict[Kind, Informer] = {k: informers.get(k) for k in kinds}
        # uid -> (kind, cache key) for every watched object: the dependency graph's nodes.
        self.uids: dict[str, tuple[Kind, str]] = {}
        for kind, informer in self.informers.items():
            informer.add_handler(
                lambda obj, kind=kind: self._observed(kind, None, obj),
                lambda old, new, kind=kind: self._observed(kind, old, new),
                lambda obj, kind=kind: self._removed(kind, obj))

    # ---- the graph -------------------------------------------------------------------------

    def _observed(self, kind: Kind, old: Obj | None, obj: Obj) -> None:
        uid = uid_of(obj)
        self.uids[uid] = (kind, key_of(obj))
        fins = finalizers_of(obj)
        if being_deleted(obj) and (FOREGROUND in fins or ORPHAN in fins):
            self.enqueue((kind, key_of(obj)))
        refs = meta(obj).get("ownerReferences") or []
        if not refs:
            return
        if old is not None and meta(old).get("ownerReferences") == refs:
            return
        # A dependent whose owner the graph does not hold (yet) is verified ("virtual node");
        # one whose owner is deleting its dependents is deleted.
        for uid in owner_uids(obj):
            owner = self._cached(uid)
            if owner is None or (being_deleted(owner) and FOREGROUND in finalizers_of(owner)):
                self.enqueue((kind, key_of(obj)))
                return

    def _removed(self, kind: Kind, obj: Obj) -> None:
        uid = uid_of(obj)
        if self.uids.get(uid, (None, ""))[1] == key_of(obj):
            self.uids.pop(uid, None)
        for dep_kind, dep_key in self._dependent_keys(uid):
            self.enqueue((dep_kind, dep_key))
        for owner_uid in owner_uids(obj):
            node = self.uids.get(owner_uid)
            if node is not None:
                self.enqueue(node)  # an owner waiting for its dependents may be done

    def _cached(self, uid: str) -> Obj | None:
        node = self.uids.get(uid)
        if node is None:
            return None
        obj = self.informers[node[0]].get(node[1])
        return obj if obj is not None and uid_of(obj) == uid else None

    def _dependent_keys(self, uid: str) -> list[tuple[Kind, str]]:
        return [(kind, key) for kind, informer in self.informers.items()
                for key in informer.keys_by_index("owner", uid)]

    def _dependents(self, uid: str) -> list[tuple[Kind, Obj]]:
        out = []
        for kind, key in self._dependent_keys(uid):
            obj = self.informers[kind].get(key)
            if obj is not None:
                out.append((kind, obj))
        return out

    # ---- processing ------------------------------------------------------------------------

    async def sync(self, item: Any) -> None:
        kind, key = item
        obj = self.informers[kind].get(key)
        if obj is None:
            return
        if being_deleted(obj):
            fins = finalizers_of(obj)
            if ORPHAN in fins:
                await self._orphan_dependents(kind, obj)
            elif FOREGROUND in fins:
                await self._process_deleting_dependents(kind, obj)
            return
        if meta(obj).get("ownerReferences"):
            await self._attempt_to_delete(kind, obj)

    async def _owner_state(self, obj: Obj, ref: Obj) -> str:
        """isDangling plus the owner's deletion state: absent, waiting or solid."""
        owner_kind = kind_for(str(ref.get("apiVersion")), str(ref.get("kind")))
        if owner_kind is None:
            return "solid"  # a kind this cluster does not know: never collect on its account
        owner = self._cached(str(ref.get("uid")))
        if owner is None:
            namespace = meta(obj).get("namespace") if owner_kind.namespaced else None
            try:
                owner = await self.client.get(owner_kind, str(ref.get("name")), namespace)
            except ApiError as exc:
                if exc.not_found:
                    return "absent"
                raise
            if uid_of(owner) != ref.get("uid"):
                return "absent"
        if being_deleted(owner) and FOREGROUND in finalizers_of(owner):
            return "waiting"
        return "solid"

    async def _attempt_to_delete(self, kind: Kind, obj: Obj) -> None:
        """attemptToDeleteItem."""
        refs = [r for r in meta(obj).get("ownerReferences") or [] if isinstance(r, dict)]
        states = {str(r.get("uid")): await self._owner_state(obj, r) for r in refs}
        solid = [u for u, s in states.items() if s == "solid"]
        dangling = [u for u, s in states.items() if s == "absent"]
        waiting = [u for u, s in states.items() if s == "waiting"]
        md = meta(obj)
        if solid:
            drop = dangling + waiting
            if drop:
                patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": u}
                                                          for u in drop], "uid": md.get("uid")}}
                await self._patch(kind, obj, patch)
            return
        fins = finalizers_of(obj)
        if waiting and self._dependent_keys(uid_of(obj)):
            # Owners wait for this object, which has dependents of its own: delete it in the
            # foreground so they go first.
            policy = "Foreground"
        elif ORPHAN in fins:
            policy = "Orphan"
        elif FOREGROUND in fins:
            policy = "Foreground"
        else:
            policy = "Background"
        try:
            await self.client.delete(kind, md["name"], md.get("namespace"),
                                     propagation_policy=policy, precondition_uid=md.get("uid"))
        except ApiError as exc:
            if not (exc.not_found or exc.conflict):
                raise

    async def _process_deleting_dependents(self, kind: Kind, owner: Obj) -> None:
        """processDeletingDependentsItem: done when no blocking dependent is left."""
        uid = uid_of(owner)
        blocking = []
        for dep_kind, dep in self._dependents(uid):
            for ref in meta(dep).get("ownerReferences") or []:
                if ref.get("uid") == uid and ref.get("blockOwnerDeletion"):
                    blocking.append((dep_kind, dep))
                    break
        if not blocking:
            await self._remove_finalizer(kind, owner, FOREGROUND)
            return
        for dep_kind, dep in blocking:
            if not (being_deleted(dep) and FOREGROUND in finalizers_of(dep)):
                self.enqueue((dep_kind, key_of(dep)))

    async def _orphan_dependents(self, kind: Kind, owner: Obj) -> None:
        """orphanDependents, then the `orphan` finalizer goes."""
        uid = uid_of(owner)
        for dep_kind, dep in self._dependents(uid):
            patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": uid}],
                                  "uid": uid_of(dep)}}
            await self._patch(dep_kind, dep, patch)
        if self._dependent_keys(uid):
            raise Requeue(0.05)  # wait until the cache shows the references gone
        await self._remove_finalizer(kind, owner, ORPHAN)

    async def _patch(self, kind: Kind, obj: Obj, patch: Obj) -> None:
        md = meta(obj)
        try:
            await self.client.patch(kind, md["name"], patch, md.get("namespace"),
                                    patch_type="strategic")
        except ApiError as exc:
            if not exc.not_found:
                raise

    async def _remove_finalizer(self, kind: Kind, obj: Obj, finalizer: str) -> None:
        """removeFinalizer: a merge patch conditioned on the resourceVersion, re-read on
        conflict."""
        md = meta(obj)
        for attempt in range(5):
            try:
                current = await self.client.get(kind, md["name"], md.get("namespace"))
            except ApiError as exc:
                if exc.not_found:
                    return
                raise
            if uid_of(current) != uid_of(obj):
                return
            fins = finalizers_of(current)
            if finalizer not in fins:
                return
            remaining = [f for f in fins if f != finalizer]
            patch = {"metadata": {"finalizers": remaining or None,
                                  "resourceVersion": meta(current).get("resourceVersion")}}
            try:
                await self.client.patch(kind, md["name"], patch, md.get("namespace"))
                return
            except ApiError as exc:
                if exc.not_found:
                    return
                if not exc.conflict or attempt == 4:
                    raise
