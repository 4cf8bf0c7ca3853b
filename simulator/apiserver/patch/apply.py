"""Server-side apply and field ownership, as kube-apiserver's field manager does them.

Ports the manager chain of k8s.io/apimachinery/pkg/util/managedfields/internal
(`NewDefaultFieldManager`: versionCheck -> lastAppliedUpdater -> lastAppliedManager ->
skipNonApplied -> capManagers -> buildManagerInfo -> managedFieldsUpdater -> stripMeta ->
structuredMerge) and structured-merge-diff's `merge.Updater` (`Apply`, `Update`, `update`,
`prune`).  Function docstrings name the upstream piece they port.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ...jsonobj import clone
from . import managed as mf
from .errors import ApplyConflict, PatchError, go_json
from .fieldpath import Path, iterate_sorted, path_string, with_named_parents
from .merge_keys import STATUS_RESET_KINDS, FieldSpec, root_spec
from .typed import (
    compare,
    is_named_field,
    json_equal,
    merge,
    path_to,
    remove_items,
    to_field_set,
    validate,
    zero_filled,
)

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
BEFORE_FIRST_APPLY = "before-first-apply"

# stripMetaManager: fields nobody owns.
STRIPPED: frozenset[Path] = frozenset({
    ("f:apiVersion",), ("f:kind",), ("f:metadata",),
    *(("f:metadata", "f:" + name) for name in (
        "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
        "generation", "managedFields", "resourceVersion")),
})


class _Conflicts(Exception):
    """merge.Conflicts: (manager identifier, path) pairs."""

    def __init__(self, conflicts: list[tuple[str, Path]]) -> None:
        super().__init__("conflicts")
        self.conflicts = conflicts


def apply_server_side(live: dict | None, applied: dict, *, manager: str, force: bool,
                      kind_key: str, api_version: str, now: str,
                      subresource: str = "") -> dict:
    """Server-side apply (`application/apply-patch+yaml`) of configuration `applied` by
    field manager `manager` onto `live` (None: the object is created from `applied`).

    Returns the new object with `metadata.managedFields` set.  Raises ApplyConflict when
    fields owned by other managers would change and `force` is false, PatchError (400) for
    a configuration of the wrong type or carrying managedFields, PatchError (500) for list
    items without their keys (upstream's "failed to create typed patch object").
    """
    live = clone(live)
    applied = clone(applied)
    _check_type(applied, kind_key, api_version)
    if (applied.get("metadata") or {}).get("managedFields") is not None:
        raise PatchError("metadata.managedFields must be nil", code=400)
    root = root_spec(kind_key)
    errors = validate(applied, root)
    if errors:
        raise PatchError(f"failed to create typed patch object ({_gvknn(applied)}): "
                         f"{_join_errors(errors)}", code=500)
    keep = _tracked(kind_key, subresource)
    live_obj = _without_managed_fields(live) if live is not None else {}
    try:
        managed = mf.decode((live or {}).get("metadata", {}).get("managedFields"))
    except ValueError as exc:
        raise PatchError(f"failed to decode managed fields: {exc}", code=500) from exc

    def run(force: bool) -> tuple[dict, mf.Managed]:
        current = dict(managed)
        if not current and live is not None:
            # skipNonAppliedManager: the first apply to an untracked object gives the
            # existing fields to "before-first-apply".
            current = _update(zero_filled({}, root), zero_filled(live_obj, root), current,
                              BEFORE_FIRST_APPLY, api_version, subresource, now, root, keep)
        ident = mf.build_identifier(manager, mf.APPLY, api_version, subresource)
        new_obj, current = _apply(live_obj, applied, current, ident, api_version,
                                  subresource, now, force, root, keep)
        return new_obj, mf.cap_update_managers(current)

    try:
        new_obj, current = run(force)
    except _Conflicts as exc:
        conflicts = exc.conflicts
        if manager == "kubectl" and live is not None:
            # lastAppliedManager: conflicts kubectl's client-side apply annotation already
            # vouches for are taken over, so `apply --server-side` can follow `apply`.
            allowed = _allowed_from_last_applied(live_obj, api_version, root)
            conflicts = [c for c in conflicts if c[1] not in allowed]
        if conflicts:
            raise _conflict_error(conflicts) from None
        new_obj, current = run(True)
    if manager == "kubectl" and _annotations(new_obj).get(LAST_APPLIED):
        # lastAppliedUpdater: keep the client-side apply annotation in step.
        new_obj.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = \
            _build_last_applied(applied)
    return _with_managed_fields(new_obj, current)


def record_update_ownership(old: dict | None, new: dict, *, manager: str, kind_key: str,
                            api_version: str, now: str, operation: str = "Update",
                            subresource: str = "") -> dict:
    """Record a non-apply write (create, update, merge/JSON/strategic patch) by `manager`.

    The manager gets the fields it added or changed (one entry per manager, operation and
    apiVersion), every other manager loses them and any removed field; `new` is returned
    with `metadata.managedFields` set.  managedFields sent in `new` are honoured (`[]` or
    `[{}]` resets them), otherwise those of `old` carry over (FieldManager.Update).
    """
    old = clone(old)
    new = clone(new)
    root = root_spec(kind_key)
    sent = (new.get("metadata") or {}).get("managedFields")
    try:
        managed = _decode_live_or_new(old, sent, subresource)
    except ValueError:
        managed = {}
    new_obj = _without_managed_fields(new)
    if not managed and old is not None:
        # skipNonAppliedManager: an existing object without managed fields stays untracked.
        return new_obj
    old_obj = _without_managed_fields(old) if old is not None else {}
    keep = _tracked(kind_key, subresource)
    managed = _update(zero_filled(old_obj, root), zero_filled(new_obj, root), managed,
                      manager, api_version, subresource, now, root, keep, operation)
    return _with_managed_fields(new_obj, mf.cap_update_managers(managed))


# ---- structured-merge-diff's Updater ------------------------------------------------------


def _update(old_obj: Any, new_obj: Any, managed: mf.Managed, manager: str, api_version: str,
            subresource: str, now: str, root: FieldSpec, keep: Callable[[Path], bool],
            operation: str = mf.UPDATE) -> mf.Managed:
    """Updater.Update under managedFieldsUpdater: the changes go to a temporary
    "current-operation" manager, which is then merged into the manager's entry."""
    diff = compare(old_obj, new_obj, root).filtered(keep)
    managed = _take_from_others(managed, diff, exclude="")
    changed = _strip_meta((diff.modified | diff.added) - diff.removed)
    if not changed:
        return managed
    ident = mf.build_identifier(manager, operation, api_version, subresource)
    previous = managed.get(ident)
    fields = frozenset(changed | (previous.fields if previous else frozenset()))
    managed = dict(managed)
    managed[ident] = mf.ManagerEntry(manager, operation, api_version, fields, now, subresource)
    return managed


def _apply(live_obj: dict, config: dict, managed: mf.Managed, ident: str, api_version: str,
           subresource: str, now: str, force: bool, root: FieldSpec,
           keep: Callable[[Path], bool]) -> tuple[dict, mf.Managed]:
    """Updater.Apply: merge the configuration, own exactly its fields, prune what this
    manager applied last time and no longer does, then settle conflicts and removals."""
    new_obj = merge(live_obj, config, root)
    last = managed.get(ident)
    applied_set = frozenset(p for p in to_field_set(config, root) if keep(p))
    manager = json.loads(ident)["manager"]
    entry = mf.ManagerEntry(manager, mf.APPLY, api_version, applied_set,
                            last.time if last else None, subresource)
    managed = {**managed, ident: entry}
    if last is not None and last.fields:
        new_obj = _prune(new_obj, managed, last.fields, root)
    diff = compare(live_obj, new_obj, root).filtered(keep)
    conflicts = []
    for other, other_entry in managed.items():
        if other == ident:
            continue
        clash = other_entry.fields & (diff.modified | diff.added)
        conflicts += [(other, p) for p in iterate_sorted(clash)]
    if conflicts and not force:
        raise _Conflicts(sorted(conflicts, key=lambda c: c[0]))
    managed = _take_from_others(managed, diff, exclude=ident)
    changed = not json_equal(live_obj, new_obj)
    fields = _strip_meta(managed[ident].fields) if ident in managed else frozenset()
    managed = dict(managed)
    if fields:
        # managedFieldsUpdater.Apply: the time moves only when the object changed.
        managed[ident] = mf.ManagerEntry(manager, mf.APPLY, api_version, frozenset(fields),
                                         now if changed else entry.time, subresource)
    else:
        managed.pop(ident, None)
    return (new_obj if changed else live_obj), managed


def _take_from_others(managed: mf.Managed, diff: Any, exclude: str) -> mf.Managed:
    """Updater.update with force: others lose changed fields and removed fields; empty
    entries go away."""
    out: mf.Managed = {}
    lost = diff.modified | diff.added | diff.removed
    for ident, entry in managed.items():
        fields = entry.fields if ident == exclude else entry.fields - lost
        if fields:
            out[ident] = entry if fields == entry.fields else \
                mf.ManagerEntry(entry.manager, entry.operation, entry.api_version,
                                frozenset(fields), entry.time, entry.subresource)
    return out


def _prune(merged: dict, managed: mf.Managed, last: frozenset[Path], root: FieldSpec) -> dict:
    """Updater.prune (with addBackOwnedItems and addBackDanglingItems): remove what the
    applier owned last time unless some manager, the applier's new set included, owns it.
    Named struct fields count as owned when something below them is
    (EnsureNamedFieldsAreMembers)."""
    def named(path: Path) -> bool:
        return is_named_field(root, path)

    owned: set[Path] = set()
    for entry in managed.values():
        owned |= entry.fields
    present = with_named_parents(to_field_set(merged, root), named)
    gone = (present & with_named_parents(last, named)) - with_named_parents(owned, named)
    return remove_items(merged, root, gone) if gone else merged


# ---- helpers ------------------------------------------------------------------------------


def _strip_meta(fields: set[Path] | frozenset[Path]) -> set[Path]:
    """stripMetaManager: apiVersion, kind, metadata.name & co. are never owned."""
    return set(fields) - STRIPPED


def _tracked(kind_key: str, subresource: str) -> Callable[[Path], bool]:
    """The reset fields of the registry strategies: the main resource of a kind with a
    status subresource does not track `.status`, the status subresource tracks only it."""
    if subresource == "status":
        return lambda p: p[:1] == ("f:status",)
    if not subresource and kind_key in STATUS_RESET_KINDS:
        return lambda p: p[:1] != ("f:status",)
    return lambda p: True


def _decode_live_or_new(old: dict | None, sent: Any, subresource: str) -> mf.Managed:
    """decodeLiveOrNew: managedFields sent with the object win unless empty or invalid."""
    live_fields = (old or {}).get("metadata", {}).get("managedFields")
    if subresource:
        return _decode_or_empty(live_fields)
    if mf.is_reset(sent):
        return {}
    try:
        managed = mf.decode(sent)
    except ValueError:
        managed = {}
    return managed or _decode_or_empty(live_fields)


def _decode_or_empty(entries: Any) -> mf.Managed:
    try:
        return mf.decode(entries)
    except ValueError:
        return {}


def _without_managed_fields(obj: dict) -> dict:
    obj = dict(obj)
    if isinstance(obj.get("metadata"), dict):
        obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return obj


def _with_managed_fields(obj: dict, managed: mf.Managed) -> dict:
    obj = clone(obj)
    if managed:
        obj.setdefault("metadata", {})["managedFields"] = mf.encode(managed)
    elif isinstance(obj.get("metadata"), dict):
        obj["metadata"].pop("managedFields", None)
    return obj


def typed_patch_error(applied: dict, kind_key: str,
                      problems: list[tuple[tuple[str | int, ...], str]]) -> PatchError:
    """structured-merge-diff refusing to type an applied configuration: `problems` are the
    (keys and indices, message) of its values of the wrong JSON type."""
    root = root_spec(kind_key)
    errors = [f"{path_string(path_to(applied, root, steps))}: {message}"
              for steps, message in problems]
    return PatchError(f"failed to create typed patch object ({_gvknn(applied)}): "
                      f"{_join_errors(errors)}", code=500)


def conversion_error(applied: dict, message: str) -> PatchError:
    """The applied object failing to convert back into its Go struct (a value SMD's typing
    lets through, such as a string that is not base64 for a []byte field)."""
    return PatchError(f"failed to convert new object ({_gvknn(applied)}) to proper version: "
                      f"unable to convert unstructured object to {_gvk(applied)}: {message}",
                      code=500)


def _check_type(applied: dict, kind_key: str, api_version: str) -> None:
    """versionCheckManager: the configuration must be of the endpoint's kind and version."""
    group, _, kind = kind_key.partition("/")
    if applied.get("apiVersion") != api_version or applied.get("kind") != kind:
        raise PatchError(f"invalid object type: {_gvk(applied)}", code=400)


def _gvk(obj: dict) -> str:
    """schema.GroupVersionKind.String()."""
    api_version = obj.get("apiVersion") if isinstance(obj.get("apiVersion"), str) else ""
    group, _, version = api_version.rpartition("/")
    kind = obj.get("kind") if isinstance(obj.get("kind"), str) else ""
    return f"{group}/{version}, Kind={kind}"


def _gvknn(obj: dict) -> str:
    """objectGVKNN: `namespace/name; group/version, Kind=Kind`."""
    md = obj.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}; {_gvk(obj)}"


