"""Cluster-plumbing printers (pkg/printers/internalversion/printers.go): Lease, RoleBinding,
ClusterRoleBinding, Validating/MutatingWebhookConfiguration."""

from __future__ import annotations

from datetime import datetime

from ._common import (
    Cells,
    Obj,
    Printer,
    age,
    age_column,
    column,
    dig,
    items,
    name_column,
    name_of,
)
from ._descriptions import DOC

LEASE_COLUMNS = (
    name_column(), column("Holder", description=DOC["LeaseSpec.holderIdentity"]), age_column(),
)


def lease_cells(lease: Obj, now: datetime) -> Cells:
    """Port of printLease."""
    return [name_of(lease), dig(lease, "spec", "holderIdentity", default=""), age(lease, now)]


def _binding_columns(role_doc: str, what: str) -> tuple[dict[str, object], ...]:
    return (
        name_column(),
        column("Role", description=role_doc),
        age_column(),
        column("Users", priority=1, description=f"Users in the {what}"),
        column("Groups", priority=1, description=f"Groups in the {what}"),
        column("ServiceAccounts", priority=1, description=f"ServiceAccounts in the {what}"),
    )


ROLEBINDING_COLUMNS = _binding_columns(DOC["RoleBinding.roleRef"], "roleBinding")
CLUSTERROLEBINDING_COLUMNS = _binding_columns(DOC["ClusterRoleBinding.roleRef"],
                                              "clusterRoleBinding")


def _subjects_strings(binding: Obj) -> tuple[list[str], list[str], list[str]]:
    """rbac.SubjectsStrings: users, groups and `namespace/name` service accounts."""
    users: list[str] = []
    groups: list[str] = []
    service_accounts: list[str] = []
    for subject in items(binding, "subjects"):
        kind, name = dig(subject, "kind", default=""), dig(subject, "name", default="")
        if kind == "ServiceAccount":
            service_accounts.append(f"{dig(subject, 'namespace', default='')}/{name}")
        elif kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
    return users, groups, service_accounts


def binding_cells(binding: Obj, now: datetime) -> Cells:
    """Port of printRoleBinding / printClusterRoleBinding."""
    role_ref = "/".join(dig(binding, "roleRef", field, default="") for field in ("kind", "name"))
    users, groups, service_accounts = _subjects_strings(binding)
    return [name_of(binding), role_ref, age(binding, now),
            ", ".join(users), ", ".join(groups), ", ".join(service_accounts)]


WEBHOOK_COLUMNS = (
    name_column(),
    column("Webhooks", "integer",
           "Webhooks indicates the number of webhooks registered in this configuration"),
    age_column(),
)


def webhook_cells(obj: Obj, now: datetime) -> Cells:
    """Port of printValidatingWebhook / printMutatingWebhook."""
    return [name_of(obj), len(items(obj, "webhooks")), age(obj, now)]


_ADMISSION = "admissionregistration.k8s.io"

PRINTERS: dict[str, Printer] = {
    "coordination.k8s.io/Lease": Printer(LEASE_COLUMNS, lease_cells),
    "rbac.authorization.k8s.io/RoleBinding": Printer(ROLEBINDING_COLUMNS, binding_cells),
    "rbac.authorization.k8s.io/ClusterRoleBinding": Printer(CLUSTERROLEBINDING_COLUMNS,
                                                            binding_cells),
    f"{_ADMISSION}/ValidatingWebhookConfiguration": Printer(WEBHOOK_COLUMNS, webhook_cells),
    f"{_ADMISSION}/MutatingWebhookConfiguration": Printer(WEBHOOK_COLUMNS, webhook_cells),
}
