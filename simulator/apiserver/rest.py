"""The registry layer: what each verb does to stored objects, as kube-apiserver's generic
registry (`k8s.io/apiserver/pkg/registry/generic/registry/store.go`) does it.

Independent of HTTP: the server module decodes requests into these calls and encodes what
they return.  Every write goes through `_commit`, which fills server-owned metadata,
applies defaults, validates, records field ownership and stores the object.
"""

from __future__ import annotations

import base64
import ipaddress
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson

from ..jsonobj import clone
from . import admission, decoding, defaults, errors, meta
from .patch import (
    ApplyConflict,
    PatchError,
    UnsupportedPatchType,
    apply_json_patch,
    apply_merge_patch,
    apply_server_side,
    apply_strategic_merge_patch,
    conversion_error,
    record_update_ownership,
    typed_patch_error,
)
from .patch.errors import go_fmt, go_json
from .resources import Registry, ResourceType
from .selectors import format_match_labels
from .store import Filter, Key, Store, Stored
from .validation import validate, validate_status

Obj = dict[str, Any]

# Kinds whose registry allows PUT to create a missing object (AllowCreateOnUpdate).
CREATE_ON_UPDATE = frozenset({
    "/Endpoints", "/Event", "events.k8s.io/Event", "coordination.k8s.io/Lease",
    "rbac.authorization.k8s.io/Role", "rbac.authorization.k8s.io/ClusterRole",
    "rbac.authorization.k8s.io/RoleBinding", "rbac.authorization.k8s.io/ClusterRoleBinding",
})
# Kinds whose DELETE answers with the object rather than a Status (ReturnDeletedObject).
RETURN_DELETED = frozenset({"/Pod", "/Service", "/ServiceAccount", "/Namespace",
                            "apiextensions.k8s.io/CustomResourceDefinition"})
# Kinds whose status is kept as sent on create (all others with a status subresource reset it:
# a Pod starts Pending with its QoS class, a Namespace Active, as the defaults then set).
KEEP_STATUS_ON_CREATE = frozenset({"/Node"})

# How often a create with generateName draws a name (maxNameGenerationCreateAttempts).
NAME_GENERATION_ATTEMPTS = 8

PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "apply",
}


@dataclass
class WriteOptions:
    """Query parameters shared by create/update/patch."""

    field_manager: str = ""
    dry_run: bool = False
    force: bool = False


@dataclass
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False


@dataclass
class ListResult:
    items: list[Stored]
    resource_version: int
    continue_token: str = ""
    remaining: int | None = None


@dataclass
class DeleteResult:
    """What DELETE answers: the object (when still there or ReturnDeletedObject) or a Status."""

    body: Obj
    deleted: bool


@dataclass
class ClusterIPAllocator:
    """Hands out Service ClusterIPs from 10.96.0.0/12 and NodePorts from 30000-32767."""

    used_ips: set[str] = field(default_factory=set)
    used_ports: set[int] = field(default_factory=set)
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def ip(self) -> str:
        net = ipaddress.ip_network("10.96.0.0/12")
        while True:
            candidate = str(net[self.rng.randrange(10, net.num_addresses - 1)])
            if candidate not in self.used_ips:
                self.used_ips.add(candidate)
                return candidate

    def node_port(self) -> int:
        while True:
            port = self.rng.randrange(30000, 32768)
            if port not in self.used_ports:
                self.used_ports.add(port)
                return port


def encode_continue(rv: int, start: str) -> str:
    """The continue token format of the etcd3 storage: base64 of {"v","rv","start"}."""
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded))
        if data.get("v") != "meta.k8s.io/v1":
            raise ValueError
        return int(data["rv"]), str(data["start"])
    except Exception as exc:  # noqa: BLE001 - any malformed token is the same user error
        raise errors.bad_request(f"continue key is not valid: {token}") from exc


def _key_string(key: Key) -> str:
    """The object's etcd key below the resource's prefix: "ns/name", or "name"."""
    return f"{key[0]}/{key[1]}" if key[0] else key[1]


