"""Server-side printing: the Table columns and cells kube-apiserver returns for `kubectl get`.

`kubectl get` asks for `application/json;as=Table;v=v1;g=meta.k8s.io`; the server answers with
the column definitions and row cells that its printers compute.  This package ports them:

* built-in kinds: the handlers of `pkg/printers/internalversion/printers.go` (AddHandlers),
  computed as the server does with `GenerateOptions{Wide: true}`, so rows always carry the
  priority-1 (`-o wide`) cells and kubectl hides those columns itself;
* custom resources: apiextensions-apiserver's tableconvertor over the CRD version's
  additionalPrinterColumns (just Age when it has none);
* kinds with no printer (Role, ClusterRole, CustomResourceDefinition, ...): the generic
  apiserver's default table convertor, Name and Created At.

`kind_key` is `<group>/<Kind>` (`/Pod` for the core group).  A kind outside the built-in API
groups is a custom resource even when `printer_columns` is None or empty.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from . import _cluster, _core, _networking, _pod, _workloads
from ._common import Printer
from ._custom import DEFAULT_COLUMNS, custom_cells, custom_columns, default_cells

__all__ = ["column_definitions", "row_cells", "uses_custom_columns"]

PRINTERS: dict[str, Printer] = {
    **_core.PRINTERS,
    **_pod.PRINTERS,
    **_workloads.PRINTERS,
    **_networking.PRINTERS,
    **_cluster.PRINTERS,
}

# API groups kube-apiserver itself serves: their kinds without a printer use the default table.
BUILTIN_GROUPS = frozenset({
    "", "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
    "apps", "authentication.k8s.io", "authorization.k8s.io", "autoscaling", "batch",
    "certificates.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io",
    "extensions", "flowcontrol.apiserver.k8s.io", "internal.apiserver.k8s.io",
    "networking.k8s.io", "node.k8s.io", "policy", "rbac.authorization.k8s.io",
    "resource.k8s.io", "scheduling.k8s.io", "storage.k8s.io", "storagemigration.k8s.io",
})


def uses_custom_columns(kind_key: str, printer_columns: list[dict] | None = None) -> bool:
    """Whether `kind_key` is printed by the CRD table convertor rather than a built-in printer.

    True for kinds outside the built-in API groups and for any kind without a printer that is
    given printer columns.
    """
    if kind_key in PRINTERS:
        return False
    group = kind_key.rpartition("/")[0]
    return bool(printer_columns) or group not in BUILTIN_GROUPS


def column_definitions(kind_key: str, printer_columns: list[dict] | None = None) -> list[dict]:
    """metav1.TableColumnDefinition dicts for `kind_key`, in column order.

    Each is `{"name", "type", "format", "description", "priority"}` as upstream defines it;
    priority 1 marks the `-o wide` columns.  For a custom resource `printer_columns` are the
    CRD version's additionalPrinterColumns (`name`, `type`, `jsonPath`, `description`,
    `priority`, `format`).
    """
    printer = PRINTERS.get(kind_key)
    if printer is not None:
        columns: list[dict[str, Any]] = list(printer.columns)
    elif uses_custom_columns(kind_key, printer_columns):
        columns = custom_columns(printer_columns)
    else:
        columns = list(DEFAULT_COLUMNS)
    return copy.deepcopy(columns)


def row_cells(kind_key: str, obj: dict, now: datetime,
              printer_columns: list[dict] | None = None) -> list:
    """The cells of `obj`'s row, in `column_definitions` order, as upstream computes them.

    `obj` is the object as JSON (a dict); `now` is a timezone-aware UTC datetime that Age and
    the other relative times are measured against.  Cells are str, int, float, bool or None.
    """
    if not isinstance(obj, Mapping):
        raise TypeError(f"expected a JSON object, got {type(obj).__name__}")
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    printer = PRINTERS.get(kind_key)
    if printer is not None:
        return printer.cells(obj, now)
    if uses_custom_columns(kind_key, printer_columns):
        return custom_cells(obj, now, printer_columns)
    return default_cells(obj, now)
