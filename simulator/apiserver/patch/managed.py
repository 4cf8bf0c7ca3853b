"""`metadata.managedFields` entries: decoding, encoding, manager identifiers, the cap on
update managers.  Ports k8s.io/apimachinery/pkg/util/managedfields/internal (managedfields.go,
conflict.go's printManager, capmanagers.go, buildmanagerinfo.go).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

from .errors import go_json
from .fieldpath import FieldSet, decode_fields_v1, encode_fields_v1

APPLY = "Apply"
UPDATE = "Update"
MAX_UPDATE_MANAGERS = 10  # DefaultMaxUpdateManagers
ANCIENT_CHANGES = "ancient-changes"


@dataclass(frozen=True)
class ManagerEntry:
    """One managedFields entry with its field set decoded."""

    manager: str
    operation: str
    api_version: str
    fields: FieldSet
    time: str | None = None
    subresource: str = ""

    @property
    def identifier(self) -> str:
        """BuildManagerIdentifier: the entry minus fields and time (and minus apiVersion for
        appliers, so that an applier keeps one entry across versions), as Go JSON."""
        return build_identifier(self.manager, self.operation, self.api_version,
                                self.subresource)

    @property
    def applied(self) -> bool:
        return self.operation == APPLY


Managed = dict[str, ManagerEntry]  # identifier -> entry


def build_identifier(manager: str, operation: str, api_version: str,
                     subresource: str = "") -> str:
    entry: dict[str, str] = {}
    if manager:
        entry["manager"] = manager
    if operation:
        entry["operation"] = operation
    if api_version and operation != APPLY:
        entry["apiVersion"] = api_version
    if subresource:
        entry["subresource"] = subresource
    return go_json(entry)


def print_manager(identifier: str) -> str:
    """printManager: `"kubectl"`, or `"kube-controller-manager" using apps/v1` for updaters."""
    try:
        entry = json.loads(identifier)
    except json.JSONDecodeError:
        return json.dumps(identifier)
    text = json.dumps(entry.get("manager", ""), ensure_ascii=False)
    if entry.get("subresource"):
        text += f' with subresource {json.dumps(entry["subresource"], ensure_ascii=False)}'
    if entry.get("operation") == UPDATE:
        text += f' using {entry.get("apiVersion", "")}'
    return text


def is_reset(entries: object) -> bool:
    """isResetManagedFields: `[]` or `[{}]` asks to drop all managed fields."""
    return isinstance(entries, list) and (entries == [] or entries == [{}])


def decode(entries: object) -> Managed:
    """DecodeManagedFields (ValueError if an entry is invalid)."""
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    managed: Managed = {}
    for i, raw in enumerate(entries):
        if not isinstance(raw, dict):
            raise ValueError(f"managed fields entry {i} is not an object")
        operation = raw.get("operation")
        if operation not in (APPLY, UPDATE):
            raise ValueError("operation must be `Apply` or `Update`")
        if not raw.get("apiVersion"):
            raise ValueError("apiVersion must not be empty")
        fields_type = raw.get("fieldsType") or ""
        if fields_type == "":
            raise ValueError(f"missing fieldsType in managed fields entry {i}")
        if fields_type != "FieldsV1":
            raise ValueError(f'invalid fieldsType "{fields_type}" in managed fields entry {i}')
        fields = frozenset(decode_fields_v1(raw.get("fieldsV1") or {}))
        entry = ManagerEntry(manager=str(raw.get("manager") or ""), operation=operation,
                             api_version=str(raw["apiVersion"]), fields=fields,
                             time=raw.get("time"), subresource=str(raw.get("subresource") or ""))
        managed[entry.identifier] = entry
    return managed


def encode(managed: Managed) -> list[dict]:
    """encodeManagedFields + sortEncodedManagedFields: appliers first, then by time, manager,
    apiVersion and subresource."""
    entries = sorted(managed.values(), key=lambda e: (e.operation, _seconds(e.time), e.manager,
                                                      e.api_version, e.subresource))
    out = []
    for e in entries:
        item: dict[str, object] = {"manager": e.manager, "operation": e.operation,
                                   "apiVersion": e.api_version}
        if e.time:
            item["time"] = e.time
        item["fieldsType"] = "FieldsV1"
        item["fieldsV1"] = encode_fields_v1(e.fields)
        if e.subresource:
            item["subresource"] = e.subresource
        out.append(item)
    return out


def cap_update_managers(managed: Managed, limit: int = MAX_UPDATE_MANAGERS) -> Managed:
    """capUpdateManagers: fold the oldest update entries into per-version "ancient-changes"
    entries until at most `limit` update entries remain."""
    updaters = [ident for ident, e in managed.items() if not e.applied]
    if len(updaters) <= limit:
        return managed
    managed = dict(managed)
    updaters.sort(key=lambda ident: (_seconds(managed[ident].time), ident))
    first_of_version: dict[str, str] = {}
    length = len(updaters)
    for ident in updaters:
        if length <= limit:
            break
        entry = managed[ident]
        bucket = build_identifier(ANCIENT_CHANGES, UPDATE, entry.api_version)
        if ident == bucket:
            continue  # never fold the bucket into itself (upstream would drop it)
        if entry.api_version not in first_of_version:
            first_of_version[entry.api_version] = ident
            continue
        if bucket not in managed:
            first = managed.pop(first_of_version[entry.api_version])
            managed[bucket] = replace(first, manager=ANCIENT_CHANGES, subresource="")
        managed[bucket] = replace(managed[bucket], fields=entry.fields | managed[bucket].fields,
                                  time=entry.time)
        del managed[ident]
        length -= 1
    return managed


def _seconds(time: str | None) -> float:
    if not time:
        return 0
    try:
        return datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0