class Api:
    """Verbs over the store for every registered resource type."""

    def __init__(self, store: Store, registry: Registry,
                 clock: Callable[[], Any] = meta.utcnow, seed: int = 0) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.seed = seed
        self.rng = random.Random(seed)  # generated names: the same seed, the same names
        self.allocator = ClusterIPAllocator(rng=random.Random(seed))
        # Hooks run (under the store lock) after a successful write: CRDs register kinds.
        self.after_write: list[Callable[[ResourceType, str, Obj | None, Obj | None], None]] = []

    def reseed(self, salt: object) -> None:
        """Draw generated names from a sequence of the seed and `salt`: a server restarted
        from saved state must not draw the names its first run handed out again."""
        self.rng = random.Random(f"{self.seed}/{salt}")

    @staticmethod
    def resource_key(rt: ResourceType) -> str:
        return f"{rt.group}/{rt.plural}"

    # ---- reads ---------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> Stored:
        stored = self.store.get(self.resource_key(rt), (namespace, name))
        if stored is None:
            raise errors.not_found(rt, name)
        return stored

    def list(self, rt: ResourceType, flt: Filter, *, limit: int = 0, continue_token: str = "",
             resource_version: str = "", rv_match: str = "") -> ListResult:
        """LIST with selectors, pagination and resourceVersion semantics (reads are
        always served from memory, so "most recent" and "any" are the same)."""
        resource = self.resource_key(rt)
        with self.store.lock:
            current = self.store.resource_version
            start = ""
            if continue_token:
                if resource_version not in ("", "0"):
                    raise errors.bad_request(
                        "specifying resource version is not allowed when using continue")
                snap_rv, start = decode_continue(continue_token)
                try:
                    table = self.store.snapshot(resource, snap_rv)
                except errors.ApiError as exc:
                    raise errors.expired(
                        "The provided continue parameter is too old to display a consistent "
                        "list result. You can start a new list without the continue parameter."
                    ) from exc
            elif rv_match == "Exact":
                if not resource_version or resource_version == "0":
                    raise errors.bad_request(
                        'resourceVersionMatch "Exact" is forbidden for resourceVersion "0"')
                snap_rv = _parse_rv(resource_version)
                if snap_rv > current:
                    raise errors.timeout(f"Too large resource version: {snap_rv}, "
                                         f"current: {current}")
                table = self.store.snapshot(resource, snap_rv)
            else:
                if rv_match and rv_match != "NotOlderThan":
                    raise errors.bad_request(
                        f'resourceVersionMatch: Unsupported value: "{rv_match}": supported '
                        f'values: "Exact", "NotOlderThan"')
                if rv_match == "NotOlderThan" and not resource_version:
                    raise errors.bad_request(
                        "resourceVersionMatch is forbidden unless resourceVersion is provided")
                if resource_version not in ("", "0"):
                    wanted = _parse_rv(resource_version)
                    if wanted > current:
                        raise errors.timeout(f"Too large resource version: {wanted}, "
                                             f"current: {current}")
                snap_rv = current
                table = dict(self.store.items(resource))
        # Filtering and paging happen outside the lock: the snapshot is a private dict.
        # Items come in etcd key order ("ns/name" as a string, so "foo-bar/x" < "foo/x"),
        # the order the continue token's start key resumes from.
        keys = sorted((k for k in table if flt.namespace is None or k[0] == flt.namespace),
                      key=_key_string)
        if start:
            keys = [k for k in keys if _key_string(k) > start]
        items: list[Stored] = []
        token, remaining = "", None
        for i, key in enumerate(keys):
            stored = table[key]
            if not flt.matches(key, stored):
                continue
            if limit and len(items) >= limit:
                token = encode_continue(snap_rv, _key_string(keys[i - 1]) if i else start)
                if flt.labels.empty and flt.fields.empty:
                    remaining = len(keys) - i
                break
            items.append(stored)
        return ListResult(items, snap_rv, token, remaining)

    # ---- create --------------------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: str, body: Obj, opts: WriteOptions) -> Obj:
        self._check_type(rt, body)
        _require_decodable(rt, rt.api_version, rt.kind, body)
        obj = clone(body)
        md = obj.setdefault("metadata", {}) or {}
        obj["metadata"] = md
        self._check_namespace(rt, namespace, md)
        generated = not md.get("name") and bool(md.get("generateName"))
        if generated:
            md["name"] = meta.generated_name(md["generateName"], self.rng)
        if md.get("resourceVersion"):
            raise errors.ApiError(500, "InternalError", "Internal error occurred: "
                                  "resourceVersion should not be set on objects to be created")
        for name in meta.SERVER_OWNED:
            md.pop(name, None)
        if rt.subresources and "status" in rt.subresources and \
                rt.key not in KEEP_STATUS_ON_CREATE:
            _reset_status(rt, obj)
        with self.store.lock:
            self._require_namespace(rt, namespace, md.get("name", ""))
            attempts = 1
            while md.get("name") and self.store.get(self.resource_key(rt),
                                                    (namespace, md["name"])) is not None:
                # createWithGenerateNameRetry: a generated name that is taken is drawn again.
                if not generated or attempts == NAME_GENERATION_ATTEMPTS:
                    raise errors.already_exists(rt, md["name"])
                md["name"] = meta.generated_name(md["generateName"], self.rng)
                attempts += 1
            return self._commit(rt, namespace, None, obj, opts, operation="Update")

    # ---- update --------------------------------------------------------------------------

    def update(self, rt: ResourceType, namespace: str, name: str, body: Obj,
               opts: WriteOptions, subresource: str = "") -> tuple[Obj, bool]:
        """PUT; returns (object, created)."""
        if subresource == "scale":
            _require_decodable(rt, "autoscaling/v1", "Scale", body)
            return self._update_scale(rt, namespace, name, body, opts), False
        self._check_type(rt, body)
        _require_decodable(rt, rt.api_version, rt.kind, body)
        new = clone(body)
        md = new.setdefault("metadata", {}) or {}
        new["metadata"] = md
        if md.get("name") and md["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({md['name']}) does not match the name on the URL "
                f"({name})")
        md["name"] = name
        self._check_namespace(rt, namespace, md)
        with self.store.lock:
            current = self.store.get(self.resource_key(rt), (namespace, name))
            if current is None and (subresource or rt.key not in CREATE_ON_UPDATE):
                raise errors.not_found(rt, name)
            _require_uid(rt, namespace, name, md.get("uid"), current)
            if current is None:
                md.pop("resourceVersion", None)
                return self.create(rt, namespace, new, opts), True
            if md.get("resourceVersion") and md["resourceVersion"] != str(current.rv):
                raise errors.conflict(rt, name, errors.STALE_OBJECT)
            return self._update_from(rt, namespace, current.obj(), new, opts, subresource), False

    def _update_from(self, rt: ResourceType, namespace: str, old: Obj, new: Obj,
                     opts: WriteOptions, subresource: str) -> Obj:
        """Merge what the endpoint may change into `old` and commit."""
        if subresource == "status":
            merged = clone(old)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            new = merged
        else:
            md = new["metadata"]
            for name in ("uid", "creationTimestamp", "deletionTimestamp",
                         "deletionGracePeriodSeconds", "generation"):
                if name in old["metadata"]:
                    md[name] = old["metadata"][name]
                else:
                    md.pop(name, None)
            if "status" in (rt.subresources or ()):
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        return self._commit(rt, namespace, old, new, opts, operation="Update",
                            subresource=subresource)

    # ---- patch ---------------------------------------------------------------------------

    def patch(self, rt: ResourceType, namespace: str, name: str, content_type: str,
              patch_body: bytes, opts: WriteOptions, subresource: str = "") -> tuple[Obj, bool]:
        kind = PATCH_TYPES.get(content_type.split(";")[0].strip())
        if kind is None:
            raise errors.unsupported_media_type(content_type)
        if kind != "apply" and opts.force:
            raise errors.bad_request("force is only supported on apply patch types")
        patch = _decode_patch(kind, patch_body)
        with self.store.lock:
            current = self.store.get(self.resource_key(rt), (namespace, name))
            if subresource == "scale":
                if current is None:
                    raise errors.not_found(rt, name)
                scale = self.scale_of(rt, current.obj())
                patched = self._apply_patch(kind, scale, patch, "autoscaling/Scale", rt)
                _require_patched_decodable(rt, "autoscaling/v1", "Scale", kind, patch, patched)
                return self._update_scale(rt, namespace, name, patched, opts), False
            if current is None:
                if kind != "apply" or subresource:
                    raise errors.not_found(rt, name)
                if not isinstance(patch, dict):
                    raise errors.bad_request("apply patch must be an object")
                self._check_type(rt, patch)
                md = patch.setdefault("metadata", {})
                if md.get("name") and md["name"] != name:
                    raise errors.bad_request(
                        f"the name of the object ({md['name']}) does not match the name on the "
                        f"URL ({name})")
                md["name"] = name
                self._check_namespace(rt, namespace, md)
                self._require_namespace(rt, namespace, name)
                _require_appliable(rt, patch)
                obj = self._ssa(rt, None, patch, opts)
                md = obj["metadata"]
                for server_owned in meta.SERVER_OWNED:
                    md.pop(server_owned, None)
                if "status" in rt.subresources and rt.key not in KEEP_STATUS_ON_CREATE:
                    _reset_status(rt, obj)
                return self._commit(rt, namespace, None, obj, opts, operation="Apply",
                                    managed_done=True), True
            old = current.obj()
            if kind == "apply":
                if not isinstance(patch, dict):
                    raise errors.bad_request("apply patch must be an object")
                self._check_type(rt, patch)
                _require_appliable(rt, patch)
                new = self._ssa(rt, old, patch, opts, subresource)
            else:
                new = self._apply_patch(kind, old, patch, rt.key, rt)
                _require_patched_decodable(rt, rt.api_version, rt.kind, kind, patch, new)
            md = new.get("metadata")
            if not isinstance(md, dict):
                raise errors.bad_request("metadata must be an object")
            if md.get("name", name) != name:
                raise errors.bad_request(
                    f"the name of the object ({md.get('name')}) does not match the name on the "
                    f"URL ({name})")
            if md.get("resourceVersion") and md["resourceVersion"] != str(current.rv):
                raise errors.conflict(rt, name, errors.STALE_OBJECT)
            md["name"] = name
            self._check_namespace(rt, namespace, md)
            if kind == "apply":
                return self._finish_apply(rt, namespace, old, new, opts, subresource), False
            return self._update_from(rt, namespace, old, new, opts, subresource), False

    def _apply_patch(self, kind: str, original: Obj, patch: Any, kind_key: str,
                     rt: ResourceType) -> Obj:
        try:
            if kind == "json":
                return apply_json_patch(original, patch)
            if kind == "merge":
                if not isinstance(patch, dict):
                    return patch  # a non-object merge patch replaces the document
                return apply_merge_patch(original, patch)
            if rt.custom:
                raise UnsupportedPatchType(
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json-patch+json, application/merge-patch+json, "
                    "application/apply-patch+yaml")
            return apply_strategic_merge_patch(original, patch, kind_key)
        except PatchError as exc:
            raise _patch_error(exc) from exc

    def _ssa(self, rt: ResourceType, live: Obj | None, applied: Obj, opts: WriteOptions,
             subresource: str = "") -> Obj:
        if not opts.field_manager:
            raise errors.bad_request(
                "PATCH, application/apply-patch+yaml requires fieldManager to be set")
        try:
            return apply_server_side(live, applied, manager=opts.field_manager, force=opts.force,
                                     kind_key=rt.key, api_version=rt.api_version,
                                     now=meta.rfc3339(self.clock()), subresource=subresource)
        except ApplyConflict as exc:
            raise errors.ApiError(409, "Conflict", exc.message, {"causes": exc.causes}) from exc
        except PatchError as exc:
            raise _patch_error(exc) from exc

    def _finish_apply(self, rt: ResourceType, namespace: str, old: Obj, new: Obj,
                      opts: WriteOptions, subresource: str) -> Obj:
        for name in ("uid", "creationTimestamp", "deletionTimestamp",
                     "deletionGracePeriodSeconds", "generation", "resourceVersion"):
            if name in old["metadata"]:
                new["metadata"][name] = old["metadata"][name]
        if subresource == "status":
            merged = clone(old)
            merged["status"] = new.get("status")
            merged["metadata"]["managedFields"] = new["metadata"].get("managedFields")
            new = merged
        elif "status" in rt.subresources:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        return self._commit(rt, namespace, old, new, opts, operation="Apply",
                            subresource=subresource, managed_done=True)

    # ---- scale ---------------------------------------------------------------------------

    def scale_of(self, rt: ResourceType, obj: Obj) -> Obj:
        """The autoscaling/v1 Scale view of a Deployment or ReplicaSet."""
        md = obj["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                            "creationTimestamp") if k in md},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": format_match_labels((obj.get("spec") or {}).get("selector")),
            },
        }

    def _update_scale(self, rt: ResourceType, namespace: str, name: str, scale: Obj,
                      opts: WriteOptions) -> Obj:
        with self.store.lock:
            current = self.store.get(self.resource_key(rt), (namespace, name))
            if current is None:
                raise errors.not_found(rt, name)
            md = scale.get("metadata") or {}
            _require_uid(rt, namespace, name, md.get("uid"), current)
            if md.get("resourceVersion") and md["resourceVersion"] != str(current.rv):
                raise errors.conflict(rt, name, errors.STALE_OBJECT)
            replicas = (scale.get("spec") or {}).get("replicas", 0)
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise errors.ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: '
                                      f"spec.replicas: Invalid value: {replicas}: must be "
                                      f"greater than or equal to 0", {
                                          "name": name, "group": "autoscaling", "kind": "Scale",
                                          "causes": [{"reason": "FieldValueInvalid",
                                                      "message": f"Invalid value: {replicas}: "
                                                      "must be greater than or equal to 0",
                                                      "field": "spec.replicas"}]})
            old = current.obj()
            new = clone(old)
            new.setdefault("spec", {})["replicas"] = replicas
            saved = self._commit(rt, namespace, old, new, opts, operation="Update",
                                 subresource="scale")
            return self.scale_of(rt, saved)

    # ---- delete --------------------------------------------------------------------------

    def delete(self, rt: ResourceType, namespace: str, name: str,
               opts: DeleteOptions) -> DeleteResult:
        with self.store.lock:
            current = self.store.get(self.resource_key(rt), (namespace, name))
            if current is None:
                raise errors.not_found(rt, name)
            obj = current.obj()
            md = obj["metadata"]
            if opts.precondition_uid and opts.precondition_uid != md.get("uid"):
                raise errors.conflict(
                    rt, name, f"Precondition failed: UID in precondition: "
                    f"{opts.precondition_uid}, UID in object meta: {md.get('uid')}")
            if opts.precondition_rv and opts.precondition_rv != md.get("resourceVersion"):
                raise errors.conflict(
                    rt, name, f"Precondition failed: ResourceVersion in precondition: "
                    f"{opts.precondition_rv}, ResourceVersion in object meta: "
                    f"{md.get('resourceVersion')}")
            if opts.propagation_policy not in (None, "", "Orphan", "Background", "Foreground"):
                raise errors.ApiError(
                    422, "Invalid", f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy:'
                    f' Unsupported value: "{opts.propagation_policy}": supported values: '
                    f'"Foreground", "Background", "Orphan", "nil"')
            finalizers = list(md.get("finalizers") or [])
            if opts.propagation_policy == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            if opts.propagation_policy == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            grace = self._grace_period(rt, obj, opts)
            pending = bool(finalizers) or grace > 0 or rt.key == "/Namespace"
            if md.get("deletionTimestamp"):
                # Already being deleted. A pod's deletion may be shortened: the kubelet ends
                # it with gracePeriodSeconds=0 once the containers have stopped.
                if rt.key == "/Pod" and opts.grace_period_seconds == 0 and not finalizers:
                    if opts.dry_run:
                        return DeleteResult(obj, True)
                    return DeleteResult(self._remove(rt, namespace, obj), True)
                return DeleteResult(obj, False)
            if pending:
                new = clone(obj)
                new["metadata"]["finalizers"] = finalizers or None
                if not finalizers:
                    new["metadata"].pop("finalizers")
                # The time by which the object should be gone (now, for finalizers).
                new["metadata"]["deletionTimestamp"] = meta.rfc3339(
                    self.clock() + timedelta(seconds=grace))
                new["metadata"]["deletionGracePeriodSeconds"] = grace
                if rt.key == "/Namespace":
                    new.setdefault("status", {})["phase"] = "Terminating"
                if opts.dry_run:
                    return DeleteResult(new, False)
                saved = self._store_write(rt, namespace, obj, new)
                return DeleteResult(saved, False)
            if opts.dry_run:
                return DeleteResult(self._deleted_status(rt, obj), True)
            final = self._remove(rt, namespace, obj)
            if rt.key in RETURN_DELETED:
                return DeleteResult(final, True)
            return DeleteResult(self._deleted_status(rt, obj), True)

    def _grace_period(self, rt: ResourceType, obj: Obj, opts: DeleteOptions) -> int:
        """Only pods bound to a node delete gracefully (the kubelet finishes the job)."""
        if rt.key != "/Pod":
            return 0
        spec = obj.get("spec") or {}
        if not spec.get("nodeName"):
            return 0
        if opts.grace_period_seconds is not None:
            return max(0, int(opts.grace_period_seconds))
        return int(spec.get("terminationGracePeriodSeconds", 30) or 0)

    @staticmethod
    def _deleted_status(rt: ResourceType, obj: Obj) -> Obj:
        details: Obj = {"name": obj["metadata"]["name"]}
        if rt.group:
            details["group"] = rt.group
        details["kind"] = rt.plural
        details["uid"] = obj["metadata"].get("uid")
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": details}

    def delete_collection(self, rt: ResourceType, flt: Filter,
                          opts: DeleteOptions) -> list[Obj]:
        with self.store.lock:
            targets = [(k, s) for k, s in sorted(self.store.items(self.resource_key(rt)).items())
                       if flt.matches(k, s)]
            out = []
            for (namespace, name), stored in targets:
                result = self.delete(rt, namespace, name, opts)
                # The answer lists each object as deleted (or as now being deleted).
                out.append(stored.obj() if result.body.get("kind") == "Status" else result.body)
            return out

    # ---- the write path ------------------------------------------------------------------

    def _commit(self, rt: ResourceType, namespace: str, old: Obj | None, new: Obj,
                opts: WriteOptions, *, operation: str, subresource: str = "",
                managed_done: bool = False) -> Obj:
        """Fill server metadata, default, validate, track ownership and store `new`."""
        md = new["metadata"]
        if rt.namespaced:
            md["namespace"] = namespace
        else:
            md.pop("namespace", None)
        new["kind"] = rt.kind
        new["apiVersion"] = rt.api_version
        if not rt.custom and subresource != "status":
            defaults.apply_defaults(rt.key, new)
        pre_admission: Obj | None = None
        if old is None:
            md["uid"] = meta.new_uid()
            md["creationTimestamp"] = meta.rfc3339(self.clock())
            if rt.key in meta.GENERATION_KINDS or rt.custom:
                md["generation"] = 1
            self._allocate(rt, new)
            # Mutating admission (operation CREATE), dry runs included; validation follows.
            admitted = admission.admit_create(rt, new, self._ingress_classes(), subresource)
            if admitted is not None:
                pre_admission, new = new, admitted
                md = new["metadata"]
            errs = validate(rt.key, new)
        else:
            if rt.key in meta.GENERATION_KINDS or rt.custom:
                gen = old["metadata"].get("generation", 1)
                changed = meta.spec_part(old) != meta.spec_part(new)
                md["generation"] = gen + 1 if changed else gen
            if rt.key == "/Service" and subresource != "status":
                _drop_type_dependent_fields(old, new)
            self._keep_allocations(rt, old, new)
            errs = (validate_status(rt.key, new, old) if subresource == "status"
                    else validate(rt.key, new, old))
        if errs:
            raise errors.invalid(rt, md.get("name", ""), errs)
        if not managed_done:
            # create.go records the request's fields before mutating admission runs, so
            # what admission set belongs to no manager (admission leaves metadata alone).
            recorded = record_update_ownership(
                old, new if pre_admission is None else pre_admission,
                manager=opts.field_manager or "unknown", kind_key=rt.key,
                api_version=rt.api_version, now=meta.rfc3339(self.clock()),
                operation=operation, subresource=subresource)
            if pre_admission is None:
                new = recorded
            else:
                new["metadata"] = recorded["metadata"]
            md = new["metadata"]
        if old is not None and meta.without_volatile(old) == meta.without_volatile(new):
            return old  # a no-op write stores nothing and keeps the resourceVersion
        if old is not None and md.get("deletionTimestamp") and not md.get("finalizers") \
                and rt.key != "/Pod" and rt.key != "/Namespace":
            # The last finalizer is gone: the deletion completes now.
            if opts.dry_run:
                return new
            return self._remove(rt, namespace, new)
        if opts.dry_run:
            return new
        return self._store_write(rt, namespace, old, new)

    def _store_write(self, rt: ResourceType, namespace: str, old: Obj | None, new: Obj) -> Obj:
        rv = self.store.next_rv()
        new["metadata"]["resourceVersion"] = str(rv)
        self.store.put(self.resource_key(rt), (namespace, new["metadata"]["name"]), new, rv)
        for hook in self.after_write:
            hook(rt, namespace, old, new)
        return new

    def _remove(self, rt: ResourceType, namespace: str, obj: Obj) -> Obj:
        rv = self.store.next_rv()
        final = clone(obj)
        final["metadata"]["resourceVersion"] = str(rv)
        self.store.remove(self.resource_key(rt), (namespace, obj["metadata"]["name"]), final, rv)
        if rt.key == "/Service":
            spec = obj.get("spec") or {}
            self.allocator.used_ips.discard(spec.get("clusterIP", ""))
        for hook in self.after_write:
            hook(rt, namespace, obj, None)
        return final

    def finish_deletion(self, rt: ResourceType, namespace: str, name: str) -> None:
        """Remove an object whose graceful deletion or finalization is over (kubelet,
        namespace controller)."""
        with self.store.lock:
            current = self.store.get(self.resource_key(rt), (namespace, name))
            if current is not None:
                self._remove(rt, namespace, current.obj())

    # ---- helpers -------------------------------------------------------------------------

    def _ingress_classes(self) -> Iterator[Obj]:
        """The stored IngressClasses, read lazily (DefaultIngressClass's lister)."""
        for stored in self.store.items(admission.INGRESS_CLASSES).values():
            yield stored.view()

    def _check_type(self, rt: ResourceType, body: Any) -> None:
        if not isinstance(body, dict):
            raise errors.bad_request("the object provided is not a JSON object")
        api_version = body.get("apiVersion")
        kind = body.get("kind")
        if api_version and api_version != rt.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rt.api_version})")
        if kind and kind != rt.kind:
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
        if body.get("metadata") is not None and not isinstance(body.get("metadata"), dict):
            raise errors.bad_request("metadata must be an object")

    @staticmethod
    def _check_namespace(rt: ResourceType, namespace: str, md: Obj) -> None:
        if rt.namespaced:
            if md.get("namespace") and md["namespace"] != namespace:
                raise errors.bad_request("the namespace of the provided object does not match "
                                         "the namespace sent on the request")
        else:
            md.pop("namespace", None)

    def _require_namespace(self, rt: ResourceType, namespace: str, name: str) -> None:
        if not rt.namespaced:
            return
        ns_rt = self.registry.lookup("", "v1", "namespaces")
        assert ns_rt is not None
        stored = self.store.get(self.resource_key(ns_rt), ("", namespace))
        if stored is None:
            raise errors.not_found(ns_rt, namespace)
        if stored.view()["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(rt, name, f"unable to create new content in namespace "
                                   f"{namespace} because it is being terminated")

    def _allocate(self, rt: ResourceType, obj: Obj) -> None:
        """Service ClusterIP and NodePort allocation (the ipallocator/portallocator)."""
        if rt.key != "/Service":
            return
        spec = obj.setdefault("spec", {})
        if spec.get("type") == "ExternalName":
            return
        if not spec.get("clusterIP"):
            spec["clusterIP"] = self.allocator.ip()
        elif spec["clusterIP"] != "None":
            self.allocator.used_ips.add(spec["clusterIP"])
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            for port in spec.get("ports") or []:
                if isinstance(port, dict) and not port.get("nodePort"):
                    port["nodePort"] = self.allocator.node_port()

    def _keep_allocations(self, rt: ResourceType, old: Obj, new: Obj) -> None:
        if rt.key != "/Service":
            return
        old_spec, spec = old.get("spec") or {}, new.setdefault("spec", {})
        for name in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if name not in spec and name in old_spec:
                spec[name] = old_spec[name]
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            old_ports = {p.get("port"): p.get("nodePort") for p in old_spec.get("ports") or []
                         if isinstance(p, dict)}
            for port in spec.get("ports") or []:
                if isinstance(port, dict) and not port.get("nodePort"):
                    port["nodePort"] = old_ports.get(port.get("port")) or \
                        self.allocator.node_port()


_NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


def _drop_type_dependent_fields(old: Obj, new: Obj) -> None:
    """Service PrepareForUpdate (dropTypeDependentFields in registry/core/service): what the
    old type needed and the new one does not (ClusterIPs, NodePorts, the health check
    port, LoadBalancer settings, externalTrafficPolicy) is cleared where the client left it
    unchanged, so that changing `type` alone is a valid update."""
    old_spec, spec = old.get("spec") or {}, new.get("spec")
    if not isinstance(spec, dict):
        return
    old_type, new_type = old_spec.get("type"), spec.get("type")

    def drop_unchanged(*names: str) -> None:
        if all(old_spec.get(name) == spec.get(name) for name in names):
            for name in names:
                spec.pop(name, None)

    if old_type != "ExternalName" and new_type == "ExternalName":
        drop_unchanged("clusterIP", "clusterIPs")
        drop_unchanged("ipFamilies")
        drop_unchanged("ipFamilyPolicy")
    if old_type in _NODE_PORT_TYPES and new_type not in _NODE_PORT_TYPES:
        if _node_ports(spec) <= _node_ports(old_spec):  # no NodePort the client added
            for port in spec.get("ports") or []:
                if isinstance(port, dict):
                    port.pop("nodePort", None)
        drop_unchanged("externalTrafficPolicy")
    if _needs_health_check_port(old_spec) and not _needs_health_check_port(spec):
        drop_unchanged("healthCheckNodePort")
    if old_type == "LoadBalancer" and new_type != "LoadBalancer":
        if spec.get("allocateLoadBalancerNodePorts") is not None:
            drop_unchanged("allocateLoadBalancerNodePorts")
        drop_unchanged("loadBalancerClass")
    if new_type != "LoadBalancer" and isinstance(new.get("status"), dict):
        new["status"]["loadBalancer"] = {}  # de-provisioned as far as clients can tell