def _join_errors(errors: list[str]) -> str:
    """ValidationErrors.Error."""
    if len(errors) == 1:
        return errors[0]
    return "\n".join(["errors:"] + ["  " + e for e in errors])


def _conflict_error(conflicts: list[tuple[str, Path]]) -> ApplyConflict:
    """NewConflictError / getConflictMessage."""
    pairs = [(json.loads(ident).get("manager", ""), path_string(p)) for ident, p in conflicts]
    causes = [{"reason": "FieldManagerConflict",
               "message": f"conflict with {mf.print_manager(ident)}", "field": path_string(p)}
              for ident, p in conflicts]
    if len(conflicts) == 1:
        ident, path = conflicts[0]
        message = (f"Apply failed with 1 conflict: conflict with {mf.print_manager(ident)}: "
                   f"{path_string(path)}")
        return ApplyConflict(pairs, message, causes)
    lines = []
    by_manager: dict[str, list[Path]] = {}
    for ident, path in conflicts:
        by_manager.setdefault(ident, []).append(path)
    for ident in sorted(by_manager):
        lines.append(f"conflicts with {mf.print_manager(ident)}:")
        lines += [f"- {path_string(p)}" for p in by_manager[ident]]
    message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApplyConflict(pairs, message, causes)


def _annotations(obj: dict) -> dict:
    annotations = (obj.get("metadata") or {}).get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def _allowed_from_last_applied(live_obj: dict, api_version: str,
                               root: FieldSpec) -> set[Path]:
    """allowedConflictsFromLastApplied: the fields of the last-applied annotation whose
    values still match the live object."""
    try:
        last_applied = json.loads(_annotations(live_obj).get(LAST_APPLIED) or "")
    except json.JSONDecodeError:
        return set()
    if not isinstance(last_applied, dict) or last_applied.get("apiVersion") != api_version:
        return set()
    if validate(last_applied, root):
        return set()
    diff = compare(last_applied, live_obj, root)
    return to_field_set(last_applied, root) - diff.modified - diff.added - diff.removed


def _build_last_applied(applied: dict) -> str:
    """buildLastApplied: the configuration without the annotation, as kubectl writes it
    (json.Encoder: sorted keys, trailing newline)."""
    config = clone(applied)
    annotations = (config.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
    return go_json(_sorted(config)) + "\n"


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value

