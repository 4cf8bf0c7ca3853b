"""Workload printers (pkg/printers/internalversion/printers.go): Deployment, ReplicaSet,
StatefulSet, DaemonSet, Job, CronJob, PodDisruptionBudget.

Rows include the wide cells (Containers, Images, Selector); `spec.replicas` reads as its
server default 1 when unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ._common import (
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    NONE,
    UNSET,
    Cells,
    Obj,
    Printer,
    age,
    age_column,
    column,
    condition_status,
    dig,
    format_label_selector,
    format_labels,
    human_duration,
    integer,
    items,
    label_selector_string,
    layout_container_cells,
    name_column,
    name_of,
    parse_time,
    since,
)
from ._descriptions import DOC


def _replicas(obj: Obj) -> int:
    """spec.replicas, defaulted to 1 (SetDefaults_Deployment / _ReplicaSet / _StatefulSet)."""
    return integer(obj, "spec", "replicas", default=1)


def _template_containers(obj: Obj, *template: str) -> tuple[str, str]:
    return layout_container_cells(items(obj, *template, "spec", "containers"))


# ---- Deployment --------------------------------------------------------------------------------

DEPLOYMENT_COLUMNS = (
    name_column(),
    column("Ready", description="Number of the pod with ready state"),
    column("Up-to-date", description=DOC["DeploymentStatus.updatedReplicas"]),
    column("Available", description=DOC["DeploymentStatus.availableReplicas"]),
    age_column(),
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column("Selector", priority=1, description=DOC["DeploymentSpec.selector"]),
)


def deployment_cells(obj: Obj, now: datetime) -> Cells:
    """Port of printDeployment (selector via LabelSelectorAsSelector: "" when empty)."""
    try:
        selector = label_selector_string(dig(obj, "spec", "selector"))
    except ValueError:
        selector = "<invalid>"
    names, images = _template_containers(obj, "spec", "template")
    ready = integer(obj, "status", "readyReplicas")
    return [
        name_of(obj), f"{ready}/{_replicas(obj)}",
        integer(obj, "status", "updatedReplicas"), integer(obj, "status", "availableReplicas"),
        age(obj, now), names, images, selector,
    ]


# ---- ReplicaSet --------------------------------------------------------------------------------

REPLICASET_COLUMNS = (
    name_column(),
    column("Desired", "integer", DOC["ReplicaSetSpec.replicas"]),
    column("Current", "integer", DOC["ReplicaSetStatus.replicas"]),
    column("Ready", "integer", DOC["ReplicaSetStatus.readyReplicas"]),
    age_column(),
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column("Selector", priority=1, description=DOC["ReplicaSetSpec.selector"]),
)


def replicaset_cells(obj: Obj, now: datetime) -> Cells:
    """Port of printReplicaSet."""
    names, images = _template_containers(obj, "spec", "template")
    return [
        name_of(obj), _replicas(obj), integer(obj, "status", "replicas"),
        integer(obj, "status", "readyReplicas"), age(obj, now),
        names, images, format_label_selector(dig(obj, "spec", "selector")),
    ]


# ---- StatefulSet / DaemonSet -------------------------------------------------------------------

STATEFULSET_COLUMNS = (
    name_column(),
    column("Ready", description="Number of the pod with ready state"),
    age_column(),
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
)


def statefulset_cells(obj: Obj, now: datetime) -> Cells:
    """Port of printStatefulSet."""
    names, images = _template_containers(obj, "spec", "template")
    ready = integer(obj, "status", "readyReplicas")
    return [name_of(obj), f"{ready}/{_replicas(obj)}", age(obj, now), names, images]


DAEMONSET_COLUMNS = (
    name_column(),
    column("Desired", "integer", DOC["DaemonSetStatus.desiredNumberScheduled"]),
    column("Current", "integer", DOC["DaemonSetStatus.currentNumberScheduled"]),
    column("Ready", "integer", DOC["DaemonSetStatus.numberReady"]),
    column("Up-to-date", "integer", DOC["DaemonSetStatus.updatedNumberScheduled"]),
    column("Available", "integer", DOC["DaemonSetStatus.numberAvailable"]),
    column("Node Selector", description=DOC["PodSpec.nodeSelector"]),
    age_column(),
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column("Selector", priority=1, description=DOC["DaemonSetSpec.selector"]),
)


def daemonset_cells(obj: Obj, now: datetime) -> Cells:
    """Port of printDaemonSet."""
    names, images = _template_containers(obj, "spec", "template")
    status = [integer(obj, "status", field) for field in (
        "desiredNumberScheduled", "currentNumberScheduled", "numberReady",
        "updatedNumberScheduled", "numberAvailable")]
    return [
        name_of(obj), *status,
        format_labels(dig(obj, "spec", "template", "spec", "nodeSelector")), age(obj, now),
        names, images, format_label_selector(dig(obj, "spec", "selector")),
    ]


# ---- Job / CronJob -----------------------------------------------------------------------------

JOB_COLUMNS = (
    name_column(),
    column("Status", description="Status of the job."),
    column("Completions", description=DOC["JobStatus.succeeded"]),
    column("Duration", description="Time required to complete the job."),
    age_column(),
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column("Selector", priority=1, description=DOC["JobSpec.selector"]),
)


def _job_completions(job: Obj) -> str:
    """The Completions cell; completions and parallelism default to 1 when both are unset."""
    succeeded = integer(job, "status", "succeeded")
    completions = dig(job, "spec", "completions")
    parallelism = dig(job, "spec", "parallelism")
    if completions is None and parallelism is None:
        completions = 1
    if completions is not None:
        return f"{succeeded}/{int(completions)}"
    if int(parallelism) > 1:
        return f"{succeeded}/1 of {int(parallelism)}"
    return f"{succeeded}/1"


def _job_duration(job: Obj, now: datetime) -> str:
    start = parse_time(dig(job, "status", "startTime"))
    if start is None:
        return ""
    end = parse_time(dig(job, "status", "completionTime"))
    return human_duration((end or now) - start)


def _job_status(job: Obj) -> str:
    conditions = items(job, "status", "conditions")
    if condition_status(conditions, "Complete") == "True":
        return "Complete"
    if condition_status(conditions, "Failed") == "True":
        return "Failed"
    if dig(job, "metadata", "deletionTimestamp"):
        return "Terminating"
    if condition_status(conditions, "Suspended") == "True":
        return "Suspended"
    if condition_status(conditions, "FailureTarget") == "True":
        return "FailureTarget"
    return "Running"


def job_cells(job: Obj, now: datetime) -> Cells:
    """Port of printJob."""
    names, images = _template_containers(job, "spec", "template")
    return [
        name_of(job), _job_status(job), _job_completions(job), _job_duration(job, now),
        age(job, now), names, images, format_label_selector(dig(job, "spec", "selector")),
    ]


CRONJOB_COLUMNS = (
    name_column(),
    column("Schedule", description=DOC["CronJobSpec.schedule"]),
    column("Timezone", description=DOC["CronJobSpec.timeZone"]),
    column("Suspend", "boolean", DOC["CronJobSpec.suspend"]),
    column("Active", "integer", DOC["CronJobStatus.active"]),
    column("Last Schedule", description=DOC["CronJobStatus.lastScheduleTime"]),
    age_column(),
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column("Selector", priority=1, description=DOC["JobSpec.selector"]),
)


def _print_bool_ptr(value: Any) -> str:
    """printBoolPtr: `True` / `False`, `<unset>` for nil."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return UNSET