def _node_ports(spec: Obj) -> set[Any]:
    return {port["nodePort"] for port in spec.get("ports") or []
            if isinstance(port, dict) and port.get("nodePort")}


def _needs_health_check_port(spec: Obj) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


# The zero status Go's encoding prints for a freshly created object (non-omitempty fields).
_ZERO_STATUS: dict[str, Obj] = {
    "networking.k8s.io/Ingress": {"loadBalancer": {}},
    "/Service": {"loadBalancer": {}},
    "apps/ReplicaSet": {"replicas": 0},
    "policy/PodDisruptionBudget": {"disruptionsAllowed": 0, "currentHealthy": 0,
                                   "desiredHealthy": 0, "expectedPods": 0},
}


def _reset_status(rt: ResourceType, obj: Obj) -> None:
    """PrepareForCreate: a create through the main endpoint cannot set status."""
    obj.pop("status", None)
    if not rt.custom:
        obj["status"] = clone(_ZERO_STATUS.get(rt.key, {}))


def _require_uid(rt: ResourceType, namespace: str, name: str, uid: str | None,
                 current: Stored | None) -> None:
    """A PUT's metadata.uid is a precondition (defaultUpdatedObjectInfo.Preconditions): 409
    when the stored object (none: "") has another, as etcd3's GuaranteedUpdate words it."""
    if not uid:
        return
    stored = current.view()["metadata"].get("uid", "") if current is not None else ""
    if uid != stored:
        raise errors.conflict(rt, name, errors.storage_invalid_object(
            _etcd_key(rt, namespace, name),
            f"Precondition failed: UID in precondition: {uid}, UID in object meta: {stored}"))


