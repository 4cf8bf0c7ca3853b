"""Adoption and release of dependents (pkg/controller/controller_ref_manager.go).

A controller claims the objects its selector matches: it keeps what it already controls,
adopts matching orphans (a strategic merge patch adding its controllerRef) and releases what
it controls but no longer matches (a patch deleting the reference by uid).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .client import ApiClient, ApiError
from .kinds import Kind
from .objects import being_deleted, controller_ref, meta, new_controller_ref, uid_of

Obj = dict[str, Any]


class OwnerGone(Exception):
    """The controller was deleted or replaced since the cache saw it (RecheckDeletionTimestamp)."""


async def claim(client: ApiClient, owner: Obj, owner_kind: Kind, dependent_kind: Kind,
                candidates: Sequence[Obj], match: Callable[[Obj], bool]) -> list[Obj]:
    """ClaimPods / ClaimReplicaSets: the candidates `owner` controls after claiming."""
    claimed: list[Obj] = []
    checked_owner = False
    owner_uid = uid_of(owner)
    owner_deleting = being_deleted(owner)
    for obj in candidates:
        ref = controller_ref(obj)
        if ref is not None:
            if ref.get("uid") != owner_uid:
                continue  # owned by someone else
            if match(obj):
                claimed.append(obj)
                continue
            if owner_deleting:
                continue
            await _patch_owner_refs(client, dependent_kind, obj,
                                    [{"$patch": "delete", "uid": owner_uid}])
            continue
        if owner_deleting or not match(obj) or being_deleted(obj):
            continue
        if meta(owner).get("namespace") and meta(owner).get("namespace") != \
                meta(obj).get("namespace"):
            continue
        if not checked_owner:
            # "If any adoptions are attempted, we should first recheck for deletion with an
            # uncached quorum read sometime after listing" (RecheckDeletionTimestamp).
            fresh = await client.get(owner_kind, meta(owner)["name"], meta(owner).get("namespace"))
            if uid_of(fresh) != owner_uid or being_deleted(fresh):
                raise OwnerGone(meta(owner)["name"])
            checked_owner = True
        adopted = await _patch_owner_refs(client, dependent_kind, obj,
                                          [new_controller_ref(owner, owner_kind)])
        if adopted is not None:
            claimed.append(adopted)
    return claimed


async def _patch_owner_refs(client: ApiClient, kind: Kind, obj: Obj,
                            refs: list[Obj]) -> Obj | None:
    md = meta(obj)
    patch = {"metadata": {"ownerReferences": refs, "uid": md.get("uid")}}
    try:
        return await client.patch(kind, md["name"], patch, md.get("namespace"),
                                  patch_type="strategic")
    except ApiError as exc:
        if exc.not_found:
            return None
        raise