def cronjob_cells(cj: Obj, now: datetime) -> Cells:
    """Port of printCronJob (spec.suspend defaults to false)."""
    last = dig(cj, "status", "lastScheduleTime")
    names, images = _template_containers(cj, "spec", "jobTemplate", "spec", "template")
    suspend = dig(cj, "spec", "suspend", default=False)
    return [
        name_of(cj), dig(cj, "spec", "schedule", default=""),
        dig(cj, "spec", "timeZone", default=NONE), _print_bool_ptr(suspend),
        len(items(cj, "status", "active")), NONE if last is None else since(last, now),
        age(cj, now), names, images,
        format_label_selector(dig(cj, "spec", "jobTemplate", "spec", "selector")),
    ]


# ---- PodDisruptionBudget -----------------------------------------------------------------------

PDB_COLUMNS = (
    name_column(),
    column("Min Available", description="The minimum number of pods that must be available."),
    column("Max Unavailable", description="The maximum number of pods that may be unavailable."),
    column("Allowed Disruptions", "integer",
           "Calculated number of pods that may be disrupted at this time."),
    age_column(),
)


def _int_or_string(value: Any) -> str:
    """intstr.IntOrString.String(), `N/A` when unset."""
    if value is None or isinstance(value, Mapping | list):
        return "N/A"
    if isinstance(value, bool):
        return "N/A"
    return str(int(value)) if isinstance(value, int | float) else str(value)


def pdb_cells(pdb: Obj, now: datetime) -> Cells:
    """Port of printPodDisruptionBudget."""
    return [
        name_of(pdb), _int_or_string(dig(pdb, "spec", "minAvailable")),
        _int_or_string(dig(pdb, "spec", "maxUnavailable")),
        integer(pdb, "status", "disruptionsAllowed"), age(pdb, now),
    ]


PRINTERS: dict[str, Printer] = {
    "apps/Deployment": Printer(DEPLOYMENT_COLUMNS, deployment_cells),
    "apps/ReplicaSet": Printer(REPLICASET_COLUMNS, replicaset_cells),
    "apps/StatefulSet": Printer(STATEFULSET_COLUMNS, statefulset_cells),
    "apps/DaemonSet": Printer(DAEMONSET_COLUMNS, daemonset_cells),
    "batch/Job": Printer(JOB_COLUMNS, job_cells),
    "batch/CronJob": Printer(CRONJOB_COLUMNS, cronjob_cells),
    "policy/PodDisruptionBudget": Printer(PDB_COLUMNS, pdb_cells),
}