# Where kube-apiserver keeps a resource in etcd when that is not /registry/<plural>.
_ETCD_PREFIXES = {"/Service": "services/specs", "/Endpoints": "services/endpoints",
                  "/Node": "minions", "networking.k8s.io/Ingress": "ingress",
                  "events.k8s.io/Event": "events"}


def _etcd_key(rt: ResourceType, namespace: str, name: str) -> str:
    """The object's etcd key (errors from the storage layer name it)."""
    prefix = _ETCD_PREFIXES.get(rt.key) or (
        f"{rt.group}/{rt.plural}" if rt.custom or rt.group == "apiextensions.k8s.io"
        else rt.plural)
    return f"/registry/{prefix}/{namespace}/{name}" if namespace else \
        f"/registry/{prefix}/{name}"


def _require_decodable(rt: ResourceType, api_version: str, kind: str, body: Obj) -> None:
    """400 for a body kube-apiserver could not decode into its Go struct, e.g. a number in
    a ConfigMap's data (transformDecodeError in k8s.io/apiserver's handlers/rest.go)."""
    error = None if rt.custom else decoding.check(api_version, kind, body).go_json_error()
    if error:
        version = api_version.rpartition("/")[2]
        raise errors.bad_request(f'{kind} in version "{version}" cannot be handled as a '
                                 f"{kind}: {error}")


