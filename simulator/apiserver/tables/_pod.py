"""The Pod printer: a port of printPod (pkg/printers/internalversion/printers.go).

Ready counts ready running containers (and started sidecars), Status is the phase or reason
refined by init-container and container states (`Init:1/2`, `CrashLoopBackOff`, `Completed`,
`Terminating`, ...), Restarts adds `(<age> ago)` of the last termination.  The wide cells (IP,
Node, Nominated Node, Readiness Gates) are always included, as the server prints wide.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ._common import (
    NONE,
    Cells,
    Obj,
    Printer,
    age,
    age_column,
    column,
    condition_status,
    dig,
    integer,
    items,
    mapping,
    name_column,
    name_of,
    parse_time,
    since,
)
from ._descriptions import DOC

POD_COLUMNS = (
    name_column(),
    column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    column("Status", description="The aggregate status of the containers in this pod."),
    column("Restarts", description="The number of times the containers in this pod have been "
           "restarted and when the last container in this pod has restarted."),
    age_column(),
    column("IP", priority=1, description=DOC["PodStatus.podIP"]),
    column("Node", priority=1, description=DOC["PodSpec.nodeName"]),
    column("Nominated Node", priority=1, description=DOC["PodStatus.nominatedNodeName"]),
    column("Readiness Gates", priority=1, description=DOC["PodSpec.readinessGates"]),
)


def _is_restartable_init_container(container: Any) -> bool:
    """podutil.IsRestartableInitContainer: a sidecar (`restartPolicy: Always`)."""
    return isinstance(container, Mapping) and container.get("restartPolicy") == "Always"


def _later(current: datetime | None, candidate: datetime | None) -> datetime | None:
    """`if last.Before(&candidate) { last = candidate }` with None as the zero time."""
    if candidate is not None and (current is None or current < candidate):
        return candidate
    return current


def _last_terminated_at(status: Mapping[str, Any]) -> datetime | None:
    return parse_time(dig(status, "lastState", "terminated", "finishedAt"))


def _terminated_reason(terminated: Mapping[str, Any], prefix: str = "") -> str:
    """`Reason`, else `Signal:N`, else `ExitCode:N` of a terminated container state."""
    if terminated.get("reason"):
        return prefix + terminated["reason"]
    if integer(terminated, "signal"):
        return f"{prefix}Signal:{integer(terminated, 'signal')}"
    return f"{prefix}ExitCode:{integer(terminated, 'exitCode')}"


class _PodSummary:
    """The mutable state printPod accumulates over the container statuses."""

    def __init__(self, pod: Obj) -> None:
        status = mapping(pod, "status")
        self.phase: str = status.get("phase") or ""
        self.reason: str = status.get("reason") or self.phase
        self.ready = 0
        self.total = len(items(pod, "spec", "containers"))
        self.restarts = 0
        self.last_restart: datetime | None = None
        # Restarts of sidecar (restartable init) containers, counted again once initialized.
        self.sidecar_restarts = 0
        self.sidecar_last_restart: datetime | None = None

    def scan_init_containers(self, pod: Obj) -> bool:
        """The init-container loop of printPod; True while the pod is still initializing."""
        specs = items(pod, "spec", "initContainers")
        by_name = {c.get("name"): c for c in specs if isinstance(c, Mapping)}
        self.total += sum(1 for c in specs if _is_restartable_init_container(c))
        initializing = False
        for i, cs in enumerate(items(pod, "status", "initContainerStatuses")):
            count = integer(cs, "restartCount")
            finished = _last_terminated_at(cs)
            self.restarts += count
            self.last_restart = _later(self.last_restart, finished)
            sidecar = _is_restartable_init_container(by_name.get(cs.get("name")))
            if sidecar:
                self.sidecar_restarts += count
                self.sidecar_last_restart = _later(self.sidecar_last_restart, finished)
            terminated = dig(cs, "state", "terminated")
            waiting_reason = dig(cs, "state", "waiting", "reason", default="")
            if terminated is not None and integer(terminated, "exitCode") == 0:
                continue
            if sidecar and cs.get("started") is True:
                self.ready += 1 if cs.get("ready") else 0
                continue
            if terminated is not None:
                self.reason = _terminated_reason(terminated, "Init:")
            elif waiting_reason and waiting_reason != "PodInitializing":
                self.reason = "Init:" + waiting_reason
            else:
                self.reason = f"Init:{i}/{len(specs)}"
            initializing = True
            break
        return initializing

    def scan_containers(self, pod: Obj) -> None:
        """The (reverse) container loop of printPod, run once initialization is done."""
        self.restarts, self.last_restart = self.sidecar_restarts, self.sidecar_last_restart
        has_running = False
        for cs in reversed(items(pod, "status", "containerStatuses")):
            self.restarts += integer(cs, "restartCount")
            self.last_restart = _later(self.last_restart, _last_terminated_at(cs))
            waiting_reason = dig(cs, "state", "waiting", "reason", default="")
            terminated = dig(cs, "state", "terminated")
            if waiting_reason:
                self.reason = waiting_reason
            elif terminated is not None:
                self.reason = _terminated_reason(terminated)
            elif cs.get("ready") and dig(cs, "state", "running") is not None:
                has_running = True
                self.ready += 1
        if self.reason == "Completed" and has_running:
            conditions = items(pod, "status", "conditions")
            ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in conditions if isinstance(c, Mapping))
            self.reason = "Running" if ready else "NotReady"


def _readiness_gates(pod: Obj) -> str:
    gates = items(pod, "spec", "readinessGates")
    if not gates:
        return NONE
    conditions = items(pod, "status", "conditions")
    true = sum(1 for g in gates
               if condition_status(conditions, dig(g, "conditionType")) == "True")
    return f"{true}/{len(gates)}"


def _pod_ip(pod: Obj) -> str:
    """status.podIPs[0].ip (conversion fills podIPs from podIP), `<none>` if unset."""
    ips = items(pod, "status", "podIPs")
    ip = dig(ips, 0, "ip", default="") if ips else dig(pod, "status", "podIP", default="")
    return ip or NONE


def pod_cells(pod: Obj, now: datetime) -> Cells:
    """Port of printPod."""
    summary = _PodSummary(pod)
    conditions = items(pod, "status", "conditions")
    if any(isinstance(c, Mapping) and c.get("type") == "PodScheduled"
           and c.get("reason") == "SchedulingGated" for c in conditions):
        summary.reason = "SchedulingGated"
    initializing = summary.scan_init_containers(pod)
    if not initializing or condition_status(conditions, "Initialized") == "True":
        summary.scan_containers(pod)
    if dig(pod, "metadata", "deletionTimestamp"):
        if dig(pod, "status", "reason") == "NodeLost":
            summary.reason = "Unknown"
        elif summary.phase not in ("Failed", "Succeeded"):
            summary.reason = "Terminating"
    restarts = str(summary.restarts)
    if summary.restarts != 0 and summary.last_restart is not None:
        restarts = f"{summary.restarts} ({since(summary.last_restart, now)} ago)"
    return [
        name_of(pod), f"{summary.ready}/{summary.total}", summary.reason, restarts, age(pod, now),
        _pod_ip(pod),
        dig(pod, "spec", "nodeName", default="") or NONE,
        dig(pod, "status", "nominatedNodeName", default="") or NONE,
        _readiness_gates(pod),
    ]



PRINTERS: dict[str, Printer] = {"/Pod": Printer(POD_COLUMNS, pod_cells)}