def _require_patched_decodable(rt: ResourceType, api_version: str, kind: str,
                               patch_type: str, patch: Any, patched: Any) -> None:
    """422 for a patch whose result does not decode: JSON and merge patches decode the
    patched document, strategic merge patches convert the patched map (patch.go)."""
    refusals = None if rt.custom else decoding.check(api_version, kind, patched)
    if not refusals:
        return
    if patch_type == "strategic":
        error, shown = refusals.converter_error(), go_fmt(patch)
    else:
        error, shown = refusals.go_json_error(), go_json(patched)
    if error:
        raise errors.patch_not_decodable(shown, error)


def _require_appliable(rt: ResourceType, applied: Obj) -> None:
    """500, as upstream, for an applied configuration with values of the wrong type:
    structured-merge-diff refuses to type it, or the result does not convert back."""
    if rt.custom or applied.get("apiVersion") != rt.api_version or \
            applied.get("kind") != rt.kind:
        return  # server-side apply's version check answers first
    refusals = decoding.check(rt.api_version, rt.kind, applied)
    problems = refusals.smd_errors()
    if problems:
        raise _patch_error(typed_patch_error(applied, rt.key, problems))
    error = refusals.converter_error()
    if error:
        raise _patch_error(conversion_error(applied, error))


def _patch_error(exc: PatchError) -> errors.ApiError:
    """The Status kube-apiserver answers a failed patch with."""
    reason = {400: "BadRequest", 413: "RequestEntityTooLarge", 415: "UnsupportedMediaType",
              422: "Invalid"}.get(exc.code, "InternalError")
    if exc.status_message:
        return errors.ApiError(exc.code, reason, exc.status_message,
                               {"causes": [{"message": str(exc)}]})
    return errors.ApiError(exc.code, reason, str(exc))


def _parse_rv(text: str) -> int:
    try:
        value = int(text)
        if value < 0:
            raise ValueError
        return value
    except ValueError as exc:
        raise errors.bad_request(f"invalid resource version: {text}") from exc


def _decode_patch(kind: str, body: bytes) -> Any:
    """Decode a patch document: JSON for all types, YAML (a JSON superset) for apply."""
    try:
        if kind == "apply":
            import yaml

            return yaml.safe_load(body.decode() if body else "") or {}
        return orjson.loads(body)
    except Exception as exc:  # noqa: BLE001 - any decode failure is the client's
        raise errors.bad_request(f"error decoding patch: {exc}") from exc
